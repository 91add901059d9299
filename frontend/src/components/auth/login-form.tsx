"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";

import { ApiError, apiFetch } from "@/lib/api/client";
import type { LoginRequest, UserRead } from "@/lib/api/types";
import { safeNextPath } from "@/lib/safe-next";
import { alertClass, inputClass, labelClass, primaryButtonClass } from "@/components/ui/styles";

function loginErrorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === "LOGIN_BAD_CREDENTIALS") return "Incorrect username/email or password.";
    return error.detail;
  }
  return "Something went wrong. Please try again.";
}

export function LoginForm({ next }: { next: string | null }) {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    const data = new FormData(event.currentTarget);
    const body: LoginRequest = {
      login: String(data.get("login") ?? "").trim(),
      password: String(data.get("password") ?? ""),
      remember_me: data.get("remember_me") === "on",
    };
    setError(null);
    setPending(true);
    try {
      await apiFetch<UserRead>("/api/auth/login", { method: "POST", json: body });
      // Stay "pending" while navigating away.
      router.replace(safeNextPath(next));
      router.refresh();
    } catch (err) {
      setError(loginErrorMessage(err));
      setPending(false);
    }
  }

  return (
    // method="post" so a submit before hydration never puts the password in a URL.
    <form method="post" onSubmit={handleSubmit} className="mt-6 space-y-5" aria-busy={pending}>
      {error && (
        <div role="alert" className={alertClass}>
          {error}
        </div>
      )}

      <div>
        <label htmlFor="login-login" className={labelClass}>
          Username or email
        </label>
        <input
          id="login-login"
          name="login"
          type="text"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          required
          className={`${inputClass} mt-1`}
        />
      </div>

      <div>
        <div className="flex items-baseline justify-between">
          <label htmlFor="login-password" className={labelClass}>
            Password
          </label>
          <Link href="/forgot-password" className="text-sm">
            Forgot your password?
          </Link>
        </div>
        <input
          id="login-password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          className={`${inputClass} mt-1`}
        />
      </div>

      <div className="flex items-center gap-2">
        <input
          id="login-remember-me"
          name="remember_me"
          type="checkbox"
          className="h-4 w-4 rounded border-slate-400 accent-indigo-700"
        />
        <label htmlFor="login-remember-me" className="text-sm text-slate-800">
          Remember me
        </label>
      </div>

      <button type="submit" disabled={pending} className={`${primaryButtonClass} w-full`}>
        {pending ? "Signing in…" : "Sign in"}
      </button>

      <p className="text-center text-sm text-slate-700">
        New to Authflow? <Link href="/signup">Sign up</Link>
      </p>
    </form>
  );
}
