// Fakes card requests: the request list, profiles, requesting a card and approve / reject / cancel.
import { err, str, type AreaHandlers } from "./shared";
import type { FakeState } from "./state";

type RequestsCommand = "requests" | "profiles" | "requestCard" | "decide";

export function requestsHandlers(s: FakeState): AreaHandlers<RequestsCommand> {
  return {
    requests: (args) => {
      const state = args["state"] as string | null;
      return s.later(s.requests.filter((r) => state === null || r.state === state));
    },
    profiles: () => s.later(s.profiles),
    requestCard: (args) => {
      const p = s.people.find((x) => x.ref.id === str(args, "person"));
      const prof = s.profiles.find((x) => x.id === str(args, "profile"));
      if (!p || !prof) return s.fail(err("not-found", "No such person or profile."));
      const row = s.newRequest(p, prof, prof.needs_approval ? "pending_approval" : "approved", { id: s.session.operator, name: s.session.display_name });
      row.reason = (args["notes"] as string | null) ?? null;
      s.requests.push(row);
      return s.later(row);
    },
    decide: (args) => {
      const r = s.requests.find((x) => x.id === str(args, "request"));
      if (!r) return s.fail(err("not-found", "No such request."));
      const d = str(args, "decision");
      if (d === "approve" && !r.can_approve.allowed) {
        return s.fail({ ...err("approver-is-requester", "refused"), refusal: { code: "approver-is-requester", reason: "You requested this yourself." } });
      }
      r.state = d === "approve" ? "approved" : d === "reject" ? "rejected" : "cancelled";
      r.state_label = d === "approve" ? "Approved" : d === "reject" ? "Rejected" : "Cancelled";
      r.reason = (args["reason"] as string | null) ?? r.reason;
      if (d === "approve") r.approver = { id: s.session.operator, name: s.session.display_name };
      return s.later({ ...r });
    },
  };
}
