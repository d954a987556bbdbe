// Fakes the audit (UC-AUDIT): 60 days of events, the filtered report with its charts, chain verification, CSV export.
import type { AuditEntry, AuditQuery, AuditReport, ChainView } from "../../bindings";
import type { AreaHandlers, Person } from "./shared";
import type { FakeState } from "./state";

type AuditCommand = "audit" | "auditChain" | "exportAudit";

export function auditHandlers(s: FakeState): AreaHandlers<AuditCommand> {
  return {
    audit: (args) => s.later(auditReport(s, args["query"] as AuditQuery)),
    auditChain: () => s.later(chainView(s)),
    exportAudit: () => {
      const dismissed = s.exportDismissed;
      s.exportDismissed = false;
      return s.later(dismissed ? null : "/home/olga/Documents/audit.csv");
    },
  };
}

/** 60 days of made-up events (none at weekends, so the chart has gaps), oldest first. */
export function auditEntries(s: FakeState): AuditEntry[] {
  if (s.auditLog !== null) return s.auditLog;
  const operators = ["Olga Operator", "Jonas Jensen", "Maja Moreau"];
  const kinds: [string, string][] = [
    ["sign_in", "Signed in"],
    ["request_card", "Card requested"],
    ["approve_request", "Request approved"],
    ["record_issuance", "Card issued"],
    ["unblock_pin", "PIN unblocked"],
    ["deactivate_device", "Card deactivated"],
  ];
  const days = 60;
  const perDay = 50;
  const start = Date.UTC(2026, 0, 5, 7, 0);
  const out: AuditEntry[] = [];
  for (let d = 0; d < days; d++) {
    if (d % 7 >= 5) continue;
    for (let k = 0; k < perDay; k++) {
      const i = out.length;
      const [action, label] = kinds[(i * 7 + d) % kinds.length] as [string, string];
      const person = s.people[(i * 13) % 300] as Person;
      const refusedHere = i % 37 === 5;
      const signIn = action === "sign_in";
      out.push({
        seq: i + 1,
        at: new Date(start + d * 86_400_000 + k * 11 * 60_000).toISOString(),
        operator: operators[i % operators.length] as string,
        action,
        action_label: label,
        object: signIn ? "Badge office, desk 3" : `${person.ref.name}'s card`,
        person: signIn ? null : person.ref.name,
        outcome: refusedHere ? "the approver requested it themselves" : "success",
        success: !refusedHere,
        notes: i % 50 === 0 ? "Replacement for a damaged card" : null,
      });
    }
  }
  s.auditLog = out;
  return out;
}

function auditReport(s: FakeState, q: AuditQuery): AuditReport {
  const has = (v: string, part: string | null): boolean => part === null || v.toLowerCase().includes(part.toLowerCase());
  const since = q.since === null ? -Infinity : Date.parse(q.since);
  const until = q.until === null ? Infinity : Date.parse(q.until);
  const entries = auditEntries(s).filter((e) => {
    const t = Date.parse(e.at);
    return has(e.operator, q.operator) && has(e.person ?? "", q.person) && has(e.action, q.action) && t >= since && t < until;
  });
  const perDay = new Map<string, number>();
  for (const e of entries) if (e.success && e.action === "record_issuance") perDay.set(e.at.slice(0, 10), (perDay.get(e.at.slice(0, 10)) ?? 0) + 1);
  return {
    entries,
    issued_per_day: [...perDay].sort(([a], [b]) => a.localeCompare(b)).map(([day, cards]) => ({ day, cards })),
    batch_readers: [
      { reader: "Virtual PCD 00 00", cards: 48, cards_per_hour: 41.2 },
      { reader: "Virtual PCD 00 01", cards: 45, cards_per_hour: 38.7 },
      { reader: "Yubico YubiKey OTP+FIDO+CCID 00 00", cards: 1, cards_per_hour: null },
    ],
  };
}

function chainView(s: FakeState): ChainView {
  const events = auditEntries(s).length;
  const b = s.chainBroken;
  return b === null ? { intact: true, events, broken_at: null, reason: null } : { intact: false, events, broken_at: b.at, reason: b.reason };
}
