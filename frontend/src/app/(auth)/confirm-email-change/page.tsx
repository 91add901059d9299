import type { Metadata } from "next";
import Link from "next/link";

import { ConfirmEmailChange } from "@/components/account/confirm-email-change";

export const metadata: Metadata = {
  title: "Confirm your new email address",
  // The URL carries a token: keep it out of other sites' logs.
  referrer: "no-referrer",
};

export default async function ConfirmEmailChangePage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const { token } = await searchParams;
  return (
    <>
      <h1 className="text-2xl font-bold text-slate-900">Confirm your new email address</h1>
      {typeof token === "string" && token.length > 0 && token.length <= 256 ? (
        <ConfirmEmailChange token={token} />
      ) : (
        <>
          <p role="alert" className="mt-4 text-slate-700">
            This link is incomplete. Open the whole link from the email, or ask for a new one from
            your account.
          </p>
          <p className="mt-6 text-sm">
            <Link href="/account">Go to your account</Link>
          </p>
        </>
      )}
    </>
  );
}
