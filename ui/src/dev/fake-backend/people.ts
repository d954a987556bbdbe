// Fakes search-as-you-type and a person's record (cards, requests, history).
import type { HistoryRow, HitView } from "../../bindings";
import { err, str, uuid, type AreaHandlers, type Person } from "./shared";
import type { FakeState } from "./state";

type PeopleCommand = "search" | "person";

export function peopleHandlers(s: FakeState): AreaHandlers<PeopleCommand> {
  return {
    search: (args) => {
      const found = hits(s, str(args, "query"));
      const limit = Number(args["limit"] ?? 200);
      return s.later({ hits: found.slice(0, limit), more: found.length > limit });
    },
    person: (args) => {
      const p = s.people.find((x) => x.ref.id === str(args, "id"));
      if (!p) return s.fail(err("not-found", "No such person."));
      const devices: HitView[] = p === s.people[0] ? [{ kind: "device", id: uuid(7, 0xe), serial: "5A1B2C3D", state_label: "Active", holder: p.ref, profile_name: "Staff PIV (contact)" }] : [];
      return s.later({
        person: p.ref,
        email: p.email,
        employee_id: p.employee_id,
        status_label: "Active",
        devices,
        requests: s.requests.filter((r) => r.person?.id === p.ref.id),
        ...history(s, p),
      });
    },
  };
}

function hits(s: FakeState, query: string): HitView[] {
  const q = query.toLowerCase();
  const out: HitView[] = [];
  for (const p of s.people) {
    if (p.ref.name.toLowerCase().includes(q) || p.email.includes(q) || p.employee_id.toLowerCase() === q) {
      out.push({ kind: "person", id: p.ref.id, name: p.ref.name, email: p.email, employee_id: p.employee_id, devices: p === s.people[0] ? 1 : 0, requests: s.requests.filter((r) => r.person?.id === p.ref.id).length });
    }
  }
  for (const r of s.requests) {
    if (r.person?.name.toLowerCase().includes(q)) out.push({ kind: "request", id: r.id, kind_label: r.kind_label, state_label: r.state_label, person: r.person, profile_name: r.profile_name });
  }
  const card = s.people[0] as Person;
  if (card.ref.name.toLowerCase().includes(q) || "5a1b2c3d".includes(q)) {
    out.push({ kind: "device", id: uuid(7, 0xe), serial: "5A1B2C3D", state_label: "Active", holder: card.ref, profile_name: "Staff PIV (contact)" });
  }
  return out;
}

function history(s: FakeState, p: Person): { history: HistoryRow[]; history_note: string | null } {
  if (!s.session.can.audit) {
    return { history: [], history_note: "Your role does not include View audit, so what was done for this person is not shown." };
  }
  if (s.session.offline) return { history: [], history_note: "History needs the registry, which cannot be reached now." };
  return {
    history: [
      { at: new Date(Date.now() - 8 * 86_400_000).toISOString(), action: "request_card", action_label: "Card requested", actor: "Jonas Jensen", subject: `${p.ref.name}: Staff PIV (contact)`, outcome: "success" },
      { at: new Date(Date.now() - 7 * 86_400_000).toISOString(), action: "issue_card", action_label: "Card issued", actor: "Jonas Jensen", subject: `${p.ref.name}'s card`, outcome: "success" },
    ],
    history_note: null,
  };
}
