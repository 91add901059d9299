import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from "jose";
import { NextResponse, type NextRequest } from "next/server";

import { contentSecurityPolicy, newNonce } from "@/lib/csp";
import { apiBaseUrl } from "@/lib/env";

// Route guard in front of protected pages, and the Content-Security-Policy of every page. It checks the access cookie's
// signature against the API's published keys (JWKS, cached), so a forged or
// expired cookie never reaches a page; it does not know about revocation, so
// the real check stays `requireUser()` in src/lib/dal.ts, which asks the API.

const ACCESS_COOKIE = "__Host-authflow_access";
// Set next to the (path-scoped, unseen here) refresh cookie; holds no secret.
const SIGNED_IN_COOKIE = "__Host-authflow_signed_in";

// Must match the API's AUTHFLOW_JWT_ISSUER / AUTHFLOW_JWT_AUDIENCE.
const ISSUER = process.env.AUTHFLOW_JWT_ISSUER ?? "authflow";
const AUDIENCE = process.env.AUTHFLOW_JWT_AUDIENCE ?? "authflow-api";

let jwks: { url: string; getKey: JWTVerifyGetKey } | null = null;

/** The API's key set, fetched once and kept: jose refetches it when a token names
 * a key it does not hold (after a rotation), at most every few seconds. */
function apiKeys(): JWTVerifyGetKey {
  const url = `${apiBaseUrl()}/.well-known/jwks.json`;
  if (jwks?.url !== url) {
    jwks = {
      url,
      getKey: createRemoteJWKSet(new URL(url), {
        cacheMaxAge: 10 * 60_000,
        cooldownDuration: 5_000,
        timeoutDuration: 3_000,
      }),
    };
  }
  return jwks.getKey;
}

// jose error codes meaning the cookie must not reach a page: expired, or not
// made by the API (forged, altered, malformed). Anything else (API unreachable, a
// key id not in the cached set yet, claims that disagree with this app's settings)
// leaves the decision to the page's own check against the API; sending those to
// /api/auth/resume could loop.
const REJECTED = new Set([
  "ERR_JWT_EXPIRED",
  "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
  "ERR_JWS_INVALID",
  "ERR_JWT_INVALID",
  "ERR_JOSE_ALG_NOT_ALLOWED",
  "ERR_JOSE_NOT_SUPPORTED",
]);

async function isRejected(token: string): Promise<boolean> {
  try {
    await jwtVerify(token, apiKeys(), {
      algorithms: ["EdDSA"],
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: "at+jwt",
      requiredClaims: ["sub", "sid", "exp", "iat", "jti"],
    });
    return false;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && REJECTED.has(code);
  }
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

const PROTECTED = ["/account", "/notes", "/admin"];

function isProtected(pathname: string): boolean {
  return PROTECTED.some((prefix) => pathname === prefix || pathname.startsWith(`${prefix}/`));
}

export async function proxy(request: NextRequest) {
  if (isProtected(request.nextUrl.pathname)) {
    const token = request.cookies.get(ACCESS_COOKIE)?.value;
    if (!token || token.length > 4096) return redirectToSignIn(request);
    if (await isRejected(token)) return redirectToSignIn(request);
  }
  // Every page gets a policy with a nonce of its own: Next reads it from the request
  // header and puts it on the scripts it renders.
  const policy = contentSecurityPolicy(newNonce(), process.env.NODE_ENV === "development");
  const headers = new Headers(request.headers);
  headers.set("Content-Security-Policy", policy);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set("Content-Security-Policy", policy);
  return response;
}

// Prefetches (the router fetching a linked page ahead of a click) skip the proxy:
// they render no page code, and sending one through /api/auth/resume would rotate
// the refresh token in the background, racing the tabs' single-flight refresh.
// Matched here because Next strips the prefetch header before the proxy runs;
// written out in full because Next reads this object without running the file.
export const config = {
  matcher: [
    {
      source: "/account/:path*",
      missing: [
        { type: "header", key: "next-router-prefetch" },
        { type: "header", key: "purpose", value: "prefetch" },
      ],
    },
    {
      source: "/notes/:path*",
      missing: [
        { type: "header", key: "next-router-prefetch" },
        { type: "header", key: "purpose", value: "prefetch" },
      ],
    },
    {
      source: "/admin/:path*",
      missing: [
        { type: "header", key: "next-router-prefetch" },
        { type: "header", key: "purpose", value: "prefetch" },
      ],
    },
    // Every other page, for its Content-Security-Policy; not the API, not static files.
    {
      source: "/((?!api/|_next/static|_next/image|favicon.ico|icon.svg|account|notes|admin).*)",
      missing: [
        { type: "header", key: "next-router-prefetch" },
        { type: "header", key: "purpose", value: "prefetch" },
      ],
    },
  ],
};
