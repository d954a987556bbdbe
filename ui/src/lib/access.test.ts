import { describe, expect, it } from "vitest";
import type { AccessView, Choice, RoleForm, UseCaseSwitch } from "../bindings";
import {
  ADMIN_TABS,
  emptyRoleForm,
  grantLines,
  holdersText,
  operatorLabel,
  operatorSavedText,
  roleDraftOf,
  roleFormTitle,
  roleFormToSend,
  roleIn,
  roleSavedText,
  rolesText,
  SCOPES,
  scopeOf,
  tabMove,
  toggled,
  USE_CASES_SAVED,
  useCaseDraftOf,
  useCaseFormOf,
  useCaseOn,
  useCasesChanged,
} from "./access";

const PER_PROFILE: Choice[] = [
  { key: "can_request", title: "Can Request" },
  { key: "can_collect", title: "Can Collect" },
  { key: "can_approve", title: "Can Approve" },
];

const issuers: RoleForm = {
  id: "r3",
  name: "Issuers",
  global: ["unblock_pin", "manage_batches"],
  per_profile: [
    { permission: "can_collect", every_profile: false, profiles: ["p1", "p2"] },
    { permission: "can_approve", every_profile: true, profiles: [] },
  ],
};

const sw = (key: string, id: string, enabled: boolean, required = false): UseCaseSwitch => ({ key, id, title: key, enabled, required });
const SWITCHES: UseCaseSwitch[] = [
  sw("sign_in", "UC-SIGNIN", true, true),
  sw("issue", "UC-ISSUE", true),
  sw("direct_issue", "UC-ISSUE", false),
  sw("temp", "UC-TEMP", true),
  sw("temp_initialize", "UC-TEMP", false),
  sw("audit", "UC-AUDIT", true),
  sw("admin", "UC-ADMIN", true, true),
];

describe("role form", () => {
  it("reads each per-profile permission's scope from a role's form", () => {
    expect(scopeOf(issuers, "can_collect")).toEqual({ scope: "only", profiles: ["p1", "p2"] });
    expect(scopeOf(issuers, "can_approve")).toEqual({ scope: "every", profiles: [] });
    expect(scopeOf(issuers, "can_request")).toEqual({ scope: "none", profiles: [] });
    // "Only" on no profile grants nothing.
    expect(scopeOf({ ...issuers, per_profile: [{ permission: "can_request", every_profile: false, profiles: [] }] }, "can_request").scope).toBe("none");
  });

  it("makes a draft with one grant per permission offered, in the backend's order, as a copy", () => {
    const d = roleDraftOf(issuers, PER_PROFILE);
    expect(d).toEqual({
      id: "r3",
      name: "Issuers",
      global: ["unblock_pin", "manage_batches"],
      grants: [
        { permission: "can_request", scope: "none", profiles: [] },
        { permission: "can_collect", scope: "only", profiles: ["p1", "p2"] },
        { permission: "can_approve", scope: "every", profiles: [] },
      ],
    });
    d.global.push("erase");
    d.grants[1]?.profiles.push("p3");
    expect(issuers.global).toEqual(["unblock_pin", "manage_batches"]);
    expect(issuers.per_profile[0]?.profiles).toEqual(["p1", "p2"]);
  });

  it("makes an empty draft for a new role", () => {
    expect(emptyRoleForm()).toEqual({ id: null, name: "", global: [], per_profile: [] });
    const d = roleDraftOf(null, PER_PROFILE);
    expect(d.id).toBeNull();
    expect(d.name).toBe("");
    expect(d.grants.map((g) => g.scope)).toEqual(["none", "none", "none"]);
  });

  it("builds the RoleForm: global ticks, a grant per permission not 'none', profiles only for 'only'", () => {
    const d = roleDraftOf(null, PER_PROFILE);
    d.name = "  Unblockers ";
    d.global = ["unblock_pin", "unblock_pin"];
    d.grants = [
      { permission: "can_request", scope: "only", profiles: ["p1"] },
      // Profiles ticked before "Every profile" was picked are not sent.
      { permission: "can_collect", scope: "every", profiles: ["p2"] },
      { permission: "can_approve", scope: "none", profiles: ["p1"] },
    ];
    expect(roleFormToSend(d)).toEqual({
      ok: true,
      form: {
        id: null,
        name: "Unblockers",
        global: ["unblock_pin"],
        per_profile: [
          { permission: "can_request", every_profile: false, profiles: ["p1"] },
          { permission: "can_collect", every_profile: true, profiles: [] },
        ],
      },
    });
  });

  it("sends an unchanged role as it came", () => {
    const r = roleFormToSend(roleDraftOf(issuers, PER_PROFILE));
    expect(r.ok && r.form).toEqual(issuers);
  });

  it("needs a name, and checks nothing else", () => {
    const d = roleDraftOf(null, PER_PROFILE);
    d.name = "   ";
    expect(roleFormToSend(d)).toEqual({ ok: false, problem: "Give the role a name." });
    d.name = "Nothing";
    d.grants[0] = { permission: "can_request", scope: "only", profiles: [] };
    const r = roleFormToSend(d);
    expect(r.ok && r.form.per_profile).toEqual([{ permission: "can_request", every_profile: false, profiles: [] }]);
  });

  it("offers the three scopes with their labels", () => {
    expect(SCOPES.map((s) => [s.value, s.label])).toEqual([
      ["none", "Not granted"],
      ["every", "Every profile"],
      ["only", "Only these:"],
    ]);
  });

  it("ticks and unticks", () => {
    expect(toggled(["a"], "b", true)).toEqual(["a", "b"]);
    expect(toggled(["a", "b"], "a", true)).toEqual(["b", "a"]);
    expect(toggled(["a", "b"], "a", false)).toEqual(["b"]);
    expect(toggled([], "a", false)).toEqual([]);
  });
});

describe("use-case switches", () => {
  const view = { use_cases: SWITCHES, approval_step: true };

  it("starts from the view, required ones on", () => {
    const d = useCaseDraftOf({ use_cases: [...SWITCHES, sw("odd", "UC-ODD", false, true)], approval_step: true });
    expect(d).toEqual({ enabled: ["sign_in", "issue", "temp", "audit", "admin", "odd"], approval_step: true });
    expect(useCasesChanged(view, useCaseDraftOf(view))).toBe(false);
  });

  it("builds the UseCaseForm from the ticks, keyed by key (two switches can share a spec id), required always in", () => {
    const d = { enabled: ["temp_initialize", "issue"], approval_step: false };
    expect(useCaseOn(SWITCHES[0] as UseCaseSwitch, d)).toBe(true);
    expect(useCaseFormOf(SWITCHES, d)).toEqual({ enabled: ["sign_in", "issue", "temp_initialize", "admin"], approval_step: false });
    expect(useCasesChanged(view, d)).toBe(true);
    expect(useCasesChanged(view, { ...useCaseDraftOf(view), approval_step: false })).toBe(true);
  });
});

describe("words", () => {
  it("names operators by name and user name, and their roles", () => {
    expect(operatorLabel({ name: "Rita Requester", username: "rita" })).toBe("Rita Requester (rita)");
    expect(operatorLabel({ name: "rita", username: "rita" })).toBe("rita");
    expect(operatorLabel({ name: " ", username: "rita" })).toBe("rita");
    expect(rolesText({ role_names: ["Issuers", "Requesters"] })).toBe("Issuers, Requesters");
    expect(rolesText({ role_names: [] })).toBe("No role");
  });

  it("says what a role grants and who holds it", () => {
    expect(holdersText({ holders: ["Ivy Issuer", "Rita Requester"] })).toBe("Held by Ivy Issuer, Rita Requester");
    expect(holdersText({ holders: [] })).toBe("Nobody holds it");
    expect(grantLines({ grants: [] })).toEqual(["Grants nothing"]);
    expect(grantLines({ grants: ["Unblock PIN"] })).toEqual(["Unblock PIN"]);
    expect(roleFormTitle({ id: null }, "")).toBe("New role");
    expect(roleFormTitle({ id: "r3" }, "Issuers")).toBe("Change role Issuers");
  });

  it("confirms saves", () => {
    expect(roleSavedText("Unblockers")).toBe("Role Unblockers saved.");
    expect(operatorSavedText({ name: "Rita Requester", username: "rita" })).toBe("Roles of Rita Requester (rita) saved.");
    expect(USE_CASES_SAVED).toBe("Use cases saved.");
  });

  it("finds a role again in a refreshed view", () => {
    const view = { roles: [{ id: "r3", name: "Issuers", grants: [], holders: [], form: issuers }] } as unknown as AccessView;
    expect(roleIn(view, "r3")?.name).toBe("Issuers");
    expect(roleIn(view, "gone")).toBeNull();
    expect(roleIn(view, null)).toBeNull();
    expect(roleIn(null, "r3")).toBeNull();
  });
});

describe("admin tabs", () => {
  it("has Profiles first (the default) and Access", () => {
    expect(ADMIN_TABS.map((t) => t.label)).toEqual(["Profiles", "Access", "Mailbox"]);
  });

  it("moves with the arrow keys, Home and End, wrapping around", () => {
    expect(tabMove("ArrowRight", "profiles")).toBe("access");
    expect(tabMove("ArrowRight", "access")).toBe("mailbox");
    expect(tabMove("ArrowRight", "mailbox")).toBe("profiles");
    expect(tabMove("ArrowLeft", "profiles")).toBe("mailbox");
    expect(tabMove("ArrowDown", "profiles")).toBe("access");
    expect(tabMove("ArrowUp", "access")).toBe("profiles");
    expect(tabMove("Home", "access")).toBe("profiles");
    expect(tabMove("End", "profiles")).toBe("mailbox");
    expect(tabMove("Enter", "profiles")).toBeNull();
  });
});
