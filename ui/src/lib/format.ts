// Times, counts and ids for display.

/** RFC 3339 → the operator's locale, to the minute. Invalid input is shown as given. */
export function formatTime(iso: string | null | undefined, locale?: string): string {
  if (iso === null || iso === undefined || iso === "") return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(d);
}

/** RFC 3339 → the operator's locale, date only. */
export function formatDate(iso: string | null | undefined, locale?: string): string {
  if (iso === null || iso === undefined || iso === "") return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium" }).format(d);
}

/** "just now", "5 min ago", "3 h ago", else the time. */
export function formatAgo(iso: string | null, now: number, locale?: string): string {
  if (iso === null) return "never";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 6 * 3600) return `${Math.floor(s / 3600)} h ago`;
  return formatTime(iso, locale);
}

/** Seconds → "0:45", "1:05". */
export function formatCountdown(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const m = Math.floor(s / 60);
  const r = s % 60;
  return `${m}:${r.toString().padStart(2, "0")}`;
}

/**
 * Last 8 characters of a UUID, for secondary monospace detail. (The first ones of a UUIDv7 are a
 * timestamp, the same for everything created in the same minute; the tail is random.)
 */
export function shortId(id: string): string {
  return id.length > 8 ? id.slice(-8) : id;
}

/** An id rather than a name: shown only as secondary monospace detail. */
export function isUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}

/** "1 card", "3 cards". */
export function plural(n: number, one: string, many: string = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Result count as shown above a list: "200+ results" when the backend stopped early. */
export function countText(n: number, more: boolean): string {
  if (more) return `${n}+ results`;
  return plural(n, "result");
}
