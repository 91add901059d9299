import { passwordStrength } from "@/lib/password-strength";

const BAR_COLOURS = ["bg-red-700", "bg-amber-600", "bg-emerald-600", "bg-emerald-700"] as const;

export function PasswordStrengthMeter({
  id,
  password,
  userInfo,
}: {
  id: string;
  password: string;
  userInfo: readonly string[];
}) {
  const strength = passwordStrength(password, userInfo);
  const filled = password ? strength.score + 1 : 0;
  const colour = BAR_COLOURS[strength.score];

  return (
    <div className="mt-2">
      <div className="flex gap-1" aria-hidden="true">
        {[0, 1, 2, 3].map((i) => (
          <span
            key={i}
            className={`h-1.5 flex-1 rounded-full ${i < filled ? colour : "bg-slate-200"}`}
          />
        ))}
      </div>
      <p id={id} aria-live="polite" className="mt-1 text-sm text-slate-700">
        {password ? `Strength: ${strength.label}` : ""}
      </p>
    </div>
  );
}
