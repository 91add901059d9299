import "server-only";

import { notFound, redirect } from "next/navigation";

import { ApiError } from "@/lib/api/errors";
import type { AdminEventPage, AdminUserDetail, AdminUserPage } from "@/lib/api/types";
import { loginUrl, requireUser, serverGet } from "@/lib/dal";

// The admin console's data. Only administrators learn that these pages exist: anyone
// else signed in gets the same 404 as an unknown page (the API answers them 404 too).
// An administrator may still be turned away for now, which the page then explains: no
// two-factor yet, or no sign-in within the last few minutes (reads need one too).

export type SearchParams = Record<string, string | string[] | undefined>;

export type AdminResult<T> =
  | { status: "ok"; data: T }
  /** 403 STEP_UP_REQUIRED: the page asks for a code, then renders again. */
  | { status: "step-up"; detail: string }
  /** 403 TWO_FACTOR_ENROLMENT_REQUIRED: the admin must turn on two-factor first. */
  | { status: "two-factor"; detail: string }
  /** 422: the page's query holds a value the API refuses (a hand-edited link). */
  | { status: "invalid"; detail: string };

async function adminGet<T>(
  apiPath: `/api/admin/${string}`,
  pagePath: string,
  { invalidIsNotFound = false } = {},
): Promise<AdminResult<T>> {
  const user = await requireUser(pagePath);
  if (!user.is_superuser) notFound();
  let data: T | null;
  try {
    data = await serverGet<T>(apiPath);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    // Not an admin (any more), or no such account.
    if (err.status === 404) notFound();
    if (err.status === 403 && err.code === "STEP_UP_REQUIRED") {
      return { status: "step-up", detail: err.detail };
    }
    if (err.status === 403 && err.code === "TWO_FACTOR_ENROLMENT_REQUIRED") {
      return { status: "two-factor", detail: err.detail };
    }
    if (err.status === 422) {
      if (invalidIsNotFound) notFound();
      return { status: "invalid", detail: err.detail };
    }
    throw err;
  }
  if (data === null) redirect(loginUrl(pagePath));
  return { status: "ok", data };
}

function first(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value[0] : value)?.trim() ?? "";
}

function withQuery(path: string, query: URLSearchParams): string {
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

// Users

export const USER_FILTERS = ["active", "verified", "admin", "two_factor"] as const;
export type UserFilter = (typeof USER_FILTERS)[number];
export type Flag = "true" | "false";
export type UserSort = "created_at" | "username";
export type SortOrder = "asc" | "desc";

export interface UserQuery {
  q: string;
  filters: Partial<Record<UserFilter, Flag>>;
  sort: UserSort;
  order: SortOrder;
  cursor: string;
}

/** The users list's state from the page's query; unknown values fall back to the default. */
export function parseUserQuery(params: SearchParams): UserQuery {
  const filters: Partial<Record<UserFilter, Flag>> = {};
  for (const name of USER_FILTERS) {
    const value = first(params[name]);
    if (value === "true" || value === "false") filters[name] = value;
  }
  const sort = first(params.sort);
  const order = first(params.order);
  return {
    q: first(params.q),
    filters,
    sort: sort === "username" ? "username" : "created_at",
    order: order === "asc" ? "asc" : "desc",
    cursor: first(params.cursor),
  };
}

/** The query string for `query` (defaults left out), with or without its cursor. */
export function userSearchParams(query: UserQuery, cursor: string = query.cursor): URLSearchParams {
  const out = new URLSearchParams();
  if (query.q) out.set("q", query.q);
  for (const name of USER_FILTERS) {
    const value = query.filters[name];
    if (value) out.set(name, value);
  }
  if (query.sort !== "created_at") out.set("sort", query.sort);
  if (query.order !== "desc") out.set("order", query.order);
  if (cursor) out.set("cursor", cursor);
  return out;
}

export function usersPageUrl(query: UserQuery, cursor: string = query.cursor): string {
  return withQuery("/admin", userSearchParams(query, cursor));
}

/** One page of accounts matching `query`. */
export async function adminListUsers(query: UserQuery): Promise<AdminResult<AdminUserPage>> {
  const api = userSearchParams(query);
  // The API's own defaults are these; sent in full so the page does not depend on them.
  api.set("sort", query.sort);
  api.set("order", query.order);
  api.set("limit", "50");
  return adminGet<AdminUserPage>(`/api/admin/users?${api}`, usersPageUrl(query));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One account with its live sessions and newest events; notFound() if there is none. */
export async function adminGetUser(id: string): Promise<AdminResult<AdminUserDetail>> {
  const path = `/admin/users/${encodeURIComponent(id)}`;
  if (!UUID.test(id)) {
    // Not an account id at all: the same 404 as an unknown one, for admins and others.
    await requireUser(path);
    notFound();
  }
  return adminGet<AdminUserDetail>(`/api/admin/users/${id}`, path, { invalidIsNotFound: true });
}

// Events

export const EVENT_FILTERS = ["user_id", "kind", "ip", "since", "until"] as const;
export type EventFilter = (typeof EVENT_FILTERS)[number];

export interface EventQuery {
  filters: Partial<Record<EventFilter, string>>;
  before: string;
}

export function parseEventQuery(params: SearchParams): EventQuery {
  const filters: Partial<Record<EventFilter, string>> = {};
  for (const name of EVENT_FILTERS) {
    const value = first(params[name]);
    if (value) filters[name] = value;
  }
  return { filters, before: first(params.before) };
}

export function eventSearchParams(query: EventQuery, before: string = query.before): URLSearchParams {
  const out = new URLSearchParams();
  for (const name of EVENT_FILTERS) {
    const value = query.filters[name];
    if (value) out.set(name, value);
  }
  if (before) out.set("before", before);
  return out;
}

export function eventsPageUrl(query: EventQuery, before: string = query.before): string {
  return withQuery("/admin/events", eventSearchParams(query, before));
}

/** Audit events matching `query`, newest first. Times without an offset (what a
 * datetime-local field gives) are read as UTC by the API. */
export async function adminListEvents(query: EventQuery): Promise<AdminResult<AdminEventPage>> {
  const api = eventSearchParams(query);
  api.set("limit", "50");
  return adminGet<AdminEventPage>(`/api/admin/events?${api}`, eventsPageUrl(query));
}
