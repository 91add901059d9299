import Link from "next/link";

import { AdminStepUp } from "@/components/admin/admin-step-up";
import { alertClass } from "@/components/ui/styles";
import type { AdminResult } from "@/lib/admin";

/** What an admin page shows instead of its data when the API held it back. */
export function AdminGate({
  result,
  resetHref,
}: {
  result: Exclude<AdminResult<unknown>, { status: "ok" }>;
  /** Where the page starts afresh, for a link whose query the API refused. */
  resetHref: string;
}) {
  switch (result.status) {
    case "step-up":
      return <AdminStepUp detail={result.detail} />;
    case "two-factor":
      return (
        <div role="alert" className={`${alertClass} mt-6`}>
          <p>{result.detail}</p>
          <p className="mt-2">
            <Link href="/account#two-factor">Set up two-factor authentication on your account page</Link>
          </p>
        </div>
      );
    case "invalid":
      return (
        <div role="alert" className={`${alertClass} mt-6`}>
          <p>This link holds a value the server does not accept: {result.detail}</p>
          <p className="mt-2">
            <Link href={resetHref}>Start again without filters</Link>
          </p>
        </div>
      );
  }
}
