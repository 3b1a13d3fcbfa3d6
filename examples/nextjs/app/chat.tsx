"use client";
// The chat panel: ChatKit talking to /api/chatkit (this app's proxy route) with the user's and
// the page's context, behind the script gate, plus the selection "Ask" button.
import { ChatKit, useChatKit } from "@openai/chatkit-react";
import { useEffect, useMemo, useState } from "react";

import { createChatKitFetch } from "@chatkit-lambda/web";
import { ChatKitGate, SelectionAskButton } from "@chatkit-lambda/web/react";

export function Chat({ user }: { user: { id: string; name: string } | null }) {
  const [open, setOpen] = useState(false);
  // The toggle works once React runs: disabled until then, so an early click is not silently lost.
  const [interactive, setInteractive] = useState(false);
  useEffect(() => setInteractive(true), []);
  const fetch = useMemo(
    () =>
      createChatKitFetch({
        proxy: true,
        userInfo: user ?? undefined,
        onUnauthorized: () => window.location.assign("/api/sign-in"),
      }),
    [user],
  );
  const chatkit = useChatKit({
    api: { url: "/api/chatkit", domainKey: process.env.NEXT_PUBLIC_CHATKIT_DOMAIN_KEY ?? "local-dev", fetch },
    history: { enabled: true },
    startScreen: { greeting: user ? `Hi ${user.name}, ask about these docs.` : "Ask about these docs." },
  });

  return (
    <>
      <button
        type="button"
        className="chat-toggle"
        aria-expanded={open}
        disabled={!interactive}
        onClick={() => setOpen(!open)}
      >
        {open ? "Close chat" : "Chat"}
      </button>
      <aside className="chat-panel" hidden={!open} aria-label="Chat">
        <ChatKitGate signedIn={user !== null} signIn={<a href="/api/sign-in">Sign in to chat</a>}>
          <ChatKit control={chatkit.control} className="chatkit" />
        </ChatKitGate>
      </aside>
      {user && (
        // `chatkit`, not `chatkit.sendUserMessage`: a question asked before the chat is mounted
        // (the script still loading) waits for it instead of being dropped
        <SelectionAskButton chatkit={chatkit} isOpen={open} onOpen={() => setOpen(true)} />
      )}
    </>
  );
}
