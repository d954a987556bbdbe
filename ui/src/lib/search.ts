// Search-as-you-type: debounce, drop stale answers, keep the last good result on screen.
import type { ErrorView, HitView, SearchResults } from "../bindings";
import { errorOf } from "./api";

export const SEARCH_LIMIT = 200;
export const SEARCH_DEBOUNCE_MS = 180;
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

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export const browserTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Runs `run(query)` after the operator stops typing; answers to older queries are ignored.
 * `onChange` receives every new state.
 */
export class SearchController {
  private state: SearchState = initialSearch();
  private timer: unknown = null;
  private seq = 0;

  constructor(
    private readonly run: (query: string) => Promise<SearchResults>,
    private readonly onChange: (s: SearchState) => void,
    private readonly timers: Timers = browserTimers,
    private readonly delayMs: number = SEARCH_DEBOUNCE_MS,
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
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    if (!isSearchable(query)) {
      this.seq++;
      this.set({ query, shownQuery: "", hits: [], more: false, loading: false, error: null });
      return;
    }
    if (query === this.state.shownQuery && !this.state.loading) {
      this.set({ query });
      return;
    }
    this.set({ query, loading: true });
    this.timer = this.timers.set(() => {
      this.timer = null;
      void this.fire(query);
    }, this.delayMs);
  }

  /** Search now (Enter before the debounce ran out, or "search again"). */
  flush(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    if (isSearchable(this.state.query)) void this.fire(this.state.query);
  }

  private async fire(query: string): Promise<void> {
    const mine = ++this.seq;
    this.set({ loading: true });
    try {
      const r = await this.run(query);
      if (mine !== this.seq) return;
      this.set({ shownQuery: query, hits: r.hits, more: r.more, loading: false, error: null });
    } catch (e) {
      if (mine !== this.seq) return;
      this.set({ loading: false, error: errorOf(e) });
    }
  }

  dispose(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    this.seq++;
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
