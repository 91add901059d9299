import type { Metadata } from "next";
import Link from "next/link";

import { AdminGate } from "@/components/admin/admin-gate";
import { AdminNav } from "@/components/admin/admin-nav";
import { EventTable } from "@/components/admin/event-table";
import { formatMoment } from "@/components/admin/format";
import { UserActions } from "@/components/admin/user-actions";
import { UserSessions } from "@/components/admin/user-sessions";
import { adminGetUser } from "@/lib/admin";

export const metadata: Metadata = {
  title: "User · Admin",
};

const sectionClass = "mt-8 rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200";

function yesNo(value: boolean, yes: string, no: string) {
  return value ? yes : <span className="font-medium text-red-800">{no}</span>;
}

export default async function AdminUserPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const result = await adminGetUser(id);

  if (result.status !== "ok") {
    return (
      <>
        <h1 className="text-3xl font-bold text-slate-900">Admin</h1>
        <AdminNav current={null} />
        <AdminGate result={result} resetHref="/admin" />
      </>
    );
  }

  const { user, sessions, events } = result.data;
  const rows: { term: string; value: React.ReactNode }[] = [
    { term: "Username", value: user.username },
    {
      term: "Email",
      value: user.email ? (
        <>
          {user.email}{" "}
          <span className="text-slate-600">{user.is_verified ? "(confirmed)" : "(not confirmed)"}</span>
        </>
      ) : (
        <span className="text-slate-600">Not set</span>
      ),
    },
    { term: "Full name", value: user.full_name ?? <span className="text-slate-600">Not set</span> },
    { term: "Status", value: yesNo(user.is_active, "Active", "Disabled") },
    { term: "Role", value: user.is_admin ? "Administrator" : "User" },
    { term: "Two-factor", value: user.two_factor_enabled ? "On" : "Off" },
    {
      term: "Created",
      value: <time dateTime={user.created_at}>{formatMoment(user.created_at)}</time>,
    },
    {
      term: "Last sign-in",
      value: user.last_login_at ? (
        <time dateTime={user.last_login_at}>{formatMoment(user.last_login_at)}</time>
      ) : (
        "Never"
      ),
    },
    { term: "Account ID", value: <span className="font-mono text-xs break-all">{user.id}</span> },
  ];

  return (
    <>
      <p className="text-sm">
        <Link href="/admin">All users</Link>
      </p>
      <h1 className="mt-2 text-3xl font-bold break-all text-slate-900">{user.username}</h1>
      <AdminNav current={null} />
      <section aria-labelledby="profile-heading" className={sectionClass}>
        <h2 id="profile-heading" className="text-lg font-semibold text-slate-900">
          Profile
        </h2>
        <dl className="mt-4 divide-y divide-slate-200">
          {rows.map((row) => (
            <div key={row.term} className="grid grid-cols-1 gap-1 py-3 sm:grid-cols-3 sm:gap-4">
              <dt className="text-sm font-medium text-slate-600">{row.term}</dt>
              <dd className="text-sm text-slate-900 sm:col-span-2">{row.value}</dd>
            </div>
          ))}
        </dl>
      </section>
      <section aria-labelledby="actions-heading" className={sectionClass}>
        <h2 id="actions-heading" className="text-lg font-semibold text-slate-900">
          Actions
        </h2>
        <UserActions user={user} />
      </section>
      <section aria-labelledby="sessions-heading" className={sectionClass}>
        <h2 id="sessions-heading" className="text-lg font-semibold text-slate-900">
          Sessions
        </h2>
        <UserSessions userId={user.id} username={user.username} sessions={sessions} />
      </section>
      <section aria-labelledby="events-heading" className={sectionClass}>
        <h2 id="events-heading" className="text-lg font-semibold text-slate-900">
          Recent events
        </h2>
        {events.length === 0 ? (
          <p className="mt-4 text-sm text-slate-600">Nothing yet.</p>
        ) : (
          <EventTable events={events} caption={`Newest events of ${user.username}`} showAccount={false} />
        )}
        <p className="mt-4 text-sm">
          <Link href={`/admin/events?user_id=${encodeURIComponent(user.id)}`}>All events of this account</Link>
        </p>
      </section>
    </>
  );
}
