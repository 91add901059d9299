import { NavLink } from "@/components/nav-link";
import { getCurrentUser } from "@/lib/dal";

/** The main navigation's "Admin" entry, for administrators only. A convenience, not a
 * check: the admin pages and the API decide for themselves. Uses the user the page
 * fetches anyway (memoised per request). */
export async function AdminNavLink() {
  let isAdmin = false;
  try {
    isAdmin = (await getCurrentUser())?.is_superuser ?? false;
  } catch {
    // The page itself reports an API that cannot be reached.
  }
  if (!isAdmin) return null;
  return (
    <li>
      <NavLink href="/admin">Admin</NavLink>
    </li>
  );
}
