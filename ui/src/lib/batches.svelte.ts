// Batch runs of this window (UC-BATCH). A run lasts minutes and outlives the board's screen: the
// operator can look at another screen and come back to it, live. The reducer is in board.ts.
import { Channel } from "@tauri-apps/api/core";
import { commands, type BatchBoard, type BoardEvent, type ErrorView } from "../bindings";
import { app } from "./app.svelte";
import { call, errorOf } from "./api";
import { applyBoardEvent, boardState, forgetReveal, startRun, withBoard, type BoardState } from "./board";

export interface BatchRun {
  state: BoardState;
  /** runBatch has not answered yet. */
  running: boolean;
  /** Readers of the current (or last) run. */
  readers: string[];
  /** The last run's failure, if it failed. */
  error: ErrorView | null;
  /** The last run's final board: events arriving after it change panels and reveals, not the rows. */
  final: BatchBoard | null;
}

class BatchRuns {
  runs = $state<Record<string, BatchRun>>({});

  get(id: string): BatchRun | undefined {
    return this.runs[id];
  }

  /** A board fresh from the backend (opened, created, cancelled, retried). */
  show(board: BatchBoard): void {
    const cur = this.runs[board.id];
    if (cur === undefined) {
      this.runs[board.id] = { state: boardState(board), running: false, readers: [], error: null, final: null };
    } else {
      this.runs[board.id] = { ...cur, state: withBoard(cur.state, board) };
    }
  }

  private update(id: string, f: (r: BatchRun) => BatchRun): void {
    const cur = this.runs[id];
    if (cur !== undefined) this.runs[id] = f(cur);
  }

  /** The card's PIN was shown (or its panel closed): its ticket is gone. */
  forgetReveal(id: string, seq: number): void {
    this.update(id, (r) => ({ ...r, state: forgetReveal(r.state, seq) }));
  }

  private onEvent(id: string, ev: BoardEvent): void {
    this.update(id, (r) => {
      let state = applyBoardEvent(r.state, ev);
      if (r.final !== null) state = withBoard(state, r.final);
      return { ...r, state };
    });
    // The reader chips: busy for the whole run, written when a card may come out.
    switch (ev.event) {
      case "insert_card":
      case "started":
        app.jobProgress(ev.reader, null, false);
        break;
      case "step": {
        const p = this.runs[id]?.state.panels.find((x) => x.reader === ev.reader);
        app.jobProgress(ev.reader, p?.step ?? null, false);
        break;
      }
      case "done":
        app.jobProgress(ev.reader, null, true);
        break;
      case "remove_card":
        app.jobProgress(ev.reader, null, ev.why.reason === "finished");
        break;
      case "stopped":
        app.jobEnded(ev.reader);
        break;
      default:
        break;
    }
  }

  /** Run (or resume) batch `board` on `readers` until nothing is pending or it is cancelled. */
  async run(board: BatchBoard, readers: string[]): Promise<void> {
    const id = board.id;
    if (this.runs[id]?.running === true || readers.length === 0) return;
    this.show(board);
    this.update(id, (r) => ({ ...r, running: true, readers, error: null, final: null, state: startRun(r.state, readers, Date.now()) }));
    const count = board.pending + board.encoding;
    for (const reader of readers) app.jobStarted(reader, `Batch order (${count} ${count === 1 ? "card" : "cards"} left)`);
    const channel = new Channel<BoardEvent>();
    channel.onmessage = (ev) => this.onEvent(id, ev);
    try {
      const done = await call(commands.runBatch(id, readers, channel));
      this.update(id, (r) => ({ ...r, final: done, state: withBoard(r.state, done) }));
    } catch (e) {
      this.update(id, (r) => ({ ...r, error: errorOf(e) }));
      const now = await this.refresh(id);
      if (now !== null) this.update(id, (r) => ({ ...r, final: now }));
    } finally {
      for (const reader of readers) app.jobEnded(reader);
      this.update(id, (r) => ({ ...r, running: false }));
    }
  }

  /** The board as the backend has it now. */
  async refresh(id: string): Promise<BatchBoard | null> {
    try {
      const board = (await call(commands.batches())).find((b) => b.id === id) ?? null;
      if (board !== null) this.show(board);
      return board;
    } catch {
      return null;
    }
  }

  /** No new card is started; cards being written finish. Throws an AppError when refused. */
  async cancel(id: string): Promise<void> {
    const board = await call(commands.cancelBatch(id));
    this.show(board);
  }

  /** Failed cards back to pending (then run again). Throws an AppError when refused. */
  async retry(id: string): Promise<void> {
    const board = await call(commands.retryFailed(id));
    this.update(id, (r) => ({ ...r, final: null }));
    this.show(board);
  }
}

export const batchRuns = new BatchRuns();
