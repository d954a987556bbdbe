import { describe, expect, it } from "vitest";
import { IdleClock } from "./idle";

describe("IdleClock", () => {
  it("throttles touches to one per interval", () => {
    const c = new IdleClock(300, 0);
    expect(c.activity(1_000)).toBe(false);
    expect(c.activity(14_999)).toBe(false);
    expect(c.activity(15_000)).toBe(true);
    expect(c.activity(20_000)).toBe(false);
    expect(c.activity(30_000)).toBe(true);
  });

  it("counts down from the last touch sent, shown only in the last minute", () => {
    const c = new IdleClock(300, 0);
    expect(c.remainingSeconds(0)).toBe(300);
    expect(c.countdown(239_000)).toBeNull();
    expect(c.countdown(240_000)).toBe(60);
    expect(c.countdown(299_500)).toBe(1);
    expect(c.countdown(400_000)).toBe(0);
    // input during the countdown sends a touch and restarts it
    expect(c.activity(250_000)).toBe(true);
    expect(c.countdown(250_000)).toBeNull();
    expect(c.remainingSeconds(250_000)).toBe(300);
  });

  it("never counts down when idle lock is off", () => {
    const c = new IdleClock(0, 0);
    expect(c.countdown(10_000_000)).toBeNull();
  });

  it("reset restarts from the given time", () => {
    const c = new IdleClock(120, 0);
    c.reset(100_000);
    expect(c.remainingSeconds(100_000)).toBe(120);
    expect(c.activity(110_000)).toBe(false);
  });
});
