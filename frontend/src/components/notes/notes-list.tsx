"use client";

import { useRouter } from "next/navigation";
import { useRef, useState, type FormEvent } from "react";

import {
  alertClass,
  dangerButtonClass,
  inputClass,
  labelClass,
  primaryButtonClass,
} from "@/components/ui/styles";
import { ApiError, apiFetch } from "@/lib/api/client";
import type { NoteCreate, NoteRead, NoteUpdate } from "@/lib/api/types";

const MAX_NOTE_LENGTH = 1000;

export function NotesList({ initialNotes }: { initialNotes: NoteRead[] }) {
  const router = useRouter();
  const inputRef = useRef<HTMLInputElement>(null);
  const [notes, setNotes] = useState<NoteRead[]>(initialNotes);
  const [text, setText] = useState("");
  const [adding, setAdding] = useState(false);
  const [busyIds, setBusyIds] = useState<ReadonlySet<string>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState("");

  function setBusy(id: string, busy: boolean) {
    setBusyIds((prev) => {
      const next = new Set(prev);
      if (busy) next.add(id);
      else next.delete(id);
      return next;
    });
  }

  /** Shows the error inline; a lost session sends the user to sign in again. */
  function handleError(err: unknown, fallback: string) {
    if (err instanceof ApiError && err.status === 401) {
      router.replace(`/login?next=${encodeURIComponent("/notes")}`);
      return;
    }
    setError(err instanceof ApiError ? err.detail : fallback);
  }

  async function addNote(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const trimmed = text.trim();
    if (!trimmed || adding) return;
    setError(null);
    setAdding(true);
    try {
      const body: NoteCreate = { text: trimmed };
      const note = await apiFetch<NoteRead>("/api/notes", { method: "POST", json: body });
      setNotes((prev) => [note, ...prev]);
      setText("");
      setStatus("Note added.");
    } catch (err) {
      handleError(err, "Could not add the note. Please try again.");
    } finally {
      setAdding(false);
      inputRef.current?.focus();
    }
  }

  async function toggleNote(note: NoteRead, completed: boolean) {
    setError(null);
    setBusy(note.id, true);
    setNotes((prev) => prev.map((n) => (n.id === note.id ? { ...n, completed } : n)));
    try {
      const body: NoteUpdate = { completed };
      const updated = await apiFetch<NoteRead>(`/api/notes/${encodeURIComponent(note.id)}`, {
        method: "PATCH",
        json: body,
      });
      setNotes((prev) => prev.map((n) => (n.id === note.id ? updated : n)));
    } catch (err) {
      setNotes((prev) =>
        prev.map((n) => (n.id === note.id ? { ...n, completed: note.completed } : n)),
      );
      handleError(err, "Could not update the note. Please try again.");
    } finally {
      setBusy(note.id, false);
    }
  }

  async function deleteNote(note: NoteRead) {
    setError(null);
    setBusy(note.id, true);
    try {
      await apiFetch<void>(`/api/notes/${encodeURIComponent(note.id)}`, { method: "DELETE" });
      setNotes((prev) => prev.filter((n) => n.id !== note.id));
      setStatus("Note deleted.");
    } catch (err) {
      if (err instanceof ApiError && err.code === "NOTE_NOT_FOUND") {
        // Already gone (another tab): just drop it.
        setNotes((prev) => prev.filter((n) => n.id !== note.id));
      } else {
        handleError(err, "Could not delete the note. Please try again.");
      }
    } finally {
      setBusy(note.id, false);
    }
  }

  return (
    <div className="mt-8 space-y-6">
      <form onSubmit={addNote} className="rounded-xl bg-white p-6 shadow-sm ring-1 ring-slate-200">
        <label htmlFor="new-note" className={labelClass}>
          New note
        </label>
        <div className="mt-1 flex gap-3">
          <input
            ref={inputRef}
            id="new-note"
            name="text"
            type="text"
            required
            maxLength={MAX_NOTE_LENGTH}
            autoComplete="off"
            value={text}
            onChange={(e) => setText(e.target.value)}
            className={inputClass}
          />
          <button type="submit" disabled={adding} className={primaryButtonClass}>
            Add
          </button>
        </div>
      </form>

      {error && (
        <div role="alert" className={alertClass}>
          {error}
        </div>
      )}
      <p role="status" className="sr-only">
        {status}
      </p>

      {notes.length === 0 ? (
        <p className="text-slate-700">No notes yet. Add your first one above.</p>
      ) : (
        <ul aria-label="Your notes" className="divide-y divide-slate-200 rounded-xl bg-white shadow-sm ring-1 ring-slate-200">
          {notes.map((note) => {
            const busy = busyIds.has(note.id);
            return (
              <li key={note.id} className="flex items-center gap-3 px-6 py-4">
                <input
                  type="checkbox"
                  checked={note.completed}
                  disabled={busy}
                  onChange={(e) => toggleNote(note, e.target.checked)}
                  aria-label={`Mark '${note.text}' as done`}
                  className="h-4 w-4 shrink-0 accent-indigo-700"
                />
                <span
                  className={`min-w-0 flex-1 break-words whitespace-pre-wrap ${
                    note.completed ? "text-slate-600 line-through" : "text-slate-900"
                  }`}
                >
                  {note.text}
                </span>
                <button
                  type="button"
                  disabled={busy}
                  onClick={() => deleteNote(note)}
                  aria-label={`Delete '${note.text}'`}
                  className={dangerButtonClass}
                >
                  Delete
                </button>
              </li>
            );
          })}
        </ul>
      )}
    </div>
  );
}
