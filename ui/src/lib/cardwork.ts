// Card work on a card of ours (UC-UPDATE, UC-PIN, UC-RETIRE) and the card jobs it starts: pure
// helpers. What is allowed, and why not, comes from the backend (`card_work`, `actions`); these
// only sort, word and check what the operator typed.
import type { ActionView, Capabilities, PersonRef } from "../bindings";
import type { ReaderState } from "./readers";

/** Device-view actions the Card work section carries out (UC-RETIRE). */
export const RETIRE_ACTIONS = ["deactivate", "reactivate", "cancel", "erase"] as const;
export type RetireAction = (typeof RETIRE_ACTIONS)[number];

export function isRetireAction(action: string): action is RetireAction {
  return (RETIRE_ACTIONS as readonly string[]).includes(action);
}

/** A device's `actions`: the retire ones go to Card work, the rest stay in the action bar. */
export function splitActions(actions: ActionView[]): { bar: ActionView[]; retire: ActionView[] } {
  return {
    bar: actions.filter((a) => !isRetireAction(a.action)),
    retire: actions.filter((a) => isRetireAction(a.action)),
  };
}

/** The capability a card-work action belongs to; an operator without it does not see it. */
function capabilityOf(action: string): keyof Capabilities | null {
  switch (action) {
    case "request_update":
    case "request_reprovision":
    case "collect_updates":
      return "update";
    case "unblock_pin":
    case "change_pin":
      return "pin";
    case "deactivate":
    case "reactivate":
    case "cancel":
    case "erase":
      return "retire";
    default:
      return null;
  }
}

/** Actions of use cases this operator has (absent, not disabled, when not permitted). */
export function visibleWork(actions: ActionView[], can: Capabilities): ActionView[] {
  return actions.filter((a) => {
    const c = capabilityOf(a.action);
    return c === null || can[c];
  });
}

/** The `requestUpdate` reason behind a card-work action. */
export function updateReason(action: string): "apply_latest_updates" | "reprovision_all_content" | null {
  if (action === "request_update") return "apply_latest_updates";
  if (action === "request_reprovision") return "reprovision_all_content";
  return null;
}

/** Reasons for cancelling a card (the backend's `CancelReason`, snake_case). */
export const CANCEL_REASONS: { value: string; label: string }[] = [
  { value: "lost", label: "Lost" },
  { value: "stolen", label: "Stolen" },
  { value: "damaged", label: "Damaged" },
  { value: "no_longer_needed", label: "No longer needed" },
];

/** The backend's refusal as a sentence: "no approved update…" → "No approved update….". */
export function whyText(a: ActionView): string {
  const r = (a.reason ?? "").trim();
  if (r === "") return "Not possible in this state.";
  const s = r.charAt(0).toUpperCase() + r.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** Free text that may be left empty → null. */
export function optionalText(s: string): string | null {
  const t = s.trim();
  return t === "" ? null : t;
}

/**
 * What stops a PIN change before it goes to the card: a field left empty, or the new PIN typed
 * differently twice. PIN rules (length, characters) are the card's and the backend's to check.
 */
export function pinChangeProblem(current: string, next: string, confirm: string): string | null {
  if (current === "") return "Type the current PIN.";
  if (next === "") return "Type the new PIN.";
  if (confirm === "") return "Type the new PIN a second time.";
  if (next !== confirm) return "The new PIN and its repetition are not the same. Type both again.";
  return null;
}

/** A card job started from the device view or the Temporary cards screen. */
export type CardJobSpec =
  | { kind: "initialize"; nonce: string; card: string; label: string }
  | { kind: "collect_updates"; nonce: string; holder: PersonRef | null }
  | { kind: "unblock_pin"; nonce: string; holder: PersonRef | null; identityCheck: string }
  | { kind: "erase"; nonce: string; holder: PersonRef | null; notes: string | null };

let counter = 0;

/** A fresh id for a job the operator just confirmed. */
export function newNonce(): string {
  counter++;
  return `${Date.now().toString(36)}-${counter.toString(36)}`;
}

const claimed = new Set<string>();

/**
 * True the first time a confirmed job asks to run. A job screen reached again through history
 * (Esc, back) must not write the card a second time.
 */
export function claimRun(nonce: string): boolean {
  if (claimed.has(nonce)) return false;
  claimed.add(nonce);
  return true;
}

/** The job's heading and the reader chip's label. */
export function jobTitle(spec: CardJobSpec): string {
  const whose = (h: PersonRef | null): string => (h ? ` for ${h.name}` : "");
  switch (spec.kind) {
    case "initialize":
      return `Initialize temporary card ${spec.label}`;
    case "collect_updates":
      return `Collect updates${whose(spec.holder)}`;
    case "unblock_pin":
      return `Unblock PIN${whose(spec.holder)}`;
    case "erase":
      return spec.holder ? `Erase ${spec.holder.name}'s card` : "Erase the card";
  }
}

/** The outcome panel's `data-reveal`: a PIN waiting to be shown, shown and closed, or none. */
export function revealState(outcome: { reveal: unknown } | null, open: boolean): "open" | "closed" | "none" {
  if (outcome === null || outcome.reveal === null) return "none";
  return open ? "open" : "closed";
}

/** Errors that mean the card left the reader mid-job: reinsert it and the job carries on. */
export const TEAR_CODES: ReadonlySet<string> = new Set(["card-removed", "reader-gone", "card-reset", "timeout"]);

/**
 * After a torn job: the card is back in `reader` (a later insertion than `insertionAtTear`) and
 * read as one of ours or a temporary card, so the job can be run again to finish.
 */
export function cardBack(readers: ReaderState[], reader: string, insertionAtTear: number): boolean {
  const r = readers.find((x) => x.name === reader);
  if (r === undefined || r.insertion <= insertionAtTear) return false;
  return r.view?.kind === "ours" || r.view?.kind === "temporary";
}
