"use client";

import { ConfirmLink } from "@/components/email/confirm-link";

const HELP: Record<string, string> = {
  EMAIL_TOKEN_USED:
    "If you opened it before, your address is already confirmed. Otherwise ask for a new link from your account.",
  EMAIL_TOKEN_EXPIRED: "Links are valid for 24 hours. Ask for a new one from your account.",
  EMAIL_TOKEN_INVALID:
    "Check that you opened the whole link from the latest email, or ask for a new one from your account.",
};

export function VerifyEmail({ token }: { token: string }) {
  return (
    <ConfirmLink
      token={token}
      endpoint="/api/auth/verify-email"
      prompt="Confirm that this email address is yours."
      buttonLabel="Confirm my email address"
      doneMessage="is confirmed. Thank you."
      help={HELP}
    />
  );
}
