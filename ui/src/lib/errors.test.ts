import { describe, expect, it } from "vitest";
import type { ErrorCode } from "../bindings";
import { AppError, call, errorOf } from "./api";
import { cleanMessage, describeError, ERROR_CODES, triesText, wordingFor } from "./errors";

const ALL: ErrorCode[] = [
  "not-enrolled", "offline", "sign-in", "sign-in-locked", "locked", "pin-mismatch", "card-removed",
  "no-card", "no-reader", "ambiguous-reader", "reader-gone", "card-reset", "card-in-use", "timeout",
  "no-pcsc-service", "pcsc", "card-error", "wrong-pin", "pin-blocked", "not-found", "wrong-card",
  "bad-input", "use-case-disabled", "not-permitted", "approver-is-requester", "approver-is-recipient",
  "requester-is-recipient", "actor-is-recipient", "own-device", "state-not-allowed",
  "approval-required", "capability-mismatch", "capabilities-unknown", "contact-interface-required",
  "profile-is-temporary", "refused", "rejected", "sync", "store", "io", "secret-gone",
  "wrong-response", "bad-code", "offline-locked", "busy", "internal",
];

describe("error wording", () => {
  it("covers every code of the contract with all three parts", () => {
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
