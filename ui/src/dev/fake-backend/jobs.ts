// Fakes issuing a card and its job: issue with tear safety, resume / roll back, the job list, PIN reveal tickets.
import type { CardStep, IssuedView, JobEvent, JobRow, RequestRow } from "../../bindings";
import { allowed, channelId, err, issueSteps, str, uuid, type AreaHandlers, type Person } from "./shared";
import type { FakeState } from "./state";

type JobsCommand = "issue" | "revealSecret" | "closeReveal" | "jobs" | "resumeJob" | "rollbackJob";

export function jobsHandlers(s: FakeState): AreaHandlers<JobsCommand> {
  return {
    issue: (args) => {
      const r = s.requests.find((x) => x.id === str(args, "request"));
      if (!r) return s.fail(err("not-found", "No such request."));
      return runJob(s, r, str(args, "reader"), channelId(args, "progress"), uuid(s.seq++, 0xf));
    },
    revealSecret: (args) => {
      const t = s.tickets.get(str(args, "ticket"));
      s.tickets.delete(str(args, "ticket"));
      if (!t) return s.fail(err("secret-gone", "The PIN was already shown."));
      return s.later(t);
    },
    closeReveal: (args) => {
      s.tickets.delete(str(args, "ticket"));
      return Promise.resolve();
    },
    jobs: () => {
      const t = s.torn;
      const rows: JobRow[] = t === null ? [] : [jobRow(t.job, "interrupted", t.done)];
      return s.later(rows);
    },
    resumeJob: (args) => {
      const t = s.torn;
      if (t === null || t.job !== str(args, "job")) return s.fail(err("not-found", "No such job."));
      return runJob(s, t.request, str(args, "reader"), channelId(args, "progress"), t.job, t.done);
    },
    rollbackJob: (args) => {
      const t = s.torn;
      if (t === null || t.job !== str(args, "job")) return s.fail(err("not-found", "No such job."));
      s.torn = null;
      return s.later(jobRow(t.job, "rolled_back", t.done));
    },
  };
}

/** Put the torn card back: its view carries the interrupted job. */
export function reinsertTorn(s: FakeState, reader: string): void {
  const t = s.torn;
  if (t === null) return;
  const person = s.people.find((p) => p.ref.id === t.request.person?.id) ?? (s.people[0] as Person);
  const view = s.ours(reader, person);
  if (view.kind !== "ours") return;
  view.state = "approved";
  view.state_label = "Being issued";
  view.certificates = [];
  view.actions = [allowed("resume_job", "Resume"), allowed("roll_back_job", "Roll back")];
  view.open_job = { id: t.job, kind: "issue", kind_label: "Issue card", state: "interrupted", device: view.device_id, writes_done: t.done, interrupted: "card removed", last_error: null, created_at: new Date().toISOString() };
  s.insert(reader, view);
}

async function runJob(s: FakeState, request: RequestRow, reader: string, progress: number, job: string, from = 0): Promise<IssuedView> {
  const steps = issueSteps();
  let sent = 0;
  if (from > 0) s.send(progress, sent++, { kind: "notice", notice: { notice: "resuming_job", job } } satisfies JobEvent);
  for (let i = from; i < steps.length; i++) {
    const ev: JobEvent = { kind: "step", index: i + 1, total: steps.length, step: steps[i] as CardStep };
    s.send(progress, sent++, ev);
    await s.later(null);
    if (s.tearAfter !== null && i + 1 >= s.tearAfter) {
      s.tearAfter = null;
      s.torn = { job, request, done: i };
      s.remove(reader);
      throw err("card-removed", `The card was removed from ${reader}.`);
    }
  }
  s.torn = null;
  s.send(progress, sent, { kind: "card_written" } satisfies JobEvent);
  const ticket = `t-${s.seq++}`;
  s.tickets.set(ticket, { pin: "40719263", puk: "58120447" });
  request.state = "completed";
  request.state_label = "Completed";
  const person = s.people.find((p) => p.ref.id === request.person?.id) ?? (s.people[0] as Person);
  const view = s.ours(reader, person);
  const r = s.readers.find((x) => x.name === reader);
  if (r) r.view = view;
  setTimeout(() => s.cardEvent({ kind: "card_read", reader, view }), 0);
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

function jobRow(id: string, state: string, done: number): JobRow {
  return { id, kind: "issue", kind_label: "Issue card", state, device: uuid(7, 0xe), writes_done: done, interrupted: state === "interrupted" ? "card removed" : null, last_error: null, created_at: new Date().toISOString() };
}
