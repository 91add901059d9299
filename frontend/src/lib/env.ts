import "server-only";

const DEFAULT_API_URL = "http://127.0.0.1:8000";

/**
 * Base URL of the FastAPI server for server-side calls (no trailing slash).
 * Read per call so `next start` honours the environment it is started with.
 */
export function apiBaseUrl(): string {
  const raw = process.env.AUTHFLOW_API_URL?.trim() || DEFAULT_API_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`AUTHFLOW_API_URL is not a valid URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error("AUTHFLOW_API_URL must be an http:// or https:// URL");
  }
  return raw.replace(/\/+$/, "");
}
