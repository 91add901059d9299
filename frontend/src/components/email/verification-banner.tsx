"use client";

import { useState } from "react";

import { secondaryButtonClass } from "@/components/ui/styles";
import { ApiError, apiFetch } from "@/lib/api/client";

/** Shown until the address is confirmed, with a way to get a new link. */
export function VerificationBanner({ email }: { email: string }) {
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState("");

  async function resend() {
    setBusy(true);
    try {
      await apiFetch<void>("/api/auth/resend-verification", { method: "POST" });
      setMessage(`A new link is on its way to ${email}.`);
    } catch (err) {
      setMessage(err instanceof ApiError ? err.detail : "Something went wrong. Please try again.");
    } finally {
      setBusy(false);
    }
  }

  return (
    <section
      aria-label="Email not confirmed"
      className="mt-6 rounded-md border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-900"
    >
      <p>
        Please confirm <strong>{email}</strong>: we sent you a link when you signed up.
      </p>
      <div className="mt-2 flex flex-wrap items-center gap-3">
        <button type="button" className={secondaryButtonClass} onClick={resend} disabled={busy}>
          Send a new link
        </button>
        <p role="status">{message}</p>
      </div>
    </section>
  );
}
