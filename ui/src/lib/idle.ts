// Idle-lock bookkeeping. The backend locks the session `idle_lock_seconds` after the last
// `touch()` it received; the UI sends touches on input at most every TOUCH_INTERVAL_MS and
// counts down from the last touch, so its countdown never promises more time than the backend.

export const TOUCH_INTERVAL_MS = 15_000;
/** The countdown is shown in the status bar during the last minute only. */
export const COUNTDOWN_FROM_SECONDS = 60;

export class IdleClock {
  private lastTouch: number;
  private readonly idleMs: number;
  private readonly intervalMs: number;

  /** `now` is the time of sign-in or unlock (the backend's own last activity). */
  constructor(idleLockSeconds: number, now: number, intervalMs: number = TOUCH_INTERVAL_MS) {
    this.idleMs = Math.max(0, idleLockSeconds) * 1000;
    this.intervalMs = intervalMs;
    this.lastTouch = now;
  }

  /** On operator input: returns true when a touch() must be sent now. */
  activity(now: number): boolean {
    if (now - this.lastTouch >= this.intervalMs) {
      this.lastTouch = now;
      return true;
    }
    return false;
  }

  /** The backend confirmed activity (sign-in, unlock, any command that counts as activity). */
  reset(now: number): void {
    this.lastTouch = now;
  }

  /** Whole seconds until the backend locks; 0 or less means it is due. */
  remainingSeconds(now: number): number {
    if (this.idleMs === 0) return Number.POSITIVE_INFINITY;
    return Math.ceil((this.lastTouch + this.idleMs - now) / 1000);
  }

  /** The countdown to show in the status bar, or null outside the last minute. */
  countdown(now: number): number | null {
    const r = this.remainingSeconds(now);
    if (!Number.isFinite(r) || r > COUNTDOWN_FROM_SECONDS) return null;
    return Math.max(0, r);
  }
}
