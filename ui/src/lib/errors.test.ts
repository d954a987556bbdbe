import { describe, expect, it } from "vitest";
import type { ErrorCode, ErrorView } from "../bindings";
import { AppError, call, errorOf, plain } from "./api";
import { cleanMessage, describeError, ERROR_CODES, triesText, wordingFor } from "./errors";

// Written out on purpose (not derived from ERROR_CODES): `Missing` below fails the type check
// when the generated ErrorCode union gains a code this list lacks.
const ALL = [
  "not-enrolled", "offline", "queued", "sign-in", "sign-in-locked", "locked", "pin-mismatch", "card-removed",
  "no-card", "no-reader", "ambiguous-reader", "reader-gone", "card-reset", "card-in-use", "timeout",
  "card-unresponsive", "no-pcsc-service", "pcsc", "card-error", "wrong-pin", "pin-blocked",
  "wrong-puk", "puk-blocked", "authentication-failed", "card-full", "malformed-card-data",
  "not-supported", "certificate", "profile", "not-found", "wrong-card", "bad-input",
  "use-case-disabled", "not-permitted", "operator-required", "system-only", "own-device",
  "actor-is-recipient", "approver-is-requester", "approver-is-recipient", "requester-is-recipient",
  "not-requester", "not-the-cardholder", "state-not-allowed", "capability-mismatch",
  "capabilities-unknown", "contact-interface-required", "profile-not-temporary",
  "profile-is-temporary", "approval-required", "not-yet-expired", "stop-date-passed",
  "date-not-in-future", "invalid-batch", "invalid-task", "task-removed", "invalid-email",
  "security-status", "wrong-enrollment-code", "not-enrolled-yet", "pin-not-allowed", "pins-differ", "no-cardholder-proof", "proof-failed", "refused",
  "rejected", "sync", "store", "io", "secret-gone", "wrong-response", "bad-code", "puk-unknown",
  "challenge-mismatch", "offline-locked", "offline-expired", "invalid-profile", "unchanged-profile",
  "version-conflict", "already-exists", "unchanged", "last-administrator", "use-case-required",
  "cancelled", "busy",
  "audit-chain-broken", "internal",
] as const satisfies readonly ErrorCode[];
type Missing = Exclude<ErrorCode, (typeof ALL)[number]>;
const everyCodeListed: [Missing] extends [never] ? true : Missing = true;

describe("error wording", () => {
  it("covers every code of the contract with all three parts", () => {
    expect(everyCodeListed).toBe(true);
    expect(ERROR_CODES).toHaveLength(ALL.length);
    expect(new Set(ERROR_CODES)).toEqual(new Set(ALL));
    for (const code of ALL) {
      const w = wordingFor(code);
      expect(w.what, code).toMatch(/\.$/);
      expect(w.changed, code).toMatch(/\.$/);
      expect(w.next, code).toMatch(/\.$/);
    }
  });

  it("falls back to the internal wording for unknown codes", () => {
    expect(wordingFor("brand-new-code")).toEqual(wordingFor("internal"));
  });

  it("shows the backend message as detail, with tries", () => {
    const d = describeError({ code: "wrong-pin", message: "The PIN was refused by the card.", refusal: null, tries: 2 });
    expect(d.what).toBe("The PIN was wrong.");
    expect(d.detail).toBe("The PIN was refused by the card.");
    expect(d.tries).toBe("2 tries left.");
  });

  it("prefers the domain's reason to the message", () => {
    const d = describeError({
      code: "own-device",
      message: "refused",
      refusal: { code: "own-device", reason: "This is the card Olga Operator signed in with." },
      tries: null,
    });
    expect(d.detail).toBe("This is the card Olga Operator signed in with.");
  });

  it("never shows raw JSON or Rust Debug text", () => {
    expect(cleanMessage('{"code":"x"}')).toBeNull();
    expect(cleanMessage("Refusal { code: NotPermitted }")).toBeNull();
    expect(cleanMessage("StateNotAllowed { state: Active }")).toBeNull();
    expect(cleanMessage("got Some(3)")).toBeNull();
    expect(cleanMessage("  ")).toBeNull();
    expect(cleanMessage("The card is locked.")).toBe("The card is locked.");
  });

  it("words tries", () => {
    expect(triesText(null)).toBeNull();
    expect(triesText(0)).toBe("No tries left.");
    expect(triesText(1)).toBe("1 try left.");
  });
});

describe("api.call", () => {
  it("unwraps ok and throws AppError on error", async () => {
    await expect(call(Promise.resolve({ status: "ok" as const, data: 3 }))).resolves.toBe(3);
    const err = { code: "offline" as const, message: "Registry unreachable.", refusal: null, tries: null };
    await expect(call(Promise.resolve({ status: "error" as const, error: err }))).rejects.toBeInstanceOf(AppError);
    try {
      await call(Promise.resolve({ status: "error" as const, error: err }));
    } catch (e) {
      expect(errorOf(e)).toEqual(err);
    }
  });

  it("maps a Tauri string rejection (ACL denial, unknown command) to internal without its text", async () => {
    // tauri-specta's typedError hands the string on as `error`.
    const denied = "command sign_in not allowed by ACL" as unknown as ErrorView;
    try {
      await call(Promise.resolve({ status: "error" as const, error: denied }));
      expect.unreachable();
    } catch (e) {
      expect(errorOf(e)).toEqual({ code: "internal", message: "", refusal: null, tries: null });
    }
    try {
      await plain(Promise.reject(new Error("x")));
      expect.unreachable();
    } catch (e) {
      expect(errorOf(e).code).toBe("internal");
    }
    try {
      await plain(Promise.reject("Command close_reveal not found"));
      expect.unreachable();
    } catch (e) {
      expect(errorOf(e).message).toBe("");
      expect(describeError(errorOf(e)).detail).toBeNull();
    }
  });

  it("maps a thrown Error to internal without its text", async () => {
    try {
      await call(Promise.reject(new Error("window.__TAURI_INTERNALS__ is undefined")));
      expect.unreachable();
    } catch (e) {
      expect(errorOf(e).code).toBe("internal");
      expect(errorOf(e).message).toBe("");
    }
  });
});
