"use client";
/**
 * Selection "Ask": `useSelectionAsk()` follows the page selection; `<SelectionAskButton>` is a
 * small button over it, "Ask about this", that opens the chat if needed and sends
 * `Can you explain this from "<page title>": "<selection>"`.
 */
import { useCallback, useEffect, useRef, useState, type CSSProperties } from "react";

import {
  askAboutSelectionMessage,
  clearSelection,
  watchSelection,
  type SelectionOptions,
  type SelectionSnapshot,
} from "../selection.js";

export interface SelectionAskOptions extends SelectionOptions {
  /** Sends the message: pass ChatKit's `sendUserMessage` (from `useChatKit`). */
  sendUserMessage: (params: { text: string; newThread?: boolean }) => unknown;
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

  const ask = useCallback(async () => {
    const snapshot = current.current;
    if (!snapshot) return;
    const { sendUserMessage, isOpen, onOpen, newThread, pageTitle } = latest.current;
    setSending(true);
    try {
      if (isOpen === false && onOpen) await onOpen();
      const title = pageTitle ?? (typeof document !== "undefined" ? document.title : "");
      const params: { text: string; newThread?: boolean } = { text: askAboutSelectionMessage(snapshot.text, title) };
      if (newThread) params.newThread = true;
      await sendUserMessage(params);
      clearSelection();
      current.current = null;
      setSelection(null);
    } finally {
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
