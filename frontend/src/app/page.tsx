import type { Metadata } from "next";
import Link from "next/link";

import type { UserRead } from "@/lib/api/types";
import { getCurrentUser } from "@/lib/dal";

export const metadata: Metadata = {
  title: { absolute: "Authflow" },
};

export default async function HomePage() {
  let user: UserRead | null = null;
  try {
    user = await getCurrentUser();
  } catch {
    // The API being down must not take the public home page with it.
    user = null;
  }

  return (
    <main id="main-content" className="mx-auto flex min-h-screen max-w-2xl flex-col justify-center px-6 py-16">
      <h1 className="text-4xl font-bold tracking-tight text-slate-900">Authflow</h1>
      <p className="mt-4 text-lg text-slate-700">
        A production-grade sign-up and sign-in flow for web products, built on Next.js, FastAPI and
        PostgreSQL. Your session lives in secure, HttpOnly cookies that scripts on the page can never
        read.
      </p>
      <div className="mt-8 flex flex-wrap gap-4">
        {user ? (
          <Link
            href="/account"
            className="rounded-md bg-indigo-700 px-4 py-2 font-semibold text-white no-underline hover:bg-indigo-800 hover:no-underline"
          >
            Go to your account
          </Link>
        ) : (
          <>
            <Link
              href="/login"
              className="rounded-md bg-indigo-700 px-4 py-2 font-semibold text-white no-underline hover:bg-indigo-800 hover:no-underline"
            >
              Log in
            </Link>
            <Link
              href="/signup"
              className="rounded-md border border-slate-400 bg-white px-4 py-2 font-semibold text-slate-900 no-underline hover:bg-slate-100 hover:no-underline"
            >
              Sign up
            </Link>
          </>
        )}
      </div>
    </main>
  );
}
