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
 *
 * Only the app's own pages may use it: a request must come from the app's origin (`Origin`,
 * or `Sec-Fetch-Site: same-origin` without one) with `Content-Type: application/json`, or it
 * gets 403, so another site cannot make a signed-in browser post here with the cookie.
 */
import { routeFor, type FunctionName } from "../routes.js";

type UpstreamUrl = string | URL | undefined;

/** The upstream URL of each function (`routes`); a missing one falls back to `upstream`. */
export type ChatKitUpstreamRoutes = { [F in FunctionName]: UpstreamUrl };

export interface ChatKitRouteOptions {
  /**
   * The function's URL (the `ChatKitUrl` stack output). Read per request, so a missing value
   * fails the request, not the build. With `routes`, used for a function whose URL is missing.
   */
  upstream?: UpstreamUrl | (() => UpstreamUrl);
  /**
   * The URL of each function when the backend is split: each request goes to its function's
   * URL by the body's `type` (unknown types and bodies without one to `turns`). Read per
   * request, like `upstream`.
   */
  routes?: ChatKitUpstreamRoutes | (() => ChatKitUpstreamRoutes | undefined);
  /**
   * Origins besides the app's own (which is taken from the request URL and its `Host` header)
   * allowed to post here, e.g. `["https://www.example.com"]` when a proxy in front changes the
   * host the app sees.
   */
  allowedOrigins?: readonly string[];
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
const PASSED_HEADERS = ["content-type", "x-request-id", "retry-after", "x-chatkit-turn-id"];
/** Request headers forwarded to the function (besides `content-type` and `accept`). */
const FORWARDED_HEADERS = ["idempotency-key"];

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

/** The serialized origin of `value`, or undefined when it is not a URL with one. */
function originOf(value: string): string | undefined {
  try {
    const origin = new URL(value).origin;
    return origin === "null" ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * The app's own origins as this request sees them: the request URL's, and its `Host` with the
 * URL's scheme or the `X-Forwarded-Proto` one (a TLS-terminating proxy in front). A browser
 * sets `Host` itself, so a cross-site page cannot choose it.
 */
function ownOrigins(request: Request): Set<string> {
  const origins = new Set<string>();
  const url = originOf(request.url);
  if (url) origins.add(url);
  const host = request.headers.get("host");
  if (host) {
    const schemes = url ? [new URL(url).protocol] : [];
    const forwarded = request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
    if (forwarded === "http" || forwarded === "https") schemes.push(`${forwarded}:`);
    for (const scheme of schemes) {
      const origin = originOf(`${scheme}//${host}`);
      if (origin) origins.add(origin);
    }
  }
  return origins;
}

/** A header value for an error message: quoted, at most its first 40 characters. */
function preview(value: string): string {
  return value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}…` : JSON.stringify(value);
}

/** Why a request may not use the proxy (a cross-site request or a form post), if it may not. */
function forbidden(request: Request, allowedOrigins: ReadonlySet<string>): string | undefined {
  const origin = request.headers.get("origin");
  if (origin !== null) {
    const normalized = originOf(origin);
    if (!normalized || !(allowedOrigins.has(normalized) || ownOrigins(request).has(normalized))) {
      return `requests from origin ${preview(origin)} are not allowed: only this app's own pages may use the ChatKit proxy`;
    }
  } else if (request.headers.get("sec-fetch-site") !== "same-origin") {
    return "the request has no Origin header and no Sec-Fetch-Site: same-origin: only this app's own pages may use the ChatKit proxy";
  }
  const contentType = request.headers.get("content-type");
  const mediaType = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (mediaType !== "application/json") {
    const sent = contentType === null ? "no Content-Type" : `Content-Type ${preview(mediaType)}`;
    return `the request has ${sent}: the ChatKit proxy takes only application/json`;
  }
  return undefined;
}

/** The body's ChatKit request `type`, if it is a JSON object with one. */
function requestType(body: Uint8Array): string | undefined {
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(body));
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return undefined;
    const type = (parsed as { type?: unknown }).type;
    return typeof type === "string" ? type : undefined;
  } catch {
    return undefined;
  }
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
  const allowedOrigins = new Set<string>();
  for (const value of options.allowedOrigins ?? []) {
    const origin = originOf(value);
    if (!origin) throw new TypeError(`createChatKitRoute: allowedOrigins: ${JSON.stringify(value)} is not an origin`);
    allowedOrigins.add(origin);
  }

  return async function chatKitRoute(request: Request): Promise<Response> {
    const refused = forbidden(request, allowedOrigins);
    if (refused) {
      return jsonError(403, "forbidden", refused);
    }
    const token = readCookie(request.headers.get("cookie"), cookieName);
    if (!token) {
      return jsonError(401, "unauthorized", `not signed in: the ${cookieName} cookie is missing`);
    }
    const fallback = typeof options.upstream === "function" ? options.upstream() : options.upstream;
    const routes = typeof options.routes === "function" ? options.routes() : options.routes;
    if (!fallback && !(routes && (routes.turns || routes.threads))) {
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

    let target = fallback;
    if (routes) {
      // the function's name, by the same rule as the page's routing (unknown types: `turns`)
      const fn = routeFor(requestType(body) ?? "", { turns: "turns", threads: "threads" }) as FunctionName;
      target = routes[fn] || fallback;
      if (!target) {
        return jsonError(500, "proxy_misconfigured", `the ChatKit proxy has no upstream URL for the ${fn} function`);
      }
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
    for (const name of FORWARDED_HEADERS) {
      const value = request.headers.get(name);
      if (value !== null) headers.set(name, value);
    }
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
