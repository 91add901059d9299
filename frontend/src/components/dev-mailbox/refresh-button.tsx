"use client";

import { useRouter } from "next/navigation";
import { useTransition } from "react";

import { secondaryButtonClass } from "@/components/ui/styles";

/** Renders the page again on the server, so newly queued messages show up. */
export function RefreshButton() {
  const router = useRouter();
  const [pending, startTransition] = useTransition();
  return (
    <button
      type="button"
      className={secondaryButtonClass}
      disabled={pending}
      onClick={() => startTransition(() => router.refresh())}
    >
      {pending ? "Refreshing…" : "Refresh"}
    </button>
  );
}
