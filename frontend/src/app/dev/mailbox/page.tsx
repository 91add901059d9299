import type { Metadata } from "next";
import Link from "next/link";

import { MessageList } from "@/components/dev-mailbox/message-list";
import { MessageView } from "@/components/dev-mailbox/message-view";
import { RefreshButton } from "@/components/dev-mailbox/refresh-button";
import { formatTime } from "@/components/dev-mailbox/format";
import { listMailbox, readMailboxMessage } from "@/lib/dev-mailbox";

export const metadata: Metadata = {
  title: "Development mailbox",
  robots: { index: false, follow: false },
  // Opened messages hold live links with tokens; keep this page's URL to ourselves.
  referrer: "no-referrer",
};

// Exists only while the API runs with AUTHFLOW_ENV=development: listMailbox() calls
// notFound() when the API does not know the mailbox, so elsewhere this is a 404 like
// any unknown page. No sign-in: see docs/decisions.md "### Development mailbox".
export default async function DevMailboxPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const messages = await listMailbox();
  const { id } = await searchParams;
  const openId = typeof id === "string" && id.length > 0 ? id : null;
  const open = openId ? await readMailboxMessage(openId) : null;
  const checkedAt = new Date().toISOString();

  return (
    <div className="min-h-screen">
      <header className="border-b border-slate-200 bg-white">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center justify-between gap-4 px-6 py-3">
          <Link href="/" className="text-lg font-bold text-slate-900 no-underline hover:no-underline">
            Authflow
          </Link>
          <p className="rounded-full bg-amber-100 px-3 py-1 text-xs font-semibold text-amber-900">
            Development only
          </p>
        </div>
      </header>
      <main id="main-content" className="mx-auto max-w-6xl px-6 py-10">
        <div className="flex flex-wrap items-center justify-between gap-4">
          <h1 className="text-3xl font-bold text-slate-900">Development mailbox</h1>
          <RefreshButton />
        </div>
        <p className="mt-2 max-w-3xl text-slate-700">
          Every message the API has queued, newest first, whether or not it was delivered. Open one to
          follow its links here, without a mail server.
        </p>
        <p role="status" className="mt-1 text-sm text-slate-700">
          {messages.length === 1 ? "1 message" : `${messages.length} messages`} as of{" "}
          <time dateTime={checkedAt}>{formatTime(checkedAt)}</time>
        </p>

        <div className="mt-6 grid gap-6 lg:grid-cols-[22rem_minmax(0,1fr)]">
          <section aria-labelledby="messages-heading">
            <h2 id="messages-heading" className="sr-only">
              Messages
            </h2>
            <MessageList messages={messages} openId={openId} />
          </section>
          <div>
            {open ? (
              <MessageView message={open} />
            ) : openId ? (
              <p role="alert" className="rounded-md border border-slate-200 bg-white p-6 text-slate-700">
                That message is not in the outbox. Pick one from the list.
              </p>
            ) : messages.length > 0 ? (
              <p className="rounded-md border border-dashed border-slate-400 bg-white p-6 text-slate-700">
                Select a message to read it.
              </p>
            ) : null}
          </div>
        </div>
      </main>
    </div>
  );
}
