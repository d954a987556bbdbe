// Words for operations in the station's outbox: who made them, why one waits, refusals at sign-in.
import type { OutboxRow } from "../bindings";

/** Who made the operation, as the Sync view names them ("You" for the signed-in operator). */
export function madeBy(row: Pick<OutboxRow, "operator" | "yours">): string {
  if (row.yours) return "You";
  return row.operator ?? "Not recorded";
}

/**
 * Why a pending operation is not sent in this session: it is another operator's (sent only in
 * theirs). null when it is the signed-in operator's own.
 */
export function waitingText(row: Pick<OutboxRow, "operator" | "yours">): string | null {
  if (row.yours) return null;
  const who = row.operator ?? "the operator who made it";
  return `Waits for ${who} to sign in: sent only in their session`;
}

/** How many of the pending operations wait for another operator. */
export function waitingForOthers(rows: Pick<OutboxRow, "yours">[]): number {
  return rows.filter((r) => !r.yours).length;
}

/** Heading of the sign-in notice: "2 of your queued actions were refused by the registry". */
export function refusedHeading(n: number): string {
  if (n === 1) return "1 of your queued actions was refused by the registry";
  return `${n} of your queued actions were refused by the registry`;
}
