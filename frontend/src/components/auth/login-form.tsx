"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState, type FormEvent } from "react";

import { ApiError, apiFetch } from "@/lib/api/client";
import type {
  LoginRequest,
  TwoFactorChallenge,
  TwoFactorCodeRequest,
  UserRead,
} from "@/lib/api/types";
import { safeNextPath } from "@/lib/safe-next";
import { alertClass, hintClass, inputClass, labelClass, primaryButtonClass } from "@/components/ui/styles";

function loginErrorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === "LOGIN_BAD_CREDENTIALS") return "Incorrect username/email or password.";
    return error.detail;
  }
  return "Something went wrong. Please try again.";
}

function isChallenge(result: UserRead | TwoFactorChallenge): result is TwoFactorChallenge {
  return "two_factor_required" in result && result.two_factor_required === true;
}

/**
 * Sign in: username or email and password, then, for accounts with two-factor
 * authentication, a code from the authenticator app (or a recovery code).
 */
export function LoginForm({ next }: { next: string | null }) {
  const [step, setStep] = useState<"password" | "code">("password");
  const [login, setLogin] = useState("");
  // Shown on the password step when the code step sends the user back.
  const [message, setMessage] = useState<string | null>(null);

  if (step === "code") {
    return (
      <CodeStep
        login={login}
        next={next}
        onBack={(why) => {
          setMessage(why);
          setStep("password");
        }}
      />
    );
  }
  return (
    <PasswordStep
      next={next}
      login={login}
      initialError={message}
      onChallenge={(name) => {
        setLogin(name);
        setMessage(null);
        setStep("code");
      }}
    />
  );
}

function PasswordStep({
  next,
  login,
  initialError,
  onChallenge,
}: {
  next: string | null;
  login: string;
  initialError: string | null;
  onChallenge: (login: string) => void;
}) {
  const router = useRouter();
  const [error, setError] = useState<string | null>(initialError);
  const [pending, setPending] = useState(false);
  const password = useRef<HTMLInputElement>(null);

  useEffect(() => {
    // Back from the code step: the username is filled in, the password is next.
    if (login) password.current?.focus();
  }, [login]);

  async function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    const data = new FormData(event.currentTarget);
    const body: LoginRequest = {
      login: String(data.get("login") ?? "").trim(),
      password: String(data.get("password") ?? ""),
      remember_me: data.get("remember_me") === "on",
    };
    setError(null);
    setPending(true);
    try {
      const result = await apiFetch<UserRead | TwoFactorChallenge>("/api/auth/login", {
        method: "POST",
        json: body,
      });
      if (isChallenge(result)) {
        // 202: the password was right; the API now wants the second factor.
        onChallenge(body.login);
        return;
      }
      // Stay "pending" while navigating away.
      router.replace(safeNextPath(next));
      router.refresh();
    } catch (err) {
      setError(loginErrorMessage(err));
      setPending(false);
    }
  }

  return (
    // method="post" so a submit before hydration never puts the password in a URL.
    <form method="post" onSubmit={handleSubmit} className="mt-6 space-y-5" aria-busy={pending}>
      {error && (
        <div role="alert" className={alertClass}>
          {error}
        </div>
      )}

      <div>
        <label htmlFor="login-login" className={labelClass}>
          Username or email
        </label>
        <input
          id="login-login"
          name="login"
          type="text"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          required
          defaultValue={login}
          className={`${inputClass} mt-1`}
        />
      </div>

      <div>
        <div className="flex items-baseline justify-between">
          <label htmlFor="login-password" className={labelClass}>
            Password
          </label>
          <Link href="/forgot-password" className="text-sm">
            Forgot your password?
          </Link>
        </div>
        <input
          ref={password}
          id="login-password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          className={`${inputClass} mt-1`}
        />
      </div>

      <div className="flex items-center gap-2">
        <input
          id="login-remember-me"
          name="remember_me"
          type="checkbox"
          className="h-4 w-4 rounded border-slate-400 accent-indigo-700"
        />
        <label htmlFor="login-remember-me" className="text-sm text-slate-800">
          Remember me
        </label>
      </div>

      <button type="submit" disabled={pending} className={`${primaryButtonClass} w-full`}>
        {pending ? "Signing in…" : "Sign in"}
      </button>

      <p className="text-center text-sm text-slate-700">
        New to Authflow? <Link href="/signup">Sign up</Link>
      </p>
    </form>
  );
}

const CODE_COPY = {
  app: {
    label: "Authentication code",
    hint: "Enter the 6-digit code from your authenticator app.",
    toggle: "Use a recovery code instead",
  },
  recovery: {
    label: "Recovery code",
    hint: "Enter one of the recovery codes you saved when you turned on two-factor authentication. Each one works once.",
    toggle: "Use your authenticator app instead",
  },
} as const;

function codeErrorMessage(error: unknown, recovery: boolean): string {
  if (error instanceof ApiError) {
    if (error.code === "TWO_FACTOR_CODE_INVALID") {
      return recovery
        ? "That recovery code is not right, or it has been used already."
        : "That code is not right. Enter the code your app shows now.";
    }
    return error.detail;
  }
  return "Something went wrong. Please try again.";
}

function CodeStep({
  login,
  next,
  onBack,
}: {
  login: string;
  next: string | null;
  onBack: (message: string | null) => void;
}) {
  const router = useRouter();
  const [recovery, setRecovery] = useState(false);
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const copy = CODE_COPY[recovery ? "recovery" : "app"];

  useEffect(() => {
    input.current?.focus();
  }, [recovery]);

  async function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    const body: TwoFactorCodeRequest = { code: code.replace(/\s+/g, "") };
    setError(null);
    setPending(true);
    try {
      await apiFetch<UserRead>("/api/auth/login/2fa", { method: "POST", json: body });
      // Stay "pending" while navigating away.
      router.replace(safeNextPath(next));
      router.refresh();
    } catch (err) {
      if (err instanceof ApiError && err.code === "TWO_FACTOR_CHALLENGE_INVALID") {
        // Expired, already used, or too many wrong codes: start again from the password.
        onBack("Your sign-in timed out. Enter your password again.");
        return;
      }
      setError(codeErrorMessage(err, recovery));
      setCode("");
      setPending(false);
      input.current?.focus();
    }
  }

  return (
    <form method="post" onSubmit={handleSubmit} className="mt-6 space-y-5" aria-busy={pending}>
      {error && (
        <div id="login-code-error" role="alert" className={alertClass}>
          {error}
        </div>
      )}

      <p className="text-sm text-slate-700">
        Signing in as <strong className="font-semibold text-slate-900">{login}</strong>. Your account
        uses two-factor authentication.
      </p>

      <div>
        <label htmlFor="login-code" className={labelClass}>
          {copy.label}
        </label>
        <input
          ref={input}
          id="login-code"
          name="code"
          type="text"
          inputMode={recovery ? "text" : "numeric"}
          autoComplete={recovery ? "off" : "one-time-code"}
          autoCapitalize="none"
          spellCheck={false}
          required
          value={code}
          onChange={(e) => setCode(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? "login-code-hint login-code-error" : "login-code-hint"}
          className={`${inputClass} mt-1`}
        />
        <p id="login-code-hint" className={hintClass}>
          {copy.hint}
        </p>
        <button
          type="button"
          onClick={() => {
            setRecovery((r) => !r);
            setCode("");
            setError(null);
          }}
          className="mt-2 text-sm text-indigo-700 underline underline-offset-2 hover:text-indigo-900"
        >
          {copy.toggle}
        </button>
      </div>

      <button type="submit" disabled={pending} className={`${primaryButtonClass} w-full`}>
        {pending ? "Checking…" : "Verify"}
      </button>

      <p className="text-center text-sm">
        <button
          type="button"
          onClick={() => onBack(null)}
          className="text-indigo-700 underline underline-offset-2 hover:text-indigo-900"
        >
          Back
        </button>
      </p>
    </form>
  );
}
