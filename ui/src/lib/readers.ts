// The reader strip's model: what is in each reader, folded from CardEvents.
import type { CardEvent, DeviceView, ErrorView } from "../bindings";

export type ReaderStatus =
  | "empty"
  | "reading"
  | "in_use"
  | "ours"
  | "temporary"
  | "blank"
  | "foreign"
  | "unreadable";

export interface ReaderState {
  name: string;
  status: ReaderStatus;
  view: DeviceView | null;
  error: ErrorView | null;
  /** Increases with every insertion, so a view can tell "a new card" from "the same card". */
  insertion: number;
}

function empty(name: string): ReaderState {
  return { name, status: "empty", view: null, error: null, insertion: 0 };
}

function update(
  readers: ReaderState[],
  name: string,
  f: (r: ReaderState) => ReaderState,
): ReaderState[] {
  const i = readers.findIndex((r) => r.name === name);
  // A card event for a reader we did not hear about: add it rather than lose the event.
  if (i < 0) return [...readers, f(empty(name))];
  const next = readers.slice();
  next[i] = f(readers[i] as ReaderState);
  return next;
}

export function statusOfView(v: DeviceView): ReaderStatus {
  return v.kind;
}

/** Pure reducer for the reader strip. */
export function applyCardEvent(readers: ReaderState[], ev: CardEvent): ReaderState[] {
  switch (ev.kind) {
    case "readers":
      return ev.readers.map((r) => {
        const known = readers.find((x) => x.name === r.name);
        if (!r.card_present) return empty(r.name);
        if (known && known.status !== "empty") return known;
        return { ...empty(r.name), status: "reading", insertion: (known?.insertion ?? 0) + 1 };
      });
    case "reader_added":
      if (readers.some((r) => r.name === ev.reader)) return readers;
      return [...readers, empty(ev.reader)];
    case "reader_removed":
      return readers.filter((r) => r.name !== ev.reader);
    case "card_inserted":
      return update(readers, ev.reader, (r) => ({
        ...r,
        status: "reading",
        view: null,
        error: null,
        insertion: r.insertion + 1,
      }));
    case "card_read":
      return update(readers, ev.reader, (r) => ({
        ...r,
        status: statusOfView(ev.view),
        view: ev.view,
        error: null,
        insertion: r.status === "empty" ? r.insertion + 1 : r.insertion,
      }));
    case "card_in_use":
      return update(readers, ev.reader, (r) => ({ ...r, status: "in_use", view: null, error: null }));
    case "card_unreadable":
      return update(readers, ev.reader, (r) => ({
        ...r,
        status: "unreadable",
        view: null,
        error: ev.error,
      }));
    case "card_removed":
      return update(readers, ev.reader, (r) => ({ ...r, status: "empty", view: null, error: null }));
    case "service_down":
      // Without the PC/SC service there are no readers; a `readers` event lists them again.
      return [];
  }
}

/**
 * Whether the PC/SC service is down after `ev`: set by `service_down`, cleared by any event that
 * shows readers again (the backend sends `readers` first when the service returns).
 */
export function serviceDownAfter(down: boolean, ev: CardEvent): boolean {
  if (ev.kind === "service_down") return true;
  if (ev.kind === "readers" || ev.kind === "reader_added") return false;
  return down;
}

/** Replace the view of a reader after a fresh readCard(). */
export function withView(readers: ReaderState[], reader: string, view: DeviceView): ReaderState[] {
  return update(readers, reader, (r) => ({ ...r, status: statusOfView(view), view, error: null }));
}

/** A reader's name for its chip: the model (may be cut with an ellipsis) and the slot (never cut). */
export interface ReaderLabel {
  model: string;
  /** pcsc-lite's "00 01" (reader and slot numbers) or Windows' " 1"; "" when the name has none. */
  slot: string;
}

// pcsc-lite: "Model [interface] (serial) 00 01"; Windows: "Model 1".
const SLOT = /\s+(\d{2}\s+\d{2}|\d{1,2})\s*$/;

/**
 * How far a chip shortens a reader's model name: 0 drops the bracketed interface and serial and
 * the "+"-joined interface list ("OTP+FIDO+CCID"); 1 drops only the brackets; 2 keeps it whole.
 * The slot numbers are always kept: they are what tells "Virtual PCD 00 00" from "… 00 01".
 */
function label(name: string, level: 0 | 1 | 2): ReaderLabel {
  const m = SLOT.exec(name);
  const slot = m ? (m[1] ?? "").replace(/\s+/g, " ") : "";
  let model = (m ? name.slice(0, m.index) : name).trim();
  if (level <= 1) model = model.replace(/\s*\[[^\]]*\]/g, "").replace(/\s*\([^)]*\)/g, "").trim();
  if (level === 0) model = model.split(/\s+/).filter((w) => !/^[A-Za-z0-9]+(\+[A-Za-z0-9]+)+$/.test(w)).join(" ");
  if (model === "") return { model: (m ? name.slice(0, m.index) : name).trim() || name, slot };
  return { model, slot };
}

const joined = (l: ReaderLabel): string => (l.slot === "" ? l.model : `${l.model} ${l.slot}`);

/**
 * A reader's name, shortened for its chip without losing what tells it apart from a reader of
 * the same kind: "Yubico YubiKey OTP+FIDO+CCID 00 00" → "Yubico YubiKey 00 00",
 * "Virtual PCD 00 01" → "Virtual PCD 00 01".
 */
export function readerShortName(name: string): string {
  return joined(label(name, 0));
}

/**
 * Chip labels for every reader in the strip: each as short as it can be while no two readers
 * read the same (two YubiKeys that differ only in their interfaces keep them).
 */
export function readerLabels(names: readonly string[]): Map<string, ReaderLabel> {
  const out = new Map<string, ReaderLabel>();
  for (const name of names) {
    for (const level of [0, 1, 2] as const) {
      const mine = label(name, level);
      const clash = names.some((other) => other !== name && joined(label(other, level)) === joined(mine));
      if (!clash || level === 2) {
        out.set(name, level === 2 && clash ? { model: name, slot: "" } : mine);
        break;
      }
    }
  }
  return out;
}

/** What the chip says, without any running job. */
export function chipText(r: ReaderState): string {
  switch (r.status) {
    case "empty":
      return "Empty";
    case "reading":
      return "Reading card…";
    case "in_use":
      return "Card in use by a job";
    case "unreadable":
      return "Cannot read this card";
    case "foreign":
      return "Card from another system";
    case "blank":
      return "Blank card";
    case "ours": {
      const v = r.view;
      if (v?.kind === "ours") return v.holder ? v.holder.name : "Card without holder";
      return "Card";
    }
    case "temporary": {
      const v = r.view;
      if (v?.kind === "temporary")
        return v.holder ? `Temporary: ${v.holder.name}` : "Temporary card, unassigned";
      return "Temporary card";
    }
  }
}

/** Which reader the Cards view should show when none is chosen: one with a card, else the first. */
export function defaultReader(readers: ReaderState[], preferred: string | null): string | null {
  if (preferred !== null && readers.some((r) => r.name === preferred)) return preferred;
  const withCard = readers.find((r) => r.status !== "empty");
  return (withCard ?? readers[0])?.name ?? null;
}

/** Readers holding a blank card, for the issue flow. */
export function blankReaders(readers: ReaderState[]): ReaderState[] {
  return readers.filter((r) => r.status === "blank");
}
