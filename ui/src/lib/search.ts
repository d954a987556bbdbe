// Search-as-you-type: at once, one query at a time, stale answers dropped, the last good result kept on screen.
import type { ErrorView, HitView, SearchResults } from "../bindings";
import { errorOf } from "./api";

export const SEARCH_LIMIT = 200;
export const SEARCH_MIN_CHARS = 2;

export interface SearchState {
  query: string;
  /** The query the shown hits answer. */
  shownQuery: string;
  hits: HitView[];
  more: boolean;
  loading: boolean;
  error: ErrorView | null;
}

export function initialSearch(): SearchState {
  return { query: "", shownQuery: "", hits: [], more: false, loading: false, error: null };
}

export function normalizeQuery(q: string): string {
  return q.trim().replace(/\s+/g, " ");
}

export function isSearchable(q: string): boolean {
  return normalizeQuery(q).length >= SEARCH_MIN_CHARS;
}

/**
 * Search-as-you-type without a debounce: a query goes to the station at
 * once (a search over a million people takes milliseconds), one at a time;
 * what is typed while one runs waits, and only the latest of it goes next.
 * Answers to queries the operator has typed past are dropped. `onChange`
 * receives every new state.
 */
export class SearchController {
  private state: SearchState = initialSearch();
  private inFlight = false;
  private next: string | null = null;
  private seq = 0;

  constructor(
    private readonly run: (query: string) => Promise<SearchResults>,
    private readonly onChange: (s: SearchState) => void,
  ) {}

  get current(): SearchState {
    return this.state;
  }

  private set(patch: Partial<SearchState>): void {
    this.state = { ...this.state, ...patch };
    this.onChange(this.state);
  }

  /** The input changed. */
  input(raw: string): void {
    const query = normalizeQuery(raw);
    if (!isSearchable(query)) {
      this.seq++;
      this.next = null;
      this.set({ query, shownQuery: "", hits: [], more: false, loading: false, error: null });
      return;
    }
    if (query === this.state.shownQuery && !this.inFlight) {
      this.set({ query, loading: false });
      return;
    }
    this.set({ query, loading: true });
    this.request(query);
  }

  /** Search again now (Enter, or "search again" after an error). */
  flush(): void {
    if (isSearchable(this.state.query)) this.request(this.state.query);
  }

  private request(query: string): void {
    if (this.inFlight) {
      this.next = query;
      return;
    }
    void this.fire(query);
  }

  private async fire(query: string): Promise<void> {
    const mine = ++this.seq;
    this.inFlight = true;
    let answer: { ok: SearchResults } | { err: unknown };
    try {
      answer = { ok: await this.run(query) };
    } catch (e) {
      answer = { err: e };
    }
    this.inFlight = false;
    const next = this.next;
    this.next = null;
    if (next !== null && (next !== query || mine !== this.seq)) {
      void this.fire(next);
      return;
    }
    if (mine !== this.seq) return;
    if ("ok" in answer) {
      this.set({ shownQuery: query, hits: answer.ok.hits, more: answer.ok.more, loading: false, error: null });
    } else {
      this.set({ loading: false, error: errorOf(answer.err) });
    }
  }

  dispose(): void {
    this.seq++;
    this.next = null;
  }
}

/** Main line and secondary line of a hit, in words. */
export function hitText(h: HitView): { kind: string; title: string; detail: string } {
  switch (h.kind) {
    case "person": {
      const bits = [h.email, h.employee_id].filter((x): x is string => !!x);
      bits.push(`${h.devices} ${h.devices === 1 ? "card" : "cards"}`);
      if (h.requests > 0) bits.push(`${h.requests} ${h.requests === 1 ? "request" : "requests"}`);
      return { kind: "Person", title: h.name, detail: bits.join(" · ") };
    }
    case "device":
      return {
        kind: "Card",
        title: h.holder ? `${h.holder.name}'s card` : "Card without holder",
        detail: [h.profile_name, h.state_label, h.serial ? `serial ${h.serial}` : null]
          .filter((x): x is string => !!x)
          .join(" · "),
      };
    case "request":
      return {
        kind: "Request",
        title: h.person ? `${h.kind_label} for ${h.person.name}` : h.kind_label,
        detail: [h.profile_name, h.state_label].join(" · "),
      };
  }
}
