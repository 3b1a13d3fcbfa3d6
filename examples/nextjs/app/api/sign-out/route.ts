import { NextResponse } from "next/server";

import { COOKIE_NAME } from "../../dev-token";

export function POST() {
  const response = new NextResponse(null, { status: 303, headers: { location: "/" } });
  response.cookies.delete(COOKIE_NAME);
  return response;
}
