"use client";

import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";

import { PasswordStrengthMeter } from "@/components/auth/password-strength-meter";
import { StepUpCancelled, StepUpForm, useStepUp } from "@/components/auth/step-up";
import {
  alertClass,
  fieldErrorClass,
  hintClass,
  inputClass,
  labelClass,
  primaryButtonClass,
} from "@/components/ui/styles";
import { apiFetch } from "@/lib/api/client";
import type { ChangePasswordRequest } from "@/lib/api/types";
import { formError, type FormError } from "@/lib/form-errors";

type Field = "current_password" | "new_password";
const FIELDS: readonly Field[] = ["current_password", "new_password"];

export function ChangePasswordForm({
  username,
  email,
  twoFactorEnabled,
}: {
  username: string;
  email: string | null;
  twoFactorEnabled: boolean;
}) {
  const router = useRouter();
  // With two-factor on, the current password alone is not enough: the API may ask for a code.
  const stepUp = useStepUp({ twoFactorEnabled });
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<FormError<Field> | null>(null);
  const [done, setDone] = useState(false);

  async function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    setError(null);
    setDone(false);
    setPending(true);
    try {
      const body: ChangePasswordRequest = { current_password: current, new_password: next };
      await stepUp.run(() =>
        apiFetch<void>("/api/auth/change-password", { method: "POST", json: body }),
      );
      setCurrent("");
      setNext("");
      setDone(true);
      // The other sessions have ended: show the list as it is now.
      router.refresh();
    } catch (err) {
      if (!(err instanceof StepUpCancelled)) setError(formError(err, FIELDS));
    } finally {
      setPending(false);
    }
  }

  const describedBy = (field: Field, ...extra: string[]) =>
    [...extra, error?.fields[field] ? `${field}-error` : ""].filter(Boolean).join(" ") || undefined;
  const fieldError = (field: Field) =>
    error?.fields[field] ? (
      <p id={`${field}-error`} className={fieldErrorClass}>
        {error.fields[field]}
      </p>
    ) : null;

  return (
    <>
      <form method="post" onSubmit={handleSubmit} className="mt-4 max-w-md space-y-4" aria-busy={pending}>
        {error && (
          <div role="alert" className={alertClass}>
            <p>{error.summary}</p>
          </div>
        )}
        <p role="status" className="text-sm text-emerald-800">
          {done ? "Password changed. Your other sessions have been signed out." : ""}
        </p>
        <div>
          <label htmlFor="current_password" className={labelClass}>
            Current password
          </label>
          <input
            id="current_password"
            name="current_password"
            type="password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
            aria-invalid={error?.fields.current_password ? true : undefined}
            aria-describedby={describedBy("current_password")}
            className={`${inputClass} mt-1`}
          />
          {fieldError("current_password")}
        </div>
        <div>
          <label htmlFor="new_password" className={labelClass}>
            New password
          </label>
          <input
            id="new_password"
            name="new_password"
            type="password"
            autoComplete="new-password"
            required
            value={next}
            onChange={(e) => setNext(e.target.value)}
            aria-invalid={error?.fields.new_password ? true : undefined}
            aria-describedby={describedBy("new_password", "new_password-hint", "new_password-strength")}
            className={`${inputClass} mt-1`}
          />
          <p id="new_password-hint" className={hintClass}>
            At least 8 characters. Your other sessions will be signed out.
          </p>
          <PasswordStrengthMeter
            id="new_password-strength"
            password={next}
            userInfo={[username, email?.split("@")[0] ?? ""]}
          />
          {fieldError("new_password")}
        </div>
        <button type="submit" disabled={pending} className={primaryButtonClass}>
          {pending && !stepUp.prompting ? "Changing…" : "Change password"}
        </button>
      </form>
      <StepUpForm stepUp={stepUp} />
    </>
  );
}
