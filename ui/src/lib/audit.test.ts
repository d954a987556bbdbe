import { describe, expect, it } from "vitest";
import type { AuditEntry } from "../bindings";
import {
  actionsOf,
  buildQuery,
  chainText,
  columns,
  dayBars,
  dayBarText,
  emptyFilter,
  fillDays,
  filterProblem,
  fitReaderLabel,
  isFiltered,
  niceScale,
  ordered,
  outcomeText,
  rows,
  shortCount,
  throughputText,
  type ChartBox,
} from "./audit";

const entry = (seq: number, over: Partial<AuditEntry> = {}): AuditEntry => ({
  seq, at: "2026-03-04T10:00:00Z", operator: "Olga Operator", action: "record_issuance", action_label: "Card issued",
  object: "Anna Berg's card", person: "Anna Berg", outcome: "success", success: true, notes: null, ...over,
});

const box: ChartBox = { width: 480, height: 210, left: 40, right: 8, top: 10, bottom: 26 };

describe("audit filter → query", () => {
  it("sends null for blank fields and no device", () => {
    const q = buildQuery(emptyFilter());
    expect(q).toEqual({ operator: null, person: null, device: null, action: null, since: null, until: null });
    expect(isFiltered(q)).toBe(false);
  });

  it("trims, and makes the inclusive until day exclusive", () => {
    const q = buildQuery({ operator: "  olga ", person: "Anna", action: "record_issuance", since: "2026-02-27", until: "2026-02-28" });
    expect(q).toEqual({ operator: "olga", person: "Anna", device: null, action: "record_issuance", since: "2026-02-27", until: "2026-03-01" });
    expect(isFiltered(q)).toBe(true);
    expect(buildQuery({ ...emptyFilter(), until: "2024-12-31" }).until).toBe("2025-01-01");
    expect(buildQuery({ ...emptyFilter(), until: "2024-02-28" }).until).toBe("2024-02-29");
  });

  it("refuses dates that are not days, or an until before the from", () => {
    expect(filterProblem(emptyFilter())).toBeNull();
    expect(filterProblem({ ...emptyFilter(), since: "2026-02-30" })).toContain("“From” is not a date");
    expect(filterProblem({ ...emptyFilter(), until: "yesterday" })).toContain("“Until” is not a date");
    expect(filterProblem({ ...emptyFilter(), since: "2026-03-02", until: "2026-03-01" })).toContain("before");
    expect(filterProblem({ ...emptyFilter(), since: "2026-03-01", until: "2026-03-01" })).toBeNull();
  });
});

describe("audit rows", () => {
  it("orders by chain position, newest or oldest first", () => {
    const es = [entry(2), entry(1), entry(3)];
    expect(ordered(es, "newest").map((e) => e.seq)).toEqual([3, 2, 1]);
    expect(ordered(es, "oldest").map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(es.map((e) => e.seq)).toEqual([2, 1, 3]);
  });

  it("words the outcome and collects the actions seen", () => {
    expect(outcomeText(entry(1))).toEqual({ badge: "Succeeded", reason: null });
    expect(outcomeText(entry(1, { success: false, outcome: "the approver requested it" }))).toEqual({ badge: "Refused", reason: "the approver requested it" });
    expect(outcomeText(entry(1, { success: false, outcome: "" })).reason).toBeNull();
    const a = actionsOf([entry(1), entry(2, { action: "sign_in", action_label: "Signed in" }), entry(3)]);
    expect(a).toEqual([{ action: "record_issuance", label: "Card issued" }, { action: "sign_in", label: "Signed in" }]);
    expect(actionsOf([], a)).toEqual(a);
  });

  it("words the chain's verification", () => {
    expect(chainText({ intact: true, events: 1234, broken_at: null, reason: null }, "en")).toBe("Intact: 1,234 events verified");
    expect(chainText({ intact: true, events: 1, broken_at: null, reason: null }, "en")).toBe("Intact: 1 event verified");
    expect(chainText({ intact: false, events: 90, broken_at: 57, reason: "its hash does not match" }, "en")).toBe("Broken at event 57: its hash does not match");
    expect(chainText({ intact: false, events: 90, broken_at: null, reason: null }, "en")).toContain("Broken: ");
  });
});

describe("audit charts", () => {
  it("picks nice axes, from empty data to large counts", () => {
    expect(niceScale(0)).toEqual({ top: 1, step: 1, ticks: [0, 1] });
    expect(niceScale(Number.NaN).top).toBe(1);
    expect(niceScale(1)).toEqual({ top: 1, step: 1, ticks: [0, 1] });
    expect(niceScale(3)).toEqual({ top: 3, step: 1, ticks: [0, 1, 2, 3] });
    expect(niceScale(7)).toEqual({ top: 8, step: 2, ticks: [0, 2, 4, 6, 8] });
    expect(niceScale(100).ticks).toEqual([0, 25, 50, 75, 100].filter((t) => t % niceScale(100).step === 0));
    const big = niceScale(1_234_567);
    expect(big.top).toBeGreaterThanOrEqual(1_234_567);
    expect(big.ticks.length).toBeLessThanOrEqual(6);
    expect(big.ticks.every((t) => Number.isInteger(t))).toBe(true);
    expect(shortCount(1_500_000)).toBe("1.5M");
    expect(shortCount(25_000)).toBe("25k");
    expect(shortCount(999)).toBe("999");
  });

  it("draws nothing for empty data", () => {
    expect(fillDays([])).toEqual([]);
    expect(dayBars([])).toEqual([]);
    const g = columns([], box);
    expect(g.bars).toEqual([]);
    expect(g.ticks.map((t) => t.value)).toEqual([0, 1]);
  });

  it("draws one day as one labelled bar standing on the axis", () => {
    const bars = dayBars([{ day: "2026-03-04", cards: 5 }]);
    expect(bars).toEqual([{ day: "2026-03-04", days: 1, cards: 5 }]);
    const g = columns([5], box);
    const bar = g.bars[0];
    expect(bar?.labelled).toBe(true);
    expect(bar?.y).toBeGreaterThanOrEqual(box.top);
    expect(bar?.h).toBeGreaterThan((g.plotBottom - box.top) / 2);
    expect((bar?.y ?? 0) + (bar?.h ?? 0)).toBeCloseTo(g.plotBottom);
    expect(dayBarText(bars[0] ?? { day: "", days: 1, cards: 0 }, "en-GB")).toEqual({ when: "4 Mar 2026", cards: "5 cards" });
  });

  it("fills the gaps between the first and last day with zero days", () => {
    const filled = fillDays([{ day: "2026-03-05", cards: 2 }, { day: "2026-02-27", cards: 1 }, { day: "2026-03-01", cards: 4 }]);
    expect(filled.map((d) => d.day)).toEqual(["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]);
    expect(filled.map((d) => d.cards)).toEqual([1, 0, 4, 0, 0, 0, 2]);
    const g = columns(filled.map((d) => d.cards), box);
    expect(g.bars[1]?.h).toBe(0);
    expect(g.bars.every((b, i) => i === 0 || b.x > (g.bars[i - 1]?.x ?? 0))).toBe(true);
  });

  it("thins out the day labels and groups a long period into weeks", () => {
    const many = Array.from({ length: 60 }, (_, i) => ({ day: new Date(Date.UTC(2026, 0, 1 + i)).toISOString().slice(0, 10), cards: i % 7 }));
    const g = columns(many.map((d) => d.cards), box, 8);
    expect(g.bars).toHaveLength(60);
    expect(g.bars.filter((b) => b.labelled).length).toBeLessThanOrEqual(8);
    expect(g.bars.every((b) => b.x >= box.left && b.x + b.w <= box.width - box.right + 0.001)).toBe(true);
    const year = Array.from({ length: 365 }, (_, i) => ({ day: new Date(Date.UTC(2025, 0, 1 + i)).toISOString().slice(0, 10), cards: 1 }));
    const weeks = dayBars(year, 92);
    expect(weeks.length).toBeLessThanOrEqual(92);
    expect(weeks[0]).toEqual({ day: "2025-01-01", days: 7, cards: 7 });
    expect(weeks.reduce((s, w) => s + w.cards, 0)).toBe(365);
    expect(dayBarText(weeks[0] ?? { day: "", days: 7, cards: 0 }, "en-GB").when).toBe("1 Jan 2025 – 7 Jan 2025");
  });

  it("keeps large counts inside the plot, and small ones visible", () => {
    const g = columns([1_000_000, 1, 0], box);
    expect(g.bars[0]?.y).toBeGreaterThanOrEqual(box.top - 0.001);
    expect(g.bars[1]?.h).toBeGreaterThanOrEqual(1);
    expect(g.bars[2]?.h).toBe(0);
    expect(g.ticks[g.ticks.length - 1]?.label).toBe("1M");
  });

  it("lays out reader rows and words their pace", () => {
    const r = rows([10, 40, 0], 100, 400, 40, 4);
    expect(r).toHaveLength(3);
    expect(r[1]?.w).toBeCloseTo(300);
    expect(r[2]?.w).toBe(0);
    expect(r[1]?.y).toBeGreaterThan(r[0]?.y ?? 0);
    expect(throughputText({ reader: "R", cards: 12, cards_per_hour: 40.46 }, "en")).toEqual({ cards: "12 cards", pace: "40 cards/h" });
    expect(throughputText({ reader: "R", cards: 3, cards_per_hour: 2.25 }, "en").pace).toBe("2.3 cards/h");
    expect(throughputText({ reader: "R", cards: 1, cards_per_hour: null }, "en")).toEqual({ cards: "1 card", pace: "no pace yet" });
    expect(fitReaderLabel({ model: "Identiv uTrust 3700 F CL Reader", slot: "00 01" }, 22)).toBe("Identiv uTrust… 00 01");
    expect(fitReaderLabel({ model: "Virtual PCD", slot: "00 01" })).toBe("Virtual PCD 00 01");
  });
});
