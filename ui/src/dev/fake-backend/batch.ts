// Fakes batch issuance: the approved queue, creating batches, running them on several readers, cancel and retry.
import type { BatchBoard, BatchOptionsInput, BoardEvent, CardStep, RequestRow } from "../../bindings";
import { channelId, err, issueSteps, str, uuid, type AreaHandlers } from "./shared";
import type { FakeState } from "./state";

type BatchCommand = "batchQueue" | "batches" | "createBatch" | "runBatch" | "cancelBatch" | "retryFailed";

export function batchHandlers(s: FakeState): AreaHandlers<BatchCommand> {
  return {
    batchQueue: () => {
      const taken = new Set(s.batches.flatMap((b) => b.cards.filter((c) => c.state !== "cancelled").map((c) => c.request)));
      return s.later(s.requests.filter((r) => r.state === "approved" && !taken.has(r.id)));
    },
    batches: () => s.later([...s.batches].reverse().map(cloneBoard)),
    createBatch: (args) => {
      const ids = (args["requests"] as string[] | undefined) ?? [];
      const options = args["options"] as BatchOptionsInput;
      if (ids.length === 0) return s.fail({ ...err("invalid-batch", "refused"), refusal: { code: "invalid-batch", reason: "A batch needs at least one card." } });
      if (options.pin_length !== null && (options.pin_length < 6 || options.pin_length > 8)) {
        return s.fail({ ...err("invalid-batch", "refused"), refusal: { code: "invalid-batch", reason: `A PIN of ${String(options.pin_length)} digits is outside the profile's policy (6 to 8 digits).` } });
      }
      const rows = ids.map((id) => s.requests.find((r) => r.id === id && r.state === "approved"));
      if (rows.some((r) => r === undefined)) return s.fail(err("not-found", "A request of the batch is no longer approved."));
      const board: BatchBoard = {
        id: uuid(s.seq++, 0x10),
        created_at: new Date().toISOString(),
        options,
        cancelled: false,
        pending: rows.length,
        encoding: 0,
        done: 0,
        failed: 0,
        cancelled_cards: 0,
        cards: (rows as RequestRow[]).map((r, i) => ({ seq: i + 1, request: r.id, holder: r.person, profile_name: r.profile_name, state: "pending", state_label: "Pending", reader: null, attempts: 0, last_error: null })),
      };
      s.batches.push(board);
      return s.later(cloneBoard(board));
    },
    runBatch: (args) => {
      const b = s.batches.find((x) => x.id === str(args, "batch"));
      if (!b) return s.fail(err("not-found", "No such batch."));
      return runBoard(s, b, (args["readers"] as string[] | undefined) ?? [], channelId(args, "events"));
    },
    cancelBatch: (args) => {
      const b = s.batches.find((x) => x.id === str(args, "batch"));
      if (!b) return s.fail(err("not-found", "No such batch."));
      b.cancelled = true;
      return s.later(cloneBoard(b));
    },
    retryFailed: (args) => {
      const b = s.batches.find((x) => x.id === str(args, "batch"));
      if (!b) return s.fail(err("not-found", "No such batch."));
      for (const c of b.cards) if (c.state === "failed") Object.assign(c, { state: "pending", state_label: "Pending" });
      recountBoard(b);
      return s.later(cloneBoard(b));
    },
  };
}

/**
 * A batch run: one worker per reader, each asking for a blank card, encoding the next pending
 * card step by step, asking for it to be taken out, until none is pending or it is cancelled.
 */
async function runBoard(s: FakeState, b: BatchBoard, readers: string[], channel: number): Promise<BatchBoard> {
  b.cancelled = false;
  let index = 0;
  const emit = (ev: BoardEvent): void => s.send(channel, index++, ev);
  const steps = issueSteps();
  const worker = async (reader: string): Promise<void> => {
    for (;;) {
      if (b.cancelled) return emit({ event: "stopped", reader, why: "cancelled" });
      if (!b.cards.some((c) => c.state === "pending")) return emit({ event: "stopped", reader, why: "nothing_left" });
      emit({ event: "insert_card", reader });
      await s.later(null);
      const card = b.cards.find((c) => c.state === "pending");
      if (b.cancelled) return emit({ event: "stopped", reader, why: "cancelled" });
      if (card === undefined) return emit({ event: "stopped", reader, why: "nothing_left" });
      Object.assign(card, { state: "encoding", state_label: "Encoding", reader, attempts: card.attempts + 1 });
      recountBoard(b);
      emit({ event: "started", reader, seq: card.seq, holder: card.holder, attempt: card.attempts, resuming: false });
      let failed = false;
      for (let i = 0; i < steps.length; i++) {
        emit({ event: "step", reader, index: i + 1, total: steps.length, step: steps[i] as CardStep });
        await s.later(null);
        if (s.batchFailSeq === card.seq && card.attempts === 1 && i === 4) {
          failed = true;
          break;
        }
      }
      if (failed) {
        const error = err("card-error", "The card refused to store the certificate.");
        Object.assign(card, { state: "pending", state_label: "Pending", last_error: error.message });
        recountBoard(b);
        emit({ event: "failed", reader, seq: card.seq, error, retried: true });
        emit({ event: "remove_card", reader, why: { reason: "set_aside" }, message: "the card failed: set it aside, insert another blank card" });
        await s.later(null);
        continue;
      }
      emit({ event: "remove_card", reader, why: { reason: "finished" }, message: "finished" });
      const ticket = `t-${s.seq++}`;
      const digits = (n: number): string => Array.from({ length: n }, (_, i) => String((card.seq * 7 + i * 3) % 10)).join("");
      s.tickets.set(ticket, { pin: digits(b.options.pin_length ?? 8), puk: digits(b.options.puk_length ?? 8) });
      Object.assign(card, { state: "done", state_label: "Done", last_error: null });
      recountBoard(b);
      const request = s.requests.find((r) => r.id === card.request);
      if (request) Object.assign(request, { state: "completed", state_label: "Completed" });
      emit({ event: "done", reader, seq: card.seq, holder: card.holder, reveal: { id: ticket }, warnings: [] });
      await s.later(null);
    }
  };
  await Promise.all(readers.map(worker));
  return cloneBoard(b);
}

const cloneBoard = (b: BatchBoard): BatchBoard => ({ ...b, options: { ...b.options }, cards: b.cards.map((c) => ({ ...c })) });

function recountBoard(b: BatchBoard): void {
  const n = (state: string): number => b.cards.filter((c) => c.state === state).length;
  Object.assign(b, { pending: n("pending"), encoding: n("encoding"), done: n("done"), failed: n("failed"), cancelled_cards: n("cancelled") });
}
