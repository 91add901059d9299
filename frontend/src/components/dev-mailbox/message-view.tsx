import { formatTime, statusBadgeClass } from "@/components/dev-mailbox/format";
import type { MailboxMessageDetail } from "@/lib/api/types";

// http(s) URLs in the plain-text part; a trailing full stop, comma or bracket is
// punctuation, not part of the link.
const URL_PATTERN = /https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

/** The text part with its links as ordinary anchors: they point at this web app
 * (/verify-email?token=...), so they open in this tab like any other link. */
function TextWithLinks({ text }: { text: string }) {
  const parts: React.ReactNode[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const start = match.index;
    parts.push(text.slice(last, start));
    parts.push(
      <a key={start} href={match[0]} className="break-all">
        {match[0]}
      </a>,
    );
    last = start + match[0].length;
  }
  parts.push(text.slice(last));
  return <>{parts}</>;
}

/**
 * The HTML part as the iframe's document, with `<base target="_blank">` so its links
 * open in a new tab (the sandbox allows popups and lets them leave the sandbox): a link
 * followed inside the frame would load a page of this app, which refuses to be framed.
 */
function withLinksInNewTab(html: string): string {
  const base = '<base target="_blank">';
  for (const tag of [/<head\b[^>]*>/i, /<html\b[^>]*>/i, /<!doctype[^>]*>/i]) {
    const match = tag.exec(html);
    if (match) {
      const end = match.index + match[0].length;
      return html.slice(0, end) + base + html.slice(end);
    }
  }
  return base + html;
}

export function MessageView({ message }: { message: MailboxMessageDetail }) {
  return (
    <article aria-labelledby="message-subject" className="rounded-md border border-slate-200 bg-white p-6">
      <h2 id="message-subject" className="text-xl font-semibold text-slate-900">
        {message.subject}
      </h2>
      <dl className="mt-4 grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
        <dt className="font-medium text-slate-700">To</dt>
        <dd className="text-slate-900">{message.to_address}</dd>
        <dt className="font-medium text-slate-700">Queued</dt>
        <dd className="text-slate-900">
          <time dateTime={message.created_at}>{formatTime(message.created_at)}</time>
        </dd>
        <dt className="font-medium text-slate-700">Kind</dt>
        <dd className="font-mono text-slate-900">{message.kind}</dd>
        <dt className="font-medium text-slate-700">Status</dt>
        <dd>
          <span className={statusBadgeClass(message.status)}>{message.status}</span>
          <span className="ml-2 text-slate-700">
            {message.attempts} attempt{message.attempts === 1 ? "" : "s"}
          </span>
        </dd>
        {message.last_error && (
          <>
            <dt className="font-medium text-slate-700">Last error</dt>
            <dd className="break-words font-mono text-red-800">{message.last_error}</dd>
          </>
        )}
      </dl>

      <h3 className="mt-6 text-base font-semibold text-slate-900">Plain text</h3>
      <pre className="mt-2 whitespace-pre-wrap break-words rounded-md bg-slate-50 p-4 font-sans text-sm text-slate-900 ring-1 ring-slate-200">
        <TextWithLinks text={message.text_body} />
      </pre>

      <h3 className="mt-6 text-base font-semibold text-slate-900">HTML</h3>
      {/* No allow-scripts, no allow-same-origin: the message can run nothing and reach
          nothing of this page; its links open in a new tab. */}
      <iframe
        title={`HTML part of “${message.subject}”`}
        sandbox="allow-popups allow-popups-to-escape-sandbox"
        srcDoc={withLinksInNewTab(message.html_body)}
        className="mt-2 h-96 w-full rounded-md bg-white ring-1 ring-slate-200"
      />
    </article>
  );
}
