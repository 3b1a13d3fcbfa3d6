"use client";
/**
 * Selection "Ask": `useSelectionAsk()` follows the page selection; `<SelectionAskButton>` is a
 * small button over it, "Ask about this", that opens the chat if needed and sends
 * `Can you explain this from "<page title>": "<selection>"`.
 */
import { useCallback, useEffect, useRef, useState, type CSSProperties } from "react";

import { whenChatKitMounted, type ChatKitElementRef } from "../chatkit-element.js";
import {
  askAboutSelectionMessage,
  clearSelection,
  watchSelection,
  type SelectionOptions,
  type SelectionSnapshot,
} from "../selection.js";

/** What the question is sent with. */
export interface UserMessageParams {
  text: string;
  newThread?: boolean;
}

/** The chat: `useChatKit()`'s return value (only its `ref` is used). */
export interface ChatKitHandle {
  ref: ChatKitElementRef<{ sendUserMessage(params: UserMessageParams): unknown }>;
}

export interface SelectionAskOptions extends SelectionOptions {
  /**
   * The chat to ask: pass `useChatKit()`'s return value. The question waits until its
   * `<openai-chatkit>` is mounted (the script loaded, the chat rendered), so an Ask pressed
   * early, before the chat was ever opened, is sent rather than dropped.
   */
  chatkit?: ChatKitHandle;
  /**
   * Sends the message as it is, without waiting, when there is no `chatkit` (for example a
   * plain element's `sendUserMessage`).
   */
  sendUserMessage?: (params: UserMessageParams) => unknown;
  /** How long a question waits for the chat element (default 15 s); then `ask` rejects and the selection stays. */
  mountTimeoutMs?: number;
  /** Whether the chat is open; when it is not, `onOpen` runs before sending. */
  isOpen?: boolean;
  /** Opens the chat (awaited before sending). */
  onOpen?: () => unknown;
  /** Start a new thread for each question (default false: the current thread). */
  newThread?: boolean;
  /** The page title in the message (default `document.title`). */
  pageTitle?: string;
  /** Stop watching (default true). */
  enabled?: boolean;
}

export interface SelectionAsk {
  /** The usable selection, or null. */
  selection: SelectionSnapshot | null;
  /** Sends the question about the current selection. */
  ask: () => Promise<void>;
  /** Hides the button until the selection changes. */
  dismiss: () => void;
  /** True while a question is being sent. */
  sending: boolean;
}

export function useSelectionAsk(options: SelectionAskOptions): SelectionAsk {
  const { minLength, maxLength, ignore, enabled = true } = options;
  const [selection, setSelection] = useState<SelectionSnapshot | null>(null);
  const [sending, setSending] = useState(false);
  const latest = useRef(options);
  latest.current = options;
  const current = useRef<SelectionSnapshot | null>(null);

  useEffect(() => {
    if (!enabled) {
      setSelection(null);
      return;
    }
    return watchSelection(
      (next) => {
        current.current = next;
        setSelection(next);
      },
      { minLength, maxLength, ignore },
    );
  }, [enabled, minLength, maxLength, ignore]);

  const dismiss = useCallback(() => setSelection(null), []);

  // a question still waiting for the chat stops when the component goes away
  const pending = useRef<AbortController | null>(null);
  useEffect(() => () => pending.current?.abort(), []);

  const ask = useCallback(async () => {
    const snapshot = current.current;
    if (!snapshot) return;
    const { chatkit, sendUserMessage, mountTimeoutMs, isOpen, onOpen, newThread, pageTitle } = latest.current;
    if (!chatkit && !sendUserMessage) throw new Error("useSelectionAsk: pass `chatkit` (useChatKit's return) or `sendUserMessage`");
    const controller = new AbortController();
    pending.current = controller;
    setSending(true);
    try {
      if (isOpen === false && onOpen) await onOpen();
      const title = pageTitle ?? (typeof document !== "undefined" ? document.title : "");
      const params: UserMessageParams = { text: askAboutSelectionMessage(snapshot.text, title) };
      if (newThread) params.newThread = true;
      if (chatkit) {
        const element = await whenChatKitMounted(chatkit.ref, { timeoutMs: mountTimeoutMs, signal: controller.signal });
        await element.sendUserMessage(params);
      } else {
        await sendUserMessage!(params);
      }
      // unless the reader selected something else meanwhile
      if (current.current === null || current.current.text === snapshot.text) {
        clearSelection();
        current.current = null;
        setSelection(null);
      }
    } finally {
      if (pending.current === controller) pending.current = null;
      setSending(false);
    }
  }, []);

  return { selection, ask, dismiss, sending };
}

export interface SelectionAskButtonProps extends SelectionAskOptions {
  /** The button text (default "Ask about this"). */
  label?: string;
  className?: string;
  style?: CSSProperties;
  /** Gap between the selection and the button, in pixels (default 8). */
  offset?: number;
}

const BUTTON_STYLE: CSSProperties = {
  position: "fixed",
  zIndex: 2147483000,
  padding: "6px 10px",
  borderRadius: 6,
  border: "1px solid rgba(0,0,0,0.15)",
  background: "#111",
  color: "#fff",
  font: "500 13px/1.2 system-ui, sans-serif",
  boxShadow: "0 2px 8px rgba(0,0,0,0.2)",
  cursor: "pointer",
};

/**
 * The "Ask about this" button, shown just below the selection. It is a real `<button>`
 * (Tab, Enter and Space work), Escape hides it, and pressing it keeps the selection (the
 * mousedown does not clear it).
 */
export function SelectionAskButton(props: SelectionAskButtonProps) {
  const { label = "Ask about this", className, style, offset = 8, ...options } = props;
  const { selection, ask, dismiss, sending } = useSelectionAsk(options);

  useEffect(() => {
    if (!selection) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") dismiss();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [selection, dismiss]);

  if (!selection) return null;
  const rect = selection.rect;
  const viewportWidth = typeof window !== "undefined" ? window.innerWidth : 1024;
  const viewportHeight = typeof window !== "undefined" ? window.innerHeight : 768;
  const top = rect ? Math.min(rect.bottom + offset, viewportHeight - 40) : 16;
  const left = rect ? Math.max(8, Math.min(rect.left, viewportWidth - 160)) : 16;
  const preview = selection.text.length > 60 ? `${selection.text.slice(0, 57)}…` : selection.text;
  return (
    <button
      type="button"
      className={className}
      style={{ ...BUTTON_STYLE, top, left, ...style }}
      aria-label={`${label}: “${preview}”`}
      disabled={sending}
      data-chatkit-ask-ignore=""
      onMouseDown={(event) => event.preventDefault()}
      onClick={() => {
        ask().catch((error: unknown) => console.error("chatkit: could not send the question", error));
      }}
    >
      {label}
    </button>
  );
}
