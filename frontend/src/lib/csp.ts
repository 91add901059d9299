/**
 * The web app's Content-Security-Policy. Scripts run only with this response's nonce
 * (Next puts it on its own scripts, read from the request's copy of this header), and
 * 'strict-dynamic' lets those load the chunks they need; nothing inline without it.
 * Styles may be inline: Tailwind's output is a file, but the development mailbox shows
 * emails, whose styles are inline, and a style cannot run code.
 */
export function contentSecurityPolicy(nonce: string, development: boolean): string {
  return [
    "default-src 'self'",
    // `next dev` evaluates modules for fast refresh; a production build never does.
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${development ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** 128 random bits, base64: unguessable, and new for every response. */
export function newNonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}
