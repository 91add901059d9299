import { NextResponse, type NextRequest } from "next/server";

// Optimistic route guard only: it reads the cookie, never calls the API.
// The real check is `requireUser()` in src/lib/dal.ts, called by every
// protected page.

const ACCESS_COOKIE = "__Host-authflow_access";
// Set next to the (path-scoped, unseen here) refresh cookie; holds no secret.
const SIGNED_IN_COOKIE = "__Host-authflow_signed_in";

/** `exp` (seconds since epoch) from a JWT's payload, without verifying it. */
function jwtExpiry(token: string): number | null {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const payload: unknown = JSON.parse(atob(padded));
    if (typeof payload === "object" && payload !== null && "exp" in payload) {
      const exp = (payload as { exp: unknown }).exp;
      return typeof exp === "number" && Number.isFinite(exp) ? exp : null;
    }
  } catch {
    // Not a JWT we can read: leave the decision to the API.
  }
  return null;
}

/**
 * No usable access cookie: if this browser still has a session, go through the API's
 * /api/auth/resume, which rotates the refresh cookie and comes straight back here;
 * otherwise to the login page. Either way the visitor returns to where they were.
 */
function redirectToSignIn(request: NextRequest): NextResponse {
  const { pathname, search } = request.nextUrl;
  const resume = request.cookies.has(SIGNED_IN_COOKIE);
  const url = new URL(resume ? "/api/auth/resume" : "/login", request.url);
  url.searchParams.set("next", `${pathname}${search}`);
  return NextResponse.redirect(url);
}

export function proxy(request: NextRequest) {
  const token = request.cookies.get(ACCESS_COOKIE)?.value;
  if (!token) return redirectToSignIn(request);

  const exp = jwtExpiry(token);
  if (exp !== null && exp * 1000 <= Date.now()) return redirectToSignIn(request);

  return NextResponse.next();
}

export const config = {
  matcher: ["/account/:path*", "/notes/:path*"],
};
