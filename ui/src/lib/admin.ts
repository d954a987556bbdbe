// The Admin screen (UC-ADMIN): credential profiles with their versions, the edit form, use cases
// and the operator's permissions. Every rule about what a profile may be is the backend's: the
// form only makes sure it has something to send (a name, whole numbers); the backend's refusal,
// with its reason, is what the operator reads otherwise.
import type { AdminView, ProfileAdminView, ProfileForm, ProfileVersionRow } from "../bindings";
import { formatCount } from "./audit";

/** The form while it is edited: a cleared number field holds null (Svelte's number binding). */
export type ProfileDraft = { [K in keyof ProfileForm]: ProfileForm[K] extends number ? number | null : ProfileForm[K] };

/** The number fields of the form, in the order shown. */
export type NumberField = {
  [K in keyof ProfileForm]: ProfileForm[K] extends number ? K : never;
}[keyof ProfileForm];

/**
 * Number fields with their labels and the largest value the contract's integer holds (`u8`,
 * `u32` on the Rust side): a larger one could not even reach the backend.
 */
export const NUMBER_FIELDS: { key: NumberField; label: string; hint: string | null; largest: number }[] = [
  { key: "pin_min_length", label: "PIN min length", hint: null, largest: 255 },
  { key: "pin_max_length", label: "PIN max length", hint: "Generated PINs have this length.", largest: 255 },
  { key: "pin_retries", label: "PIN tries", hint: "Before the PIN blocks.", largest: 255 },
  { key: "puk_length", label: "PUK length", hint: null, largest: 255 },
  { key: "puk_retries", label: "PUK tries", hint: "Before the PUK blocks.", largest: 255 },
  { key: "card_validity_days", label: "Card validity (days)", hint: null, largest: 4_294_967_295 },
];

/**
 * The end states a profile leaves a card and its certificates in, as the form offers them
 * (`card_ends_active`: active, else issued and activated later; `certificates_end_valid`: valid,
 * else on hold).
 */
export const CARD_END_CHOICES: { value: boolean; label: string }[] = [
  { value: true, label: "Active" },
  { value: false, label: "Issued (activated later)" },
];
export const CERTIFICATE_END_CHOICES: { value: boolean; label: string }[] = [
  { value: true, label: "Valid" },
  { value: false, label: "On hold" },
];

/** The form over a profile's latest version (a copy: editing it changes nothing shown). */
export function draftOf(p: Pick<ProfileAdminView, "form">): ProfileDraft {
  return { ...p.form };
}

/**
 * The form ready to send, or what is missing before it can be sent at all: an empty name, a
 * number field left empty or not a whole number. Whether the values make a valid profile is the
 * backend's to say.
 */
export function formToSend(d: ProfileDraft): { ok: true; form: ProfileForm } | { ok: false; field: keyof ProfileForm; problem: string } {
  if (d.name.trim() === "") return { ok: false, field: "name", problem: "Give the profile a name." };
  const form: ProfileForm = { ...d, name: d.name.trim() } as ProfileForm;
  for (const f of NUMBER_FIELDS) {
    const v = d[f.key];
    if (v === null || typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      return { ok: false, field: f.key, problem: `${f.label}: give a whole number.` };
    }
    if (v > f.largest) return { ok: false, field: f.key, problem: `${f.label}: ${String(v)} is too large.` };
    form[f.key] = v;
  }
  return { ok: true, form };
}

/** "v3": the version beside a profile's name. */
export function versionTag(version: number): string {
  return `v${version}`;
}

/** The profile's per-profile permissions for this operator, or "none". */
export function yourPermissionsText(p: Pick<ProfileAdminView, "your_permissions">): string {
  return p.your_permissions.length === 0 ? "none" : p.your_permissions.join(", ");
}

/** The card validity in days, in words. */
export function daysText(days: number, locale?: string): string {
  return days === 1 ? "1 day" : `${formatCount(days, locale)} days`;
}

export interface VersionLine {
  version: number;
  title: string;
  current: boolean;
  cards: string;
  changes: string[];
}

/** A version of the history as shown: its cards in service and what it changed. */
export function versionLine(row: ProfileVersionRow, latest: number, locale?: string): VersionLine {
  const changes = row.changes.length > 0 ? row.changes : row.version === 1 ? ["First version"] : ["No change to the settings shown here"];
  return {
    version: row.version,
    title: `Version ${row.version}${row.version === latest ? " (current)" : ""}`,
    current: row.version === latest,
    cards: row.cards === 0 ? "No card in service" : row.cards === 1 ? "1 card in service" : `${formatCount(row.cards, locale)} cards in service`,
    changes,
  };
}

/** The history, newest first (as the backend sends it; sorted again so the order never depends on it). */
export function versionLines(p: Pick<ProfileAdminView, "versions" | "version">, locale?: string): VersionLine[] {
  return [...p.versions].sort((a, b) => b.version - a.version).map((r) => versionLine(r, p.version, locale));
}

/** The profile with this id in a (refreshed) view, if it is still there. */
export function profileIn(view: AdminView | null, id: string | null): ProfileAdminView | null {
  if (view === null || id === null) return null;
  return view.profiles.find((p) => p.id === id) ?? null;
}

/** The confirmation after a save: the version the profile is at now. */
export function savedText(version: number): string {
  return `Saved as version ${version}`;
}

/** The note under the form: what a save does and what is not edited here. */
export function saveNote(version: number): string {
  return `Saving makes version ${version + 1}; cards keep the version they were encoded with.`;
}

/** Arrow-key movement through the profile list: the index to focus next, or null for other keys. */
export function listMove(key: string, index: number, count: number): number | null {
  if (count === 0) return null;
  switch (key) {
    case "ArrowDown":
      return Math.min(index + 1, count - 1);
    case "ArrowUp":
      return Math.max(index - 1, 0);
    case "Home":
      return 0;
    case "End":
      return count - 1;
    default:
      return null;
  }
}
