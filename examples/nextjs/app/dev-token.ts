// Local sign-in only: signs an HS256 token the way your backend would, with the function's
// local secret. Never ship this; use your identity provider's tokens.
import { createHmac } from "node:crypto";

export const COOKIE_NAME = "chatkit_token";

/** Whether local sign-in may mint tokens: the secret, or why it is off. */
export type DevSignIn = { secret: string } | { off: string };

/**
 * Local sign-in signs a token for any user it is asked for, so it is on only with
 * CHATKIT_DEV_JWT_SECRET set and, in a production build, CHATKIT_DEV_SIGN_IN=1 as well (the
 * browser tests run `next start` that way); `next dev` needs only the secret.
 */
export function devSignIn(): DevSignIn {
  const secret = process.env.CHATKIT_DEV_JWT_SECRET;
  if (!secret) return { off: "local sign-in is off: set CHATKIT_DEV_JWT_SECRET to the function's local secret" };
  if (process.env.NODE_ENV === "production" && process.env.CHATKIT_DEV_SIGN_IN !== "1") {
    return { off: "local sign-in is off in a production build: it is for `next dev` (CHATKIT_DEV_SIGN_IN=1 turns it on for local tests)" };
  }
  return { secret };
}

const base64url = (value: string | Buffer) => Buffer.from(value).toString("base64url");

export function signDevToken(secret: string, claims: { sub: string; name: string }, ttlSeconds = 12 * 3600): string {
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
  const payload = base64url(JSON.stringify({ ...claims, exp }));
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

/** The `sub` and `name` of a token, for display only (the function verifies it). */
export function readClaims(token: string | undefined): { id: string; name: string } | null {
  const payload = token?.split(".")[1];
  if (!payload) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as { sub?: unknown; name?: unknown };
    if (typeof claims.sub !== "string") return null;
    return { id: claims.sub, name: typeof claims.name === "string" ? claims.name : claims.sub };
  } catch {
    return null;
  }
}
