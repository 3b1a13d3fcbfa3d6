/**
 * Loading the ChatKit web component: `loadChatKitScript()` resolves once `<openai-chatkit>` is
 * defined and rejects on a script error or a timeout, so a page can show an error with a
 * retry instead of an empty box.
 */

/** Where OpenAI serves the ChatKit web component. */
export const CHATKIT_SCRIPT_URL = "https://cdn.platform.openai.com/deployments/chatkit/chatkit.js";
/** The custom element the script defines. */
export const CHATKIT_ELEMENT = "openai-chatkit";
/** Default wait for the element, in milliseconds. */
export const DEFAULT_SCRIPT_TIMEOUT_MS = 5000;

/** Where the script is: still loading, ready (the element is defined) or failed. */
export type ChatKitScriptStatus = "pending" | "ready" | "error";

export interface ChatKitScriptOptions {
  /** The script URL (default {@link CHATKIT_SCRIPT_URL}). */
  src?: string;
  /** How long to wait for the element (default 5000 ms). */
  timeoutMs?: number;
  /** The element name (default `openai-chatkit`). */
  element?: string;
  /** Remove a script tag already on the page and insert a fresh one (a retry). */
  reload?: boolean;
  /** Stops waiting (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** Why the script is not usable. */
export class ChatKitScriptError extends Error {
  constructor(
    readonly reason: "script-error" | "timeout" | "no-dom",
    message: string,
  ) {
    super(message);
    this.name = "ChatKitScriptError";
  }
}

/** Set on a ChatKit script tag whose load failed (by this module, or by `<ChatKitScript>`'s loader). */
export const CHATKIT_SCRIPT_FAILED_ATTRIBUTE = "data-chatkit-script-failed";
const FAILED = CHATKIT_SCRIPT_FAILED_ATTRIBUTE;

/** Set on the script tags this module inserts: the URL they load (a retry's `src` differs). */
export const CHATKIT_SCRIPT_ATTRIBUTE = "data-chatkit-script";

function scriptsFor(href: string): HTMLScriptElement[] {
  return Array.from(document.querySelectorAll<HTMLScriptElement>("script[src]")).filter(
    (s) => s.src === href || s.getAttribute(CHATKIT_SCRIPT_ATTRIBUTE) === href,
  );
}

/**
 * A retry loads `?chatkit_retry=<n>`: a browser hands a new tag with the same URL to the
 * request still in flight, so a retry after a hung request would hang as well.
 */
function retryUrl(href: string): string {
  const url = new URL(href);
  url.searchParams.set("chatkit_retry", String(Date.now()));
  return url.href;
}

/** `ready` when the element is already defined, else `pending` (also on the server). */
export function chatKitScriptStatus(element: string = CHATKIT_ELEMENT): ChatKitScriptStatus {
  return typeof customElements !== "undefined" && customElements.get(element) ? "ready" : "pending";
}

/**
 * Resolves when `<openai-chatkit>` is defined. Uses a script tag already on the page (for
 * example Next.js's `beforeInteractive` one) or inserts one. Rejects with a
 * {@link ChatKitScriptError} when the script fails to load or the element is not defined
 * within `timeoutMs`.
 */
export function loadChatKitScript(options: ChatKitScriptOptions = {}): Promise<void> {
  const src = options.src ?? CHATKIT_SCRIPT_URL;
  const element = options.element ?? CHATKIT_ELEMENT;
  const timeoutMs = options.timeoutMs ?? DEFAULT_SCRIPT_TIMEOUT_MS;
  if (typeof document === "undefined" || typeof customElements === "undefined") {
    return Promise.reject(new ChatKitScriptError("no-dom", "the ChatKit script can only load in a browser"));
  }
  if (customElements.get(element)) return Promise.resolve();

  return new Promise<void>((resolve, reject) => {
    let script: HTMLScriptElement | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      script?.removeEventListener("error", onError);
      options.signal?.removeEventListener("abort", onAbort);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onError = () => {
      script?.setAttribute(FAILED, "");
      finish(new ChatKitScriptError("script-error", `the ChatKit script failed to load from ${src}`));
    };
    const onAbort = () => finish(options.signal?.reason ?? new DOMException("aborted", "AbortError"));

    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort);

    const href = new URL(src, document.baseURI).href;
    const existing = scriptsFor(href);
    if (options.reload) existing.forEach((s) => s.remove());
    script = options.reload ? undefined : existing[existing.length - 1];
    if (script?.hasAttribute(FAILED)) return onError();
    if (!script) {
      script = document.createElement("script");
      script.src = options.reload ? retryUrl(href) : href;
      script.setAttribute(CHATKIT_SCRIPT_ATTRIBUTE, href);
      script.async = true;
      script.addEventListener("error", onError);
      document.head.appendChild(script);
    } else {
      script.addEventListener("error", onError);
    }
    timer = setTimeout(
      () => finish(new ChatKitScriptError("timeout", `<${element}> was not defined within ${timeoutMs} ms of loading ${src}`)),
      timeoutMs,
    );
    customElements.whenDefined(element).then(() => finish(), finish);
  });
}
