// Shared Tailwind class lists, so forms and buttons look the same everywhere.
// Colours are chosen for WCAG AA contrast on white / slate-50.

export const labelClass = "block text-sm font-medium text-slate-800";

export const inputClass =
  "block w-full rounded-md border border-slate-400 bg-white px-3 py-2 text-slate-900 " +
  "shadow-sm placeholder:text-slate-500 focus:border-indigo-600 " +
  "aria-invalid:border-red-700";

export const hintClass = "mt-1 text-sm text-slate-600";

export const fieldErrorClass = "mt-1 text-sm font-medium text-red-700";

export const primaryButtonClass =
  "inline-flex items-center justify-center rounded-md bg-indigo-700 px-4 py-2 text-sm " +
  "font-semibold text-white shadow-sm hover:bg-indigo-800 disabled:cursor-not-allowed " +
  "disabled:opacity-70";

export const secondaryButtonClass =
  "inline-flex items-center justify-center rounded-md border border-slate-400 bg-white px-3 py-1.5 " +
  "text-sm font-medium text-slate-800 hover:bg-slate-100 disabled:cursor-not-allowed " +
  "disabled:opacity-70";

export const dangerButtonClass =
  "inline-flex items-center justify-center rounded-md border border-red-700 bg-white px-3 py-1.5 " +
  "text-sm font-medium text-red-800 hover:bg-red-50 disabled:cursor-not-allowed disabled:opacity-70";

export const alertClass =
  "rounded-md border border-red-300 bg-red-50 px-4 py-3 text-sm text-red-800";
