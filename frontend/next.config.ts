import type { NextConfig } from "next";

// Where the FastAPI server listens. Read when the config loads (`next build`
// and `next start`); see docs/decisions.md "## Frontend".
const apiUrl = (process.env.AUTHFLOW_API_URL ?? "http://127.0.0.1:8000").replace(/\/+$/, "");

// Content-Security-Policy is set per response by src/proxy.ts (it carries a nonce).
const securityHeaders = [
  { key: "X-Content-Type-Options", value: "nosniff" },
  { key: "X-Frame-Options", value: "DENY" },
  { key: "Referrer-Policy", value: "strict-origin-when-cross-origin" },
  { key: "Permissions-Policy", value: "camera=(), microphone=(), geolocation=()" },
  { key: "Cross-Origin-Opener-Policy", value: "same-origin" },
  // Only a production build for a production deployment promises HTTPS for two years.
  ...(process.env.AUTHFLOW_ENV === "production"
    ? [{ key: "Strict-Transport-Security", value: "max-age=63072000; includeSubDomains" }]
    : []),
];

const nextConfig: NextConfig = {
  poweredByHeader: false,
  async rewrites() {
    return [
      {
        source: "/api/:path*",
        destination: `${apiUrl}/api/:path*`,
      },
    ];
  },
  async headers() {
    return [{ source: "/:path*", headers: securityHeaders }];
  },
};

export default nextConfig;
