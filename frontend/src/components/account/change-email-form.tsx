"use client";

import { useState, type FormEvent } from "react";

import { StepUpCancelled, StepUpForm, useStepUp } from "@/components/auth/step-up";
import {
  alertClass,
  fieldErrorClass,
  inputClass,
  labelClass,
  primaryButtonClass,
} from "@/components/ui/styles";
import { apiFetch } from "@/lib/api/client";
import type { ChangeEmailRequest, EmailChangeRequested } from "@/lib/api/types";
import { formError, type FormError } from "@/lib/form-errors";

type Field = "new_email" | "current_password";
const FIELDS: readonly Field[] = ["new_email", "current_password"];
// Element ids: the password form on the same page has its own current_password.
const ids: Record<Field, string> = { new_email: "new_email", current_password: "email_password" };

export function ChangeEmailForm({
  currentEmail,
  twoFactorEnabled,
}: {
  currentEmail: string | null;
  twoFactorEnabled: boolean;
}) {
  // With two-factor on, the current password alone is not enough: the API may ask for a code.
  const stepUp = useStepUp({ twoFactorEnabled });
  const [newEmail, setNewEmail] = useState("");
  const [password, setPassword] = useState("");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<FormError<Field> | null>(null);
  const [sent, setSent] = useState<EmailChangeRequested | null>(null);

  async function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    setError(null);
    setSent(null);
    setPending(true);
    try {
      const body: ChangeEmailRequest = { current_password: password, new_email: newEmail.trim() };
      setSent(
        await stepUp.run(() =>
          apiFetch<EmailChangeRequested>("/api/auth/change-email", { method: "POST", json: body }),
        ),
      );
      setPassword("");
      setNewEmail("");
    } catch (err) {
      if (err instanceof StepUpCancelled) return;
      setError(formError(err, FIELDS, { EMAIL_TAKEN: "new_email", EMAIL_UNCHANGED: "new_email" }));
    } finally {
      setPending(false);
    }
  }

  const messages = error?.fields ?? {};
  const fieldError = (field: Field) =>
    messages[field] ? (
      <p id={`${ids[field]}-error`} className={fieldErrorClass}>
        {messages[field]}
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
          {sent
            ? `We sent a link to ${sent.pending_email}. Your address changes when you open it (within ${sent.expires_in_minutes} minutes).` +
              (currentEmail ? ` We also let ${currentEmail} know.` : "")
            : ""}
        </p>
        <div>
          <label htmlFor="new_email" className={labelClass}>
            New email address
          </label>
          <input
            id="new_email"
            name="new_email"
            type="email"
            autoComplete="email"
            spellCheck={false}
            required
            value={newEmail}
            onChange={(e) => setNewEmail(e.target.value)}
            aria-invalid={messages.new_email ? true : undefined}
            aria-describedby={messages.new_email ? "new_email-error" : undefined}
            className={`${inputClass} mt-1`}
          />
          {fieldError("new_email")}
        </div>
        <div>
          <label htmlFor="email_password" className={labelClass}>
            Current password
          </label>
          <input
            id="email_password"
            name="current_password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            aria-invalid={messages.current_password ? true : undefined}
            aria-describedby={messages.current_password ? "email_password-error" : undefined}
            className={`${inputClass} mt-1`}
          />
          {fieldError("current_password")}
        </div>
        <button type="submit" disabled={pending} className={primaryButtonClass}>
          {pending && !stepUp.prompting
            ? "Sending…"
            : currentEmail
              ? "Change email address"
              : "Add email address"}
        </button>
      </form>
      <StepUpForm stepUp={stepUp} />
    </>
  );
}
