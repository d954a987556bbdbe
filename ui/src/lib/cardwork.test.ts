import { describe, expect, it } from "vitest";
import type { ActionView, Capabilities, DeviceView } from "../bindings";
import {
  cardBack,
  claimRun,
  isRetireAction,
  jobTitle,
  newNonce,
  optionalText,
  pinChangeProblem,
  revealState,
  splitActions,
  updateReason,
  visibleWork,
  whyText,
} from "./cardwork";
import type { ReaderState } from "./readers";

const ok = (action: string): ActionView => ({ action, label: action, allowed: true, reason: null });
const no = (action: string, reason: string | null): ActionView => ({ action, label: action, allowed: false, reason });

const all: Capabilities = {
  search: true, request: true, approve: true, issue: true, direct_issue: true, batch: true,
  temporary: true, update: true, pin: true, retire: true, audit: true, provision: true, admin: true,
};

describe("card work actions", () => {
  it("sends retire actions to Card work and leaves the rest in the action bar", () => {
    const { bar, retire } = splitActions([ok("deactivate"), ok("resume_job"), no("erase", "x"), ok("cancel"), ok("approve")]);
    expect(bar.map((a) => a.action)).toEqual(["resume_job", "approve"]);
    expect(retire.map((a) => a.action)).toEqual(["deactivate", "erase", "cancel"]);
    expect(isRetireAction("reactivate")).toBe(true);
    expect(isRetireAction("unblock_pin")).toBe(false);
  });

  it("hides actions of use cases the operator does not have", () => {
    const work = [ok("request_update"), ok("collect_updates"), ok("unblock_pin"), ok("change_pin"), ok("deactivate"), ok("something_new")];
    expect(visibleWork(work, all)).toHaveLength(6);
    expect(visibleWork(work, { ...all, update: false }).map((a) => a.action)).toEqual(["unblock_pin", "change_pin", "deactivate", "something_new"]);
    expect(visibleWork(work, { ...all, pin: false, retire: false }).map((a) => a.action)).toEqual(["request_update", "collect_updates", "something_new"]);
  });

  it("maps update actions to the request's reason", () => {
    expect(updateReason("request_update")).toBe("apply_latest_updates");
    expect(updateReason("request_reprovision")).toBe("reprovision_all_content");
    expect(updateReason("collect_updates")).toBeNull();
  });

  it("words the backend's refusal as a sentence", () => {
    expect(whyText(no("collect_updates", "no approved update is waiting for this card"))).toBe("No approved update is waiting for this card.");
    expect(whyText(no("x", "You cannot erase the card you signed in with."))).toBe("You cannot erase the card you signed in with.");
    expect(whyText(no("x", null))).toBe("Not possible in this state.");
    expect(whyText(no("x", "  "))).toBe("Not possible in this state.");
  });

  it("turns empty notes into null", () => {
    expect(optionalText("  ")).toBeNull();
    expect(optionalText(" lost on the train ")).toBe("lost on the train");
  });
});

describe("PIN change checks", () => {
  it("catches empty fields and a mismatch before the call, nothing else", () => {
    expect(pinChangeProblem("", "123456", "123456")).toContain("current PIN");
    expect(pinChangeProblem("111111", "", "")).toContain("new PIN");
    expect(pinChangeProblem("111111", "123456", "")).toContain("second time");
    expect(pinChangeProblem("111111", "123456", "123457")).toContain("not the same");
    expect(pinChangeProblem("111111", "12", "12")).toBeNull();
  });
});

describe("card jobs", () => {
  it("names the job for the stepper and the reader chip", () => {
    const anna = { id: "p1", name: "Anna Berg" };
    expect(jobTitle({ kind: "collect_updates", nonce: "n", holder: anna })).toBe("Collect updates for Anna Berg");
    expect(jobTitle({ kind: "unblock_pin", nonce: "n", holder: null, identityCheck: "ID card" })).toBe("Unblock PIN");
    expect(jobTitle({ kind: "erase", nonce: "n", holder: anna, notes: null })).toBe("Erase Anna Berg's card");
    expect(jobTitle({ kind: "erase", nonce: "n", holder: null, notes: null })).toBe("Erase the card");
    expect(jobTitle({ kind: "initialize", nonce: "n", card: "c", label: "T-0001" })).toBe("Initialize temporary card T-0001");
  });

  it("runs a confirmed job once, even when its screen is reached again", () => {
    const a = newNonce();
    const b = newNonce();
    expect(a).not.toBe(b);
    expect(claimRun(a)).toBe(true);
    expect(claimRun(a)).toBe(false);
    expect(claimRun(b)).toBe(true);
  });

  it("says whether a PIN is waiting, shown or none", () => {
    expect(revealState(null, false)).toBe("none");
    expect(revealState({ reveal: null }, true)).toBe("none");
    expect(revealState({ reveal: { id: "t" } }, true)).toBe("open");
    expect(revealState({ reveal: { id: "t" } }, false)).toBe("closed");
  });

  it("sees the torn card come back in its reader", () => {
    const ours = { kind: "ours" } as DeviceView;
    const blank = { kind: "blank" } as DeviceView;
    const r = (insertion: number, view: DeviceView | null): ReaderState[] => [
      { name: "R1", status: view === null ? "empty" : view.kind === "blank" ? "blank" : "ours", view, error: null, insertion },
    ];
    expect(cardBack(r(2, null), "R1", 2)).toBe(false);
    expect(cardBack(r(2, ours), "R1", 2)).toBe(false);
    expect(cardBack(r(3, ours), "R1", 2)).toBe(true);
    expect(cardBack(r(3, blank), "R1", 2)).toBe(false);
    expect(cardBack(r(3, ours), "R2", 2)).toBe(false);
  });
});
