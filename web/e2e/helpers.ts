// What the browser tests share: one Chromium per file, a context per test whose requests to
// OpenAI's CDN get the stand-in element (or fail, or hang), and the model stub's record.
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";

import type { Browser, BrowserContext, Page } from "playwright-core";
import { expect, inject } from "vitest";

import { CHATKIT_SCRIPT_URL } from "../src/script.js";
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
