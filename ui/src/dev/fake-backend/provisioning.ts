// Fakes provisioning tasks (UC-PROV, seed 004) and the registry's local mailbox the enrollment
// emails go to: the task list and report, details, create, edit, remove, resend, a person's tasks.
import type { EnrollmentRow, PersonTaskRow, ProvisioningTaskRow } from "../../bindings";
import { err, str, uuid, type AreaHandlers, type Person } from "./shared";
import type { FakeState } from "./state";

type ProvisioningCommand =
  | "provisioningTasks"
  | "provisioningTask"
  | "createProvisioningTask"
  | "editProvisioningTask"
  | "removeProvisioningTask"
  | "resendEnrollment"
  | "personTasks"
  | "mailbox";

const DAY = 86_400_000;
const LABELS: Record<string, string> = { active: "Active", completed: "Completed", locked: "Locked", expired: "Expired", removed: "Removed", open: "Open" };
const iso = (ms: number): string => new Date(ms).toISOString();
const endOfDay = (day: string): string => `${day}T23:59:59Z`;

export function provisioningHandlers(s: FakeState): AreaHandlers<ProvisioningCommand> {
  return {
    provisioningTasks: (args) => {
      const report = args["report"] === true;
      return s.later(tasks(s).filter((t) => report || t.status === "open").map(copy));
    },
    provisioningTask: (args) => {
      const t = find(s, str(args, "task"));
      return t ? s.later(copy(t)) : s.fail(err("not-found", `Provisioning task ${str(args, "task")} does not exist.`));
    },
    createProvisioningTask: (args) => {
      const ids = (args["people"] as string[] | undefined) ?? [];
      const people = ids.map((id) => s.people.find((p) => p.ref.id === id)).filter((p): p is Person => p !== undefined);
      if (people.length === 0 || people.length !== ids.length) return s.fail(err("invalid-task", "A task needs at least one known person."));
      const profile = s.profiles.find((p) => p.id === str(args, "profile"));
      if (!profile || profile.temporary) return s.fail(err("profile", "That credential profile cannot be enrolled at a kiosk."));
      const stopArg = (args["stopDate"] as string | null | undefined) ?? null;
      const stop = stopArg === null ? iso(Date.now() + 14 * DAY) : endOfDay(stopArg);
      if (Date.parse(stop) <= Date.now()) return s.fail(err("date-not-in-future", "The stop date must be in the future."));
      const list = tasks(s);
      const number = Math.max(0, ...list.map((t) => t.number)) + 1;
      const users = people.map((p) => user(p, "active", stop));
      const task = refresh({ ...base(number, s.session.username, Date.now(), stop, profile.name), users, emailed_to: people[people.length - 1]?.email ?? "" });
      list.push(task);
      for (const p of people) enrollmentMail(s, p.email, number, stop);
      return s.later(copy(task));
    },
    editProvisioningTask: (args) => {
      const t = find(s, str(args, "task"));
      if (!t) return s.fail(err("not-found", "No such provisioning task."));
      if (t.status !== "open") return s.fail(err("task-removed", "The provisioning task was removed."));
      const remove = (args["remove"] as string[] | undefined) ?? [];
      const notify = args["notify"] === true;
      const stopArg = (args["stopDate"] as string | null | undefined) ?? null;
      for (const id of remove) {
        const u = t.users.find((x) => x.person.id === id);
        if (!u?.can_remove) return s.fail({ ...err("state-not-allowed", "refused"), refusal: { code: "state-not-allowed", reason: `${u?.person.name ?? "That user"} cannot be removed now.` } });
      }
      if (stopArg !== null && Date.parse(endOfDay(stopArg)) <= Date.now()) return s.fail(err("date-not-in-future", "The stop date must be in the future."));
      for (const id of remove) {
        const u = t.users.find((x) => x.person.id === id) as EnrollmentRow;
        setStatus(u, "removed");
        if (notify) cancellationMail(s, u.email, t.number);
      }
      if (stopArg !== null) {
        t.stop_date = endOfDay(stopArg);
        for (const u of t.users) if (u.status === "active") u.stop_date = t.stop_date;
      }
      return s.later(copy(refresh(t)));
    },
    removeProvisioningTask: (args) => {
      const t = find(s, str(args, "task"));
      if (!t) return s.fail(err("not-found", "No such provisioning task."));
      if (t.status === "removed") return s.fail(err("task-removed", "The provisioning task was removed."));
      for (const u of t.users) {
        if (u.status === "completed" || u.status === "removed") continue;
        setStatus(u, "removed");
        if (args["notify"] === true) cancellationMail(s, u.email, t.number);
      }
      t.status = "removed";
      t.status_label = LABELS["removed"] ?? "Removed";
      return s.later(copy(refresh(t)));
    },
    resendEnrollment: (args) => {
      const t = find(s, str(args, "task"));
      const u = t?.users.find((x) => x.person.id === str(args, "person"));
      if (!t || !u) return s.fail(err("not-found", "No such user in the task."));
      if (u.status !== "active") return s.fail({ ...err("state-not-allowed", "refused"), refusal: { code: "state-not-allowed", reason: `The enrollment is ${u.status_label.toLowerCase()}, not active: only active users get a new email.` } });
      const alternate = (args["alternateEmail"] as string | null | undefined) ?? null;
      if (alternate !== null && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(alternate)) return s.fail(err("invalid-email", "That email address is not valid."));
      u.stop_date = iso(Date.now() + 14 * DAY);
      u.failed_attempts = 0;
      t.emailed_to = alternate ?? u.email;
      enrollmentMail(s, alternate ?? u.email, t.number, u.stop_date);
      return s.later(copy(refresh(t)));
    },
    personTasks: (args) => {
      const id = str(args, "person");
      const rows: PersonTaskRow[] = [];
      for (const t of tasks(s)) {
        if (t.status === "removed") continue;
        for (const u of t.users) {
          if (u.person.id !== id || u.status !== "active") continue;
          rows.push({ task: t.number, requester: t.operator, provisioned_to: u.email, start_date: t.start_date, stop_date: u.stop_date, status: u.status, status_label: u.status_label, authentication_type: t.authentication_type });
        }
      }
      return s.later(rows);
    },
    mailbox: () => {
      if (s.mailOverSmtp) return s.fail(err("not-found", "this registry keeps no local mailbox: its mail goes to an SMTP server"));
      tasks(s);
      return s.later([...s.mail].sort((a, b) => b.date.localeCompare(a.date)).map((m) => ({ ...m })));
    },
  };
}

function base(number: number, operator: string, start: number, stop: string, profile: string): ProvisioningTaskRow {
  return { id: uuid(number, 0x7a), number, operator, emailed_to: "", start_date: iso(start), stop_date: stop, count: 0, active: 0, authentication_type: profile, status: "open", status_label: "Open", users: [] };
}

function user(p: Person, status: string, stop: string, serial: string | null = null, failed = 0): EnrollmentRow {
  const u: EnrollmentRow = { person: p.ref, email: p.email, status, status_label: "", stop_date: stop, failed_attempts: failed, serial, can_resend: false, can_remove: false };
  setStatus(u, status);
  return u;
}

function setStatus(u: EnrollmentRow, status: string): void {
  u.status = status;
  u.status_label = LABELS[status] ?? status;
  u.can_resend = status === "active";
  u.can_remove = status === "active" || status === "locked" || status === "expired";
}

/** Count, users still to enroll, and completed (every user completed or removed, one completed at least). */
function refresh(t: ProvisioningTaskRow): ProvisioningTaskRow {
  t.count = t.users.length;
  t.active = t.users.filter((u) => u.status === "active").length;
  if (t.status !== "removed") {
    const completed = t.users.some((u) => u.status === "completed") && t.users.every((u) => u.status === "completed" || u.status === "removed");
    t.status = completed ? "completed" : "open";
    t.status_label = LABELS[t.status] ?? t.status;
  }
  return t;
}

function copy(t: ProvisioningTaskRow): ProvisioningTaskRow {
  return { ...t, users: t.users.map((u) => ({ ...u, person: { ...u.person } })) };
}

function find(s: FakeState, key: string): ProvisioningTaskRow | undefined {
  return tasks(s).find((t) => t.number.toString() === key || t.id === key);
}

function enrollmentMail(s: FakeState, to: string, task: number, stop: string): void {
  const code = Array.from({ length: 4 }, (_, i) => ((task * 7919 + i * 104_729 + s.mail.length * 31) % 9000 + 1000).toString()).join("-");
  s.mail.push({
    id: uuid(s.mail.length + 1, 0x3a),
    to,
    subject: "Set up your smart card at a Cardstation kiosk",
    date: new Date(Date.now() + s.mail.length).toISOString(),
    body: `Hello,\n\nYou can now set up your smart card yourself at a Cardstation walk-up kiosk (provisioning task ${task.toString()}).\n\nYour enrollment code: ${code}\n\nInsert a blank card at the kiosk, type the code, then choose your own PIN.\nThe code works once, and until ${new Date(stop).toUTCString()}.\n\nIf you did not expect this message, tell your card office.\n`,
  });
}

function cancellationMail(s: FakeState, to: string, task: number): void {
  s.mail.push({
    id: uuid(s.mail.length + 1, 0x3a),
    to,
    subject: "Your smart card enrollment was cancelled",
    date: new Date(Date.now() + s.mail.length).toISOString(),
    body: `Hello,\n\nYour enrollment in provisioning task ${task.toString()} was cancelled: the code you received no longer works.\n\nIf you still need a card, ask your card office.\n`,
  });
}

/** The tasks, made on first use: open ones with each status, one completed (report only), one removed. */
export function tasks(s: FakeState): ProvisioningTaskRow[] {
  if (s.provTasks !== null) return s.provTasks;
  const p = (i: number): Person => s.people[i] as Person;
  const profile = s.profiles[0]?.name ?? "Staff PIV (contact)";
  const now = Date.now();
  const stop1 = iso(now + 9 * DAY);
  const stop2 = iso(now + 12 * DAY);
  const t1 = base(1, "olga", now - 5 * DAY, stop1, profile);
  t1.users = [user(p(1), "active", stop1), user(p(2), "completed", stop1, "5A1B9F01"), user(p(3), "locked", stop1, null, 5)];
  t1.emailed_to = p(3).email;
  const t2 = base(2, "abe", now - 2 * DAY, stop2, profile);
  t2.users = [user(p(0), "active", stop2), user(p(4), "active", stop2, null, 2)];
  t2.emailed_to = p(4).email;
  const t3 = base(3, "olga", now - 30 * DAY, iso(now - 16 * DAY), profile);
  t3.users = [user(p(5), "completed", iso(now - 16 * DAY), "5A1B9E77")];
  t3.emailed_to = p(5).email;
  const t4 = base(4, "abe", now - 20 * DAY, iso(now - 6 * DAY), profile);
  t4.users = [user(p(6), "removed", iso(now - 6 * DAY))];
  t4.emailed_to = p(6).email;
  t4.status = "removed";
  s.provTasks = [t1, t2, t3, t4].map(refresh);
  s.provTasks[3] = { ...(s.provTasks[3] as ProvisioningTaskRow), status: "removed", status_label: "Removed" };
  for (const [t, u] of [[1, p(1)], [1, p(2)], [1, p(3)], [2, p(0)], [2, p(4)]] as const) enrollmentMail(s, u.email, t, t === 1 ? stop1 : stop2);
  return s.provTasks;
}

