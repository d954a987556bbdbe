import { describe, expect, it } from "vitest";
import type { BatchBoard, BatchCardRow, BoardEvent, ErrorView } from "../bindings";
import {
  applyBoardEvent,
  boardState,
  cardsPerHour,
  forgetReveal,
  holdersSummary,
  lastErrorText,
  panelText,
  runLabel,
  startRun,
  withBoard,
  type BoardState,
  type ReaderPanel,
} from "./board";

const R1 = "Virtual PCD 00 00";
const R2 = "Virtual PCD 00 01";
const grace = { id: "p1", name: "Grace Hopper" };
const alan = { id: "p2", name: "Alan Turing" };

function card(seq: number, holder = seq === 1 ? grace : alan): BatchCardRow {
  return { seq, request: `r${String(seq)}`, holder, profile_name: "Staff PIV", state: "pending", state_label: "Pending", reader: null, attempts: 0, last_error: null };
}

function board(cards: BatchCardRow[] = [card(1), card(2)]): BatchBoard {
  return {
    id: "b1",
    created_at: "2026-03-01T10:00:00Z",
    options: { pin_length: null, puk_length: null, certificates: null, card_end_state: null, certificate_end_state: null },
    cancelled: false,
    pending: cards.length,
    encoding: 0,
    done: 0,
    failed: 0,
    cancelled_cards: 0,
    cards,
  };
}

const cardError: ErrorView = { code: "card-error", message: "The card refused the certificate.", refusal: null, tries: null };
const removed: ErrorView = { code: "card-removed", message: "The card was removed.", refusal: null, tries: null };

function running(): BoardState {
  return startRun(boardState(board()), [R1, R2], 0);
}

function fold(s: BoardState, evs: BoardEvent[]): BoardState {
  return evs.reduce(applyBoardEvent, s);
}

const panelOf = (s: BoardState, reader: string) => s.panels.find((p) => p.reader === reader);
const cardOf = (s: BoardState, seq: number) => s.board.cards.find((c) => c.seq === seq);

describe("batch board reducer", () => {
  it("starts with one idle panel per reader", () => {
    const s = running();
    expect(s.panels.map((p) => [p.reader, p.status])).toEqual([
      [R1, "idle"],
      [R2, "idle"],
    ]);
    expect(panelText(s.panels[0] as ReaderPanel).title).toBe("Waiting to start");
  });

  it("insert_card asks for a blank card", () => {
    const s = applyBoardEvent(running(), { event: "insert_card", reader: R1 });
    expect(panelOf(s, R1)?.status).toBe("insert");
    expect(panelText(panelOf(s, R1) as ReaderPanel).title).toBe("Insert a blank card");
  });

  it("started puts the card in encoding in that reader; steps are worded and counted", () => {
    const s = fold(running(), [
      { event: "started", reader: R1, seq: 1, holder: grace, attempt: 1, resuming: false },
      { event: "step", reader: R1, index: 3, total: 9, step: { step: "generate_key", slot: "9a", algorithm: "ECC P-256" } },
    ]);
    expect(cardOf(s, 1)).toMatchObject({ state: "encoding", state_label: "Encoding", reader: R1, attempts: 1 });
    expect(s.board.encoding).toBe(1);
    expect(s.board.pending).toBe(1);
    const p = panelOf(s, R1);
    expect(p?.status).toBe("encoding");
    expect(panelText(p as ReaderPanel).title).toBe("Encoding Grace Hopper — step 3 of 9: Generating the 9A authentication key (ECC P-256)");
  });

  it("note adds the notice in operator words", () => {
    const s = fold(running(), [
      { event: "started", reader: R2, seq: 2, holder: alan, attempt: 1, resuming: true },
      { event: "note", reader: R2, notice: { notice: "resuming_job", job: "j1" } },
    ]);
    expect(panelOf(s, R2)?.notices[0]).toContain("Carrying on where it stopped");
    expect(panelText(panelOf(s, R2) as ReaderPanel).detail).toContain("interrupted");
  });

  it("done marks the card done, keeps its reveal ticket, and asks for the card out", () => {
    const s = fold(running(), [
      { event: "started", reader: R1, seq: 1, holder: grace, attempt: 1, resuming: false },
      { event: "done", reader: R1, seq: 1, holder: grace, reveal: { id: "t1" }, warnings: ["Sync later."] },
    ]);
    expect(cardOf(s, 1)?.state).toBe("done");
    expect(s.board.done).toBe(1);
    expect(s.reveals[1]).toEqual({ id: "t1" });
    expect(s.warnings[1]).toEqual(["Sync later."]);
    expect(panelOf(s, R1)?.status).toBe("remove");
    expect(panelText(panelOf(s, R1) as ReaderPanel).title).toBe("Take the card out (finished)");
    expect(s.doneThisRun).toBe(1);
    expect(forgetReveal(s, 1).reveals[1]).toBeUndefined();
  });

  it("failed and retried puts the card back to pending; not retried leaves it failed", () => {
    const start: BoardEvent = { event: "started", reader: R1, seq: 1, holder: grace, attempt: 1, resuming: false };
    const retried = fold(running(), [start, { event: "failed", reader: R1, seq: 1, error: cardError, retried: true }]);
    expect(cardOf(retried, 1)?.state).toBe("pending");
    expect(cardOf(retried, 1)?.last_error).toContain("The card refused the certificate.");
    expect(retried.board.pending).toBe(2);
    expect(panelOf(retried, R1)?.status).toBe("remove");
    expect(panelText(panelOf(retried, R1) as ReaderPanel).title).toContain("set it aside");

    const final = fold(running(), [start, { event: "failed", reader: R1, seq: 1, error: cardError, retried: false }]);
    expect(cardOf(final, 1)?.state).toBe("failed");
    expect(final.board.failed).toBe(1);
    expect(final.board.pending).toBe(1);
  });

  it("torn keeps the card encoding and says to put it back, even when a blank card is asked for", () => {
    const s = fold(running(), [
      { event: "started", reader: R2, seq: 2, holder: alan, attempt: 1, resuming: false },
      { event: "step", reader: R2, index: 4, total: 9, step: { step: "write_chuid" } },
      { event: "torn", reader: R2, seq: 2, error: removed },
      { event: "insert_card", reader: R2 },
    ]);
    expect(cardOf(s, 2)?.state).toBe("encoding");
    const p = panelOf(s, R2);
    expect(p?.status).toBe("torn");
    const t = panelText(p as ReaderPanel);
    expect(t.title).toBe("Card pulled: put it back to finish it");
    expect(t.detail).toBe("Alan Turing's card stopped at step 4 of 9.");
  });

  it("remove_card words each reason; unreadable shows the error without raw text", () => {
    const base = running();
    const why = (ev: BoardEvent) => panelText(panelOf(applyBoardEvent(base, ev), R1) as ReaderPanel);
    expect(why({ event: "remove_card", reader: R1, why: { reason: "finished" }, message: "finished" }).title).toBe("Take the card out (finished)");
    expect(why({ event: "remove_card", reader: R1, why: { reason: "not_blank" }, message: "x" }).title).toContain("not a blank card");
    expect(why({ event: "remove_card", reader: R1, why: { reason: "set_aside" }, message: "x" }).title).toContain("set it aside");
    const bad: ErrorView = { code: "card-error", message: "Some(ApduError { sw: 0x6A82 })", refusal: null, tries: null };
    const u = why({ event: "remove_card", reader: R1, why: { reason: "unreadable", error: bad }, message: "x" });
    expect(u.title).toContain("cannot be read");
    expect(u.detail).not.toContain("Some(");
  });

  it("stopped says why", () => {
    const s = fold(running(), [
      { event: "stopped", reader: R1, why: "nothing_left" },
      { event: "stopped", reader: R2, why: "cancelled" },
    ]);
    expect(panelText(panelOf(s, R1) as ReaderPanel).title).toBe("Stopped: no card left");
    expect(panelText(panelOf(s, R2) as ReaderPanel).title).toBe("Stopped: the batch was cancelled");
    expect(panelOf(s, R1)?.status).toBe("stopped");
  });

  it("an event for a reader not started on gets its own panel; unknown cards are ignored", () => {
    const s = applyBoardEvent(running(), { event: "started", reader: "Other 00 00", seq: 99, holder: null, attempt: 1, resuming: false });
    expect(panelOf(s, "Other 00 00")?.status).toBe("encoding");
    expect(s.board.cards.every((c) => c.state === "pending")).toBe(true);
    expect(panelText(panelOf(s, "Other 00 00") as ReaderPanel).title).toBe("Encoding the next card — starting");
  });

  it("a fresh board from the backend replaces rows and counts, keeping panels and reveals", () => {
    const s = fold(running(), [{ event: "done", reader: R1, seq: 1, holder: grace, reveal: { id: "t1" }, warnings: [] }]);
    const fresh = board([{ ...card(1), state: "done", state_label: "Done" }, { ...card(2), state: "failed", state_label: "Failed", last_error: "Card error" }]);
    const next = withBoard(s, { ...fresh, done: 1, pending: 0, failed: 1 });
    expect(next.board.failed).toBe(1);
    expect(next.reveals[1]).toEqual({ id: "t1" });
    expect(next.panels).toHaveLength(2);
  });
});

describe("batch board wording", () => {
  it("Run for an untouched batch, Resume after a run", () => {
    expect(runLabel(board())).toBe("Run");
    expect(runLabel({ ...board(), cancelled: true })).toBe("Resume");
    expect(runLabel(board([{ ...card(1), attempts: 1 }, card(2)]))).toBe("Resume");
  });

  it("summarises holders and never shows Debug text as a card's last error", () => {
    expect(holdersSummary(board([card(1), card(2), card(3, alan), card(4, grace)]), 2)).toBe("Grace Hopper, Alan Turing and 2 more");
    expect(lastErrorText({ ...card(1), last_error: "Reader(Timeout { ms: 5 })" })).toBeNull();
    expect(lastErrorText({ ...card(1), last_error: "The card was removed." })).toBe("The card was removed.");
  });

  it("counts cards per hour once a card is done", () => {
    let s = running();
    expect(cardsPerHour(s, 60_000)).toBeNull();
    s = applyBoardEvent(s, { event: "done", reader: R1, seq: 1, holder: grace, reveal: null, warnings: [] });
    expect(cardsPerHour(s, 6 * 60_000)).toBe(10);
    expect(s.reveals[1]).toBeUndefined();
  });
});
