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

export interface ConfirmLinkProps {
  token: string;
  endpoint: "/api/auth/verify-email" | "/api/auth/confirm-email-change";
  prompt: string;
  buttonLabel: string;
  doneMessage: string;
  /** What to do next, per error code. */
  help: Record<string, string>;
}

/**
 * Spends an email link on a click, not on page load: mail scanners that open links to
 * check them would otherwise spend the token before the user does.
 */
export function ConfirmLink({ token, endpoint, prompt, buttonLabel, doneMessage, help }: ConfirmLinkProps) {
  const [state, setState] = useState<State>({ kind: "idle" });

  async function confirm() {
    setState({ kind: "busy" });
    try {
      const result = await apiFetch<VerifiedResponse>(endpoint, { method: "POST", json: { token } });
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
          <strong>{state.email}</strong> {doneMessage}
        </p>
        <p className="mt-6 text-sm">
          <Link href="/account">Go to your account</Link>
        </p>
      </div>
    );
  }
  return (
    <>
      <p className="mt-4 text-slate-700">{prompt}</p>
      {state.kind === "failed" && (
        <div role="alert" className={`mt-4 ${alertClass}`}>
          <p className="font-medium">{state.detail}</p>
          {help[state.code] && <p className="mt-1">{help[state.code]}</p>}
        </div>
      )}
      <button
        type="button"
        className={`mt-6 w-full ${primaryButtonClass}`}
        onClick={confirm}
        disabled={state.kind === "busy"}
      >
        {state.kind === "busy" ? "Confirming…" : buttonLabel}
      </button>
      <p className="mt-6 text-sm">
        <Link href="/account">Go to your account</Link>
      </p>
    </>
  );
}
