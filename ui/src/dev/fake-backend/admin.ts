// Fakes administration (UC-ADMIN): the credential profiles with every version and the cards on it,
// revising one (a new version, its changes in words; unchanged or out-of-range forms refused, a
// stale version a conflict, queued while offline), the use cases and the operator's permissions.
import type { AdminView, ProfileFacts, ProfileForm, ProfileRow, ProfileVersionRow } from "../../bindings";
import { allowed, err, refused, str, type AreaHandlers, type FakeProfile } from "./shared";
import type { FakeState } from "./state";

type AdminCommand = "administration" | "reviseProfile";

export function adminHandlers(s: FakeState): AreaHandlers<AdminCommand> {
  return {
    administration: () => s.later(adminView(s)),
    reviseProfile: (args) => revise(s, str(args, "profile"), Number(args["expectedVersion"]), args["form"] as ProfileForm),
  };
}

/** What a profile encodes beyond the form: it stays as it is across versions. */
type Fixed = FakeProfile["fixed"];

const CONTACT_SLOTS = [
  "PIV Authentication (9A): ECC P-256, CN={name}, 365 days",
  "Digital Signature (9C): ECC P-256, CN={name}, 365 days",
];

function form(name: string, o: Partial<ProfileForm> = {}): ProfileForm {
  return {
    name,
    validate_issuance: false,
    pin_min_length: 6,
    pin_max_length: 8,
    pin_retries: 3,
    puk_length: 8,
    puk_retries: 3,
    card_validity_days: 1825,
    card_ends_active: true,
    certificates_end_valid: true,
    ...o,
  };
}

/** Made on first use, over the same profiles the request form lists (FakeState.profiles). */
function stored(s: FakeState): FakeProfile[] {
  if (s.adminProfiles !== null) return s.adminProfiles;
  const [contact, contactless, visitor] = s.profiles as [ProfileRow, ProfileRow, ProfileRow];
  const make = (row: ProfileRow, fixed: Fixed, history: { form: ProfileForm; cards: number }[], yours: string[]): FakeProfile => {
    const versions: ProfileVersionRow[] = history.map((h, i) => ({
      version: i + 1,
      cards: h.cards,
      changes: i === 0 ? [] : changes((history[i - 1] as { form: ProfileForm }).form, h.form),
    }));
    const latest = (history[history.length - 1] as { form: ProfileForm }).form;
    return {
      fixed,
      view: { id: row.id, name: latest.name, version: versions.length, facts: facts(latest, fixed), form: latest, versions: versions.reverse(), your_permissions: yours },
    };
  };
  const staff1 = form(contact.name);
  const staff2 = { ...staff1, validate_issuance: true };
  const staff3 = { ...staff2, pin_retries: 5 };
  const visitor1 = form("Visitor card", { card_validity_days: 30, card_ends_active: false, puk_length: 6 });
  const visitor2 = { ...visitor1, name: visitor.name, card_validity_days: 14 };
  const list = [
    make(contact, { interfaces: "Contact", slots: CONTACT_SLOTS, management_key: "AES-256", temporary: false }, [
      { form: staff1, cards: 3 },
      { form: staff2, cards: 41 },
      { form: staff3, cards: 126 },
    ], ["Can Request", "Can Collect", "Can Approve"]),
    make(contactless, { interfaces: "Contact and contactless", slots: [...CONTACT_SLOTS, "Card Authentication (9E): ECC P-256, CN={name}, 365 days"], management_key: "AES-192", temporary: false }, [
      { form: form(contactless.name), cards: 18 },
    ], ["Can Request"]),
    make(visitor, { interfaces: "Contact", slots: [], management_key: "AES-128", temporary: true }, [
      { form: visitor1, cards: 2 },
      { form: visitor2, cards: 9 },
    ], []),
  ];
  s.adminProfiles = list;
  return list;
}

function adminView(s: FakeState): AdminView {
  const profiles = stored(s)
    .map((p) => p.view)
    .sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()));
  const on = (id: string, title: string, enabled = true): AdminView["use_cases"][number] => ({ id, title, enabled });
  const held = (title: string, yes: boolean): AdminView["permissions"][number] => ({ title, held: yes });
  const view: AdminView = {
    profiles,
    revise: s.adminRefusal === null ? allowed("revise_profile", "Save as a new version") : refused("revise_profile", "Save as a new version", s.adminRefusal),
    use_cases: [
      on("UC-SIGNIN", "Sign in"),
      on("UC-READ", "Read card"),
      on("UC-SEARCH", "Search"),
      on("UC-REQUEST", "Request card"),
      on("UC-APPROVE", "Approve requests"),
      on("UC-ISSUE", "Issue card"),
      on("UC-ISSUE", "Issue card without request", false),
      on("UC-BATCH", "Issue multiple cards"),
      on("UC-TEMP", "Temporary cards"),
      on("UC-TEMP", "Initialize temporary card"),
      on("UC-UPDATE", "Request and collect updates"),
      on("UC-PIN", "Unblock and change PIN"),
      on("UC-RETIRE", "Deactivate, cancel or erase a card"),
      on("UC-PROV", "Provisioning tasks", false),
      on("UC-WALKUP", "Walk-up initialization", false),
      on("UC-AUDIT", "Audit log and reports"),
      on("UC-SYNC", "Sync status"),
      on("UC-ADMIN", "Administration"),
    ],
    permissions: [
      held("Manage temporary cards", true),
      held("Manage batches", true),
      held("Manage provisioning tasks", false),
      held("Unblock PIN", true),
      held("Cancel / revoke", true),
      held("Erase", s.canErase),
      held("View audit", true),
      held("Administer", true),
    ],
  };
  return JSON.parse(JSON.stringify(view)) as AdminView;
}

function revise(s: FakeState, id: string, expected: number, f: ProfileForm): Promise<AdminView> {
  if (s.adminRefusal !== null) return s.fail(err("refused", s.adminRefusal));
  const p = stored(s).find((x) => x.view.id === id);
  if (p === undefined) return s.fail(err("not-found", `no credential profile ${id}`));
  const cur = p.view;
  if (cur.version !== expected) {
    return s.fail(err("version-conflict", `${cur.name} is at version ${cur.version} now, not ${expected}: someone saved it meanwhile; reload and edit again`));
  }
  const next: ProfileForm = { ...f, name: f.name.trim() };
  const invalid =
    next.name === ""
      ? "the name is empty"
      : !inRange(next.pin_min_length) || !inRange(next.pin_max_length)
        ? "PIN length must be 6 to 8 characters"
        : next.pin_min_length > next.pin_max_length
          ? "PIN minimum length exceeds its maximum"
          : null;
  if (invalid !== null) return s.fail(err("invalid-profile", `invalid credential profile: ${invalid}`));
  const changed = changes(cur.form, next);
  if (changed.length === 0) return s.fail(err("unchanged-profile", "nothing changed: this would be the same as the current version"));
  p.view = {
    ...cur,
    name: next.name,
    version: cur.version + 1,
    form: next,
    facts: facts(next, p.fixed),
    versions: [{ version: cur.version + 1, cards: 0, changes: changed }, ...cur.versions],
  };
  // The request form's list follows.
  const row = s.profiles.find((r) => r.id === id);
  if (row) Object.assign(row, { name: next.name, version: p.view.version, needs_approval: next.validate_issuance });
  // Saved here either way; offline it waits in the queue, as the station's outbox does.
  if (!s.sync.online) return s.fail(err("queued", "queued, will be sent when the registry is reachable"));
  return s.later(adminView(s));
}

const inRange = (n: number): boolean => Number.isInteger(n) && n >= 6 && n <= 8;

function pinWords(min: number, max: number, tries: number): string {
  return `${min === max ? String(min) : `${min}–${max}`} digits, ${tries} tries`;
}

function facts(f: ProfileForm, fixed: Fixed): ProfileFacts {
  return {
    ...fixed,
    pin: pinWords(f.pin_min_length, f.pin_max_length, f.pin_retries),
    puk: pinWords(f.puk_length, f.puk_length, f.puk_retries),
    approval: f.validate_issuance ? "Requests need approval" : "No approval",
    end_states: `Cards end ${f.card_ends_active ? "active" : "issued"}, certificates ${f.certificates_end_valid ? "valid" : "on hold"}`,
    card_validity_days: f.card_validity_days,
  };
}

/** What `b` changed from `a`, one phrase per setting (the backend's wording). */
function changes(a: ProfileForm, b: ProfileForm): string[] {
  const none: Fixed = { interfaces: "", slots: [], management_key: "", temporary: false };
  const fa = facts(a, none);
  const fb = facts(b, none);
  const out: string[] = [];
  const note = (what: string, before: string, after: string): void => {
    if (before !== after) out.push(`${what}: ${before} → ${after}`);
  };
  note("Name", a.name, b.name);
  note("Approval", fa.approval, fb.approval);
  note("PIN", fa.pin, fb.pin);
  note("PUK", fa.puk, fb.puk);
  note("Card validity", `${a.card_validity_days} days`, `${b.card_validity_days} days`);
  note("End states", fa.end_states, fb.end_states);
  return out;
}
