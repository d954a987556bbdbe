import { describe, expect, it } from "vitest";
import type { AdminView, ProfileAdminView, ProfileForm } from "../bindings";
import {
  CARD_END_CHOICES,
  CERTIFICATE_END_CHOICES,
  daysText,
  draftOf,
  formToSend,
  listMove,
  NUMBER_FIELDS,
  profileIn,
  saveNote,
  savedText,
  versionLine,
  versionLines,
  versionTag,
  yourPermissionsText,
  type ProfileDraft,
} from "./admin";

const form: ProfileForm = {
  name: "Staff PIV (contact)",
  validate_issuance: true,
  pin_min_length: 6,
  pin_max_length: 8,
  pin_retries: 5,
  puk_length: 8,
  puk_retries: 3,
  card_validity_days: 1825,
  card_ends_active: true,
  certificates_end_valid: true,
};

const profile = (over: Partial<ProfileAdminView> = {}): ProfileAdminView => ({
  id: "p1",
  name: "Staff PIV (contact)",
  version: 3,
  facts: {
    interfaces: "Contact", slots: [], management_key: "AES-256", pin: "6–8 digits, 5 tries", puk: "8 digits, 3 tries",
    approval: "Requests need approval", end_states: "Cards end active, certificates valid", card_validity_days: 1825, temporary: false,
  },
  form,
  versions: [
    { version: 3, cards: 126, changes: ["PIN: 6–8 digits, 3 tries → 6–8 digits, 5 tries"] },
    { version: 2, cards: 1, changes: ["Approval: No approval → Requests need approval"] },
    { version: 1, cards: 0, changes: [] },
  ],
  your_permissions: ["Can Request", "Can Collect"],
  ...over,
});

describe("admin: the profile form", () => {
  it("starts from the profile's latest values, as a copy", () => {
    const p = profile();
    const d = draftOf(p);
    expect(d).toEqual(form);
    d.pin_retries = 9;
    expect(p.form.pin_retries).toBe(5);
  });

  it("sends the values as they are, name trimmed; the backend judges them", () => {
    const d: ProfileDraft = { ...form, name: "  Staff PIV  ", pin_min_length: 4, pin_max_length: 12, card_validity_days: 0 };
    const r = formToSend(d);
    expect(r).toEqual({ ok: true, form: { ...d, name: "Staff PIV" } });
  });

  it("stops only what cannot be sent: an empty name, an empty or broken number", () => {
    expect(formToSend({ ...form, name: "   " })).toEqual({ ok: false, field: "name", problem: "Give the profile a name." });
    expect(formToSend({ ...form, pin_retries: null })).toEqual({ ok: false, field: "pin_retries", problem: "PIN tries: give a whole number." });
    expect(formToSend({ ...form, puk_length: 6.5 })).toMatchObject({ ok: false, field: "puk_length" });
    expect(formToSend({ ...form, card_validity_days: -1 })).toMatchObject({ ok: false, field: "card_validity_days" });
    expect(formToSend({ ...form, pin_retries: 300 })).toEqual({ ok: false, field: "pin_retries", problem: "PIN tries: 300 is too large." });
    expect(formToSend({ ...form, card_validity_days: 100_000 })).toMatchObject({ ok: true });
  });

  it("lists every number field of the contract once, and both end states with their words", () => {
    const numeric = (Object.keys(form) as (keyof ProfileForm)[]).filter((k) => typeof form[k] === "number");
    expect(NUMBER_FIELDS.map((f) => f.key).sort()).toEqual(numeric.sort());
    expect(CARD_END_CHOICES.map((c) => c.label)).toEqual(["Active", "Issued (activated later)"]);
    expect(CERTIFICATE_END_CHOICES.map((c) => c.label)).toEqual(["Valid", "On hold"]);
    expect(CARD_END_CHOICES.map((c) => c.value)).toEqual([true, false]);
  });

  it("says what saving does", () => {
    expect(saveNote(3)).toBe("Saving makes version 4; cards keep the version they were encoded with.");
    expect(savedText(4)).toBe("Saved as version 4");
  });
});

describe("admin: profiles in words", () => {
  it("tags versions, days and the operator's permissions", () => {
    expect(versionTag(3)).toBe("v3");
    expect(daysText(1)).toBe("1 day");
    expect(daysText(1825, "en-GB")).toBe("1,825 days");
    expect(yourPermissionsText(profile())).toBe("Can Request, Can Collect");
    expect(yourPermissionsText(profile({ your_permissions: [] }))).toBe("none");
  });

  it("formats the history newest first with cards in service and changes; version 1 is the first", () => {
    const lines = versionLines(profile({ versions: [...profile().versions].reverse() }), "en-GB");
    expect(lines.map((l) => l.version)).toEqual([3, 2, 1]);
    expect(lines[0]).toEqual({ version: 3, title: "Version 3 (current)", current: true, cards: "126 cards in service", changes: ["PIN: 6–8 digits, 3 tries → 6–8 digits, 5 tries"] });
    expect(lines[1]?.cards).toBe("1 card in service");
    expect(lines[2]).toMatchObject({ title: "Version 1", current: false, cards: "No card in service", changes: ["First version"] });
    expect(versionLine({ version: 4, cards: 2_500, changes: [] }, 4, "en-GB")).toMatchObject({ cards: "2,500 cards in service", changes: ["No change to the settings shown here"] });
  });

  it("finds the open profile again in a refreshed view", () => {
    const view: AdminView = { profiles: [profile()], revise: { action: "revise_profile", label: "Save as a new version", allowed: true, reason: null }, use_cases: [], permissions: [] };
    expect(profileIn(view, "p1")?.name).toBe("Staff PIV (contact)");
    expect(profileIn(view, "gone")).toBeNull();
    expect(profileIn(view, null)).toBeNull();
    expect(profileIn(null, "p1")).toBeNull();
  });

  it("moves through the list with the arrow keys, Home and End, and stays inside it", () => {
    expect(listMove("ArrowDown", 0, 3)).toBe(1);
    expect(listMove("ArrowDown", 2, 3)).toBe(2);
    expect(listMove("ArrowUp", 0, 3)).toBe(0);
    expect(listMove("ArrowUp", 2, 3)).toBe(1);
    expect(listMove("Home", 2, 3)).toBe(0);
    expect(listMove("End", 0, 3)).toBe(2);
    expect(listMove("Enter", 0, 3)).toBeNull();
    expect(listMove("ArrowDown", 0, 0)).toBeNull();
  });
});
