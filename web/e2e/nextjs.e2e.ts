// The Next.js example (next build + next start) in headless Chromium: the httpOnly cookie, the
// proxy route streaming from the real functions (routing each request to `turns` or
// `threads`, and a stop's `turns.cancel`) and refusing another site's form post, the React
// selection Ask and the script gate.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { launch } from "./chromium.js";
import { OPERATION_FUNCTIONS } from "../src/routes.js";
import {
  expectStoppedAndSaved,
  finishedReply,
  functionRequests,
  modelRequestWith,
  newContext,
  recordAssistantText,
  selectionCleared,
  sendMessage,
  shownAssistantText,
  uniqueUser,
} from "./helpers.js";
import { LONG_REPLY, PARTIAL_REPLY, REPLY_TAIL, STALLED_REPLY } from "./stub-model.js";

const TITLE = "Reserved concurrency – Acme docs";
let browser: Browser;

beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
});

async function signIn(context: BrowserContext, page: Page, name: string, user = uniqueUser("next")) {
  const url = new URL("api/sign-in", inject("nextUrl"));
  url.searchParams.set("user", user);
  url.searchParams.set("name", name);
  await page.goto(url.href, { waitUntil: "domcontentloaded" });
  await page.getByText(`Signed in as ${name}`).waitFor();
  const [cookie] = (await context.cookies()).filter((c) => c.name === "chatkit_token");
  return cookie;
}

/**
 * Opens the chat panel. The toggle is disabled until React hydrated the page (a click before
 * that would do nothing), and a click waits for it to be enabled.
 */
async function openChat(page: Page) {
  await page.getByRole("button", { name: "Chat", exact: true }).click();
  await page.locator(".chat-panel").waitFor({ state: "visible" });
}

/** A page on another origin (its own server, on a port of its own): `html` at `/`. */
async function otherSite(html: string): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((_, res) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const attribute = (value: string) =>
  value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/'/g, "&#39;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * Another site's form posting a ChatKit request to `action` as `text/plain` (a form needs no
 * preflight). The browser sends `name=value\r\n`: split at a `=` inside a JSON string, the
 * body is `json` (a well-formed `threads.create`) and a line break.
 */
function forgedForm(action: string, marker: string): { html: string; json: string } {
  const input = { content: [{ type: "input_text", text: `forged = by another site ${marker}` }], attachments: [], inference_options: {} };
  const json = JSON.stringify({ type: "threads.create", params: { input } });
  const eq = json.indexOf("=");
  const html =
    `<!doctype html><title>Prizes</title><form method="post" enctype="text/plain" action="${attribute(action)}">` +
    `<input type="hidden" name="${attribute(json.slice(0, eq))}" value="${attribute(json.slice(eq + 1))}">` +
    `<button>Claim your prize</button></form>`;
  return { html, json };
}

describe("the Next.js example against the real functions", () => {
  it("without the cookie: the proxy answers 401 and the gate asks to sign in", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    await page.goto(inject("nextUrl"), { waitUntil: "domcontentloaded" });
    await openChat(page);
    await page.locator('[data-chatkit-gate-state="signed-out"]').waitFor();
    expect(await page.getByRole("link", { name: "Sign in to chat" }).count()).toBe(1);
    const [status, body] = await page.evaluate(async () => {
      const response = await fetch("/api/chatkit", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "threads.list", params: {} }),
      });
      return [response.status, await response.json()] as const;
    });
    expect(status).toBe(401);
    expect(body.error.code).toBe("unauthorized");
    await context.close();
  });

  it("another site's text/plain form post with the victim's cookie: 403, nothing reaches the functions", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    const user = uniqueUser("next-csrf");
    // the victim signs in: the httpOnly cookie is in the browser (no page of the app open, so
    // none of this user's requests reach a function but the forged ones, if any)
    const signInUrl = new URL("api/sign-in", inject("nextUrl"));
    signInUrl.searchParams.set("user", user);
    signInUrl.searchParams.set("name", "Grace Hopper");
    expect((await context.request.get(signInUrl.href, { maxRedirects: 0 })).status()).toBe(303);
    const [cookie] = (await context.cookies()).filter((c) => c.name === "chatkit_token");
    expect(cookie?.httpOnly).toBe(true);

    const action = new URL("api/chatkit", inject("nextUrl")).href;
    const forged = forgedForm(action, uniqueUser("q"));
    const site = await otherSite(forged.html);
    try {
      // 127.0.0.1 on another port: another origin of the same site, so the Lax cookie goes along
      // (as from a sibling subdomain); localhost: another site, which a Lax cookie never follows
      for (const [host, cookieSent] of [["127.0.0.1", true], ["localhost", false]] as const) {
        const origin = `http://${host}:${site.port}`;
        await page.goto(`${origin}/`, { waitUntil: "domcontentloaded" });
        const answered = page.waitForResponse((r) => r.url() === action && r.request().method() === "POST");
        await page.getByRole("button", { name: "Claim your prize" }).click();
        const response = await answered;
        const sent = response.request();
        expect(JSON.parse(sent.postData() ?? "")).toEqual(JSON.parse(forged.json));
        expect(await sent.headerValue("content-type")).toBe("text/plain");
        expect(await sent.headerValue("origin")).toBe(origin);
        expect((await sent.headerValue("cookie"))?.includes(`chatkit_token=${cookie!.value}`) ?? false, host).toBe(cookieSent);
        expect(response.status(), host).toBe(403);
        const body = (await response.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe("forbidden");
        expect(body.error.message).toContain(origin);
      }
    } finally {
      await site.close();
    }
    // refused before anything was sent on (a forwarded request is recorded before its answer)
    expect(await functionRequests(user)).toEqual([]);

    // the cookie itself works from the app's own page, and the user has no thread
    await page.goto(inject("nextUrl"), { waitUntil: "domcontentloaded" });
    const [status, threads] = await page.evaluate(async () => {
      const response = await fetch("/api/chatkit", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "threads.list", params: { limit: 10, order: "desc" } }),
      });
      return [response.status, await response.json()] as const;
    });
    expect(status).toBe(200);
    expect(threads.data).toEqual([]);
    expect((await functionRequests(user)).map((r) => r.type)).not.toContain("threads.create");
    await context.close();
  });

  it("with the httpOnly cookie: the proxy streams the reply through, with the user's and the page's context", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    const cookie = await signIn(context, page, "Grace Hopper");
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe("Lax");
    expect(await page.evaluate(() => document.cookie)).not.toContain("chatkit_token");

    await openChat(page);
    await page.locator("openai-chatkit [data-standin]").waitFor();
    const states = await recordAssistantText(page);
    const marker = `What does it cost? ${uniqueUser("q")}`;
    const started = Date.now();
    await sendMessage(page, marker);
    const reply = await finishedReply(page);
    const elapsed = Date.now() - started;
    expect(reply).toContain(REPLY_TAIL);
    const seen = (await states()).filter((text) => text !== reply);
    expect(seen.length).toBeGreaterThanOrEqual(5);
    console.log(`e2e: next proxy reply in ${elapsed} ms, ${seen.length + 1} distinct DOM states`);

    const prompt = JSON.stringify((await modelRequestWith(marker)).body.messages);
    expect(prompt).toContain(TITLE);
    expect(prompt).toContain("Grace Hopper");
    await context.close();
  });

  it("a reader who leaves mid-reply cancels the whole chain: proxy, function and model call", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    await signIn(context, page, "Ada Lovelace");
    await openChat(page);
    await page.locator("openai-chatkit [data-standin]").waitFor();
    const marker = `Leaving early ${uniqueUser("q")} ${LONG_REPLY}`;
    await sendMessage(page, marker);
    // the first words are on the screen, the rest is still coming
    await page.locator('openai-chatkit [data-role="assistant"][data-status="streaming"]').waitFor();
    await page.close();
    await expect.poll(async () => (await modelRequestWith(marker)).outcome, { timeout: 30_000 }).toBe("client-gone");
    await context.close();
  });

  it("the proxy route sends reads to threads and turns to turns", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    const user = uniqueUser("next-routes");
    await signIn(context, page, "Grace Hopper", user);
    await openChat(page);
    await page.locator('openai-chatkit [data-threads][data-loaded="0"]').waitFor({ state: "attached" }); // empty: no box to be visible
    await sendMessage(page, `Which function? ${uniqueUser("q")}`);
    const reply = await finishedReply(page);
    await page.locator("openai-chatkit [data-threads] button").first().waitFor();
    await page.reload({ waitUntil: "domcontentloaded" });
    await openChat(page);
    await page.locator("openai-chatkit [data-threads] button").first().click();
    await expect.poll(() => page.locator('openai-chatkit [data-role="assistant"]').first().textContent()).toBe(reply);

    const seen = await functionRequests(user);
    for (const request of seen) {
      expect(request.fn, `${request.type}`).toBe(OPERATION_FUNCTIONS[request.type!]);
      expect(request.status, `${request.type}`).toBe(200);
    }
    const types = (fn: string) => [...new Set(seen.filter((r) => r.fn === fn).map((r) => r.type))].sort();
    expect(types("turns")).toEqual(["threads.create"]);
    expect(types("threads")).toEqual(["threads.get_by_id", "threads.list"]);
    console.log(`e2e: next proxy on the split: ${seen.map((r) => `${r.type}→${r.fn}`).join(", ")}`);
    await context.close();
  });

  it("stop through the proxy route: one turns.cancel reaches turns, the partial reply is saved", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    const user = uniqueUser("next-stop");
    await signIn(context, page, "Ada Lovelace", user);
    await openChat(page);
    await page.locator("openai-chatkit [data-standin]").waitFor();
    const marker = `Stop me ${uniqueUser("q")} ${STALLED_REPLY}`;
    await sendMessage(page, marker);
    await expect.poll(() => shownAssistantText(page), { timeout: 15_000 }).toContain(PARTIAL_REPLY);
    const partial = await shownAssistantText(page);

    await page.getByRole("button", { name: "Stop" }).click();
    await page.locator('openai-chatkit [data-role="assistant"][data-status="stopped"]').waitFor();
    await expectStoppedAndSaved(user, marker, partial);

    await page.reload({ waitUntil: "domcontentloaded" });
    await openChat(page);
    await page.locator("openai-chatkit [data-threads] button").first().click();
    await page.locator('openai-chatkit [data-role="user"]').first().waitFor();
    expect(await page.locator('openai-chatkit [data-role="user"]').first().textContent()).toBe(marker);
    expect(await page.locator('openai-chatkit [data-role="assistant"]').allTextContents()).toEqual([partial]);
    await context.close();
  });

  it("asks about a selection with the keyboard: opens the chat and sends the selected text", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    await signIn(context, page, "Ada Lovelace");
    expect(await page.locator(".chat-panel").isHidden()).toBe(true);

    await page.locator("#when").selectText();
    const ask = page.getByRole("button", { name: /^Ask about this/ });
    await ask.focus();
    await page.keyboard.press("Enter");
    await page.locator("openai-chatkit [data-standin]").waitFor();
    expect(await page.locator(".chat-panel").isVisible()).toBe(true);
    const reply = await finishedReply(page);

    const sentence = (await page.locator("#when").textContent())!.replace(/\s+/g, " ").trim();
    const question = `Can you explain this from "${TITLE}": "${sentence}"`;
    expect(await page.locator('openai-chatkit [data-role="user"]').last().textContent()).toBe(question);
    expect(reply).toContain(REPLY_TAIL);
    await modelRequestWith(sentence);
    await selectionCleared(page);
    await ask.waitFor({ state: "detached" }); // the button went with the selection
    await context.close();
  });

  it("asks before the chat has loaded: the question waits for the chat, then is sent", async () => {
    const { context, cdn } = await newContext(browser, "held");
    const page = await context.newPage();
    await signIn(context, page, "Grace Hopper");

    await page.locator("#provisioned").selectText();
    await page.getByRole("button", { name: /^Ask about this/ }).click();
    // the chat opened, its script still on the way: nothing is sent yet, and nothing is lost
    await page.locator(".chat-panel").waitFor({ state: "visible" });
    expect(await page.locator('[data-chatkit-gate-state="pending"]').count()).toBe(1);
    expect(await page.locator("openai-chatkit").count()).toBe(0);

    cdn.set("standin");
    const reply = await finishedReply(page);
    const sentence = (await page.locator("#provisioned").textContent())!.replace(/\s+/g, " ").trim();
    expect(await page.locator('openai-chatkit [data-role="user"]').last().textContent()).toBe(
      `Can you explain this from "${TITLE}": "${sentence}"`,
    );
    expect(reply).toContain(REPLY_TAIL);
    await modelRequestWith(sentence);
    await selectionCleared(page);
    await context.close();
  });

  it("script gate: a CDN that never answers shows the error state with a retry, not a blank box", async () => {
    const { context, cdn } = await newContext(browser, "hangs");
    const page = await context.newPage();
    await signIn(context, page, "Ada Lovelace");
    const started = Date.now();
    await openChat(page);
    const error = page.locator('[data-chatkit-gate-state="error"] [role="alert"]');
    await error.waitFor({ timeout: 30_000 });
    console.log(`e2e: next script gate showed its error ${Date.now() - started} ms after the chat opened`);
    expect(await error.textContent()).toContain("it took too long to load");

    cdn.set("standin");
    await page.getByRole("button", { name: "Retry" }).click();
    await page.locator("openai-chatkit [data-standin]").waitFor();
    await context.close();
  });

  it("script gate: a blocked CDN fails at once", async () => {
    const { context } = await newContext(browser, "blocked");
    const page = await context.newPage();
    await signIn(context, page, "Ada Lovelace");
    await openChat(page);
    const error = page.locator('[data-chatkit-gate-state="error"] [role="alert"]');
    await error.waitFor({ timeout: 30_000 });
    // "at once": the script's error event, not the gate's 5 s timer ("it took too long to load")
    expect(await error.textContent()).toContain("its script could not be loaded");
    await context.close();
  });
});
