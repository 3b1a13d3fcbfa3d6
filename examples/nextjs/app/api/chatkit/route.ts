// The ChatKit endpoint of this app: the httpOnly cookie's token, forwarded to the function
// that serves the request. A split backend: CHATKIT_TURNS_URL and CHATKIT_THREADS_URL (the
// stack's TurnsUrl and ThreadsUrl outputs); one function serving everything: CHATKIT_URL.
import { createChatKitRoute } from "@chatkit-lambda/web/next";

export const POST = createChatKitRoute({
  routes: () => ({ turns: process.env.CHATKIT_TURNS_URL, threads: process.env.CHATKIT_THREADS_URL }),
  upstream: () => process.env.CHATKIT_URL,
});
