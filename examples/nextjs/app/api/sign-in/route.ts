// Local sign-in for `make dev`: sets the httpOnly cookie with a token the local function
// accepts, then goes back to the page. It signs in as whoever the query names, so it is off
// unless CHATKIT_DEV_JWT_SECRET is set, and off in a production build without
// CHATKIT_DEV_SIGN_IN=1 (dev-token.ts).
import { NextResponse, type NextRequest } from "next/server";

import { COOKIE_NAME, devSignIn, signDevToken } from "../../dev-token";

export function GET(request: NextRequest) {
  const signIn = devSignIn();
  if ("off" in signIn) {
    return NextResponse.json({ error: { code: "not_found", message: signIn.off } }, { status: 404 });
  }
  const { secret } = signIn;
  const id = (request.nextUrl.searchParams.get("user") || "demo-user").slice(0, 64);
  const name = (request.nextUrl.searchParams.get("name") || "Demo User").slice(0, 100);
  // a relative Location: request.url names the host Next.js bound to, not the one the browser used
  const response = new NextResponse(null, { status: 303, headers: { location: "/" } });
  response.cookies.set(COOKIE_NAME, signDevToken(secret, { sub: id, name }), {
    httpOnly: true,
    sameSite: "lax",
    secure: request.nextUrl.protocol === "https:",
    path: "/",
    maxAge: 12 * 3600,
  });
  return response;
}
