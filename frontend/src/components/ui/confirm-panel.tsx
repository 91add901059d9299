"use client";

import { useEffect, useId, useRef } from "react";

import { dangerButtonClass, secondaryButtonClass } from "@/components/ui/styles";

/** "Are you sure?" for a destructive action: takes focus when it opens, so keyboard and
 * screen-reader users land on the question. */
export function ConfirmPanel({
  title,
  body,
  yes,
  busy,
  onConfirm,
  onCancel,
}: {
  title: string;
  body: string;
  yes: string;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const id = useId();
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    heading.current?.focus();
  }, []);

  return (
    <div role="group" aria-labelledby={id} className="space-y-3 rounded-lg border border-red-300 bg-red-50 p-4">
      <h3 id={id} ref={heading} tabIndex={-1} className="text-base font-semibold text-slate-900">
        {title}
      </h3>
      <p className="text-sm text-slate-800">{body}</p>
      <div className="flex flex-wrap gap-3">
        <button type="button" onClick={onConfirm} disabled={busy} className={dangerButtonClass}>
          {yes}
        </button>
        <button type="button" onClick={onCancel} className={secondaryButtonClass}>
          Cancel
        </button>
      </div>
    </div>
  );
}
