import { describe, expect, it } from "vitest";
import { attemptsLeft, isExitGesture, kioskMessage, normalizeCode, pinProblem, pinRuleText, TapCounter } from "./kiosk";

const digits = { min_length: 6, max_length: 8, numeric: true };
const view = (code: string, message = "", tries: number | null = null) => ({ code, message, refusal: null, tries }) as Parameters<typeof kioskMessage>[0];

describe("enrollment code", () => {
  it("takes hyphens, spaces and any case, and reads O, I and L as the registry does", () => {
    expect(normalizeCode("abcd-efgh-jkmn-pqrs")).toBe("ABCD-EFGH-JKMN-PQRS");
    expect(normalizeCode("ABCDEFGHJKMNPQRS")).toBe("ABCD-EFGH-JKMN-PQRS");
    expect(normalizeCode(" abcd efgh jkmn pqrs ")).toBe("ABCD-EFGH-JKMN-PQRS");
    expect(normalizeCode("OOOO-IIII-LLLL-0000")).toBe("0000-1111-1111-0000");
  });
  it("refuses what cannot be a code (length, letters no code has) before asking the registry", () => {
    expect(normalizeCode("ABCD-EFGH-JKMN")).toBeNull();
    expect(normalizeCode("ABCD-EFGH-JKMN-PQRSX")).toBeNull();
    expect(normalizeCode("UUUU-EFGH-JKMN-PQRS")).toBeNull();
    expect(normalizeCode("")).toBeNull();
  });
});

describe("PIN policy", () => {
  it("is told in words", () => {
    expect(pinRuleText(digits)).toBe("6 to 8 digits");
    expect(pinRuleText({ min_length: 8, max_length: 8, numeric: false })).toMatch(/^8 characters/);
  });
  it("explains each broken rule before anything is sent", () => {
    expect(pinProblem(digits, "12a456", "12a456")).toMatch(/digits only/);
    expect(pinProblem(digits, "1234", "1234")).toMatch(/too short.*at least 6/);
    expect(pinProblem(digits, "123456789", "123456789")).toMatch(/too long.*at most 8/);
    expect(pinProblem(digits, "111111", "111111")).toMatch(/harder to guess/);
    expect(pinProblem(digits, "246810", "")).toMatch(/again/);
    expect(pinProblem(digits, "246810", "246811")).toMatch(/not the same/);
    expect(pinProblem(digits, "246810", "246810")).toBeNull();
    expect(pinProblem({ min_length: 6, max_length: 8, numeric: false }, "abc123", "abc123")).toBeNull();
  });
});

describe("cardholder messages", () => {
  it("names the attempts left after a wrong code, and the last one", () => {
    const wrong = view("wrong-enrollment-code", "the enrollment code is not right; 3 attempts left");
    expect(attemptsLeft(wrong)).toBe(3);
    expect(kioskMessage(wrong).text).toMatch(/3 attempts left/);
    expect(kioskMessage(view("wrong-enrollment-code", "…; 1 attempts left")).text).toMatch(/1 attempt left/);
    expect(kioskMessage(view("wrong-enrollment-code", "…; 0 attempts left")).text).toMatch(/last attempt.*help desk/);
    expect(kioskMessage(view("wrong-enrollment-code", "the enrollment code is not right")).text).not.toMatch(/left/);
  });
  it("says locked and expired plainly, with what to do", () => {
    expect(kioskMessage(view("state-not-allowed"))).toMatchObject({ title: "This code is locked" });
    expect(kioskMessage(view("state-not-allowed")).text).toMatch(/help desk/);
    expect(kioskMessage(view("stop-date-passed")).title).toMatch(/expired/);
    expect(kioskMessage(view("wrong-pin", "", 2)).text).toMatch(/2 tries left/);
  });
  it("a recognised card: its current PIN, a pulled card and a card that cannot prove itself", () => {
    expect(kioskMessage(view("wrong-pin", "", 2), "prove")).toEqual({
      title: "That PIN is not right",
      text: "Type the PIN you use with this card. 2 tries left before the card locks.",
    });
    expect(kioskMessage(view("card-removed"), "update").text).toBe("Put your card back in to finish.");
    expect(kioskMessage(view("card-removed")).text).toMatch(/enter your code again/);
    for (const code of ["no-cardholder-proof", "proof-failed"]) {
      expect(kioskMessage(view(code), "prove")).toMatchObject({ title: "This card cannot be updated here" });
    }
  });
  it("never shows the backend's own text", () => {
    const m = kioskMessage(view("internal", "Error { kind: Io, id: 0190abcd-… }"));
    expect(`${m.title} ${m.text}`).not.toMatch(/Error \{|0190/);
  });
});

describe("exit gesture", () => {
  it("is Ctrl+Alt+Shift+X", () => {
    expect(isExitGesture({ ctrlKey: true, altKey: true, shiftKey: true, key: "X" })).toBe(true);
    expect(isExitGesture({ ctrlKey: true, altKey: false, shiftKey: true, key: "X" })).toBe(false);
  });
  it("or five corner taps within 3 s", () => {
    const t = new TapCounter();
    expect([0, 500, 1000, 1500].map((ms) => t.tap(ms))).toEqual([false, false, false, false]);
    expect(t.tap(2000)).toBe(true);
    const slow = new TapCounter();
    expect([0, 1000, 2000, 3000, 4000].map((ms) => slow.tap(ms)).some(Boolean)).toBe(false);
  });
});
