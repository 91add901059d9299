// Aliases over the types generated from openapi.json (`npm run gen:api`).
// Import API types from here, never from schema.d.ts directly, so a
// regeneration only has to be reconciled in this one file.
import type { components } from "./schema";

type Schemas = components["schemas"];

export type UserRead = Schemas["UserRead"];
export type SignupRequest = Schemas["SignupRequest"];
export type LoginRequest = Schemas["LoginRequest"];
export type NoteRead = Schemas["NoteRead"];
export type NoteCreate = Schemas["NoteCreate"];
export type NoteUpdate = Schemas["NoteUpdate"];
export type SessionRead = Schemas["SessionRead"];
export type RevokedCount = Schemas["RevokedCount"];
export type VerifiedResponse = Schemas["VerifiedResponse"];
export type ForgotPasswordRequest = Schemas["ForgotPasswordRequest"];
export type ForgotPasswordResponse = Schemas["ForgotPasswordResponse"];
export type ResetPasswordRequest = Schemas["ResetPasswordRequest"];
export type ChangePasswordRequest = Schemas["ChangePasswordRequest"];
export type ChangeEmailRequest = Schemas["ChangeEmailRequest"];
export type EmailChangeRequested = Schemas["EmailChangeRequested"];
export type ActivityRead = Schemas["ActivityRead"];
export type ActivityPage = Schemas["ActivityPage"];
export type ErrorResponse = Schemas["ErrorResponse"];
export type FieldError = NonNullable<ErrorResponse["errors"]>[number];
// Development only (the API serves these when AUTHFLOW_ENV=development).
export type MailboxMessage = Schemas["MailboxMessage"];
export type MailboxMessageDetail = Schemas["MailboxMessageDetail"];
// Two-factor authentication and step-up re-authentication.
export type TwoFactorStatus = Schemas["TwoFactorStatus"];
export type TwoFactorEnrolment = Schemas["TwoFactorEnrolment"];
export type TwoFactorCodeRequest = Schemas["TwoFactorCodeRequest"];
export type TwoFactorChallenge = Schemas["TwoFactorChallengeResponse"];
export type RecoveryCodes = Schemas["RecoveryCodes"];
export type StepUpRequest = Schemas["StepUpRequest"];
export type StepUpResponse = Schemas["StepUpResponse"];
// The admin console (administrators with two-factor and a recent sign-in only).
export type AdminUserRow = Schemas["AdminUserRow"];
export type AdminUserPage = Schemas["AdminUserPage"];
export type AdminUserDetail = Schemas["AdminUserDetail"];
export type AdminSessionRow = Schemas["AdminSessionRow"];
export type AdminEventRow = Schemas["AdminEventRow"];
export type AdminEventPage = Schemas["AdminEventPage"];
