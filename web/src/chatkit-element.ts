/**
 * The mounted `<openai-chatkit>`: `whenChatKitMounted(ref)` resolves with the element once a
 * ref (`useChatKit().ref`, or any `{ current }`) holds it, defined and upgraded. A message sent
 * from outside the chat (the selection Ask) waits for it instead of being dropped while the
 * script still loads or the chat is not rendered yet.
 */
import { CHATKIT_ELEMENT } from "./script.js";

/** Default wait for the element, in milliseconds. */
export const DEFAULT_MOUNT_TIMEOUT_MS = 15_000;

/** A ref to the element, as `useChatKit()` returns it. */
export interface ChatKitElementRef<T> {
  readonly current: T | null;
}

export interface WhenChatKitMountedOptions {
  /** How long to wait (default 15 s). */
  timeoutMs?: number;
  /** Stops waiting (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
  /** The element name (default `openai-chatkit`). */
  element?: string;
}

/** The element was not mounted in time, or there is no DOM. */
export class ChatKitNotMountedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChatKitNotMountedError";
  }
}

/**
 * Resolves with `ref.current` once it is an upgraded `<openai-chatkit>` (its script ran, so
 * its methods exist). It checks when the DOM changes (React inserts the element, sets the ref
 * and, the element being defined, its options in one commit) and every 100 ms (an element
 * defined after it was inserted is upgraded without a DOM change; a timer task runs after
 * `@openai/chatkit-react`'s `whenDefined` callback has set the options). Rejects with
 * {@link ChatKitNotMountedError} after `timeoutMs`.
 */
export function whenChatKitMounted<T extends object>(
  ref: ChatKitElementRef<T>,
  options: WhenChatKitMountedOptions = {},
): Promise<T> {
  const name = options.element ?? CHATKIT_ELEMENT;
  const timeoutMs = options.timeoutMs ?? DEFAULT_MOUNT_TIMEOUT_MS;
  if (typeof document === "undefined" || typeof customElements === "undefined") {
    return Promise.reject(new ChatKitNotMountedError("the ChatKit element only exists in a browser"));
  }
  const mounted = (): T | null => {
    const element = ref.current;
    const defined = customElements.get(name);
    return element && defined && element instanceof defined ? element : null;
  };
  const now = mounted();
  if (now) return Promise.resolve(now);

  return new Promise<T>((resolve, reject) => {
    const observer = new MutationObserver(() => check());
    const poll = setInterval(() => check(), 100);
    const timer = setTimeout(
      () => finish(new ChatKitNotMountedError(`<${name}> was not mounted within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = () => finish(options.signal?.reason ?? new DOMException("aborted", "AbortError"));
    function finish(error: unknown, element?: T) {
      observer.disconnect();
      clearInterval(poll);
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (element) resolve(element);
      else reject(error);
    }
    function check() {
      const element = mounted();
      if (element) finish(undefined, element);
    }
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort);
    observer.observe(document, { childList: true, subtree: true });
  });
}
