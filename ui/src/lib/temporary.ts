// Temporary cards (UC-TEMP, seed 001): filters, row buttons, form checks. The backend decides what
// is allowed; a refused action comes back as an ErrorView with the domain's reason.
import type { TemporaryRow } from "../bindings";
import type { ReaderState } from "./readers";

/** State filters, in the order a temporary card moves through them; null = all. */
export const TEMP_FILTERS: { state: string | null; label: string }[] = [
  { state: "ordered", label: "Ordered" },
  { state: "produced", label: "Produced" },
  { state: "unassigned", label: "Unassigned" },
  { state: "assigned", label: "Assigned" },
  { state: "expired", label: "Expired" },
  { state: "locked", label: "Locked" },
  { state: null, label: "All" },
];

export type TempAction = "initialize" | "assign" | "return";

/**
 * The buttons a row offers in its state: Initialize a produced card, Assign an unassigned one,
 * Return one that is lent out (or whose loan ran out). The backend still checks each.
 */
export function tempActions(state: string): TempAction[] {
  switch (state) {
    case "produced":
      return ["initialize"];
    case "unassigned":
      return ["assign"];
    case "assigned":
    case "expired":
      return ["return"];
    default:
      return [];
  }
}

/** Reasons for taking a temporary card back (the backend's return reason, snake_case). */
export const RETURN_REASONS: { value: string; label: string; hint: string }[] = [
  { value: "no_longer_needed", label: "No longer needed", hint: "The holder's own card is in use again." },
  { value: "lost", label: "Lost", hint: "The holder's own card stays inactive." },
];

/** The updated row in place of the old one. */
export function replaceRow(rows: TemporaryRow[], row: TemporaryRow): TemporaryRow[] {
  return rows.map((r) => (r.id === row.id ? row : r));
}

/** How a temporary card is named to the operator: its printed serial, else its profile. */
export function tempName(row: Pick<TemporaryRow, "serial" | "profile_name">): string {
  return row.serial !== null && row.serial !== "" ? row.serial : `(${row.profile_name}, no serial)`;
}

/** The "until" field: empty = the profile's period (null), else a real YYYY-MM-DD date. */
export function untilArg(raw: string): { ok: true; value: string | null } | { ok: false; problem: string } {
  const s = raw.trim();
  if (s === "") return { ok: true, value: null };
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (m) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const date = new Date(Date.UTC(y, mo - 1, d));
    if (date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d) {
      return { ok: true, value: s };
    }
  }
  return { ok: false, problem: "Give the date as year-month-day (for example 2026-05-31), or leave it empty." };
}

/**
 * Readers the card to initialize can be taken from: blank stock (a produced card reads blank), or
 * this very card if an earlier initialization left it half-written.
 */
export function initReaders(readers: ReaderState[], card: string): ReaderState[] {
  return readers.filter(
    (r) => r.status === "blank" || (r.view?.kind === "temporary" && r.view.device_id === card),
  );
}
