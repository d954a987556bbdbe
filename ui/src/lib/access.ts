// The Access tab of the Admin screen (UC-ADMIN): roles and what they grant, the roles each
// operator holds, and the use-case switches. Every rule (unique names, a change that changes
// nothing, someone must still be able to administer, sign-in and administration stay on) is the
// registry's: the forms here only make sure there is something to send (a role name).
import type { AccessView, Choice, OperatorRow, ProfileGrant, RoleForm, RoleView, UseCaseForm, UseCaseSwitch } from "../bindings";

/** How far a per-profile permission reaches in the form. */
export type Scope = "none" | "every" | "only";

/** The three choices of a per-profile permission, in the order shown. */
export const SCOPES: { value: Scope; label: string }[] = [
  { value: "none", label: "Not granted" },
  { value: "every", label: "Every profile" },
  { value: "only", label: "Only these:" },
];

/** One per-profile permission while the form is edited. */
export interface GrantDraft {
  /** The permission's key (`can_collect`). */
  permission: string;
  scope: Scope;
  /**
   * The profiles ticked under "Only these:". Kept when another scope is picked, so going back to
   * "Only these:" finds them again; sent only for "only".
   */
  profiles: string[];
}

/** The role form while it is edited. */
export interface RoleDraft {
  /** The role changed; null for a new one. */
  id: string | null;
  name: string;
  /** Global permissions ticked, by key. */
  global: string[];
  /** One entry per per-profile permission the backend offers, in its order. */
  grants: GrantDraft[];
}

/** An empty role: nothing granted. */
export function emptyRoleForm(): RoleForm {
  return { id: null, name: "", global: [], per_profile: [] };
}

/** The scope of `permission` in a role's form, and the profiles an "only" grant names. */
export function scopeOf(form: RoleForm, permission: string): { scope: Scope; profiles: string[] } {
  const grant = form.per_profile.find((g) => g.permission === permission);
  if (grant === undefined) return { scope: "none", profiles: [] };
  if (grant.every_profile) return { scope: "every", profiles: [] };
  // An "only" grant on no profile grants nothing.
  return grant.profiles.length === 0 ? { scope: "none", profiles: [] } : { scope: "only", profiles: [...grant.profiles] };
}

/** The form over a role (a copy: editing it changes nothing shown), or over a new one. */
export function roleDraftOf(form: RoleForm | null, profilePermissions: Choice[]): RoleDraft {
  const f = form ?? emptyRoleForm();
  return {
    id: f.id,
    name: f.name,
    global: [...f.global],
    grants: profilePermissions.map((p) => ({ permission: p.key, ...scopeOf(f, p.key) })),
  };
}

/**
 * The role ready to send, or why it cannot be sent at all (no name). A grant on "Only these:"
 * with nothing ticked is sent as it is: the registry drops it (it grants nothing).
 */
export function roleFormToSend(d: RoleDraft): { ok: true; form: RoleForm } | { ok: false; problem: string } {
  const name = d.name.trim();
  if (name === "") return { ok: false, problem: "Give the role a name." };
  const per_profile: ProfileGrant[] = d.grants
    .filter((g) => g.scope !== "none")
    .map((g) => ({ permission: g.permission, every_profile: g.scope === "every", profiles: g.scope === "only" ? [...g.profiles] : [] }));
  return { ok: true, form: { id: d.id, name, global: unique(d.global), per_profile } };
}

/** `list` with `key` in it (at the end) or out of it. */
export function toggled(list: readonly string[], key: string, on: boolean): string[] {
  const without = list.filter((k) => k !== key);
  return on ? [...without, key] : without;
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}

/** The use-case switches while they are edited. */
export interface UseCaseDraft {
  /** Use cases ticked, by key. */
  enabled: string[];
  approval_step: boolean;
}

/** The switches as the view has them. */
export function useCaseDraftOf(view: Pick<AccessView, "use_cases" | "approval_step">): UseCaseDraft {
  return { enabled: view.use_cases.filter((u) => u.enabled || u.required).map((u) => u.key), approval_step: view.approval_step };
}

/** Whether the switch shows as on: required ones always are. */
export function useCaseOn(u: UseCaseSwitch, d: UseCaseDraft): boolean {
  return u.required || d.enabled.includes(u.key);
}

/** The switches ready to send: the ticked ones and the required ones, in the view's order. */
export function useCaseFormOf(switches: UseCaseSwitch[], d: UseCaseDraft): UseCaseForm {
  return { enabled: switches.filter((u) => useCaseOn(u, d)).map((u) => u.key), approval_step: d.approval_step };
}

/** Whether the switches differ from the view's (the section says so before saving). */
export function useCasesChanged(view: Pick<AccessView, "use_cases" | "approval_step">, d: UseCaseDraft): boolean {
  if (view.approval_step !== d.approval_step) return true;
  return view.use_cases.some((u) => (u.enabled || u.required) !== useCaseOn(u, d));
}

/** An operator as the screen names them: "Rita Requester (rita)", or the user name alone. */
export function operatorLabel(o: Pick<OperatorRow, "name" | "username">): string {
  return o.name.trim() === "" || o.name === o.username ? o.username : `${o.name} (${o.username})`;
}

/** The roles an operator holds, in words. */
export function rolesText(o: Pick<OperatorRow, "role_names">): string {
  return o.role_names.length === 0 ? "No role" : o.role_names.join(", ");
}

/** Who holds a role, in words. */
export function holdersText(r: Pick<RoleView, "holders">): string {
  return r.holders.length === 0 ? "Nobody holds it" : `Held by ${r.holders.join(", ")}`;
}

/** What a role grants, one line each; a role granting nothing says so. */
export function grantLines(r: Pick<RoleView, "grants">): string[] {
  return r.grants.length === 0 ? ["Grants nothing"] : r.grants;
}

/** The heading of the role form. */
export function roleFormTitle(d: Pick<RoleDraft, "id">, name: string): string {
  return d.id === null ? "New role" : `Change role ${name}`;
}

/** The confirmations after a save. */
export const roleSavedText = (name: string): string => `Role ${name} saved.`;
export const operatorSavedText = (o: Pick<OperatorRow, "name" | "username">): string => `Roles of ${operatorLabel(o)} saved.`;
export const USE_CASES_SAVED = "Use cases saved.";

/** The role of this id in a (refreshed) view, if it is still there. */
export function roleIn(view: AccessView | null, id: string | null): RoleView | null {
  if (view === null || id === null) return null;
  return view.roles.find((r) => r.id === id) ?? null;
}

/** The tabs of the Admin screen, in order; Profiles is the default. */
export type AdminTab = "profiles" | "access" | "mailbox";
export const ADMIN_TABS: { id: AdminTab; label: string }[] = [
  { id: "profiles", label: "Profiles" },
  { id: "access", label: "Access" },
  { id: "mailbox", label: "Mailbox" },
];

/** Arrow keys, Home and End on a tab: the tab to show next, or null for other keys (wraps around). */
export function tabMove(key: string, current: AdminTab): AdminTab | null {
  const i = ADMIN_TABS.findIndex((t) => t.id === current);
  const n = ADMIN_TABS.length;
  let next: number;
  switch (key) {
    case "ArrowRight":
    case "ArrowDown":
      next = (i + 1) % n;
      break;
    case "ArrowLeft":
    case "ArrowUp":
      next = (i - 1 + n) % n;
      break;
    case "Home":
      next = 0;
      break;
    case "End":
      next = n - 1;
      break;
    default:
      return null;
  }
  return ADMIN_TABS[next]?.id ?? null;
}

/**
 * Enter in a field of the form saves it, also on a checkbox or radio button (where the webview
 * would not submit by itself).
 */
export function enterSubmits(e: KeyboardEvent): void {
  if (e.key !== "Enter" || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey || e.isComposing) return;
  const t = e.currentTarget;
  if (t instanceof HTMLInputElement && t.form !== null) {
    e.preventDefault();
    t.form.requestSubmit();
  }
}
