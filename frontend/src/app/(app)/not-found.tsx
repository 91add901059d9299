import type { Metadata } from "next";
import Link from "next/link";

export const metadata: Metadata = {
  title: "Page not found",
};

// A page under this layout that calls notFound() (an admin page seen by someone who is not
// an administrator, for one) says the same as app/not-found.tsx, inside the layout's <main>.
export default function NotFound() {
  return (
    <>
      <h1 className="text-3xl font-bold text-slate-900">Page not found</h1>
      <p className="mt-4 text-slate-700">The page you asked for does not exist or has moved.</p>
      <p className="mt-6">
        <Link href="/">Go to the home page</Link>
      </p>
    </>
  );
}
