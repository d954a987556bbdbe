import { describe, expect, it } from "vitest";
import type { CardEvent, DeviceView } from "../bindings";
import { applyCardEvent, chipText, defaultReader, readerLabels, readerShortName, serviceDownAfter, type ReaderState } from "./readers";

const ours: DeviceView = {
  kind: "ours", reader: "R1", serial: "1", device_id: "d", state: "active", state_label: "Active",
  holder: { id: "p", name: "Anna Berg" }, profile_name: "Staff", certificates: [], pin_tries: 3, puk_tries: 3,
  pending_updates: 0, open_requests: [], actions: [], card_work: [], open_job: null,
};

describe("reader strip reducer", () => {
  it("follows a card through insert, read and removal", () => {
    let r: ReaderState[] = applyCardEvent([], { kind: "readers", readers: [{ name: "R1", card_present: false }, { name: "R2", card_present: true }] });
    expect(r.map((x) => x.status)).toEqual(["empty", "reading"]);
    r = applyCardEvent(r, { kind: "card_inserted", reader: "R1" });
    expect(r[0]?.status).toBe("reading");
    expect(r[0]?.insertion).toBe(1);
    r = applyCardEvent(r, { kind: "card_read", reader: "R1", view: ours });
    expect(r[0]?.status).toBe("ours");
    expect(chipText(r[0] as ReaderState)).toBe("Anna Berg");
    r = applyCardEvent(r, { kind: "card_removed", reader: "R1" });
    expect(r[0]?.status).toBe("empty");
    expect(r[0]?.view).toBeNull();
    r = applyCardEvent(r, { kind: "card_unreadable", reader: "R2", error: { code: "card-error", message: "", refusal: null, tries: null } });
    expect(chipText(r[1] as ReaderState)).toBe("Cannot read this card");
  });

  it("adds and removes readers, and tolerates events for unknown readers", () => {
    let r = applyCardEvent([], { kind: "reader_added", reader: "R1" });
    r = applyCardEvent(r, { kind: "reader_added", reader: "R1" });
    expect(r).toHaveLength(1);
    r = applyCardEvent(r, { kind: "card_read", reader: "R9", view: { kind: "blank", reader: "R9", serial: null, issuable: [], open_job: null } });
    expect(r.map((x) => [x.name, chipText(x)])).toEqual([["R1", "Empty"], ["R9", "Blank card"]]);
    r = applyCardEvent(r, { kind: "reader_removed", reader: "R1" });
    expect(r.map((x) => x.name)).toEqual(["R9"]);
  });

  it("drops every reader while the PC/SC service is down, until readers are listed again", () => {
    let r = applyCardEvent([], { kind: "readers", readers: [{ name: "A", card_present: true }] });
    let down = false;
    const ev = { kind: "service_down" } as const;
    r = applyCardEvent(r, ev);
    down = serviceDownAfter(down, ev);
    expect(r).toEqual([]);
    expect(down).toBe(true);
    expect(serviceDownAfter(down, { kind: "card_removed", reader: "A" })).toBe(true);
    const back: CardEvent = { kind: "readers", readers: [{ name: "A", card_present: false }] };
    r = applyCardEvent(r, back);
    expect(serviceDownAfter(down, back)).toBe(false);
    expect(r.map((x) => x.status)).toEqual(["empty"]);
  });

  it("picks a default reader", () => {
    const r = applyCardEvent([], { kind: "readers", readers: [{ name: "A", card_present: false }, { name: "B", card_present: true }] });
    expect(defaultReader(r, null)).toBe("B");
    expect(defaultReader(r, "A")).toBe("A");
    expect(defaultReader(r, "gone")).toBe("B");
    expect(defaultReader([], null)).toBeNull();
  });

  it("shortens PC/SC reader names but keeps the numbers that tell readers apart", () => {
    expect(readerShortName("Virtual PCD 00 00")).toBe("Virtual PCD 00 00");
    expect(readerShortName("Virtual PCD 00 01")).toContain("00 01");
    expect(readerShortName("Virtual PCD 00 00")).not.toBe(readerShortName("Virtual PCD 00 01"));
    const yk = readerShortName("Yubico YubiKey OTP+FIDO+CCID 00 00");
    expect(yk).toBe("Yubico YubiKey 00 00");
    expect(yk).not.toBe(readerShortName("Yubico YubiKey OTP+FIDO+CCID 01 00"));
    expect(readerShortName("Identiv uTrust 3700 F CL Reader [uTrust 3700 F CL Reader] (55041545208376) 00 01")).toBe("Identiv uTrust 3700 F CL Reader 00 01");
    expect(readerShortName("Gemalto PC Twin Reader 1")).toBe("Gemalto PC Twin Reader 1");
    expect(readerShortName("00")).toBe("00");
    expect(readerShortName("OTP+FIDO+CCID 00 00")).toBe("OTP+FIDO+CCID 00 00");
  });

  it("labels every chip of a strip distinctly, the slot apart from the model", () => {
    const vpcd = Array.from({ length: 8 }, (_, i) => `Virtual PCD 00 0${i.toString()}`);
    const labels = readerLabels(vpcd);
    expect(new Set([...labels.values()].map((l) => `${l.model} ${l.slot}`)).size).toBe(8);
    expect(labels.get("Virtual PCD 00 01")).toEqual({ model: "Virtual PCD", slot: "00 01" });
    // Two YubiKeys that differ only in their interfaces keep them.
    const yk = readerLabels(["Yubico YubiKey OTP+CCID 00 00", "Yubico YubiKey FIDO+CCID 00 00", "Virtual PCD 00 00"]);
    expect(yk.get("Yubico YubiKey OTP+CCID 00 00")).toEqual({ model: "Yubico YubiKey OTP+CCID", slot: "00 00" });
    expect(yk.get("Yubico YubiKey FIDO+CCID 00 00")).toEqual({ model: "Yubico YubiKey FIDO+CCID", slot: "00 00" });
    expect(yk.get("Virtual PCD 00 00")).toEqual({ model: "Virtual PCD", slot: "00 00" });
  });
});

describe("a card in a reader a job holds", () => {
  it("is shown as in use, not left reading, and clears when taken out", () => {
    let r: ReaderState[] = applyCardEvent([], { kind: "readers", readers: [{ name: "R1", card_present: false }] });
    r = applyCardEvent(r, { kind: "card_inserted", reader: "R1" });
    r = applyCardEvent(r, { kind: "card_in_use", reader: "R1" });
    expect(r[0]?.status).toBe("in_use");
    expect(chipText(r[0] as ReaderState)).toBe("Card in use by a job");
    r = applyCardEvent(r, { kind: "card_removed", reader: "R1" });
    expect(r[0]?.status).toBe("empty");
  });
});
