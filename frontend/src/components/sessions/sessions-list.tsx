"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";

import { StepUpCancelled, StepUpForm, useStepUp } from "@/components/auth/step-up";
import { alertClass, dangerButtonClass, secondaryButtonClass } from "@/components/ui/styles";
import { ApiError, apiFetch } from "@/lib/api/client";
import type { RevokedCount, SessionRead } from "@/lib/api/types";

const lastSeen = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

function label(session: SessionRead): string {
  return `${session.browser} on ${session.device}`;
}

export function SessionsList({
  initialSessions,
  twoFactorEnabled,
}: {
  initialSessions: SessionRead[];
  twoFactorEnabled: boolean;
}) {
  const router = useRouter();
  const stepUp = useStepUp({ twoFactorEnabled });
  const [sessions, setSessions] = useState<SessionRead[]>(initialSessions);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  const others = sessions.filter((s) => !s.current);

  function handleError(err: unknown) {
    if (err instanceof StepUpCancelled) return;
    if (err instanceof ApiError && err.status === 401) {
      router.replace(`/login?next=${encodeURIComponent("/account")}`);
      return;
    }
    setError(err instanceof ApiError ? err.detail : "Something went wrong. Please try again.");
  }

  async function signOut(session: SessionRead) {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      await apiFetch<void>(`/api/sessions/${session.id}`, { method: "DELETE" });
      setSessions((prev) => prev.filter((s) => s.id !== session.id));
      setStatus(`Signed out ${label(session)}.`);
    } catch (err) {
      handleError(err);
    } finally {
      setBusy(false);
    }
  }

  async function signOutOthers() {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      // Signing everyone else out needs a recent sign-in: the prompt asks first if it is not.
      const result = await stepUp.run(() =>
        apiFetch<RevokedCount>("/api/sessions/revoke-others", { method: "POST" }),
      );
      setSessions((prev) => prev.filter((s) => s.current));
      setStatus(`Signed out ${result.revoked} other session${result.revoked === 1 ? "" : "s"}.`);
    } catch (err) {
      handleError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="mt-4">
      {error && (
        <div role="alert" className={alertClass}>
          {error}
        </div>
      )}
      <p role="status" aria-live="polite" className="sr-only">
        {status}
      </p>
      <ul aria-label="Your sessions" className="divide-y divide-slate-200">
        {sessions.map((session) => (
          <li key={session.id} className="flex flex-wrap items-center justify-between gap-3 py-3">
            <div>
              <p className="text-sm font-medium text-slate-900">
                {label(session)}
                {session.current && (
                  <span className="ml-2 rounded-full bg-emerald-100 px-2 py-0.5 text-xs font-semibold text-emerald-900">
                    This device
                  </span>
                )}
              </p>
              <p className="text-sm text-slate-700">
                {session.ip ?? "Unknown address"} · last seen{" "}
                <time dateTime={session.last_seen_at}>
                  {lastSeen.format(new Date(session.last_seen_at))} UTC
                </time>
              </p>
            </div>
            {!session.current && (
              <button
                type="button"
                onClick={() => signOut(session)}
                disabled={busy}
                aria-label={`Sign out ${label(session)}, last seen ${lastSeen.format(new Date(session.last_seen_at))}`}
                className={dangerButtonClass}
              >
                Sign out
              </button>
            )}
          </li>
        ))}
      </ul>
      {others.length > 0 && (
        <button
          type="button"
          onClick={signOutOthers}
          disabled={busy}
          className={`${secondaryButtonClass} mt-4`}
        >
          Sign out all other sessions
        </button>
      )}
      <StepUpForm stepUp={stepUp} />
    </div>
  );
}
