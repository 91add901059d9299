"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";

import {
  alertClass,
  fieldErrorClass,
  inputClass,
  labelClass,
  primaryButtonClass,
} from "@/components/ui/styles";
import { apiFetch } from "@/lib/api/client";
import type { ForgotPasswordResponse } from "@/lib/api/types";
import { formError, type FormError } from "@/lib/form-errors";

export function ForgotPasswordForm() {
  const [email, setEmail] = useState("");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<FormError<"email"> | null>(null);
  const [sent, setSent] = useState<string | null>(null);

  async function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    setError(null);
    setPending(true);
    try {
      const answer = await apiFetch<ForgotPasswordResponse>("/api/auth/forgot-password", {
        method: "POST",
        json: { email: email.trim() },
      });
      setSent(answer.detail);
    } catch (err) {
      setError(formError(err, ["email"] as const));
    } finally {
      setPending(false);
    }
  }

  if (sent) {
    return (
      <div role="status" className="mt-4 space-y-3 text-slate-800">
        <p>{sent}</p>
        <p className="text-sm text-slate-700">
          The link works once, for a short while. Nothing there? Check your spam folder, or
          make sure you used the address of your account and{" "}
          <button type="button" className="text-indigo-700 underline" onClick={() => setSent(null)}>
            try again
          </button>
          .
        </p>
        <p className="pt-3 text-sm">
          <Link href="/login">Back to sign in</Link>
        </p>
      </div>
    );
  }

  const emailError = error?.fields.email;
  return (
    <form method="post" onSubmit={handleSubmit} className="mt-6 space-y-5" aria-busy={pending}>
      <p className="text-slate-700">
        Enter the email address of your account and we&apos;ll send you a link to choose a new
        password.
      </p>
      {error && (
        <div role="alert" className={alertClass}>
          <p>{error.summary}</p>
        </div>
      )}
      <div>
        <label htmlFor="forgot-email" className={labelClass}>
          Email
        </label>
        <input
          id="forgot-email"
          name="email"
          type="email"
          autoComplete="email"
          spellCheck={false}
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          aria-invalid={emailError ? true : undefined}
          aria-describedby={emailError ? "forgot-email-error" : undefined}
          className={`${inputClass} mt-1`}
        />
        {emailError && (
          <p id="forgot-email-error" className={fieldErrorClass}>
            {emailError}
          </p>
        )}
      </div>
      <button type="submit" disabled={pending} className={`${primaryButtonClass} w-full`}>
        {pending ? "Sending…" : "Send reset link"}
      </button>
      <p className="text-center text-sm text-slate-700">
        Remembered it? <Link href="/login">Sign in</Link>
      </p>
    </form>
  );
}
