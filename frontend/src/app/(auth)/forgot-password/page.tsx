import type { Metadata } from "next";

import { ForgotPasswordForm } from "@/components/account/forgot-password-form";

export const metadata: Metadata = {
  title: "Reset your password",
};

export default function ForgotPasswordPage() {
  return (
    <>
      <h1 className="text-2xl font-bold text-slate-900">Reset your password</h1>
      <ForgotPasswordForm />
    </>
  );
}
