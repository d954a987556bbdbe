// @vitest-environment happy-dom
// Batch order (UC-BATCH, seed 003): create a batch from the issue queue, run it on two readers,
// watch the board fill in, hand over a PIN.
import { flushSync, mount, unmount } from "svelte";
import { afterAll, beforeAll, expect, it } from "vitest";
import App from "./App.svelte";
import { installFakeBackend, type FakeBackend } from "./dev/fake-backend";
import { app } from "./lib/app.svelte";

let fake: FakeBackend;
let component: ReturnType<typeof mount>;
const $ = (id: string): HTMLElement | null => document.querySelector(`[data-testid="${id}"]`);
const $$ = (id: string): HTMLElement[] => [...document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];

async function until<T>(f: () => T | null | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    flushSync();
    const v = f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}; body: ${document.body.textContent?.slice(0, 800) ?? ""}`);
}

function click(el: HTMLElement | null | undefined): void {
  if (!el) throw new Error("nothing to click");
  el.click();
  flushSync();
}

function choose(el: HTMLElement | null, value: string): void {
  const select = el as HTMLSelectElement;
  select.value = value;
  select.dispatchEvent(new Event("change", { bubbles: true }));
  flushSync();
}

beforeAll(() => {
  document.body.innerHTML = '<div id="app"></div>';
  fake = installFakeBackend({ delayMs: 0, signedIn: true });
  // The first card fails once and is retried, as a real batch may.
  fake.batchFailSeq = 1;
  component = mount(App, { target: document.getElementById("app") as HTMLElement });
});

afterAll(() => {
  unmount(component);
  app.stop();
});

it("creates a batch from the issue queue, runs it on both readers and hands over a PIN", async () => {
  await until(() => ($$("reader-chip").length === 2 ? true : null), "two reader chips");
  // Alt+B opens the batch list.
  document.body.dispatchEvent(new KeyboardEvent("keydown", { key: "b", code: "KeyB", altKey: true, bubbles: true, cancelable: true }));
  await until(() => $("batch-empty"), "empty batch list");
  expect($("nav-batch")?.getAttribute("aria-current")).toBe("page");

  click($("batch-new"));
  const rows = await until(() => ($$("batch-queue-row").length === 2 ? $$("batch-queue-row") : null), "issue queue");
  expect(rows[0]?.textContent).toContain("Staff PIV");
  expect(($("batch-create") as HTMLButtonElement).disabled).toBe(true);
  click($("batch-select-all"));
  expect(rows.every((r) => r.querySelector<HTMLInputElement>("input[type=checkbox]")?.checked)).toBe(true);
  expect(($("batch-option-pin-length") as HTMLSelectElement).value).toBe("");

  // A PIN length outside the profile's policy is refused, in operator words.
  choose($("batch-option-pin-length"), "4");
  click($("batch-create"));
  const refused = await until(() => $("batch-create-error"), "refusal");
  expect(refused.dataset["code"]).toBe("invalid-batch");
  expect(refused.textContent).toContain("outside the profile's policy");

  choose($("batch-option-pin-length"), "6");
  click($("batch-option-cert-piv_authentication"));
  click($("batch-create"));
  const board = await until(() => $("batch-board"), "the new batch's board");
  const created = fake.calls.filter((c) => c.cmd === "create_batch").at(-1);
  expect(created?.args["options"]).toEqual({ pin_length: 6, puk_length: null, certificates: ["piv_authentication"], card_end_state: null, certificate_end_state: null });
  expect(board.dataset["batch"]).toBe(fake.batches[0]?.id);
  expect($("batch-counts")?.dataset["pending"]).toBe("2");
  expect($$("batch-run-reader")).toHaveLength(2);

  const run = $("batch-run") as HTMLButtonElement;
  expect(run.textContent).toContain("Run on 2 readers");
  click(run);
  await until(() => $("batch-cancel"), "cancel while running");
  expect($$("batch-reader").map((p) => p.dataset["reader"])).toEqual(["Virtual PCD 00 00", "Virtual PCD 00 01"]);
  // Both readers are busy in the strip while the batch runs.
  expect(Object.keys(app.running).sort()).toEqual(["Virtual PCD 00 00", "Virtual PCD 00 01"]);

  const counts = await until(() => ($("batch-counts")?.dataset["done"] === "2" && $("batch-board")?.dataset["running"] === "false" ? $("batch-counts") : null), "both cards done");
  expect(counts.dataset["pending"]).toBe("0");
  expect(counts.dataset["failed"]).toBe("0");
  expect(counts.dataset["encoding"]).toBe("0");
  expect($$("batch-reader").every((p) => p.dataset["status"] === "stopped")).toBe(true);
  expect($$("batch-reader-says")[0]?.textContent).toBe("Stopped: no card left");
  const cards = $$("batch-card-row");
  expect(cards.map((c) => c.dataset["state"])).toEqual(["done", "done"]);
  // The first card failed once and was retried.
  expect(cards[0]?.querySelectorAll("td")[5]?.textContent).toBe("2");
  expect($("batch-cancel")).toBeNull();
  expect(Object.keys(app.running)).toEqual([]);
  expect(fake.calls.find((c) => c.cmd === "run_batch")?.args["readers"]).toEqual(["Virtual PCD 00 00", "Virtual PCD 00 01"]);

  // Each finished card's PIN is shown once, from its row.
  expect($$("batch-pin-show")).toHaveLength(2);
  click($$("batch-pin-show")[0]);
  const pin = await until(() => $("pin-value"), "PIN panel");
  expect(pin.textContent?.replace(/\s/g, "")).toHaveLength(6);
  expect($$("batch-pin-show")).toHaveLength(1);
  click($("pin-close"));
  await until(() => ($("pin-reveal") === null ? true : null), "PIN panel closed");
  expect($("pin-value")).toBeNull();

  // Back to the list: the batch is there, finished.
  document.body.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true, cancelable: true }));
  const row = await until(() => $("batch-row"), "batch in the list");
  expect(row.textContent).toContain("2 cards");
  expect($("batch-status")?.textContent).toBe("Finished");
});
