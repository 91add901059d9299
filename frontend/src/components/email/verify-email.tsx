"use client";

import Link from "next/link";
import { useState } from "react";

import { alertClass, primaryButtonClass } from "@/components/ui/styles";
import { ApiError, apiFetch } from "@/lib/api/client";
import type { VerifiedResponse } from "@/lib/api/types";

type State =
  | { kind: "idle" }
  | { kind: "busy" }
  | { kind: "done"; email: string }
  | { kind: "failed"; code: string; detail: string };

const FAILURE_HELP: Record<string, string> = {
  EMAIL_TOKEN_USED:
    "If you opened it before, your address is already confirmed. Otherwise ask for a new link from your account.",
  EMAIL_TOKEN_EXPIRED: "Links are valid for 24 hours. Ask for a new one from your account.",
  EMAIL_TOKEN_INVALID:
    "Check that you opened the whole link from the latest email, or ask for a new one from your account.",
};

/**
 * Confirms on a click, not on page load: mail scanners that open links to check
 * them would otherwise spend the token before the user does.
 */
export function VerifyEmail({ token }: { token: string }) {
  const [state, setState] = useState<State>({ kind: "idle" });

  async function confirm() {
    setState({ kind: "busy" });
    try {
      const result = await apiFetch<VerifiedResponse>("/api/auth/verify-email", {
        method: "POST",
        json: { token },
      });
      setState({ kind: "done", email: result.email });
    } catch (err) {
      setState(
        err instanceof ApiError
          ? { kind: "failed", code: err.code, detail: err.detail }
          : { kind: "failed", code: "", detail: "Something went wrong. Please try again." },
      );
    }
  }

  if (state.kind === "done") {
    return (
      <div role="status">
        <p className="mt-4 text-slate-800">
          <strong>{state.email}</strong> is confirmed. Thank you.
        </p>
        <p className="mt-6 text-sm">
          <Link href="/account">Go to your account</Link>
        </p>
      </div>
    );
  }
  return (
    <>
      <p className="mt-4 text-slate-700">Confirm that this email address is yours.</p>
      {state.kind === "failed" && (
        <div role="alert" className={`mt-4 ${alertClass}`}>
          <p className="font-medium">{state.detail}</p>
          {FAILURE_HELP[state.code] && <p className="mt-1">{FAILURE_HELP[state.code]}</p>}
        </div>
      )}
      <button
        type="button"
        className={`mt-6 w-full ${primaryButtonClass}`}
        onClick={confirm}
        disabled={state.kind === "busy"}
      >
        {state.kind === "busy" ? "Confirming…" : "Confirm my email address"}
      </button>
      <p className="mt-6 text-sm">
        <Link href="/account">Go to your account</Link>
      </p>
    </>
  );
}
