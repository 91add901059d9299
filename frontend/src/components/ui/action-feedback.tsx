import { alertClass } from "@/components/ui/styles";

/** What an action just did: an error as an alert, or a success line in a status region
 * that stays in the page (empty, visually hidden) so screen readers announce changes. */
export function ActionFeedback({ error, status }: { error: string | null; status: string }) {
  return (
    <>
      {error && (
        <div role="alert" className={alertClass}>
          {error}
        </div>
      )}
      <p role="status" className={status ? "text-sm text-emerald-800" : "sr-only"}>
        {status}
      </p>
    </>
  );
}
