import Link from "next/link";

import { formatTime, statusBadgeClass } from "@/components/dev-mailbox/format";
import type { MailboxMessage } from "@/lib/api/types";

export function MessageList({
  messages,
  openId,
}: {
  messages: MailboxMessage[];
  openId: string | null;
}) {
  if (messages.length === 0) {
    return (
      <div className="rounded-md border border-dashed border-slate-400 bg-white px-4 py-6 text-sm text-slate-700">
        <p className="font-medium text-slate-900">No messages yet.</p>
        <p className="mt-1">
          Sign up with an email address or ask for a password reset, then refresh this page.
        </p>
      </div>
    );
  }
  return (
    <ul aria-label="Messages, newest first" className="divide-y divide-slate-200 rounded-md border border-slate-200 bg-white">
      {messages.map((message) => {
        const open = message.id === openId;
        return (
          <li key={message.id}>
            <Link
              href={`/dev/mailbox?id=${encodeURIComponent(message.id)}`}
              aria-current={open ? "true" : undefined}
              className={`block px-4 py-3 text-slate-900 no-underline hover:bg-slate-100 hover:text-slate-900 hover:no-underline ${
                open ? "bg-indigo-50" : ""
              }`}
            >
              <span className="flex items-center justify-between gap-2">
                <span className="truncate text-sm font-medium">{message.to_address}</span>
                <span className={statusBadgeClass(message.status)}>{message.status}</span>
              </span>
              <span className="mt-1 block text-sm text-slate-800">{message.subject}</span>
              <span className="mt-1 block text-xs text-slate-700">
                <time dateTime={message.created_at}>{formatTime(message.created_at)}</time>
              </span>
            </Link>
          </li>
        );
      })}
    </ul>
  );
}
