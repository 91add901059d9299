import type { Metadata } from "next";
import Form from "next/form";
import Link from "next/link";

import { AdminGate } from "@/components/admin/admin-gate";
import { AdminNav } from "@/components/admin/admin-nav";
import { formatMoment } from "@/components/admin/format";
import { hintClass, inputClass, labelClass, primaryButtonClass } from "@/components/ui/styles";
import {
  adminListUsers,
  parseUserQuery,
  usersPageUrl,
  type SearchParams,
  type UserFilter,
} from "@/lib/admin";
import type { AdminUserRow } from "@/lib/api/types";

export const metadata: Metadata = {
  title: "Users · Admin",
};

const FILTERS: { name: UserFilter; label: string; yes: string; no: string }[] = [
  { name: "active", label: "Status", yes: "Active", no: "Disabled" },
  { name: "verified", label: "Email", yes: "Confirmed", no: "Not confirmed" },
  { name: "admin", label: "Role", yes: "Administrators", no: "Not administrators" },
  { name: "two_factor", label: "Two-factor", yes: "On", no: "Off" },
];

function Badges({ user }: { user: AdminUserRow }) {
  const badges: { text: string; tone: string }[] = [];
  badges.push(
    user.is_active
      ? { text: "Active", tone: "bg-emerald-100 text-emerald-900" }
      : { text: "Disabled", tone: "bg-red-100 text-red-900" },
  );
  if (user.is_admin) badges.push({ text: "Admin", tone: "bg-indigo-100 text-indigo-900" });
  if (user.two_factor_enabled) badges.push({ text: "Two-factor", tone: "bg-slate-200 text-slate-900" });
  if (user.email && !user.is_verified) {
    badges.push({ text: "Email not confirmed", tone: "bg-amber-100 text-amber-950" });
  }
  return (
    <ul className="flex flex-wrap gap-1">
      {badges.map((b) => (
        <li key={b.text} className={`rounded-full px-2 py-0.5 text-xs font-semibold ${b.tone}`}>
          {b.text}
        </li>
      ))}
    </ul>
  );
}

export default async function AdminUsersPage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const query = parseUserQuery(await searchParams);
  const result = await adminListUsers(query);

  return (
    <>
      <h1 className="text-3xl font-bold text-slate-900">Admin</h1>
      <AdminNav current="users" />
      {result.status !== "ok" ? (
        <AdminGate result={result} resetHref="/admin" />
      ) : (
        <section aria-labelledby="users-heading" className="mt-6 rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200">
          <h2 id="users-heading" className="text-lg font-semibold text-slate-900">
            Users
          </h2>
          {/* A GET form: the search lives in the URL, so every page of results is a link. */}
          <Form action="/admin" prefetch={false} role="search" aria-label="Users" className="mt-4 space-y-4">
            <div>
              <label htmlFor="user-search" className={labelClass}>
                Search users
              </label>
              <input
                id="user-search"
                name="q"
                type="search"
                defaultValue={query.q}
                maxLength={320}
                autoComplete="off"
                autoCapitalize="none"
                spellCheck={false}
                aria-describedby="user-search-hint"
                className={`${inputClass} mt-1`}
              />
              <p id="user-search-hint" className={hintClass}>
                The start of a username or email address.
              </p>
            </div>
            <div className="grid grid-cols-2 gap-4 sm:grid-cols-3">
              {FILTERS.map((filter) => (
                <div key={filter.name}>
                  <label htmlFor={`filter-${filter.name}`} className={labelClass}>
                    {filter.label}
                  </label>
                  <select
                    id={`filter-${filter.name}`}
                    name={filter.name}
                    defaultValue={query.filters[filter.name] ?? ""}
                    className={`${inputClass} mt-1`}
                  >
                    <option value="">Any</option>
                    <option value="true">{filter.yes}</option>
                    <option value="false">{filter.no}</option>
                  </select>
                </div>
              ))}
              <div>
                <label htmlFor="user-sort" className={labelClass}>
                  Sort by
                </label>
                <select id="user-sort" name="sort" defaultValue={query.sort} className={`${inputClass} mt-1`}>
                  <option value="created_at">Date created</option>
                  <option value="username">Username</option>
                </select>
              </div>
              <div>
                <label htmlFor="user-order" className={labelClass}>
                  Order
                </label>
                <select id="user-order" name="order" defaultValue={query.order} className={`${inputClass} mt-1`}>
                  <option value="desc">Descending (newest, Z to A)</option>
                  <option value="asc">Ascending (oldest, A to Z)</option>
                </select>
              </div>
            </div>
            <button type="submit" className={primaryButtonClass}>
              Search
            </button>
          </Form>

          {result.data.items.length === 0 ? (
            <p role="status" className="mt-6 text-sm text-slate-700">
              No accounts match.
            </p>
          ) : (
            <div className="mt-6 overflow-x-auto">
              <table className="w-full text-left text-sm">
                <caption className="sr-only">Accounts</caption>
                <thead className="border-b border-slate-300 text-slate-700">
                  <tr>
                    <th scope="col" className="py-2 pr-4 font-semibold">
                      User
                    </th>
                    <th scope="col" className="py-2 pr-4 font-semibold">
                      Status
                    </th>
                    <th scope="col" className="py-2 pr-4 font-semibold">
                      Created
                    </th>
                    <th scope="col" className="py-2 font-semibold">
                      Last sign-in
                    </th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-200">
                  {result.data.items.map((user) => (
                    <tr key={user.id} className="align-top">
                      <td className="py-2 pr-4">
                        <Link href={`/admin/users/${user.id}`} className="font-medium">
                          {user.username}
                        </Link>
                        <div className="break-all text-slate-700">{user.email ?? "No email address"}</div>
                      </td>
                      <td className="py-2 pr-4">
                        <Badges user={user} />
                      </td>
                      <td className="whitespace-nowrap py-2 pr-4 text-slate-700">
                        <time dateTime={user.created_at}>{formatMoment(user.created_at)}</time>
                      </td>
                      <td className="whitespace-nowrap py-2 text-slate-700">
                        {user.last_login_at ? (
                          <time dateTime={user.last_login_at}>{formatMoment(user.last_login_at)}</time>
                        ) : (
                          "Never"
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {(query.cursor || result.data.next_cursor) && (
            <nav aria-label="Pages of users" className="mt-4 flex gap-4 text-sm">
              {query.cursor && <Link href={usersPageUrl(query, "")}>First page</Link>}
              {result.data.next_cursor && (
                <Link href={usersPageUrl(query, result.data.next_cursor)}>Next page</Link>
              )}
            </nav>
          )}
        </section>
      )}
    </>
  );
}
