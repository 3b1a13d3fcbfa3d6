// @vitest-environment node
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { afterEach, describe, expect, it } from "vitest";

import { createChatKitRoute, readCookie } from "./route.js";

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A real local HTTP upstream standing in for the function. */
async function upstream(handler: Handler) {
  const seen: { headers: IncomingMessage["headers"]; body: string }[] = [];
  const closed: Promise<void>[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    closed.push(new Promise((resolve) => res.on("close", () => resolve())));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      seen.push({ headers: req.headers, body: body.toString() });
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/chatkit`;
  return { url, seen, closed };
}
const servers: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

const LIST = JSON.stringify({ type: "threads.list", params: {} });

function post(body: BodyInit | null, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return new Request("http://app.test/api/chatkit", {
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...headers },
    signal,
    duplex: "half",
  } as RequestInit);
}

describe("createChatKitRoute", () => {
  it("answers 401 JSON without the cookie and never calls the function", async () => {
    const fn = await upstream((_, res) => res.end("{}"));
    const route = createChatKitRoute({ upstream: fn.url });
    for (const cookie of [undefined, "other=1", "chatkit_token="]) {
      const response = await route(post(LIST, cookie ? { cookie } : {}));
      expect(response.status).toBe(401);
      expect(response.headers.get("content-type")).toBe("application/json");
      expect(await response.json()).toEqual({
        error: { code: "unauthorized", message: "not signed in: the chatkit_token cookie is missing" },
      });
    }
    expect(fn.seen).toHaveLength(0);
  });

  it("forwards the body with the cookie's token as a bearer token, never the Cookie header", async () => {
    const fn = await upstream((_, res) => {
      res.writeHead(200, { "content-type": "application/json", "x-request-id": "req-1", "set-cookie": "evil=1" });
      res.end('{"data":[],"has_more":false}');
    });
    const route = createChatKitRoute({ upstream: fn.url, cookieName: "session" });
    const response = await route(post(LIST, { cookie: "theme=dark; session=abc.def%2Eghi; other=2", "x-custom": "no" }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: [], has_more: false });
    expect(response.headers.get("x-request-id")).toBe("req-1");
    expect(response.headers.get("set-cookie")).toBeNull();
    const sent = fn.seen[0]!;
    expect(sent.body).toBe(LIST);
    expect(sent.headers.authorization).toBe("Bearer abc.def.ghi");
    expect(sent.headers.cookie).toBeUndefined();
    expect(sent.headers["x-custom"]).toBeUndefined();
    expect(sent.headers["content-type"]).toBe("application/json");
  });

  it("passes error JSON through with its status", async () => {
    const fn = await upstream((_, res) => {
      res.writeHead(404, { "content-type": "application/json" });
      res.end('{"error":{"code":"not_found","message":"no such thread"}}');
    });
    const response = await createChatKitRoute({ upstream: fn.url })(post(LIST, { cookie: "chatkit_token=t" }));
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe("not_found");
  });

  it("streams SSE chunk by chunk, without waiting for the end", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const fn = await upstream((_, res) => {
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8" });
      res.write('data: {"type":"thread.created"}\n\n');
      void released.then(() => res.end('data: {"type":"thread.item.done"}\n\n'));
    });
    const response = await createChatKitRoute({ upstream: fn.url })(post(LIST, { cookie: "chatkit_token=t" }));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(response.headers.get("cache-control")).toBe("no-cache, no-transform");
    expect(response.headers.get("x-accel-buffering")).toBe("no");
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    const first = await reader.read();
    expect(decoder.decode(first.value)).toBe('data: {"type":"thread.created"}\n\n');
    release();
    let rest = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += decoder.decode(value);
    }
    expect(rest).toBe('data: {"type":"thread.item.done"}\n\n');
  });

  it("aborts the upstream request when the client goes away mid-stream", async () => {
    const fn = await upstream((_, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("data: {}\n\n");
    });
    const response = await createChatKitRoute({ upstream: fn.url })(post(LIST, { cookie: "chatkit_token=t" }));
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel("client disconnected");
    await fn.closed[0];
  });

  it("aborts the upstream request when the client's signal fires before the answer", async () => {
    const fn = await upstream(() => {
      /* never answers */
    });
    const client = new AbortController();
    const pending = createChatKitRoute({ upstream: fn.url })(post(LIST, { cookie: "chatkit_token=t" }, client.signal));
    while (fn.seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    client.abort();
    await fn.closed[0];
    expect((await pending).status).toBe(502);
  });

  it("answers 502 JSON when the function is unreachable, 504 when it is silent", async () => {
    const fn = await upstream(() => {});
    const closedPort = fn.url.replace(/:\d+\//, ":1/");
    const unreachable = await createChatKitRoute({ upstream: closedPort })(post(LIST, { cookie: "chatkit_token=t" }));
    expect(unreachable.status).toBe(502);
    expect((await unreachable.json()).error.code).toBe("upstream_unreachable");
    const silent = await createChatKitRoute({ upstream: fn.url, headersTimeoutMs: 50 })(post(LIST, { cookie: "chatkit_token=t" }));
    expect(silent.status).toBe(504);
    expect((await silent.json()).error.code).toBe("upstream_timeout");
  });

  it("refuses bodies over the limit, declared or streamed, before calling the function", async () => {
    const fn = await upstream((_, res) => res.end("{}"));
    const route = createChatKitRoute({ upstream: fn.url, maxBodyBytes: 100 });
    const declared = await route(post("x".repeat(101), { cookie: "chatkit_token=t" }));
    expect(declared.status).toBe(413);
    expect((await declared.json()).error.code).toBe("payload_too_large");
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(20));
        controller.close();
      },
    });
    const streamed = await route(post(stream, { cookie: "chatkit_token=t" }));
    expect(streamed.status).toBe(413);
    expect(fn.seen).toHaveLength(0);
    expect((await route(post("x".repeat(100), { cookie: "chatkit_token=t" }))).status).toBe(200);
  });

  it("reads the upstream per request, so a missing URL fails the request and not the build", async () => {
    let url: string | undefined;
    const route = createChatKitRoute({ upstream: () => url });
    const missing = await route(post(LIST, { cookie: "chatkit_token=t" }));
    expect(missing.status).toBe(500);
    expect((await missing.json()).error.message).toContain("CHATKIT_URL");
    const fn = await upstream((_, res) => res.end("{}"));
    url = fn.url;
    expect((await route(post(LIST, { cookie: "chatkit_token=t" }))).status).toBe(200);
  });
});

describe("readCookie", () => {
  it("finds a cookie by exact name, unquoted and decoded", () => {
    expect(readCookie('a=1; chatkit_token="x%20y"; b=2', "chatkit_token")).toBe("x y");
    expect(readCookie("xchatkit_token=1; chatkit_token=2", "chatkit_token")).toBe("2");
    expect(readCookie("chatkit_token=%E0%A4%A", "chatkit_token")).toBe("%E0%A4%A");
    expect(readCookie(null, "a")).toBeUndefined();
    expect(readCookie("novalue; a", "a")).toBeUndefined();
  });
});
