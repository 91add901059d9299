// What each kind of audit event is called on the page: the account's Recent activity and
// the admin console share these. An unknown kind shows as itself.

export const EVENT_LABELS: Readonly<Record<string, string>> = {
  signup: "Account created",
  login_ok: "Signed in",
  login_failed: "Failed sign-in attempt",
  logout: "Signed out",
  refresh: "Session renewed",
  refresh_reuse_detected: "Session ended: a copied sign-in token was used",
  session_revoked: "Signed out a session",
  password_changed: "Password changed",
  password_reset_requested: "Password reset link sent",
  password_reset_done: "Password reset",
  email_verified: "Email address confirmed",
  email_change_requested: "Change of email address requested",
  email_changed: "Email address changed",
  throttled: "Attempts slowed down",
  step_up: "Confirmed it was you",
  two_factor_enabled: "Two-factor authentication turned on",
  two_factor_disabled: "Two-factor authentication turned off",
  two_factor_failed: "Wrong two-factor code",
  recovery_code_used: "Recovery code used",
  recovery_codes_regenerated: "New recovery codes generated",
  // Done by an administrator to the account.
  admin_user_disabled: "Account disabled by an administrator",
  admin_user_enabled: "Account enabled by an administrator",
  admin_email_verified: "Email address marked as confirmed by an administrator",
  admin_password_reset_sent: "Password reset link sent by an administrator",
  admin_sessions_revoked: "Signed out by an administrator",
  admin_user_deleted: "Account deleted by an administrator",
  admin_role_granted: "Made an administrator",
  admin_role_revoked: "Administrator role removed",
};

export function eventLabel(kind: string): string {
  return EVENT_LABELS[kind] ?? kind;
}
