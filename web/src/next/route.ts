/**
 * The Next.js App Router proxy (`app/api/chatkit/route.ts`):
 *
 * ```ts
 * export const POST = createChatKitRoute({ upstream: process.env.CHATKIT_URL });
 * ```
 *
 * It reads the access token from an httpOnly cookie and forwards the ChatKit request to the
 * function (its Function URL) with `Authorization: Bearer`. The page and the proxy share an
 * origin, so the token never reaches page scripts and the function needs no cookie. Server-Sent
 * Events stream through chunk by chunk; JSON passes through with its status.
 */

export interface ChatKitRouteOptions {
  /** The function's URL (the `ChatKitUrl` stack output). Read per request, so a missing value fails the request, not the build. */
  upstream: string | URL | undefined | (() => string | URL | undefined);
  /** The httpOnly cookie holding the access token (default `chatkit_token`). */
  cookieName?: string;
  /** Largest request body forwarded, in bytes (default 4 MiB, the function's default). */
  maxBodyBytes?: number;
  /** Longest wait for the function's response headers, in milliseconds (default 30000). */
  headersTimeoutMs?: number;
  /** The fetch used to reach the function (default: the global one). */
  fetch?: typeof fetch;
}

export const DEFAULT_COOKIE_NAME = "chatkit_token";
export const DEFAULT_PROXY_MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Response headers passed back from the function. */
const PASSED_HEADERS = ["content-type", "x-request-id", "retry-after"];

function jsonError(status: number, code: string, message: string): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

/** The value of cookie `name` in a `Cookie` header. */
export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq === -1) continue;
    if (pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return undefined;
}

class TooLarge extends Error {}

/** The request body, refusing more than `limit` bytes without reading past it. */
async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) throw new TooLarge();
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new TooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/**
 * A body that hands each upstream chunk on as it arrives (no buffering: it pulls only when
 * the client reads) and aborts the upstream request when the client goes away.
 */
function relay(body: ReadableStream<Uint8Array>, upstream: AbortController): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          controller.error(error);
        }
      },
      cancel(reason) {
        upstream.abort(reason);
        return reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

/** A `POST` route handler that proxies ChatKit requests to the function with the cookie's token. */
export function createChatKitRoute(options: ChatKitRouteOptions): (request: Request) => Promise<Response> {
  const cookieName = options.cookieName ?? DEFAULT_COOKIE_NAME;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_PROXY_MAX_BODY_BYTES;
  const headersTimeoutMs = options.headersTimeoutMs ?? 30_000;

  return async function chatKitRoute(request: Request): Promise<Response> {
    const token = readCookie(request.headers.get("cookie"), cookieName);
    if (!token) {
      return jsonError(401, "unauthorized", `not signed in: the ${cookieName} cookie is missing`);
    }
    const target = typeof options.upstream === "function" ? options.upstream() : options.upstream;
    if (!target) {
      return jsonError(500, "proxy_misconfigured", "the ChatKit proxy has no upstream URL (set CHATKIT_URL)");
    }

    let body: Uint8Array;
    try {
      body = await readBody(request, maxBodyBytes);
    } catch (error) {
      if (error instanceof TooLarge) {
        return jsonError(413, "payload_too_large", `the request body is larger than ${maxBodyBytes} bytes`);
      }
      return jsonError(400, "bad_request", "the request body could not be read");
    }

    const upstream = new AbortController();
    const onClientGone = () => upstream.abort(request.signal.reason);
    if (request.signal.aborted) onClientGone();
    request.signal.addEventListener("abort", onClientGone, { once: true });
    const timer = setTimeout(() => upstream.abort(new Error("timeout")), headersTimeoutMs);

    const headers = new Headers({
      authorization: `Bearer ${token}`,
      "content-type": request.headers.get("content-type") ?? "application/json",
      accept: request.headers.get("accept") ?? "application/json, text/event-stream",
    });
    let response: Response;
    try {
      response = await (options.fetch ?? globalThis.fetch)(new URL(String(target)), {
        method: "POST",
        headers,
        body: body as BodyInit,
        signal: upstream.signal,
        cache: "no-store",
        redirect: "manual",
      });
    } catch {
      request.signal.removeEventListener("abort", onClientGone);
      const timedOut = upstream.signal.reason instanceof Error && upstream.signal.reason.message === "timeout";
      return timedOut
        ? jsonError(504, "upstream_timeout", "the ChatKit function did not answer in time")
        : jsonError(502, "upstream_unreachable", "the ChatKit function could not be reached");
    } finally {
      clearTimeout(timer);
    }

    const passed = new Headers({ "cache-control": "no-cache, no-transform" });
    for (const name of PASSED_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) passed.set(name, value);
    }
    if (!response.body) {
      request.signal.removeEventListener("abort", onClientGone);
      return new Response(null, { status: response.status, headers: passed });
    }
    if ((response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
      passed.set("x-accel-buffering", "no");
    }
    return new Response(relay(response.body, upstream), { status: response.status, headers: passed });
  };
}
