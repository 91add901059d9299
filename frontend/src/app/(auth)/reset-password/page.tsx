import type { Metadata } from "next";
import Link from "next/link";

import { ResetPasswordForm } from "@/components/account/reset-password-form";

export const metadata: Metadata = {
  title: "Choose a new password",
  // The URL carries a token: keep it out of other sites' logs.
  referrer: "no-referrer",
};

export default async function ResetPasswordPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { token } = await searchParams;
  return (
    <>
      <h1 className="text-2xl font-bold text-slate-900">Choose a new password</h1>
      {typeof token === "string" && token.length > 0 && token.length <= 256 ? (
        <ResetPasswordForm token={token} />
      ) : (
        <>
          <p role="alert" className="mt-4 text-slate-700">
            This link is incomplete. Open the whole link from the email, or ask for a new one.
          </p>
          <p className="mt-6 text-sm">
            <Link href="/forgot-password">Get a new reset link</Link>
          </p>
        </>
      )}
    </>
  );
}
