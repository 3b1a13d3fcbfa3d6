/**
 * `<ChatKitScript />` for the root layout (`app/layout.tsx`): the ChatKit web component's
 * script with `strategy="beforeInteractive"`, which Next.js puts in `<head>` and runs before
 * the page hydrates.
 */
import Script from "next/script";

import { CHATKIT_SCRIPT_URL } from "../script.js";

export interface ChatKitScriptProps {
  /** The script URL (default OpenAI's CDN). */
  src?: string;
}

export function ChatKitScript({ src = CHATKIT_SCRIPT_URL }: ChatKitScriptProps) {
  return <Script id="openai-chatkit-script" src={src} strategy="beforeInteractive" />;
}
