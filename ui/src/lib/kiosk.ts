// The walk-up kiosk's rules and words, for a cardholder (no operator terms, no ids): the code's
// shape, the PIN policy, what an error means for them, the exit gesture.
import type { ErrorView, JobEvent, KioskPinRules } from "../bindings";

/** Idle seconds before a cardholder's session ends when the code check has not said. */
export const DEFAULT_IDLE_SECONDS = 60;
/** Taps on the top-left corner that, within EXIT_TAP_WINDOW_MS, open the exit prompt. */
export const EXIT_TAPS = 5;
export const EXIT_TAP_WINDOW_MS = 3000;

const CODE_LENGTH = 16;
const CODE_ALPHABET = /^[0-9ABCDEFGHJKMNPQRSTVWXYZ]+$/;

/**
 * The code as the registry reads it (upper case, hyphens and spaces dropped, O→0, I/L→1) in
 * groups of four, or null when it cannot be a code (wrong length or a character no code has).
 */
export function normalizeCode(typed: string): string | null {
  const clean = typed
    .toUpperCase()
    .replace(/[\s-]/g, "")
    .replace(/O/g, "0")
    .replace(/[IL]/g, "1");
  if (clean.length !== CODE_LENGTH || !CODE_ALPHABET.test(clean)) return null;
  return clean.match(/.{4}/g)?.join("-") ?? null;
}

/** The PIN rule in words: "6 to 8 digits", "8 characters (letters or digits)". */
export function pinRuleText(rules: KioskPinRules): string {
  const length = rules.min_length === rules.max_length ? `${rules.min_length}` : `${rules.min_length} to ${rules.max_length}`;
  return rules.numeric ? `${length} digits` : `${length} characters (letters, digits or symbols)`;
}

/** What is wrong with a PIN typed twice, in the cardholder's words, or null if it may be submitted. */
export function pinProblem(rules: KioskPinRules, pin: string, again: string): string | null {
  if (pin === "") return "Type the PIN you want.";
  if (rules.numeric && !/^[0-9]+$/.test(pin)) return "Your PIN may contain digits only (0–9).";
  if (!/^[\x20-\x7e]+$/.test(pin)) return "Use only letters, digits and common symbols in your PIN.";
  if (pin.length < rules.min_length) return `Your PIN is too short: use at least ${rules.min_length} ${rules.numeric ? "digits" : "characters"}.`;
  if (pin.length > rules.max_length) return `Your PIN is too long: use at most ${rules.max_length} ${rules.numeric ? "digits" : "characters"}.`;
  if (/^(.)\1+$/.test(pin)) return "Do not use the same digit or letter over and over: choose a PIN that is harder to guess.";
  if (again === "") return "Type the same PIN again in the second field.";
  if (pin !== again) return "The two PINs are not the same. Type the same PIN in both fields.";
  return null;
}

/** Wrong codes still allowed, when the registry said (its message names them). */
export function attemptsLeft(e: ErrorView): number | null {
  if (e.code !== "wrong-enrollment-code") return null;
  const m = /(\d+)\s+attempts?\s+left/i.exec(e.message);
  return m ? Number(m[1]) : null;
}

/** What a cardholder reads about an error: a title, what to do, and whether to start over. */
export interface KioskMessage {
  title: string;
  text: string;
}

const HELP = "Please contact the help desk.";

/**
 * What the cardholder is doing when an error comes: entering a code (and setting up a new card), or
 * proving a recognised card with its current PIN, or having that card updated.
 */
export type KioskPath = "code" | "prove" | "update";

/** An error from the code check, the encoding or the PIN try, in the cardholder's words. */
export function kioskMessage(e: ErrorView, path: KioskPath = "code"): KioskMessage {
  switch (e.code) {
    case "wrong-enrollment-code": {
      const left = attemptsLeft(e);
      const tail =
        left === null
          ? "Check the code in your enrollment email and type it again."
          : left === 0
            ? `That was the last attempt: the code no longer works. ${HELP}`
            : `Check the code in your enrollment email and type it again. ${left} ${left === 1 ? "attempt" : "attempts"} left.`;
      return { title: "That code is not right", text: tail };
    }
    case "state-not-allowed":
      return { title: "This code is locked", text: `Too many wrong codes were typed, so it no longer works. ${HELP}` };
    case "stop-date-passed":
      return { title: "This code has expired", text: `The date to enroll your card has passed. ${HELP}` };
    case "task-removed":
      return { title: "This code is no longer valid", text: `Your enrollment was withdrawn. ${HELP}` };
    case "pin-not-allowed":
      return { title: "This PIN is not allowed", text: "Choose a PIN that follows the rule shown, and type it twice." };
    case "pins-differ":
      return { title: "The two PINs are not the same", text: "Type the same PIN in both fields." };
    case "wrong-pin":
      if (path === "prove") {
        const left = e.tries === null ? "" : ` ${e.tries} ${e.tries === 1 ? "try" : "tries"} left before the card locks.`;
        return { title: "That PIN is not right", text: `Type the PIN you use with this card.${left}` };
      }
      return {
        title: "That PIN is not the one you chose",
        text: e.tries === null ? "Type the PIN you just chose." : `Type the PIN you just chose. ${e.tries} ${e.tries === 1 ? "try" : "tries"} left before the card locks.`,
      };
    case "pin-blocked":
      return { title: "Your card is locked", text: `Too many wrong PINs. ${HELP}` };
    case "card-removed":
    case "no-card":
      return {
        title: "Your card was taken out",
        text: path === "code" ? "Put your card back in and enter your code again to finish." : "Put your card back in to finish.",
      };
    case "no-cardholder-proof":
    case "proof-failed":
      return { title: "This card cannot be updated here", text: `It cannot prove at a kiosk that it is yours. ${HELP}` };
    case "wrong-card":
      return { title: "This card cannot be used here", text: `Take it out and insert the card you received. ${HELP}` };
    case "offline":
      return { title: "The service cannot be reached", text: "Nothing was changed on your card. Please try again in a few minutes." };
    case "not-permitted":
      return { title: "This kiosk is not set up for card enrollment", text: HELP };
    default:
      return { title: "Something went wrong", text: `Nothing you did caused this. Take your card out and try again. If it happens again, ${HELP.toLowerCase()}` };
  }
}

/** A progress step in the cardholder's words. */
export function stepWords(ev: JobEvent): string {
  if (ev.kind !== "step") return "Finishing…";
  switch (ev.step.step) {
    case "authenticate":
    case "set_management_key":
    case "set_retries":
      return "Preparing your card…";
    case "set_pin":
    case "set_puk":
      return "Setting your PIN…";
    case "generate_key":
      return "Creating your keys on the card…";
    case "prove_and_certify":
    case "check_certificate":
      return "Getting your certificates…";
    case "write_certificate":
    case "write_chuid":
    case "delete_certificate":
      return "Writing to your card…";
    default:
      return "Working on your card…";
  }
}

/** Counts corner taps; true when the EXIT_TAPS-th falls within EXIT_TAP_WINDOW_MS of the first. */
export class TapCounter {
  private taps: number[] = [];
  tap(now: number): boolean {
    this.taps = [...this.taps.filter((t) => now - t < EXIT_TAP_WINDOW_MS), now];
    if (this.taps.length >= EXIT_TAPS) {
      this.taps = [];
      return true;
    }
    return false;
  }
}

/** The keyboard exit gesture: Ctrl+Alt+Shift+X. */
export function isExitGesture(e: Pick<KeyboardEvent, "ctrlKey" | "altKey" | "shiftKey" | "key">): boolean {
  return e.ctrlKey && e.altKey && e.shiftKey && e.key.toLowerCase() === "x";
}
