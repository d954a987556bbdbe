// The batch board (UC-BATCH, seed 003): a batch's cards and one panel per reader, folded from the
// run's BoardEvents. Pure: the run store (batches.svelte.ts) and the unit tests use it.
import type { BatchBoard, BatchCardRow, BoardEvent, ErrorView, PersonRef, RemoveReason, RevealTicket, StopReason } from "../bindings";
import { cleanMessage, describeError } from "./errors";
import { noticeText, stepCounter, stepLabel, type StepProgress } from "./steps";

/** What a reader's panel asks of the operator now. */
export type PanelStatus = "insert" | "encoding" | "remove" | "torn" | "stopped" | "idle";

export interface ReaderPanel {
  reader: string;
  status: PanelStatus;
  /** The card being encoded (or pulled) in this reader. */
  seq: number | null;
  holder: PersonRef | null;
  attempt: number;
  /** Finishing an interrupted card. */
  resuming: boolean;
  step: StepProgress | null;
  notices: string[];
  /** Why the card must come out (`remove`). */
  remove: RemoveReason | null;
  /** Why the worker stopped (`stopped`). */
  stop: StopReason | null;
  /** What went wrong with the last card here (failed, torn, unreadable). */
  error: ErrorView | null;
  /** Cards finished in this reader during this run. */
  finished: number;
}

export interface BoardState {
  board: BatchBoard;
  panels: ReaderPanel[];
  /** A finished card's one PIN reveal, by card seq; forgotten once shown. */
  reveals: Record<number, RevealTicket>;
  /** Things the operator should know about a finished card, by seq. */
  warnings: Record<number, string[]>;
  /** When the current run started (ms), for cards per hour. */
  startedAt: number | null;
  /** Cards finished since the run started. */
  doneThisRun: number;
}

/** Card states as the backend words them (`label(state)`), for rows changed live. */
const CARD_LABELS: Record<string, string> = {
  pending: "Pending",
  encoding: "Encoding",
  done: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function cardStateLabel(state: string): string {
  return CARD_LABELS[state] ?? state.charAt(0).toUpperCase() + state.slice(1).replace(/_/g, " ");
}

function panel(reader: string): ReaderPanel {
  return { reader, status: "idle", seq: null, holder: null, attempt: 0, resuming: false, step: null, notices: [], remove: null, stop: null, error: null, finished: 0 };
}

/** A board before or between runs (no panels). */
export function boardState(board: BatchBoard): BoardState {
  return { board, panels: [], reveals: {}, warnings: {}, startedAt: null, doneThisRun: 0 };
}

/** A run starts on `readers`: one idle panel each (kept PIN reveals stay). */
export function startRun(s: BoardState, readers: string[], now: number): BoardState {
  return { ...s, panels: readers.map(panel), startedAt: now, doneThisRun: 0 };
}

/** A fresh board from the backend (a command's answer): cards and counts replaced, panels and reveals kept. */
export function withBoard(s: BoardState, board: BatchBoard): BoardState {
  return { ...s, board };
}

/** Counts recomputed from the cards, after a live change. */
export function recount(board: BatchBoard, cards: BatchCardRow[]): BatchBoard {
  const n = (state: string): number => cards.filter((c) => c.state === state).length;
  return { ...board, cards, pending: n("pending"), encoding: n("encoding"), done: n("done"), failed: n("failed"), cancelled_cards: n("cancelled") };
}

function updateCard(board: BatchBoard, seq: number, f: (c: BatchCardRow) => BatchCardRow): BatchBoard {
  if (!board.cards.some((c) => c.seq === seq)) return board;
  return recount(board, board.cards.map((c) => (c.seq === seq ? f(c) : c)));
}

function setState(c: BatchCardRow, state: string): BatchCardRow {
  return { ...c, state, state_label: cardStateLabel(state) };
}

function updatePanel(panels: ReaderPanel[], reader: string, f: (p: ReaderPanel) => ReaderPanel): ReaderPanel[] {
  const i = panels.findIndex((p) => p.reader === reader);
  // An event for a reader we did not start on: show it rather than lose it.
  if (i < 0) return [...panels, f(panel(reader))];
  const next = panels.slice();
  next[i] = f(panels[i] as ReaderPanel);
  return next;
}

/** A failure in one line of operator words (never raw JSON or Debug text). */
export function errorLine(e: ErrorView): string {
  const d = describeError(e);
  return d.detail !== null ? `${d.what} ${d.detail}` : d.what;
}

function holderOf(board: BatchBoard, seq: number): PersonRef | null {
  return board.cards.find((c) => c.seq === seq)?.holder ?? null;
}

/** Pure reducer: apply one event of a run. */
export function applyBoardEvent(s: BoardState, ev: BoardEvent): BoardState {
  switch (ev.event) {
    case "insert_card":
      return {
        ...s,
        panels: updatePanel(s.panels, ev.reader, (p) =>
          // A pulled card still wants to come back: that stays the first thing to say.
          p.status === "torn" ? p : { ...panel(ev.reader), finished: p.finished, status: "insert" },
        ),
      };
    case "remove_card":
      return {
        ...s,
        panels: updatePanel(s.panels, ev.reader, (p) => ({
          ...p,
          status: "remove",
          step: null,
          remove: ev.why,
          error: ev.why.reason === "unreadable" ? ev.why.error : ev.why.reason === "finished" ? null : p.error,
        })),
      };
    case "started": {
      const board = updateCard(s.board, ev.seq, (c) => ({ ...setState(c, "encoding"), reader: ev.reader, attempts: Math.max(c.attempts, ev.attempt) }));
      const holder = ev.holder ?? holderOf(s.board, ev.seq);
      return {
        ...s,
        board,
        panels: updatePanel(s.panels, ev.reader, (p) => ({
          ...panel(ev.reader),
          finished: p.finished,
          status: "encoding",
          seq: ev.seq,
          holder,
          attempt: ev.attempt,
          resuming: ev.resuming,
        })),
      };
    }
    case "step": {
      const step: StepProgress = { index: ev.index, total: ev.total, label: stepLabel(ev.step) };
      return { ...s, panels: updatePanel(s.panels, ev.reader, (p) => ({ ...p, status: "encoding", step })) };
    }
    case "note":
      return { ...s, panels: updatePanel(s.panels, ev.reader, (p) => ({ ...p, notices: [...p.notices, noticeText(ev.notice)] })) };
    case "done": {
      const board = updateCard(s.board, ev.seq, (c) => ({ ...setState(c, "done"), reader: ev.reader, last_error: null }));
      const reveals = ev.reveal !== null ? { ...s.reveals, [ev.seq]: ev.reveal } : s.reveals;
      const warnings = ev.warnings.length > 0 ? { ...s.warnings, [ev.seq]: ev.warnings } : s.warnings;
      return {
        ...s,
        board,
        reveals,
        warnings,
        doneThisRun: s.doneThisRun + 1,
        panels: updatePanel(s.panels, ev.reader, (p) => ({
          ...p,
          status: "remove",
          seq: ev.seq,
          holder: ev.holder ?? p.holder,
          step: null,
          remove: { reason: "finished" },
          error: null,
          finished: p.finished + 1,
        })),
      };
    }
    case "failed": {
      const state = ev.retried ? "pending" : "failed";
      const board = updateCard(s.board, ev.seq, (c) => ({ ...setState(c, state), reader: ev.reader, last_error: errorLine(ev.error) }));
      return {
        ...s,
        board,
        // The backend asks for the card to be set aside next; say so already.
        panels: updatePanel(s.panels, ev.reader, (p) => ({ ...p, status: "remove", step: p.step, remove: { reason: "set_aside" }, error: ev.error })),
      };
    }
    case "torn": {
      const board = updateCard(s.board, ev.seq, (c) => ({ ...setState(c, "encoding"), reader: ev.reader, last_error: errorLine(ev.error) }));
      return {
        ...s,
        board,
        panels: updatePanel(s.panels, ev.reader, (p) => ({
          ...p,
          status: "torn",
          seq: ev.seq,
          holder: p.seq === ev.seq ? p.holder : holderOf(s.board, ev.seq),
          error: ev.error,
        })),
      };
    }
    case "stopped":
      return {
        ...s,
        panels: updatePanel(s.panels, ev.reader, (p) => ({ ...p, status: "stopped", step: null, stop: ev.why, remove: null })),
      };
  }
}

/** Forget a card's PIN reveal (shown once, or closed). */
export function forgetReveal(s: BoardState, seq: number): BoardState {
  const reveals = Object.fromEntries(Object.entries(s.reveals).filter(([k]) => Number(k) !== seq));
  return { ...s, reveals };
}

/** What a reader's panel tells the operator: a headline and an optional second line. */
export function panelText(p: ReaderPanel): { title: string; detail: string | null } {
  const who = p.holder?.name ?? "the next card";
  switch (p.status) {
    case "idle":
      return { title: "Waiting to start", detail: null };
    case "insert":
      return { title: "Insert a blank card", detail: "It is picked up by itself." };
    case "encoding": {
      const title = p.step !== null ? `Encoding ${who} — ${stepCounter(p.step).toLowerCase()}: ${p.step.label}` : `Encoding ${who} — starting`;
      const detail = p.resuming
        ? "Finishing a card that was interrupted. Keep the card in the reader."
        : p.attempt > 1
          ? `Attempt ${p.attempt}. Keep the card in the reader.`
          : "Keep the card in the reader.";
      return { title, detail };
    }
    case "remove":
      switch (p.remove?.reason) {
        case "finished":
          return { title: "Take the card out (finished)", detail: p.holder !== null ? `${p.holder.name}'s card is written.` : null };
        case "not_blank":
          return { title: "Take the card out: it is not a blank card", detail: "Insert a blank card instead." };
        case "unreadable":
          return { title: "Take the card out: it cannot be read", detail: p.error !== null ? errorLine(p.error) : "Insert another blank card." };
        case "set_aside":
          return {
            title: "Take the card out and set it aside: it failed",
            detail: `${p.error !== null ? `${errorLine(p.error)} ` : ""}Then insert another blank card.`,
          };
        default:
          return { title: "Take the card out", detail: null };
      }
    case "torn": {
      const where = p.step !== null ? ` at ${stepCounter(p.step).toLowerCase()}` : "";
      return { title: "Card pulled: put it back to finish it", detail: `${who === "the next card" ? "The card" : `${who}'s card`} stopped${where}.` };
    }
    case "stopped":
      return { title: p.stop === "cancelled" ? "Stopped: the batch was cancelled" : "Stopped: no card left", detail: null };
  }
}

/** Cards finished per hour in this run, once there is something to say (null before the first card). */
export function cardsPerHour(s: BoardState, now: number): number | null {
  if (s.startedAt === null || s.doneThisRun === 0) return null;
  const hours = (now - s.startedAt) / 3_600_000;
  if (hours <= 0) return null;
  return Math.round(s.doneThisRun / hours);
}

/** The backend's last error of a card, if it reads as operator words. */
export function lastErrorText(c: BatchCardRow): string | null {
  return cleanMessage(c.last_error);
}

/** "Run" for a batch nothing has been tried on yet, "Resume" after a run (interrupted, cancelled, retried). */
export function runLabel(b: BatchBoard): "Run" | "Resume" {
  const touched = b.cancelled || b.encoding > 0 || b.cards.some((c) => c.attempts > 0 || c.state !== "pending");
  return touched ? "Resume" : "Run";
}

/** Whether a run has anything to do: pending cards, or interrupted ones to finish. */
export function hasWork(b: BatchBoard): boolean {
  return b.pending + b.encoding > 0;
}

/** Holders of a batch for its list row: "Grace Hopper, Alan Turing and 3 more". */
export function holdersSummary(b: BatchBoard, max = 3): string {
  const names = b.cards.map((c) => c.holder?.name ?? "no person");
  if (names.length === 0) return "no cards";
  if (names.length <= max) return names.join(", ");
  return `${names.slice(0, max).join(", ")} and ${names.length - max} more`;
}
