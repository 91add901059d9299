"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";

import { PasswordStrengthMeter } from "@/components/auth/password-strength-meter";
import {
  alertClass,
  fieldErrorClass,
  hintClass,
  inputClass,
  labelClass,
  primaryButtonClass,
} from "@/components/ui/styles";
import { apiFetch } from "@/lib/api/client";
import type { SignupRequest, UserRead } from "@/lib/api/types";
import { formError, type FormError } from "@/lib/form-errors";

type Field = "username" | "email" | "password";

const FIELDS: readonly Field[] = ["username", "email", "password"];
const FIELD_LABELS: Record<Field, string> = {
  username: "Username",
  email: "Email",
  password: "Password",
};
// 409s carry no field list: the code says which field clashed.
const CONFLICT_FIELD: Partial<Record<string, Field>> = {
  USERNAME_TAKEN: "username",
  EMAIL_TAKEN: "email",
};

const ids = {
  username: "signup-username",
  email: "signup-email",
  password: "signup-password",
  passwordHint: "signup-password-hint",
  strength: "signup-password-strength",
};
const errorId = (field: Field) => `${ids[field]}-error`;

export function SignupForm() {
  const router = useRouter();
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<FormError<Field> | null>(null);
  const [pending, setPending] = useState(false);

  const fieldErrors = error?.fields ?? {};
  const emailLocalPart = email.split("@")[0] ?? "";

  async function handleSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (pending) return;
    const body: SignupRequest = { username: username.trim(), email: email.trim(), password };
    setError(null);
    setPending(true);
    try {
      await apiFetch<UserRead>("/api/auth/signup", { method: "POST", json: body });
      // The API has set the session cookie already.
      router.replace("/account");
      router.refresh();
    } catch (err) {
      setError(formError(err, FIELDS, CONFLICT_FIELD));
      setPending(false);
    }
  }

  function describedBy(field: Field, ...extra: string[]): string {
    return [...extra, fieldErrors[field] ? errorId(field) : null].filter(Boolean).join(" ");
  }

  function fieldError(field: Field) {
    const message = fieldErrors[field];
    return message ? (
      <p id={errorId(field)} className={fieldErrorClass}>
        {message}
      </p>
    ) : null;
  }

  // Field messages not already said by the summary line, for the summary list.
  const summaryItems = FIELDS.filter((f) => fieldErrors[f] && fieldErrors[f] !== error?.summary);

  return (
    // method="post" so a submit before hydration never puts the password in a URL.
    <form method="post" onSubmit={handleSubmit} className="mt-6 space-y-5" aria-busy={pending}>
      {error && (
        <div role="alert" className={alertClass}>
          <p>{error.summary}</p>
          {summaryItems.length > 0 && (
            <ul className="mt-2 list-disc space-y-1 pl-5">
              {summaryItems.map((field) => (
                <li key={field}>
                  <a href={`#${ids[field]}`} className="text-red-800 underline">
                    {FIELD_LABELS[field]}: {fieldErrors[field]}
                  </a>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}

      <div>
        <label htmlFor={ids.username} className={labelClass}>
          Username
        </label>
        <input
          id={ids.username}
          name="username"
          type="text"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          required
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          aria-invalid={fieldErrors.username ? true : undefined}
          aria-describedby={describedBy("username") || undefined}
          className={`${inputClass} mt-1`}
        />
        {fieldError("username")}
      </div>

      <div>
        <label htmlFor={ids.email} className={labelClass}>
          Email
        </label>
        <input
          id={ids.email}
          name="email"
          type="email"
          autoComplete="email"
          spellCheck={false}
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          aria-invalid={fieldErrors.email ? true : undefined}
          aria-describedby={describedBy("email") || undefined}
          className={`${inputClass} mt-1`}
        />
        {fieldError("email")}
      </div>

      <div>
        <label htmlFor={ids.password} className={labelClass}>
          Password
        </label>
        <input
          id={ids.password}
          name="password"
          type="password"
          autoComplete="new-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          aria-invalid={fieldErrors.password ? true : undefined}
          aria-describedby={describedBy("password", ids.passwordHint, ids.strength)}
          className={`${inputClass} mt-1`}
        />
        <p id={ids.passwordHint} className={hintClass}>
          At least 8 characters; 15 or more is better. Avoid common passwords and your username.
        </p>
        <PasswordStrengthMeter
          id={ids.strength}
          password={password}
          userInfo={[username, emailLocalPart]}
        />
        {fieldError("password")}
      </div>

      <button type="submit" disabled={pending} className={`${primaryButtonClass} w-full`}>
        {pending ? "Creating account…" : "Create account"}
      </button>

      <p className="text-center text-sm text-slate-700">
        Already have an account? <Link href="/login">Sign in</Link>
      </p>
    </form>
  );
}
