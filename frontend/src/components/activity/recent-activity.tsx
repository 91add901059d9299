"use client";

import { useState } from "react";

import { secondaryButtonClass } from "@/components/ui/styles";
import { ApiError, apiFetch } from "@/lib/api/client";
import type { ActivityPage, ActivityRead } from "@/lib/api/types";
import { eventLabel } from "@/lib/event-labels";

const when = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

function Event({ event }: { event: ActivityRead }) {
  const alarming =
    event.kind === "login_failed" ||
    event.kind === "refresh_reuse_detected" ||
    event.kind === "two_factor_failed";
  return (
    <li className="flex flex-col gap-0.5 py-3 sm:flex-row sm:items-baseline sm:justify-between">
      <span className={alarming ? "font-medium text-red-800" : "text-slate-900"}>
        {eventLabel(event.kind)}
        {event.this_session && <span className="ml-2 text-sm text-slate-600">(this session)</span>}
      </span>
      <span className="text-sm text-slate-600">
        <time dateTime={event.occurred_at}>{when.format(new Date(event.occurred_at))} UTC</time>
        {" · "}
        {event.browser} on {event.device}
        {event.ip ? ` · ${event.ip}` : ""}
      </span>
    </li>
  );
}

/** The account's security events, newest first, with older ones on demand. */
export function RecentActivity({ initial }: { initial: ActivityPage }) {
  const [events, setEvents] = useState(initial.events);
  const [before, setBefore] = useState(initial.next_before);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");

  async function showOlder() {
    if (before === null) return;
    setBusy(true);
    setError("");
    try {
      const page = await apiFetch<ActivityPage>(`/api/me/activity?limit=10&before=${before}`);
      setEvents((shown) => [...shown, ...page.events]);
      setBefore(page.next_before);
    } catch (err) {
      setError(err instanceof ApiError ? err.detail : "Something went wrong. Please try again.");
    } finally {
      setBusy(false);
    }
  }

  if (events.length === 0) return <p className="mt-4 text-sm text-slate-600">Nothing yet.</p>;
  return (
    <>
      <ul aria-label="Recent activity" className="mt-2 divide-y divide-slate-200">
        {events.map((event) => (
          <Event key={event.id} event={event} />
        ))}
      </ul>
      {error && (
        <p role="alert" className="mt-2 text-sm text-red-800">
          {error}
        </p>
      )}
      {before !== null && (
        <button type="button" className={`mt-4 ${secondaryButtonClass}`} onClick={showOlder} disabled={busy}>
          {busy ? "Loading…" : "Show older"}
        </button>
      )}
    </>
  );
}
