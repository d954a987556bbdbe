import { describe, expect, it } from "vitest";
import type { DeviceView, HitView } from "../bindings";
import { wordingFor } from "./errors";
import { offlineCardLabel, offlineProblem, offlineTitle, readerHolding, responseGroups, spokenCode } from "./offline";
import type { ReaderState } from "./readers";
import { insertionEffect, navOf, routeKey, type Route } from "./routes";

const hit: Extract<HitView, { kind: "device" }> = {
  kind: "device",
  id: "dev-1",
  serial: "5A1B2C3D",
  state_label: "Active",
  holder: { id: "p-1", name: "Anna Berg" },
  profile_name: "Staff PIV (contact)",
};

describe("offline unblock helpers", () => {
  it("keeps the backend's groups of the response as they are", () => {
    expect(responseGroups("7K2M-9QXD-4H8R-T3")).toEqual(["7K2M", "9QXD", "4H8R", "T3"]);
    expect(responseGroups(" 7K2M 9QXD\n4H8R ")).toEqual(["7K2M", "9QXD", "4H8R"]);
    expect(responseGroups("ABCDE-FGHJK")).toEqual(["ABCDE", "FGHJK"]);
  });

  it("cuts a response that arrives as one run into groups of 4", () => {
    expect(responseGroups("7K2M9QXD4H")).toEqual(["7K2M", "9QXD", "4H"]);
    expect(responseGroups("7K2M")).toEqual(["7K2M"]);
    expect(responseGroups("")).toEqual([]);
  });

  it("spells the response out for screen readers", () => {
    expect(spokenCode(["7K2M", "9Q"])).toBe("7 K 2 M, 9 Q");
  });

  it("stops a request without a challenge or an identity-check note, before it is sent", () => {
    expect(offlineProblem("", "photo ID")?.field).toBe("challenge");
    expect(offlineProblem("ABCD-EFGH", "   ")).toEqual({ field: "identity", message: expect.stringContaining("identity") as string });
    // Whatever was typed goes to the backend, which parses it: no format check here.
    expect(offlineProblem("abcd efgh – ??", "call-back")).toBeNull();
  });

  it("names the card and its holder, never the id", () => {
    expect(offlineCardLabel(hit)).toBe("Staff PIV (contact), serial 5A1B2C3D");
    expect(offlineCardLabel({ ...hit, serial: null })).toBe("Staff PIV (contact)");
    expect(offlineTitle(hit.holder)).toBe("Offline PIN unblock for Anna Berg");
    expect(offlineTitle(null)).toBe("Offline PIN unblock");
  });

  it("finds the card in a reader if it is there after all", () => {
    const ours = { kind: "ours", device_id: "dev-1" } as unknown as DeviceView;
    const other = { kind: "ours", device_id: "dev-2" } as unknown as DeviceView;
    const r = (name: string, view: DeviceView | null): ReaderState => ({ name, status: "ours", view, error: null, insertion: 1 });
    expect(readerHolding([r("A", other), r("B", ours)], "dev-1")).toBe("B");
    expect(readerHolding([r("A", other), r("B", null)], "dev-1")).toBeNull();
  });

  it("is a form screen under Search: a card put in only pulses its chip", () => {
    const route: Route = { name: "offline-unblock", device: "dev-1", holder: hit.holder, card: "x" };
    expect(navOf(route)).toBe("search");
    expect(routeKey(route)).toBe("offline-unblock:dev-1");
    expect(insertionEffect(route, { editable: false, dirty: false, search: false }, false)).toBe("pulse");
  });

  it("words the challenge errors so the operator re-reads the code with the cardholder", () => {
    expect(wordingFor("bad-code").next).toMatch(/read the code back/i);
    expect(wordingFor("challenge-mismatch").what).toMatch(/another card/);
    expect(wordingFor("challenge-mismatch").next).toMatch(/read the challenge again/);
  });
});
