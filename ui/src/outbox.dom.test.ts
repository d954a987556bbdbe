// @vitest-environment happy-dom
// Whose queued operations wait in the outbox, what the registry accepted lately, and refusals shown at sign-in.
import { flushSync, mount, unmount } from "svelte";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import App from "./App.svelte";
import { installFakeBackend, type FakeBackend } from "./dev/fake-backend";
import { app } from "./lib/app.svelte";
import { formatTime } from "./lib/format";

let fake: FakeBackend;
let component: ReturnType<typeof mount>;

const $ = (id: string): HTMLElement | null => document.querySelector(`[data-testid="${id}"]`);
const $$ = (id: string, root: ParentNode = document): HTMLElement[] => [...root.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];

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

async function signIn(username: string): Promise<void> {
  type(await until(() => $("signin-username"), "sign-in form"), username);
  type($("signin-password"), "secret");
  click($("signin-submit"));
  await until(() => $("reader-strip"), "shell");
}

async function signOut(): Promise<void> {
  click($("status-signout"));
  await until(() => $("signin-username"), "sign-in form after sign-out");
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

describe("outbox by operator", () => {
  it("says which pending operations wait for another operator, and names who made each", async () => {
    await signIn("olga");
    expect($("refused-notice")).toBeNull();
    click($("nav-sync"));
    await until(() => $$("sync-pending-row").length === 3, "pending rows");

    const [own, ...others] = $$("sync-pending-row");
    if (own === undefined) throw new Error("no pending row");
    expect(own.dataset["yours"]).toBe("true");
    expect($$("sync-row-operator", own)[0]?.textContent).toContain("You");
    expect($$("sync-row-operator", own)[0]?.textContent).toContain("Olga Operator (olga)");
    expect($$("sync-waiting-other", own)).toHaveLength(0);

    expect(others).toHaveLength(2);
    for (const row of others) {
      expect(row.dataset["yours"]).toBe("false");
      expect($$("sync-row-operator", row)[0]?.textContent?.trim()).toBe("Abe Approver (abe)");
      expect($$("sync-waiting-other", row)[0]?.textContent).toBe("Waits for Abe Approver (abe) to sign in: sent only in their session");
    }
    expect($("sync-others-note")?.textContent).toContain("2 operations of other operators wait here");

    // Rejected rows name their operator too, with no waiting note (only pending ones wait).
    const rejected = $$("sync-rejected-row");
    expect(rejected.map((r) => $$("sync-row-operator", r)[0]?.textContent?.trim())).toEqual([
      expect.stringContaining("You"),
      "Abe Approver (abe)",
    ]);
    expect($$("sync-waiting-other", $("sync-rejected-table") as HTMLElement)).toHaveLength(0);
  });

  it("lists operations accepted lately, and says so when there are none", async () => {
    const section = await until(() => $("sync-accepted"), "accepted section");
    const rows = $$("sync-accepted-row", section);
    expect(rows).toHaveLength(fake.sync.accepted.length);
    fake.sync.accepted.forEach((a, i) => {
      const row = rows[i] as HTMLElement;
      expect(row.textContent).toContain(a.kind_label);
      expect(row.textContent).toContain(formatTime(a.queued_at));
      expect($$("sync-row-operator", row)[0]?.textContent).toContain(a.yours ? "You" : (a.operator ?? "Not recorded"));
    });
    expect(rows[1]?.textContent).toContain("Abe Approver (abe)");
    expect(rows[2]?.textContent).toContain("Not recorded");

    fake.pushSync({ ...fake.sync, accepted: [] });
    await until(() => $("sync-nothing-accepted"), "no accepted rows");
    expect($("sync-nothing-accepted")?.textContent).toBe("Nothing was accepted lately.");
    expect($$("sync-accepted-row")).toHaveLength(0);
    await signOut();
  });
});

describe("refusals at sign-in", () => {
  it("shows this operator's refused actions until dismissed, with a way to the Sync screen", async () => {
    fake.refusals.get("abe")?.push(fake.outboxRow(90, "Request card", 10 * 60_000, "rejected", "abe", "The person left the organisation before the request arrived."));
    const expected = [...(fake.refusals.get("abe") ?? [])];
    expect(expected).toHaveLength(2);
    await signIn("abe");

    const notice = await until(() => $("refused-notice"), "refused notice");
    expect(notice.getAttribute("role")).toBe("alert");
    expect(notice.textContent).toContain("2 of your queued actions were refused by the registry");
    const rows = $$("refused-row", notice);
    expect(rows).toHaveLength(2);
    expected.forEach((r, i) => {
      expect(rows[i]?.textContent).toContain(r.kind_label);
      expect(rows[i]?.textContent).toContain(formatTime(r.queued_at));
      expect(rows[i]?.textContent).toContain(r.reason ?? "");
      expect(rows[i]?.textContent).not.toContain(r.op_id);
    });

    // Keyboard reachable: real buttons.
    const open = $("refused-open-sync") as HTMLButtonElement;
    const dismiss = $("refused-dismiss") as HTMLButtonElement;
    expect(open.tagName).toBe("BUTTON");
    expect(dismiss.tagName).toBe("BUTTON");
    expect(open.tabIndex).toBeGreaterThanOrEqual(0);

    click(open);
    await until(() => $("sync-retry"), "sync view");
    expect($("nav-sync")?.getAttribute("aria-current")).toBe("page");
    // Signed in as Abe, his pending operations are his own: none waits for another operator.
    await until(() => $$("sync-pending-row").length === 3, "pending rows");
    expect($$("sync-waiting-other").map((e) => e.textContent)).toEqual([
      "Waits for Olga Operator (olga) to sign in: sent only in their session",
    ]);
    expect($("refused-notice")).not.toBeNull();

    click($("nav-cards"));
    await until(() => $("sync-retry") === null, "left the sync view");
    expect($("refused-notice")).not.toBeNull();

    click($("refused-dismiss"));
    expect($("refused-notice")).toBeNull();
    await signOut();

    // Each refusal is shown once: the next sign-in has none.
    await signIn("abe");
    expect($("refused-notice")).toBeNull();
    await signOut();
  });

  it("is gone after sign-out, and counts a single refusal in words", async () => {
    fake.refusals.set("olga", [fake.refusedRow("The card was already cancelled at another workstation.", "Cancel device")]);
    await signIn("olga");
    const notice = await until(() => $("refused-notice"), "refused notice");
    expect(notice.textContent).toContain("1 of your queued actions was refused by the registry");
    expect($$("refused-row")).toHaveLength(1);
    await signOut();
    expect($("refused-notice")).toBeNull();
    expect(app.refused).toEqual([]);
    await signIn("olga");
    expect($("refused-notice")).toBeNull();
  });
});
