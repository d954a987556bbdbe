// The audit screen's pure logic: filter form → AuditQuery, row order and wording, chain wording,
// and the two charts' scaling, ticks and bar geometry (drawn as SVG by the components).
import type { AuditEntry, AuditQuery, ChainView, DayCount, ReaderThroughput } from "../bindings";

// ----- filter → query -----

/** The filter form as typed: every field a string, "" when not set. */
export interface AuditFilter {
  operator: string;
  person: string;
  /** An action's name (`record_issuance`), "" for any. */
  action: string;
  /** First day shown, YYYY-MM-DD (an `<input type="date">` value). */
  since: string;
  /** Last day shown, YYYY-MM-DD, *including* that day. */
  until: string;
}

export function emptyFilter(): AuditFilter {
  return { operator: "", person: "", action: "", since: "", until: "" };
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A real calendar day in YYYY-MM-DD form. */
export function isDay(s: string): boolean {
  const m = DAY.exec(s);
  if (m === null) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** The day after `day` (YYYY-MM-DD, UTC calendar). */
export function nextDay(day: string): string {
  return addDays(day, 1);
}

function addDays(day: string, n: number): string {
  const t = Date.parse(`${day}T00:00:00Z`) + n * 86_400_000;
  return new Date(t).toISOString().slice(0, 10);
}

/** What is wrong with the filter, in operator words; null when it can be applied. */
export function filterProblem(f: AuditFilter): string | null {
  const since = f.since.trim();
  const until = f.until.trim();
  if (since !== "" && !isDay(since)) return "“From” is not a date. Pick a day or leave it empty.";
  if (until !== "" && !isDay(until)) return "“Until” is not a date. Pick a day or leave it empty.";
  if (since !== "" && until !== "" && until < since) return "“Until” is before “From”. Swap the two days.";
  return null;
}

const blank = (s: string): string | null => (s.trim() === "" ? null : s.trim());

/**
 * The backend's query for a filter: blank fields are null, the "until" day (inclusive on the
 * form) becomes the next day (the backend's `until` is exclusive). No device filter on this form.
 */
export function buildQuery(f: AuditFilter): AuditQuery {
  const until = blank(f.until);
  return {
    operator: blank(f.operator),
    person: blank(f.person),
    device: null,
    action: blank(f.action),
    since: blank(f.since),
    until: until !== null && isDay(until) ? nextDay(until) : until,
  };
}

/** Whether any field narrows the trail. */
export function isFiltered(q: AuditQuery): boolean {
  return Object.values(q).some((v) => v !== null);
}

// ----- rows -----

export type Order = "newest" | "oldest";

/** Entries in the order chosen (the backend answers oldest first; seq is the chain position). */
export function ordered(entries: readonly AuditEntry[], order: Order): AuditEntry[] {
  const out = entries.slice().sort((a, b) => a.seq - b.seq);
  if (order === "newest") out.reverse();
  return out;
}

/** The actions seen, by name, with their wording, sorted by wording; merged into `known`. */
export function actionsOf(entries: readonly AuditEntry[], known: readonly ActionOption[] = []): ActionOption[] {
  const m = new Map<string, string>(known.map((a) => [a.action, a.label]));
  for (const e of entries) if (!m.has(e.action)) m.set(e.action, e.action_label);
  return [...m].map(([action, label]) => ({ action, label })).sort((a, b) => a.label.localeCompare(b.label));
}

export interface ActionOption {
  action: string;
  label: string;
}

/** The outcome as the badge says it, and the reason beside it when it did not succeed. */
export function outcomeText(e: AuditEntry): { badge: string; reason: string | null } {
  if (e.success) return { badge: "Succeeded", reason: null };
  const why = e.outcome.trim();
  return { badge: "Refused", reason: why === "" || why === "failure" ? null : why };
}

/** "1,234" in the operator's locale. */
export function formatCount(n: number, locale?: string): string {
  return new Intl.NumberFormat(locale).format(n);
}

/** The chain panel's sentence. */
export function chainText(c: ChainView, locale?: string): string {
  if (c.intact) return `Intact: ${formatCount(c.events, locale)} ${c.events === 1 ? "event" : "events"} verified`;
  const why = c.reason?.trim() || "this event does not match the ones before it";
  if (c.broken_at === null) return `Broken: ${why}`;
  return `Broken at event ${formatCount(c.broken_at, locale)}: ${why}`;
}

// ----- charts -----

/** A "nice" axis for counts from 0 to `max`: a step of 1, 2 or 5 × 10ⁿ, whole numbers only. */
export function niceScale(max: number, maxTicks = 4): { top: number; step: number; ticks: number[] } {
  const m = Number.isFinite(max) && max > 0 ? max : 0;
  if (m === 0) return { top: 1, step: 1, ticks: [0, 1] };
  const raw = m / Math.max(1, maxTicks);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((k) => k * pow).find((s) => s >= raw) ?? 10 * pow);
  const top = Math.ceil(m / step) * step;
  const ticks: number[] = [];
  for (let t = 0; t <= top + step / 2; t += step) ticks.push(t);
  return { top, step, ticks };
}

/** 1234 → "1.2k", 2_500_000 → "2.5M": short axis labels. */
export function shortCount(n: number): string {
  const fmt = (v: number, unit: string): string => `${Number(v.toFixed(1)).toString()}${unit}`;
  if (n >= 1_000_000) return fmt(n / 1_000_000, "M");
  if (n >= 10_000) return fmt(n / 1_000, "k");
  return String(n);
}

/**
 * Every day from the first to the last of `counts`, a missing day counting 0; sorted. A day that
 * appears twice is summed. Invalid days are dropped.
 */
export function fillDays(counts: readonly DayCount[]): DayCount[] {
  const m = new Map<string, number>();
  for (const c of counts) if (isDay(c.day)) m.set(c.day, (m.get(c.day) ?? 0) + c.cards);
  const days = [...m.keys()].sort();
  const first = days[0];
  const last = days[days.length - 1];
  if (first === undefined || last === undefined) return [];
  const out: DayCount[] = [];
  for (let d = first; d <= last; d = nextDay(d)) out.push({ day: d, cards: m.get(d) ?? 0 });
  return out;
}

/** One bar of the per-day chart: a day, or a run of `days` days when the period is long. */
export interface DayBar {
  /** First day of the bar (YYYY-MM-DD). */
  day: string;
  /** How many days it covers (1, or 7 for weeks). */
  days: number;
  cards: number;
}

/** The per-day bars: daily up to `maxBars` days, else 7-day runs from the first day. */
export function dayBars(counts: readonly DayCount[], maxBars = 92): DayBar[] {
  const filled = fillDays(counts);
  if (filled.length <= maxBars) return filled.map((c) => ({ day: c.day, days: 1, cards: c.cards }));
  const width = Math.ceil(filled.length / maxBars / 7) * 7;
  const out: DayBar[] = [];
  for (let i = 0; i < filled.length; i += width) {
    const run = filled.slice(i, i + width);
    out.push({ day: run[0]?.day ?? "", days: width, cards: run.reduce((s, c) => s + c.cards, 0) });
  }
  return out;
}

/** "4 Mar" in the operator's locale (the day is a UTC calendar day: formatted in UTC). */
export function dayLabel(day: string, locale?: string, withYear = false): string {
  if (!isDay(day)) return day;
  const opts: Intl.DateTimeFormatOptions = { day: "numeric", month: "short", timeZone: "UTC" };
  if (withYear) opts.year = "numeric";
  return new Intl.DateTimeFormat(locale, opts).format(new Date(`${day}T00:00:00Z`));
}

/** What a bar's <title> and the table fallback say for a bar. */
export function dayBarText(b: DayBar, locale?: string): { when: string; cards: string } {
  const when =
    b.days === 1
      ? dayLabel(b.day, locale, true)
      : `${dayLabel(b.day, locale, true)} – ${dayLabel(addDays(b.day, b.days - 1), locale, true)}`;
  return { when, cards: `${formatCount(b.cards, locale)} ${b.cards === 1 ? "card" : "cards"}` };
}

export interface ChartBox {
  width: number;
  height: number;
  /** Room for the axis labels. */
  left: number;
  bottom: number;
  top: number;
  right: number;
}

export interface ColumnGeometry {
  x: number;
  y: number;
  w: number;
  h: number;
  /** Centre of the bar, for its label. */
  cx: number;
  /** The day label is drawn under this bar (labels thinned out so they never overlap). */
  labelled: boolean;
}

export interface Tick {
  value: number;
  y: number;
  label: string;
}

/** Geometry of a column chart of `values` in `box`: bars, and horizontal ticks. */
export function columns(
  values: readonly number[],
  box: ChartBox,
  maxLabels = 8,
): { bars: ColumnGeometry[]; ticks: Tick[]; plotBottom: number } {
  const plotW = Math.max(1, box.width - box.left - box.right);
  const plotH = Math.max(1, box.height - box.top - box.bottom);
  const plotBottom = box.top + plotH;
  const scale = niceScale(Math.max(0, ...values));
  const n = values.length;
  const slot = n > 0 ? plotW / n : plotW;
  const gap = Math.min(slot * 0.25, 6);
  const every = Math.max(1, Math.ceil(n / Math.max(1, maxLabels)));
  const bars = values.map((v, i) => {
    const h = (Math.max(0, v) / scale.top) * plotH;
    const x = box.left + i * slot + gap / 2;
    const w = Math.max(1, slot - gap);
    // A day with cards never disappears: at least 1 unit high.
    const shown = v > 0 ? Math.max(1, h) : 0;
    return { x, y: plotBottom - shown, w, h: shown, cx: x + w / 2, labelled: i % every === 0 };
  });
  const ticks = scale.ticks.map((t) => ({ value: t, y: plotBottom - (t / scale.top) * plotH, label: shortCount(t) }));
  return { bars, ticks, plotBottom };
}

export interface RowGeometry {
  y: number;
  /** Bar length. */
  w: number;
  /** Bar thickness. */
  h: number;
  /** Where the value label starts. */
  labelX: number;
}

/** Geometry of a horizontal bar chart (one row per reader) of `values`, bars from `x0` to `x1`. */
export function rows(values: readonly number[], x0: number, x1: number, rowHeight: number, top = 0): RowGeometry[] {
  const scale = niceScale(Math.max(0, ...values));
  const span = Math.max(1, x1 - x0);
  return values.map((v, i) => {
    const w = v > 0 ? Math.max(2, (Math.max(0, v) / scale.top) * span) : 0;
    const h = Math.max(4, rowHeight * 0.55);
    return { y: top + i * rowHeight + (rowHeight - h) / 2, w, h, labelX: x0 + w + 6 };
  });
}

/** "12 cards · 40.5 cards/h", or "1 card · no pace yet" when only one card was done. */
export function throughputText(r: ReaderThroughput, locale?: string): { cards: string; pace: string } {
  const cards = `${formatCount(r.cards, locale)} ${r.cards === 1 ? "card" : "cards"}`;
  if (r.cards_per_hour === null || !Number.isFinite(r.cards_per_hour)) return { cards, pace: "no pace yet" };
  const n = new Intl.NumberFormat(locale, { maximumFractionDigits: r.cards_per_hour < 10 ? 1 : 0 }).format(r.cards_per_hour);
  return { cards, pace: `${n} cards/h` };
}

/** A chip-style reader name cut to `max` characters for an SVG label, the slot numbers kept. */
export function fitReaderLabel(l: { model: string; slot: string }, max = 22): string {
  const room = Math.max(4, max - (l.slot === "" ? 0 : l.slot.length + 1));
  const model = l.model.length > room ? `${l.model.slice(0, room - 1).trimEnd()}…` : l.model;
  return l.slot === "" ? model : `${model} ${l.slot}`;
}
