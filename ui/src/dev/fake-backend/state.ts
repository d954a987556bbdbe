// The stand-in backend's one shared state (people, requests, readers, session, sync, channels, tickets) and the plumbing every area uses.
import type {
  ActionView,
  AuditEntry,
  BatchBoard,
  CardEvent,
  DeviceView,
  ErrorView,
  MailRow,
  OutboxRow,
  PersonRef,
  ProfileRow,
  ProvisioningTaskRow,
  RequestRow,
  SignedInView,
  SyncStatus,
  TemporaryRow,
} from "../../bindings";
import type { FakeWalkupData } from "./kiosk";
import { allowed, FIRST, LAST, refused, STATE_LABELS, uuid, type FakeAccess, type FakeOptions, type FakeProfile, type Person } from "./shared";

const OLGA = "olga";
const ABE = "abe";
/** Operators the fake knows by user name (any other name signs in as Olga). */
const FAKE_OPERATORS: Record<string, string> = { [OLGA]: "Olga Operator", [ABE]: "Abe Approver", kiosk: "Lobby kiosk" };
/** "Abe Approver (abe)": how the backend names who made an operation. */
const operatorLabel = (username: string): string => `${FAKE_OPERATORS[username] ?? username} (${username})`;

export class FakeState {
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
  /**
   * Queued actions the registry refused, by the user name of the operator who made them: the next
   * signIn() as that operator answers them once (`abe` has one; console: `fake.refusals.set("olga", [fake.refusedRow("…")])`).
   */
  readonly refusals = new Map<string, OutboxRow[]>();
  /** Whether the registry answers (the sign-in screen's indicator). */
  registryUp: boolean;
  /** Commands Tauri refuses before they reach the app (ACL denial): they reject with a string. */
  readonly denied = new Set<string>();
  /** Every command received, for tests. */
  readonly calls: { cmd: string; args: Record<string, unknown> }[] = [];

  // Channels and one-time secrets (internal to the areas).
  cardChannel: number | null = null;
  cardIndex = 0;
  syncChannel: number | null = null;
  syncIndex = 0;
  readonly tickets = new Map<string, { pin: string; puk: string | null }>();
  seq = 100;

  /** Pull the card out after this many steps of the next job (tests and demos of tear safety). */
  tearAfter: number | null = null;
  /** The issue job the last tear interrupted. */
  torn: { job: string; request: RequestRow; done: number } | null = null;

  /** The cardholder's PIN here: Change PIN accepts it as the current one. */
  cardPin = "123456";
  /** Erase is refused (no Erase permission) unless set (console: `fake.canErase = true`, then reinsert). */
  canErase = false;
  /** Temporary cards, made on first use (temporary.ts). */
  tempList: TemporaryRow[] | null = null;

  /** The registry finds the audit chain broken here (console: `fake.chainBroken = {at: 57, reason: "…"}`). */
  chainBroken: { at: number; reason: string } | null = null;
  /** The next exportAudit() is dismissed, as when the operator closes the save dialog. */
  exportDismissed = false;
  /** Audit events, made on first use (audit.ts). */
  auditLog: AuditEntry[] | null = null;

  /** Credential profiles with their versions, made on first use (admin.ts). */
  adminProfiles: FakeProfile[] | null = null;
  /** Revising profiles is refused with this reason (console: `fake.adminRefusal = "Administration is switched off"`). */
  adminRefusal: string | null = null;

  /** Roles, operators and use cases, made on first use (access.ts). */
  accessData: FakeAccess | null = null;
  /** Changing access is refused with this reason (console: `fake.accessRefusal = "Administration is switched off"`). */
  accessRefusal: string | null = null;

  /** Started as a walk-up kiosk (no reader holds a card at start). */
  kiosk: boolean;
  /** The walk-up kiosk's made-up registry side, made on first use (kiosk.ts). */
  walkupData: FakeWalkupData | null = null;
  /** Provisioning tasks, made on first use (provisioning.ts). */
  provTasks: ProvisioningTaskRow[] | null = null;
  /** The registry's local mailbox: the emails the tasks sent (provisioning.ts). */
  readonly mail: MailRow[] = [];
  /** The registry sends its mail over SMTP: no local mailbox (console: `fake.mailOverSmtp = true`). */
  mailOverSmtp = false;

  /** Batches of this station, oldest first. */
  readonly batches: BatchBoard[] = [];
  /** This batch card fails its first attempt (and is retried), for tests and demos. */
  batchFailSeq: number | null = null;

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
      permissions: ["Request cards", "Approve requests", "Issue cards", "Manage provisioning tasks", "Administer"],
      can: { search: true, request: true, approve: true, issue: true, direct_issue: false, batch: true, temporary: true, update: true, pin: true, retire: true, audit: true, provision: true, admin: true },
      use_cases: ["signin", "read", "search", "request", "approve", "issue"],
      open_jobs: 0,
      idle_lock_seconds: 300,
      refused: [],
    };
    this.signedIn = opts.signedIn ?? false;
    this.registryUp = !(opts.offline ?? false);
    this.sync = {
      online: !(opts.offline ?? false),
      last_sync: new Date(Date.now() - 4 * 60_000).toISOString(),
      last_error: opts.offline ? "The registry did not answer." : null,
      pending: [
        this.outboxRow(1, "Approve request", 60_000, "pending", OLGA),
        this.outboxRow(3, "Request card", 25 * 60_000, "pending", ABE),
        this.outboxRow(4, "Reject request", 20 * 60_000, "pending", ABE),
      ],
      rejected: [this.outboxRow(2, "Cancel device", 3_600_000, "rejected", OLGA, "The card was already cancelled at another workstation.")],
      accepted: [
        this.outboxRow(5, "Request card", 2 * 3_600_000, "accepted", OLGA),
        this.outboxRow(6, "Approve request", 3 * 3_600_000, "accepted", ABE),
        this.outboxRow(7, "Deactivate device", 26 * 3_600_000, "accepted", null),
      ],
    };
    // Abe's refused action: his next sign-in shows the notice (`npm run dev`: sign in as abe / secret).
    const abeRefused = this.outboxRow(8, "Approve request", 5 * 3_600_000, "rejected", ABE, "The request was withdrawn by its requester before your approval reached the registry.");
    this.sync.rejected.push(abeRefused);
    this.refusals.set(ABE, [abeRefused]);
    const p = (i: number): Person => this.people[i] as Person;
    const olga: PersonRef = { id: this.session.operator, name: this.session.display_name };
    this.requests = [
      this.newRequest(p(1), this.profiles[0] as ProfileRow, "pending_approval", { id: uuid(50, 0xb), name: "Jonas Jensen" }),
      this.newRequest(p(2), this.profiles[0] as ProfileRow, "pending_approval", olga),
      this.newRequest(p(3), this.profiles[1] as ProfileRow, "approved", olga),
      this.newRequest(p(4), this.profiles[0] as ProfileRow, "approved", { id: uuid(50, 0xb), name: "Jonas Jensen" }),
    ];
    this.kiosk = opts.kiosk ?? false;
    this.readers = [
      { name: "Virtual PCD 00 00", view: this.kiosk ? null : this.ours("Virtual PCD 00 00", p(0)) },
      { name: "Virtual PCD 00 01", view: null },
    ];
  }

  // ----- made-up records -----

  /** An operation in the outbox, queued `agoMs` ago by `by` (a user name of FAKE_OPERATORS; null: not recorded). */
  outboxRow(n: number, kind_label: string, agoMs: number, state: string, by: string | null, reason: string | null = null): OutboxRow {
    return {
      op_id: uuid(n, 0xc),
      kind_label,
      queued_at: new Date(Date.now() - agoMs).toISOString(),
      state,
      reason,
      operator: by === null ? null : operatorLabel(by),
      yours: by !== null && by === this.session.username,
    };
  }

  /** A refused action of the signed-in operator, for `refusals` (tests, console). */
  refusedRow(reason: string, kind_label = "Approve request"): OutboxRow {
    return this.outboxRow(this.seq++, kind_label, 30 * 60_000, "rejected", this.session.username, reason);
  }

  /** Sign in as `username` (a known fake operator, else Olga): the session's names and whose outbox rows are "yours". */
  signInAs(username: string): void {
    const who = FAKE_OPERATORS[username] !== undefined ? username : OLGA;
    this.session = { ...this.session, username: who, display_name: FAKE_OPERATORS[who] ?? "", refused: [] };
    const me = operatorLabel(who);
    const mark = (rows: OutboxRow[]): OutboxRow[] => rows.map((r) => ({ ...r, yours: r.operator === me }));
    this.sync = { ...this.sync, pending: mark(this.sync.pending), rejected: mark(this.sync.rejected), accepted: mark(this.sync.accepted) };
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
      actions: this.cardActions("active"),
      card_work: this.cardWork("active", 0),
      open_job: null,
    };
  }

  blank(reader: string): DeviceView {
    return { kind: "blank", reader, serial: "77AA0042", issuable: this.requests.filter((r) => r.state === "approved"), open_job: null };
  }

  /** Retire actions of a card of ours in `state`, as the domain lists them. */
  cardActions(state: string): ActionView[] {
    const erase = this.canErase ? allowed("erase", "Erase") : refused("erase", "Erase", "Erasing needs the Erase permission.");
    if (state === "active") return [allowed("deactivate", "Deactivate"), allowed("cancel", "Cancel"), erase];
    if (state === "inactive") return [allowed("reactivate", "Reactivate"), allowed("cancel", "Cancel"), erase];
    return [erase];
  }

  /** Card work of a card of ours in `state` with `pending` updates (seed 000's rules, roughly). */
  cardWork(state: string, pending: number): ActionView[] {
    const issued = state === "active" || state === "inactive";
    const why = `the card is ${(STATE_LABELS[state] ?? state).toLowerCase()}`;
    const one = (action: string, label: string): ActionView => (issued ? allowed(action, label) : refused(action, label, why));
    return [
      one("request_update", "Request update"),
      one("request_reprovision", "Request reprovision"),
      pending > 0 ? allowed("collect_updates", "Collect updates") : refused("collect_updates", "Collect updates", "no approved update is waiting for this card"),
      one("unblock_pin", "Unblock PIN"),
      one("change_pin", "Change PIN"),
    ];
  }

  // ----- answers and channels -----

  later<T>(v: T): Promise<T> {
    return new Promise((res) => setTimeout(() => res(v), this.opts.delayMs));
  }

  fail(e: ErrorView): Promise<never> {
    return new Promise((_, rej) => setTimeout(() => rej(e), this.opts.delayMs));
  }

  send(channel: number | null, index: number, message: unknown): void {
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

  /** The reader's card is read again (after a job changed it). */
  reread(reader: string): void {
    const r = this.readers.find((x) => x.name === reader);
    const view = r?.view;
    if (view) setTimeout(() => this.cardEvent({ kind: "card_read", reader, view }), 0);
  }
}
