import { describe, expect, it } from "vitest";
import type { HitView, SearchResults } from "../bindings";
import { AppError } from "./api";
import { hitText, isSearchable, normalizeQuery, SearchController, type SearchState, type Timers } from "./search";

class FakeTimers implements Timers {
  queue = new Map<number, () => void>();
  next = 1;
  set(fn: () => void): unknown {
    const id = this.next++;
    this.queue.set(id, fn);
    return id;
  }
  clear(h: unknown): void {
    this.queue.delete(h as number);
  }
  runAll(): void {
    const fns = [...this.queue.values()];
    this.queue.clear();
    fns.forEach((f) => f());
  }
}

const person = (name: string): HitView => ({ kind: "person", id: name, name, email: null, employee_id: null, devices: 1, requests: 0 });

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe("SearchController", () => {
  it("debounces: only the last input is searched", async () => {
    const t = new FakeTimers();
    const runs: string[] = [];
    const c = new SearchController(async (q) => {
      runs.push(q);
      return { hits: [person(q)], more: false };
    }, () => {}, t, 100);
    c.input("an");
    c.input("ann");
    c.input("anna ");
    expect(t.queue.size).toBe(1);
    expect(c.current.loading).toBe(true);
    t.runAll();
    await Promise.resolve();
    await Promise.resolve();
    expect(runs).toEqual(["anna"]);
    expect(c.current.hits).toHaveLength(1);
    expect(c.current.shownQuery).toBe("anna");
    expect(c.current.loading).toBe(false);
  });

  it("ignores an answer that arrives after a newer query", async () => {
    const t = new FakeTimers();
    const slow = deferred<SearchResults>();
    const fast = deferred<SearchResults>();
    const pending = [slow, fast];
    const states: SearchState[] = [];
    const c = new SearchController(() => (pending.shift() as typeof slow).promise, (s) => states.push(s), t, 100);
    c.input("ol");
    t.runAll();
    c.input("olga");
    t.runAll();
    fast.resolve({ hits: [person("Olga")], more: false });
    await fast.promise;
    await Promise.resolve();
    slow.resolve({ hits: [person("Olaf"), person("Olivia")], more: true });
    await slow.promise;
    await Promise.resolve();
    expect(c.current.hits.map((h) => (h.kind === "person" ? h.name : ""))).toEqual(["Olga"]);
    expect(c.current.more).toBe(false);
  });

  it("clears on a too-short query and cancels the pending search", () => {
    const t = new FakeTimers();
    const c = new SearchController(async () => ({ hits: [], more: false }), () => {}, t, 100);
    c.input("abc");
    c.input("a");
    expect(t.queue.size).toBe(0);
    expect(c.current.loading).toBe(false);
    expect(c.current.hits).toEqual([]);
  });

  it("keeps the error of a failed search", async () => {
    const t = new FakeTimers();
    const view = { code: "offline" as const, message: "x", refusal: null, tries: null };
    const c = new SearchController(() => Promise.reject(new AppError(view)), () => {}, t, 100);
    c.input("abc");
    c.flush();
    await Promise.resolve();
    await Promise.resolve();
    expect(c.current.error).toEqual(view);
  });

  it("normalizes queries", () => {
    expect(normalizeQuery("  anna   smith ")).toBe("anna smith");
    expect(isSearchable(" a ")).toBe(false);
  });
});

describe("hitText", () => {
  it("names each kind with names, not ids", () => {
    expect(hitText({ kind: "device", id: "d", serial: "123", state_label: "Active", holder: { id: "p", name: "Anna" }, profile_name: "Staff" }))
      .toEqual({ kind: "Card", title: "Anna's card", detail: "Staff · Active · serial 123" });
    expect(hitText({ kind: "request", id: "r", kind_label: "New card", state_label: "Approved", person: { id: "p", name: "Bo" }, profile_name: "Staff" }).title)
      .toBe("New card for Bo");
    expect(hitText({ kind: "person", id: "p", name: "Cy", email: "cy@x", employee_id: null, devices: 2, requests: 1 }).detail)
      .toBe("cy@x · 2 cards · 1 request");
  });
});
