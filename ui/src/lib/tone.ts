// Badge tone for a state name. Tone only adds colour; the label is always shown as text.
export type Tone = "ok" | "info" | "warn" | "danger" | "neutral";

const TONES: Record<string, Tone> = {
  // cards
  active: "ok",
  issued: "info",
  approved: "info",
  requested: "info",
  inactive: "warn",
  temporarily_inactive: "warn",
  production_failed: "danger",
  locked: "danger",
  expired: "neutral",
  erased: "neutral",
  rejected: "danger",
  aborted: "neutral",
  // requests
  pending_approval: "warn",
  cancelled: "neutral",
  completed: "ok",
  failed: "danger",
  // temporary cards
  ordered: "neutral",
  produced: "info",
  unassigned: "info",
  assigned: "ok",
  // certificates
  valid: "ok",
  on_hold: "warn",
  revoked: "danger",
  // jobs and outbox
  running: "info",
  interrupted: "warn",
  pending: "info",
  accepted: "ok",
  queued: "info",
  // batch cards
  encoding: "info",
  done: "ok",
  // provisioning tasks (an enrollment is active, completed, locked, expired or removed)
  open: "info",
  removed: "neutral",
};

export function toneOf(state: string): Tone {
  return TONES[state.toLowerCase()] ?? "neutral";
}

/** "pending_approval" → "Pending approval", for states the backend gave no label for. */
export function humanize(state: string): string {
  const s = state.replace(/[_-]+/g, " ").trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
}
