// Navigation rail: which items exist for this operator, and their shortcuts.
import type { Capabilities } from "../bindings";

export type NavId = "cards" | "search" | "requests" | "new-request" | "jobs" | "sync" | "batch" | "audit" | "temporary" | "provisioning" | "admin";

export interface NavItem {
  id: NavId;
  label: string;
  /** KeyboardEvent.code used with Alt. */
  code: string;
  /** Shown in the rail. */
  hint: string;
}

const ALL: { item: NavItem; shown: (c: Capabilities) => boolean }[] = [
  { item: { id: "cards", label: "Cards", code: "KeyC", hint: "Alt+C" }, shown: () => true },
  { item: { id: "search", label: "Search", code: "KeyS", hint: "/" }, shown: (c) => c.search },
  {
    item: { id: "requests", label: "Requests", code: "KeyR", hint: "Alt+R" },
    shown: (c) => c.request || c.approve || c.issue,
  },
  {
    item: { id: "new-request", label: "Request a card", code: "KeyN", hint: "Alt+N" },
    shown: (c) => c.request,
  },
  {
    item: { id: "jobs", label: "Card jobs", code: "KeyJ", hint: "Alt+J" },
    shown: (c) => c.issue || c.direct_issue || c.update || c.pin || c.retire,
  },
  { item: { id: "batch", label: "Batch", code: "KeyB", hint: "Alt+B" }, shown: (c) => c.batch },
  { item: { id: "temporary", label: "Temporary cards", code: "KeyT", hint: "Alt+T" }, shown: (c) => c.temporary },
  { item: { id: "provisioning", label: "Provisioning", code: "KeyP", hint: "Alt+P" }, shown: (c) => c.provision },
  { item: { id: "audit", label: "Audit", code: "KeyA", hint: "Alt+A" }, shown: (c) => c.audit },
  { item: { id: "admin", label: "Admin", code: "KeyM", hint: "Alt+M" }, shown: (c) => c.admin },
  { item: { id: "sync", label: "Sync", code: "KeyY", hint: "Alt+Y" }, shown: () => true },
];

/** Items for these capabilities: absent when not permitted, never disabled. */
export function navItems(can: Capabilities): NavItem[] {
  return ALL.filter((x) => x.shown(can)).map((x) => x.item);
}

/** The nav item an Alt+key press selects, if any. */
export function navForKey(items: NavItem[], e: { altKey: boolean; ctrlKey: boolean; metaKey: boolean; code: string }): NavId | null {
  if (!e.altKey || e.ctrlKey || e.metaKey) return null;
  return items.find((i) => i.code === e.code)?.id ?? null;
}
