// Card steps and job notices in operator words.
import type { CardStep, JobEvent, Notice } from "../bindings";

const SLOT_NAMES: Record<string, string> = {
  "9a": "9A authentication",
  "9c": "9C signature",
  "9d": "9D key management",
  "9e": "9E card authentication",
};

/** "9a" / "9A" / "piv_authentication" → "9A authentication". */
export function slotName(slot: string): string {
  const key = slot.trim().toLowerCase();
  const known = SLOT_NAMES[key];
  if (known !== undefined) return known;
  switch (key) {
    case "piv_authentication":
    case "authentication":
      return SLOT_NAMES["9a"] as string;
    case "digital_signature":
    case "signature":
      return SLOT_NAMES["9c"] as string;
    case "key_management":
      return SLOT_NAMES["9d"] as string;
    case "card_authentication":
      return SLOT_NAMES["9e"] as string;
    default:
      return slot.replace(/_/g, " ");
  }
}

/**
 * The backend words algorithms already ("ECC P-256", "AES-192"); older spellings ("ecc_p256",
 * "rsa2048") are worded the same way, so either reads well.
 */
export function algorithmName(algorithm: string): string {
  const a = algorithm.trim().toLowerCase().replace(/[-_ ]/g, "");
  const ecc = /^(?:ecc|ec|ecdsa)?p(256|384|521)$/.exec(a);
  if (ecc) return `ECC P-${ecc[1] ?? ""}`;
  const rsa = /^rsa(\d{4})$/.exec(a);
  if (rsa) return `RSA ${rsa[1] ?? ""}`;
  return algorithm.toUpperCase().replace(/_/g, " ");
}

/** One card step as the operator reads it in the stepper. */
export function stepLabel(step: CardStep): string {
  switch (step.step) {
    case "authenticate":
      return "Unlocking the card for changes";
    case "set_management_key":
      return `Setting the card's own management key (${algorithmName(step.algorithm)})`;
    case "set_retries":
      return `Setting PIN tries to ${step.pin} and PUK tries to ${step.puk}`;
    case "set_pin":
      return "Setting the PIN";
    case "set_puk":
      return "Setting the PUK";
    case "generate_key":
      return `Generating the ${slotName(step.slot)} key (${algorithmName(step.algorithm)})`;
    case "prove_and_certify":
      return `Getting the ${slotName(step.slot)} certificate from the registry`;
    case "check_certificate":
      return `Checking the ${slotName(step.slot)} certificate matches its key`;
    case "write_certificate":
      return `Writing the ${slotName(step.slot)} certificate`;
    case "delete_certificate":
      return `Removing the ${slotName(step.slot)} certificate`;
    case "write_chuid":
      return "Writing the card identifier (CHUID)";
    case "write_ccc":
      return "Writing the card capability container";
    case "read_back":
      return "Reading everything back to verify";
    case "block_pin":
      return "Blocking the PIN";
    case "block_puk":
      return "Blocking the PUK";
    case "reset_application":
      return "Erasing the card's PIV application";
    case "unblock_pin":
      return "Unblocking the PIN";
    case "verify_pin":
      return "Checking the PIN";
    case "ask_challenge":
      return "Asking the card for a challenge";
    case "prove_response":
      return "Proving the response to the card";
    case "change_puk":
      return "Changing the PUK";
  }
}

/** A job notice in operator words. */
export function noticeText(notice: Notice): string {
  switch (notice.notice) {
    case "resuming_job":
      return "This card has an unfinished job. Carrying on where it stopped.";
    case "earlier_attempt":
      return "An earlier attempt on this card did not finish; it is being cleaned up first.";
    case "card_already_finished":
      return "This card was already finished by the earlier attempt. Only the records are being completed.";
    case "pin_reset_only":
      return "Everything else was already done; only the PIN is being set again.";
  }
}

export interface StepProgress {
  index: number;
  total: number;
  label: string;
}

/** Progress state of a running card job, folded from its events. */
export interface JobProgress {
  steps: StepProgress[];
  current: StepProgress | null;
  notices: string[];
  /** The card is written: it may be taken out. */
  written: boolean;
}

export function emptyProgress(): JobProgress {
  return { steps: [], current: null, notices: [], written: false };
}

/** Pure reducer: apply one JobEvent. Steps are keyed by index so a resumed job does not duplicate. */
export function applyJobEvent(p: JobProgress, ev: JobEvent): JobProgress {
  switch (ev.kind) {
    case "step": {
      const s: StepProgress = { index: ev.index, total: ev.total, label: stepLabel(ev.step) };
      const steps = p.steps.filter((x) => x.index !== ev.index);
      steps.push(s);
      steps.sort((a, b) => a.index - b.index);
      return { ...p, steps, current: s };
    }
    case "notice":
      return { ...p, notices: [...p.notices, noticeText(ev.notice)] };
    case "card_written":
      return { ...p, written: true };
  }
}

/** "Step 3 of 12". The backend numbers steps from 1 (`JobEvent::Step.index` is 1-based). */
export function stepCounter(s: StepProgress): string {
  return `Step ${Math.min(Math.max(1, s.index), s.total)} of ${s.total}`;
}

/** Percentage of steps finished, 0…100, for the chip's progress (the current one is not yet done). */
export function percentDone(s: StepProgress | null): number {
  if (s === null || s.total <= 0) return 0;
  return Math.round((Math.min(Math.max(0, s.index - 1), s.total) / s.total) * 100);
}
