// A stand-in backend for `npm run dev` in a plain browser and for the UI's DOM tests.
// It answers the IPC commands with made-up records through @tauri-apps/api/mocks; it is
// never part of the production build (main.ts imports it only in dev outside Tauri).
import { mockIPC } from "@tauri-apps/api/mocks";
import {
  events,
  type ActionView,
  type CardEvent,
  type CardStep,
  type commands,
  type DeviceView,
  type ErrorCode,
  type ErrorView,
  type HistoryRow,
  type HitView,
  type IssuedView,
  type JobEvent,
  type JobRow,
  type PersonRef,
  type ProfileRow,
  type RequestRow,
  type SignedInView,
  type SyncStatus,
} from "../bindings";
import type { Answer } from "../lib/contract";

type Commands = typeof commands;
type Args = Record<string, unknown>;
/**
 * One handler per generated command, answering exactly what the command declares: a command
 * added to `bindings.ts` fails the type check here until the stand-in answers it.
 */
type Handlers = { [K in keyof Commands]: (args: Args) => Promise<Answer<K>> };

/** "signIn" → "sign_in": the IPC name tauri-specta derives from the Rust function. */
const ipcName = (command: string): string => command.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const FIRST = ["Anna", "Bruno", "Chiara", "Dmitri", "Elif", "Farah", "Gustav", "Hana", "Ivo", "Jonas", "Kirsten", "Lars", "Maja", "Nils", "Olga", "Pieter", "Quentin", "Rosa", "Sanna", "Tomas", "Ulla", "Viktor", "Wiebke", "Xenia", "Yusuf", "Zofia"];
const LAST = ["Berg", "Costa", "Dahl", "Eriksen", "Fischer", "Garcia", "Holm", "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Olsen", "Petrov", "Quist", "Rossi", "Schmidt", "Tanaka", "Urban", "Vogel", "Weber", "Yilmaz", "Zeller", "Andersson", "Bakker", "Conti", "Duarte", "Engel", "Forsberg", "Greco", "Haas", "Ito", "Jovanovic", "Keller", "Laine", "Meyer", "Nieminen", "Ortiz", "Popescu", "Quinn", "Richter", "Silva", "Thomsen", "Uhl", "Varga", "Wolff", "Young", "Zima", "Aalto", "Brandt", "Claes", "Dietrich", "Ek", "Falk", "Gruber", "Hansen", "Isaksen", "Jakobsen", "Kraus", "Lund", "Mertens", "Nyberg", "Otto", "Pohl", "Roth", "Sauer", "Teller", "Unger", "Voss", "Winter", "Zimmer", "Adler", "Beck", "Conrad", "Dorn", "Eberhardt", "Frank", "Graf", "Horn", "Jung", "Kuhn", "Lang", "Marx", "Naumann", "Ott", "Peters", "Ritter", "Stein", "Thiel", "Ulrich", "Vetter", "Walter", "Ziegler", "Arnold", "Bauer", "Christensen", "Dreyer", "Ernst", "Fuchs", "Gerber", "Hein", "Jost", "Kramer", "Lehmann", "Martin", "Neumann", "Pfeiffer", "Reuter", "Schulz", "Thomas", "Vogt", "Wagner"];

export interface FakeOptions {
  /** Delay between card steps and before answers, in ms. */
  delayMs: number;
  /** Start with a session already signed in. */
  signedIn?: boolean;
  offline?: boolean;
}

interface Person {
  ref: PersonRef;
  email: string;
  employee_id: string;
}

const uuid = (n: number, kind: number): string =>
  `0190${kind.toString(16).padStart(4, "0")}-0000-7000-8000-${n.toString(16).padStart(12, "0")}`;

function err(code: ErrorCode, message: string, tries: number | null = null): ErrorView {
  return { code, message, refusal: null, tries };
}

const allowed = (action: string, label: string): ActionView => ({ action, label, allowed: true, reason: null });
const refused = (action: string, label: string, reason: string): ActionView => ({ action, label, allowed: false, reason });

export class FakeBackend {
  readonly people: Person[] = [];
  readonly profiles: ProfileRow[] = [
    { id: uuid(1, 0xa), name: "Staff PIV (contact)", version: 3, needs_approval: true, temporary: false },
    { id: uuid(2, 0xa), name: "Staff PIV + contactless", version: 1, needs_approval: false, temporary: false },
    { id: uuid(3, 0xa), name: "Visitor temporary card", version: 2, needs_approval: false, temporary: true },
  ];
  requests: RequestRow[] = [];
  readers: { name: string; view: DeviceView | null }[] = [];
  session: SignedInView;
  signedIn: boolean;
  locked = false;
  sync: SyncStatus;
  private cardChannel: number | null = null;
  private cardIndex = 0;
  private syncChannel: number | null = null;
  private syncIndex = 0;
  private tickets = new Map<string, { pin: string; puk: string | null }>();
  private seq = 100;
  /** Every command received, for tests. */
  readonly calls: { cmd: string; args: Record<string, unknown> }[] = [];

  constructor(private readonly opts: FakeOptions) {
    let n = 0;
    for (const last of LAST) {
      for (const first of FIRST) {
        n++;
        this.people.push({
          ref: { id: uuid(n, 0xb), name: `${first} ${last}` },
          email: `${first}.${last}@example.org`.toLowerCase(),
          employee_id: `E${(10000 + n).toString()}`,
        });
      }
    }
    this.session = {
      operator: uuid(9999, 0xb),
      username: "olga",
      display_name: "Olga Operator",
      offline: opts.offline ?? false,
      permissions: ["Request cards", "Approve requests", "Issue cards"],
      can: { search: true, request: true, approve: true, issue: true, direct_issue: false, batch: false, temporary: false, update: true, pin: true, retire: true, audit: true, admin: false },
      use_cases: ["signin", "read", "search", "request", "approve", "issue"],
      open_jobs: 0,
      idle_lock_seconds: 300,
    };
    this.signedIn = opts.signedIn ?? false;
    this.registryUp = !(opts.offline ?? false);
    this.sync = {
      online: !(opts.offline ?? false),
      last_sync: new Date(Date.now() - 4 * 60_000).toISOString(),
      last_error: opts.offline ? "The registry did not answer." : null,
      pending: [{ op_id: uuid(1, 0xc), kind_label: "Approve request", queued_at: new Date(Date.now() - 60_000).toISOString(), state: "pending", reason: null }],
      rejected: [{ op_id: uuid(2, 0xc), kind_label: "Cancel device", queued_at: new Date(Date.now() - 3_600_000).toISOString(), state: "rejected", reason: "The card was already cancelled at another workstation." }],
    };
    const p = (i: number): Person => this.people[i] as Person;
    const olga: PersonRef = { id: this.session.operator, name: this.session.display_name };
    this.requests = [
      this.newRequest(p(1), this.profiles[0] as ProfileRow, "pending_approval", { id: uuid(50, 0xb), name: "Jonas Jensen" }),
      this.newRequest(p(2), this.profiles[0] as ProfileRow, "pending_approval", olga),
      this.newRequest(p(3), this.profiles[1] as ProfileRow, "approved", olga),
      this.newRequest(p(4), this.profiles[0] as ProfileRow, "approved", { id: uuid(50, 0xb), name: "Jonas Jensen" }),
    ];
    this.readers = [
      { name: "Virtual PCD 00 00", view: this.ours("Virtual PCD 00 00", p(0)) },
      { name: "Virtual PCD 00 01", view: null },
    ];
  }

  newRequest(person: Person, profile: ProfileRow, state: string, requester: PersonRef): RequestRow {
    const self = requester.id === this.session.operator;
    const pending = state === "pending_approval";
    return {
      id: uuid(this.seq++, 0xd),
      kind: "issue",
      kind_label: "New card",
      state,
      state_label: pending ? "Awaiting approval" : state === "approved" ? "Approved" : state.charAt(0).toUpperCase() + state.slice(1),
      person: person.ref,
      requester,
      approver: null,
      profile_name: profile.name,
      device_id: null,
      created_at: new Date(Date.now() - 86_400_000).toISOString(),
      reason: null,
      can_approve: self ? refused("approve", "Approve", "You requested this yourself; another approver has to decide.") : allowed("approve", "Approve"),
      can_reject: allowed("reject", "Reject"),
      can_cancel: allowed("cancel", "Cancel"),
    };
  }

  ours(reader: string, person: Person): DeviceView {
    return {
      kind: "ours",
      reader,
      serial: "5A1B2C3D",
      device_id: uuid(7, 0xe),
      state: "active",
      state_label: "Active",
      holder: person.ref,
      profile_name: "Staff PIV (contact)",
      certificates: [
        { slot: "PIV Authentication (9A)", subject: `CN=${person.ref.name}`, serial: "4F:21:9C:01", state: "valid", state_label: "Valid", not_after: "2028-03-01T00:00:00Z" },
        { slot: "Digital Signature (9C)", subject: `CN=${person.ref.name}`, serial: "4F:21:9C:02", state: "valid", state_label: "Valid", not_after: "2028-03-01T00:00:00Z" },
      ],
      pin_tries: 3,
      puk_tries: 3,
      pending_updates: 0,
      open_requests: [],
      actions: [
        allowed("deactivate", "Deactivate"),
        allowed("unblock_pin", "Unblock PIN"),
        refused("erase", "Erase", "Erasing needs the Erase permission."),
        refused("collect_updates", "Collect updates", "There are no updates to collect."),
      ],
      open_job: null,
    };
  }

  blank(reader: string): DeviceView {
    return { kind: "blank", reader, serial: "77AA0042", issuable: this.requests.filter((r) => r.state === "approved") };
  }

  private later<T>(v: T): Promise<T> {
    return new Promise((res) => setTimeout(() => res(v), this.opts.delayMs));
  }

  private fail(e: ErrorView): Promise<never> {
    return new Promise((_, rej) => setTimeout(() => rej(e), this.opts.delayMs));
  }

  private send(channel: number | null, index: number, message: unknown): void {
    if (channel === null) return;
    const internals = (window as unknown as { __TAURI_INTERNALS__: { runCallback(id: number, data: unknown): void } }).__TAURI_INTERNALS__;
    internals.runCallback(channel, { index, message });
  }

  /** Push a card event to the UI. */
  cardEvent(ev: CardEvent): void {
    this.send(this.cardChannel, this.cardIndex++, ev);
  }

  insert(reader: string, view: DeviceView): void {
    const r = this.readers.find((x) => x.name === reader);
    if (r) r.view = view;
    this.cardEvent({ kind: "card_inserted", reader });
    setTimeout(() => this.cardEvent({ kind: "card_read", reader, view }), this.opts.delayMs);
  }

  insertBlank(reader: string): void {
    this.insert(reader, this.blank(reader));
  }

  remove(reader: string): void {
    const r = this.readers.find((x) => x.name === reader);
    if (r) r.view = null;
    this.cardEvent({ kind: "card_removed", reader });
  }

  /** The backend's idle lock fires (the generated `session-locked` event). */
  lock(): void {
    this.locked = true;
    void events.sessionLocked.emit();
  }

  /** The PC/SC service stops: readers go away until `serviceUp`. */
  serviceDown(): void {
    this.cardEvent({ kind: "service_down" });
  }

  /** The PC/SC service is back: every reader as it is now. */
  serviceUp(): void {
    this.cardEvent({ kind: "readers", readers: this.readers.map((r) => ({ name: r.name, card_present: r.view !== null })) });
    for (const r of this.readers) if (r.view) this.cardEvent({ kind: "card_read", reader: r.name, view: r.view });
  }

  /** Whether the registry answers (the sign-in screen's indicator). */
  registryUp: boolean;
  /** Commands Tauri refuses before they reach the app (ACL denial): they reject with a string. */
  readonly denied = new Set<string>();

  pushSync(s: SyncStatus): void {
    this.sync = s;
    this.send(this.syncChannel, this.syncIndex++, s);
  }

  private hits(query: string): HitView[] {
    const q = query.toLowerCase();
    const out: HitView[] = [];
    for (const p of this.people) {
      if (p.ref.name.toLowerCase().includes(q) || p.email.includes(q) || p.employee_id.toLowerCase() === q) {
        out.push({ kind: "person", id: p.ref.id, name: p.ref.name, email: p.email, employee_id: p.employee_id, devices: p === this.people[0] ? 1 : 0, requests: this.requests.filter((r) => r.person?.id === p.ref.id).length });
      }
    }
    for (const r of this.requests) {
      if (r.person?.name.toLowerCase().includes(q)) out.push({ kind: "request", id: r.id, kind_label: r.kind_label, state_label: r.state_label, person: r.person, profile_name: r.profile_name });
    }
    const card = this.people[0] as Person;
    if (card.ref.name.toLowerCase().includes(q) || "5a1b2c3d".includes(q)) {
      out.push({ kind: "device", id: uuid(7, 0xe), serial: "5A1B2C3D", state_label: "Active", holder: card.ref, profile_name: "Staff PIV (contact)" });
    }
    return out;
  }

  private steps(): CardStep[] {
    return [
      { step: "authenticate" },
      { step: "set_management_key", algorithm: "AES-192" },
      { step: "generate_key", slot: "9a", algorithm: "ECC P-256" },
      { step: "prove_and_certify", slot: "9a" },
      { step: "write_certificate", slot: "9a" },
      { step: "generate_key", slot: "9c", algorithm: "ECC P-256" },
      { step: "prove_and_certify", slot: "9c" },
      { step: "write_certificate", slot: "9c" },
      { step: "write_chuid" },
      { step: "write_ccc" },
      { step: "set_retries", pin: 3, puk: 3 },
      { step: "set_pin" },
      { step: "set_puk" },
      { step: "read_back" },
    ];
  }

  /** Pull the card out after this many steps of the next job (tests and demos of tear safety). */
  tearAfter: number | null = null;
  private torn: { job: string; request: RequestRow; done: number } | null = null;

  /** Put the torn card back: its view carries the interrupted job. */
  reinsertTorn(reader: string): void {
    const t = this.torn;
    if (t === null) return;
    const person = this.people.find((p) => p.ref.id === t.request.person?.id) ?? (this.people[0] as Person);
    const view = this.ours(reader, person);
    if (view.kind !== "ours") return;
    view.state = "approved";
    view.state_label = "Being issued";
    view.certificates = [];
    view.actions = [allowed("resume_job", "Resume"), allowed("roll_back_job", "Roll back")];
    view.open_job = { id: t.job, kind: "issue", kind_label: "Issue card", state: "interrupted", device: view.device_id, writes_done: t.done, interrupted: "card removed", last_error: null, created_at: new Date().toISOString() };
    this.insert(reader, view);
  }

  private async runJob(request: RequestRow, reader: string, progress: number, job: string, from = 0): Promise<IssuedView> {
    const steps = this.steps();
    let sent = 0;
    if (from > 0) this.send(progress, sent++, { kind: "notice", notice: { notice: "resuming_job", job } } satisfies JobEvent);
    for (let i = from; i < steps.length; i++) {
      const ev: JobEvent = { kind: "step", index: i + 1, total: steps.length, step: steps[i] as CardStep };
      this.send(progress, sent++, ev);
      await this.later(null);
      if (this.tearAfter !== null && i + 1 >= this.tearAfter) {
        this.tearAfter = null;
        this.torn = { job, request, done: i };
        this.remove(reader);
        throw err("card-removed", `The card was removed from ${reader}.`);
      }
    }
    this.torn = null;
    this.send(progress, sent, { kind: "card_written" } satisfies JobEvent);
    const ticket = `t-${this.seq++}`;
    this.tickets.set(ticket, { pin: "40719263", puk: "58120447" });
    request.state = "completed";
    request.state_label = "Completed";
    const person = this.people.find((p) => p.ref.id === request.person?.id) ?? (this.people[0] as Person);
    const view = this.ours(reader, person);
    const r = this.readers.find((x) => x.name === reader);
    if (r) r.view = view;
    setTimeout(() => this.cardEvent({ kind: "card_read", reader, view }), 0);
    return {
      job,
      device_id: view.kind === "ours" ? view.device_id : "",
      state_label: "Active",
      holder: request.person,
      certificates: view.kind === "ours" ? view.certificates : [],
      resumed: from > 0,
      warnings: [],
      reveal: { id: ticket },
    };
  }

  private history(p: Person): { history: HistoryRow[]; history_note: string | null } {
    if (!this.session.can.audit) {
      return { history: [], history_note: "Your role does not include View audit, so what was done for this person is not shown." };
    }
    if (this.session.offline) return { history: [], history_note: "History needs the registry, which cannot be reached now." };
    return {
      history: [
        { at: new Date(Date.now() - 8 * 86_400_000).toISOString(), action: "request_card", action_label: "Card requested", actor: "Jonas Jensen", subject: `${p.ref.name}: Staff PIV (contact)`, outcome: "success" },
        { at: new Date(Date.now() - 7 * 86_400_000).toISOString(), action: "issue_card", action_label: "Card issued", actor: "Jonas Jensen", subject: `${p.ref.name}'s card`, outcome: "success" },
      ],
      history_note: null,
    };
  }

  private readonly handlers: Handlers = {
    appStatus: () =>
      this.later({
        enrolled: true,
        registry_url: "https://registry.example.org:8443",
        workstation: "Badge office, desk 3",
        signed_in: this.signedIn ? this.session : null,
        locked: this.locked,
      }),
    registryOnline: () => this.later(this.registryUp),
    signIn: (args) => {
      if (str(args, "username") === "locked") return this.fail(err("sign-in-locked", "Too many failed attempts; try again in 15 minutes."));
      if (str(args, "password") !== "secret") return this.fail(err("sign-in", "User name or password not accepted."));
      this.signedIn = true;
      return this.later(this.session);
    },
    signOut: () => {
      this.signedIn = false;
      return this.later(null);
    },
    unlock: (args) => {
      if (str(args, "password") !== "secret") return this.fail(err("sign-in", "Password not accepted."));
      this.locked = false;
      return this.later(this.session);
    },
    touch: () => Promise.resolve(),
    watchCards: (args) => {
      this.cardChannel = channelId(args, "events");
      this.cardIndex = 0;
      setTimeout(() => this.serviceUp(), 0);
      return Promise.resolve();
    },
    watchSync: (args) => {
      this.syncChannel = channelId(args, "events");
      this.syncIndex = 0;
      return Promise.resolve(null);
    },
    readCard: (args) => {
      const r = this.readers.find((x) => x.name === str(args, "reader"));
      if (!r) return this.fail(err("reader-gone", "The reader is gone."));
      if (!r.view) return this.fail(err("no-card", "No card in the reader."));
      return this.later(r.view);
    },
    search: (args) => {
      const hits = this.hits(str(args, "query"));
      const limit = Number(args["limit"] ?? 200);
      return this.later({ hits: hits.slice(0, limit), more: hits.length > limit });
    },
    person: (args) => {
      const p = this.people.find((x) => x.ref.id === str(args, "id"));
      if (!p) return this.fail(err("not-found", "No such person."));
      const devices: HitView[] = p === this.people[0] ? [{ kind: "device", id: uuid(7, 0xe), serial: "5A1B2C3D", state_label: "Active", holder: p.ref, profile_name: "Staff PIV (contact)" }] : [];
      return this.later({
        person: p.ref,
        email: p.email,
        employee_id: p.employee_id,
        status_label: "Active",
        devices,
        requests: this.requests.filter((r) => r.person?.id === p.ref.id),
        ...this.history(p),
      });
    },
    requests: (args) => {
      const state = args["state"] as string | null;
      return this.later(this.requests.filter((r) => state === null || r.state === state));
    },
    profiles: () => this.later(this.profiles),
    requestCard: (args) => {
      const p = this.people.find((x) => x.ref.id === str(args, "person"));
      const prof = this.profiles.find((x) => x.id === str(args, "profile"));
      if (!p || !prof) return this.fail(err("not-found", "No such person or profile."));
      const row = this.newRequest(p, prof, prof.needs_approval ? "pending_approval" : "approved", { id: this.session.operator, name: this.session.display_name });
      row.reason = (args["notes"] as string | null) ?? null;
      this.requests.push(row);
      return this.later(row);
    },
    decide: (args) => {
      const r = this.requests.find((x) => x.id === str(args, "request"));
      if (!r) return this.fail(err("not-found", "No such request."));
      const d = str(args, "decision");
      if (d === "approve" && !r.can_approve.allowed) {
        return this.fail({ ...err("approver-is-requester", "refused"), refusal: { code: "approver-is-requester", reason: "You requested this yourself." } });
      }
      r.state = d === "approve" ? "approved" : d === "reject" ? "rejected" : "cancelled";
      r.state_label = d === "approve" ? "Approved" : d === "reject" ? "Rejected" : "Cancelled";
      r.reason = (args["reason"] as string | null) ?? r.reason;
      if (d === "approve") r.approver = { id: this.session.operator, name: this.session.display_name };
      return this.later({ ...r });
    },
    issue: (args) => {
      const r = this.requests.find((x) => x.id === str(args, "request"));
      if (!r) return this.fail(err("not-found", "No such request."));
      return this.runJob(r, str(args, "reader"), channelId(args, "progress"), uuid(this.seq++, 0xf));
    },
    revealSecret: (args) => {
      const t = this.tickets.get(str(args, "ticket"));
      this.tickets.delete(str(args, "ticket"));
      if (!t) return this.fail(err("secret-gone", "The PIN was already shown."));
      return this.later(t);
    },
    closeReveal: (args) => {
      this.tickets.delete(str(args, "ticket"));
      return Promise.resolve();
    },
    jobs: () => {
      const t = this.torn;
      const rows: JobRow[] = t === null ? [] : [this.jobRow(t.job, "interrupted", t.done)];
      return this.later(rows);
    },
    resumeJob: (args) => {
      const t = this.torn;
      if (t === null || t.job !== str(args, "job")) return this.fail(err("not-found", "No such job."));
      return this.runJob(t.request, str(args, "reader"), channelId(args, "progress"), t.job, t.done);
    },
    rollbackJob: (args) => {
      const t = this.torn;
      if (t === null || t.job !== str(args, "job")) return this.fail(err("not-found", "No such job."));
      this.torn = null;
      return this.later(this.jobRow(t.job, "rolled_back", t.done));
    },
    syncStatus: () => this.later(this.sync),
    syncNow: () => {
      this.sync = { ...this.sync, last_sync: new Date().toISOString(), last_error: null };
      return this.later(this.sync);
    },
  };

  private jobRow(id: string, state: string, done: number): JobRow {
    return { id, kind: "issue", kind_label: "Issue card", state, device: uuid(7, 0xe), writes_done: done, interrupted: state === "interrupted" ? "card removed" : null, last_error: null, created_at: new Date().toISOString() };
  }

  handle(cmd: string, args: Args): Promise<unknown> {
    this.calls.push({ cmd, args });
    // Like Tauri itself: an ACL denial or an unknown command rejects with a free-form string.
    if (this.denied.has(cmd)) return Promise.reject(`${cmd} not allowed. Permissions associated with this command: []`);
    const name = (Object.keys(this.handlers) as (keyof Commands)[]).find((k) => ipcName(k) === cmd);
    if (name === undefined) return Promise.reject(`Command ${cmd} not found`);
    return this.handlers[name](args);
  }
}

const str = (args: Args, k: string): string => String(args[k] ?? "");
const channelId = (args: Args, k: string): number => (args[k] as { id: number }).id;

/** Install the fake backend behind @tauri-apps/api. */
export function installFakeBackend(opts: FakeOptions): FakeBackend {
  const fake = new FakeBackend(opts);
  mockIPC((cmd, args) => fake.handle(cmd, (args ?? {}) as Record<string, unknown>), { shouldMockEvents: true });
  return fake;
}
