// @vitest-environment happy-dom
// The Access tab of the Admin screen (UC-ADMIN) against the stand-in backend: reached from the
// Profiles tab by the arrow keys, a role made with a global and a per-profile "only" grant, given
// to an operator, the registry's refusals in words (a name taken, nothing changed, nobody left to
// administer), required use cases, a use-case save, Esc, queued while offline, and changes refused.
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
/** The element of `testid` whose data attributes are all `attrs`. */
const pick = (id: string, attrs: Record<string, string>): HTMLInputElement | undefined =>
  $$(id).find((el) => Object.entries(attrs).every(([k, v]) => el.getAttribute(`data-${k}`) === v)) as HTMLInputElement | undefined;

async function until<T>(f: () => T | null | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    flushSync();
    const v = f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}; body: ${document.body.textContent?.slice(0, 800) ?? ""}`);
}

function type(el: HTMLElement | null | undefined, value: string): void {
  const i = el as HTMLInputElement;
  i.value = value;
  i.dispatchEvent(new Event("input", { bubbles: true }));
  flushSync();
}

function click(el: HTMLElement | null | undefined): void {
  if (el === null || el === undefined) throw new Error("nothing to click");
  el.click();
  flushSync();
}

function key(k: string, init: KeyboardEventInit = {}, target: EventTarget = document.activeElement ?? document.body): void {
  target.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...init }));
  flushSync();
}

const altM = (): void => key("m", { altKey: true, code: "KeyM" }, document.body);
const sent = (cmd: string): Record<string, unknown>[] => fake.calls.filter((c) => c.cmd === cmd).map((c) => c.args);
const role = (name: string): HTMLElement | undefined => pick("access-role-row", { "role-name": name });
const operator = (username: string): HTMLElement | undefined => pick("access-operator-row", { username });
const rolesOf = (username: string): string => operator(username)?.querySelector('[data-testid="access-operator-roles"]')?.textContent ?? "";
const useCase = (k: string): HTMLInputElement | undefined => pick("access-use-case", { key: k });
/** The stand-in registry's directory as it holds it now. */
function directory(): NonNullable<FakeBackend["accessData"]> {
  if (fake.accessData === null) throw new Error("the directory was never read");
  return fake.accessData;
}

async function openAdminOnProfiles(): Promise<void> {
  altM();
  await until(() => $("admin-tab-profiles"), "the tabs");
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

describe("access tab", () => {
  it("opens on Profiles; the Access tab is reached by the arrow keys and loads the registry's directory", async () => {
    await until(() => $("nav-admin"), "admin nav item");
    await openAdminOnProfiles();
    const profiles = $("admin-tab-profiles") as HTMLButtonElement;
    const access = $("admin-tab-access") as HTMLButtonElement;
    expect($("admin-tab-profiles")?.parentElement?.getAttribute("role")).toBe("tablist");
    expect(profiles.getAttribute("role")).toBe("tab");
    expect(profiles.getAttribute("aria-selected")).toBe("true");
    expect(access.getAttribute("aria-selected")).toBe("false");
    // One tab stop: the selected tab.
    expect(profiles.tabIndex).toBe(0);
    expect(access.tabIndex).toBe(-1);
    await until(() => $$("admin-profile-row").length === 3, "profiles");
    expect($("access-view")).toBeNull();
    expect(sent("access")).toHaveLength(0);

    profiles.focus();
    key("ArrowRight");
    await until(() => document.activeElement === access, "focus on the Access tab");
    expect(access.getAttribute("aria-selected")).toBe("true");
    expect(access.tabIndex).toBe(0);
    const panel = document.getElementById(access.getAttribute("aria-controls") ?? "");
    expect(panel?.getAttribute("role")).toBe("tabpanel");
    expect(panel?.getAttribute("aria-labelledby")).toBe(access.id);
    expect(panel?.hidden).toBe(false);
    expect(document.getElementById(profiles.getAttribute("aria-controls") ?? "")?.hidden).toBe(true);
    await until(() => role("Issuers"), "roles");
    expect(sent("access")).toHaveLength(1);
    expect($("access-view")?.contains(role("Issuers") ?? null)).toBe(true);

    // And back, and again: the directory is read once.
    key("ArrowLeft");
    expect(document.activeElement).toBe(profiles);
    expect(profiles.getAttribute("aria-selected")).toBe("true");
    key("End");
    expect(document.activeElement).toBe($("admin-tab-mailbox"));
    key("ArrowLeft");
    expect(document.activeElement).toBe(access);
    expect(sent("access")).toHaveLength(1);
  });

  it("lists roles with their grants and holders, operators and use cases, by name only", () => {
    expect($$("access-role-row").map((r) => r.dataset["roleName"])).toEqual(["Administrators", "Issuers", "Requesters"]);
    const issuers = role("Issuers")?.textContent ?? "";
    expect(issuers).toContain("Unblock PIN");
    expect(issuers).toContain("Can Collect: Staff PIV (contact), Staff PIV + contactless");
    expect(issuers).toContain("Held by Ivy Issuer");
    expect(role("Requesters")?.textContent).toContain("Can Request: every profile");
    expect($$("access-operator-row").map((r) => r.dataset["username"])).toEqual(["ivy", "admin", "otto", "rita"]);
    expect(operator("admin")?.textContent).toContain("Olga Operator");
    expect($("access-operator-you")?.closest("tr")?.dataset["username"]).toBe("admin");
    expect(operator("otto")?.textContent).toContain("Disabled");
    expect(operator("rita")?.textContent).toContain("Enabled");
    expect(rolesOf("rita")).toBe("Requesters");
    expect($$("access-use-case")).toHaveLength(18);
    expect($("access-view")?.textContent).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
    expect($("access-view")?.textContent).not.toContain("_");
    expect($("access-why")).toBeNull();
  });

  it("makes a role with a global permission and a per-profile grant on some profiles", async () => {
    click($("access-role-new"));
    const form = await until(() => $("access-role-form"), "the role form");
    expect(form.textContent).toContain("New role");
    expect(document.activeElement).toBe($("access-role-name"));
    expect(input("access-role-name").value).toBe("");
    expect($$("access-global").map((c) => c.dataset["key"])).toEqual([
      "manage_temporary_cards", "manage_batches", "manage_provisioning_tasks", "unblock_pin", "cancel_revoke", "erase", "view_audit", "administer",
    ]);
    expect($$("access-global").every((c) => !(c as HTMLInputElement).checked)).toBe(true);
    expect(pick("access-global", { key: "unblock_pin" })?.closest("label")?.textContent?.trim()).toBe("Unblock PIN");
    // Three radios per per-profile permission, "Not granted" picked; no profile ticks yet.
    expect($$("access-grant-scope")).toHaveLength(9);
    const scopes = $$("access-grant-scope").filter((r) => r.dataset["key"] === "can_request");
    expect(scopes.map((r) => [r.dataset["scope"], r.closest("label")?.textContent?.trim()])).toEqual([
      ["none", "Not granted"],
      ["every", "Every profile"],
      ["only", "Only these:"],
    ]);
    expect(pick("access-grant-scope", { key: "can_request", scope: "none" })?.checked).toBe(true);
    expect($$("access-grant-profile")).toHaveLength(0);

    type($("access-role-name"), "Unblockers");
    click(pick("access-global", { key: "unblock_pin" }));
    click(pick("access-grant-scope", { key: "can_request", scope: "only" }));
    expect(pick("access-grant-scope", { key: "can_request", scope: "none" })?.checked).toBe(false);
    expect($$("access-grant-profile").map((c) => c.dataset["profileName"])).toEqual(["Staff PIV (contact)", "Staff PIV + contactless", "Visitor temporary card"]);
    click(pick("access-grant-profile", { key: "can_request", "profile-name": "Staff PIV (contact)" }));
    click($("access-role-save"));

    const saved = await until(() => $("access-saved"), "saved note");
    expect(saved.textContent).toBe("Role Unblockers saved.");
    expect(saved.getAttribute("role")).toBe("status");
    expect($("access-role-form")).toBeNull();
    const contact = fake.profiles.find((p) => p.name === "Staff PIV (contact)")?.id;
    expect(sent("save_role").at(-1)?.["form"]).toEqual({
      id: null,
      name: "Unblockers",
      global: ["unblock_pin"],
      per_profile: [{ permission: "can_request", every_profile: false, profiles: [contact] }],
    });
    const row = await until(() => role("Unblockers"), "the new role");
    expect(row.textContent).toContain("Unblock PIN");
    expect(row.textContent).toContain("Can Request: Staff PIV (contact)");
    expect(row.textContent).toContain("Nobody holds it");
    await until(() => document.activeElement === row, "focus on the new role");
  });

  it("opens a role filled from its form, from the keyboard", async () => {
    const rows = $$("access-role-row");
    rows[0]?.focus();
    key("ArrowDown");
    expect(document.activeElement).toBe(role("Issuers"));
    key("Enter");
    await until(() => $("access-role-form"), "the role form");
    expect($("access-role-form")?.textContent).toContain("Change role Issuers");
    expect(input("access-role-name").value).toBe("Issuers");
    expect(pick("access-global", { key: "unblock_pin" })?.checked).toBe(true);
    expect(pick("access-global", { key: "administer" })?.checked).toBe(false);
    expect(pick("access-grant-scope", { key: "can_collect", scope: "only" })?.checked).toBe(true);
    expect(pick("access-grant-scope", { key: "can_request", scope: "none" })?.checked).toBe(true);
    expect(pick("access-grant-profile", { key: "can_collect", "profile-name": "Staff PIV + contactless" })?.checked).toBe(true);
    expect(pick("access-grant-profile", { key: "can_collect", "profile-name": "Visitor temporary card" })?.checked).toBe(false);
    expect(role("Issuers")?.getAttribute("aria-current")).toBe("true");
  });

  it("refuses a name another role has (case aside) in words, and keeps what was typed", async () => {
    type($("access-role-name"), "unblockers");
    click(pick("access-global", { key: "erase" }));
    click($("access-role-save"));
    const error = await until(() => $("access-error"), "the refusal");
    expect(error.dataset["code"]).toBe("already-exists");
    expect(error.textContent).toContain("Something of that name exists already.");
    expect(error.textContent).toContain('a role named "Unblockers" already exists');
    expect($("access-role-form")).not.toBeNull();
    expect(input("access-role-name").value).toBe("unblockers");
    expect(pick("access-global", { key: "erase" })?.checked).toBe(true);
    expect($("access-saved")).toBeNull();
  });

  it("refuses a role that would not change, and stops an empty name before asking", async () => {
    type($("access-role-name"), "Issuers");
    click(pick("access-global", { key: "erase" }));
    click($("access-role-save"));
    await until(() => $("access-error")?.dataset["code"] === "unchanged", "unchanged refusal");
    expect($("access-error")?.textContent).toContain("This is already so: saving would change nothing.");

    const before = sent("save_role").length;
    type($("access-role-name"), "  ");
    click($("access-role-save"));
    expect($("access-error")?.dataset["code"]).toBe("bad-input");
    expect($("access-error")?.textContent).toContain("Give the role a name.");
    expect(input("access-role-name").getAttribute("aria-invalid")).toBe("true");
    expect(sent("save_role").length).toBe(before);
  });

  it("closes the role form with Esc, without saving and staying on the screen", async () => {
    const before = sent("save_role").length;
    key("Escape", {}, $("access-role-name") ?? document.body);
    expect($("access-role-form")).toBeNull();
    expect(app.route).toEqual({ name: "admin" });
    expect($("admin-tab-access")?.getAttribute("aria-selected")).toBe("true");
    expect(sent("save_role").length).toBe(before);
    await until(() => document.activeElement === role("Issuers"), "focus back on the role");
  });

  it("gives the new role to an operator", async () => {
    click(pick("access-operator-edit", { username: "rita" }));
    const form = await until(() => $("access-operator-form"), "the operator form");
    expect(form.textContent).toContain("Roles of Rita Requester (rita)");
    expect(form.closest("tr")?.previousElementSibling).toBe(operator("rita"));
    expect($$("access-operator-role").map((c) => c.dataset["roleName"])).toEqual(["Administrators", "Issuers", "Requesters", "Unblockers"]);
    expect(pick("access-operator-role", { "role-name": "Requesters" })?.checked).toBe(true);
    expect(pick("access-operator-role", { "role-name": "Unblockers" })?.checked).toBe(false);
    click(pick("access-operator-role", { "role-name": "Unblockers" }));
    click($("access-operator-save"));

    const saved = await until(() => $("access-saved"), "saved note");
    expect(saved.textContent).toBe("Roles of Rita Requester (rita) saved.");
    expect($("access-operator-form")).toBeNull();
    const data = directory();
    const rita = data.operators.find((o) => o.username === "rita");
    const ids = (names: string[]): string[] => names.map((n) => data.roles.find((r) => r.name === n)?.id ?? "");
    expect(sent("set_operator_roles").at(-1)).toEqual({ operator: rita?.id, roles: ids(["Requesters", "Unblockers"]) });
    expect(rolesOf("rita")).toBe("Requesters, Unblockers");
    expect(role("Unblockers")?.textContent).toContain("Held by Rita Requester");
    await until(() => document.activeElement === pick("access-operator-edit", { username: "rita" }), "focus back on Edit roles");
  });

  it("refuses taking the last Administer away in words, and keeps the form", async () => {
    click(pick("access-operator-edit", { username: "admin" }));
    await until(() => $("access-operator-form"), "the operator form");
    expect(pick("access-operator-role", { "role-name": "Administrators" })?.checked).toBe(true);
    click(pick("access-operator-role", { "role-name": "Administrators" }));
    click($("access-operator-save"));
    const error = await until(() => $("access-error"), "the refusal");
    expect(error.dataset["code"]).toBe("last-administrator");
    const text = error.textContent ?? "";
    expect(text).toContain("Nobody could administer afterwards.");
    expect(text).toContain("Administer");
    expect(text).not.toContain("last-administrator");
    expect(text).not.toContain("last_administrator");
    expect(text).not.toContain("_");
    expect(text).not.toContain("{");
    expect($("access-operator-form")).not.toBeNull();
    expect(pick("access-operator-role", { "role-name": "Administrators" })?.checked).toBe(false);
    expect(rolesOf("admin")).toBe("Administrators");
    // Esc from inside the form cancels it.
    key("Escape", {}, pick("access-operator-role", { "role-name": "Administrators" }) ?? document.body);
    expect($("access-operator-form")).toBeNull();
    expect($("access-error")).toBeNull();
  });

  it("keeps sign-in and administration on, and saves the use cases", async () => {
    for (const k of ["sign_in", "admin"]) {
      const box = useCase(k);
      expect(box?.checked).toBe(true);
      expect(box?.disabled).toBe(true);
      expect(box?.hasAttribute("disabled")).toBe(true);
      expect(box?.closest("tr")?.textContent).toContain("always on");
    }
    expect(useCase("audit")?.disabled).toBe(false);
    // Two switches of one use case, each its own.
    const issue = $$("access-use-case-row").filter((r) => r.textContent?.includes("UC-ISSUE"));
    expect(issue.map((r) => r.dataset["key"])).toEqual(["issue", "direct_issue"]);
    expect(useCase("direct_issue")?.checked).toBe(false);
    expect(input("access-approval-step").checked).toBe(true);
    expect(input("access-approval-step").closest("label")?.textContent?.trim()).toBe("Every card request needs an approval");

    click(useCase("audit"));
    click(useCase("direct_issue"));
    click($("access-approval-step"));
    expect($("access-use-cases-changed")).not.toBeNull();
    click($("access-use-cases-save"));
    const saved = await until(() => $("access-saved"), "saved note");
    expect(saved.textContent).toBe("Use cases saved.");
    const form = sent("set_use_cases").at(-1)?.["form"] as { enabled: string[]; approval_step: boolean };
    expect(form.approval_step).toBe(false);
    expect(form.enabled).toContain("sign_in");
    expect(form.enabled).toContain("admin");
    expect(form.enabled).toContain("direct_issue");
    expect(form.enabled).not.toContain("audit");
    expect(useCase("audit")?.checked).toBe(false);
    expect($("access-use-cases-changed")).toBeNull();
    expect(fake.accessData?.useCases).not.toContain("audit");

    // Saving again changes nothing: refused in words.
    click($("access-use-cases-save"));
    await until(() => $("access-error")?.dataset["code"] === "unchanged", "unchanged refusal");
    expect($("access-saved")).toBeNull();
  });

  it("refuses switching sign-in off (asked directly) with its own wording", async () => {
    const answer = await fake.handle("set_use_cases", { form: { enabled: ["admin"], approval_step: true } }).catch((e: unknown) => e);
    expect(answer).toMatchObject({ code: "use-case-required" });
  });

  it("while offline: the change is queued (a note, not a failure), and reading again says the registry is away", async () => {
    fake.sync.online = false;
    click(useCase("audit"));
    click($("access-use-cases-save"));
    const note = await until(() => $("access-queued"), "queued note");
    expect(note.dataset["code"]).toBe("queued");
    expect(note.getAttribute("role")).toBe("status");
    const error = await until(() => $("access-error"), "offline note");
    expect(error.dataset["code"]).toBe("offline");
    expect(sent("access").length).toBeGreaterThan(1);
    expect($("access-saved")).toBeNull();
    // The view stays as last read, with the ticks as sent.
    expect(useCase("audit")?.checked).toBe(true);
    fake.sync.online = true;
  });

  it("disables every input and says why when changes are not allowed", async () => {
    fake.accessRefusal = "the Administration use case is switched off in this deployment";
    click($("nav-sync"));
    await openAdminOnProfiles();
    click($("admin-tab-access"));
    await until(() => role("Issuers"), "roles");
    expect($("access-why")?.textContent).toContain("The Administration use case is switched off in this deployment.");
    expect(input("access-role-new").disabled).toBe(true);
    expect($$("access-operator-edit").every((b) => (b as HTMLButtonElement).disabled)).toBe(true);
    expect($$("access-use-case").every((c) => (c as HTMLInputElement).disabled)).toBe(true);
    expect(input("access-approval-step").disabled).toBe(true);
    expect(input("access-use-cases-save").disabled).toBe(true);
    expect($("access-use-cases-save")?.getAttribute("aria-describedby")).toBe("access-why");
    // A role still opens, to read; nothing in it can be changed.
    click(role("Issuers"));
    await until(() => $("access-role-form"), "the role form");
    const inputs = [...($("access-role-form")?.querySelectorAll("input") ?? [])];
    expect(inputs.length).toBeGreaterThan(10);
    expect(inputs.every((i) => i.disabled)).toBe(true);
    expect(input("access-role-save").disabled).toBe(true);
    click($("access-role-cancel"));
    fake.accessRefusal = null;
  });
});
