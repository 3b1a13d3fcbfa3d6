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

  it("logs a 400 wrong_function with the server's message and what to check, and returns it as it is", async () => {
    const message = "`threads.list` is served by the `threads` function, not by `turns`: send it to the threads URL (the deployment's ChatKitRoutes output)";
    const wrong = () =>
      new Response(JSON.stringify({ error: { code: "wrong_function", message, function: "threads", request_id: "req-1" } }), {
        status: 400,
        headers: { "content-type": "application/json" },
      });
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const routes = { turns: "https://turns.test/", threads: "https://threads.test/" };
      const cases = [
        [createChatKitFetch({ getToken: () => "t", fetch: recorder(wrong).fetch }), "pass createChatKitFetch({ routes }) both URLs"],
        [createChatKitFetch({ getToken: () => "t", fetch: recorder(wrong).fetch, routes: { turns: routes.threads, threads: routes.turns } }), "are `turns` and `threads` swapped?"],
        [createChatKitFetch({ proxy: true, fetch: recorder(wrong).fetch }), "check the routes of the proxy"],
      ] as const;
      for (const [chatkitFetch, hint] of cases) {
        error.mockClear();
        const response = await chatkitFetch("https://turns.test/", { method: "POST", body: '{"type":"threads.list","params":{}}' });
        expect(response.status).toBe(400);
        expect((await response.json()).error.function).toBe("threads"); // the body is still ChatKit's to read
        expect(error).toHaveBeenCalledTimes(1);
        const logged = String(error.mock.calls[0]![0]);
        expect(logged).toContain(message);
        expect(logged).toContain(hint);
        expect(logged).toContain("(request req-1)");
      }

      error.mockClear();
      const other = recorder(() => new Response('{"error":{"code":"bad_request","message":"no"}}', { status: 400 }));
      expect((await createChatKitFetch({ proxy: true, fetch: other.fetch })("/api/chatkit", { method: "POST", body: LIST })).status).toBe(400);
      const notJson = recorder(() => new Response("oops", { status: 400 }));
      expect((await createChatKitFetch({ proxy: true, fetch: notJson.fetch })("/api/chatkit", { method: "POST", body: LIST })).status).toBe(400);
      expect(error).not.toHaveBeenCalled();
    } finally {
      error.mockRestore();
    }
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

const LIST = JSON.stringify({ type: "threads.list", params: {} });
const FIRST_EVENT = 'data: {"type":"thread.created"}\n\n';

function requestType(init: RequestInit | undefined): string | undefined {
  try {
    return (JSON.parse(init?.body as string) as { type?: string }).type;
  } catch {
    return undefined;
  }
}

/**
 * A fake function: a streamed turn type gets SSE with `x-chatkit-turn-id` (whose body errors
 * when the request's signal fires, as fetch does), anything else JSON.
 */
function turnServer(options: { turnId?: string | null; turnIdOnJson?: boolean; failCancel?: boolean; ignoreAbort?: boolean } = {}) {
  const calls: Call[] = [];
  const streams: ReadableStreamDefaultController<Uint8Array>[] = [];
  const responses: Response[] = [];
  const streaming = ["threads.create", "threads.add_user_message", "threads.custom_action"];
  const turnId = options.turnId === undefined ? "turn_1" : options.turnId;
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ input, init: init ?? {} });
    const type = requestType(init);
    const signal = init?.signal;
    if (signal?.aborted && !options.ignoreAbort) throw signal.reason;
    if (type === "turns.cancel" && options.failCancel) throw new TypeError("network error");
    let response: Response;
    if (type !== undefined && streaming.includes(type)) {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          streams.push(controller);
          controller.enqueue(new TextEncoder().encode(FIRST_EVENT));
          if (!options.ignoreAbort) signal?.addEventListener("abort", () => controller.error(signal.reason));
        },
      });
      const headers = new Headers({ "content-type": "text/event-stream" });
      if (turnId) headers.set("x-chatkit-turn-id", turnId);
      response = new Response(body, { status: 200, headers });
    } else {
      const headers = new Headers({ "content-type": "application/json" });
      if (options.turnIdOnJson) headers.set("x-chatkit-turn-id", "turn_json");
      response = new Response("{}", { status: 200, headers });
    }
    responses.push(response);
    return response;
  });
  const cancels = () => calls.filter((call) => requestType(call.init) === "turns.cancel");
  return { calls, streams, responses, cancels, fetch: fetch as unknown as typeof globalThis.fetch };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("createChatKitFetch: cancelling a streamed turn", () => {
  it("sends turns.cancel once, with the turn id and the same auth, when the caller aborts mid-stream", async () => {
    const server = turnServer();
    const getToken = vi.fn(() => "tok");
    const chatkitFetch = createChatKitFetch({ getToken, fetch: server.fetch, pageContext: false });
    const controller = new AbortController();
    const response = await chatkitFetch("https://fn.test/chatkit", {
      method: "POST",
      body: create(),
      headers: { "Idempotency-Key": "key-1", "X-Trace": "abc", Accept: "text/event-stream" },
      signal: controller.signal,
    });
    expect(server.calls[0]?.init.signal).toBe(controller.signal);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(response.headers.get("x-chatkit-turn-id")).toBe("turn_1");
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe(FIRST_EVENT);
    const pending = reader.read();
    controller.abort();
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    await settle();

    expect(server.cancels()).toHaveLength(1);
    const cancel = server.cancels()[0]!;
    expect(cancel.input).toBe("https://fn.test/chatkit");
    expect(cancel.init.method).toBe("POST");
    expect(cancel.init.keepalive).toBe(true);
    expect(cancel.init.signal).toBeUndefined();
    expect(JSON.parse(cancel.init.body as string)).toEqual({ type: "turns.cancel", params: { turn_id: "turn_1" } });
    const headers = new Headers(cancel.init.headers);
    expect(headers.get("authorization")).toBe("Bearer tok");
    expect(headers.get("content-type")).toBe("application/json");
    expect(headers.get("accept")).toBe("application/json");
    expect(headers.get("x-trace")).toBe("abc");
    expect(headers.has("idempotency-key")).toBe(false);
    expect(new Headers(server.calls[0]?.init.headers).get("idempotency-key")).toBe("key-1");
    expect(getToken).toHaveBeenCalledTimes(1);
  });

  it("cancels when the caller aborts before reading the body, or the answer comes after the abort", async () => {
    const server = turnServer();
    const chatkitFetch = createChatKitFetch({ proxy: true, fetch: server.fetch, pageContext: false });
    const controller = new AbortController();
    const response = await chatkitFetch("/api/chatkit", { method: "POST", body: create(), signal: controller.signal });
    controller.abort();
    await expect(response.text()).rejects.toMatchObject({ name: "AbortError" });
    await settle();
    expect(server.cancels()).toHaveLength(1);
    expect(server.cancels()[0]!.input).toBe("/api/chatkit");
    expect(server.cancels()[0]!.init.credentials).toBe("include");

    const late = turnServer({ ignoreAbort: true });
    const lateController = new AbortController();
    const lateFetch = createChatKitFetch({ proxy: true, fetch: late.fetch, pageContext: false });
    const sent = lateFetch("/api/chatkit", { method: "POST", body: create(), signal: lateController.signal });
    lateController.abort();
    const lateResponse = await sent;
    await expect(lateResponse.text()).rejects.toMatchObject({ name: "AbortError" });
    await settle();
    expect(late.cancels()).toHaveLength(1);
  });

  it("sends no cancel once the stream ended normally", async () => {
    const server = turnServer();
    const controller = new AbortController();
    const response = await createChatKitFetch({ proxy: true, fetch: server.fetch, pageContext: false })("/api/chatkit", {
      method: "POST",
      body: create(),
      signal: controller.signal,
    });
    server.streams[0]!.close();
    expect(await response.text()).toBe(FIRST_EVENT);
    controller.abort();
    await settle();
    expect(server.cancels()).toHaveLength(0);
    expect(server.calls).toHaveLength(1);
  });

  it("never cancels other requests, streams without a turn id, or requests without a signal", async () => {
    const server = turnServer({ turnIdOnJson: true });
    const chatkitFetch = createChatKitFetch({ proxy: true, fetch: server.fetch, pageContext: false });
    const controller = new AbortController();
    const bodies = [
      LIST,
      JSON.stringify({ type: "threads.sync_custom_action", params: {} }),
      JSON.stringify({ type: "turns.cancel", params: { turn_id: "x" } }),
      JSON.stringify({ type: "input.transcribe", params: {} }),
    ];
    for (const body of bodies) {
      const response = await chatkitFetch("/api/chatkit", { method: "POST", body, signal: controller.signal });
      expect(response).toBe(server.responses.at(-1));
      expect(response.headers.get("x-chatkit-turn-id")).toBe("turn_json");
    }
    const unsignalled = await chatkitFetch("/api/chatkit", { method: "POST", body: create() });
    expect(unsignalled).toBe(server.responses.at(-1));
    controller.abort();

    const noTurnId = turnServer({ turnId: null });
    const other = new AbortController();
    const response = await createChatKitFetch({ proxy: true, fetch: noTurnId.fetch, pageContext: false })("/api/chatkit", {
      method: "POST",
      body: create(),
      signal: other.signal,
    });
    expect(response).toBe(noTurnId.responses[0]);
    other.abort();
    await settle();
    expect(server.cancels().filter((call) => call.init.keepalive)).toHaveLength(0);
    expect(server.calls).toHaveLength(bodies.length + 1);
    expect(noTurnId.calls).toHaveLength(1);
  });

  it("swallows a cancel that fails, asynchronously or at once", async () => {
    const failing = turnServer({ failCancel: true });
    const throwing = turnServer();
    const throwAtOnce = ((input: RequestInfo | URL, init?: RequestInit) => {
      if (requestType(init) === "turns.cancel") throw new TypeError("keepalive body too large");
      return throwing.fetch(input, init);
    }) as typeof fetch;
    for (const fetch of [failing.fetch, throwAtOnce]) {
      const controller = new AbortController();
      const response = await createChatKitFetch({ proxy: true, fetch, pageContext: false })("/api/chatkit", {
        method: "POST",
        body: create(),
        signal: controller.signal,
      });
      const reader = response.body!.getReader();
      await reader.read();
      const pending = reader.read();
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: "AbortError" });
      await settle();
    }
    expect(failing.cancels()).toHaveLength(1);
  });
});

describe("createChatKitFetch: routes", () => {
  const routes = { turns: "https://turns.test/", threads: "https://threads.test/" };

  it("needs both URLs", () => {
    expect(() => createChatKitFetch({ proxy: true, routes: { turns: "https://turns.test/", threads: "" } })).toThrow(TypeError);
  });

  it("sends each request to its function by type, ignoring ChatKit's URL", async () => {
    const server = turnServer();
    const chatkitFetch = createChatKitFetch({ getToken: () => "t", fetch: server.fetch, routes, pageContext: false });
    const requests: [string, string][] = [
      [LIST, routes.threads],
      ['{"type":"items.list","params":{"thread_id":"thr_1"}}', routes.threads],
      ['{"type":"attachments.create","params":{}}', routes.threads],
      ['{"type":"threads.sync_custom_action","params":{}}', routes.turns],
      ['{"type":"turns.cancel","params":{"turn_id":"t1"}}', routes.turns],
      ['{"type":"threads.someday","params":{}}', routes.turns],
    ];
    for (const [body] of requests) await chatkitFetch("https://chatkit-url.test/", { method: "POST", body });
    await chatkitFetch(new URL("https://chatkit-url.test/"), { method: "POST", body: LIST });
    expect(server.calls.map((call) => call.input)).toEqual([...requests.map(([, url]) => url), routes.threads]);
    expect(sentBody(server.calls[0]).type).toBe("threads.list");
  });

  it("keeps ChatKit's URL for bodies that are not a ChatKit request", async () => {
    const { calls, fetch } = recorder();
    const chatkitFetch = createChatKitFetch({ proxy: true, fetch, routes });
    const form = new FormData();
    form.set("file", new Blob(["x"]), "x.txt");
    for (const body of ["not json", '{"no":"type"}', form, undefined]) {
      await chatkitFetch("https://upload.test/", { method: "POST", body });
    }
    expect(calls.map((call) => call.input)).toEqual(Array(4).fill("https://upload.test/"));
  });

  it("routes a Request input to its function's URL, keeping its method and headers", async () => {
    const { calls, fetch } = recorder();
    const chatkitFetch = createChatKitFetch({ getToken: () => "t", fetch, routes });
    await chatkitFetch(new Request("https://chatkit-url.test/", { method: "POST", headers: { "X-From-Request": "1" } }), { body: LIST });
    const sent = calls[0]!.input as Request;
    expect(sent.url).toBe(routes.threads);
    expect(sent.method).toBe("POST");
    expect(new Headers(calls[0]?.init.headers).get("x-from-request")).toBe("1");
  });

  it("sends a turn and its cancel to the turns function", async () => {
    const server = turnServer();
    const controller = new AbortController();
    const chatkitFetch = createChatKitFetch({ proxy: true, fetch: server.fetch, routes, pageContext: false });
    const response = await chatkitFetch("https://chatkit-url.test/", { method: "POST", body: create(), signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    const pending = reader.read();
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    await settle();
    expect(server.calls.map((call) => call.input)).toEqual([routes.turns, routes.turns]);
    expect(server.cancels()[0]!.init.credentials).toBe("include");
  });
});
