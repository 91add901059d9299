import type { MailboxMessage } from "@/lib/api/types";

// Shared by the list and the opened message, rendered on the server.

const timeFormat = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "medium",
  timeZone: "UTC",
});

export function formatTime(iso: string): string {
  return `${timeFormat.format(new Date(iso))} UTC`;
}

const STATUS_CLASS: Record<MailboxMessage["status"], string> = {
  pending: "bg-amber-100 text-amber-900",
  sent: "bg-emerald-100 text-emerald-900",
  dead: "bg-red-100 text-red-900",
};

export function statusBadgeClass(status: MailboxMessage["status"]): string {
  return `rounded-full px-2 py-0.5 text-xs font-semibold ${STATUS_CLASS[status]}`;
}
