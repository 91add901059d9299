"use client";

// Step-up re-authentication. Sensitive actions (two-factor settings, signing out every other
// session, and for two-factor accounts changing the password or email) answer 403
// STEP_UP_REQUIRED when this session has not proved who it is in the last few minutes.
// `useStepUp().run(action)` runs the action; on that answer it shows <StepUpForm> inline,
// posts /api/auth/step-up, and then runs the action once more, so the user never clicks twice.

import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from "react";

import {
  alertClass,
  hintClass,
  inputClass,
  labelClass,
  primaryButtonClass,
  secondaryButtonClass,
} from "@/components/ui/styles";
import { ApiError, apiFetch } from "@/lib/api/client";
import type { StepUpRequest, StepUpResponse } from "@/lib/api/types";

export const STEP_UP_REQUIRED = "STEP_UP_REQUIRED";

/** Thrown by `run` when the user cancels the prompt: nothing to report. */
export class StepUpCancelled extends Error {
  constructor() {
    super("Step-up cancelled");
    this.name = "StepUpCancelled";
  }
}

type Kind = "password" | "code";

interface Waiting {
  resolve: () => void;
  reject: (reason: unknown) => void;
}

export interface StepUp {
  /** Runs `action`; asks the user to confirm who they are first if the API wants that. */
  run: <T>(action: () => Promise<T>) => Promise<T>;
  /** The prompt is showing (the action waits for it). */
  prompting: boolean;
  /** What the prompt asks for. */
  kind: Kind;
  /** For <StepUpForm>: the re-authentication worked / the user gave up / it asks for the other kind. */
  succeeded: () => void;
  cancel: () => void;
  fail: (reason: unknown) => void;
  switchKind: (kind: Kind) => void;
}

export function useStepUp({ twoFactorEnabled }: { twoFactorEnabled: boolean }): StepUp {
  const waiting = useRef<Waiting | null>(null);
  const [prompting, setPrompting] = useState(false);
  // The API knows best: a 422 saying the account wants the other kind switches the prompt.
  const [override, setOverride] = useState<Kind | null>(null);
  const kind: Kind = override ?? (twoFactorEnabled ? "code" : "password");

  const settle = useCallback((how: (w: Waiting) => void) => {
    const current = waiting.current;
    waiting.current = null;
    setPrompting(false);
    if (current) how(current);
  }, []);

  const run = useCallback(
    async <T,>(action: () => Promise<T>): Promise<T> => {
      try {
        return await action();
      } catch (err) {
        if (!(err instanceof ApiError && err.code === STEP_UP_REQUIRED)) throw err;
      }
      // A prompt left open by an earlier action gives way to this one.
      waiting.current?.reject(new StepUpCancelled());
      await new Promise<void>((resolve, reject) => {
        waiting.current = { resolve, reject };
        setOverride(null);
        setPrompting(true);
      });
      return action();
    },
    [],
  );

  return {
    run,
    prompting,
    kind,
    succeeded: () => settle((w) => w.resolve()),
    cancel: () => settle((w) => w.reject(new StepUpCancelled())),
    fail: (reason) => settle((w) => w.reject(reason)),
    switchKind: setOverride,
  };
}

const COPY: Record<Kind, { label: string; hint: string; autoComplete: string }> = {
  password: {
    label: "Your password",
    hint: "For your security, enter your password again to continue.",
    autoComplete: "current-password",
  },
  code: {
    label: "Authentication code",
    hint: "For your security, enter the 6-digit code from your authenticator app (or one of your recovery codes) to continue.",
    autoComplete: "one-time-code",
  },
};

function stepUpErrorMessage(error: unknown, kind: Kind): string {
  if (!(error instanceof ApiError)) return "Something went wrong. Please try again.";
  if (error.code === "CURRENT_PASSWORD_INCORRECT") return "That password is not correct.";
  if (error.code === "TWO_FACTOR_CODE_INVALID") {
    return "That code is not right, or it has been used already. Enter the current code from your app.";
  }
  if (error.code === "VALIDATION_ERROR" && kind === "code") return "Enter the code from your authenticator app.";
  return error.detail;
}

/** Which kind a 422 from /api/auth/step-up asks for, if it names one. */
function kindAskedFor(error: ApiError, sent: Kind): Kind | null {
  if (error.code !== "VALIDATION_ERROR") return null;
  const fields = error.errors.map((e) => e.field.split(/[.\s→>/]+/).filter(Boolean).pop());
  if (fields.includes(sent)) return null; // the value itself was refused, not its kind
  if (fields.includes(sent === "code" ? "password" : "code")) return sent === "code" ? "password" : "code";
  return null;
}

/** The inline "confirm it's you" form; renders nothing unless `stepUp.prompting`. */
export function StepUpForm({ stepUp }: { stepUp: StepUp }) {
  if (!stepUp.prompting) return null;
  return <StepUpPrompt stepUp={stepUp} />;
}

function StepUpPrompt({ stepUp }: { stepUp: StepUp }) {
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const { kind } = stepUp;
  const copy = COPY[kind];

  useEffect(() => {
    input.current?.focus();
  }, [kind]);

  async function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    const body: StepUpRequest =
      kind === "password" ? { password: value } : { code: value.replace(/\s+/g, "") };
    setError(null);
    setPending(true);
    try {
      await apiFetch<StepUpResponse>("/api/auth/step-up", { method: "POST", json: body });
      stepUp.succeeded();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        // The session itself has ended: let the action's own error handling deal with it.
        stepUp.fail(err);
        return;
      }
      const other = err instanceof ApiError ? kindAskedFor(err, kind) : null;
      if (other) {
        stepUp.switchKind(other);
        setError(
          other === "code"
            ? "This account uses two-factor authentication: enter a code from your authenticator app."
            : "Enter your password.",
        );
      } else {
        setError(stepUpErrorMessage(err, kind));
      }
      setValue("");
      setPending(false);
      input.current?.focus();
    }
  }

  return (
    <form
      method="post"
      onSubmit={handleSubmit}
      aria-labelledby={`${id}-title`}
      aria-busy={pending}
      className="mt-4 max-w-md space-y-3 rounded-lg border border-amber-300 bg-amber-50 p-4"
    >
      <p id={`${id}-title`} className="text-sm font-semibold text-slate-900">
        Confirm it&apos;s you
      </p>
      {error && (
        <div role="alert" className={alertClass}>
          {error}
        </div>
      )}
      <div>
        <label htmlFor={`${id}-input`} className={labelClass}>
          {copy.label}
        </label>
        <input
          ref={input}
          id={`${id}-input`}
          name={kind}
          type={kind === "password" ? "password" : "text"}
          inputMode={kind === "code" ? "numeric" : undefined}
          autoComplete={copy.autoComplete}
          autoCapitalize="none"
          spellCheck={false}
          required
          value={value}
          onChange={(e) => setValue(e.target.value)}
          aria-describedby={`${id}-hint`}
          aria-invalid={error ? true : undefined}
          className={`${inputClass} mt-1`}
        />
        <p id={`${id}-hint`} className={hintClass}>
          {copy.hint}
        </p>
      </div>
      <div className="flex gap-2">
        <button type="submit" disabled={pending} className={primaryButtonClass}>
          {pending ? "Checking…" : "Continue"}
        </button>
        <button type="button" onClick={stepUp.cancel} disabled={pending} className={secondaryButtonClass}>
          Cancel
        </button>
      </div>
    </form>
  );
}
