"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";

import { StepUpCancelled, StepUpForm, useStepUp } from "@/components/auth/step-up";
import { ActionFeedback } from "@/components/ui/action-feedback";
import { ConfirmPanel } from "@/components/ui/confirm-panel";
import {
  dangerButtonClass,
  primaryButtonClass,
  secondaryButtonClass,
} from "@/components/ui/styles";
import { ApiError, apiFetch } from "@/lib/api/client";
import type { AdminUserRow } from "@/lib/api/types";

type Confirmable = "disable" | "revoke-admin" | "delete";

const CONFIRM: Record<Confirmable, { title: (u: string) => string; body: string; yes: string }> = {
  disable: {
    title: (u) => `Disable ${u}?`,
    body: "They are signed out everywhere at once and cannot sign in until the account is enabled again.",
    yes: "Yes, disable",
  },
  "revoke-admin": {
    title: (u) => `Remove ${u}'s administrator role?`,
    body: "They keep their account but can no longer use the admin console.",
    yes: "Yes, remove the role",
  },
  delete: {
    title: (u) => `Delete ${u}?`,
    body: "The account, its sessions and its notes are deleted for good. Its audit events are kept. This cannot be undone.",
    yes: "Yes, delete",
  },
};

/** Whatever an administrator can do to one account. Destructive actions ask first; each
 * asks the admin to confirm it's them if their sign-in is no longer recent. */
export function UserActions({ user }: { user: AdminUserRow }) {
  const router = useRouter();
  const stepUp = useStepUp({ twoFactorEnabled: true });
  const [confirming, setConfirming] = useState<Confirmable | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  const base = `/api/admin/users/${encodeURIComponent(user.id)}` as const;

  async function act(request: () => Promise<unknown>, done: string, after?: () => void) {
    if (busy) return;
    setBusy(true);
    setError(null);
    setStatus("");
    try {
      await stepUp.run(request);
      setConfirming(null);
      setStatus(done);
      if (after) after();
      else router.refresh();
    } catch (err) {
      if (err instanceof StepUpCancelled) return;
      if (err instanceof ApiError && err.status === 401) {
        router.replace(`/login?next=${encodeURIComponent(`/admin/users/${user.id}`)}`);
        return;
      }
      setError(err instanceof ApiError ? err.detail : "Something went wrong. Please try again.");
    } finally {
      setBusy(false);
    }
  }

  const post = (path: string) => () => apiFetch<void>(`${base}${path}` as `/api/${string}`, { method: "POST" });

  function confirmed(what: Confirmable) {
    switch (what) {
      case "disable":
        return act(post("/disable"), `${user.username} is disabled and signed out everywhere.`);
      case "revoke-admin":
        return act(
          () => apiFetch<void>(`${base}/admin`, { method: "DELETE" }),
          `${user.username} is no longer an administrator.`,
        );
      case "delete":
        return act(
          () => apiFetch<void>(base, { method: "DELETE" }),
          `${user.username} is deleted.`,
          () => {
            router.push("/admin");
            router.refresh();
          },
        );
    }
  }

  function ask(what: Confirmable) {
    setError(null);
    setStatus("");
    setConfirming(what);
  }

  const copy = confirming ? CONFIRM[confirming] : null;

  return (
    <div className="mt-4 space-y-4">
      <ActionFeedback error={error} status={status} />

      {copy && confirming ? (
        <ConfirmPanel
          title={copy.title(user.username)}
          body={copy.body}
          yes={copy.yes}
          busy={busy}
          onConfirm={() => confirmed(confirming)}
          onCancel={() => {
            stepUp.cancel();
            setConfirming(null);
          }}
        />
      ) : (
        <div className="flex flex-wrap gap-3">
          {user.is_active ? (
            <button type="button" onClick={() => ask("disable")} disabled={busy} className={dangerButtonClass}>
              Disable account
            </button>
          ) : (
            <button
              type="button"
              onClick={() => act(post("/enable"), `${user.username} is enabled and can sign in again.`)}
              disabled={busy}
              className={primaryButtonClass}
            >
              Enable account
            </button>
          )}
          {user.email && !user.is_verified && (
            <button
              type="button"
              onClick={() => act(post("/verify-email"), `${user.email} is marked as confirmed.`)}
              disabled={busy}
              className={secondaryButtonClass}
            >
              Mark email as confirmed
            </button>
          )}
          {user.email && (
            <button
              type="button"
              onClick={() => act(post("/password-reset"), `A password reset link is on its way to ${user.email}.`)}
              disabled={busy}
              className={secondaryButtonClass}
            >
              Send password reset link
            </button>
          )}
          {user.is_admin ? (
            <button type="button" onClick={() => ask("revoke-admin")} disabled={busy} className={dangerButtonClass}>
              Remove administrator role
            </button>
          ) : (
            <button
              type="button"
              onClick={() => act(post("/admin"), `${user.username} is now an administrator.`)}
              disabled={busy}
              className={secondaryButtonClass}
            >
              Make administrator
            </button>
          )}
          <button type="button" onClick={() => ask("delete")} disabled={busy} className={dangerButtonClass}>
            Delete account
          </button>
        </div>
      )}
      <StepUpForm stepUp={stepUp} />
    </div>
  );
}
