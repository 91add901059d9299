// Browser-side fetch wrapper for the API, reached through the same-origin
// `/api/*` rewrite. Authentication rides on HttpOnly cookies that JavaScript
// never sees; the only cookie read here is the CSRF token, which exists to be
// read and echoed. Nothing touches localStorage.
import { ApiError, NETWORK_ERROR, apiErrorFromResponse } from "./errors";

export { ApiError, NETWORK_ERROR } from "./errors";

export type ApiRequestInit = Omit<RequestInit, "body" | "credentials"> & {
  /** Serialised as the JSON request body. */
  json?: unknown;
};

/**
 * Calls the API and returns the parsed JSON body (undefined for 204).
 * Throws ApiError {status, code, detail, errors} on any non-2xx answer, and
 * ApiError {status: 0, code: "NETWORK_ERROR"} when the server cannot be reached.
 */
const REFRESH_LOCK = "authflow-refresh";
let refreshInFlight: Promise<boolean> | null = null;

/**
 * Renew the session cookies once, however many requests (and tabs) found the access
 * token expired at the same moment. Within a tab, callers share one promise; across
 * tabs, a Web Lock lets one tab refresh while the others wait, and a waiting tab first
 * checks whether the cookies it shares with that tab already work. Refresh tokens are
 * single-use with reuse detection, so two tabs refreshing the same token would end
 * the session.
 */
export function refreshSession(): Promise<boolean> {
  refreshInFlight ??= (async () => {
    const attempt = async () => {
      const probe = await fetch("/api/users/me", { credentials: "same-origin", cache: "no-store" });
      if (probe.ok) return true;
      const refreshed = await fetch("/api/auth/refresh", {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
      });
      return refreshed.ok;
    };
    try {
      if (typeof navigator !== "undefined" && "locks" in navigator) {
        return await navigator.locks.request(REFRESH_LOCK, attempt);
      }
      return await attempt();
    } catch {
      return false;
    } finally {
      refreshInFlight = null;
    }
  })();
  return refreshInFlight;
}

const NO_RETRY: ReadonlySet<string> = new Set([
  "/api/auth/login",
  "/api/auth/login/2fa",
  "/api/auth/signup",
  "/api/auth/refresh",
  "/api/auth/logout",
]);

export async function apiFetch<T>(path: `/api/${string}`, init: ApiRequestInit = {}): Promise<T> {
  try {
    return await apiFetchOnce<T>(path, init);
  } catch (err) {
    // An expired access token: renew once and retry. Sign-in and refresh answer 401
    // for their own reasons (bad password, dead session) and are never retried.
    const retriable = err instanceof ApiError && err.status === 401 && !NO_RETRY.has(path);
    if (retriable && (await refreshSession())) return apiFetchOnce<T>(path, init);
    throw err;
  }
}

const CSRF_COOKIE = "__Host-authflow_csrf";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The double-submit CSRF token: the one cookie the API makes readable on purpose. */
function csrfToken(): string | null {
  if (typeof document === "undefined") return null;
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === CSRF_COOKIE) return value.join("=");
  }
  return null;
}

async function apiFetchOnce<T>(path: `/api/${string}`, init: ApiRequestInit): Promise<T> {
  const { json, headers, ...rest } = init;
  const requestHeaders = new Headers(headers);
  requestHeaders.set("Accept", "application/json");
  const csrf = csrfToken();
  if (csrf && !SAFE_METHODS.has((rest.method ?? "GET").toUpperCase())) {
    requestHeaders.set("X-CSRF-Token", csrf);
  }
  if (json !== undefined) requestHeaders.set("Content-Type", "application/json");

  let response: Response;
  try {
    response = await fetch(path, {
      ...rest,
      headers: requestHeaders,
      body: json === undefined ? undefined : JSON.stringify(json),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
    throw new ApiError(
      0,
      NETWORK_ERROR,
      "Could not reach the server. Check your connection and try again.",
    );
  }

  if (!response.ok) throw await apiErrorFromResponse(response);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
