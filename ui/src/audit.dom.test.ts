// @vitest-environment happy-dom
// The audit screen against the stand-in backend: the trail (windowed when long), filtering, order,
// the chain's verification, CSV export and the two charts.
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

const lastQuery = (): Record<string, unknown> =>
  [...fake.calls].reverse().find((c) => c.cmd === "audit")?.args["query"] as Record<string, unknown>;

beforeAll(() => {
  document.body.innerHTML = '<div id="app"></div>';
  fake = installFakeBackend({ delayMs: 0, signedIn: true });
  component = mount(App, { target: document.getElementById("app") as HTMLElement });
});

afterAll(() => {
  unmount(component);
  app.stop();
});

describe("audit screen", () => {
  it("opens from the rail and lists thousands of events, windowed, newest first", async () => {
    click(await until(() => $("nav-audit"), "audit nav item"));
    const count = await until(() => ($("audit-count")?.textContent?.includes("2,200") ? $("audit-count") : null), "event count");
    expect(count.textContent).toContain("newest first");
    const rows = $$("audit-row");
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(40);
    expect(rows[0]?.dataset["seq"]).toBe("2200");
    expect($("audit-table")).toBeNull();
    expect(lastQuery()).toEqual({ operator: null, person: null, device: null, action: null, since: null, until: null });
    // Charts: one bar per day from the first to the last, weekends as empty days.
    const bars = $$("audit-chart-bar");
    expect(bars.length).toBe(60);
    expect(bars.some((b) => b.dataset["cards"] === "0")).toBe(true);
    expect($("audit-chart-issued")?.querySelector("table")?.textContent).toContain("Cards issued");
    const readers = $$("audit-chart-reader");
    expect(readers).toHaveLength(3);
    expect($("audit-chart-readers")?.textContent).toContain("41 cards/h");
    expect($("audit-chart-readers")?.textContent).toContain("Virtual PCD 00 01");
  });

  it("filters by operator, person, action and days, and shows the matching rows in a table", async () => {
    type($("audit-filter-operator"), "Jonas");
    type($("audit-filter-person"), " Anna ");
    const action = $("audit-filter-action") as HTMLSelectElement;
    expect([...action.options].map((o) => o.textContent)).toContain("Card issued");
    const issued = [...action.options].find((o) => o.value === "record_issuance");
    if (issued) issued.selected = true;
    action.dispatchEvent(new Event("change", { bubbles: true }));
    type($("audit-filter-since"), "2026-01-05");
    type($("audit-filter-until"), "2026-02-28");
    click($("audit-apply"));
    await until(() => $("audit-table"), "filtered table");
    expect(lastQuery()).toEqual({ operator: "Jonas", person: "Anna", device: null, action: "record_issuance", since: "2026-01-05", until: "2026-03-01" });
    const rows = $$("audit-row");
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.textContent?.includes("Jonas Jensen") && r.textContent.includes("Card issued"))).toBe(true);
    expect($("audit-count")?.textContent).toContain("match the filter");
    const seqs = rows.map((r) => Number(r.dataset["seq"]));
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    click($("audit-order"));
    const oldest = $$("audit-row").map((r) => Number(r.dataset["seq"]));
    expect(oldest).toEqual([...seqs].reverse());
    expect($("audit-order")?.dataset["order"]).toBe("oldest");
  });

  it("shows refusals with their reason", async () => {
    click($("audit-clear"));
    const operator = $("audit-filter-operator") as HTMLInputElement;
    type(operator, "Maja");
    // Enter in a field applies the filter (the form's implicit submission).
    operator.focus();
    operator.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
    flushSync();
    await until(() => (lastQuery()["operator"] === "Maja" && $("audit-count")?.textContent?.includes("733") ? true : null), "Maja's events");
    // 733 events: the windowed list; oldest first, the first rows include a refusal.
    if ($("audit-order")?.dataset["order"] !== "oldest") click($("audit-order"));
    const refused = await until(() => $$("audit-row").find((r) => r.dataset["success"] === "false"), "a refused row");
    expect(refused.textContent).toContain("Refused");
    expect(refused.textContent).toContain("the approver requested it themselves");
  });

  it("refuses an until day before the from day without asking the backend", () => {
    const before = fake.calls.filter((c) => c.cmd === "audit").length;
    type($("audit-filter-since"), "2026-02-10");
    type($("audit-filter-until"), "2026-02-01");
    click($("audit-apply"));
    expect($("audit-error")?.dataset["code"]).toBe("bad-input");
    expect($("audit-error")?.textContent).toContain("before");
    expect(fake.calls.filter((c) => c.cmd === "audit").length).toBe(before);
    type($("audit-filter-since"), "");
    type($("audit-filter-until"), "");
  });

  it("verifies the chain: intact, then broken in the danger tone", async () => {
    click($("audit-verify"));
    const chain = await until(() => $("audit-chain"), "chain panel");
    expect(chain.dataset["intact"]).toBe("true");
    expect(chain.textContent).toContain("Intact: 2,200 events verified");
    fake.chainBroken = { at: 57, reason: "its hash does not match the event before it" };
    click($("audit-verify"));
    await until(() => $("audit-chain")?.dataset["intact"] === "false", "broken chain");
    expect($("audit-chain")?.className).toContain("danger");
    expect($("audit-chain")?.textContent).toContain("Broken at event 57: its hash does not match the event before it");
    fake.chainBroken = null;
  });

  it("exports CSV: says where it was saved, and nothing when the dialog is dismissed", async () => {
    click($("audit-export"));
    const saved = await until(() => $("audit-exported"), "saved note");
    expect(saved.textContent).toBe("Saved to /home/olga/Documents/audit.csv");
    expect(fake.calls.find((c) => c.cmd === "export_audit")?.args["query"]).toEqual(lastQuery());
    fake.exportDismissed = true;
    click($("audit-export"));
    await until(() => fake.calls.filter((c) => c.cmd === "export_audit").length === 2 && !($("audit-export") as HTMLButtonElement).disabled, "second export");
    expect($("audit-exported")).toBeNull();
    expect($("audit-export-error")).toBeNull();
  });
});
