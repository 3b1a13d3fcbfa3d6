"use client";
/** `useChatKitScript()`: the ChatKit script's status as React state, with a retry. */
import { useCallback, useEffect, useState } from "react";

import {
  chatKitScriptStatus,
  ChatKitScriptError,
  loadChatKitScript,
  type ChatKitScriptOptions,
  type ChatKitScriptStatus,
} from "../script.js";

export interface ChatKitScriptState {
  status: ChatKitScriptStatus;
  /** Why it failed, when `status` is `error`. */
  error: ChatKitScriptError | null;
  /** Loads the script again (a fresh script tag). */
  retry: () => void;
}

/**
 * Loads the ChatKit script (or waits for the one already on the page) and reports
 * `pending | ready | error`. It is `pending` during server rendering and the first client
 * render, so hydration matches.
 */
export function useChatKitScript(options: Omit<ChatKitScriptOptions, "reload" | "signal"> = {}): ChatKitScriptState {
  const { src, timeoutMs, element } = options;
  const [attempt, setAttempt] = useState(0);
  const [state, setState] = useState<{ status: ChatKitScriptStatus; error: ChatKitScriptError | null }>({
    status: "pending",
    error: null,
  });

  useEffect(() => {
    if (chatKitScriptStatus(element) === "ready") {
      setState({ status: "ready", error: null });
      return;
    }
    setState({ status: "pending", error: null });
    const controller = new AbortController();
    loadChatKitScript({ src, timeoutMs, element, reload: attempt > 0, signal: controller.signal }).then(
      () => setState({ status: "ready", error: null }),
      (error: unknown) => {
        if (controller.signal.aborted) return;
        const failure =
          error instanceof ChatKitScriptError ? error : new ChatKitScriptError("script-error", String(error));
        setState({ status: "error", error: failure });
      },
    );
    return () => controller.abort();
  }, [src, timeoutMs, element, attempt]);

  const retry = useCallback(() => setAttempt((n) => n + 1), []);
  return { ...state, retry };
}
