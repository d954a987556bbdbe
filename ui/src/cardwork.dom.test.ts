// @vitest-environment happy-dom
// Card work in the device view (update, PIN, retire) and the Temporary cards screen, against the
// stand-in backend.
import { flushSync, mount, unmount } from "svelte";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import App from "./App.svelte";
import { installFakeBackend, type FakeBackend } from "./dev/fake-backend";
import { app } from "./lib/app.svelte";

let fake: FakeBackend;
let component: ReturnType<typeof mount>;

const $ = (id: string): HTMLElement | null => document.querySelector(`[data-testid="${id}"]`);
const $$ = (id: string): HTMLElement[] => [...document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];
const within = (el: HTMLElement | undefined, id: string): HTMLElement | null => el?.querySelector<HTMLElement>(`[data-testid="${id}"]`) ?? null;

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
  const input = el as HTMLInputElement;
  input.value = value;
  input.dispatchEvent(new Event("input", { bubbles: true }));
  flushSync();
}

function choose(el: HTMLElement | null, value: string): void {
  const select = el as HTMLSelectElement;
  for (const o of select.options) o.selected = o.value === value;
  select.value = value;
  select.dispatchEvent(new Event("change", { bubbles: true }));
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

const button = (id: string): HTMLButtonElement => $(id) as HTMLButtonElement;

beforeAll(() => {
  document.body.innerHTML = '<div id="app"></div>';
  fake = installFakeBackend({ delayMs: 0, signedIn: true });
  component = mount(App, { target: document.getElementById("app") as HTMLElement });
});

afterAll(() => {
  unmount(component);
  app.stop();
});

describe("card work on the device view", () => {
  it("lists card work with the backend's verdict: a refused action is disabled with its reason", async () => {
    await until(() => $("card-work"), "card work section");
    expect(button("card-work-request_update").disabled).toBe(false);
    expect(button("card-work-unblock_pin").disabled).toBe(false);
    expect(button("card-work-collect_updates").disabled).toBe(true);
    const why = $("card-work-why-collect_updates");
    expect(why?.textContent).toBe("No approved update is waiting for this card.");
    expect(button("card-work-collect_updates").getAttribute("aria-describedby")).toBe(why?.id);
    expect(button("card-action-erase").disabled).toBe(true);
    expect($("card-work-why-erase")?.textContent).toContain("Erasing needs the Erase permission.");
    // Retire actions are no longer duplicated in the action bar.
    expect($("action-deactivate")).toBeNull();
  });

  it("requests an update, shows the new request, and collects it with a stepper", async () => {
    click($("card-work-request_update"));
    const notes = await until(() => $("card-work-notes"), "update form");
    type(notes, "New key management certificate");
    click($("card-work-submit"));
    const created = await until(() => $("card-work-request-created"), "created request");
    expect(created.dataset["state"]).toBe("approved");
    const call = fake.calls.find((c) => c.cmd === "request_update");
    expect(call?.args).toMatchObject({ reason: "apply_latest_updates", profile: null, notes: "New key management certificate" });
    // The card is read again: the update is waiting, so collecting is allowed now.
    await until(() => !button("card-work-collect_updates").disabled, "collect allowed");
    expect($("device-pending-updates")?.textContent).toBe("1");
    click($("card-work-collect_updates"));
    const outcome = await until(() => $("card-outcome"), "collect outcome");
    expect(outcome.dataset["reveal"]).toBe("none");
    expect($$("card-job-step").map((s) => s.textContent ?? "").join("\n")).toContain("Writing the 9D key management certificate");
    expect($("card-job-take-out")).not.toBeNull();
    expect($("card-outcome-summary")?.textContent).toContain("Updates collected");
    click($("card-job-finish"));
    await until(() => $("device-pending-updates")?.textContent === "None", "no pending update after collecting");
  });

  it("unblocks the PIN after an identity check: PIN shown once, then closed and wiped", async () => {
    click(await until(() => $("card-work-unblock_pin"), "unblock button"));
    await until(() => $("pin-identity-check"), "identity check");
    click($("card-work-submit"));
    expect($("card-work-error")?.dataset["code"]).toBe("bad-input");
    expect(fake.calls.some((c) => c.cmd === "unblock_pin")).toBe(false);
    type($("pin-identity-check"), "Passport checked at the desk");
    click($("card-work-submit"));
    await until(() => $("pin-value"), "PIN reveal");
    expect($("card-outcome")?.dataset["reveal"]).toBe("open");
    expect($("pin-value")?.textContent?.replace(/\s/g, "")).toBe("91827364");
    expect($("puk-value")).toBeNull();
    expect(fake.calls.find((c) => c.cmd === "unblock_pin")?.args["identityCheck"]).toBe("Passport checked at the desk");
    // The job was tracked on its reader while it ran, and is over now.
    expect(app.running["Virtual PCD 00 00"]).toBeUndefined();
    click($("pin-close"));
    await until(() => $("card-outcome")?.dataset["reveal"] === "closed", "reveal closed");
    expect($("pin-value")).toBeNull();
    expect(document.body.textContent).not.toContain("9182");
    expect($("card-outcome-summary")?.textContent).toContain("PIN unblocked");
    expect(fake.calls.filter((c) => c.cmd === "close_reveal")).toHaveLength(1);
    click($("card-job-finish"));
    await until(() => $("card-work"), "back on the card");
  });

  it("changes the PIN: a mismatch is caught before the call, fields are cleared after it", async () => {
    click($("card-work-change_pin"));
    await until(() => $("pin-current"), "change PIN form");
    type($("pin-current"), "123456");
    type($("pin-new"), "24682468");
    type($("pin-confirm"), "24682469");
    click($("pin-change-submit"));
    expect($("card-work-error")?.textContent).toContain("not the same");
    expect(fake.calls.some((c) => c.cmd === "change_pin")).toBe(false);
    type($("pin-current"), "000000");
    type($("pin-new"), "24682468");
    type($("pin-confirm"), "24682468");
    click($("pin-change-submit"));
    expect(($("pin-current") as HTMLInputElement).value).toBe("");
    expect(($("pin-new") as HTMLInputElement).value).toBe("");
    const e = await until(() => $("card-work-error"), "wrong PIN");
    expect(e.dataset["code"]).toBe("wrong-pin");
    type($("pin-current"), "123456");
    type($("pin-new"), "24682468");
    type($("pin-confirm"), "24682468");
    click($("pin-change-submit"));
    const outcome = await until(() => $("card-outcome"), "PIN changed");
    expect(outcome.textContent).toContain("PIN changed");
    expect(outcome.dataset["reveal"]).toBe("none");
    expect($("pin-current")).toBeNull();
    expect(document.body.innerHTML).not.toContain("24682468");
    click($("card-outcome-done"));
  });

  it("deactivates with notes, then cancels with a reason; the view shows the new state", async () => {
    click($("card-action-deactivate"));
    type(await until(() => $("card-work-notes"), "notes"), "Holder on leave");
    click($("card-work-submit"));
    await until(() => $("card-outcome")?.dataset["state"] === "inactive", "deactivated");
    await until(() => $("device-state")?.textContent === "Inactive", "device view re-read");
    expect(fake.calls.find((c) => c.cmd === "retire")?.args).toMatchObject({ action: "deactivate", reason: null, notes: "Holder on leave" });
    click(await until(() => (button("card-action-cancel")?.disabled === false ? button("card-action-cancel") : null), "cancel action"));
    await until(() => $("retire-reason"), "reason select");
    click($("card-work-submit"));
    expect($("card-work-error")?.dataset["code"]).toBe("bad-input");
    choose($("retire-reason"), "damaged");
    click($("card-work-submit"));
    await until(() => $("device-state")?.textContent === "Locked", "cancelled card");
    expect(fake.calls.filter((c) => c.cmd === "retire").at(-1)?.args).toMatchObject({ action: "cancel", reason: "damaged", notes: null });
    expect($("card-action-deactivate")).toBeNull();
    expect(button("card-work-unblock_pin").disabled).toBe(true);
    expect($("card-work-why-unblock_pin")?.textContent).toBe("The card is locked.");
  });
});

describe("temporary cards", () => {
  it("opens with Alt+T, filters by state and assigns a card to a person", async () => {
    key("t", { altKey: true, code: "KeyT" }, document.body);
    await until(() => ($$("temp-row").length === 8 ? true : null), "all temporary cards");
    click($("temp-filter-unassigned"));
    await until(() => ($$("temp-row").length === 2 ? true : null), "unassigned cards");
    const row = $$("temp-row")[0];
    const id = row?.dataset["id"] ?? "";
    click(within(row, "temp-assign"));
    const search = await until(() => $("temp-assign-person-search"), "person picker");
    type(search, "zofia zimmer");
    click(await until(() => $("temp-assign-person-option"), "person option"));
    expect($("temp-assign-person")?.textContent).toBe("Zofia Zimmer");
    type($("temp-assign-until"), "2026-12-31");
    click($("temp-assign-submit"));
    const updated = await until(() => document.querySelector<HTMLElement>(`[data-testid="temp-row"][data-id="${id}"][data-state="assigned"]`), "assigned row");
    expect(updated.textContent).toContain("Zofia Zimmer");
    expect($$("temp-row")).toHaveLength(2);
    expect(fake.calls.find((c) => c.cmd === "assign_temporary")?.args).toMatchObject({ card: id, until: "2026-12-31" });
    // Return it: no longer needed.
    click(within(updated, "temp-return"));
    choose(await until(() => $("temp-return-reason"), "return reason"), "no_longer_needed");
    click($("temp-return-submit"));
    await until(() => document.querySelector(`[data-testid="temp-row"][data-id="${id}"][data-state="unassigned"]`), "returned row");
  });

  it("initializes a produced card once it is inserted: stepper, then the PIN reveal", async () => {
    click($("temp-filter-produced"));
    await until(() => ($$("temp-row").length === 2 ? true : null), "produced cards");
    click(within($$("temp-row")[0], "temp-initialize"));
    await until(() => $("card-job-insert"), "asks for the card");
    // Inserted while the job screen waits: it is taken at once (the screen stays; the chip would pulse).
    fake.insertBlank("Virtual PCD 00 01");
    await until(() => $("pin-value"), "PIN of the initialized card");
    expect($("card-outcome")?.dataset["reveal"]).toBe("open");
    expect($$("card-job-step").length).toBe(10);
    expect(fake.calls.find((c) => c.cmd === "initialize_temporary")?.args["reader"]).toBe("Virtual PCD 00 01");
    click($("pin-close"));
    await until(() => $("card-outcome")?.dataset["reveal"] === "closed", "closed");
    expect($("card-outcome-state")?.textContent).toBe("Unassigned");
    click($("card-job-finish"));
    await until(() => $("temp-filter-all"), "back on temporary cards");
  });
});

describe("erasing a card", () => {
  it("confirms, survives a pulled card, and leaves blank stock", async () => {
    fake.canErase = true;
    fake.insert("Virtual PCD 00 00", fake.ours("Virtual PCD 00 00", fake.people[0] as (typeof fake.people)[number]));
    click($("nav-cards"));
    const erase = await until(() => (button("card-action-erase")?.disabled === false ? button("card-action-erase") : null), "erase allowed");
    click(erase);
    const form = await until(() => $("card-work-form"), "erase confirmation");
    expect(form.textContent).toContain("The card goes back to blank stock.");
    fake.tearAfter = 2;
    click($("card-work-submit"));
    const torn = await until(() => $("card-job-torn"), "torn");
    expect(torn.textContent).toContain("Card removed at step 2 of 4");
    expect($("card-job-error")?.dataset["code"]).toBe("card-removed");
    fake.insert("Virtual PCD 00 00", fake.ours("Virtual PCD 00 00", fake.people[0] as (typeof fake.people)[number]));
    const outcome = await until(() => $("card-outcome"), "erased after reinsertion");
    expect(outcome.dataset["state"]).toBe("erased");
    expect(fake.calls.filter((c) => c.cmd === "erase_card")).toHaveLength(2);
    click($("card-job-finish"));
    await until(() => $("device-blank"), "blank stock in the reader");
    // Back through history: the job screen does not erase again.
    key("Escape", {}, document.body);
    await until(() => $("card-job-stale"), "already ran");
    expect(fake.calls.filter((c) => c.cmd === "erase_card")).toHaveLength(2);
  });
});
