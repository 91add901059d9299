"use client";

import { ConfirmLink } from "@/components/email/confirm-link";

const HELP: Record<string, string> = {
  EMAIL_TOKEN_USED:
    "If you opened it before, your account already uses this address. Otherwise ask for the change again from your account.",
  EMAIL_TOKEN_EXPIRED: "Links are valid for an hour. Ask for the change again from your account.",
  EMAIL_TOKEN_INVALID:
    "Check that you opened the whole link from the latest email. A password change voids older links; ask for the change again from your account.",
  EMAIL_TAKEN:
    "Another account started using this address after you asked. Choose another address from your account.",
};

export function ConfirmEmailChange({ token }: { token: string }) {
  return (
    <ConfirmLink
      token={token}
      endpoint="/api/auth/confirm-email-change"
      prompt="Confirm that your account should use this email address from now on."
      buttonLabel="Use this email address"
      doneMessage="is now the email address of your account."
      help={HELP}
    />
  );
}
