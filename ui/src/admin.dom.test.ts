// @vitest-environment happy-dom
// The Admin screen (UC-ADMIN) against the stand-in backend: profiles opened from the keyboard, a
// profile saved as its next version, the backend's refusals in words, Esc, a conflict, queued while
// offline, this operator's permissions, and the rail without the admin capability.
import { flushSync, mount, unmount } from "svelte";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import App from "./App.svelte";
import { installFakeBackend, type FakeBackend } from "./dev/fake-backend";
import { app } from "./lib/app.svelte";

let fake: FakeBackend;
let component: ReturnType<typeof mount>;

const $ = (id: string): HTMLElement | null => document.querySelector(`[data-testid="${id}"]`);
const $$ = (id: string): HTMLElement[] => [...document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];
const input = (id: string): HTMLInputElement => $(id) as HTMLInputElement;

async function until<T>(f: () => T | null | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    flushSync();
    const v = f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}; body: ${document.body.textContent?.slice(0, 800) ?? ""}`);
}

function type(el: HTMLElement | null, value: string): void {
  const i = el as HTMLInputElement;
  i.value = value;
  i.dispatchEvent(new Event("input", { bubbles: true }));
  flushSync();
}

function click(el: HTMLElement | null): void {
  if (el === null) throw new Error("nothing to click");
  el.click();
  flushSync();
}

function key(k: string, init: KeyboardEventInit = {}, target: EventTarget = document.activeElement ?? document.body): void {
  target.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...init }));
  flushSync();
}

const altM = (): void => key("m", { altKey: true, code: "KeyM" }, document.body);
const revisions = (): Record<string, unknown>[] => fake.calls.filter((c) => c.cmd === "revise_profile").map((c) => c.args);
const row = (name: string): HTMLElement | undefined => $$("admin-profile-row").find((r) => r.textContent?.includes(name));
const openName = (): string => $("admin-profile-name")?.textContent ?? "";

async function openWithKeyboard(name: string): Promise<void> {
  const rows = $$("admin-profile-row");
  const target = rows.findIndex((r) => r.textContent?.includes(name));
  rows[0]?.focus();
  for (let i = 0; i < target; i++) key("ArrowDown");
  expect(document.activeElement).toBe(rows[target]);
  key("Enter");
  await until(() => openName() === name, `${name} open`);
}

beforeAll(() => {
  document.body.innerHTML = '<div id="app"></div>';
  fake = installFakeBackend({ delayMs: 0, signedIn: true });
  component = mount(App, { target: document.getElementById("app") as HTMLElement });
});

afterAll(() => {
  unmount(component);
  app.stop();
});

describe("admin screen", () => {
  it("is the last item before Sync and opens with Alt+M", async () => {
    const nav = await until(() => $("nav-admin"), "admin nav item");
    expect(nav.textContent).toContain("Admin");
    expect(nav.textContent).toContain("Alt+M");
    const ids = [...document.querySelectorAll<HTMLElement>('nav [data-testid^="nav-"]')].map((b) => b.dataset["testid"]).filter((t) => t !== "nav-open-jobs" && t !== "nav-approvals");
    expect(ids.slice(-2)).toEqual(["nav-admin", "nav-sync"]);
    altM();
    await until(() => $$("admin-profile-row").length === 3, "three profiles");
    expect(app.route).toEqual({ name: "admin" });
    expect(nav.getAttribute("aria-current")).toBe("page");
    expect($("admin-choose")).not.toBeNull();
  });

  it("lists profiles with their version and the temporary badge, names only", () => {
    const visitor = row("Visitor temporary card");
    expect(visitor?.textContent).toContain("v2");
    expect(visitor?.textContent).toContain("Temporary");
    expect(visitor?.dataset["temporary"]).toBe("true");
    expect(row("Staff PIV (contact)")?.textContent).toContain("v3");
    expect(row("Staff PIV (contact)")?.textContent).not.toContain("Temporary");
    expect($("admin-view")?.textContent).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
  });

  it("opens a profile from the keyboard: facts, your permissions, versions with cards and changes", async () => {
    await openWithKeyboard("Staff PIV (contact)");
    const focused = document.activeElement as HTMLElement;
    expect(focused.getAttribute("aria-current")).toBe("true");
    const facts = $("admin-profile-facts")?.textContent ?? "";
    for (const words of ["Contact", "AES-256", "6–8 digits, 5 tries", "8 digits, 3 tries", "Requests need approval", "Cards end active, certificates valid", "1,825 days", "PIV Authentication (9A)"]) {
      expect(facts).toContain(words);
    }
    expect($("admin-your-permissions")?.textContent).toBe("Your permissions on it: Can Request, Can Collect, Can Approve");
    const versions = $$("admin-version-row");
    expect(versions.map((v) => v.dataset["version"])).toEqual(["3", "2", "1"]);
    expect(versions[0]?.textContent).toContain("Version 3 (current)");
    expect(versions[0]?.textContent).toContain("126 cards in service");
    expect(versions[0]?.textContent).toContain("PIN: 6–8 digits, 3 tries → 6–8 digits, 5 tries");
    expect(versions[2]?.textContent).toContain("First version");
    expect(versions[2]?.textContent).toContain("3 cards in service");
    // Up again, to the temporary one: no permission of its own, no key slots.
    await openWithKeyboard("Visitor temporary card");
    expect($("admin-your-permissions")?.textContent).toContain("none");
    expect($("admin-profile-facts")?.textContent).toContain("None");
    expect($("admin-profile-facts")?.textContent).toContain("Yes, for temporary cards");
  });

  it("edits a profile and saves it as the next version", async () => {
    await openWithKeyboard("Staff PIV (contact)");
    click($("admin-edit"));
    const form = await until(() => $("admin-form"), "the form");
    expect(document.activeElement).toBe($("admin-form-name"));
    expect(input("admin-form-name").value).toBe("Staff PIV (contact)");
    expect(input("admin-form-validate_issuance").checked).toBe(true);
    expect(input("admin-form-pin_retries").value).toBe("5");
    expect(input("admin-form-card_ends_active-true").checked).toBe(true);
    expect(form.textContent).toContain("Issued (activated later)");
    expect(form.textContent).toContain("On hold");
    expect($("admin-form-note")?.textContent).toContain("not edited here");
    expect($("admin-form-note")?.textContent).toContain("Saving makes version 4; cards keep the version they were encoded with.");

    type($("admin-form-pin_retries"), "4");
    click($("admin-form-certificates_end_valid-false"));
    click($("admin-save"));
    const saved = await until(() => $("admin-saved"), "saved note");
    expect(saved.textContent).toContain("Saved as version 4");
    expect($("admin-form")).toBeNull();
    const sent = revisions()[0];
    expect(sent?.["expectedVersion"]).toBe(3);
    expect(sent?.["form"]).toMatchObject({ name: "Staff PIV (contact)", pin_retries: 4, certificates_end_valid: false, card_ends_active: true });
    // The refreshed view: the list, the facts and the history.
    expect(row("Staff PIV (contact)")?.textContent).toContain("v4");
    expect($("admin-profile-facts")?.textContent).toContain("6–8 digits, 4 tries");
    expect($("admin-profile-facts")?.textContent).toContain("certificates on hold");
    const top = $$("admin-version-row")[0];
    expect(top?.textContent).toContain("Version 4 (current)");
    expect(top?.textContent).toContain("No card in service");
    expect(top?.textContent).toContain("PIN: 6–8 digits, 5 tries → 6–8 digits, 4 tries");
    expect(top?.textContent).toContain("End states: Cards end active, certificates valid → Cards end active, certificates on hold");
    await until(() => document.activeElement === $("admin-edit"), "focus back on Edit");
  });

  it("shows the backend's refusal of invalid settings in words and keeps the form", async () => {
    click($("admin-edit"));
    await until(() => $("admin-form"), "the form");
    expect($("admin-saved")).toBeNull();
    type($("admin-form-pin_min_length"), "4");
    // Enter in a field saves.
    key("Enter", {}, $("admin-form-pin_min_length") ?? document.body);
    const error = await until(() => $("admin-save-error"), "the refusal");
    expect(error.dataset["code"]).toBe("invalid-profile");
    expect(error.textContent).toContain("These credential profile settings cannot be used.");
    expect($("admin-save-error-detail")?.textContent).toContain("PIN length must be 6 to 8 characters");
    expect($("admin-form")).not.toBeNull();
    expect(row("Staff PIV (contact)")?.textContent).toContain("v4");
  });

  it("refuses an unchanged form with its own wording", async () => {
    type($("admin-form-pin_min_length"), "6");
    click($("admin-save"));
    await until(() => $("admin-save-error")?.dataset["code"] === "unchanged-profile", "unchanged refusal");
    expect($("admin-save-error")?.textContent).toContain("Nothing in the form differs from the current version.");
  });

  it("stops an empty name before asking the backend", () => {
    const before = revisions().length;
    type($("admin-form-name"), "   ");
    click($("admin-save"));
    expect($("admin-save-error")?.dataset["code"]).toBe("bad-input");
    expect($("admin-save-error")?.textContent).toContain("Give the profile a name.");
    expect(input("admin-form-name").getAttribute("aria-invalid")).toBe("true");
    expect(revisions().length).toBe(before);
  });

  it("closes the form with Esc without saving, and stays on the screen", async () => {
    const before = revisions().length;
    type($("admin-form-name"), "Renamed");
    key("Escape", {}, $("admin-form-name") ?? document.body);
    expect($("admin-form")).toBeNull();
    expect(app.route).toEqual({ name: "admin" });
    expect(openName()).toBe("Staff PIV (contact)");
    expect(revisions().length).toBe(before);
    await until(() => document.activeElement === $("admin-edit"), "focus back on Edit");
  });

  it("says when someone else saved the profile meanwhile, and shows their version", async () => {
    click($("admin-edit"));
    await until(() => $("admin-form"), "the form");
    type($("admin-form-card_validity_days"), "1000");
    // Another administrator saves version 5 first.
    const id = String(revisions()[0]?.["profile"]);
    await fake.handle("revise_profile", { profile: id, expectedVersion: 4, form: { ...(revisions()[0]?.["form"] as object), pin_retries: 3 } });
    click($("admin-save"));
    const error = await until(() => ($("admin-save-error")?.dataset["code"] === "version-conflict" ? $("admin-save-error") : null), "conflict");
    expect(error.textContent).toContain("Someone else saved this credential profile while you were editing it.");
    expect(revisions().at(-1)?.["expectedVersion"]).toBe(4);
    await until(() => row("Staff PIV (contact)")?.textContent?.includes("v5"), "their version in the list");
    expect($$("admin-version-row")[0]?.textContent).toContain("Version 5 (current)");
    click($("admin-cancel"));
    expect($("admin-form")).toBeNull();
  });

  it("while offline: saved here, queued for the registry (informational), the view refreshed", async () => {
    fake.sync.online = false;
    click($("admin-edit"));
    await until(() => $("admin-form"), "the form");
    expect($("admin-form-note")?.textContent).toContain("Saving makes version 6");
    type($("admin-form-card_validity_days"), "900");
    click($("admin-save"));
    const note = await until(() => ($("admin-save-error")?.dataset["code"] === "queued" ? $("admin-save-error") : null), "queued note");
    expect(note.getAttribute("role")).toBe("status");
    expect($("admin-form")).toBeNull();
    await until(() => row("Staff PIV (contact)")?.textContent?.includes("v6"), "the new version");
    expect($("admin-profile-facts")?.textContent).toContain("900 days");
    fake.sync.online = true;
  });

  it("shows this operator's permissions under the profiles; use cases are switched in the Access tab", () => {
    expect($("admin-tab-profiles")?.getAttribute("aria-selected")).toBe("true");
    const perms = $$("admin-permission-row");
    expect(perms.find((r) => r.textContent?.includes("Administer"))?.dataset["held"]).toBe("true");
    expect(perms.find((r) => r.textContent?.includes("Manage provisioning tasks"))?.textContent).toContain("No");
    // The read-only table and its "changed at the registry" note are gone: the Access tab changes them.
    expect($$("admin-use-case-row")).toHaveLength(0);
    expect($("admin-registry-note")).toBeNull();
    expect($("admin-view")?.textContent).not.toContain("changed at the registry");
  });

  it("shows why Edit is refused beside it", async () => {
    fake.adminRefusal = "the Administration use case is switched off in this deployment";
    click($("nav-sync"));
    altM();
    await until(() => $$("admin-profile-row").length === 3, "profiles again");
    click(row("Visitor temporary card") ?? null);
    const edit = await until(() => $("admin-edit") as HTMLButtonElement | null, "edit button");
    expect(edit.disabled).toBe(true);
    expect($("admin-edit-why")?.textContent).toBe("The Administration use case is switched off in this deployment.");
    expect(edit.getAttribute("aria-describedby")).toBe("admin-edit-why");
    fake.adminRefusal = null;
  });

  it("is absent from the rail, and Alt+M does nothing, without the admin capability", () => {
    const session = app.session;
    if (session === null) throw new Error("signed out");
    click($("nav-sync"));
    session.can.admin = false;
    flushSync();
    expect($("nav-admin")).toBeNull();
    altM();
    expect(app.route).toEqual({ name: "sync" });
    session.can.admin = true;
    flushSync();
    expect($("nav-admin")).not.toBeNull();
  });
});
