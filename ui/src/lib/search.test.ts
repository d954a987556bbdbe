import { describe, expect, it } from "vitest";
import type { HitView, SearchResults } from "../bindings";
import { AppError } from "./api";
import { hitText, isSearchable, normalizeQuery, SearchController } from "./search";

const person = (name: string): HitView => ({ kind: "person", id: name, name, email: null, employee_id: null, devices: 1, requests: 0 });

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A search backend whose answers the test gives, one call at a time. */
function recorder() {
  const calls: { q: string; d: ReturnType<typeof deferred<SearchResults>> }[] = [];
  const run = (q: string) => {
    const d = deferred<SearchResults>();
    calls.push({ q, d });
    return d.promise;
  };
  const answer = async (i: number, r: SearchResults) => {
    const c = calls[i];
    if (c === undefined) throw new Error(`no search ${i}`);
    c.d.resolve(r);
    await c.d.promise;
    await Promise.resolve();
  };
  return { calls, run, answer };
}

describe("SearchController", () => {
  it("searches at once; while one runs, only the latest input goes next", async () => {
    const { calls, run, answer } = recorder();
    const c = new SearchController(run, () => {});
    c.input("an");
    expect(calls.map((x) => x.q)).toEqual(["an"]);
    c.input("ann");
    c.input("anna ");
    expect(calls).toHaveLength(1);
    expect(c.current.loading).toBe(true);
    await answer(0, { hits: [person("Anders")], more: false });
    expect(calls.map((x) => x.q)).toEqual(["an", "anna"]);
    expect(c.current.shownQuery).toBe(""); // the answer to a query typed past is not shown
    await answer(1, { hits: [person("Anna")], more: false });
    expect(c.current.shownQuery).toBe("anna");
    expect(c.current.hits).toHaveLength(1);
    expect(c.current.loading).toBe(false);
  });

  it("clears on a too-short query and drops the answer still on its way", async () => {
    const d = deferred<SearchResults>();
    const c = new SearchController(() => d.promise, () => {});
    c.input("abc");
    c.input("a");
    expect(c.current.loading).toBe(false);
    d.resolve({ hits: [person("Abe")], more: false });
    await d.promise;
    await Promise.resolve();
    expect(c.current.hits).toEqual([]);
    expect(c.current.shownQuery).toBe("");
  });

  it("searches again for a query typed back while its first answer was dropped", async () => {
    const { calls, run, answer } = recorder();
    const c = new SearchController(run, () => {});
    c.input("abc");
    c.input("a");
    c.input("abc");
    await answer(0, { hits: [], more: false });
    expect(calls.map((x) => x.q)).toEqual(["abc", "abc"]);
    await answer(1, { hits: [person("Abc")], more: false });
    expect(c.current.shownQuery).toBe("abc");
  });

  it("keeps the error of a failed search", async () => {
    const view = { code: "offline" as const, message: "x", refusal: null, tries: null };
    const c = new SearchController(() => Promise.reject(new AppError(view)), () => {});
    c.input("abc");
    await Promise.resolve();
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
