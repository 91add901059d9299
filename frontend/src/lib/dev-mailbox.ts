import "server-only";

import { notFound } from "next/navigation";

import { apiErrorFromResponse } from "@/lib/api/errors";
import type { MailboxMessage, MailboxMessageDetail } from "@/lib/api/types";
import { apiBaseUrl } from "@/lib/env";

// The development mailbox's data. The API serves /api/dev/mailbox only when it runs
// with AUTHFLOW_ENV=development; anywhere else the path is unknown (404), and so is
// the page that shows it. No cookies are sent: the mailbox needs no sign-in.

async function devGet(path: `/api/dev/mailbox${string}`): Promise<Response> {
  return fetch(`${apiBaseUrl()}${path}`, {
    headers: { Accept: "application/json" },
    cache: "no-store",
  });
}

/** The newest messages of the outbox, newest first; notFound() outside development. */
export async function listMailbox(): Promise<MailboxMessage[]> {
  const response = await devGet("/api/dev/mailbox?limit=50");
  if (response.status === 404) notFound();
  if (!response.ok) throw await apiErrorFromResponse(response);
  return (await response.json()) as MailboxMessage[];
}

/** One message with both parts, or null when there is no such message (or the id is
 * not one at all). */
export async function readMailboxMessage(id: string): Promise<MailboxMessageDetail | null> {
  const response = await devGet(`/api/dev/mailbox/${encodeURIComponent(id)}`);
  if (response.status === 404 || response.status === 422) return null;
  if (!response.ok) throw await apiErrorFromResponse(response);
  return (await response.json()) as MailboxMessageDetail;
}
