"use client";

import { useRouter } from "next/navigation";
import { useEffect, useRef, useState, type FormEvent } from "react";

import { StepUpCancelled, StepUpForm, useStepUp } from "@/components/auth/step-up";
import { ActionFeedback } from "@/components/ui/action-feedback";
import {
  alertClass,
  dangerButtonClass,
  hintClass,
  inputClass,
  labelClass,
  primaryButtonClass,
  secondaryButtonClass,
} from "@/components/ui/styles";
import { ApiError, apiFetch } from "@/lib/api/client";
import type {
  RecoveryCodes,
  TwoFactorCodeRequest,
  TwoFactorEnrolment,
  TwoFactorStatus,
} from "@/lib/api/types";

type View =
  | { name: "summary" }
  | { name: "enrol"; enrolment: TwoFactorEnrolment }
  | { name: "codes"; codes: string[]; reason: "enabled" | "regenerated" }
  | { name: "confirm-disable" };

const enabledOn = new Intl.DateTimeFormat("en-GB", { dateStyle: "long", timeZone: "UTC" });

/** The secret in groups of four, easier to type into an app by hand. */
function grouped(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, "$1 ");
}

function errorMessage(err: unknown): string {
  return err instanceof ApiError ? err.detail : "Something went wrong. Please try again.";
}

/** The "Two-factor authentication" section of /account: set up, recovery codes, turn off. */
export function TwoFactorSection({ initialStatus }: { initialStatus: TwoFactorStatus }) {
  const router = useRouter();
  const [status, setStatus] = useState(initialStatus);
  const [view, setView] = useState<View>({ name: "summary" });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState("");
  const stepUp = useStepUp({ twoFactorEnabled: status.enabled });

  // Each change of view moves focus to its title, so keyboard and screen reader users follow.
  const title = useRef<HTMLElement | null>(null);
  const shown = useRef(view);
  useEffect(() => {
    if (shown.current === view) return;
    shown.current = view;
    title.current?.focus();
  }, [view]);

  async function reloadStatus() {
    try {
      setStatus(await apiFetch<TwoFactorStatus>("/api/auth/2fa"));
    } catch {
      // The section shows what it knew; the next page load shows the rest.
    }
  }

  /** Runs a change through step-up; returns false when it failed or was cancelled. */
  async function attempt(action: () => Promise<void>): Promise<boolean> {
    if (busy) return false;
    setBusy(true);
    setError(null);
    setNotice("");
    try {
      await stepUp.run(action);
      return true;
    } catch (err) {
      if (err instanceof StepUpCancelled) return false;
      if (err instanceof ApiError && err.status === 401) {
        router.replace(`/login?next=${encodeURIComponent("/account")}`);
        return false;
      }
      if (
        err instanceof ApiError &&
        (err.code === "TWO_FACTOR_ALREADY_ENABLED" || err.code === "TWO_FACTOR_NOT_ENABLED")
      ) {
        // Changed from another tab or device: show how things are now.
        await reloadStatus();
        setView({ name: "summary" });
      }
      setError(errorMessage(err));
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function startEnrolment() {
    await attempt(async () => {
      const enrolment = await apiFetch<TwoFactorEnrolment>("/api/auth/2fa/enrol", { method: "POST" });
      setView({ name: "enrol", enrolment });
    });
  }

  async function regenerate() {
    await attempt(async () => {
      const result = await apiFetch<RecoveryCodes>("/api/auth/2fa/recovery-codes", { method: "POST" });
      setView({ name: "codes", codes: result.recovery_codes, reason: "regenerated" });
      await reloadStatus();
    });
  }

  async function disable() {
    const done = await attempt(async () => {
      await apiFetch<void>("/api/auth/2fa/disable", { method: "POST" });
    });
    if (!done) return;
    setStatus({ enabled: false, enabled_at: null, recovery_codes_left: 0 });
    setView({ name: "summary" });
    setNotice("Two-factor authentication is off. Signing in needs only your password.");
    // The other forms on the page ask for a password again, not a code.
    router.refresh();
  }

  function enrolled(codes: string[]) {
    setView({ name: "codes", codes, reason: "enabled" });
    void reloadStatus();
    // The other forms on the page now ask for a code when they need to confirm it's you.
    router.refresh();
  }

  return (
    <div className="mt-4 space-y-4">
      <ActionFeedback error={error} status={notice} />

      {view.name === "summary" && !status.enabled && (
        <>
          <p ref={(el) => void (title.current = el)} tabIndex={-1} className="text-sm text-slate-900">
            <strong>Two-factor authentication is off.</strong> Add a second step to signing in: after your
            password, enter a code from an authenticator app on your phone. Someone who learns your
            password still cannot sign in.
          </p>
          <button type="button" onClick={startEnrolment} disabled={busy} className={primaryButtonClass}>
            {busy && !stepUp.prompting ? "Starting…" : "Set up two-factor authentication"}
          </button>
        </>
      )}

      {view.name === "summary" && status.enabled && (
        <>
          <p ref={(el) => void (title.current = el)} tabIndex={-1} className="text-sm text-slate-900">
            <strong>Two-factor authentication is on.</strong> Signing in asks for a code from your
            authenticator app after your password.
          </p>
          <dl className="divide-y divide-slate-200 text-sm">
            {status.enabled_at && (
              <div className="grid grid-cols-1 gap-1 py-2 sm:grid-cols-3 sm:gap-4">
                <dt className="font-medium text-slate-600">Turned on</dt>
                <dd className="text-slate-900 sm:col-span-2">
                  <time dateTime={status.enabled_at}>{enabledOn.format(new Date(status.enabled_at))}</time>
                </dd>
              </div>
            )}
            <div className="grid grid-cols-1 gap-1 py-2 sm:grid-cols-3 sm:gap-4">
              <dt className="font-medium text-slate-600">Recovery codes left</dt>
              <dd className="text-slate-900 sm:col-span-2">
                {status.recovery_codes_left}
                {status.recovery_codes_left <= 3 && (
                  <span className="ml-2 font-medium text-red-800">
                    {status.recovery_codes_left === 0 ? "None left: " : "Running low: "}
                    generate new ones.
                  </span>
                )}
              </dd>
            </div>
          </dl>
          <div className="flex flex-wrap gap-3">
            <button type="button" onClick={regenerate} disabled={busy} className={secondaryButtonClass}>
              Generate new recovery codes
            </button>
            <button
              type="button"
              onClick={() => {
                setError(null);
                setNotice("");
                setView({ name: "confirm-disable" });
              }}
              disabled={busy}
              className={dangerButtonClass}
            >
              Turn off two-factor authentication
            </button>
          </div>
        </>
      )}

      {view.name === "enrol" && (
        <EnrolForm
          key={view.enrolment.secret}
          enrolment={view.enrolment}
          titleRef={title}
          onEnrolled={enrolled}
          onCancel={() => setView({ name: "summary" })}
          onExpired={(message) => {
            setView({ name: "summary" });
            setError(message);
          }}
        />
      )}

      {view.name === "codes" && (
        <div className="space-y-3">
          <h3
            ref={(el) => void (title.current = el)}
            tabIndex={-1}
            className="text-base font-semibold text-slate-900"
          >
            {view.reason === "enabled"
              ? "Two-factor authentication is on. Save your recovery codes"
              : "Your new recovery codes"}
          </h3>
          <p className="rounded-md border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-950">
            Store these codes somewhere safe, such as your password manager. If you lose your phone, each
            code signs you in once. <strong>This is the only time they are shown.</strong>
            {view.reason === "regenerated" && " Your old recovery codes no longer work."}
          </p>
          <ul
            data-testid="recovery-codes"
            aria-label="Recovery codes"
            className="grid max-w-sm grid-cols-2 gap-2 font-mono text-sm text-slate-900"
          >
            {view.codes.map((code) => (
              <li key={code} className="rounded bg-slate-100 px-2 py-1 text-center">
                {code}
              </li>
            ))}
          </ul>
          <div className="flex flex-wrap items-center gap-3">
            <a
              href={`data:text/plain;charset=utf-8,${encodeURIComponent(view.codes.join("\n") + "\n")}`}
              download="authflow-recovery-codes.txt"
              className="text-sm"
            >
              Download the codes
            </a>
            <button
              type="button"
              onClick={() => setView({ name: "summary" })}
              className={primaryButtonClass}
            >
              Done
            </button>
          </div>
        </div>
      )}

      {view.name === "confirm-disable" && (
        <div className="space-y-3">
          <h3
            ref={(el) => void (title.current = el)}
            tabIndex={-1}
            className="text-base font-semibold text-slate-900"
          >
            Turn off two-factor authentication?
          </h3>
          <p className="text-sm text-slate-700">
            Signing in will need only your password, and your recovery codes will stop working.
          </p>
          <div className="flex flex-wrap gap-3">
            <button type="button" onClick={disable} disabled={busy} className={dangerButtonClass}>
              {busy && !stepUp.prompting ? "Turning off…" : "Turn off"}
            </button>
            <button
              type="button"
              onClick={() => {
                stepUp.cancel();
                setView({ name: "summary" });
              }}
              className={secondaryButtonClass}
            >
              Keep it on
            </button>
          </div>
        </div>
      )}

      <StepUpForm stepUp={stepUp} />
    </div>
  );
}

function EnrolForm({
  enrolment,
  titleRef,
  onEnrolled,
  onCancel,
  onExpired,
}: {
  enrolment: TwoFactorEnrolment;
  titleRef: React.RefObject<HTMLElement | null>;
  onEnrolled: (codes: string[]) => void;
  onCancel: () => void;
  onExpired: (message: string) => void;
}) {
  const [code, setCode] = useState("");
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);

  async function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    setError(null);
    setPending(true);
    try {
      const body: TwoFactorCodeRequest = { code: code.replace(/\s+/g, "") };
      const result = await apiFetch<RecoveryCodes>("/api/auth/2fa/enrol/confirm", {
        method: "POST",
        json: body,
      });
      onEnrolled(result.recovery_codes);
    } catch (err) {
      setPending(false);
      setCode("");
      if (err instanceof ApiError && err.code === "TWO_FACTOR_ENROLMENT_NOT_STARTED") {
        onExpired("The setup timed out before it was finished. Start again to get a new QR code.");
        return;
      }
      if (err instanceof ApiError && err.code === "TWO_FACTOR_ALREADY_ENABLED") {
        onExpired("Two-factor authentication is already on. Reload the page to see its settings.");
        return;
      }
      setError(
        err instanceof ApiError && err.code === "TWO_FACTOR_CODE_INVALID"
          ? "That code is not right. Enter the current 6-digit code from your authenticator app."
          : errorMessage(err),
      );
      input.current?.focus();
    }
  }

  const src = `data:image/svg+xml;utf8,${encodeURIComponent(enrolment.qr_svg)}`;
  return (
    <div className="space-y-4">
      <h3
        ref={(el) => void (titleRef.current = el)}
        tabIndex={-1}
        className="text-base font-semibold text-slate-900"
      >
        Set up your authenticator app
      </h3>
      <ol className="list-decimal space-y-4 pl-5 text-sm text-slate-900">
        <li>
          <p>
            Scan this QR code with an authenticator app, such as your password manager, Google
            Authenticator or Microsoft Authenticator.
          </p>
          {/* A data: URI of the API's SVG; next/image adds nothing here. */}
          {/* eslint-disable-next-line @next/next/no-img-element */}
          <img
            src={src}
            alt="QR code for your authenticator app"
            width={192}
            height={192}
            className="mt-3 h-48 w-48 rounded border border-slate-200 bg-white p-2"
          />
          <p className="mt-3">
            Can&apos;t scan it? Enter this key in the app instead:{" "}
            <code data-testid="totp-secret" className="rounded bg-slate-100 px-1.5 py-0.5 font-mono break-all">
              {grouped(enrolment.secret)}
            </code>{" "}
            (or <a href={enrolment.otpauth_uri}>open it in an app on this device</a>).
          </p>
        </li>
        <li>
          <form method="post" onSubmit={handleSubmit} className="max-w-xs space-y-3" aria-busy={pending}>
            {error && (
              <div id="enrol-code-error" role="alert" className={alertClass}>
                {error}
              </div>
            )}
            <div>
              <label htmlFor="enrol-code" className={labelClass}>
                Code from the app
              </label>
              <input
                ref={input}
                id="enrol-code"
                name="code"
                type="text"
                inputMode="numeric"
                autoComplete="one-time-code"
                spellCheck={false}
                required
                value={code}
                onChange={(e) => setCode(e.target.value)}
                aria-invalid={error ? true : undefined}
                aria-describedby={error ? "enrol-code-hint enrol-code-error" : "enrol-code-hint"}
                className={`${inputClass} mt-1`}
              />
              <p id="enrol-code-hint" className={hintClass}>
                The 6-digit code the app shows for Authflow.
              </p>
            </div>
            <div className="flex gap-3">
              <button type="submit" disabled={pending} className={primaryButtonClass}>
                {pending ? "Turning on…" : "Turn on"}
              </button>
              <button type="button" onClick={onCancel} disabled={pending} className={secondaryButtonClass}>
                Cancel
              </button>
            </div>
          </form>
        </li>
      </ol>
    </div>
  );
}
