import type { Metadata } from "next";
import Link from "next/link";

export const metadata: Metadata = {
  title: "Reset your password",
};

export default function ForgotPasswordPage() {
  return (
    <>
      <h1 className="text-2xl font-bold text-slate-900">Reset your password</h1>
      <p className="mt-4 text-slate-700">
        Password reset by email is coming: you will enter your email and receive a link valid for 30
        minutes.
      </p>
      <p className="mt-6 text-sm">
        <Link href="/login">Back to sign in</Link>
      </p>
    </>
  );
}
