// @vitest-environment happy-dom
// Provisioning tasks (UC-PROV, seed 004) against the stand-in backend: the list with every column
// (completed tasks only in the report), a task's details with its users by name, a new task for
// people picked by search, Edit (users removed after a confirmation, with and without email; a new
// stop date), Remove (confirmed), Resend (active users only; an alternate address used once), a
// person's outstanding tasks, and the Admin → Mailbox tab with the emails the tasks sent.
import { flushSync, mount, unmount } from "svelte";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import App from "./App.svelte";
import { installFakeBackend, type FakeBackend } from "./dev/fake-backend";
import { app } from "./lib/app.svelte";

let fake: FakeBackend;
let component: ReturnType<typeof mount>;

const $ = (id: string): HTMLElement | null => document.querySelector(`[data-testid="${id}"]`);
const $$ = (id: string): HTMLElement[] => [...document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];
const text = (el: Element | null | undefined): string => (el?.textContent ?? "").replace(/\s+/g, " ").trim();
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

async function until<T>(f: () => T | null | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 300; i++) {
    flushSync();
    const v = f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}; body: ${document.body.textContent?.slice(0, 1200) ?? ""}`);
}

function type(el: HTMLElement | null, value: string): void {
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

function check(el: HTMLElement | null | undefined, on: boolean): void {
  const i = el as HTMLInputElement;
  if (i.checked !== on) click(i);
}

function key(k: string, init: KeyboardEventInit = {}, target: EventTarget = document.activeElement ?? document.body): void {
  target.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...init }));
  flushSync();
}

const sent = (cmd: string): Record<string, unknown>[] => fake.calls.filter((c) => c.cmd === cmd).map((c) => c.args);
const rowOf = (n: number): HTMLElement | undefined => $$("prov-row").find((r) => r.dataset["number"] === n.toString());
const userRow = (name: string): HTMLElement | undefined => $$("prov-user").find((r) => text(r).includes(name));

async function openList(): Promise<void> {
  key("p", { altKey: true, code: "KeyP" }, document.body);
  await until(() => $("prov-table"), "the task list");
}

async function openTask(n: number): Promise<void> {
  await openList();
  click(rowOf(n)?.querySelector<HTMLElement>('[data-testid="prov-open"]'));
  await until(() => $("prov-task")?.dataset["number"] === n.toString() && $$("prov-user").length > 0, `task ${n.toString()}`);
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

describe("provisioning tasks", () => {
  it("is in the rail after Temporary cards (Alt+P) and lists the open tasks with every column", async () => {
    const nav = await until(() => $("nav-provisioning"), "the Provisioning item");
    expect(text(nav)).toContain("Provisioning");
    expect(text(nav)).toContain("Alt+P");
    const ids = [...document.querySelectorAll<HTMLElement>('nav [data-testid^="nav-"]')].map((b) => b.dataset["testid"]);
    expect(ids.indexOf("nav-provisioning")).toBe(ids.indexOf("nav-temporary") + 1);
    await openList();
    const heads = [...document.querySelectorAll('[data-testid="prov-table"] th')].map((th) => text(th));
    expect(heads).toEqual(["Task", "Operator", "Emailed to", "Start date", "Stop date", "Count", "Status"]);
    // Completed and removed tasks are not in the list.
    expect($$("prov-row").map((r) => r.dataset["number"])).toEqual(["1", "2"]);
    const first = text(rowOf(1));
    expect(first).toContain("Task 1");
    expect(first).toContain("olga");
    expect(first).toContain("dmitri.berg@example.org");
    expect(first).toContain("1 to enroll");
    expect(rowOf(1)?.querySelectorAll("td")[5]?.textContent).toBe("3");
    expect(text($("prov-view"))).not.toMatch(UUID);
  });

  it("shows completed and removed tasks too in the report, and only then", async () => {
    await openList();
    check($("prov-report"), true);
    await until(() => $$("prov-row").length === 4, "the report");
    expect(sent("provisioning_tasks").at(-1)).toEqual({ report: true });
    expect(rowOf(3)?.dataset["status"]).toBe("completed");
    expect(text(rowOf(3))).toContain("Completed");
    expect(text(rowOf(4))).toContain("Removed");
    check($("prov-report"), false);
    await until(() => $$("prov-row").length === 2, "the list again");
  });

  it("shows a task's details: every user by name with status, serial and failed attempts, Resend only for active ones", async () => {
    await openTask(1);
    expect(text($("prov-task-title"))).toBe("Task 1");
    const facts = text($("prov-facts"));
    for (const f of ["Operator", "olga", "Emailed to", "Start date", "Stop date", "Count", "3 users, 1 still to enroll", "Authentication type", "Staff PIV (contact)"]) {
      expect(facts).toContain(f);
    }
    const heads = [...document.querySelectorAll('[data-testid="prov-users"] th')].map((th) => text(th));
    expect(heads.slice(0, 6)).toEqual(["Name", "Email", "Status", "Stop date", "Serial number", "Failed attempts"]);
    expect($$("prov-user").map((r) => r.dataset["status"])).toEqual(["active", "completed", "locked"]);
    expect(text(userRow("Chiara Berg")?.querySelector('[data-testid="prov-user-serial"]'))).toBe("5A1B9F01");
    expect(text(userRow("Dmitri Berg"))).toContain("Locked");
    expect(userRow("Dmitri Berg")?.querySelectorAll("td")[5]?.textContent).toBe("5");
    expect($$("prov-resend")).toHaveLength(1);
    expect(userRow("Bruno Berg")?.querySelector('[data-testid="prov-resend"]')).not.toBeNull();
    expect(text($("prov-task"))).not.toMatch(UUID);
    // Esc goes back to the list.
    (document.querySelector("main") as HTMLElement).focus();
    key("Escape", {}, document.querySelector("main") as HTMLElement);
    await until(() => $("prov-table"), "back to the list");
  });

  it("creates a task for people picked by search, with the policy's stop date when none is given", async () => {
    await openList();
    click($("prov-new"));
    await until(() => $("prov-create") && ($("prov-profile") as HTMLSelectElement).options.length === 2, "the form with the kiosk profiles");
    // Temporary-card profiles are not offered.
    expect([...($("prov-profile") as HTMLSelectElement).options].map((o) => o.text)).toEqual(["Staff PIV (contact)", "Staff PIV + contactless"]);
    click($("prov-create-submit"));
    expect(text($("prov-create-error"))).toContain("not valid");
    expect(sent("create_provisioning_task")).toHaveLength(0);
    for (const name of ["Hana Berg", "Ivo Berg"]) {
      type($("prov-person-search"), name);
      await until(() => $$("prov-person-option").length === 1, `${name} found`);
      key("Enter", {}, $("prov-person-search") as HTMLElement);
    }
    expect($$("prov-chosen").map((c) => text(c.querySelector("span")))).toEqual(["Hana Berg", "Ivo Berg"]);
    type($("prov-stop"), "");
    click($("prov-create-submit"));
    await until(() => $("prov-task")?.dataset["number"] === "5", "the new task's details");
    const args = sent("create_provisioning_task")[0];
    expect(args?.["stopDate"]).toBeNull();
    expect((args?.["people"] as string[]).length).toBe(2);
    expect($$("prov-user").map((r) => text(r.querySelector('[data-testid="prov-user-name"]')))).toEqual(["Hana Berg", "Ivo Berg"]);
    expect(fake.mail.filter((m) => m.to === "hana.berg@example.org")).toHaveLength(1);
  });

  it("edits: removing users is confirmed first and can email them; a new stop date alone applies at once", async () => {
    await openTask(5);
    click($("prov-edit"));
    await until(() => $("prov-edit-form") && document.activeElement === $$("prov-edit-user")[0], "the edit form, focus on its first user");
    // A later stop date alone: no confirmation.
    type($("prov-edit-stop"), "2099-06-30");
    click($("prov-edit-apply"));
    await until(() => $("prov-done"), "the change said");
    expect(sent("edit_provisioning_task").at(-1)).toEqual({ task: "5", remove: [], notify: false, stopDate: "2099-06-30" });
    expect(text($("prov-stop-date"))).toContain("2099");
    // An earlier one too.
    click($("prov-edit"));
    type($("prov-edit-stop"), "2098-01-15");
    click($("prov-edit-apply"));
    await until(() => text($("prov-stop-date")).includes("2098") && $("prov-edit-form") === null, "the earlier date applied");
    expect(sent("edit_provisioning_task").at(-1)?.["stopDate"]).toBe("2098-01-15");

    // Remove Hana without email: asked first, nothing sent before the answer.
    click($("prov-edit"));
    check($$("prov-edit-user").find((c) => c.dataset["name"] === "Hana Berg"), true);
    check($("prov-edit-notify"), false);
    click($("prov-edit-apply"));
    await until(() => $("prov-confirm"), "the confirmation");
    expect($("prov-confirm")?.getAttribute("role")).toBe("alertdialog");
    expect(text($("prov-confirm-question"))).toContain("Remove Hana Berg from the task?");
    expect(text($("prov-confirm-question"))).toContain("cannot be undone");
    expect(text($("prov-confirm-question"))).toContain("not told by email");
    await until(() => document.activeElement === $("prov-confirm-yes"), "focus on the confirmation");
    expect(sent("edit_provisioning_task")).toHaveLength(2);
    const mails = fake.mail.length;
    click($("prov-confirm-yes"));
    await until(() => userRow("Hana Berg")?.dataset["status"] === "removed", "Hana removed");
    const hana = fake.people.find((p) => p.ref.name === "Hana Berg")?.ref.id;
    expect(sent("edit_provisioning_task").at(-1)).toEqual({ task: "5", remove: [hana], notify: false, stopDate: null });
    expect(fake.mail.length).toBe(mails);

    // Remove Ivo with email: he is told.
    click($("prov-edit"));
    expect($$("prov-edit-user").map((c) => c.dataset["name"])).toEqual(["Ivo Berg"]);
    check($$("prov-edit-user")[0], true);
    check($("prov-edit-notify"), true);
    click($("prov-edit-apply"));
    await until(() => $("prov-confirm"), "the confirmation");
    expect(text($("prov-confirm-question"))).toContain("They get an email");
    click($("prov-confirm-yes"));
    await until(() => userRow("Ivo Berg")?.dataset["status"] === "removed", "Ivo removed");
    expect(fake.mail.at(-1)?.to).toBe("ivo.berg@example.org");
    expect(fake.mail.at(-1)?.subject).toContain("cancelled");
  });

  it("backs out of the confirmation and of the edit with Esc, changing nothing", async () => {
    await openTask(2);
    click($("prov-edit"));
    check($$("prov-edit-user")[0], true);
    click($("prov-edit-apply"));
    await until(() => $("prov-confirm"), "the confirmation");
    click($("prov-confirm-no"));
    await until(() => $("prov-edit-form"), "back to the edit");
    const edits = sent("edit_provisioning_task").length;
    key("Escape");
    expect($("prov-edit-form")).toBeNull();
    expect($("prov-task")).not.toBeNull();
    expect(sent("edit_provisioning_task")).toHaveLength(edits);
  });

  it("resends to an active user, to an alternate address for this message only", async () => {
    await openTask(2);
    click(userRow("Elif Berg")?.querySelector<HTMLElement>('[data-testid="prov-resend"]'));
    await until(() => $("prov-resend-form"), "the resend form");
    expect(($("prov-resend-email") as HTMLInputElement).value).toBe("elif.berg@example.org");
    type($("prov-resend-email"), "not an address");
    click($("prov-resend-send"));
    expect(text($("prov-form-error"))).toContain("not valid");
    type($("prov-resend-email"), "elif.private@example.net");
    click($("prov-resend-send"));
    await until(() => $("prov-done"), "the resend said");
    expect(sent("resend_enrollment").at(-1)?.["alternateEmail"]).toBe("elif.private@example.net");
    expect(text($("prov-done"))).toContain("stored address is unchanged");
    expect(text(userRow("Elif Berg"))).toContain("elif.berg@example.org");
    expect(fake.mail.at(-1)?.to).toBe("elif.private@example.net");
    // The stored address: no alternate sent.
    click(userRow("Anna Berg")?.querySelector<HTMLElement>('[data-testid="prov-resend"]'));
    click($("prov-resend-send"));
    await until(() => sent("resend_enrollment").length === 2, "the second resend");
    expect(sent("resend_enrollment").at(-1)?.["alternateEmail"]).toBeNull();
  });

  it("removes a task after a confirmation: it leaves the list and stays in the report", async () => {
    await openTask(1);
    click($("prov-remove"));
    await until(() => $("prov-remove-confirm"), "the confirmation");
    expect(text($("prov-remove-confirm"))).toContain("can no longer enroll");
    await until(() => document.activeElement === $("prov-remove-yes"), "focus on the confirmation");
    expect(sent("remove_provisioning_task")).toHaveLength(0);
    click($("prov-remove-yes"));
    await until(() => $("prov-task-status")?.dataset["state"] === "removed", "the task removed");
    expect(sent("remove_provisioning_task")[0]).toEqual({ task: "1", notify: true });
    expect($("prov-edit")).toBeNull();
    expect($$("prov-resend")).toHaveLength(0);
    expect(userRow("Chiara Berg")?.dataset["status"]).toBe("completed");
    await openList();
    expect(rowOf(1)).toBeUndefined();
    check($("prov-report"), true);
    await until(() => rowOf(1)?.dataset["status"] === "removed", "task 1 in the report");
    check($("prov-report"), false);
  });

  it("lists a person's outstanding tasks with the seed's columns, linked to the task", async () => {
    app.go({ name: "person", id: fake.people[0]?.ref.id ?? "" });
    await until(() => $("person-tasks"), "Anna's tasks");
    const heads = [...document.querySelectorAll('[data-testid="person-tasks"] th')].map((th) => text(th));
    expect(heads).toEqual(["Task", "Requester", "Provisioned to", "Start date", "Stop date", "Status", "Authentication type"]);
    const row = $$("person-task")[0];
    expect(text(row)).toContain("Task 2");
    expect(text(row)).toContain("abe");
    expect(text(row)).toContain("anna.berg@example.org");
    expect(text(row)).toContain("Active");
    expect(text(row)).toContain("Staff PIV (contact)");
    click(row?.querySelector<HTMLElement>('[data-testid="person-task-open"]'));
    await until(() => $("prov-task")?.dataset["number"] === "2", "task 2 opened");
    // Someone with no outstanding task: no table.
    app.go({ name: "person", id: fake.people[9]?.ref.id ?? "" });
    await until(() => $("person-view"), "Jonas");
    await new Promise((r) => setTimeout(r, 20));
    flushSync();
    expect($("person-tasks")).toBeNull();
  });
});

describe("the mailbox", () => {
  it("lists the messages newest first in Admin → Mailbox and shows one's text", async () => {
    key("m", { altKey: true, code: "KeyM" }, document.body);
    await until(() => $("admin-tab-mailbox"), "the Mailbox tab");
    click($("admin-tab-mailbox"));
    await until(() => $$("mail-row").length > 0, "the messages");
    expect($$("mail-row").length).toBe(fake.mail.length);
    // Newest first: the cancellations of the removed task, then the last resend (to Anna).
    const newest = fake.mail.at(-1);
    expect(newest?.subject).toContain("cancelled");
    expect(text($$("mail-row")[0]?.querySelector('[data-testid="mail-to"]'))).toBe(newest?.to);
    const resent = $$("mail-row").find((r) => text(r.querySelector('[data-testid="mail-to"]')) === "anna.berg@example.org");
    expect($("mail-message")).toBeNull();
    click(resent?.querySelector("button"));
    await until(() => $("mail-message"), "the message");
    expect(text($("mail-subject"))).toBe("Set up your smart card at a Cardstation kiosk");
    expect(text($("mail-message-to"))).toBe("anna.berg@example.org");
    expect(text($("mail-body"))).toContain("enrollment code");
    expect(text($("mailbox-view"))).not.toMatch(UUID);
    // ↓ moves between messages.
    const first = $$("mail-row")[0]?.querySelector("button") as HTMLElement;
    first.focus();
    key("ArrowDown");
    expect(document.activeElement).toBe($$("mail-row")[1]?.querySelector("button"));
  });

  it("says plainly that there is no mailbox when mail goes to an SMTP server", async () => {
    fake.mailOverSmtp = true;
    click($("mail-refresh"));
    await until(() => $("mail-smtp"), "the SMTP note");
    expect(text($("mail-smtp"))).toContain("SMTP server");
    expect($("mail-error")).toBeNull();
    fake.mailOverSmtp = false;
  });
});

describe("without the permission", () => {
  it("has no Provisioning item, and the person view lists no task link", async () => {
    app.begin({ ...fake.session, can: { ...fake.session.can, provision: false } });
    await until(() => $("nav-cards"), "the rail");
    expect($("nav-provisioning")).toBeNull();
    app.go({ name: "person", id: fake.people[0]?.ref.id ?? "" });
    await until(() => $("person-tasks"), "Anna's tasks");
    expect($("person-task-open")).toBeNull();
    expect(text($$("person-task")[0])).toContain("Task 2");
  });
});
