import { notFound } from "next/navigation";

// Any other path under /admin is the same 404, in the same layout, as /admin itself is
// for someone who is not an administrator: nothing tells which admin pages exist.
export default function AdminNotFound(): never {
  notFound();
}
