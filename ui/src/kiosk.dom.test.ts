// @vitest-environment happy-dom
// The walk-up kiosk in a DOM against the stand-in backend: each screen, the cardholder's mistakes
// (wrong code with attempts left, locked, expired, PIN mismatch, PIN policy, wrong PIN), the card
// pulled (before and during encoding), the idle timeout, and the exit gesture.
import { flushSync, mount, unmount } from "svelte";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import App from "./App.svelte";
import { installFakeBackend, type FakeBackend } from "./dev/fake-backend";
import { FAKE_CODES, FAKE_CURRENT_PIN } from "./dev/fake-backend/kiosk";
import { app } from "./lib/app.svelte";
import { kiosk } from "./lib/kiosk.svelte";

const READER = "Virtual PCD 00 01";
let fake: FakeBackend;
let component: ReturnType<typeof mount>;

const $ = (id: string): HTMLElement | null => document.querySelector(`[data-testid="${id}"]`);
const stage = (): string | undefined => $("kiosk")?.dataset["stage"];
const text = (): string => document.body.textContent ?? "";

async function until<T>(f: () => T | null | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 300; i++) {
    flushSync();
    const v = f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}; body: ${text().slice(0, 600)}`);
}

function type(id: string, value: string): void {
  const input = $(id) as HTMLInputElement;
  input.value = value;
  input.dispatchEvent(new Event("input", { bubbles: true }));
  flushSync();
}

function click(id: string): void {
  const el = $(id);
  if (el === null) throw new Error(`no ${id}`);
  el.click();
  flushSync();
}

function key(k: string, init: KeyboardEventInit = {}): void {
  (document.activeElement ?? document.body).dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...init }));
  flushSync();
}

const calls = (cmd: string): number => fake.calls.filter((c) => c.cmd === cmd).length;

async function toCode(): Promise<void> {
  fake.insertBlank(READER);
  await until(() => stage() === "code", "the code screen");
}

async function toPin(code: string = FAKE_CODES.good): Promise<void> {
  await toCode();
  type("kiosk-code-input", code);
  click("kiosk-code-submit");
  await until(() => stage() === "pin", "the PIN screen");
}

beforeAll(() => {
  document.body.innerHTML = '<div id="app"></div>';
  fake = installFakeBackend({ delayMs: 0, kiosk: true });
  component = mount(App, { target: document.getElementById("app") as HTMLElement });
});

afterAll(() => {
  unmount(component);
  app.stop();
  kiosk.stop();
});

describe("walk-up kiosk", () => {
  it("starts with the kiosk sign-in only; an account without the walk-up permission is refused plainly", async () => {
    await until(() => $("kiosk-signin"), "kiosk sign-in");
    // No operator UI anywhere.
    expect($("signin-username")).toBeNull();
    expect(document.querySelector("nav")).toBeNull();
    type("kiosk-username", "olga");
    type("kiosk-password", "secret");
    click("kiosk-signin-submit");
    const msg = await until(() => $("kiosk-message"), "refusal");
    expect(msg.textContent).toContain("This account cannot run the kiosk");
    expect(msg.textContent).toContain("walk-up permission");
    expect(stage()).toBe("signin");
    await until(() => calls("sign_out") === 1, "the refused account signed out");
  });

  it("signs in the kiosk account, then asks for a card", async () => {
    type("kiosk-username", "kiosk");
    type("kiosk-password", "secret");
    click("kiosk-signin-submit");
    await until(() => stage() === "attract", "attract screen");
    expect(text()).toContain("Insert your card");
    expect(calls("watch_cards")).toBe(1);
  });

  it("card in: the code screen, masked with a show toggle; a malformed code is explained without counting", async () => {
    await toCode();
    const input = $("kiosk-code-input") as HTMLInputElement;
    expect(input.type).toBe("password");
    click("kiosk-code-show");
    expect(($("kiosk-code-input") as HTMLInputElement).type).toBe("text");
    type("kiosk-code-input", "1234");
    click("kiosk-code-submit");
    await until(() => $("kiosk-message"), "message");
    expect(text()).toContain("That is not an enrollment code");
    expect(calls("kiosk_check")).toBe(0);
  });

  it("a wrong code says so with the attempts left", async () => {
    type("kiosk-code-input", "abcd-0000-0000-0000");
    click("kiosk-code-submit");
    await until(() => $("kiosk-message")?.dataset["code"] === "wrong-enrollment-code", "wrong code");
    expect(text()).toContain("That code is not right");
    expect(text()).toContain("4 attempts left");
  });

  it("a locked or expired code says so and sends the cardholder to the help desk", async () => {
    type("kiosk-code-input", FAKE_CODES.locked);
    click("kiosk-code-submit");
    await until(() => $("kiosk-message")?.dataset["code"] === "state-not-allowed", "locked");
    expect(text()).toContain("This code is locked");
    expect(text()).toContain("help desk");
    type("kiosk-code-input", FAKE_CODES.expired.toLowerCase().replace(/-/g, ""));
    click("kiosk-code-submit");
    await until(() => $("kiosk-message")?.dataset["code"] === "stop-date-passed", "expired");
    expect(text()).toContain("This code has expired");
  });

  it("the right code (any case, no hyphens) greets the cardholder and shows the PIN policy", async () => {
    type("kiosk-code-input", "abcdefghjkmnpqrs");
    click("kiosk-code-submit");
    await until(() => stage() === "pin", "PIN screen");
    expect($("kiosk-hello")?.textContent).toBe("Hello, Grace Hopper");
    expect($("kiosk-pin-rule")?.textContent).toContain("6 to 8 digits");
    expect(($("kiosk-pin-1") as HTMLInputElement).type).toBe("password");
    expect(text()).not.toMatch(/0190|task 17|Some\(|\{ /);
  });

  it("PINs that differ, or break the policy, are explained before anything is sent", async () => {
    type("kiosk-pin-1", "246810");
    type("kiosk-pin-2", "246811");
    click("kiosk-pin-submit");
    await until(() => $("kiosk-message"), "mismatch");
    expect(text()).toContain("The two PINs are not the same");
    type("kiosk-pin-1", "12a4");
    type("kiosk-pin-2", "12a4");
    click("kiosk-pin-submit");
    await until(() => $("kiosk-message")?.textContent?.includes("digits only"), "digits only");
    type("kiosk-pin-1", "1234");
    type("kiosk-pin-2", "1234");
    click("kiosk-pin-submit");
    await until(() => $("kiosk-message")?.textContent?.includes("at least 6"), "too short");
    expect(calls("kiosk_encode")).toBe(0);
  });

  it("encodes with progress, then the PIN is tried on the card: a wrong one says the tries left, the right one is done", async () => {
    type("kiosk-pin-1", "246810");
    type("kiosk-pin-2", "246810");
    click("kiosk-pin-submit");
    await until(() => stage() === "try", "try screen");
    expect(calls("kiosk_encode")).toBe(1);
    type("kiosk-try-input", "111111");
    click("kiosk-try-submit");
    await until(() => $("kiosk-message")?.dataset["code"] === "wrong-pin", "wrong PIN");
    expect(text()).toContain("2 tries left");
    type("kiosk-try-input", "246810");
    click("kiosk-try-submit");
    await until(() => stage() === "done", "done");
    expect(text()).toContain("Done. Remove your card.");
    expect(fake.walkupData?.current).toBeNull();
    fake.remove(READER);
    await until(() => stage() === "attract", "back to attract");
    expect($("kiosk-notice")).toBeNull();
    expect(text()).toContain("Insert your card");
  });

  it("the card pulled at the PIN step ends the session and forgets everything", async () => {
    await toPin();
    type("kiosk-pin-1", "135790");
    const ended = fake.walkupData?.ended ?? 0;
    fake.remove(READER);
    await until(() => stage() === "attract", "attract");
    expect($("kiosk-notice")?.textContent).toContain("Your card was taken out");
    expect(fake.walkupData?.ended).toBe(ended + 1);
    expect(fake.walkupData?.current).toBeNull();
    expect(kiosk.walkup).toBeNull();
    expect(document.querySelector("input")).toBeNull();
  });

  it("the idle timeout clears the screen; a card left in must come out before the next cardholder", async () => {
    await toPin();
    type("kiosk-pin-1", "135790");
    kiosk.activity(Date.now());
    kiosk.tick(Date.now() + 50_000);
    flushSync();
    expect($("kiosk-idle")?.textContent).toContain("Still there?");
    kiosk.tick(Date.now() + 61_000);
    flushSync();
    expect(stage()).toBe("attract");
    expect($("kiosk-notice")?.textContent).toContain("nothing happened for a while");
    expect($("kiosk-remove-first")).not.toBeNull();
    expect(fake.walkupData?.current).toBeNull();
    expect(document.querySelector("input")).toBeNull();
    fake.remove(READER);
    await until(() => $("kiosk-remove-first") === null, "card out");
    expect(text()).toContain("Insert your card");
  });

  it("activity resets the idle timer", async () => {
    await toCode();
    kiosk.tick(Date.now() + 40_000);
    kiosk.activity(Date.now() + 40_000);
    kiosk.tick(Date.now() + 80_000);
    flushSync();
    expect(stage()).toBe("code");
    fake.remove(READER);
    await until(() => stage() === "attract", "attract");
  });

  it("the card pulled mid-encode: reinsert the same card and the same code to finish", async () => {
    await toPin();
    fake.tearAfter = 3;
    type("kiosk-pin-1", "246810");
    type("kiosk-pin-2", "246810");
    click("kiosk-pin-submit");
    await until(() => stage() === "attract", "attract after the tear");
    expect($("kiosk-notice")?.textContent).toContain("Insert the same card again and enter the same code");
  });

  it("a card started before is finished: the PIN screen says so", async () => {
    await toPin(FAKE_CODES.resuming);
    expect($("kiosk-resuming")).not.toBeNull();
    expect($("kiosk-hello")?.textContent).toBe("Hello, Alan Turing");
    click("kiosk-cancel");
    await until(() => stage() === "attract", "cancelled");
    fake.remove(READER);
  });

  it("a card with an update waiting needs no code: its current PIN proves it, then a new PIN updates it", async () => {
    const [checks, encodes] = [calls("kiosk_check"), calls("kiosk_encode")];
    const walkup = fake.walkupData;
    if (walkup === undefined || walkup === null) throw new Error("the kiosk's fake registry is set up by the tests before");
    walkup.updateReaders = [READER];
    fake.insertBlank(READER);
    await until(() => stage() === "prove", "the current-PIN screen");
    expect($("kiosk-hello")?.textContent).toBe("Hello, Katherine Johnson");
    expect($("kiosk-update-what")?.textContent).toContain("brought up to date for Employee 2027");
    expect(calls("kiosk_check")).toBe(checks);
    type("kiosk-current-pin", "000000");
    click("kiosk-prove-submit");
    await until(() => $("kiosk-message"), "the wrong PIN explained");
    expect(text()).toContain("That PIN is not right");
    expect(text()).toContain("Type the PIN you use with this card. 2 tries left");
    type("kiosk-current-pin", FAKE_CURRENT_PIN);
    click("kiosk-prove-submit");
    await until(() => stage() === "pin", "the new-PIN screen");
    expect(text()).toContain("Choose your new PIN");
    type("kiosk-pin-1", "975310");
    type("kiosk-pin-2", "975310");
    click("kiosk-pin-submit");
    await until(() => stage() === "try", "the PIN try");
    expect(text()).toContain("Your card is up to date");
    type("kiosk-try-input", "975310");
    click("kiosk-try-submit");
    await until(() => stage() === "done", "done");
    expect(calls("kiosk_update")).toBe(1);
    expect(calls("kiosk_encode")).toBe(encodes);
    fake.remove(READER);
    await until(() => stage() === "attract", "attract");
    expect(kiosk.update).toBeNull();
    walkup.updateReaders = [];
  });

  it("an updated card taken out before its PIN is tried: the cardholder is told it is up to date", async () => {
    const walkup = fake.walkupData;
    if (walkup === undefined || walkup === null) throw new Error("the kiosk's fake registry is set up by the tests before");
    walkup.updateReaders = [READER];
    fake.insertBlank(READER);
    await until(() => stage() === "prove", "the current-PIN screen");
    type("kiosk-current-pin", FAKE_CURRENT_PIN);
    click("kiosk-prove-submit");
    await until(() => stage() === "pin", "the new-PIN screen");
    type("kiosk-pin-1", "975310");
    type("kiosk-pin-2", "975310");
    click("kiosk-pin-submit");
    await until(() => stage() === "try", "the PIN try");
    fake.remove(READER);
    await until(() => stage() === "attract", "attract");
    expect($("kiosk-notice")?.textContent).toBe("Your card is up to date. Use it with the new PIN you chose.");
    walkup.updateReaders = [];
  });

  it("the window cannot be left without the exit gesture and the kiosk account's password", async () => {
    key("Escape");
    expect($("kiosk-exit")).toBeNull();
    key("X", { ctrlKey: true, altKey: true, shiftKey: true });
    await until(() => $("kiosk-exit"), "exit prompt");
    type("kiosk-exit-password", "nope");
    click("kiosk-exit-submit");
    await until(() => $("kiosk-exit-error"), "refused");
    expect(text()).toContain("That password was not accepted.");
    key("Escape");
    await until(() => $("kiosk-exit") === null, "prompt closed");
    for (let i = 0; i < 5; i++) click("kiosk-corner");
    await until(() => $("kiosk-exit"), "exit prompt by taps");
    type("kiosk-exit-password", "secret");
    click("kiosk-exit-submit");
    await until(() => stage() === "closing", "closing");
    expect(fake.walkupData?.exited).toBe(true);
  });
});
