// Operator wording for every stable error code the backend sends.
// Each entry answers: what happened, what it changed (usually nothing), what to do next.
import type { ErrorCode, ErrorView } from "../bindings";

export interface Wording {
  /** What happened, in one short sentence. */
  what: string;
  /** What it changed. */
  changed: string;
  /** What to do next. */
  next: string;
}

const NOTHING = "Nothing was changed.";
const CARD_UNCHANGED = "Nothing was written to the card.";

const WORDING: Record<ErrorCode, Wording> = {
  "not-enrolled": {
    what: "This workstation is not enrolled with a registry yet.",
    changed: NOTHING,
    next: "Ask an administrator to enroll this workstation, then start Cardstation again.",
  },
  queued: {
    what: "The registry cannot be reached: this is queued here.",
    changed: "It is kept in this station's queue and sent when the registry is back.",
    next: "Carry on. The status bar counts what is queued; Sync shows each item.",
  },
  offline: {
    what: "The registry cannot be reached, and this needs it.",
    changed: NOTHING,
    next: "Check the network and try again; the status bar shows when the registry is back.",
  },
  "sign-in": {
    what: "The user name or password was not accepted.",
    changed: "You are not signed in.",
    next: "Check both and try again. Repeated failures lock the account for a while.",
  },
  "sign-in-locked": {
    what: "Sign-in is locked after too many failed attempts.",
    changed: "You are not signed in.",
    next: "Wait for the lock to expire or ask an administrator to release it.",
  },
  locked: {
    what: "The session is locked.",
    changed: NOTHING,
    next: "Enter your password to continue where you left off.",
  },
  "pin-mismatch": {
    what: "The registry's certificate is not the one this workstation was enrolled with.",
    changed: "Nothing was sent to the registry.",
    next: "Do not go on: the network may be intercepted. Tell IT support; the workstation may need enrolling again.",
  },
  "card-removed": {
    what: "The card was taken out of the reader during the operation.",
    changed: "The work done so far is recorded; the job can be resumed.",
    next: "Put the same card back in to resume, or roll the job back.",
  },
  "no-card": {
    what: "There is no card in the reader.",
    changed: NOTHING,
    next: "Insert the card and try again.",
  },
  "no-reader": {
    what: "No card reader is connected.",
    changed: NOTHING,
    next: "Connect a reader; it appears in the strip at the top.",
  },
  "ambiguous-reader": {
    what: "More than one reader could be meant.",
    changed: NOTHING,
    next: "Pick the reader from the strip at the top and try again.",
  },
  "reader-gone": {
    what: "The reader was disconnected.",
    changed: "Work already done is recorded; the job can be resumed.",
    next: "Reconnect the reader and insert the card again.",
  },
  "card-reset": {
    what: "The card was reset by another program during the operation.",
    changed: "Work already done is recorded; the job can be resumed.",
    next: "Close other programs that use the card, then try again.",
  },
  "card-in-use": {
    what: "Another program is using the card.",
    changed: NOTHING,
    next: "Close the other program (for example a middleware tool) and try again.",
  },
  timeout: {
    what: "The card did not answer in time, so the operation was stopped.",
    changed: "Work already done is recorded.",
    next: "Try again. If it keeps happening, try another reader.",
  },
  "card-unresponsive": {
    what: "The card does not answer.",
    changed: "Nothing more was written to the card.",
    next: "Take the card out, put it back in the right way round and try again; if it still does not answer, use another card.",
  },
  "no-pcsc-service": {
    what: "The smart card service of this computer is not running.",
    changed: NOTHING,
    next: "Start the smart card service (PC/SC) or ask IT support, then try again.",
  },
  pcsc: {
    what: "The smart card service reported a problem.",
    changed: NOTHING,
    next: "Take the card out, put it back in and try again.",
  },
  "card-error": {
    what: "The card refused a command.",
    changed: "Work already done is recorded.",
    next: "Try again; if it fails again, the card may be faulty: use another one.",
  },
  "wrong-pin": {
    what: "The PIN was wrong.",
    changed: "One PIN try was used.",
    next: "Ask the cardholder to enter the PIN again carefully.",
  },
  "pin-blocked": {
    what: "The PIN is blocked after too many wrong tries.",
    changed: NOTHING,
    next: "Unblock the PIN from the card's view.",
  },
  "wrong-puk": {
    what: "The PUK was wrong.",
    changed: "One PUK try was used.",
    next: "Check the PUK and enter it again carefully; when no tries are left the PIN can no longer be unblocked.",
  },
  "puk-blocked": {
    what: "The PUK is blocked after too many wrong tries.",
    changed: NOTHING,
    next: "The PIN can no longer be unblocked on this card: erase it and issue it again.",
  },
  "authentication-failed": {
    what: "The card refused its management key.",
    changed: CARD_UNCHANGED,
    next: "Check this is the card the record belongs to; if it is, it may have been changed elsewhere: tell IT support.",
  },
  "card-full": {
    what: "The card's memory is full.",
    changed: "Nothing more was written to the card.",
    next: "Use a card with more memory, or a profile with fewer certificates.",
  },
  "malformed-card-data": {
    what: "The data on the card could not be read.",
    changed: NOTHING,
    next: "The card may be damaged or written by another system: try again, then use another card.",
  },
  "not-supported": {
    what: "The card does not support what was asked.",
    changed: CARD_UNCHANGED,
    next: "Use a card type that supports it, or ask an administrator.",
  },
  certificate: {
    what: "A certificate could not be made or checked.",
    changed: "No certificate was added for this step.",
    next: "Try again; if it persists, tell IT support (the certificate authority may need attention).",
  },
  profile: {
    what: "The credential profile cannot be used.",
    changed: NOTHING,
    next: "Pick another profile, or ask an administrator to check this one.",
  },
  "invalid-profile": {
    what: "These credential profile settings cannot be used.",
    changed: "Nothing was saved; the profile stays at its current version.",
    next: "Read the reason below, correct that setting and save again.",
  },
  "unchanged-profile": {
    what: "Nothing in the form differs from the current version.",
    changed: "Nothing was saved; no new version was made.",
    next: "Change a setting and save again, or cancel.",
  },
  "version-conflict": {
    what: "Someone else saved this credential profile while you were editing it.",
    changed: "Your edits were not saved; the profile is at their newer version.",
    next: "Cancel, open the profile again to see the newer version, and make your edits there.",
  },
  "already-exists": {
    what: "Something of that name exists already.",
    changed: NOTHING,
    next: "Choose another name, or open the existing one and change it there.",
  },
  unchanged: {
    what: "This is already so: saving would change nothing.",
    changed: NOTHING,
    next: "Change something and save again, or cancel.",
  },
  "last-administrator": {
    what: "Nobody could administer afterwards.",
    changed: NOTHING,
    next: "Keep Administer on at least one enabled operator: give it to someone else first, then take it away here.",
  },
  "use-case-required": {
    what: "Sign-in and administration cannot be switched off.",
    changed: NOTHING,
    next: "Leave them on and switch off only other use cases.",
  },
  "not-found": {
    what: "The record was not found.",
    changed: NOTHING,
    next: "It may have been removed or not synced yet. Search again.",
  },
  "wrong-card": {
    what: "This is not the card the job is for.",
    changed: CARD_UNCHANGED,
    next: "Insert the card the job was started with.",
  },
  "bad-input": {
    what: "Some of the input is not valid.",
    changed: NOTHING,
    next: "Correct the highlighted input and try again.",
  },
  "use-case-disabled": {
    what: "This function is switched off for this deployment.",
    changed: NOTHING,
    next: "Ask an administrator if you need it.",
  },
  "not-permitted": {
    what: "You do not have the permission for this.",
    changed: NOTHING,
    next: "Ask someone who has it, or ask an administrator for the role.",
  },
  "operator-required": {
    what: "Only a signed-in operator can do this.",
    changed: NOTHING,
    next: "Sign in and try again.",
  },
  "system-only": {
    what: "Only the registry records this; it cannot be done at a workstation.",
    changed: NOTHING,
    next: "Nothing to do here: the registry does it by itself.",
  },
  "not-requester": {
    what: "Only the operator who made the request can withdraw it.",
    changed: NOTHING,
    next: "Ask them to withdraw it, or have an approver reject it.",
  },
  "not-the-cardholder": {
    what: "Only the cardholder can do this.",
    changed: NOTHING,
    next: "Have the cardholder do it themselves.",
  },
  "approver-is-requester": {
    what: "You requested this yourself, so you cannot approve it.",
    changed: NOTHING,
    next: "Another approver has to decide.",
  },
  "approver-is-recipient": {
    what: "This request is for you, so you cannot approve it.",
    changed: NOTHING,
    next: "Another approver has to decide.",
  },
  "requester-is-recipient": {
    what: "You cannot request a card for yourself.",
    changed: NOTHING,
    next: "Another operator has to request it.",
  },
  "actor-is-recipient": {
    what: "You cannot do this for yourself.",
    changed: NOTHING,
    next: "Another operator has to do it.",
  },
  "own-device": {
    what: "This is the card you signed in with.",
    changed: NOTHING,
    next: "Another operator has to do this.",
  },
  "state-not-allowed": {
    what: "The record is not in a state that allows this.",
    changed: NOTHING,
    next: "Refresh the view; someone may have changed it in the meantime.",
  },
  "approval-required": {
    what: "This needs approval first.",
    changed: NOTHING,
    next: "Wait for an approver, or ask one to decide the request.",
  },
  "capability-mismatch": {
    what: "This card cannot hold what the credential profile needs.",
    changed: CARD_UNCHANGED,
    next: "Use a card type that fits the profile, or pick another profile.",
  },
  "capabilities-unknown": {
    what: "The card's capabilities are not known, so the profile cannot be checked.",
    changed: CARD_UNCHANGED,
    next: "Use a card from registered stock, or ask an administrator.",
  },
  "contact-interface-required": {
    what: "This needs the card in a contact reader.",
    changed: CARD_UNCHANGED,
    next: "Put the card in a contact reader (not contactless) and try again.",
  },
  "profile-not-temporary": {
    what: "That credential profile is not for temporary cards.",
    changed: NOTHING,
    next: "Pick a temporary-card profile.",
  },
  "profile-is-temporary": {
    what: "That credential profile is for temporary cards only.",
    changed: NOTHING,
    next: "Pick a profile for permanent cards.",
  },
  "not-yet-expired": {
    what: "This has not expired yet.",
    changed: NOTHING,
    next: "Wait until it expires, or cancel it instead.",
  },
  "stop-date-passed": {
    what: "The stop date has passed.",
    changed: NOTHING,
    next: "Choose a new stop date, or make a new request.",
  },
  "date-not-in-future": {
    what: "The date must be in the future.",
    changed: NOTHING,
    next: "Pick a later date and try again.",
  },
  "invalid-batch": {
    what: "The batch order is not valid.",
    changed: NOTHING,
    next: "Check the batch's people, profile and number of cards, then try again.",
  },
  "invalid-task": {
    what: "The provisioning task is not valid.",
    changed: NOTHING,
    next: "Check the task's details and try again.",
  },
  "task-removed": {
    what: "The provisioning task was removed.",
    changed: NOTHING,
    next: "Refresh the list: another operator or the registry removed it.",
  },
  "invalid-email": {
    what: "The email address is not valid.",
    changed: NOTHING,
    next: "Correct the address and try again.",
  },
  "security-status": {
    what: "The card needs its PIN or management key before this.",
    changed: CARD_UNCHANGED,
    next: "Verify the PIN (or use an action that authenticates to the card) and try again.",
  },
  "wrong-enrollment-code": {
    what: "The enrollment code is not right.",
    changed: "The wrong code counts toward the limit; after too many the code stops working.",
    next: "Check the code in your enrollment email and type it again.",
  },
  "not-enrolled-yet": {
    what: "No card has been enrolled with this code yet.",
    changed: NOTHING,
    next: "Insert your card and enter your enrollment code to encode it first.",
  },
  "pin-not-allowed": {
    what: "This PIN is not allowed.",
    changed: CARD_UNCHANGED,
    next: "Choose a PIN that follows the rule shown and type it twice.",
  },
  "pins-differ": {
    what: "The two PINs are not the same.",
    changed: CARD_UNCHANGED,
    next: "Type the same PIN in both fields.",
  },
  "no-cardholder-proof": {
    what: "This card cannot prove at a kiosk that it belongs to its holder (no valid PIV Authentication certificate of this registry).",
    changed: CARD_UNCHANGED,
    next: "Collect the update at an operator's station instead.",
  },
  "proof-failed": {
    what: "The card's signature does not match its PIV Authentication certificate.",
    changed: CARD_UNCHANGED,
    next: "Read the card at an operator's station: its 9A key may have been replaced.",
  },
  refused: {
    what: "The registry refused the operation.",
    changed: NOTHING,
    next: "Read the reason below; correct and try again.",
  },
  rejected: {
    what: "The registry rejected an operation made at this workstation.",
    changed: "It was undone here as well.",
    next: "See the Sync view for the reason.",
  },
  sync: {
    what: "Synchronising with the registry failed.",
    changed: "Your work is kept in the queue and will be sent later.",
    next: "Check the network; use Retry now in the Sync view.",
  },
  store: {
    what: "The workstation's local database reported a problem.",
    changed: NOTHING,
    next: "Try again. If it persists, restart Cardstation and tell IT support.",
  },
  io: {
    what: "A file or device on this computer could not be used.",
    changed: NOTHING,
    next: "Try again. If it persists, tell IT support.",
  },
  "secret-gone": {
    what: "The PIN can be shown only once and is no longer available.",
    changed: NOTHING,
    next: "If it was not handed over, reset the PIN from the card's view.",
  },
  "wrong-response": {
    what: "The unblock response code is not correct.",
    changed: NOTHING,
    next: "Check the code with the cardholder and enter it again.",
  },
  "bad-code": {
    what: "The unblock code does not check out: a character was probably misheard or mistyped, or one is missing.",
    changed: NOTHING,
    next: "Read the code back to the cardholder group by group, compare it with what their tool shows, and type it again.",
  },
  "puk-unknown": {
    what: "None of the PUKs the registry holds works on this card.",
    changed: "The card may have used up PUK tries.",
    next: "The PIN cannot be unblocked on this card: erase it and issue it again, or tell IT support.",
  },
  "challenge-mismatch": {
    what: "The challenge code was made by another card, not the one shown here.",
    changed: NOTHING,
    next: "Check with the cardholder which card is in their tool (its serial number) and read the challenge again; if it is another of their cards, open that card's record instead.",
  },
  "offline-locked": {
    what: "Offline sign-in is locked for this account.",
    changed: "You are not signed in.",
    next: "Sign in once while the registry is reachable; then offline sign-in works again.",
  },
  "offline-expired": {
    what: "Offline sign-in has expired for this account.",
    changed: "You are not signed in.",
    next: "Sign in once while the registry is reachable; then offline sign-in works again.",
  },
  cancelled: {
    what: "The operation was cancelled.",
    changed: "Nothing more was done after the cancel.",
    next: "Start it again when you are ready.",
  },
  busy: {
    what: "Another card job is running at this workstation.",
    changed: NOTHING,
    next: "Wait for it to finish, then try again.",
  },
  "audit-chain-broken": {
    what: "The audit log does not verify: records may have been altered.",
    changed: NOTHING,
    next: "Stop card work and tell your security officer.",
  },
  internal: {
    what: "Something unexpected went wrong inside Cardstation.",
    changed: "Nothing was changed as far as Cardstation can tell.",
    next: "Try again. If it persists, tell IT support what you were doing.",
  },
};

/**
 * Every code the UI knows. `WORDING` is a `Record<ErrorCode, …>` over the generated union, so a
 * code added on the Rust side fails the type check here until it has wording.
 */
export const ERROR_CODES = Object.keys(WORDING) as ErrorCode[];

/** Wording for a code; unknown codes (newer backend) get a safe generic text. */
export function wordingFor(code: string): Wording {
  return (WORDING as Record<string, Wording | undefined>)[code] ?? WORDING.internal;
}

export interface DescribedError extends Wording {
  code: string;
  /** The backend's own human sentence, shown as detail when it adds something. */
  detail: string | null;
  /** Tries left, worded, when the backend counted them. */
  tries: string | null;
}

/**
 * Turn an ErrorView into what the operator reads. The domain's own reason (`refusal.reason`) is
 * the most specific sentence there is, so it is the detail when present; else the message.
 */
export function describeError(e: ErrorView): DescribedError {
  const w = wordingFor(e.code);
  const reason = cleanMessage(e.refusal?.reason);
  const message = reason ?? cleanMessage(e.message);
  const detail = message !== null && message !== w.what ? message : null;
  return { ...w, code: e.code, detail, tries: triesText(e.tries) };
}

export function triesText(tries: number | null): string | null {
  if (tries === null) return null;
  if (tries <= 0) return "No tries left.";
  return tries === 1 ? "1 try left." : `${tries} tries left.`;
}

/** Refuse to show anything that looks like raw JSON or Rust Debug output. */
export function cleanMessage(message: string | null | undefined): string | null {
  if (message === null || message === undefined) return null;
  const m = message.trim();
  if (m === "") return null;
  if (/^[[{]/.test(m)) return null;
  if (/\b[A-Z][A-Za-z]+\s*\{\s*[a-z_]+:/.test(m)) return null;
  if (/\b(Some|Ok|Err)\(/.test(m)) return null;
  return m;
}

/**
 * Anything thrown that is not an ErrorView (a Tauri string such as an ACL denial or an unknown
 * command, an Error from the IPC layer): show it as "internal", without its raw text.
 */
export function toErrorView(e: unknown): ErrorView {
  if (isErrorView(e)) {
    // Optional parts the UI reads are normalised, so a partial object cannot break a screen.
    const refusal = isRefusal(e.refusal) ? e.refusal : null;
    const tries = typeof e.tries === "number" ? e.tries : null;
    return { code: e.code, message: e.message, refusal, tries };
  }
  return { code: "internal", message: "", refusal: null, tries: null };
}

export function isErrorView(e: unknown): e is ErrorView {
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as { code?: unknown }).code === "string" &&
    typeof (e as { message?: unknown }).message === "string"
  );
}

function isRefusal(r: unknown): r is NonNullable<ErrorView["refusal"]> {
  return (
    typeof r === "object" &&
    r !== null &&
    typeof (r as { code?: unknown }).code === "string" &&
    typeof (r as { reason?: unknown }).reason === "string"
  );
}
