"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";

import { formatMoment } from "@/components/admin/format";
import { StepUpCancelled, StepUpForm, useStepUp } from "@/components/auth/step-up";
import { ActionFeedback } from "@/components/ui/action-feedback";
import { ConfirmPanel } from "@/components/ui/confirm-panel";
import { dangerButtonClass, secondaryButtonClass } from "@/components/ui/styles";
import { ApiError, apiFetch } from "@/lib/api/client";
import type { AdminSessionRow, RevokedCount } from "@/lib/api/types";

function label(session: AdminSessionRow): string {
  return `${session.browser} on ${session.device}`;
}

/** An account's live sessions, each of which the admin can end, or all at once. */
export function UserSessions({
  userId,
  username,
  sessions: current,
}: {
  userId: string;
  username: string;
  sessions: AdminSessionRow[];
}) {
  const router = useRouter();
  const stepUp = useStepUp({ twoFactorEnabled: true });
  // Ended here: hidden at once, before the page's fresh data arrives.
  const [ended, setEnded] = useState<ReadonlySet<string>>(new Set());
  const sessions = current.filter((s) => !ended.has(s.id));
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  const base = `/api/admin/users/${encodeURIComponent(userId)}/sessions` as const;

  async function act<T>(request: () => Promise<T>, done: (result: T) => void) {
    if (busy) return;
    setBusy(true);
    setError(null);
    setStatus("");
    try {
      done(await stepUp.run(request));
      // The account's events now include what was just done.
      router.refresh();
    } catch (err) {
      if (err instanceof StepUpCancelled) return;
      if (err instanceof ApiError && err.status === 401) {
        router.replace(`/login?next=${encodeURIComponent(`/admin/users/${userId}`)}`);
        return;
      }
      setError(err instanceof ApiError ? err.detail : "Something went wrong. Please try again.");
    } finally {
      setBusy(false);
    }
  }

  function signOut(session: AdminSessionRow) {
    return act(
      () => apiFetch<void>(`${base}/${encodeURIComponent(session.id)}`, { method: "DELETE" }),
      () => {
        setEnded((prev) => new Set(prev).add(session.id));
        setStatus(`Signed out ${label(session)}.`);
      },
    );
  }

  function signOutEverywhere() {
    return act(
      () => apiFetch<RevokedCount>(`${base}/revoke-all`, { method: "POST" }),
      (result) => {
        setConfirming(false);
        setEnded((prev) => new Set([...prev, ...sessions.map((s) => s.id)]));
        setStatus(`Signed ${username} out of ${result.revoked} session${result.revoked === 1 ? "" : "s"}.`);
      },
    );
  }

  return (
    <div className="mt-4 space-y-4">
      <ActionFeedback error={error} status={status} />
      {sessions.length === 0 ? (
        <p className="text-sm text-slate-600">Not signed in anywhere.</p>
      ) : (
        <ul aria-label={`Sessions of ${username}`} className="divide-y divide-slate-200">
          {sessions.map((session) => (
            <li key={session.id} className="flex flex-wrap items-center justify-between gap-3 py-3">
              <div>
                <p className="text-sm font-medium text-slate-900">{label(session)}</p>
                <p className="text-sm text-slate-700">
                  {session.ip ?? "Unknown address"} · signed in{" "}
                  <time dateTime={session.created_at}>{formatMoment(session.created_at)}</time> · last seen{" "}
                  <time dateTime={session.last_seen_at}>{formatMoment(session.last_seen_at)}</time>
                </p>
              </div>
              <button
                type="button"
                onClick={() => signOut(session)}
                disabled={busy}
                aria-label={`Sign out ${label(session)}, last seen ${formatMoment(session.last_seen_at)}`}
                className={dangerButtonClass}
              >
                Sign out
              </button>
            </li>
          ))}
        </ul>
      )}
      {sessions.length > 0 &&
        (confirming ? (
          <ConfirmPanel
            title={`Sign ${username} out everywhere?`}
            body="Every browser and app signed in to this account has to sign in again."
            yes="Yes, sign out everywhere"
            busy={busy}
            onConfirm={signOutEverywhere}
            onCancel={() => {
              stepUp.cancel();
              setConfirming(false);
            }}
          />
        ) : (
          <button
            type="button"
            onClick={() => {
              setError(null);
              setStatus("");
              setConfirming(true);
            }}
            disabled={busy}
            className={secondaryButtonClass}
          >
            Sign out everywhere
          </button>
        ))}
      <StepUpForm stepUp={stepUp} />
    </div>
  );
}
