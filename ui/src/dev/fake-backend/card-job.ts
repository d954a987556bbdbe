// Card-job helpers shared by card work and temporary cards: find the card, run its steps, answer a CardOutcome.
import type { CardOutcome, CardStep, JobEvent, PersonRef } from "../../bindings";
import { err, STATE_LABELS, type OursView } from "./shared";
import type { FakeState } from "./state";

export function heldIn(s: FakeState, reader: string): OursView | null {
  const v = s.readers.find((x) => x.name === reader)?.view;
  return v?.kind === "ours" ? v : null;
}

export function heldById(s: FakeState, device: string): OursView | null {
  for (const r of s.readers) if (r.view?.kind === "ours" && r.view.device_id === device) return r.view;
  return null;
}

export function setCardState(s: FakeState, v: OursView, state: string): void {
  v.state = state;
  v.state_label = STATE_LABELS[state] ?? state;
  v.actions = s.cardActions(state);
  v.card_work = s.cardWork(state, v.pending_updates);
  const cert = state === "inactive" ? "on_hold" : state === "locked" ? "revoked" : "valid";
  v.certificates = v.certificates.map((c) => ({ ...c, state: cert, state_label: STATE_LABELS[cert] ?? cert }));
}

/** Runs card steps on `progress`; honours `tearAfter` like the issue job. */
export async function cardSteps(s: FakeState, reader: string, progress: number, steps: CardStep[]): Promise<void> {
  for (let i = 0; i < steps.length; i++) {
    s.send(progress, i, { kind: "step", index: i + 1, total: steps.length, step: steps[i] as CardStep } satisfies JobEvent);
    await s.later(null);
    if (s.tearAfter !== null && i + 1 >= s.tearAfter) {
      s.tearAfter = null;
      s.remove(reader);
      throw err("card-removed", `The card was removed from ${reader}.`);
    }
  }
  s.send(progress, steps.length, { kind: "card_written" } satisfies JobEvent);
}

export function outcome(
  s: FakeState,
  summary: string,
  card: { device_id: string; state: string; state_label: string; holder: PersonRef | null },
  secret: { pin: string; puk: string | null } | null = null,
): CardOutcome {
  let reveal: { id: string } | null = null;
  if (secret !== null) {
    reveal = { id: `t-${(s.seq++).toString()}` };
    s.tickets.set(reveal.id, secret);
  }
  return { summary, device_id: card.device_id, state: card.state, state_label: card.state_label, holder: card.holder, resumed: false, warnings: [], reveal };
}
