import { ApiError } from "@/lib/api/client";

/** What a failed form submission shows: a summary line and messages per field. */
export interface FormError<F extends string> {
  summary: string;
  code: string;
  fields: Partial<Record<F, string>>;
}

/**
 * Maps an API failure onto a form's fields. The API names fields "new_password",
 * "body.new_password" or "body → new_password"; the last segment is the field.
 * `byCode` sends errors that carry no field list (409s, for instance) to a field.
 */
export function formError<F extends string>(
  error: unknown,
  fields: readonly F[],
  byCode: Partial<Record<string, F>> = {},
): FormError<F> {
  if (!(error instanceof ApiError)) {
    return { summary: "Something went wrong. Please try again.", code: "", fields: {} };
  }
  const found: Partial<Record<F, string>> = {};
  for (const item of error.errors) {
    const last = item.field.split(/[.\s→>/]+/).filter(Boolean).pop() ?? "";
    if ((fields as readonly string[]).includes(last) && !found[last as F]) {
      found[last as F] = item.message;
    }
  }
  const target = byCode[error.code];
  if (target && !found[target]) found[target] = error.detail;
  return { summary: error.detail, code: error.code, fields: found };
}
