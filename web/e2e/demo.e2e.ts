// The demo page of `make dev` in headless Chromium: the package's fetch (bearer token, user and
// page context) from the page straight to the real function (CORS), a stand-in
// <openai-chatkit> rendering the SSE stream, DynamoDB Local behind it.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { launch } from "./chromium.js";
import {
  finishedReply,
  modelRequestWith,
  newContext,
  recordAssistantText,
  selectionCleared,
  sendMessage,
  uniqueUser,
} from "./helpers.js";
import { REPLY_TAIL, STUB_TITLE } from "./stub-model.js";

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

async function openDemo(page: Page, user: string, name: string) {
  const url = new URL(inject("demoUrl"));
  url.searchParams.set("user", user);
  url.searchParams.set("name", name);
  await page.goto(url.href, { waitUntil: "domcontentloaded" });
  await page.locator("openai-chatkit [data-standin]").waitFor();
}

describe("the demo page against the real function", () => {
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
