/**
 * `<ChatKitScript />` for the root layout (`app/layout.tsx`): starts loading the ChatKit web
 * component from OpenAI's CDN before the page hydrates, with `strategy="beforeInteractive"`,
 * and adds it to `<head>`.
 *
 * It is a tiny inline loader rather than `<Script src>`: Next.js waits for every
 * `beforeInteractive` script with a `src` before it hydrates, so a CDN that hangs would keep
 * the whole page (and `<ChatKitGate>`'s error state) from ever becoming interactive. The
 * loader inserts the same async script tag into `<head>` and marks it when it fails, so the
 * gate reports a blocked CDN at once and a hanging one after its timeout.
 */
// `next/script.js`, not `next/script`: next has no "exports" map, so Node's ESM resolver (a
// server build that leaves this package external) needs the file name; bundlers take both.
import Script from "next/script.js";

import { CHATKIT_SCRIPT_FAILED_ATTRIBUTE, CHATKIT_SCRIPT_URL } from "../script.js";

export interface ChatKitScriptProps {
  /** The script URL (default OpenAI's CDN). */
  src?: string;
  /** A CSP nonce for the inline loader. */
  nonce?: string;
}

/** The loader's code: inserts `<script async src>` into `<head>` once, marking a failed load. */
export function chatKitLoaderCode(src: string = CHATKIT_SCRIPT_URL): string {
  const url = JSON.stringify(src).replace(/</g, "\\u003c");
  return (
    `(function(u){for(var i=0,l=document.scripts;i<l.length;i++)if(l[i].src===u)return;` +
    `var s=document.createElement("script");s.src=u;s.async=true;` +
    `s.onerror=function(){s.setAttribute("${CHATKIT_SCRIPT_FAILED_ATTRIBUTE}","")};` +
    `document.head.appendChild(s)})(new URL(${url},document.baseURI).href)`
  );
}

export function ChatKitScript({ src = CHATKIT_SCRIPT_URL, nonce }: ChatKitScriptProps) {
  return (
    <Script id="openai-chatkit-loader" strategy="beforeInteractive" nonce={nonce}>
      {chatKitLoaderCode(src)}
    </Script>
  );
}
