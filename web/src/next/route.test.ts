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

/** A request from the app's own page (its origin, JSON) unless `headers` say otherwise. */
function post(body: BodyInit | null, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return new Request("http://app.test/api/chatkit", {
    method: "POST",
    body,
    headers: { "content-type": "application/json", origin: "http://app.test", ...headers },
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

describe("createChatKitRoute: only the app's own pages", () => {
  const COOKIE = { cookie: "chatkit_token=t" };

  async function refused(response: Response) {
    expect(response.status).toBe(403);
    expect(response.headers.get("content-type")).toBe("application/json");
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("forbidden");
    expect(body.error.message.length).toBeGreaterThan(0);
    return body.error.message;
  }

  /** `post` without an `Origin` header. */
  function withoutOrigin(headers: Record<string, string>) {
    const request = post(LIST, { ...COOKIE, ...headers });
    request.headers.delete("origin");
    return request;
  }

  it("lets a JSON request from the app's origin through, and refuses the same from another origin", async () => {
    const fn = await upstream((_, res) => res.end("{}"));
    const route = createChatKitRoute({ upstream: fn.url });
    expect((await route(post(LIST, COOKIE))).status).toBe(200);
    await refused(await route(post(LIST, { ...COOKIE, origin: "https://evil.test" })));
    expect(fn.seen).toHaveLength(1);
  });

  it("refuses a cross-site origin without calling the function", async () => {
    const fn = await upstream((_, res) => res.end("{}"));
    const route = createChatKitRoute({ upstream: fn.url });
    for (const origin of ["https://evil.test", "http://app.test.evil.test", "https://app.test", "http://app.test:8080", "null"]) {
      expect(await refused(await route(post(LIST, { ...COOKIE, origin, "sec-fetch-site": "same-origin" })))).toContain("origin");
    }
    // refused before the cookie is looked at
    await refused(await route(post(LIST, { origin: "https://evil.test" })));
    expect(fn.seen).toHaveLength(0);
  });

  it("without Origin: lets Sec-Fetch-Site: same-origin through, refuses any other value or none", async () => {
    const fn = await upstream((_, res) => res.end("{}"));
    const route = createChatKitRoute({ upstream: fn.url });
    expect((await route(withoutOrigin({ "sec-fetch-site": "same-origin" }))).status).toBe(200);
    expect(await refused(await route(withoutOrigin({})))).toContain("Sec-Fetch-Site");
    for (const site of ["cross-site", "same-site", "none"]) {
      await refused(await route(withoutOrigin({ "sec-fetch-site": site })));
    }
    expect(fn.seen).toHaveLength(1);
  });

  it("refuses a form post (text/plain, urlencoded, multipart) even from the app's origin", async () => {
    const fn = await upstream((_, res) => res.end("{}"));
    const route = createChatKitRoute({ upstream: fn.url });
    for (const type of ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp"]) {
      expect(await refused(await route(post(LIST, { ...COOKIE, "content-type": type })))).toContain("application/json");
    }
    const untyped = post(LIST, COOKIE);
    untyped.headers.delete("content-type");
    expect(await refused(await route(untyped))).toContain("no Content-Type");
    expect(fn.seen).toHaveLength(0);
  });

  it("takes application/json with parameters, in any case, but not text/plain with the same", async () => {
    const fn = await upstream((_, res) => res.end("{}"));
    const route = createChatKitRoute({ upstream: fn.url });
    for (const type of ["application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]) {
      expect((await route(post(LIST, { ...COOKIE, "content-type": type }))).status).toBe(200);
    }
    await refused(await route(post(LIST, { ...COOKIE, "content-type": "text/plain; charset=utf-8" })));
    expect(fn.seen).toHaveLength(2);
  });

  it("lets an origin of allowedOrigins through, which is refused without the option", async () => {
    const fn = await upstream((_, res) => res.end("{}"));
    const extra = post(LIST, { ...COOKIE, origin: "https://www.example.com" });
    await refused(await createChatKitRoute({ upstream: fn.url })(extra.clone()));
    const route = createChatKitRoute({ upstream: fn.url, allowedOrigins: ["https://www.example.com/"] });
    expect((await route(extra)).status).toBe(200);
    await refused(await route(post(LIST, { ...COOKIE, origin: "https://other.example.com" })));
    expect(fn.seen).toHaveLength(1);
  });

  it("behind a proxy: the app's origin is its Host, with the URL's scheme or X-Forwarded-Proto", async () => {
    const fn = await upstream((_, res) => res.end("{}"));
    const route = createChatKitRoute({ upstream: fn.url });
    // the URL the app sees is not the one the browser used
    const behind = (headers: Record<string, string>) =>
      new Request("http://localhost:3000/api/chatkit", {
        method: "POST",
        body: LIST,
        headers: { "content-type": "application/json", ...COOKIE, ...headers },
      });
    expect((await route(behind({ origin: "http://chat.example.com", host: "chat.example.com" }))).status).toBe(200);
    const https = behind({ origin: "https://chat.example.com", host: "chat.example.com", "x-forwarded-proto": "https" });
    expect((await route(https)).status).toBe(200);
    await refused(await route(behind({ origin: "https://chat.example.com", host: "chat.example.com" })));
    await refused(await route(behind({ origin: "https://evil.test", host: "chat.example.com", "x-forwarded-proto": "https" })));
    expect(fn.seen).toHaveLength(2);
  });

  it("says what was wrong without echoing a long header", async () => {
    const route = createChatKitRoute({ upstream: "http://127.0.0.1:1/chatkit" });
    const origin = `https://${"a".repeat(300)}.evil.test`;
    const byOrigin = await refused(await route(post(LIST, { ...COOKIE, origin })));
    expect(byOrigin).toContain(origin.slice(0, 40));
    expect(byOrigin).not.toContain(origin.slice(0, 41));
    const type = `text/plain${"x".repeat(300)}`;
    const byType = await refused(await route(post(LIST, { ...COOKIE, "content-type": type })));
    expect(byType).toContain('"text/plain');
    expect(byType).not.toContain(type.slice(0, 41));
  });

  it("needs allowedOrigins to be origins", () => {
    expect(() => createChatKitRoute({ upstream: "http://fn.test/", allowedOrigins: ["example.com"] })).toThrow(TypeError);
  });
});

describe("createChatKitRoute: headers and routes", () => {
  const COOKIE = { cookie: "chatkit_token=t" };

  it("forwards Idempotency-Key and passes x-chatkit-turn-id back", async () => {
    const fn = await upstream((_, res) => {
      res.writeHead(200, { "content-type": "text/event-stream", "x-chatkit-turn-id": "turn_9" });
      res.end("data: {}\n\n");
    });
    const create = JSON.stringify({ type: "threads.create", params: {} });
    const response = await createChatKitRoute({ upstream: fn.url })(post(create, { ...COOKIE, "idempotency-key": "key-1" }));
    expect(response.headers.get("x-chatkit-turn-id")).toBe("turn_9");
    expect(await response.text()).toBe("data: {}\n\n");
    expect(fn.seen[0]!.headers["idempotency-key"]).toBe("key-1");
    await createChatKitRoute({ upstream: fn.url })(post(create, COOKIE));
    expect(fn.seen[1]!.headers["idempotency-key"]).toBeUndefined();
  });

  it("sends each request to its function's upstream by type", async () => {
    const turns = await upstream((_, res) => res.end('"turns"'));
    const threads = await upstream((_, res) => res.end('"threads"'));
    const route = createChatKitRoute({ routes: { turns: turns.url, threads: threads.url } });
    const cases: [string, string][] = [
      [LIST, "threads"],
      ['{"type":"items.feedback","params":{}}', "threads"],
      ['{"type":"attachments.delete","params":{}}', "threads"],
      ['{"type":"threads.create","params":{}}', "turns"],
      ['{"type":"turns.cancel","params":{"turn_id":"t"}}', "turns"],
      ['{"type":"input.transcribe","params":{}}', "turns"],
      ['{"type":"threads.someday","params":{}}', "turns"],
      ['{"type":42}', "turns"],
      ["not json", "turns"],
    ];
    for (const [body, fn] of cases) {
      expect(await (await route(post(body, COOKIE))).json()).toBe(fn);
    }
    expect(turns.seen.map((s) => s.body)).toEqual(cases.filter(([, fn]) => fn === "turns").map(([body]) => body));
    expect(threads.seen.map((s) => s.body)).toEqual(cases.filter(([, fn]) => fn === "threads").map(([body]) => body));
  });

  it("reads routes per request; a function without a URL uses upstream, or fails clearly", async () => {
    const turns = await upstream((_, res) => res.end('"turns"'));
    const allInOne = await upstream((_, res) => res.end('"all"'));
    let routes: { turns: string | undefined; threads: string | undefined } | undefined;
    let single: string | undefined = allInOne.url;
    const route = createChatKitRoute({ routes: () => routes, upstream: () => single });
    expect(await (await route(post(LIST, COOKIE))).json()).toBe("all");
    routes = { turns: turns.url, threads: undefined };
    expect(await (await route(post(LIST, COOKIE))).json()).toBe("all");
    expect(await (await route(post('{"type":"threads.create"}', COOKIE))).json()).toBe("turns");
    single = undefined;
    const missing = await route(post(LIST, COOKIE));
    expect(missing.status).toBe(500);
    expect((await missing.json()).error).toEqual({
      code: "proxy_misconfigured",
      message: "the ChatKit proxy has no upstream URL for the threads function",
    });
    routes = undefined;
    expect((await route(post(LIST, COOKIE))).status).toBe(500);
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
