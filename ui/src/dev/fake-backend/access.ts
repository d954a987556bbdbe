// Fakes the Access tab of administration (UC-ADMIN): roles and their grants, the roles each operator
// holds and the use-case switches, read from the registry (offline: refused) and changed through it
// (offline: queued). The registry's rules hold here too: role names unique case aside, a change that
// changes nothing refused, nobody left to administer refused, sign-in and administration always on.
import type { AccessView, Choice, ErrorCode, ErrorView, OperatorRow, ProfileGrant, RoleForm, RoleView, UseCaseForm, UseCaseSwitch } from "../../bindings";
import { allowed, err, refused, str, uuid, type AreaHandlers, type FakeAccess } from "./shared";
import type { FakeState } from "./state";

type AccessCommand = "access" | "saveRole" | "setOperatorRoles" | "setUseCases";

export function accessHandlers(s: FakeState): AreaHandlers<AccessCommand> {
  return {
    access: () => (s.sync.online ? s.later(accessView(s)) : s.fail(err("offline", "the registry cannot be reached"))),
    saveRole: (args) => change(s, () => saveRole(s, args["form"] as RoleForm)),
    setOperatorRoles: (args) => change(s, () => setOperatorRoles(s, str(args, "operator"), (args["roles"] as string[] | undefined) ?? [])),
    setUseCases: (args) => change(s, () => setUseCases(s, args["form"] as UseCaseForm)),
  };
}

type Role = FakeAccess["roles"][number];
type Account = FakeAccess["operators"][number];

/** The use cases of SPEC §5 (the domain's `UseCase`, snake_case keys), in SPEC order. */
const USE_CASES: { key: string; id: string; title: string }[] = [
  { key: "sign_in", id: "UC-SIGNIN", title: "Sign in" },
  { key: "read", id: "UC-READ", title: "Read card" },
  { key: "search", id: "UC-SEARCH", title: "Search" },
  { key: "request", id: "UC-REQUEST", title: "Request card" },
  { key: "approve", id: "UC-APPROVE", title: "Approve requests" },
  { key: "issue", id: "UC-ISSUE", title: "Issue card" },
  { key: "direct_issue", id: "UC-ISSUE", title: "Issue card without request" },
  { key: "batch", id: "UC-BATCH", title: "Issue multiple cards" },
  { key: "temp", id: "UC-TEMP", title: "Temporary cards" },
  { key: "temp_initialize", id: "UC-TEMP", title: "Initialize temporary card" },
  { key: "update", id: "UC-UPDATE", title: "Request and collect updates" },
  { key: "pin", id: "UC-PIN", title: "Unblock and change PIN" },
  { key: "retire", id: "UC-RETIRE", title: "Deactivate, cancel or erase a card" },
  { key: "prov", id: "UC-PROV", title: "Provisioning tasks" },
  { key: "walkup", id: "UC-WALKUP", title: "Walk-up initialization" },
  { key: "audit", id: "UC-AUDIT", title: "Audit log and reports" },
  { key: "sync", id: "UC-SYNC", title: "Sync status" },
  { key: "admin", id: "UC-ADMIN", title: "Administration" },
];
/** Sign-in and administration cannot be switched off (`UseCase::can_be_disabled`). */
const REQUIRED = new Set(["sign_in", "admin"]);

/** The domain's `GlobalPermission`, in its order. */
const GLOBAL: Choice[] = [
  { key: "manage_temporary_cards", title: "Manage temporary cards" },
  { key: "manage_batches", title: "Manage batches" },
  { key: "manage_provisioning_tasks", title: "Manage provisioning tasks" },
  { key: "unblock_pin", title: "Unblock PIN" },
  { key: "cancel_revoke", title: "Cancel / revoke" },
  { key: "erase", title: "Erase" },
  { key: "view_audit", title: "View audit" },
  { key: "administer", title: "Administer" },
];

/** The domain's `ProfilePermission`, in its order. */
const PER_PROFILE: Choice[] = [
  { key: "can_request", title: "Can Request" },
  { key: "can_collect", title: "Can Collect" },
  { key: "can_approve", title: "Can Approve" },
];

/** Made on first use: three roles, four accounts (one disabled), the use cases as admin.ts shows them. */
function stored(s: FakeState): FakeAccess {
  if (s.accessData !== null) return s.accessData;
  const [contact, contactless] = s.profiles;
  const administrators: Role = {
    id: uuid(1, 0xf),
    name: "Administrators",
    global: ["view_audit", "administer"],
    per_profile: [{ permission: "can_approve", every_profile: true, profiles: [] }],
  };
  const requesters: Role = { id: uuid(2, 0xf), name: "Requesters", global: [], per_profile: [{ permission: "can_request", every_profile: true, profiles: [] }] };
  const issuers: Role = {
    id: uuid(3, 0xf),
    name: "Issuers",
    global: ["manage_temporary_cards", "manage_batches", "unblock_pin"],
    per_profile: [{ permission: "can_collect", every_profile: false, profiles: [contact?.id, contactless?.id].filter((p): p is string => p !== undefined) }],
  };
  const account = (n: number, username: string, name: string, roles: Role[], enabled = true): Account => ({
    id: n === 0 ? s.session.operator : uuid(n, 0x10),
    username,
    name,
    enabled,
    roles: roles.map((r) => r.id),
  });
  s.accessData = {
    roles: [administrators, requesters, issuers],
    operators: [
      account(0, "admin", s.session.display_name, [administrators]),
      account(1, "rita", "Rita Requester", [requesters]),
      account(2, "ivy", "Ivy Issuer", [issuers]),
      // Disabled: holding Administrators does not count as someone who can still administer.
      account(3, "otto", "Otto Olsen", [administrators], false),
    ],
    useCases: USE_CASES.map((u) => u.key).filter((k) => k !== "direct_issue" && k !== "prov" && k !== "walkup"),
    approvalStep: true,
  };
  return s.accessData;
}

const byName = (a: string, b: string): number => a.toLowerCase().localeCompare(b.toLowerCase());

function accessView(s: FakeState): AccessView {
  const data = stored(s);
  const profileName = new Map(s.profiles.map((p) => [p.id, p.name]));
  const roleName = new Map(data.roles.map((r) => [r.id, r.name]));
  const operators: OperatorRow[] = data.operators
    .map((o) => ({
      id: o.id,
      username: o.username,
      name: o.name,
      enabled: o.enabled,
      roles: [...o.roles],
      role_names: o.roles.flatMap((r) => roleName.get(r) ?? []).sort(byName),
      is_you: o.id === s.session.operator,
    }))
    .sort((a, b) => byName(a.name, b.name) || a.username.localeCompare(b.username));
  const roles: RoleView[] = data.roles
    .map((r) => ({
      id: r.id,
      name: r.name,
      grants: grantsInWords(r, profileName),
      holders: operators.filter((o) => o.roles.includes(r.id)).map((o) => o.name),
      form: { id: r.id, name: r.name, global: [...r.global], per_profile: r.per_profile.map((g) => ({ ...g, profiles: [...g.profiles] })) },
    }))
    .sort((a, b) => byName(a.name, b.name));
  const use_cases: UseCaseSwitch[] = USE_CASES.map((u) => ({ ...u, enabled: data.useCases.includes(u.key), required: REQUIRED.has(u.key) }));
  const view: AccessView = {
    roles,
    operators,
    use_cases,
    approval_step: data.approvalStep,
    self_enrollment: { period_days: 14, max_attempts: 5, kiosk_idle_timeout_secs: 60 },
    global_permissions: GLOBAL,
    profile_permissions: PER_PROFILE,
    profiles: s.profiles.map((p) => ({ id: p.id, name: p.name })).sort((a, b) => byName(a.name, b.name)),
    change: s.accessRefusal === null ? allowed("change_access", "Save") : refused("change_access", "Save", s.accessRefusal),
  };
  return JSON.parse(JSON.stringify(view)) as AccessView;
}

/** "Can Collect: Staff PIV (contact), Staff PIV + contactless": globals first, profiles by name. */
function grantsInWords(r: Role, profileName: Map<string, string>): string[] {
  const title = (list: Choice[], key: string): string => list.find((c) => c.key === key)?.title ?? key;
  const out = GLOBAL.filter((g) => r.global.includes(g.key)).map((g) => g.title);
  for (const g of r.per_profile) {
    const on = g.every_profile ? "every profile" : g.profiles.map((p) => profileName.get(p) ?? "a profile not synced yet").join(", ");
    out.push(`${title(PER_PROFILE, g.permission)}: ${on}`);
  }
  return out;
}

/** What a change decides: the new directory, or the registry's refusal. */
type Decision = { ok: true; apply: () => void } | { ok: false; error: ErrorView };

/**
 * A change goes through the registry: refused without Administer, refused with its reason,
 * applied and answered with the new view. Offline it is kept in the station's queue ("queued"),
 * applied here as the registry will when it is sent.
 */
function change(s: FakeState, decide: () => Decision): Promise<AccessView> {
  if (s.accessRefusal !== null) return s.fail(err("not-permitted", s.accessRefusal));
  const d = decide();
  if (!s.sync.online) {
    if (d.ok) d.apply();
    return s.fail(err("queued", "queued, will be sent when the registry is reachable"));
  }
  if (!d.ok) return s.fail(d.error);
  d.apply();
  return s.later(accessView(s));
}

const refuse = (code: ErrorCode, message: string): Decision => ({ ok: false, error: err(code, message) });

/** A role as the registry compares it: keys in order, "only" grants on no profile dropped. */
function normal(r: Omit<Role, "id">): Omit<Role, "id"> {
  const per_profile: ProfileGrant[] = PER_PROFILE.flatMap((p) => {
    const g = r.per_profile.find((x) => x.permission === p.key);
    if (g === undefined || (!g.every_profile && g.profiles.length === 0)) return [];
    return [{ permission: p.key, every_profile: g.every_profile, profiles: g.every_profile ? [] : [...new Set(g.profiles)].sort() }];
  });
  return { name: r.name.trim(), global: GLOBAL.map((g) => g.key).filter((k) => r.global.includes(k)), per_profile };
}

/** Whether some enabled account holding `roles` (by account) could still administer. */
function someAdministrator(roles: Role[], operators: Account[]): boolean {
  const administers = new Set(roles.filter((r) => r.global.includes("administer")).map((r) => r.id));
  return operators.some((o) => o.enabled && o.roles.some((r) => administers.has(r)));
}

const LAST_ADMINISTRATOR = "no enabled operator would hold Administer afterwards: keep it on at least one operator";

function saveRole(s: FakeState, f: RoleForm): Decision {
  const data = stored(s);
  if (f.name.trim() === "") return refuse("bad-input", "a role needs a name");
  const unknown = [...f.global.filter((k) => !GLOBAL.some((g) => g.key === k)), ...f.per_profile.map((g) => g.permission).filter((k) => !PER_PROFILE.some((p) => p.key === k))];
  if (unknown.length > 0) return refuse("bad-input", `${JSON.stringify(unknown[0])} is not a permission`);
  const next = normal(f);
  const clash = data.roles.find((r) => r.id !== f.id && r.name.toLowerCase() === next.name.toLowerCase());
  if (clash) return refuse("already-exists", `a role named ${JSON.stringify(clash.name)} already exists`);
  for (const g of next.per_profile) {
    const missing = g.profiles.find((p) => !s.profiles.some((x) => x.id === p));
    if (missing !== undefined) return refuse("not-found", `no credential profile ${missing}`);
  }
  const current = f.id === null ? undefined : data.roles.find((r) => r.id === f.id);
  if (f.id !== null && current === undefined) return refuse("not-found", `no role ${f.id}`);
  if (current !== undefined && JSON.stringify(normal(current)) === JSON.stringify(next)) {
    return refuse("unchanged", `role ${JSON.stringify(current.name)} already grants exactly this`);
  }
  const role: Role = { id: current?.id ?? uuid(s.seq++, 0xf), ...next };
  const roles = current === undefined ? [...data.roles, role] : data.roles.map((r) => (r.id === role.id ? role : r));
  if (!someAdministrator(roles, data.operators)) return refuse("last-administrator", LAST_ADMINISTRATOR);
  return { ok: true, apply: () => (data.roles = roles) };
}

function setOperatorRoles(s: FakeState, operator: string, wanted: string[]): Decision {
  const data = stored(s);
  const account = data.operators.find((o) => o.id === operator);
  if (account === undefined) return refuse("not-found", `no operator ${operator}`);
  const missing = wanted.find((r) => !data.roles.some((x) => x.id === r));
  if (missing !== undefined) return refuse("not-found", `no role ${missing}`);
  const roles = [...new Set(wanted)];
  if (roles.length === account.roles.length && roles.every((r) => account.roles.includes(r))) {
    return refuse("unchanged", `${account.username} already holds exactly these roles`);
  }
  const operators = data.operators.map((o) => (o.id === operator ? { ...o, roles } : o));
  if (!someAdministrator(data.roles, operators)) return refuse("last-administrator", LAST_ADMINISTRATOR);
  return { ok: true, apply: () => (data.operators = operators) };
}

function setUseCases(s: FakeState, f: UseCaseForm): Decision {
  const data = stored(s);
  const unknown = f.enabled.find((k) => !USE_CASES.some((u) => u.key === k));
  if (unknown !== undefined) return refuse("bad-input", `${JSON.stringify(unknown)} is not a use case`);
  const off = USE_CASES.find((u) => REQUIRED.has(u.key) && !f.enabled.includes(u.key));
  if (off !== undefined) return refuse("use-case-required", `${off.title} (${off.id}) cannot be disabled`);
  const enabled = USE_CASES.map((u) => u.key).filter((k) => f.enabled.includes(k));
  if (f.approval_step === data.approvalStep && enabled.length === data.useCases.length && enabled.every((k) => data.useCases.includes(k))) {
    return refuse("unchanged", "the use cases and the approval step are already so");
  }
  return {
    ok: true,
    apply: () => {
      data.useCases = enabled;
      data.approvalStep = f.approval_step;
    },
  };
}
