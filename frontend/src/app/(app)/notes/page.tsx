import type { Metadata } from "next";

import { NotesList } from "@/components/notes/notes-list";
import { listNotes, requireUser } from "@/lib/dal";

export const metadata: Metadata = {
  title: "Notes",
};

export default async function NotesPage() {
  await requireUser("/notes");
  const notes = await listNotes("/notes");

  return (
    <>
      <h1 className="text-3xl font-bold text-slate-900">Notes</h1>
      <NotesList initialNotes={notes} />
    </>
  );
}
