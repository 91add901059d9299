import Link from "next/link";

import { AdminNavLink } from "@/components/admin/admin-nav-link";
import { LogoutButton } from "@/components/auth/logout-button";
import { NavLink } from "@/components/nav-link";

// Layouts do not re-render on navigation, so this is not an auth check: every
// page under (app) calls requireUser() itself.
export default function AppLayout({ children }: Readonly<{ children: React.ReactNode }>) {
  return (
    <div className="min-h-screen">
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-3xl flex-wrap items-center justify-between gap-4 px-6 py-3">
          <div className="flex items-center gap-6">
            <Link href="/" className="text-lg font-bold text-slate-900 no-underline hover:no-underline">
              Authflow
            </Link>
            <nav aria-label="Main">
              <ul className="flex items-center gap-1">
                <li>
                  <NavLink href="/account">Account</NavLink>
                </li>
                <li>
                  <NavLink href="/notes">Notes</NavLink>
                </li>
                <AdminNavLink />
              </ul>
            </nav>
          </div>
          <LogoutButton />
        </div>
      </header>
      <main id="main-content" className="mx-auto max-w-3xl px-6 py-10">
        {children}
      </main>
    </div>
  );
}
