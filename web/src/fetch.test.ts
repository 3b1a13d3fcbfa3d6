import type { CustomApiConfig } from "@openai/chatkit";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { ChatKitUnauthorizedError, createChatKitFetch, DEFAULT_MAX_CONTEXT_BYTES } from "./fetch.js";

type Call = { input: RequestInfo | URL; init: RequestInit };

function recorder(response: () => Response = () => new Response("{}", { status: 200 })) {
  const calls: Call[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ input, init: init ?? {} });
    return response();
  });
  return { calls, fetch: fetch as unknown as typeof globalThis.fetch, spy: fetch };
}

const create = (text = "Hi") =>
  JSON.stringify({
    type: "threads.create",
    params: { input: { content: [{ type: "input_text", text }], attachments: [], inference_options: {} } },
  });

function sentBody(call: Call | undefined) {
  return JSON.parse(call?.init.body as string) as Record<string, any>;
}

beforeEach(() => {
  document.title = "Order 42 – Acme";
  document.body.innerHTML = "<main><h1>Order 42</h1><h2>Items</h2></main>";
});

afterEach(() => {
  window.getSelection()?.removeAllRanges();
});

describe("createChatKitFetch", () => {
  it("is a drop-in for ChatKit's api.fetch", () => {
    const api: CustomApiConfig = { url: "/chatkit", domainKey: "local-dev", fetch: createChatKitFetch({ proxy: true }) };
    expect(typeof api.fetch).toBe("function");
  });

  it("needs exactly one of getToken and proxy", () => {
    expect(() => createChatKitFetch({})).toThrow(TypeError);
    expect(() => createChatKitFetch({ proxy: true, getToken: () => "t" })).toThrow(TypeError);
  });

  it("adds the bearer token from an async getToken and keeps the caller's headers, signal and method", async () => {
    const { calls, fetch } = recorder();
    let n = 0;
    const chatkitFetch = createChatKitFetch({ getToken: async () => `token-${++n}`, fetch });
    const controller = new AbortController();
    await chatkitFetch("https://fn.test/", {
      method: "POST",
      headers: { "X-Trace": "abc", "Content-Type": "application/json" },
      body: JSON.stringify({ type: "threads.list", params: {} }),
      signal: controller.signal,
    });
    await chatkitFetch("https://fn.test/", { method: "POST", body: "{}" });
    const headers = new Headers(calls[0]?.init.headers);
    expect(headers.get("authorization")).toBe("Bearer token-1");
    expect(headers.get("x-trace")).toBe("abc");
    expect(headers.get("content-type")).toBe("application/json");
    expect(calls[0]?.init.signal).toBe(controller.signal);
    expect(calls[0]?.init.method).toBe("POST");
    expect(calls[0]?.init.credentials).toBeUndefined();
    expect(new Headers(calls[1]?.init.headers).get("authorization")).toBe("Bearer token-2");
  });

  it("keeps the headers of a Request input", async () => {
    const { calls, fetch } = recorder();
    const chatkitFetch = createChatKitFetch({ getToken: () => "t", fetch });
    const request = new Request("https://fn.test/", { method: "POST", headers: { "X-From-Request": "1" } });
    await chatkitFetch(request, { headers: { "X-From-Init": "2" } });
    const headers = new Headers(calls[0]?.init.headers);
    expect(headers.get("x-from-request")).toBe("1");
    expect(headers.get("x-from-init")).toBe("2");
    expect(calls[0]?.input).toBe(request);
  });

  it("in proxy mode sends no Authorization header and includes credentials", async () => {
    const { calls, fetch } = recorder();
    const chatkitFetch = createChatKitFetch({ proxy: true, fetch });
    await chatkitFetch("/api/chatkit", { method: "POST", body: create() });
    expect(new Headers(calls[0]?.init.headers).has("authorization")).toBe(false);
    expect(calls[0]?.init.credentials).toBe("include");
  });

  it("puts userInfo and pageContext into the top-level metadata of turn requests, keeping other keys", async () => {
    const { calls, fetch } = recorder();
    const chatkitFetch = createChatKitFetch({
      proxy: true,
      fetch,
      userInfo: async () => ({ id: "u1", name: "Ada Lovelace", plan: "pro", nested: { no: 1 } as never }),
    });
    const body = JSON.stringify({ ...JSON.parse(create()), metadata: { app: "kept" } });
    await chatkitFetch("/api/chatkit", { method: "POST", body });
    const sent = sentBody(calls[0]);
    expect(sent.type).toBe("threads.create");
    expect(sent.params.input.content[0].text).toBe("Hi");
    expect(sent.metadata.app).toBe("kept");
    expect(sent.metadata.userInfo).toEqual({ id: "u1", name: "Ada Lovelace", plan: "pro" });
    expect(sent.metadata.pageContext.title).toBe("Order 42 – Acme");
    expect(sent.metadata.pageContext.headings).toEqual(["Order 42", "Items"]);
    expect(sent.metadata.pageContext.url).toBe(location.href.split("#")[0]);
    expect(new Headers(calls[0]?.init.headers).get("content-type")).toBe("application/json");

    const add = JSON.stringify({ type: "threads.add_user_message", params: { thread_id: "thr_1", input: {} } });
    await chatkitFetch("/api/chatkit", { method: "POST", body: add });
    expect(sentBody(calls[1]).metadata.userInfo.name).toBe("Ada Lovelace");
  });

  it("passes every other request through untouched", async () => {
    const { calls, fetch } = recorder();
    const userInfo = vi.fn(() => ({ name: "Ada" }));
    const chatkitFetch = createChatKitFetch({ getToken: () => "t", fetch, userInfo });
    const list = JSON.stringify({ type: "threads.list", params: { limit: 20 } });
    const items = '{"type":"items.list","params":{"thread_id":"thr_1"},"metadata":{}}';
    const notJson = "this is not json {";
    const form = new FormData();
    form.set("file", new Blob(["x"]), "x.txt");
    for (const body of [list, items, notJson, form, undefined]) {
      await chatkitFetch("https://fn.test/", { method: "POST", body });
    }
    expect(calls.map((c) => c.init.body)).toEqual([list, items, notJson, form, undefined]);
    expect(new Headers(calls[2]?.init.headers).has("content-type")).toBe(false);
    expect(new Headers(calls[3]?.init.headers).has("content-type")).toBe(false);
    expect(userInfo).not.toHaveBeenCalled();
  });

  it("on a 401 calls onUnauthorized and throws a clear error", async () => {
    const { fetch } = recorder(
      () =>
        new Response(JSON.stringify({ error: { code: "unauthorized", message: "invalid token: ExpiredSignature", request_id: "req-7" } }), {
          status: 401,
          headers: { "content-type": "application/json" },
        }),
    );
    const onUnauthorized = vi.fn();
    const chatkitFetch = createChatKitFetch({ getToken: () => "expired", fetch, onUnauthorized });
    const error = await chatkitFetch("https://fn.test/", { method: "POST", body: create() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatKitUnauthorizedError);
    expect((error as ChatKitUnauthorizedError).message).toBe("not authorized (401): invalid token: ExpiredSignature");
    expect((error as ChatKitUnauthorizedError).requestId).toBe("req-7");
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    expect(onUnauthorized).toHaveBeenCalledWith(error);
  });

  it("still throws the 401 error when onUnauthorized itself fails", async () => {
    const { fetch } = recorder(() => new Response("nope", { status: 401 }));
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    const chatkitFetch = createChatKitFetch({ proxy: true, fetch, onUnauthorized: () => Promise.reject(new Error("router gone")) });
    await expect(chatkitFetch("/api/chatkit", { method: "POST", body: "{}" })).rejects.toThrow("not authorized (401)");
    expect(error).toHaveBeenCalled();
    error.mockRestore();
  });

  it("without a token sends nothing and reports the user as signed out", async () => {
    const { spy, fetch } = recorder();
    const onUnauthorized = vi.fn();
    const chatkitFetch = createChatKitFetch({ getToken: async () => null, fetch, onUnauthorized });
    await expect(chatkitFetch("https://fn.test/", { method: "POST", body: create() })).rejects.toBeInstanceOf(ChatKitUnauthorizedError);
    expect(spy).not.toHaveBeenCalled();
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it("returns other error statuses to ChatKit as they are", async () => {
    const { fetch } = recorder(() => new Response('{"error":{}}', { status: 404 }));
    const response = await createChatKitFetch({ proxy: true, fetch })("/api/chatkit", { method: "POST", body: "{}" });
    expect(response.status).toBe(404);
  });

  it("bounds the added context, whatever the page holds", async () => {
    document.title = "T".repeat(100_000);
    document.body.innerHTML = `<article>${"<h2>" + "heading ".repeat(500) + "</h2>"}${"<h3>h</h3>".repeat(5000)}</article>`;
    const { calls, fetch } = recorder();
    const huge = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`field${i}`, "v".repeat(10_000)]));
    const chatkitFetch = createChatKitFetch({ proxy: true, fetch, userInfo: { name: "N".repeat(50_000), ...huge } });
    await chatkitFetch("/api/chatkit", { method: "POST", body: create() });
    const metadata = sentBody(calls[0]).metadata;
    expect(metadata.pageContext.title.length).toBe(300);
    expect(metadata.pageContext.headings.length).toBe(12);
    expect(metadata.pageContext.headings[0].length).toBe(300);
    expect(metadata.userInfo.name.length).toBe(500);
    expect(Object.keys(metadata.userInfo).length).toBe(20);
    expect(new TextEncoder().encode(JSON.stringify(metadata)).length).toBeLessThanOrEqual(DEFAULT_MAX_CONTEXT_BYTES);
  });

  it("bounds an app's own pageContext function too, and drops fields to fit maxContextBytes", async () => {
    const { calls, fetch } = recorder();
    const chatkitFetch = createChatKitFetch({
      proxy: true,
      fetch,
      maxContextBytes: 3000,
      pageContext: () => ({
        url: "https://app.test/" + "p".repeat(10_000),
        path: "/p",
        title: "Title",
        description: "d".repeat(5000),
        headings: Array.from({ length: 100 }, () => "x".repeat(1000)),
        selectedText: "s".repeat(100_000),
        timestamp: "2030-01-01T00:00:00.000Z",
      }),
    });
    await chatkitFetch("/api/chatkit", { method: "POST", body: create() });
    const metadata = sentBody(calls[0]).metadata;
    expect(new TextEncoder().encode(JSON.stringify(metadata)).length).toBeLessThanOrEqual(3000);
    expect(metadata.pageContext.headings).toBeUndefined();
    expect(metadata.pageContext.title).toBe("Title");
    expect(metadata.pageContext.url.length).toBeLessThanOrEqual(2048);
    expect(metadata.pageContext.path).toBe("/p");
  });

  it("sends no page context when told not to", async () => {
    const { calls, fetch } = recorder();
    await createChatKitFetch({ proxy: true, fetch, pageContext: false, userInfo: { id: "u" } })("/api/chatkit", {
      method: "POST",
      body: create(),
    });
    expect(sentBody(calls[0]).metadata).toEqual({ userInfo: { id: "u" } });
  });

  it("includes the current selection in the page context", async () => {
    document.body.innerHTML = "<main><p id=p>The quick brown fox</p></main>";
    const range = document.createRange();
    range.selectNodeContents(document.getElementById("p")!);
    window.getSelection()!.addRange(range);
    const { calls, fetch } = recorder();
    await createChatKitFetch({ proxy: true, fetch })("/api/chatkit", { method: "POST", body: create() });
    expect(sentBody(calls[0]).metadata.pageContext.selectedText).toBe("The quick brown fox");
  });
});
