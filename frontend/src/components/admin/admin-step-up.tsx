"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

import { StepUpForm, type StepUp } from "@/components/auth/step-up";
import { alertClass, secondaryButtonClass } from "@/components/ui/styles";
import { ApiError } from "@/lib/api/client";

/**
 * An admin page whose data the API held back (403 STEP_UP_REQUIRED): the inline "Confirm
 * it's you" prompt, open from the start, and once it succeeds the page renders again on
 * the server, this time with its data. Admins always have two-factor, so it asks for a
 * code (the API may still ask for the other kind, and the prompt follows).
 */
export function AdminStepUp({ detail }: { detail: string }) {
  const router = useRouter();
  const [open, setOpen] = useState(true);
  const [kind, setKind] = useState<StepUp["kind"]>("code");
  const [error, setError] = useState<string | null>(null);
  const [loading, startLoading] = useTransition();

  const stepUp: StepUp = {
    // The page has nothing to retry itself: succeeded() renders it again.
    run: (action) => action(),
    prompting: open,
    kind,
    succeeded: () => {
      setOpen(false);
      setError(null);
      startLoading(() => router.refresh());
    },
    cancel: () => setOpen(false),
    fail: (reason) => {
      setOpen(false);
      if (reason instanceof ApiError && reason.status === 401) {
        const here = `${window.location.pathname}${window.location.search}`;
        router.replace(`/login?next=${encodeURIComponent(here)}`);
        return;
      }
      setError(reason instanceof ApiError ? reason.detail : "Something went wrong. Please try again.");
    },
    switchKind: setKind,
  };

  return (
    <div className="mt-6 rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200">
      <p className="text-sm text-slate-700">{detail}</p>
      {error && (
        <div role="alert" className={`${alertClass} mt-4`}>
          {error}
        </div>
      )}
      <p role="status" className={loading ? "mt-4 text-sm text-slate-700" : "sr-only"}>
        {loading ? "Loading…" : ""}
      </p>
      <StepUpForm stepUp={stepUp} />
      {!open && !loading && (
        <button
          type="button"
          onClick={() => {
            setError(null);
            setOpen(true);
          }}
          className={`${secondaryButtonClass} mt-4`}
        >
          Confirm it&apos;s you
        </button>
      )}
    </div>
  );
}
