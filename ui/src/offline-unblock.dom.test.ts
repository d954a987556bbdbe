// @vitest-environment happy-dom
// Offline PIN unblock by challenge–response (UC-PIN, card not at the station), the helpdesk's side,
// against the stand-in backend: from the card's record to the response code and back.
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

function key(k: string, target: EventTarget = document.activeElement ?? document.body): void {
  target.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true }));
  flushSync();
}

const offlineCalls = (): Record<string, unknown>[] => fake.calls.filter((c) => c.cmd === "respond_offline_unblock").map((c) => c.args);

beforeAll(() => {
  document.body.innerHTML = '<div id="app"></div>';
  fake = installFakeBackend({ delayMs: 0, signedIn: true });
  component = mount(App, { target: document.getElementById("app") as HTMLElement });
});

afterAll(() => {
  unmount(component);
  app.stop();
});

describe("offline PIN unblock", () => {
  it("is reached from the record of a card found by search", async () => {
    await until(() => $("device-view"), "the card in the first reader");
    key("/", document.body);
    const search = await until(() => (document.activeElement === $("search-input") ? $("search-input") : null), "search input");
    type(search, "5a1b2c3d");
    await until(() => ($$("search-row").length === 1 ? true : null), "the card's hit");
    key("Enter", search);
    await until(() => $("record-view"), "the card's record");
    click($("record-offline-unblock"));
    const screen = await until(() => $("offline-unblock"), "offline unblock screen");
    expect(screen.querySelector("h1")?.textContent).toBe("Offline PIN unblock for Anna Berg");
    expect($("offline-card")?.textContent).toBe("Anna Berg's card: Staff PIV (contact), serial 5A1B2C3D");
    // Names, never ids.
    expect(screen.textContent).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
    expect(document.activeElement).toBe($("offline-challenge"));
  });

  it("says so when the card is in a reader after all, and stops saying it when it is taken out", async () => {
    expect($("offline-in-reader")?.textContent).toContain("Virtual PCD 00 00");
    fake.remove("Virtual PCD 00 00");
    await until(() => $("offline-in-reader") === null, "the note gone with the card");
  });

  it("refuses an empty identity check before calling the backend", async () => {
    type($("offline-challenge"), "ABCD-EFGH-JKMN");
    click($("offline-submit"));
    expect($("offline-error")?.dataset["code"]).toBe("bad-input");
    expect($("offline-error-detail")?.textContent).toContain("identity");
    expect(input("offline-identity-check").getAttribute("aria-invalid")).toBe("true");
    await until(() => document.activeElement === $("offline-identity-check"), "focus on the identity check");
    expect(offlineCalls()).toHaveLength(0);
  });

  it("words a challenge that does not parse so the operator re-reads it with the cardholder", async () => {
    type($("offline-identity-check"), "Call-back to the number on file");
    type($("offline-challenge"), "bad");
    click($("offline-submit"));
    const error = await until(() => ($("offline-error")?.dataset["code"] === "bad-code" ? $("offline-error") : null), "bad-code error");
    expect(error.textContent).toContain("misheard or mistyped");
    expect(error.textContent).toContain("Read the code back to the cardholder");
    expect(input("offline-challenge").getAttribute("aria-invalid")).toBe("true");
    expect($("offline-response")).toBeNull();
  });

  it("sends the challenge as typed and shows the response once, in groups, until Done wipes it", async () => {
    type($("offline-challenge"), "abcd efgh-jkmn PQRS");
    // Enter in the field submits the form.
    key("Enter", $("offline-challenge") ?? document.body);
    const panel = await until(() => $("offline-response"), "response panel");
    expect(offlineCalls().at(-1)).toMatchObject({ challenge: "abcd efgh-jkmn PQRS", identityCheck: "Call-back to the number on file" });
    const groups = [...panel.querySelectorAll(".g")].map((g) => g.textContent);
    expect(groups).toHaveLength(4);
    for (const g of groups) expect(g).toMatch(/^[0-9A-Z]{4}$/);
    const code = groups.join("-");
    expect($("offline-response-code")?.getAttribute("aria-label")).toContain(groups[0]?.split("").join(" "));
    expect(panel.textContent).toContain("Anna Berg");
    expect($("offline-error")).toBeNull();
    expect(document.activeElement).toBe($("offline-done"));
    // Shown once: it holds the screen (Esc does not leave) and the form is gone meanwhile.
    key("Escape", document.body);
    expect($("offline-response")).not.toBeNull();
    expect($("offline-challenge")).toBeNull();

    click($("offline-done"));
    expect($("offline-response")).toBeNull();
    expect(document.body.textContent).not.toContain(groups.join(""));
    expect(document.body.textContent).not.toContain(code);
    expect($("offline-wiped")).not.toBeNull();
    expect(input("offline-challenge").value).toBe("");
    expect(input("offline-identity-check").value).toBe("");
    expect(app.overlay).toBe(false);
  });

  it("goes back to the record with Esc", async () => {
    key("Escape", $("offline-challenge") ?? document.body);
    await until(() => $("record-view"), "the card's record again");
  });

  it("offers the action only to operators who may unblock PINs", () => {
    expect($("record-offline-unblock")).not.toBeNull();
    const session = app.session;
    if (session === null) throw new Error("signed out");
    session.can.pin = false;
    flushSync();
    expect($("record-offline-unblock")).toBeNull();
    session.can.pin = true;
  });
});
