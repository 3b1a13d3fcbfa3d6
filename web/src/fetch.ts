/**
 * The `fetch` for `useChatKit({ api: { url, domainKey, fetch } })`: adds the credentials (a
 * bearer token, or the cookie in proxy mode) and, on requests that make the model answer, who
 * the user is and what page they are on (`metadata.userInfo` / `metadata.pageContext`, which
 * the server reads). Everything else passes through untouched.
 */
import { boundPageContext, getPageContext, type PageContext, type PageContextOptions } from "./page-context.js";
import { routeFor, type ChatKitRoutes } from "./routes.js";
import { byteLength, cleanText } from "./text.js";

/**
 * The request types that run the model, so they carry the user's and the page's context.
 * They are also the ones answered with a stream (SSE) naming its turn in {@link TURN_ID_HEADER}.
 */
export const TURN_REQUEST_TYPES: readonly string[] = Object.freeze([
  "threads.create",
  "threads.add_user_message",
  "threads.add_client_tool_output",
  "threads.retry_after_item",
  "threads.add_structured_input",
  "threads.custom_action",
]);

/** The response header of a streamed turn naming it, for `turns.cancel`. */
export const TURN_ID_HEADER = "x-chatkit-turn-id";

/** Who the user is, as sent in `metadata.userInfo`: scalars only, each bounded. */
export type UserInfo = { id?: string; name?: string; email?: string } & Record<string, string | number | boolean | null | undefined>;

type MaybePromise<T> = T | Promise<T>;

export interface ChatKitFetchOptions {
  /**
   * Bearer mode: the access token, asked for on every request (so a refreshed token is used).
   * Returning nothing counts as signed out: `onUnauthorized` runs and the request is not sent.
   */
  getToken?: () => MaybePromise<string | null | undefined>;
  /**
   * Proxy (or same-site cookie) mode: no `Authorization` header; the request is sent with
   * `credentials: "include"` so the httpOnly cookie goes along.
   */
  proxy?: boolean;
  /** Who the user is (an object, or a function asked on every turn). */
  userInfo?: UserInfo | (() => MaybePromise<UserInfo | null | undefined>);
  /**
   * The page context: `getPageContext()` by default (these options tune it), your own
   * function, or `false` for none. Whatever it returns is bounded the same way.
   */
  pageContext?: false | PageContextOptions | (() => MaybePromise<PageContext | null | undefined>);
  /** Called on a 401 (or a missing token) before the request fails: re-login or redirect. */
  onUnauthorized?: (error: ChatKitUnauthorizedError) => MaybePromise<void>;
  /** Largest `userInfo` + `pageContext`, in UTF-8 bytes of JSON (default 16 KiB). */
  maxContextBytes?: number;
  /**
   * The URL of each function when the backend is split into a `turns` and a `threads`
   * function: every ChatKit request goes to its function's URL by its `type`
   * ({@link routeFor}), and the URL ChatKit passes in is ignored. Bodies that are not a JSON
   * ChatKit request keep ChatKit's URL. Without it, every request goes to ChatKit's URL (the
   * all-in-one function, or the proxy route, which routes by itself).
   */
  routes?: ChatKitRoutes;
  /** The underlying fetch (default: the global one at call time). */
  fetch?: typeof fetch;
}

/** The backend said 401, or there was no token to send. */
export class ChatKitUnauthorizedError extends Error {
  readonly status = 401;
  /** The server's request id, when it answered. */
  readonly requestId: string | undefined;
  readonly response: Response | undefined;

  constructor(message: string, response?: Response, requestId?: string) {
    super(message);
    this.name = "ChatKitUnauthorizedError";
    this.response = response;
    this.requestId = requestId;
  }
}

/** Default bound of the context added to one request. */
export const DEFAULT_MAX_CONTEXT_BYTES = 16 * 1024;
const MAX_USER_FIELDS = 20;
const MAX_USER_VALUE = 500;

/** Keeps scalar fields only, at most 20, strings clipped to 500 characters. */
export function boundUserInfo(info: Record<string, unknown>): UserInfo {
  const out: UserInfo = {};
  let fields = 0;
  for (const [key, value] of Object.entries(info)) {
    if (fields >= MAX_USER_FIELDS) break;
    if (key.length > 64) continue;
    if (typeof value === "string") {
      const text = cleanText(value, MAX_USER_VALUE);
      if (text === undefined) continue;
      out[key] = text;
    } else if ((typeof value === "number" && Number.isFinite(value)) || typeof value === "boolean") {
      out[key] = value;
    } else {
      continue;
    }
    fields += 1;
  }
  return out;
}

/** Drops optional page fields, largest first, until the context fits `maxBytes`. */
function fitContext(context: { userInfo?: UserInfo; pageContext?: PageContext }, maxBytes: number) {
  const size = () => byteLength(JSON.stringify(context));
  if (size() <= maxBytes) return context;
  const page = context.pageContext;
  if (page) {
    for (const field of ["headings", "description", "selectedText", "title"] as const) {
      delete page[field];
      if (size() <= maxBytes) return context;
    }
    delete context.pageContext;
    if (size() <= maxBytes) return context;
  }
  delete context.userInfo;
  return context;
}

async function readContext(options: ChatKitFetchOptions) {
  const context: { userInfo?: UserInfo; pageContext?: PageContext } = {};
  const info = typeof options.userInfo === "function" ? await options.userInfo() : options.userInfo;
  if (info && typeof info === "object") {
    const bounded = boundUserInfo(info);
    if (Object.keys(bounded).length > 0) context.userInfo = bounded;
  }
  const pageOption = options.pageContext;
  if (pageOption !== false) {
    const page =
      typeof pageOption === "function" ? await pageOption() : getPageContext(pageOption === undefined ? {} : pageOption);
    if (page && typeof page === "object") {
      context.pageContext = boundPageContext(page, typeof pageOption === "object" ? pageOption : {});
    }
  }
  return fitContext(context, options.maxContextBytes ?? DEFAULT_MAX_CONTEXT_BYTES);
}

/** The parsed body when it is a JSON string of a ChatKit request (an object with a `type`). */
function chatKitRequest(body: unknown): Record<string, unknown> | undefined {
  if (typeof body !== "string") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return undefined;
  const request = parsed as Record<string, unknown>;
  return typeof request.type === "string" ? request : undefined;
}

/** The URL of a fetch input. */
function urlOf(input: RequestInfo | URL): string {
  if (typeof Request !== "undefined" && input instanceof Request) return input.url;
  return input instanceof URL ? input.href : String(input);
}

/**
 * The response with a body that calls `cancel` when `signal` fires before the stream ended
 * normally (once), and then fails reads with the signal's reason as `fetch` does. The body is
 * pulled only when the caller reads it (no read-ahead).
 */
function cancelOnAbort(response: Response, body: ReadableStream<Uint8Array>, signal: AbortSignal, cancel: () => void): Response {
  const reader = body.getReader();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let over = false; // the stream ended normally, or the turn was cancelled
  const onAbort = () => {
    signal.removeEventListener("abort", onAbort);
    if (over) return;
    over = true;
    cancel();
    reader.cancel(signal.reason).catch(() => {});
    try {
      controller.error(signal.reason);
    } catch {
      // already closed or errored
    }
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      async pull(c) {
        let result: ReadableStreamReadResult<Uint8Array>;
        try {
          result = await reader.read();
        } catch (error) {
          // fetch errors the body on abort, maybe before the abort listener ran
          if (signal.aborted) onAbort();
          try {
            c.error(error);
          } catch {
            // already errored by onAbort
          }
          return;
        }
        if (over) return;
        if (result.done) {
          over = true;
          signal.removeEventListener("abort", onAbort);
          c.close();
        } else {
          c.enqueue(result.value);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort);
  return new Response(stream, { status: response.status, statusText: response.statusText, headers: response.headers });
}

async function unauthorized(options: ChatKitFetchOptions, error: ChatKitUnauthorizedError): Promise<never> {
  try {
    await options.onUnauthorized?.(error);
  } catch (hookError) {
    console.error("chatkit: onUnauthorized failed", hookError);
  }
  throw error;
}

async function errorMessage(response: Response): Promise<{ code?: string; message?: string; requestId?: string }> {
  try {
    const body = (await response.clone().json()) as { error?: { code?: unknown; message?: unknown; request_id?: unknown } };
    const code = typeof body.error?.code === "string" ? body.error.code : undefined;
    const message = typeof body.error?.message === "string" ? body.error.message : undefined;
    const requestId = typeof body.error?.request_id === "string" ? body.error.request_id : undefined;
    return { code, message, requestId: requestId ?? response.headers.get("x-request-id") ?? undefined };
  } catch {
    return { requestId: response.headers.get("x-request-id") ?? undefined };
  }
}

/**
 * A request that reached a function which does not serve its type (400 `wrong_function`) is a
 * configuration mistake, whatever ChatKit then shows: say so on the console, with the server's
 * message (which names the right function) and what to check.
 */
async function reportWrongFunction(response: Response, options: ChatKitFetchOptions): Promise<void> {
  const { code, message, requestId } = await errorMessage(response);
  if (code !== "wrong_function") return;
  const check = options.routes
    ? "check createChatKitFetch's `routes` (are `turns` and `threads` swapped?)"
    : options.proxy
      ? "check the routes of the proxy the page posts to"
      : "ChatKit's url is one function of a split backend: pass createChatKitFetch({ routes }) both URLs";
  console.error(
    `chatkit: ${message ?? "the request reached a function that does not serve it"}; ${check}${requestId ? ` (request ${requestId})` : ""}`,
  );
}

/**
 * A `fetch` that adds credentials and context to ChatKit requests.
 *
 * ```ts
 * const chatkitFetch = createChatKitFetch({
 *   getToken: () => auth.getAccessToken(),
 *   userInfo: { id: user.id, name: user.name },
 *   onUnauthorized: () => router.push("/sign-in"),
 * });
 * useChatKit({ api: { url, domainKey, fetch: chatkitFetch } });
 * ```
 *
 * The caller's headers, `AbortSignal` and other options are kept. Only JSON-string bodies of
 * the request types in {@link TURN_REQUEST_TYPES} are rewritten; their other `metadata` keys
 * stay. On a 401 it calls `onUnauthorized` and rejects with a {@link ChatKitUnauthorizedError}; a
 * 400 `wrong_function` (a request sent to a function that does not serve it) is logged with
 * `console.error` and returned as it is.
 * With `routes`, each request goes to its function's URL. When the caller's signal fires
 * before a streamed turn's response ended, it sends `turns.cancel` for the turn named by the
 * response's {@link TURN_ID_HEADER} (once, best effort, `keepalive`).
 */
export function createChatKitFetch(options: ChatKitFetchOptions): typeof fetch {
  if (!options.getToken === !options.proxy) {
    throw new TypeError("createChatKitFetch: pass either `getToken` (bearer mode) or `proxy: true` (cookie / proxy mode)");
  }
  const routes = options.routes;
  if (routes && !(routes.turns && routes.threads)) {
    throw new TypeError("createChatKitFetch: `routes` needs the URL of both the `turns` and the `threads` function");
  }
  const chatkitFetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(typeof Request !== "undefined" && input instanceof Request ? input.headers : undefined);
    new Headers(init?.headers).forEach((value, key) => headers.set(key, value));
    const outgoing: RequestInit = { ...init, headers };

    if (options.getToken) {
      const token = await options.getToken();
      if (!token) {
        return unauthorized(options, new ChatKitUnauthorizedError("not signed in: there is no access token to send"));
      }
      headers.set("Authorization", `Bearer ${token}`);
    } else {
      outgoing.credentials = "include";
    }

    const request = chatKitRequest(init?.body);
    if (request && TURN_REQUEST_TYPES.includes(request.type as string)) {
      const context = await readContext(options);
      const metadata =
        request.metadata && typeof request.metadata === "object" && !Array.isArray(request.metadata)
          ? (request.metadata as Record<string, unknown>)
          : {};
      outgoing.body = JSON.stringify({ ...request, metadata: { ...metadata, ...context } });
    }
    if (request && !headers.has("content-type")) {
      headers.set("Content-Type", "application/json");
    }

    const fetchImpl = options.fetch ?? globalThis.fetch;
    const isRequest = typeof Request !== "undefined" && input instanceof Request;
    const routed = request && routes ? routeFor(request.type as string, routes) : undefined;
    const target = routed === undefined ? input : isRequest ? new Request(routed, input) : routed;
    const response = await fetchImpl(target, outgoing);
    if (response.status === 401) {
      const { message, requestId } = await errorMessage(response);
      return unauthorized(
        options,
        new ChatKitUnauthorizedError(`not authorized (401)${message ? `: ${message}` : ""}`, response, requestId),
      );
    }
    if (response.status === 400 && request) await reportWrongFunction(response, options);

    // A streamed turn keeps running on the server when the reader goes away (Lambda does not
    // pass a client disconnect on): when the caller aborts, ask for it to stop.
    const signal = init?.signal ?? (isRequest ? (input as Request).signal : undefined);
    const turnId = response.headers.get(TURN_ID_HEADER);
    if (!signal || !turnId || !response.body || !request || !TURN_REQUEST_TYPES.includes(request.type as string)) {
      return response;
    }
    const cancelUrl = routed ?? urlOf(input);
    const cancelHeaders = new Headers(headers);
    for (const name of ["idempotency-key", "content-length"]) cancelHeaders.delete(name);
    cancelHeaders.set("Content-Type", "application/json");
    cancelHeaders.set("Accept", "application/json");
    const cancel = () => {
      try {
        // a fresh request (the caller's signal has fired) that outlives the page
        fetchImpl(cancelUrl, {
          method: "POST",
          headers: cancelHeaders,
          body: JSON.stringify({ type: "turns.cancel", params: { turn_id: turnId } }),
          credentials: outgoing.credentials,
          keepalive: true,
          cache: "no-store",
        })
          .then((answer) => answer.body?.cancel())
          .catch(() => {});
      } catch {
        // the cancel is best effort
      }
    };
    return cancelOnAbort(response, response.body, signal, cancel);
  };
  return chatkitFetch as typeof fetch;
}
