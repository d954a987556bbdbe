// Fakes temporary cards (UC-TEMP): the list by state, initialize (a card job), assign and return.
import type { PersonRef, ProfileRow, TemporaryRow } from "../../bindings";
import { cardSteps, outcome } from "./card-job";
import { channelId, err, STATE_LABELS, str, uuid, type AreaHandlers, type Person } from "./shared";
import type { FakeState } from "./state";

type TemporaryCommand = "temporaryCards" | "initializeTemporary" | "assignTemporary" | "returnTemporary";

export function temporaryHandlers(s: FakeState): AreaHandlers<TemporaryCommand> {
  return {
    temporaryCards: (args) => {
      const state = (args["state"] as string | null | undefined) ?? null;
      return s.later(temporaryRows(s).filter((r) => state === null || r.state === state).map((r) => ({ ...r })));
    },
    initializeTemporary: async (args) => {
      const t = temporaryRows(s).find((r) => r.id === str(args, "card"));
      if (!t) return s.fail(err("not-found", "No such temporary card."));
      if (t.state !== "produced") return s.fail({ ...err("state-not-allowed", "refused"), refusal: { code: "state-not-allowed", reason: `The card is ${t.state_label.toLowerCase()}, not produced.` } });
      const reader = str(args, "reader");
      const slot = s.readers.find((x) => x.name === reader);
      if (!slot?.view) return s.fail(err("no-card", "No card in the reader."));
      await cardSteps(s, reader, channelId(args, "progress"), [
        { step: "authenticate" },
        { step: "set_management_key", algorithm: "AES-192" },
        { step: "generate_key", slot: "9a", algorithm: "ECC P-256" },
        { step: "prove_and_certify", slot: "9a" },
        { step: "write_certificate", slot: "9a" },
        { step: "write_chuid" },
        { step: "set_retries", pin: 3, puk: 3 },
        { step: "set_pin" },
        { step: "set_puk" },
        { step: "read_back" },
      ]);
      Object.assign(t, { state: "unassigned", state_label: STATE_LABELS["unassigned"] });
      slot.view = { kind: "temporary", reader, serial: t.serial, device_id: t.id, state: t.state, state_label: t.state_label, holder: null, open_job: null };
      s.reread(reader);
      return outcome(s, "Temporary card initialized", { device_id: t.id, state: t.state, state_label: t.state_label, holder: null }, { pin: "27364519", puk: "80417736" });
    },
    assignTemporary: (args) => {
      const t = temporaryRows(s).find((r) => r.id === str(args, "card"));
      const p = s.people.find((x) => x.ref.id === str(args, "person"));
      if (!t || !p) return s.fail(err("not-found", "No such temporary card or person."));
      if (t.state !== "unassigned") return s.fail({ ...err("state-not-allowed", "refused"), refusal: { code: "state-not-allowed", reason: `The card is ${t.state_label.toLowerCase()}, not unassigned.` } });
      const until = (args["until"] as string | null | undefined) ?? null;
      Object.assign(t, {
        state: "assigned",
        state_label: STATE_LABELS["assigned"],
        holder: p.ref,
        assigned_until: until === null ? new Date(Date.now() + 14 * 86_400_000).toISOString() : `${until}T23:59:59Z`,
        permanent_card: p === s.people[0] ? "Temporarily inactive" : null,
      });
      return s.later({ ...t });
    },
    returnTemporary: (args) => {
      const t = temporaryRows(s).find((r) => r.id === str(args, "card"));
      if (!t) return s.fail(err("not-found", "No such temporary card."));
      if (t.state !== "assigned" && t.state !== "expired") return s.fail({ ...err("state-not-allowed", "refused"), refusal: { code: "state-not-allowed", reason: `The card is ${t.state_label.toLowerCase()}: it is not lent out.` } });
      const lost = str(args, "reason") === "lost";
      Object.assign(t, lost
        ? { state: "locked", state_label: STATE_LABELS["locked"], permanent_card: "Temporarily inactive" }
        : { state: "unassigned", state_label: STATE_LABELS["unassigned"], holder: null, assigned_until: null, permanent_card: null });
      return s.later({ ...t });
    },
  };
}

/** Temporary cards in every state (seed 001). */
export function temporaryRows(s: FakeState): TemporaryRow[] {
  if (s.tempList !== null) return s.tempList;
  const profile = (s.profiles[2] as ProfileRow).name;
  const p = (i: number): PersonRef => (s.people[i] as Person).ref;
  const day = (d: number): string => new Date(Date.now() + d * 86_400_000).toISOString();
  const row = (n: number, state: string, holder: PersonRef | null = null, until: string | null = null): TemporaryRow => ({
    id: uuid(n, 0x11),
    serial: state === "ordered" ? null : `T-${(1000 + n).toString()}`,
    profile_name: profile,
    state,
    state_label: STATE_LABELS[state] ?? state,
    holder,
    assigned_until: until,
    permanent_card: holder === null ? null : "Temporarily inactive",
  });
  s.tempList = [
    row(1, "ordered"),
    row(2, "produced"),
    row(3, "produced"),
    row(4, "unassigned"),
    row(5, "unassigned"),
    row(6, "assigned", p(5), day(10)),
    row(7, "expired", p(6), day(-2)),
    row(8, "locked"),
  ];
  return s.tempList;
}

/** A temporary card in `reader` (console: `fake.insertTemporary("Virtual PCD 00 01", 2)` = the first produced one). */
export function insertTemporary(s: FakeState, reader: string, n: number): void {
  const t = temporaryRows(s).find((r) => r.id === uuid(n, 0x11));
  if (t === undefined) return;
  s.insert(reader, { kind: "temporary", reader, serial: t.serial, device_id: t.id, state: t.state, state_label: t.state_label, holder: t.holder, open_job: null });
}
