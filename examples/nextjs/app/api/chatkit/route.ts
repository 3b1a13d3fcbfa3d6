// The ChatKit endpoint of this app: the httpOnly cookie's token, forwarded to the function.
import { createChatKitRoute } from "@chatkit-lambda/web/next";

export const POST = createChatKitRoute({ upstream: process.env.CHATKIT_URL });
