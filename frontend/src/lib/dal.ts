import "server-only";

import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { cache } from "react";

import { apiErrorFromResponse } from "@/lib/api/errors";
import type {
  ActivityPage,
  NoteRead,
  SessionRead,
  TwoFactorStatus,
  UserRead,
} from "@/lib/api/types";
import { apiBaseUrl } from "@/lib/env";

/** The login URL that brings the user back to `path` afterwards. */
export function loginUrl(path: string): string {
  return `/login?next=${encodeURIComponent(path)}`;
}

/**
 * Server-side GET against the API, forwarding the incoming request's cookies.
 * Returns null on 401; throws ApiError on any other failure.
 */
export async function serverGet<T>(path: `/api/${string}`): Promise<T | null> {
  const cookieHeader = (await cookies()).toString();
  const headers = new Headers({ Accept: "application/json" });
  if (cookieHeader) headers.set("Cookie", cookieHeader);

  const response = await fetch(`${apiBaseUrl()}${path}`, { headers, cache: "no-store" });
  if (response.status === 401) return null;
  if (!response.ok) throw await apiErrorFromResponse(response);
  return (await response.json()) as T;
}

/**
 * The signed-in user, or null. This is the real authentication check: the API
 * verifies the token and the session on every call. Memoised per request.
 */
export const getCurrentUser = cache(async (): Promise<UserRead | null> => {
  return serverGet<UserRead>("/api/users/me");
});

/** The signed-in user; redirects to /login?next=`path` when there is none. */
export async function requireUser(path: string): Promise<UserRead> {
  const user = await getCurrentUser();
  if (!user) redirect(loginUrl(path));
  return user;
}

/** The signed-in user's notes (newest first); redirects to login on 401. */
export async function listNotes(path: string): Promise<NoteRead[]> {
  const notes = await serverGet<NoteRead[]>("/api/notes");
  if (notes === null) redirect(loginUrl(path));
  return notes;
}

/** Where the user is signed in (this device first); redirects to login on 401. */
export async function listSessions(path: string): Promise<SessionRead[]> {
  const sessions = await serverGet<SessionRead[]>("/api/sessions");
  if (sessions === null) redirect(loginUrl(path));
  return sessions;
}

/** The newest security events of the user's account; redirects to login on 401. */
export async function recentActivity(path: string): Promise<ActivityPage> {
  const page = await serverGet<ActivityPage>("/api/me/activity?limit=10");
  if (page === null) redirect(loginUrl(path));
  return page;
}

/** Whether the account uses two-factor authentication; redirects to login on 401. */
export async function twoFactorStatus(path: string): Promise<TwoFactorStatus> {
  const status = await serverGet<TwoFactorStatus>("/api/auth/2fa");
  if (status === null) redirect(loginUrl(path));
  return status;
}
