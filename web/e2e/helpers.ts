// What the browser tests share: one Chromium per file, a context per test whose requests to
// OpenAI's CDN get the stand-in element (or fail, or hang), the model stub's record, the
// record of what each function received, and direct calls to the functions.
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";

import type { Browser, BrowserContext, Page } from "playwright-core";
import { expect, inject } from "vitest";

import { signToken } from "../demo/server.mjs";
import type { FunctionName } from "../src/routes.js";
import { CHATKIT_SCRIPT_URL } from "../src/script.js";
import type { FunctionRequest } from "./function-proxy.js";
import type { RecordedRequest } from "./stub-model.js";

const STANDIN = fileURLToPath(new URL("./standin/chatkit.js", import.meta.url));

/**
 * What the CDN does for chatkit.js: serve the stand-in, fail at once, never answer, or hold the
 * request until the test sets another mode (then answer as that mode says).
 */
export type Cdn = "standin" | "blocked" | "hangs" | "held";

export interface Cdns {
  set(mode: Cdn): void;
}

export async function newContext(browser: Browser, mode: Cdn = "standin"): Promise<{ context: BrowserContext; cdn: Cdns }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  let current = mode;
  let release = () => {};
  let released = new Promise<void>((resolve) => (release = resolve));
  // the script URL, also with a retry's query
  await context.route((url) => url.href.startsWith(CHATKIT_SCRIPT_URL), async (route) => {
    while (current === "held") await released;
    if (current === "standin") await route.fulfill({ path: STANDIN, contentType: "text/javascript" });
    else if (current === "blocked") await route.abort("blockedbyclient");
    // "hangs": never answered
  });
  // nothing else leaves the machine
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/]|localhost[:/])/, (route) =>
    route.request().url().startsWith(CHATKIT_SCRIPT_URL) ? route.fallback() : route.abort(),
  );
  const set = (next: Cdn) => {
    current = next;
    release();
    released = new Promise<void>((resolve) => (release = resolve));
  };
  return { context, cdn: { set } };
}

/** A user id no other test uses. */
export function uniqueUser(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** The streamed model calls the stub received. */
export async function modelRequests(): Promise<RecordedRequest[]> {
  const all = (await (await fetch(inject("modelRequestsUrl"))).json()) as RecordedRequest[];
  return all.filter((r) => r.body.stream === true);
}

/** The streamed model call whose input contains `marker`. */
export async function modelRequestWith(marker: string): Promise<RecordedRequest> {
  const found = (await modelRequests()).find((r) => JSON.stringify(r.body.messages).includes(marker));
  if (!found) throw new Error(`no model request contains ${JSON.stringify(marker)}`);
  return found;
}

/**
 * Records every text the newest assistant message shows, from now on, as the DOM changes.
 * Returns a reader of the recorded states.
 */
export async function recordAssistantText(page: Page): Promise<() => Promise<string[]>> {
  await page.evaluate(() => {
    const states: string[] = [];
    (window as unknown as { __states: string[] }).__states = states;
    const items = document.querySelector("openai-chatkit [data-items]")!;
    const observer = new MutationObserver(() => {
      const replies = items.querySelectorAll('[data-role="assistant"]');
      const text = replies[replies.length - 1]?.textContent ?? "";
      if (text && states[states.length - 1] !== text) states.push(text);
    });
    observer.observe(items, { childList: true, subtree: true, characterData: true });
  });
  return () => page.evaluate(() => (window as unknown as { __states: string[] }).__states);
}

/** Types into the stand-in's composer and sends, like a user. */
export async function sendMessage(page: Page, text: string): Promise<void> {
  await page.getByRole("textbox", { name: "Message" }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

/**
 * The page selection is cleared by the Ask once `sendUserMessage` resolved: the stand-in's
 * resolves when the turn ended, a little after the reply shows as done.
 */
export async function selectionCleared(page: Page): Promise<void> {
  await expect.poll(() => page.evaluate(() => window.getSelection()?.toString()), { timeout: 15_000 }).toBe("");
}

/** The newest assistant message once it is done. */
export async function finishedReply(page: Page, timeout = 30_000): Promise<string> {
  const reply = page.locator('openai-chatkit [data-role="assistant"][data-status="done"]').last();
  await reply.waitFor({ timeout });
  return (await reply.textContent()) ?? "";
}

/** The requests of `user` the functions received, in arrival order. */
export async function functionRequests(user: string): Promise<FunctionRequest[]> {
  const all = (await (await fetch(inject("functionRequestsUrl"))).json()) as FunctionRequest[];
  return all.filter((r) => r.user === user);
}

/** `user`'s ChatKit request sent straight to function `fn` (through its recording proxy). */
export async function callFunction(fn: FunctionName, user: string, body: { type: string; params?: Record<string, unknown> }) {
  const response = await fetch(inject("routes")[fn], {
    method: "POST",
    headers: {
      authorization: `Bearer ${signToken(inject("jwtSecret"), { sub: user, name: user })}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ params: {}, ...body }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** The texts of the assistant messages saved in `user`'s newest thread (threads.list, items.list). */
export async function savedAssistantTexts(user: string): Promise<string[]> {
  const threads = await callFunction("threads", user, { type: "threads.list", params: { limit: 1, order: "desc" } });
  const thread = threads.body.data?.[0]?.id as string | undefined;
  if (!thread) return [];
  const items = await callFunction("threads", user, { type: "items.list", params: { thread_id: thread, limit: 50, order: "asc" } });
  return (items.body.data as { type: string; content?: { text?: string }[] }[])
    .filter((item) => item.type === "assistant_message")
    .map((item) => (item.content ?? []).map((part) => part.text ?? "").join(""));
}

/** The text of the newest assistant message on the screen, whatever its state. */
export async function shownAssistantText(page: Page): Promise<string> {
  return (await page.locator('openai-chatkit [data-role="assistant"]').last().textContent()) ?? "";
}

/**
 * After a stop of `user`'s only turn (a stalled reply, `marker` in its question, `partial`
 * shown): the kit sent exactly one `turns.cancel`, to turns, naming the turn its stream
 * answered with; the turn's stream was held the Lambda way (the disconnect not passed on), so
 * it was the cancel that stopped it: the function dropped the model call and ended the
 * stream; and the partial reply is saved (read back from threads).
 */
export async function expectStoppedAndSaved(user: string, marker: string, partial: string): Promise<void> {
  const cancels = async () => (await functionRequests(user)).filter((r) => r.type === "turns.cancel");
  await expect.poll(async () => (await cancels()).length, { timeout: 10_000 }).toBeGreaterThan(0);
  await expect.poll(async () => (await modelRequestWith(marker)).outcome, { timeout: 15_000 }).toBe("client-gone");
  const turn = async () => (await functionRequests(user)).find((r) => r.type === "threads.create");
  await expect.poll(async () => (await turn())?.ended, { timeout: 15_000 }).toBe(true);
  await expect.poll(() => savedAssistantTexts(user), { timeout: 15_000 }).toEqual([partial]);

  const stream = (await turn())!;
  expect(stream).toMatchObject({ fn: "turns", status: 200, held: true, clientGone: true });
  expect(stream.responseTurnId).toMatch(/\S/);
  expect(await cancels()).toEqual([expect.objectContaining({ fn: "turns", turnId: stream.responseTurnId, status: 200 })]);
}
