// Local sign-in only: signs an HS256 token the way your backend would, with the function's
// local secret. Never ship this; use your identity provider's tokens.
import { createHmac } from "node:crypto";

export const COOKIE_NAME = "chatkit_token";

/** The local HS256 secret, only when explicitly configured for development. */
export function devSecret(): string | undefined {
  return process.env.CHATKIT_DEV_JWT_SECRET || undefined;
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
