// Windowing math for the virtual list: which rows to render for a scroll position.

export interface WindowInput {
  /** Pixels scrolled from the top of the list. */
  scrollTop: number;
  /** Height of the visible area in pixels. */
  viewportHeight: number;
  /** Fixed row height in pixels (> 0). */
  rowHeight: number;
  /** Number of rows. */
  count: number;
  /** Extra rows rendered above and below the visible ones. */
  overscan: number;
}

export interface WindowRange {
  /** First rendered index (inclusive). */
  start: number;
  /** Last rendered index (exclusive). */
  end: number;
  /** Pixel offset of the first rendered row. */
  offset: number;
  /** Height of the whole list in pixels. */
  totalHeight: number;
}

export function computeWindow(w: WindowInput): WindowRange {
  const count = Math.max(0, Math.floor(w.count));
  const rowHeight = w.rowHeight > 0 ? w.rowHeight : 1;
  const totalHeight = count * rowHeight;
  if (count === 0) return { start: 0, end: 0, offset: 0, totalHeight: 0 };
  const overscan = Math.max(0, Math.floor(w.overscan));
  const viewport = Math.max(0, w.viewportHeight);
  const maxScroll = Math.max(0, totalHeight - viewport);
  const scrollTop = Math.min(Math.max(0, w.scrollTop), maxScroll);
  const firstVisible = Math.min(count - 1, Math.floor(scrollTop / rowHeight));
  const lastVisible = Math.min(count, Math.ceil((scrollTop + viewport) / rowHeight));
  const start = Math.max(0, firstVisible - overscan);
  const end = Math.min(count, Math.max(lastVisible, firstVisible + 1) + overscan);
  return { start, end, offset: start * rowHeight, totalHeight };
}

/** The scrollTop that brings row `index` fully into view, moving as little as possible. */
export function scrollToReveal(
  index: number,
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
): number {
  if (index < 0) return scrollTop;
  const top = index * rowHeight;
  const bottom = top + rowHeight;
  if (top < scrollTop) return top;
  if (bottom > scrollTop + viewportHeight) return Math.max(0, bottom - viewportHeight);
  return scrollTop;
}

/** Keyboard movement inside a list of `count` rows; -1 means nothing selected. */
export function moveSelection(
  current: number,
  key: string,
  count: number,
  pageRows: number,
): number {
  if (count <= 0) return -1;
  const last = count - 1;
  const page = Math.max(1, pageRows);
  switch (key) {
    case "ArrowDown":
      return current < 0 ? 0 : Math.min(last, current + 1);
    case "ArrowUp":
      return current <= 0 ? 0 : current - 1;
    case "PageDown":
      return Math.min(last, Math.max(0, current) + page);
    case "PageUp":
      return Math.max(0, current - page);
    case "Home":
      return 0;
    case "End":
      return last;
    default:
      return Math.min(current, last);
  }
}
