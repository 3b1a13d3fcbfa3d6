// The demo page of `make dev` in headless Chromium: the package's fetch (bearer token, user and
// page context, routes) from the page straight to the real functions (CORS) — turns to
// `turns`, reads to `threads` — a stand-in <openai-chatkit> rendering the SSE stream, DynamoDB
// Local behind them.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { launch } from "./chromium.js";
import { OPERATION_FUNCTIONS } from "../src/routes.js";
import {
  callFunction,
  expectStoppedAndSaved,
  finishedReply,
  functionRequests,
  modelRequests,
  modelRequestWith,
  newContext,
  recordAssistantText,
  savedAssistantTexts,
  selectionCleared,
  sendMessage,
  shownAssistantText,
  uniqueUser,
} from "./helpers.js";
import { PARTIAL_REPLY, REPLY_TAIL, SHOW_ORDER, SHOW_ORDER_CALL, STALLED_REPLY, STUB_TITLE } from "./stub-model.js";

const TITLE = "Lambda response streaming – Demo docs";
/** A 1×1 PNG. */
const PNG = Buffer.from(
  "89504e470d0a1a0a0000000d49484452000000010000000108020000009077" +
    "53de0000000c49444154789c63f8cfc0000003010100c9fe92ef0000000049454e44ae426082",
  "hex",
);
let browser: Browser;

beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
});

async function openDemo(page: Page, user: string, name: string, demoUrl = inject("demoUrl")) {
  const url = new URL(demoUrl);
  url.searchParams.set("user", user);
  url.searchParams.set("name", name);
  await page.goto(url.href, { waitUntil: "domcontentloaded" });
  await page.locator("openai-chatkit [data-standin]").waitFor();
}

describe("the demo page against the real functions", () => {
  it("streams a reply into the DOM incrementally, and the model sees the page title and the user's name", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    await openDemo(page, uniqueUser("stream"), "Ada Lovelace");
    const states = await recordAssistantText(page);
    const marker = `How does streaming work? ${uniqueUser("q")}`;
    const started = Date.now();
    await sendMessage(page, marker);
    const reply = await finishedReply(page);
    const elapsed = Date.now() - started;

    expect(reply).toContain(REPLY_TAIL);
    expect(reply).toContain(marker);
    const seen = await states();
    const before = seen.filter((text) => text !== reply);
    // one state per delta: many distinct, growing texts before the final one
    expect(before.length).toBeGreaterThanOrEqual(5);
    expect(new Set(before).size).toBe(before.length);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.startsWith(seen[i - 1]!)).toBe(true);
    console.log(`e2e: demo reply of ${reply.length} chars in ${elapsed} ms, ${seen.length} distinct DOM states`);

    const request = await modelRequestWith(marker);
    const prompt = JSON.stringify(request.body.messages);
    expect(prompt).toContain(TITLE);
    expect(prompt).toContain("Ada Lovelace");
    expect(prompt).toContain("Billing"); // a heading of the page
    expect(request.authorization).toBe("Bearer sk-web-e2e"); // the model key, never the user's token
    await context.close();
  });

  it("keeps the conversation: after a reload the thread is listed and its items load", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    const user = uniqueUser("persist");
    await openDemo(page, user, "Grace Hopper");
    const marker = `Remember this ${uniqueUser("m")}`;
    await sendMessage(page, marker);
    const reply = await finishedReply(page);
    // the turn is over (the stand-in lists the threads once the stream ended), titled
    await page.locator("openai-chatkit [data-threads] button", { hasText: STUB_TITLE }).waitFor();

    await page.reload({ waitUntil: "domcontentloaded" });
    await page.locator("openai-chatkit [data-standin]").waitFor();
    const thread = page.locator("openai-chatkit [data-threads] button");
    await expect.poll(() => thread.count(), { timeout: 15_000 }).toBe(1);
    await expect.poll(() => thread.first().textContent(), { timeout: 15_000 }).toBe(STUB_TITLE);
    expect(await page.locator('openai-chatkit [data-role="user"]').count()).toBe(0);

    await thread.first().click();
    const user_ = page.locator('openai-chatkit [data-role="user"]');
    await user_.first().waitFor();
    expect(await user_.first().textContent()).toBe(marker);
    expect(await page.locator('openai-chatkit [data-role="assistant"]').first().textContent()).toBe(reply);
    await context.close();
  });

  it("asks about a selection from the page", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    await openDemo(page, uniqueUser("ask"), "Ada Lovelace");
    await page.locator("#billing").selectText();
    const ask = page.getByRole("button", { name: "Ask about this" });
    await ask.click();
    const reply = await finishedReply(page);
    const sentence = (await page.locator("#billing").textContent())!.replace(/\s+/g, " ").trim();
    const question = `Can you explain this from "${TITLE}": "${sentence}"`;
    expect(await page.locator('openai-chatkit [data-role="user"]').last().textContent()).toBe(question);
    expect(reply).toContain(REPLY_TAIL);
    await modelRequestWith(sentence);
    await selectionCleared(page);
    await context.close();
  });

  it("attaches an image: uploaded straight to S3, read by the model, shown with a fresh preview", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    const user = uniqueUser("attach");
    await openDemo(page, user, "Ada Lovelace");
    // the paperclip: attachments.create through the package's fetch, then a plain PUT of the
    // bytes to the presigned URL (moto's S3, allowed by the bucket's CORS rule)
    await page.getByLabel("Attach").setInputFiles({ name: "pixel.png", mimeType: "image/png", buffer: PNG });
    await page.locator('openai-chatkit [data-attachment="pixel.png"][data-state="uploaded"]').waitFor();
    expect((await functionRequests(user)).filter((r) => r.type === "attachments.create").map((r) => [r.fn, r.status])).toEqual([
      ["threads", 200],
    ]);
    const marker = `What is in this picture? ${uniqueUser("img")}`;
    await sendMessage(page, marker);
    await finishedReply(page);

    const request = await modelRequestWith(marker);
    const parts = (request.body.messages ?? []).flatMap((m) => (Array.isArray(m.content) ? m.content : [])) as {
      type: string;
      image_url?: { url: string };
    }[];
    const image = parts.find((p) => p.type === "image_url");
    const s3 = process.env.AWS_ENDPOINT_URL_S3!;
    expect(image?.image_url?.url.startsWith(`${s3}/`)).toBe(true);
    expect(await (await fetch(image!.image_url!.url)).arrayBuffer()).toEqual(PNG.buffer.slice(PNG.byteOffset, PNG.byteOffset + PNG.length));

    const loaded = (img: HTMLImageElement) => (img.complete ? img.naturalWidth : -1);
    const preview = page.locator("openai-chatkit [data-role=user] img[data-attachment-preview]").last();
    await preview.waitFor();
    await expect.poll(() => preview.evaluate(loaded), { timeout: 15_000 }).toBe(1);
    const first = await preview.getAttribute("src");
    expect(first?.startsWith(`${s3}/`)).toBe(true);

    // reopened later, the thread's message shows the image through a newly signed URL
    await page.reload({ waitUntil: "domcontentloaded" });
    await page.locator("openai-chatkit [data-standin]").waitFor();
    await page.locator("openai-chatkit [data-threads] button").first().click();
    const again = page.locator("openai-chatkit [data-role=user] img[data-attachment-preview]").first();
    await again.waitFor();
    await expect.poll(() => again.evaluate(loaded), { timeout: 15_000 }).toBe(1);
    await context.close();
  });

  it("the orders example: the card shows, Approve replaces it, the effect and the notice arrive, and the approved card is what the thread keeps", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    const user = uniqueUser("orders");
    await openDemo(page, user, "Ada Lovelace");
    // what a page's onEffect gets: the element's chatkit.effect events
    await page.evaluate(() => {
      const effects: unknown[] = [];
      (window as unknown as { __effects: unknown[] }).__effects = effects;
      document.querySelector("openai-chatkit")!.addEventListener("chatkit.effect", (event) => effects.push((event as CustomEvent).detail));
    });
    const marker = `${SHOW_ORDER} ${uniqueUser("m")}`;
    await sendMessage(page, marker);

    // the model called show_order (turns runs with CHATKIT_EXAMPLE_ORDERS=1): the card, then
    // the model's reply to the tool's output
    const card = page.locator('openai-chatkit [data-role="widget"]');
    await card.locator('[data-widget-type="Title"]', { hasText: "Order #42" }).waitFor({ timeout: 30_000 });
    expect(await card.count()).toBe(1);
    expect(await card.locator('[data-widget-type="Caption"]').textContent()).toBe("Ada Lovelace");
    expect(await card.locator('[data-widget-type="Text"]').allTextContents()).toEqual(["2 × Notebook", "1 × Fountain pen", "Total: 31.50 EUR"]);
    const buttons = card.locator('button[data-widget-type="Button"]');
    expect(await buttons.allTextContents()).toEqual(["Approve", "Reject"]);
    expect(await buttons.evaluateAll((all) => all.map((b) => b.getAttribute("data-action")))).toEqual(["orders.approve", "orders.reject"]);
    expect(await finishedReply(page)).toContain(REPLY_TAIL);
    const calls = (await modelRequests()).filter((r) => JSON.stringify(r.body.messages).includes(marker));
    expect(calls).toHaveLength(2);
    expect(calls[0]!.body.tools?.map((t) => t.function?.name)).toContain(SHOW_ORDER_CALL.name);
    const output = calls[1]!.body.messages!.at(-1)!;
    expect(output).toMatchObject({ role: "tool", tool_call_id: SHOW_ORDER_CALL.id });
    expect(JSON.parse(output.content as string)).toMatchObject({ order_id: "42", status: "pending" });

    // Approve (enabled once the turn is over): threads.custom_action, streamed by turns
    await card.getByRole("button", { name: "Approve" }).click();
    await card.locator('[data-widget-type="Badge"]', { hasText: "Approved" }).waitFor({ timeout: 15_000 });
    expect(await card.locator('[data-widget-type="Title"]').textContent()).toBe("Order #42");
    expect(await card.locator("button").count()).toBe(0);
    const notice = page.locator("openai-chatkit [data-notice]");
    await expect.poll(() => notice.textContent(), { timeout: 15_000 }).toBe("Order **#42** approved.");
    expect(await notice.getAttribute("data-level")).toBe("info");
    expect(await notice.isVisible()).toBe(true);
    expect(await page.evaluate(() => (window as unknown as { __effects: unknown[] }).__effects)).toEqual([
      { name: "order_approved", data: { order_id: "42" } },
    ]);
    const actions = (await functionRequests(user)).filter((r) => r.type === "threads.custom_action");
    expect(actions.map((r) => [r.fn, r.status])).toEqual([["turns", 200]]);
    // no model call for an approval
    expect((await modelRequests()).filter((r) => JSON.stringify(r.body.messages).includes(marker))).toHaveLength(2);

    // reopened (threads.get_by_id, from threads): the approved card, between question and reply
    await page.reload({ waitUntil: "domcontentloaded" });
    await page.locator("openai-chatkit [data-standin]").waitFor();
    await page.locator("openai-chatkit [data-threads] button").first().click();
    const stored = page.locator('openai-chatkit [data-role="widget"]');
    await stored.locator('[data-widget-type="Badge"]', { hasText: "Approved" }).waitFor();
    expect(await stored.locator('[data-widget-type="Title"]').textContent()).toBe("Order #42");
    expect(await stored.locator("button").count()).toBe(0);
    const items = page.locator("openai-chatkit [data-items] > li");
    expect(await items.evaluateAll((all) => all.map((li) => li.getAttribute("data-role")))).toEqual(["user", "widget", "assistant"]);
    await context.close();
  });

  it("shows an error with a retry, not a blank box, when the ChatKit script never loads", async () => {
    const { context, cdn } = await newContext(browser, "hangs");
    const page = await context.newPage();
    const url = new URL(inject("demoUrl"));
    url.searchParams.set("user", uniqueUser("gate"));
    const started = Date.now();
    await page.goto(url.href, { waitUntil: "domcontentloaded" });
    const status = page.locator('#chat-status[data-state="error"]');
    await status.waitFor({ timeout: 30_000 });
    const waited = Date.now() - started;
    expect(await status.textContent()).toContain("was not defined within 5000 ms");
    expect(waited).toBeGreaterThanOrEqual(4500);
    console.log(`e2e: demo script gate showed its error after ${waited} ms`);

    cdn.set("standin");
    await page.getByRole("button", { name: "Retry" }).click();
    await page.locator("openai-chatkit [data-standin]").waitFor();
    await context.close();
  });
});

/** The message of a `wrong_function` answer for `type` sent to `to`. */
const wrongFunction = (type: string, to: "turns" | "threads") =>
  `\`${type}\` is served by the \`${OPERATION_FUNCTIONS[type]}\` function, not by \`${to}\``;

describe("the demo page on the split backend: routes, stop, misrouting", () => {
  it("sends reads to threads and turns to turns, and each function refuses the other's operations", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    const user = uniqueUser("routes");
    await openDemo(page, user, "Ada Lovelace");
    const marker = `Which function? ${uniqueUser("m")}`;
    await sendMessage(page, marker);
    const reply = await finishedReply(page);
    await page.locator("openai-chatkit [data-threads] button").first().waitFor();
    await page.reload({ waitUntil: "domcontentloaded" });
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
    // the stream named its turn (exposed to the page by CORS), for a stop
    expect(seen.find((r) => r.type === "threads.create")?.responseTurnId).toMatch(/\S/);
    console.log(`e2e: demo on the split: ${seen.map((r) => `${r.type}→${r.fn}`).join(", ")}`);

    // sent straight to the wrong function: 400 wrong_function, naming the right one
    const toTurns = await callFunction("turns", user, { type: "threads.list" });
    expect(toTurns.status).toBe(400);
    expect(toTurns.body.error).toMatchObject({ code: "wrong_function", function: "threads" });
    expect(toTurns.body.error.message).toContain(wrongFunction("threads.list", "turns"));
    const toThreads = await callFunction("threads", user, {
      type: "threads.create",
      params: { input: { content: [{ type: "input_text", text: "hi" }], attachments: [], inference_options: {} } },
    });
    expect(toThreads.status).toBe(400);
    expect(toThreads.body.error).toMatchObject({ code: "wrong_function", function: "turns" });
    expect(toThreads.body.error.message).toContain(wrongFunction("threads.create", "threads"));
    await context.close();
  });

  it("stop: the kit sends one turns.cancel to turns, which stops the turn and saves the partial reply", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    const user = uniqueUser("stop");
    await openDemo(page, user, "Grace Hopper");
    const marker = `Stop me ${uniqueUser("m")} ${STALLED_REPLY}`;
    await sendMessage(page, marker);
    // the model said a few words and stalls: the turn runs on, the reply is partial
    await expect.poll(() => shownAssistantText(page), { timeout: 15_000 }).toContain(PARTIAL_REPLY);
    const partial = await shownAssistantText(page);
    expect((await modelRequestWith(marker)).outcome).toBe("streaming");

    await page.getByRole("button", { name: "Stop" }).click();
    await page.locator('openai-chatkit [data-role="assistant"][data-status="stopped"]').waitFor();
    expect(await shownAssistantText(page)).toBe(partial);
    await expectStoppedAndSaved(user, marker, partial);

    // reopened, threads.get_by_id (from threads) shows the partial reply
    await page.reload({ waitUntil: "domcontentloaded" });
    await page.locator("openai-chatkit [data-threads] button").first().click();
    await page.locator('openai-chatkit [data-role="user"]').first().waitFor();
    expect(await page.locator('openai-chatkit [data-role="user"]').first().textContent()).toBe(marker);
    expect(await page.locator('openai-chatkit [data-role="assistant"]').allTextContents()).toEqual([partial]);
    const reads = (await functionRequests(user)).filter((r) => r.type === "threads.get_by_id");
    expect(reads.map((r) => [r.fn, r.status])).toEqual([["threads", 200]]);
    await context.close();
  });

  it("routes swapped: the page shows the function's wrong_function error, and the kit logs it", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    const logged: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error" && message.text().startsWith("chatkit:")) logged.push(message.text());
    });
    const user = uniqueUser("swapped");
    await openDemo(page, user, "Ada Lovelace", inject("misroutedDemoUrls").swapped);
    const error = page.locator("openai-chatkit [data-error]");
    // the thread list, asked at once, went to turns
    await expect.poll(() => error.textContent(), { timeout: 15_000 }).toContain(wrongFunction("threads.list", "turns"));
    expect(await error.isVisible()).toBe(true);

    const marker = `Misrouted ${uniqueUser("m")}`;
    await sendMessage(page, marker);
    await expect.poll(() => error.textContent(), { timeout: 15_000 }).toContain(wrongFunction("threads.create", "threads"));
    expect(await page.locator('openai-chatkit [data-role="assistant"]').count()).toBe(0);
    expect((await modelRequests()).some((r) => JSON.stringify(r.body.messages).includes(marker))).toBe(false);

    expect(logged).toHaveLength(2);
    expect(logged[0]).toContain(wrongFunction("threads.list", "turns"));
    expect(logged[1]).toContain(wrongFunction("threads.create", "threads"));
    for (const line of logged) expect(line).toContain("are `turns` and `threads` swapped?");
    expect((await functionRequests(user)).map((r) => [r.type, r.fn, r.status])).toEqual([
      ["threads.list", "turns", 400],
      ["threads.create", "threads", 400],
    ]);
    await context.close();
  });

  it("one URL, the threads function's: reads work, a message shows the wrong_function error", async () => {
    const { context } = await newContext(browser);
    const page = await context.newPage();
    const logged: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error" && message.text().startsWith("chatkit:")) logged.push(message.text());
    });
    const user = uniqueUser("threads-only");
    await openDemo(page, user, "Grace Hopper", inject("misroutedDemoUrls").threadsOnly);
    await page.locator('openai-chatkit [data-threads][data-loaded="0"]').waitFor({ state: "attached" }); // empty: no box to be visible
    const error = page.locator("openai-chatkit [data-error]");
    expect(await error.isVisible()).toBe(false);

    await sendMessage(page, `Misrouted ${uniqueUser("m")}`);
    await expect.poll(() => error.textContent(), { timeout: 15_000 }).toContain(wrongFunction("threads.create", "threads"));
    expect(await error.isVisible()).toBe(true);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain("pass createChatKitFetch({ routes }) both URLs");
    expect((await functionRequests(user)).map((r) => [r.type, r.fn, r.status])).toEqual([
      ["threads.list", "threads", 200],
      ["threads.create", "threads", 400],
    ]);
    await context.close();
  });
});
