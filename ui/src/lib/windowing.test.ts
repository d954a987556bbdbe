import { describe, expect, it } from "vitest";
import { computeWindow, moveSelection, scrollToReveal } from "./windowing";

describe("computeWindow", () => {
  const base = { rowHeight: 40, viewportHeight: 400, overscan: 5 };

  it("handles an empty list", () => {
    expect(computeWindow({ ...base, scrollTop: 0, count: 0 })).toEqual({ start: 0, end: 0, offset: 0, totalHeight: 0 });
  });

  it("renders the visible rows plus overscan at the top", () => {
    const w = computeWindow({ ...base, scrollTop: 0, count: 10_000 });
    expect(w).toEqual({ start: 0, end: 15, offset: 0, totalHeight: 400_000 });
  });

  it("renders a small window in the middle of thousands of rows", () => {
    const w = computeWindow({ ...base, scrollTop: 200_020, count: 10_000 });
    // first visible row 5000 (partly), last visible 5010
    expect(w.start).toBe(4995);
    expect(w.end).toBe(5016);
    expect(w.offset).toBe(4995 * 40);
    expect(w.end - w.start).toBeLessThan(30);
  });

  it("clamps over-scroll at the bottom and negative scroll", () => {
    const w = computeWindow({ ...base, scrollTop: 10_000_000, count: 100 });
    expect(w.end).toBe(100);
    expect(w.start).toBe(85);
    const n = computeWindow({ ...base, scrollTop: -50, count: 100 });
    expect(n.start).toBe(0);
  });

  it("renders everything when the list is shorter than the viewport", () => {
    expect(computeWindow({ ...base, scrollTop: 0, count: 3 })).toMatchObject({ start: 0, end: 3, totalHeight: 120 });
  });

  it("renders at least one row with a zero-height viewport", () => {
    const w = computeWindow({ ...base, viewportHeight: 0, overscan: 0, scrollTop: 0, count: 50 });
    expect(w.end - w.start).toBe(1);
  });
});

describe("scrollToReveal", () => {
  it("scrolls up, down, or not at all", () => {
    expect(scrollToReveal(2, 200, 400, 40)).toBe(80);
    expect(scrollToReveal(20, 200, 400, 40)).toBe(440);
    expect(scrollToReveal(8, 200, 400, 40)).toBe(200);
    expect(scrollToReveal(-1, 200, 400, 40)).toBe(200);
  });
});

describe("moveSelection", () => {
  it("moves with arrows, pages and ends, clamped", () => {
    expect(moveSelection(-1, "ArrowDown", 10, 5)).toBe(0);
    expect(moveSelection(9, "ArrowDown", 10, 5)).toBe(9);
    expect(moveSelection(0, "ArrowUp", 10, 5)).toBe(0);
    expect(moveSelection(3, "PageDown", 10, 5)).toBe(8);
    expect(moveSelection(8, "PageDown", 10, 5)).toBe(9);
    expect(moveSelection(3, "PageUp", 10, 5)).toBe(0);
    expect(moveSelection(3, "End", 10, 5)).toBe(9);
    expect(moveSelection(3, "Home", 10, 5)).toBe(0);
    expect(moveSelection(3, "ArrowDown", 0, 5)).toBe(-1);
    expect(moveSelection(12, "x", 10, 5)).toBe(9);
  });
});
