"use client";
/**
 * `<ChatKitGate>`: renders the chat only when the ChatKit script is ready and the user is
 * signed in; otherwise a sign-in prompt, a loading line, or an error with a retry button.
 */
import type { ReactNode } from "react";

import type { ChatKitScriptError, ChatKitScriptOptions } from "../script.js";
import { useChatKitScript } from "./use-chatkit-script.js";

export interface ChatKitGateProps {
  /** Whether the user is signed in. */
  signedIn: boolean;
  /** The chat, rendered once both conditions hold. */
  children: ReactNode;
  /** Shown when signed out (default: "Sign in to use the chat."). */
  signIn?: ReactNode;
  /** Shown while the script loads (default: "Loading the chat…"). */
  loading?: ReactNode;
  /** Shown when the script failed (default: the error and a Retry button). */
  renderError?: (error: ChatKitScriptError, retry: () => void) => ReactNode;
  /** Script source and timeout. */
  script?: Omit<ChatKitScriptOptions, "reload" | "signal">;
  className?: string;
}

function DefaultError({ error, retry }: { error: ChatKitScriptError; retry: () => void }) {
  const why = error.reason === "timeout" ? "it took too long to load" : "its script could not be loaded";
  return (
    <div role="alert" data-chatkit-gate="error">
      <p>The chat is unavailable: {why}.</p>
      <button type="button" onClick={retry}>
        Retry
      </button>
    </div>
  );
}

export function ChatKitGate(props: ChatKitGateProps) {
  const { status, error, retry } = useChatKitScript(props.script);
  let content: ReactNode;
  let state: string;
  if (!props.signedIn) {
    state = "signed-out";
    content = props.signIn ?? <p>Sign in to use the chat.</p>;
  } else if (status === "error" && error) {
    state = "error";
    content = props.renderError ? props.renderError(error, retry) : <DefaultError error={error} retry={retry} />;
  } else if (status === "pending") {
    state = "pending";
    content = props.loading ?? <p aria-busy="true">Loading the chat…</p>;
  } else {
    state = "ready";
    content = props.children;
  }
  return (
    <div className={props.className} data-chatkit-gate-state={state}>
      {content}
    </div>
  );
}
