// The window's live state: session, route, readers, running card jobs, sync.
// Components read it; only the functions here talk to the backend's watch channels.
import { Channel } from "@tauri-apps/api/core";
import {
  commands,
  events,
  type AppStatus,
  type CardEvent,
  type ErrorView,
  type OutboxRow,
  type SignedInView,
  type SyncStatus,
} from "../bindings";
import { call, errorOf, fire, plain } from "./api";
import { IdleClock } from "./idle";
import { applyCardEvent, serviceDownAfter, withView, type ReaderState } from "./readers";
import { insertionEffect, isTypingTarget, sameRoute, type FocusInfo, type Route } from "./routes";
import type { StepProgress } from "./steps";

/** A card job running in a reader, for its chip. */
export interface RunningJob {
  label: string;
  step: StepProgress | null;
  written: boolean;
}

const HOME: Route = { name: "cards", reader: null };

class AppState {
  /** null while the first appStatus() is on its way. */
  status = $state<AppStatus | null>(null);
  startError = $state<ErrorView | null>(null);
  session = $state<SignedInView | null>(null);
  locked = $state(false);
  /** This operator's queued actions the registry refused, from the sign-in answer: shown until dismissed or sign-out. */
  refused = $state<OutboxRow[]>([]);

  route = $state<Route>(HOME);
  private history: Route[] = [];

  readers = $state<ReaderState[]>([]);
  /** The PC/SC service is not running (`service_down`): the strip says so instead of "no reader". */
  serviceDown = $state(false);
  /** watchCards itself failed (e.g. the command is not allowed): the strip says so. */
  watchError = $state<ErrorView | null>(null);
  /** Readers whose chip pulses: a card arrived while the operator was busy. */
  pulsing = $state<string[]>([]);
  /** Reader last shown in the Cards view. */
  lastReader = $state<string | null>(null);
  running = $state<Record<string, RunningJob>>({});
  /** An overlay that must not be navigated away from (PIN reveal). */
  overlay = $state(false);

  sync = $state<SyncStatus | null>(null);
  /** Requests waiting for this operator's approval (null: not an approver or not known). */
  approvals = $state<number | null>(null);
  now = $state(Date.now());
  idle: IdleClock | null = null;

  private stops: (() => void)[] = [];

  get online(): boolean {
    if (this.sync !== null) return this.sync.online;
    return this.session !== null && !this.session.offline;
  }

  // ----- start, sign-in, lock -----

  async start(): Promise<void> {
    try {
      const s = await call(commands.appStatus());
      this.status = s;
      // A kiosk's window is the kiosk only (components/kiosk): no operator session here.
      if (s.signed_in !== null && !s.kiosk) {
        this.begin(s.signed_in);
        this.locked = s.locked;
      }
    } catch (e) {
      this.startError = errorOf(e);
    }
    try {
      const u = await events.sessionLocked.listen(() => {
        if (this.session !== null) this.locked = true;
      });
      this.stops.push(() => u());
    } catch {
      // Outside Tauri (unit tests, plain browser): no events.
    }
    const tick = setInterval(() => {
      this.now = Date.now();
    }, 1000);
    this.stops.push(() => clearInterval(tick));
  }

  /** After sign-in (or a session found at start). */
  begin(view: SignedInView): void {
    this.session = view;
    // Only signIn() fills it (each refusal is answered once): keep it apart from the session.
    this.refused = view.refused;
    this.locked = false;
    this.idle = new IdleClock(view.idle_lock_seconds, Date.now());
    this.route = HOME;
    this.history = [];
    void this.watch();
    void this.refreshApprovals();
  }

  async refreshApprovals(): Promise<void> {
    if (this.session === null || !this.session.can.approve) {
      this.approvals = null;
      return;
    }
    try {
      const rows = await call(commands.requests("pending_approval"));
      this.approvals = rows.filter((r) => r.can_approve.allowed).length;
    } catch {
      this.approvals = null;
    }
  }

  unlocked(view: SignedInView): void {
    this.session = view;
    this.locked = false;
    this.idle = new IdleClock(view.idle_lock_seconds, Date.now());
    // Cards put in while the session was locked were not read: read them now.
    for (const r of this.readers) {
      if (r.status === "reading") this.reread(r.name).catch(() => undefined);
    }
  }

  /** The operator has read the refusals notice. */
  dismissRefused(): void {
    this.refused = [];
  }

  async signOut(): Promise<void> {
    try {
      await call(commands.signOut());
    } finally {
      this.session = null;
      this.refused = [];
      this.locked = false;
      this.idle = null;
      this.readers = [];
      this.serviceDown = false;
      this.watchError = null;
      this.running = {};
      this.pulsing = [];
      this.sync = null;
      this.route = HOME;
      this.history = [];
    }
  }

  /** Operator input: tell the backend, at most every 15 s. */
  activity(): void {
    if (this.session === null || this.locked || this.idle === null) return;
    if (this.idle.activity(Date.now())) {
      fire(commands.touch());
    }
  }

  get countdown(): number | null {
    if (this.idle === null || this.locked) return null;
    // The backend does not lock while a card job runs (a batch lasts minutes): no countdown then.
    if (Object.keys(this.running).length > 0) return null;
    return this.idle.countdown(this.now);
  }

  // ----- watches -----

  private async watch(): Promise<void> {
    const cards = new Channel<CardEvent>();
    cards.onmessage = (ev) => this.onCardEvent(ev);
    const sync = new Channel<SyncStatus>();
    sync.onmessage = (s) => {
      this.sync = s;
    };
    this.watchError = null;
    plain(commands.watchCards(cards)).catch((e: unknown) => {
      this.watchError = errorOf(e);
    });
    fire(call(commands.watchSync(sync)));
    await Promise.allSettled([
      call(commands.syncStatus()).then((s) => {
        if (this.sync === null) this.sync = s;
      }),
    ]);
  }

  onCardEvent(ev: CardEvent): void {
    const before = this.readers.find((r) => r.name === ("reader" in ev ? ev.reader : ""));
    this.readers = applyCardEvent(this.readers, ev);
    this.serviceDown = serviceDownAfter(this.serviceDown, ev);
    if (ev.kind === "card_inserted" || (ev.kind === "card_read" && (before === undefined || before.status === "empty"))) {
      this.cardArrived(ev.reader);
    } else if (ev.kind === "card_removed" || ev.kind === "reader_removed") {
      this.pulsing = this.pulsing.filter((r) => r !== ev.reader);
    } else if (ev.kind === "service_down") {
      this.pulsing = [];
    }
  }

  private cardArrived(reader: string): void {
    if (this.session === null) return;
    if (this.running[reader] !== undefined) return;
    const effect = insertionEffect(this.route, focusInfo(), this.overlay || this.locked);
    if (effect === "open") {
      if (!(this.route.name === "cards" && this.route.reader === reader)) {
        this.go({ name: "cards", reader });
      }
    } else if (!this.pulsing.includes(reader)) {
      this.pulsing = [...this.pulsing, reader];
    }
  }

  /** Read a reader's card again (after an action changed it). */
  async reread(reader: string): Promise<void> {
    const view = await call(commands.readCard(reader));
    this.readers = withView(this.readers, reader, view);
  }

  // ----- jobs on readers -----

  jobStarted(reader: string, label: string): void {
    this.running = { ...this.running, [reader]: { label, step: null, written: false } };
    this.pulsing = this.pulsing.filter((r) => r !== reader);
  }

  jobProgress(reader: string, step: StepProgress | null, written: boolean): void {
    const cur = this.running[reader];
    if (cur === undefined) return;
    this.running = { ...this.running, [reader]: { ...cur, step, written } };
  }

  jobEnded(reader: string): void {
    this.running = Object.fromEntries(Object.entries(this.running).filter(([name]) => name !== reader));
  }

  // ----- navigation -----

  go(r: Route): void {
    if (this.overlay) return;
    if (sameRoute(r, this.route)) return;
    this.history.push(this.route);
    if (this.history.length > 50) this.history.shift();
    if (r.name === "cards" && r.reader !== null) {
      this.lastReader = r.reader;
      this.pulsing = this.pulsing.filter((x) => x !== r.reader);
    }
    this.route = r;
  }

  /** Replace the current route without adding history (filters, focus). */
  replace(r: Route): void {
    this.route = r;
  }

  back(): boolean {
    if (this.overlay) return false;
    const prev = this.history.pop();
    if (prev === undefined) return false;
    this.route = prev;
    return true;
  }

  stop(): void {
    this.stops.forEach((s) => s());
    this.stops = [];
  }
}

function focusInfo(): FocusInfo {
  const el = document.activeElement;
  const editable = isTypingTarget(el);
  const value = el !== null && "value" in el ? String((el as HTMLInputElement).value) : "";
  return {
    editable,
    dirty: editable && value !== "",
    search: el instanceof HTMLElement && el.dataset["testid"] === "search-input",
  };
}

export const app = new AppState();
