import Link from "next/link";

const LINKS = [
  { key: "users", href: "/admin", label: "Users" },
  { key: "events", href: "/admin/events", label: "Events" },
] as const;

/** Tabs between the admin console's lists. */
export function AdminNav({ current }: { current: (typeof LINKS)[number]["key"] | null }) {
  return (
    <nav aria-label="Admin" className="mt-4 border-b border-slate-200">
      <ul className="-mb-px flex gap-4">
        {LINKS.map((link) => (
          <li key={link.key}>
            <Link
              href={link.href}
              aria-current={current === link.key ? "page" : undefined}
              className={`inline-block border-b-2 px-1 py-2 text-sm font-medium no-underline hover:no-underline ${
                current === link.key
                  ? "border-indigo-700 text-indigo-800"
                  : "border-transparent text-slate-700 hover:border-slate-400 hover:text-slate-900"
              }`}
            >
              {link.label}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}
