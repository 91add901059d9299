import type { Metadata } from "next";
import Form from "next/form";
import Link from "next/link";

import { AdminGate } from "@/components/admin/admin-gate";
import { AdminNav } from "@/components/admin/admin-nav";
import { EventTable } from "@/components/admin/event-table";
import { inputClass, labelClass, primaryButtonClass } from "@/components/ui/styles";
import { adminListEvents, eventsPageUrl, parseEventQuery, type SearchParams } from "@/lib/admin";
import { EVENT_LABELS } from "@/lib/event-labels";

export const metadata: Metadata = {
  title: "Events · Admin",
};

const KINDS = Object.entries(EVENT_LABELS).sort(([, a], [, b]) => a.localeCompare(b));

export default async function AdminEventsPage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const query = parseEventQuery(await searchParams);
  const result = await adminListEvents(query);
  const { filters } = query;
  // A kind this page has no name for (newer than it) still shows as chosen.
  const kinds = filters.kind && !EVENT_LABELS[filters.kind] ? [...KINDS, [filters.kind, filters.kind]] : KINDS;

  return (
    <>
      <h1 className="text-3xl font-bold text-slate-900">Admin</h1>
      <AdminNav current="events" />
      {result.status !== "ok" ? (
        <AdminGate result={result} resetHref="/admin/events" />
      ) : (
        <section aria-labelledby="events-heading" className="mt-6 rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200">
          <h2 id="events-heading" className="text-lg font-semibold text-slate-900">
            Events
          </h2>
          <p className="mt-1 text-sm text-slate-600">The audit trail of every account, newest first. Times are UTC.</p>
          <Form action="/admin/events" prefetch={false} role="search" aria-label="Events" className="mt-4 space-y-4">
            <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
              <div>
                <label htmlFor="event-kind" className={labelClass}>
                  Event
                </label>
                <select id="event-kind" name="kind" defaultValue={filters.kind ?? ""} className={`${inputClass} mt-1`}>
                  <option value="">Any</option>
                  {kinds.map(([kind, label]) => (
                    <option key={kind} value={kind}>
                      {label}
                    </option>
                  ))}
                </select>
              </div>
              <div>
                <label htmlFor="event-user" className={labelClass}>
                  Account ID
                </label>
                <input
                  id="event-user"
                  name="user_id"
                  defaultValue={filters.user_id ?? ""}
                  autoComplete="off"
                  spellCheck={false}
                  className={`${inputClass} mt-1 font-mono`}
                />
              </div>
              <div>
                <label htmlFor="event-ip" className={labelClass}>
                  IP address
                </label>
                <input
                  id="event-ip"
                  name="ip"
                  defaultValue={filters.ip ?? ""}
                  autoComplete="off"
                  spellCheck={false}
                  className={`${inputClass} mt-1`}
                />
              </div>
              <div />
              <div>
                <label htmlFor="event-since" className={labelClass}>
                  From (UTC)
                </label>
                <input
                  id="event-since"
                  name="since"
                  type="datetime-local"
                  defaultValue={filters.since ?? ""}
                  className={`${inputClass} mt-1`}
                />
              </div>
              <div>
                <label htmlFor="event-until" className={labelClass}>
                  Until (UTC)
                </label>
                <input
                  id="event-until"
                  name="until"
                  type="datetime-local"
                  defaultValue={filters.until ?? ""}
                  className={`${inputClass} mt-1`}
                />
              </div>
            </div>
            <div className="flex flex-wrap items-center gap-4">
              <button type="submit" className={primaryButtonClass}>
                Filter
              </button>
              {Object.keys(filters).length > 0 && (
                <Link href="/admin/events" className="text-sm">
                  Clear filters
                </Link>
              )}
            </div>
          </Form>

          {result.data.items.length === 0 ? (
            <p role="status" className="mt-6 text-sm text-slate-700">
              No events match.
            </p>
          ) : (
            <EventTable events={result.data.items} caption="Events, newest first" />
          )}
          {(query.before || result.data.next_before !== null) && (
            <nav aria-label="Pages of events" className="mt-4 flex gap-4 text-sm">
              {query.before && <Link href={eventsPageUrl(query, "")}>Newest</Link>}
              {result.data.next_before !== null && (
                <Link href={eventsPageUrl(query, String(result.data.next_before))}>Older</Link>
              )}
            </nav>
          )}
        </section>
      )}
    </>
  );
}
