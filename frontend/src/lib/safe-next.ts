export const DEFAULT_AFTER_LOGIN = "/account";

/**
 * Returns `value` when it is a same-origin relative path (a single leading
 * "/", no "//", no backslash, no control characters), else "/account".
 * Guards the `?next=` parameter against open redirects.
 */
export function safeNextPath(value: string | null | undefined): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 2048) {
    return DEFAULT_AFTER_LOGIN;
  }
  if (!value.startsWith("/")) return DEFAULT_AFTER_LOGIN;
  if (value.startsWith("//") || value.startsWith("/\\")) return DEFAULT_AFTER_LOGIN;
  if (value.includes("\\")) return DEFAULT_AFTER_LOGIN;
  // C0 controls, DEL and C1 controls (browsers strip tabs/newlines from URLs,
  // which could turn "/\t/evil.example" into "//evil.example").
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) return DEFAULT_AFTER_LOGIN;
  // Belt and braces: it must resolve to the same origin, and we hand back the
  // resolved form, so dot segments ("/.//evil.example" resolves to the path
  // "//evil.example") can never reach the browser as a protocol-relative URL.
  try {
    const base = "http://authflow.invalid";
    const url = new URL(value, base);
    if (url.origin !== base || url.pathname.startsWith("//")) return DEFAULT_AFTER_LOGIN;
    return `${url.pathname}${url.search}${url.hash}`;
  } catch {
    return DEFAULT_AFTER_LOGIN;
  }
}
