// Local sign-in for `make dev`: sets the httpOnly cookie with a token the local function
// accepts, then goes back to the page. Off unless CHATKIT_DEV_JWT_SECRET is set.
import { NextResponse, type NextRequest } from "next/server";

import { COOKIE_NAME, devSecret, signDevToken } from "../../dev-token";

export function GET(request: NextRequest) {
  const secret = devSecret();
  if (!secret) {
    return NextResponse.json(
      { error: { code: "not_found", message: "local sign-in is off: set CHATKIT_DEV_JWT_SECRET to the function's local secret" } },
      { status: 404 },
    );
  }
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
