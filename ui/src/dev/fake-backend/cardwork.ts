// Fakes card work on a card of ours (UC-UPDATE, UC-PIN, UC-RETIRE): request update, collect updates, PIN unblock / change, retire, erase.
import type { ProfileRow } from "../../bindings";
import { cardSteps, heldById, heldIn, outcome, setCardState } from "./card-job";
import { channelId, err, STATE_LABELS, str, type AreaHandlers, type Person } from "./shared";
import type { FakeState } from "./state";

type CardWorkCommand = "requestUpdate" | "collectUpdates" | "unblockPin" | "changePin" | "retire" | "eraseCard";

export function cardWorkHandlers(s: FakeState): AreaHandlers<CardWorkCommand> {
  return {
    requestUpdate: (args) => {
      const v = heldById(s, str(args, "device"));
      if (!v) return s.fail(err("not-found", "No such card."));
      const reprovision = str(args, "reason") === "reprovision_all_content";
      const other = s.profiles.find((x) => x.id === ((args["profile"] as string | null | undefined) ?? ""));
      const profile = other ?? (s.profiles[0] as ProfileRow);
      const person = s.people.find((x) => x.ref.id === v.holder?.id) ?? (s.people[0] as Person);
      const pending = other !== undefined && other.needs_approval;
      const row = s.newRequest(person, profile, pending ? "pending_approval" : "approved", { id: s.session.operator, name: s.session.display_name });
      Object.assign(row, { kind: reprovision ? "reprovision" : "update", kind_label: reprovision ? "Reprovision" : "Update", device_id: v.device_id, reason: (args["notes"] as string | null | undefined) ?? null });
      s.requests.push(row);
      v.open_requests = [...v.open_requests.filter((r) => r.kind !== row.kind), row];
      if (!pending) v.pending_updates = v.open_requests.filter((r) => r.state === "approved").length;
      v.card_work = s.cardWork(v.state, v.pending_updates);
      return s.later({ ...row });
    },
    collectUpdates: async (args) => {
      const reader = str(args, "reader");
      const v = heldIn(s, reader);
      if (!v) return s.fail(err("no-card", "No card of ours in the reader."));
      if (v.pending_updates === 0) return s.fail({ ...err("state-not-allowed", "refused"), refusal: { code: "state-not-allowed", reason: "No approved update is waiting for this card." } });
      await cardSteps(s, reader, channelId(args, "progress"), [
        { step: "authenticate" },
        { step: "generate_key", slot: "9d", algorithm: "ECC P-256" },
        { step: "prove_and_certify", slot: "9d" },
        { step: "write_certificate", slot: "9d" },
        { step: "read_back" },
      ]);
      for (const r of v.open_requests) if (r.state === "approved") Object.assign(r, { state: "completed", state_label: "Completed" });
      v.open_requests = v.open_requests.filter((r) => r.state !== "completed");
      v.pending_updates = 0;
      v.card_work = s.cardWork(v.state, 0);
      s.reread(reader);
      return outcome(s, "Updates collected", v);
    },
    unblockPin: async (args) => {
      const reader = str(args, "reader");
      const v = heldIn(s, reader);
      if (!v) return s.fail(err("no-card", "No card of ours in the reader."));
      if (str(args, "identityCheck").trim() === "") return s.fail(err("bad-input", "Say how the cardholder's identity was checked."));
      await cardSteps(s, reader, channelId(args, "progress"), [{ step: "authenticate" }, { step: "unblock_pin" }, { step: "verify_pin" }]);
      v.pin_tries = 3;
      s.reread(reader);
      return outcome(s, "PIN unblocked", v, { pin: "91827364", puk: null });
    },
    changePin: (args) => {
      const reader = str(args, "reader");
      const v = heldIn(s, reader);
      if (!v) return s.fail(err("no-card", "No card of ours in the reader."));
      if (str(args, "currentPin") !== s.cardPin) {
        v.pin_tries = Math.max(0, (v.pin_tries ?? 3) - 1);
        return s.fail(err("wrong-pin", "The current PIN was not accepted.", v.pin_tries));
      }
      s.cardPin = str(args, "newPin");
      v.pin_tries = 3;
      return s.later(outcome(s, "PIN changed", v));
    },
    retire: (args) => {
      const v = heldById(s, str(args, "device"));
      if (!v) return s.fail(err("not-found", "No such card."));
      const action = str(args, "action");
      const a = v.actions.find((x) => x.action === action);
      if (!a?.allowed) return s.fail({ ...err("state-not-allowed", "refused"), refusal: { code: "state-not-allowed", reason: a?.reason ?? `The card is ${v.state_label.toLowerCase()}.` } });
      if (action === "cancel" && (args["reason"] ?? null) === null) return s.fail(err("bad-input", "say why the card is cancelled"));
      const next = action === "deactivate" ? "inactive" : action === "reactivate" ? "active" : "locked";
      setCardState(s, v, next);
      return s.later(outcome(s, action === "deactivate" ? "Card deactivated" : action === "reactivate" ? "Card reactivated" : "Card cancelled", v));
    },
    eraseCard: async (args) => {
      const reader = str(args, "reader");
      const v = heldIn(s, reader);
      if (!v) return s.fail(err("no-card", "No card of ours in the reader."));
      const erase = v.actions.find((x) => x.action === "erase");
      if (!erase?.allowed) return s.fail({ ...err("not-permitted", "refused"), refusal: { code: "not-permitted", reason: erase?.reason ?? "Erasing is not allowed." } });
      await cardSteps(s, reader, channelId(args, "progress"), [{ step: "authenticate" }, { step: "block_pin" }, { step: "block_puk" }, { step: "reset_application" }]);
      const done = outcome(s, "Card erased", { ...v, state: "erased", state_label: STATE_LABELS["erased"] ?? "Erased" });
      const slot = s.readers.find((x) => x.name === reader);
      if (slot) slot.view = s.blank(reader);
      s.reread(reader);
      return done;
    },
  };
}
