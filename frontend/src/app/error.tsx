"use client";

import Link from "next/link";
import { useEffect } from "react";

import { primaryButtonClass } from "@/components/ui/styles";

export default function ErrorPage({ error, retry }: { error: unknown; retry: () => void }) {
  useEffect(() => {
    console.error(error);
  }, [error]);

  return (
    <main id="main-content" className="mx-auto flex min-h-screen max-w-xl flex-col justify-center px-6 py-16">
      <title>Something went wrong | Authflow</title>
      <h1 className="text-3xl font-bold text-slate-900">Something went wrong</h1>
      <p className="mt-4 text-slate-700">
        We could not load this page. The service may be briefly unavailable; please try again.
      </p>
      <div className="mt-6 flex items-center gap-4">
        <button type="button" className={primaryButtonClass} onClick={() => retry()}>
          Try again
        </button>
        <Link href="/">Go to the home page</Link>
      </div>
    </main>
  );
}
