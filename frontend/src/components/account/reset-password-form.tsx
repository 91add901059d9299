"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";

import { PasswordStrengthMeter } from "@/components/auth/password-strength-meter";
import {
  alertClass,
  fieldErrorClass,
  hintClass,
  inputClass,
  labelClass,
  primaryButtonClass,
} from "@/components/ui/styles";
import { apiFetch } from "@/lib/api/client";
import type { ResetPasswordRequest } from "@/lib/api/types";
import { formError, type FormError } from "@/lib/form-errors";

/** What to do next when the link itself is the problem. */
const LINK_HELP: Record<string, string> = {
  EMAIL_TOKEN_USED: "Each link works once. If you already chose a new password, sign in with it.",
  EMAIL_TOKEN_EXPIRED: "Reset links work for a short while only.",
  EMAIL_TOKEN_INVALID:
    "Check that you opened the whole link from the latest email; a newer link or a password change voids older ones.",
};

export function ResetPasswordForm({ token }: { token: string }) {
  const [password, setPassword] = useState("");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<FormError<"password"> | null>(null);
  const [done, setDone] = useState(false);

  async function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    setError(null);
    setPending(true);
    try {
      const body: ResetPasswordRequest = { token, password };
      await apiFetch<void>("/api/auth/reset-password", { method: "POST", json: body });
      setDone(true);
    } catch (err) {
      setError(formError(err, ["password"] as const));
    } finally {
      setPending(false);
    }
  }

  if (done) {
    return (
      <div role="status" className="mt-4 space-y-3 text-slate-800">
        <p>Your password has been changed, and every session of your account has been signed out.</p>
        <p className="pt-3">
          <Link href="/login" className={primaryButtonClass}>
            Sign in with your new password
          </Link>
        </p>
      </div>
    );
  }

  const linkHelp = error ? LINK_HELP[error.code] : undefined;
  const passwordError = error?.fields.password;
  return (
    <form method="post" onSubmit={handleSubmit} className="mt-6 space-y-5" aria-busy={pending}>
      {error && (
        <div role="alert" className={alertClass}>
          <p className="font-medium">{error.summary}</p>
          {linkHelp && (
            <p className="mt-1">
              {linkHelp}{" "}
              <Link href="/forgot-password" className="text-red-800 underline">
                Get a new link
              </Link>
            </p>
          )}
        </div>
      )}
      <div>
        <label htmlFor="reset-password" className={labelClass}>
          New password
        </label>
        <input
          id="reset-password"
          name="password"
          type="password"
          autoComplete="new-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          aria-invalid={passwordError ? true : undefined}
          aria-describedby={[
            "reset-password-hint",
            "reset-password-strength",
            passwordError ? "reset-password-error" : "",
          ]
            .filter(Boolean)
            .join(" ")}
          className={`${inputClass} mt-1`}
        />
        <p id="reset-password-hint" className={hintClass}>
          At least 8 characters; 15 or more is better. Setting it signs you out everywhere.
        </p>
        <PasswordStrengthMeter id="reset-password-strength" password={password} userInfo={[]} />
        {passwordError && (
          <p id="reset-password-error" className={fieldErrorClass}>
            {passwordError}
          </p>
        )}
      </div>
      <button type="submit" disabled={pending} className={`${primaryButtonClass} w-full`}>
        {pending ? "Saving…" : "Set new password"}
      </button>
    </form>
  );
}
