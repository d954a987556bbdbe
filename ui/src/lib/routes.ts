// Screens and the rules around moving between them.
import type { HitView, PersonRef, RequestRow } from "../bindings";
import type { CardJobSpec } from "./cardwork";
import type { Job } from "./contract";
import type { NavId } from "./nav";

export type Route =
  | { name: "cards"; reader: string | null }
  | { name: "search" }
  | { name: "person"; id: string }
  | { name: "record"; hit: HitView }
  | { name: "requests"; state: string | null; focus: string | null }
  | { name: "new-request"; person: PersonRef | null }
  | { name: "issue"; request: RequestRow | null; reader: string | null; resume: Job | null }
  | { name: "jobs" }
  | { name: "sync" }
  | { name: "temporary" }
  /** UC-PROV (seed 004): the task list, or task `task`'s details (by its number). */
  | { name: "provisioning"; task: number | null; report: boolean }
  | { name: "card-job"; reader: string | null; job: CardJobSpec }
  /** Offline PIN unblock (card not at the station); `card` names it (profile, serial). */
  | { name: "offline-unblock"; device: string; holder: PersonRef | null; card: string }
  | { name: "audit" }
  /** UC-ADMIN: credential profiles (edited here), use cases and permissions (shown). */
  | { name: "admin" }
  | { name: "batch"; batch: string | null; creating: boolean };

/**
 * Screens where the operator is entering something: a card insertion must not take them away.
 * Admin is one: its profile form holds checkboxes and radio buttons, which the focus check
 * below cannot see as typed-in.
 */
export function isFormRoute(r: Route): boolean {
  return r.name === "new-request" || r.name === "issue" || r.name === "batch" || r.name === "card-job" || r.name === "offline-unblock" || r.name === "admin" || r.name === "provisioning";
}

export interface FocusInfo {
  /** The focused element is a text field, select or textarea. */
  editable: boolean;
  /** It holds something the operator typed. */
  dirty: boolean;
  /** It is the global search box. */
  search: boolean;
}

/** On card insertion: open the card's view, or only make its chip pulse. */
export function insertionEffect(r: Route, focus: FocusInfo, overlayOpen: boolean): "open" | "pulse" {
  if (overlayOpen) return "pulse";
  if (isFormRoute(r)) return "pulse";
  if (focus.editable && focus.dirty && !focus.search) return "pulse";
  return "open";
}

export function sameRoute(a: Route, b: Route): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The nav item a route belongs to, for highlighting the rail. */
export function navOf(r: Route): string {
  switch (r.name) {
    case "cards":
      return "cards";
    case "search":
    case "person":
    case "record":
    case "offline-unblock":
      return "search";
    case "requests":
    case "issue":
      return "requests";
    case "new-request":
      return "new-request";
    case "jobs":
      return "jobs";
    case "sync":
      return "sync";
    case "audit":
      return "audit";
    case "admin":
      return "admin";
    case "batch":
      return "batch";
    case "temporary":
      return "temporary";
    case "provisioning":
      return "provisioning";
    case "card-job":
      return r.job.kind === "initialize" ? "temporary" : "cards";
  }
}

/** Is the key event meant for a text field (so single-key shortcuts must not fire)? */
export function isTypingTarget(t: EventTarget | null): boolean {
  if (t === null || typeof t !== "object") return false;
  const el = t as { tagName?: string; isContentEditable?: boolean; type?: string };
  if (el.isContentEditable === true) return true;
  const tag = (el.tagName ?? "").toUpperCase();
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag === "INPUT") {
    const type = (el.type ?? "text").toLowerCase();
    return !["button", "submit", "checkbox", "radio", "reset"].includes(type);
  }
  return false;
}

/** Where a nav item leads. */
export function routeForNav(
  id: NavId,
  approver: boolean,
  lastReader: string | null,
): Route {
  switch (id) {
    case "cards":
      return { name: "cards", reader: lastReader };
    case "search":
      return { name: "search" };
    case "requests":
      return { name: "requests", state: approver ? "pending_approval" : "approved", focus: null };
    case "new-request":
      return { name: "new-request", person: null };
    case "jobs":
      return { name: "jobs" };
    case "sync":
      return { name: "sync" };
    case "audit":
      return { name: "audit" };
    case "admin":
      return { name: "admin" };
    case "temporary":
      return { name: "temporary" };
    case "provisioning":
      return { name: "provisioning", task: null, report: false };
    case "batch":
      return { name: "batch", batch: null, creating: false };
  }
}

/** Identity of the screen a route shows: views are rebuilt only when it changes. */
export function routeKey(r: Route): string {
  switch (r.name) {
    case "cards":
      return `cards:${r.reader ?? ""}`;
    case "person":
      return `person:${r.id}`;
    case "record":
      return `record:${r.hit.id}`;
    case "requests":
      return "requests";
    case "issue":
      return `issue:${r.request?.id ?? ""}:${r.resume?.id ?? ""}`;
    case "batch":
      return `batch:${r.batch ?? (r.creating ? "new" : "")}`;
    case "card-job":
      return `card-job:${r.job.nonce}`;
    case "offline-unblock":
      return `offline-unblock:${r.device}`;
    case "provisioning":
      return `provisioning:${r.task?.toString() ?? ""}`;
    default:
      return r.name;
  }
}
