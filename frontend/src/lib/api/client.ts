// Browser-side fetch wrapper for the API, reached through the same-origin
// `/api/*` rewrite. Authentication rides on HttpOnly cookies that JavaScript
// never sees: nothing here reads cookies or touches localStorage.
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
export async function apiFetch<T>(path: `/api/${string}`, init: ApiRequestInit = {}): Promise<T> {
  const { json, headers, ...rest } = init;
  const requestHeaders = new Headers(headers);
  requestHeaders.set("Accept", "application/json");
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
