import Link from "next/link";

export default function AuthLayout({ children }: Readonly<{ children: React.ReactNode }>) {
  return (
    <div className="flex min-h-screen flex-col items-center justify-center px-4 py-12">
      <header className="mb-6">
        <Link href="/" className="text-xl font-bold text-slate-900 no-underline hover:no-underline">
          Authflow
        </Link>
      </header>
      <main
        id="main-content"
        className="w-full max-w-md rounded-2xl bg-white p-8 shadow-sm ring-1 ring-slate-200"
      >
        {children}
      </main>
    </div>
  );
}
