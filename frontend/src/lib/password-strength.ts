// Advisory password strength for the sign-up form. The API enforces the real
// policy (minimum length, blocklist, no user info); this only nudges people
// toward long passwords, per NIST 800-63B (length beats composition rules).

export type StrengthLabel = "weak" | "fair" | "good" | "strong";

export interface Strength {
  /** 0 (weak) .. 3 (strong) */
  score: 0 | 1 | 2 | 3;
  label: StrengthLabel;
}

const LABELS: readonly StrengthLabel[] = ["weak", "fair", "good", "strong"];

function characterClasses(password: string): number {
  return [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length;
}

function looksTrivial(password: string): boolean {
  // One repeated character, or a run like "12345678" / "abcdefgh".
  if (new Set(password.toLowerCase()).size <= 2) return true;
  const lower = password.toLowerCase();
  return "0123456789".includes(lower) || "abcdefghijklmnopqrstuvwxyz".includes(lower);
}

function containsUserInfo(password: string, userInfo: readonly string[]): boolean {
  const lower = password.toLowerCase();
  return userInfo.some((value) => {
    const v = value.trim().toLowerCase();
    return v.length >= 3 && lower.includes(v);
  });
}

/** Length-based score plus a bonus for variety; `userInfo` = username, email local part. */
export function passwordStrength(password: string, userInfo: readonly string[] = []): Strength {
  const length = [...password].length;
  let score = 0;
  if (length >= 8 && !looksTrivial(password) && !containsUserInfo(password, userInfo)) {
    score = 1;
    if (length >= 12) score += 1;
    if (length >= 15) score += 1;
    if (characterClasses(password) >= 3) score += 1;
  }
  const clamped = Math.min(score, 3) as Strength["score"];
  return { score: clamped, label: LABELS[clamped] ?? "weak" };
}
