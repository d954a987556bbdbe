import { describe, expect, it } from "vitest";
import type { CardEvent, DeviceView } from "../bindings";
import { applyCardEvent, chipText, defaultReader, readerShortName, serviceDownAfter, type ReaderState } from "./readers";

const ours: DeviceView = {
  kind: "ours", reader: "R1", serial: "1", device_id: "d", state: "active", state_label: "Active",
  holder: { id: "p", name: "Anna Berg" }, profile_name: "Staff", certificates: [], pin_tries: 3, puk_tries: 3,
  pending_updates: 0, open_requests: [], actions: [], open_job: null,
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
    r = applyCardEvent(r, { kind: "card_read", reader: "R9", view: { kind: "blank", reader: "R9", serial: null, issuable: [] } });
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

  it("shortens PC/SC reader names", () => {
    expect(readerShortName("Yubico YubiKey OTP+FIDO+CCID 00 00")).toBe("Yubico YubiKey OTP+FIDO+CCID");
    expect(readerShortName("Virtual PCD 00 01")).toBe("Virtual PCD 00 01");
    expect(readerShortName("00")).toBe("00");
  });
});
