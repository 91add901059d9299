import Link from "next/link";

import { formatMoment } from "@/components/admin/format";
import type { AdminEventRow } from "@/lib/api/types";
import { eventLabel } from "@/lib/event-labels";

const ALARMING = new Set(["login_failed", "refresh_reuse_detected", "two_factor_failed", "throttled"]);

function describeDetail(event: AdminEventRow): string {
  const detail = event.detail;
  if (!detail) return "";
  const parts: string[] = [];
  if (typeof detail.actor_username === "string") parts.push(`by ${detail.actor_username}`);
  for (const [key, value] of Object.entries(detail)) {
    if (key === "actor_id" || key === "actor_username" || value === null) continue;
    parts.push(`${key.replaceAll("_", " ")}: ${typeof value === "object" ? JSON.stringify(value) : String(value)}`);
  }
  return parts.join("; ");
}

function Account({ event }: { event: AdminEventRow }) {
  if (event.user_id === null) return <span className="text-slate-600">None</span>;
  if (event.username === null) return <span className="text-slate-600">Deleted account</span>;
  return <Link href={`/admin/users/${event.user_id}`}>{event.username}</Link>;
}

/** Audit events, newest first, as a table. */
export function EventTable({
  events,
  caption,
  showAccount = true,
}: {
  events: AdminEventRow[];
  caption: string;
  showAccount?: boolean;
}) {
  return (
    <div className="mt-4 overflow-x-auto">
      <table className="w-full text-left text-sm">
        <caption className="sr-only">{caption}</caption>
        <thead className="border-b border-slate-300 text-slate-700">
          <tr>
            <th scope="col" className="py-2 pr-4 font-semibold">
              When
            </th>
            <th scope="col" className="py-2 pr-4 font-semibold">
              Event
            </th>
            {showAccount && (
              <th scope="col" className="py-2 pr-4 font-semibold">
                Account
              </th>
            )}
            <th scope="col" className="py-2 pr-4 font-semibold">
              Address
            </th>
            <th scope="col" className="py-2 font-semibold">
              Details
            </th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-200">
          {events.map((event) => (
            <tr key={event.id} className="align-top">
              <td className="whitespace-nowrap py-2 pr-4 text-slate-700">
                <time dateTime={event.occurred_at}>{formatMoment(event.occurred_at)}</time>
              </td>
              <td className={`py-2 pr-4 ${ALARMING.has(event.kind) ? "font-medium text-red-800" : "text-slate-900"}`}>
                {eventLabel(event.kind)}
              </td>
              {showAccount && (
                <td className="py-2 pr-4">
                  <Account event={event} />
                </td>
              )}
              <td className="py-2 pr-4 text-slate-700">{event.ip ?? "Unknown"}</td>
              <td className="py-2 break-words text-slate-700">{describeDetail(event)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
