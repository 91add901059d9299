// Times in the admin console: UTC, to the minute, the same on every page.
const moment = new Intl.DateTimeFormat("en-GB", {
  dateStyle: "medium",
  timeStyle: "short",
  timeZone: "UTC",
});

export function formatMoment(iso: string): string {
  return `${moment.format(new Date(iso))} UTC`;
}
