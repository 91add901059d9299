import type { Metadata } from "next";

import { RecentActivity } from "@/components/activity/recent-activity";
import { ChangeEmailForm } from "@/components/account/change-email-form";
import { ChangePasswordForm } from "@/components/account/change-password-form";
import { TwoFactorSection } from "@/components/account/two-factor-section";
import { VerificationBanner } from "@/components/email/verification-banner";
import { SessionsList } from "@/components/sessions/sessions-list";
import { listSessions, recentActivity, requireUser, twoFactorStatus } from "@/lib/dal";

export const metadata: Metadata = {
  title: "Your account",
};

const memberSince = new Intl.DateTimeFormat("en-GB", { dateStyle: "long", timeZone: "UTC" });

export default async function AccountPage() {
  const user = await requireUser("/account");
  const [sessions, activity, twoFactor] = await Promise.all([
    listSessions("/account"),
    recentActivity("/account"),
    twoFactorStatus("/account"),
  ]);

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
    {
      term: "Member since",
      value: <time dateTime={user.created_at}>{memberSince.format(new Date(user.created_at))}</time>,
    },
  ];

  return (
    <>
      <h1 className="text-3xl font-bold text-slate-900">Your account</h1>
      {user.email && !user.is_verified && <VerificationBanner email={user.email} />}
      <section aria-labelledby="profile-heading" className="mt-8 rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200">
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
      <section aria-labelledby="email-heading" className="mt-8 rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200">
        <h2 id="email-heading" className="text-lg font-semibold text-slate-900">
          Email address
        </h2>
        <p className="mt-1 text-sm text-slate-600">
          We send a link to the new address; your address changes when you open it.
        </p>
        <ChangeEmailForm currentEmail={user.email} twoFactorEnabled={twoFactor.enabled} />
      </section>
      <section aria-labelledby="password-heading" className="mt-8 rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200">
        <h2 id="password-heading" className="text-lg font-semibold text-slate-900">
          Password
        </h2>
        <ChangePasswordForm
          username={user.username}
          email={user.email}
          twoFactorEnabled={twoFactor.enabled}
        />
      </section>
      <section id="two-factor" aria-labelledby="two-factor-heading" className="mt-8 rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200">
        <h2 id="two-factor-heading" className="text-lg font-semibold text-slate-900">
          Two-factor authentication
        </h2>
        <TwoFactorSection initialStatus={twoFactor} />
      </section>
      <section id="sessions" aria-labelledby="sessions-heading" className="mt-8 rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200">
        <h2 id="sessions-heading" className="text-lg font-semibold text-slate-900">
          Where you&apos;re signed in
        </h2>
        {/* Keyed by the ids so a refresh after a change (password changed, others signed out)
            shows the list anew rather than the client's earlier copy. */}
        <SessionsList
          key={sessions.map((s) => s.id).join()}
          initialSessions={sessions}
          twoFactorEnabled={twoFactor.enabled}
        />
      </section>
      <section aria-labelledby="activity-heading" className="mt-8 rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200">
        <h2 id="activity-heading" className="text-lg font-semibold text-slate-900">
          Recent activity
        </h2>
        <RecentActivity key={activity.events[0]?.id ?? 0} initial={activity} />
      </section>
    </>
  );
}
