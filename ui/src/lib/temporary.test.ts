import { describe, expect, it } from "vitest";
import type { DeviceView, TemporaryRow } from "../bindings";
import type { ReaderState } from "./readers";
import { initReaders, replaceRow, TEMP_FILTERS, tempActions, tempName, untilArg } from "./temporary";

const row = (id: string, state: string): TemporaryRow => ({
  id,
  serial: `T-${id}`,
  profile_name: "Visitor temporary card",
  state,
  state_label: state,
  holder: null,
  assigned_until: null,
  permanent_card: null,
});

describe("temporary cards", () => {
  it("filters by every state a temporary card goes through, and all", () => {
    expect(TEMP_FILTERS.map((f) => f.state)).toEqual(["ordered", "produced", "unassigned", "assigned", "expired", "locked", null]);
  });

  it("offers the row button that fits the state", () => {
    expect(tempActions("produced")).toEqual(["initialize"]);
    expect(tempActions("unassigned")).toEqual(["assign"]);
    expect(tempActions("assigned")).toEqual(["return"]);
    expect(tempActions("expired")).toEqual(["return"]);
    expect(tempActions("ordered")).toEqual([]);
    expect(tempActions("locked")).toEqual([]);
  });

  it("replaces the updated row in place", () => {
    const rows = [row("1", "unassigned"), row("2", "unassigned")];
    const next = replaceRow(rows, { ...row("2", "assigned"), holder: { id: "p", name: "Anna Berg" } });
    expect(next.map((r) => r.state)).toEqual(["unassigned", "assigned"]);
    expect(next[1]?.holder?.name).toBe("Anna Berg");
    expect(rows[1]?.state).toBe("unassigned");
  });

  it("names a card by its serial, else its profile", () => {
    expect(tempName(row("7", "produced"))).toBe("T-7");
    expect(tempName({ serial: null, profile_name: "Visitor" })).toBe("(Visitor, no serial)");
  });

  it("checks the until date: empty is the profile's period, else a real date", () => {
    expect(untilArg("")).toEqual({ ok: true, value: null });
    expect(untilArg(" 2026-05-31 ")).toEqual({ ok: true, value: "2026-05-31" });
    expect(untilArg("2026-02-30").ok).toBe(false);
    expect(untilArg("31.05.2026").ok).toBe(false);
  });

  it("takes the card to initialize from blank stock or from a half-written copy of itself", () => {
    const readers: ReaderState[] = [
      { name: "A", status: "blank", view: { kind: "blank", reader: "A", serial: null, issuable: [], open_job: null }, error: null, insertion: 1 },
      { name: "B", status: "empty", view: null, error: null, insertion: 0 },
      { name: "C", status: "temporary", view: { kind: "temporary", device_id: "card-1" } as DeviceView, error: null, insertion: 1 },
      { name: "D", status: "temporary", view: { kind: "temporary", device_id: "card-2" } as DeviceView, error: null, insertion: 1 },
    ];
    expect(initReaders(readers, "card-1").map((r) => r.name)).toEqual(["A", "C"]);
  });
});
