// Provisioning tasks (UC-PROV, seed 004): naming, the stop-date field, the edit's choices.
import type { EnrollmentRow, ProvisioningTaskRow } from "../bindings";
import { untilArg } from "./temporary";

/** How a task is named to the operator: by the number the registry gave it. */
export function taskName(row: Pick<ProvisioningTaskRow, "number">): string {
  return `Task ${row.number.toString()}`;
}

/** The stop-date field: empty = the self-enrollment policy's period (null), else a YYYY-MM-DD date. */
export function stopDateArg(raw: string): { ok: true; value: string | null } | { ok: false; problem: string } {
  const r = untilArg(raw);
  if (!r.ok) return { ok: false, problem: "Give the stop date as year-month-day (for example 2026-05-31), or leave it empty." };
  return r;
}

/** The YYYY-MM-DD of an RFC 3339 time (the date field's value for it). */
export function dayOf(iso: string): string {
  return iso.slice(0, 10);
}

/** Users the edit may remove (not completed, not removed already). */
export function removable(users: EnrollmentRow[]): EnrollmentRow[] {
  return users.filter((u) => u.can_remove);
}

/** The updated task in place of the old one (a task no longer listed drops out unless `report`). */
export function replaceTask(rows: ProvisioningTaskRow[], row: ProvisioningTaskRow, report: boolean): ProvisioningTaskRow[] {
  const listed = report || row.status === "open";
  if (!rows.some((r) => r.id === row.id)) return listed ? [...rows, row].sort((a, b) => a.number - b.number) : rows;
  return listed ? rows.map((r) => (r.id === row.id ? row : r)) : rows.filter((r) => r.id !== row.id);
}

/** A plausible email address (the registry checks it properly). */
export function looksLikeEmail(s: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s.trim());
}

/** What the confirmation of removing users says. */
export function removalQuestion(names: string[], notify: boolean): string {
  const who = names.length === 1 ? (names[0] ?? "") : `${names.length.toString()} users`;
  const mail = notify ? " They get an email saying their enrollment was cancelled." : " They are not told by email.";
  return `Remove ${who} from the task? Their enrollment codes stop working at once; this cannot be undone.${mail}`;
}
