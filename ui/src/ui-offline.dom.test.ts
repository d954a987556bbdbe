// @vitest-environment happy-dom
// Offline sign-in and card insertion while the operator is in a form.
import { flushSync, mount, unmount } from "svelte";
import { afterAll, beforeAll, expect, it } from "vitest";
import App from "./App.svelte";
import { installFakeBackend, type FakeBackend } from "./dev/fake-backend";
import { app } from "./lib/app.svelte";

let fake: FakeBackend;
let component: ReturnType<typeof mount>;
const $ = (id: string): HTMLElement | null => document.querySelector(`[data-testid="${id}"]`);

async function until<T>(f: () => T | null | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    flushSync();
    const v = f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(() => {
  document.body.innerHTML = '<div id="app"></div>';
  fake = installFakeBackend({ delayMs: 0, offline: true });
  fake.session.idle_lock_seconds = 45;
  component = mount(App, { target: document.getElementById("app") as HTMLElement });
});

afterAll(() => {
  unmount(component);
  app.stop();
});

it("signs in offline with a banner, and a card inserted during a form only pulses its chip", async () => {
  const user = await until(() => $("signin-username"), "sign-in form");
  await until(() => $("signin-online")?.dataset["online"] === "false", "offline indicator");
  expect(fake.calls.some((c) => c.cmd === "registry_online")).toBe(true);
  (user as HTMLInputElement).value = "olga";
  user.dispatchEvent(new Event("input", { bubbles: true }));
  const pw = $("signin-password") as HTMLInputElement;
  pw.value = "secret";
  pw.dispatchEvent(new Event("input", { bubbles: true }));
  ($("signin-submit") as HTMLButtonElement).click();
  await until(() => $("offline-banner"), "offline banner");
  expect($("status-online")?.textContent).toContain("Offline");
  // Idle lock of 45 s: the countdown shows at once (last minute).
  expect(await until(() => $("status-idle"), "idle countdown")).toHaveProperty("textContent", expect.stringMatching(/Locks in 0:4\d/));

  ($("nav-new-request") as HTMLButtonElement).click();
  await until(() => $("request-person-search"), "request form");
  fake.insertBlank("Virtual PCD 00 01");
  const chip = await until(
    () => document.querySelector<HTMLElement>('[data-testid="reader-chip"][data-reader="Virtual PCD 00 01"][data-status="blank"]'),
    "blank chip",
  );
  expect(chip.classList.contains("pulse")).toBe(true);
  expect($("request-person-search")).not.toBeNull();
  chip.click();
  await until(() => $("device-blank"), "device view after clicking the chip");
  expect(chip.classList.contains("pulse")).toBe(false);
});

it("explains an empty history offline", async () => {
  const user = fake.people[0];
  if (user === undefined) throw new Error("no people");
  app.go({ name: "person", id: user.ref.id });
  await until(() => $("person-name"), "person view");
  ($("person-tab-history") as HTMLButtonElement).click();
  const note = await until(() => $("person-history-note"), "history note");
  expect(note.textContent).toContain("registry");
  expect($("person-history")).toBeNull();
});
