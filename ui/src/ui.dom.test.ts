// @vitest-environment happy-dom
// Whole-window smoke test: the real components against the stand-in backend, in a DOM.
import { flushSync, mount, unmount } from "svelte";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import App from "./App.svelte";
import { installFakeBackend, type FakeBackend } from "./dev/fake-backend";
import { app } from "./lib/app.svelte";

let fake: FakeBackend;
let component: ReturnType<typeof mount>;

const $ = (id: string): HTMLElement | null => document.querySelector(`[data-testid="${id}"]`);
const $$ = (id: string): HTMLElement[] => [...document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];

async function until<T>(f: () => T | null | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    flushSync();
    const v = f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}; body: ${document.body.textContent?.slice(0, 600) ?? ""}`);
}

function type(el: HTMLElement | null, value: string): void {
  const input = el as HTMLInputElement;
  input.value = value;
  input.dispatchEvent(new Event("input", { bubbles: true }));
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

beforeAll(() => {
  document.body.innerHTML = '<div id="app"></div>';
  fake = installFakeBackend({ delayMs: 0 });
  component = mount(App, { target: document.getElementById("app") as HTMLElement });
});

afterAll(() => {
  unmount(component);
  app.stop();
});

describe("operator window", () => {
  it("refuses a wrong password with operator wording, then signs in", async () => {
    const user = await until(() => $("signin-username"), "sign-in form");
    // The indicator asks registryOnline(), not syncStatus() (which needs a session).
    await until(() => $("signin-online")?.dataset["online"] === "true", "online indicator");
    expect(fake.calls.some((c) => c.cmd === "registry_online")).toBe(true);
    expect(fake.calls.some((c) => c.cmd === "sync_status")).toBe(false);
    type(user, "olga");
    type($("signin-password"), "nope");
    click($("signin-submit"));
    const e = await until(() => $("signin-error"), "sign-in error");
    expect(e.dataset["code"]).toBe("sign-in");
    expect(e.textContent).toContain("The user name or password was not accepted.");
    expect(e.textContent).not.toContain("{");
    type($("signin-password"), "secret");
    click($("signin-submit"));
    await until(() => $("reader-strip"), "shell");
    expect($("status-operator")?.textContent).toContain("Olga Operator");
    expect($("offline-banner")).toBeNull();
  });

  it("shows the inserted card, its state and the why-not list", async () => {
    const chips = await until(() => ($$("reader-chip").length === 2 ? $$("reader-chip") : null), "two reader chips");
    await until(() => chips[0]?.textContent?.includes("Anna Berg") ?? false, "holder chip");
    const state = await until(() => $("device-state"), "device state");
    expect(state.textContent).toBe("Active");
    expect($("device-view")?.dataset["kind"]).toBe("ours");
    expect($$("cert-row")[0]?.textContent).toContain("PIV Authentication (9A)");
    expect($$("cert-state")[0]?.textContent).toBe("Valid");
    // Deactivate, cancel, erase are card work now: allowed ones enabled, refused ones with their reason.
    expect(($("card-action-deactivate") as HTMLButtonElement).disabled).toBe(false);
    expect(($("card-action-erase") as HTMLButtonElement).disabled).toBe(true);
    expect($("card-work-why-erase")?.textContent).toContain("Erasing needs the Erase permission.");
    expect($$("cert-row")).toHaveLength(2);
  });

  it("searches as you type, windowing thousands of hits, and opens a person with Enter", async () => {
    key("/", {}, document.body);
    const input = await until(() => (document.activeElement === $("search-input") ? $("search-input") : null), "focused search input");
    type(input, "an");
    const count = await until(() => ($("search-count")?.textContent?.includes("200+") ? $("search-count") : null), "200+ count");
    expect(count.textContent).toContain("200+ results");
    const rows = $$("search-row");
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(40);
    type(input, "zofia zimmer");
    await until(() => ($$("search-row").length === 1 ? true : null), "one hit");
    key("Enter", {}, input);
    const name = await until(() => $("person-name"), "person view");
    expect(name.textContent).toBe("Zofia Zimmer");
    click($("person-tab-history"));
    const history = $$("history-row");
    expect(history).toHaveLength(2);
    expect(history[1]?.textContent).toContain("Card issued");
    expect(history[1]?.textContent).toContain("Jonas Jensen");
    expect($("person-history-note")).toBeNull();
    key("Escape", {}, document.body);
    await until(() => $("search-input"), "back to search");
    expect(($("search-input") as HTMLInputElement).value).toBe("zofia zimmer");
  });

  it("approves and rejects with a reason; a refused action shows its reason", async () => {
    click($("nav-requests"));
    await until(() => ($$("request-row").length === 2 ? true : null), "approval queue");
    const [first, second] = $$("request-row");
    // The second was requested by the operator: approving is refused with the reason shown.
    const approveOwn = second?.querySelector<HTMLElement>('[data-testid="approve"]') ?? null;
    expect(approveOwn?.getAttribute("aria-disabled")).toBe("true");
    click(approveOwn);
    expect($("action-reason")?.textContent).toContain("You requested this yourself");
    click(first?.querySelector<HTMLElement>('[data-testid="approve"]') ?? null);
    await until(() => first?.dataset["state"] === "approved" || $$("request-row")[0]?.dataset["state"] === "approved", "approved");
    click($$("request-row")[1]?.querySelector<HTMLElement>('[data-testid="reject"]') ?? null);
    const reason = await until(() => $("decision-reason-input"), "reason prompt");
    click($("decision-reason-confirm"));
    expect(reason.getAttribute("aria-invalid")).toBe("true");
    type(reason, "Duplicate request");
    click($("decision-reason-confirm"));
    await until(() => $$("request-row")[1]?.dataset["state"] === "rejected", "rejected");
    expect(fake.calls.filter((c) => c.cmd === "decide").map((c) => c.args["decision"])).toEqual(["approve", "reject"]);
  });

  it("issues a blank card: steps named, PIN revealed once and wiped", async () => {
    click($("nav-cards"));
    fake.insertBlank("Virtual PCD 00 01");
    await until(() => $("device-blank"), "blank card view opened by insertion");
    click($$("issue-start")[0] ?? null);
    const confirm = await until(() => $("issue-confirm"), "confirm");
    click(confirm);
    await until(() => $("pin-value"), "PIN reveal");
    const steps = $$("job-step").map((s) => s.textContent ?? "");
    expect(steps.length).toBe(14);
    expect(steps.join("\n")).toContain("Generating the 9A authentication key (ECC P-256)");
    expect($("job-take-out")).not.toBeNull();
    expect($("pin-value")?.textContent?.replace(/\s/g, "")).toBe("40719263");
    expect($("puk-value")).not.toBeNull();
    expect($("issued-done")?.dataset["reveal"]).toBe("open");
    click($("pin-close"));
    await until(() => $("issue-done"), "done panel");
    const done = $("issued-done");
    expect(done?.dataset["reveal"]).toBe("closed");
    expect(done?.dataset["resumed"]).toBe("false");
    expect(done?.textContent).toContain("Active");
    expect($("pin-value")).toBeNull();
    expect(document.body.textContent).not.toContain("4071");
    expect(fake.calls.filter((c) => c.cmd === "close_reveal")).toHaveLength(1);
  });

  it("survives a torn card: says where it stopped and resumes when the card is back", async () => {
    click($("nav-cards"));
    fake.remove("Virtual PCD 00 01");
    await until(() => $("device-empty"), "empty reader");
    fake.insertBlank("Virtual PCD 00 01");
    // issue the remaining approved request
    const start = await until(() => $$("issue-start")[0], "issuable request");
    fake.tearAfter = 5;
    click(start);
    click(await until(() => $("issue-confirm"), "confirm"));
    const torn = await until(() => $("job-torn"), "torn message");
    expect(torn.textContent).toContain("Card removed at step 5 of 14");
    expect(torn.textContent).toContain("reinsert the same card to resume");
    expect($("issue-error")?.dataset["code"]).toBe("card-removed");
    fake.reinsertTorn("Virtual PCD 00 01");
    await until(() => $("pin-value"), "PIN after resume");
    expect($$("job-notice")[0]?.textContent).toContain("Carrying on where it stopped");
    expect(fake.calls.filter((c) => c.cmd === "resume_job")).toHaveLength(1);
    click($("pin-close"));
    await until(() => $("issue-done"), "done after resume");
    expect($("issued-done")?.dataset["resumed"]).toBe("true");
    expect($("issued-resumed")).not.toBeNull();
  });

  it("offers an interrupted job on the device view and rolls it back with a reason", async () => {
    click($("nav-cards"));
    fake.remove("Virtual PCD 00 01");
    fake.insertBlank("Virtual PCD 00 01");
    const start = await until(() => $$("issue-start")[0], "issuable request");
    fake.tearAfter = 3;
    click(start);
    click(await until(() => $("issue-confirm"), "confirm"));
    await until(() => $("job-torn"), "torn");
    // Back on the Cards view (not a form), the torn card opens with its open job.
    key("Escape", {}, document.body);
    click($("nav-cards"));
    fake.reinsertTorn("Virtual PCD 00 01");
    const job = await until(() => $("device-open-job"), "open job on the device view");
    expect(job.textContent).toContain("did not finish");
    expect($("job-resume")).not.toBeNull();
    click($("job-rollback"));
    type(await until(() => $("rollback-reason-input"), "reason"), "Card damaged");
    click($("rollback-reason-confirm"));
    await until(() => $("device-notice"), "rolled back notice");
    expect($("device-notice")?.textContent).toContain("rolled back");
    expect(fake.calls.find((c) => c.cmd === "rollback_job")?.args["reason"]).toBe("Card damaged");
  });

  it("locks on the backend's idle lock, keeping the screen underneath", async () => {
    fake.lock();
    await until(() => $("lock-screen"), "lock screen");
    expect($("device-notice")?.textContent).toContain("rolled back");
    type($("lock-password"), "secret");
    click($("lock-submit"));
    await until(() => ($("lock-screen") === null ? true : null), "unlocked");
    // the screen underneath, with its state, is still there
    expect($("device-notice")?.textContent).toContain("rolled back");
  });

  it("shows sync state and retries", async () => {
    click($("status-queue"));
    await until(() => $("sync-retry"), "sync view");
    expect($$("sync-rejected-row")[0]?.textContent).toContain("already cancelled");
    click($("sync-retry"));
    await until(() => fake.calls.some((c) => c.cmd === "sync_now"), "sync now called");
    await until(() => !($("sync-retry") as HTMLButtonElement).disabled, "sync finished");
  });

  it("shows Tauri's own refusal (a bare string) as an internal error, never its raw text", async () => {
    fake.denied.add("sync_now");
    click($("sync-retry"));
    const e = await until(() => $("sync-error"), "sync error");
    expect(e.dataset["code"]).toBe("internal");
    expect(e.textContent).toContain("Something unexpected went wrong inside Cardstation.");
    expect(e.textContent).not.toContain("not allowed");
    expect($("sync-error-detail")).toBeNull();
    fake.denied.delete("sync_now");
  });

  it("says so in the reader strip when the PC/SC service stops, and lists readers when it returns", async () => {
    fake.serviceDown();
    const down = await until(() => $("reader-service-down"), "service down note");
    expect(down.textContent).toContain("smart card service");
    expect($$("reader-chip")).toHaveLength(0);
    expect($("reader-none")).toBeNull();
    fake.serviceUp();
    await until(() => ($$("reader-chip").length === 2 ? true : null), "readers back");
    expect($("reader-service-down")).toBeNull();
  });
});
