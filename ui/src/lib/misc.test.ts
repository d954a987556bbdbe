import { describe, expect, it } from "vitest";
import type { Capabilities } from "../bindings";
import { countText, formatAgo, formatCountdown, formatTime, isUuid, shortId } from "./format";
import { navForKey, navItems } from "./nav";
import { insertionEffect, isTypingTarget, navOf, routeForNav, routeKey } from "./routes";
import { humanize, toneOf } from "./tone";

const none: Capabilities = {
  search: false, request: false, approve: false, issue: false, direct_issue: false, batch: false,
  temporary: false, update: false, pin: false, retire: false, audit: false, provision: false, admin: false,
};

describe("format", () => {
  it("formats times to the minute in the given locale", () => {
    const s = formatTime("2026-03-04T05:06:07Z", "en-GB");
    expect(s).toMatch(/2026/);
    expect(s).not.toMatch(/:07/);
    expect(formatTime(null)).toBe("—");
    expect(formatTime("garbage")).toBe("garbage");
  });
  it("formats ago, countdown, ids and counts", () => {
    const now = Date.parse("2026-01-01T12:00:00Z");
    expect(formatAgo("2026-01-01T11:59:30Z", now)).toBe("just now");
    expect(formatAgo("2026-01-01T11:55:00Z", now)).toBe("5 min ago");
    expect(formatAgo(null, now)).toBe("never");
    expect(formatCountdown(59.2)).toBe("1:00");
    expect(formatCountdown(5)).toBe("0:05");
    expect(formatCountdown(-3)).toBe("0:00");
    expect(shortId("0190a1b2-c3d4-7e5f-8a6b-9c0d1e2f3a4b")).toBe("1e2f3a4b");
    expect(countText(200, true)).toBe("200+ results");
    expect(countText(1, false)).toBe("1 result");
    expect(isUuid("0190a1b2-c3d4-7e5f-8a6b-9c0d1e2f3a4b")).toBe(true);
    expect(isUuid("Badge office, desk 3")).toBe(false);
  });
});

describe("nav", () => {
  it("shows only permitted items", () => {
    expect(navItems(none).map((i) => i.id)).toEqual(["cards", "sync"]);
    expect(navItems({ ...none, search: true, approve: true }).map((i) => i.id)).toEqual(["cards", "search", "requests", "sync"]);
    // Admin only with the capability, last before Sync.
    expect(navItems({ ...none, audit: true, admin: true }).map((i) => i.id)).toEqual(["cards", "audit", "admin", "sync"]);
    expect(navItems({ ...none, temporary: true, provision: true, audit: true }).map((i) => i.id)).toEqual(["cards", "temporary", "provisioning", "audit", "sync"]);
  });
  it("maps Alt+key to items", () => {
    const items = navItems({ ...none, request: true });
    expect(navForKey(items, { altKey: true, ctrlKey: false, metaKey: false, code: "KeyN" })).toBe("new-request");
    expect(navForKey(items, { altKey: false, ctrlKey: false, metaKey: false, code: "KeyN" })).toBeNull();
    expect(navForKey(items, { altKey: true, ctrlKey: false, metaKey: false, code: "KeyS" })).toBeNull();
    expect(navForKey(items, { altKey: true, ctrlKey: false, metaKey: false, code: "KeyM" })).toBeNull();
    expect(navForKey(navItems({ ...none, admin: true }), { altKey: true, ctrlKey: false, metaKey: false, code: "KeyM" })).toBe("admin");
  });
});

describe("routes", () => {
  const idle = { editable: false, dirty: false, search: false };
  it("opens a card on insertion unless the operator is in a form", () => {
    expect(insertionEffect({ name: "search" }, idle, false)).toBe("open");
    expect(insertionEffect({ name: "search" }, { editable: true, dirty: true, search: true }, false)).toBe("open");
    expect(insertionEffect({ name: "sync" }, { editable: true, dirty: true, search: false }, false)).toBe("pulse");
    expect(insertionEffect({ name: "new-request", person: null }, idle, false)).toBe("pulse");
    expect(insertionEffect({ name: "issue", request: null, reader: null, resume: null }, idle, false)).toBe("pulse");
    expect(insertionEffect({ name: "jobs" }, idle, true)).toBe("pulse");
    // The admin form's checkboxes and radio buttons do not count as typed-in: the screen pulses.
    expect(insertionEffect({ name: "admin" }, idle, false)).toBe("pulse");
  });
  it("knows typing targets and nav of routes", () => {
    expect(isTypingTarget({ tagName: "INPUT", type: "text" } as unknown as EventTarget)).toBe(true);
    expect(isTypingTarget({ tagName: "INPUT", type: "checkbox" } as unknown as EventTarget)).toBe(false);
    expect(isTypingTarget({ tagName: "BUTTON" } as unknown as EventTarget)).toBe(false);
    expect(isTypingTarget(null)).toBe(false);
    expect(navOf({ name: "person", id: "x" })).toBe("search");
  });
  it("leads nav items to their screens and keys screens by identity", () => {
    expect(routeForNav("requests", true, null)).toEqual({ name: "requests", state: "pending_approval", focus: null });
    expect(routeForNav("requests", false, null)).toEqual({ name: "requests", state: "approved", focus: null });
    expect(routeForNav("cards", false, "R1")).toEqual({ name: "cards", reader: "R1" });
    expect(routeForNav("admin", false, null)).toEqual({ name: "admin" });
    expect(navOf({ name: "admin" })).toBe("admin");
    // a filter change on Requests keeps the same screen; another person is another screen
    expect(routeKey({ name: "requests", state: "approved", focus: null })).toBe(routeKey({ name: "requests", state: null, focus: "x" }));
    expect(routeKey({ name: "person", id: "a" })).not.toBe(routeKey({ name: "person", id: "b" }));
  });
});

describe("tone", () => {
  it("maps states to tones and humanizes", () => {
    expect(toneOf("active")).toBe("ok");
    expect(toneOf("locked")).toBe("danger");
    expect(toneOf("whatever")).toBe("neutral");
    expect(humanize("pending_approval")).toBe("Pending approval");
  });
});
