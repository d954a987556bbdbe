// Types, made-up names and small helpers shared by every area of the stand-in backend (no state).
import type { ActionView, CardStep, commands, DeviceView, ErrorCode, ErrorView, PersonRef, ProfileAdminView, ProfileFacts, ProfileGrant } from "../../bindings";
import type { Answer } from "../../lib/contract";

export type Commands = typeof commands;
export type Args = Record<string, unknown>;
/** Handlers of one area: each answers exactly what its command declares. */
export type AreaHandlers<K extends keyof Commands> = { [P in K]: (args: Args) => Promise<Answer<P>> };

export interface FakeOptions {
  /** Delay between card steps and before answers, in ms. */
  delayMs: number;
  /** Start with a session already signed in. */
  signedIn?: boolean;
  offline?: boolean;
  /** Started as a walk-up kiosk (`--kiosk`). */
  kiosk?: boolean;
}

export interface Person {
  ref: PersonRef;
  email: string;
  employee_id: string;
}

/** A credential profile as the admin area keeps it: its view, and what the form never edits. */
export interface FakeProfile {
  fixed: Pick<ProfileFacts, "interfaces" | "slots" | "management_key" | "temporary">;
  view: ProfileAdminView;
}

/** Roles, operator accounts and use-case switches as the access area keeps them (the registry's directory). */
export interface FakeAccess {
  roles: { id: string; name: string; global: string[]; per_profile: ProfileGrant[] }[];
  operators: { id: string; username: string; name: string; enabled: boolean; roles: string[] }[];
  /** The use cases on, by key. */
  useCases: string[];
  approvalStep: boolean;
}

/** A card of ours, as a reader holds it. */
export type OursView = Extract<DeviceView, { kind: "ours" }>;

export const FIRST = ["Anna", "Bruno", "Chiara", "Dmitri", "Elif", "Farah", "Gustav", "Hana", "Ivo", "Jonas", "Kirsten", "Lars", "Maja", "Nils", "Olga", "Pieter", "Quentin", "Rosa", "Sanna", "Tomas", "Ulla", "Viktor", "Wiebke", "Xenia", "Yusuf", "Zofia"];
export const LAST = ["Berg", "Costa", "Dahl", "Eriksen", "Fischer", "Garcia", "Holm", "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Olsen", "Petrov", "Quist", "Rossi", "Schmidt", "Tanaka", "Urban", "Vogel", "Weber", "Yilmaz", "Zeller", "Andersson", "Bakker", "Conti", "Duarte", "Engel", "Forsberg", "Greco", "Haas", "Ito", "Jovanovic", "Keller", "Laine", "Meyer", "Nieminen", "Ortiz", "Popescu", "Quinn", "Richter", "Silva", "Thomsen", "Uhl", "Varga", "Wolff", "Young", "Zima", "Aalto", "Brandt", "Claes", "Dietrich", "Ek", "Falk", "Gruber", "Hansen", "Isaksen", "Jakobsen", "Kraus", "Lund", "Mertens", "Nyberg", "Otto", "Pohl", "Roth", "Sauer", "Teller", "Unger", "Voss", "Winter", "Zimmer", "Adler", "Beck", "Conrad", "Dorn", "Eberhardt", "Frank", "Graf", "Horn", "Jung", "Kuhn", "Lang", "Marx", "Naumann", "Ott", "Peters", "Ritter", "Stein", "Thiel", "Ulrich", "Vetter", "Walter", "Ziegler", "Arnold", "Bauer", "Christensen", "Dreyer", "Ernst", "Fuchs", "Gerber", "Hein", "Jost", "Kramer", "Lehmann", "Martin", "Neumann", "Pfeiffer", "Reuter", "Schulz", "Thomas", "Vogt", "Wagner"];

/** State words as the backend's `label()` gives them. */
export const STATE_LABELS: Record<string, string> = {
  active: "Active",
  inactive: "Inactive",
  locked: "Locked",
  erased: "Erased",
  valid: "Valid",
  on_hold: "On hold",
  revoked: "Revoked",
  ordered: "Ordered",
  produced: "Produced",
  unassigned: "Unassigned",
  assigned: "Assigned",
  expired: "Expired",
};

/** "signIn" → "sign_in": the IPC name tauri-specta derives from the Rust function. */
export const ipcName = (command: string): string => command.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export const uuid = (n: number, kind: number): string =>
  `0190${kind.toString(16).padStart(4, "0")}-0000-7000-8000-${n.toString(16).padStart(12, "0")}`;

export function err(code: ErrorCode, message: string, tries: number | null = null): ErrorView {
  return { code, message, refusal: null, tries };
}

export const allowed = (action: string, label: string): ActionView => ({ action, label, allowed: true, reason: null });
export const refused = (action: string, label: string, reason: string): ActionView => ({ action, label, allowed: false, reason });

export const str = (args: Args, k: string): string => String(args[k] ?? "");
export const channelId = (args: Args, k: string): number => (args[k] as { id: number }).id;

/** The steps of issuing a card (issue, resume, batch). */
export function issueSteps(): CardStep[] {
  return [
    { step: "authenticate" },
    { step: "set_management_key", algorithm: "AES-192" },
    { step: "generate_key", slot: "9a", algorithm: "ECC P-256" },
    { step: "prove_and_certify", slot: "9a" },
    { step: "write_certificate", slot: "9a" },
    { step: "generate_key", slot: "9c", algorithm: "ECC P-256" },
    { step: "prove_and_certify", slot: "9c" },
    { step: "write_certificate", slot: "9c" },
    { step: "write_chuid" },
    { step: "write_ccc" },
    { step: "set_retries", pin: 3, puk: 3 },
    { step: "set_pin" },
    { step: "set_puk" },
    { step: "read_back" },
  ];
}
