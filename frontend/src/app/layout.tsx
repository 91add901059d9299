import type { Metadata } from "next";
import { connection } from "next/server";

import "./globals.css";

export const metadata: Metadata = {
  title: { default: "Authflow", template: "%s | Authflow" },
  description: "Authflow: sign up, sign in and manage your account.",
};

export default async function RootLayout({ children }: Readonly<{ children: React.ReactNode }>) {
  // Rendered per request: each page carries the nonce of its own Content-Security-Policy
  // (see src/proxy.ts), which a page built ahead of time could not.
  await connection();
  return (
    <html lang="en">
      <body className="min-h-screen">
        <a
          href="#main-content"
          className="sr-only rounded-md bg-white px-4 py-2 font-medium focus:not-sr-only focus:absolute focus:left-4 focus:top-4 focus:z-50"
        >
          Skip to main content
        </a>
        {children}
      </body>
    </html>
  );
}
