import type { FieldError } from "./types";

/** An error answered by the API (or a network failure, status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly errors: FieldError[];

  constructor(status: number, code: string, detail: string, errors: FieldError[] = []) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.errors = errors;
  }
}

export const NETWORK_ERROR = "NETWORK_ERROR";

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function parseFieldErrors(value: unknown): FieldError[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item): FieldError[] => {
    if (!isRecord(item) || typeof item.message !== "string") return [];
    return [
      {
        field: typeof item.field === "string" ? item.field : "",
        message: item.message,
        code: typeof item.code === "string" ? item.code : "",
      },
    ];
  });
}

/** Builds an ApiError from a non-2xx response, whatever its body holds. */
export async function apiErrorFromResponse(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (e.g. a proxy's HTML error page): fall through to a generic error.
  }
  if (isRecord(body) && typeof body.code === "string") {
    const detail =
      typeof body.detail === "string" && body.detail
        ? body.detail
        : `The request failed (HTTP ${response.status}).`;
    return new ApiError(response.status, body.code, detail, parseFieldErrors(body.errors));
  }
  return new ApiError(
    response.status,
    response.status >= 500 ? "SERVER_ERROR" : "UNKNOWN_ERROR",
    response.status >= 500
      ? "The server ran into a problem. Please try again in a moment."
      : `The request failed (HTTP ${response.status}).`,
  );
}
