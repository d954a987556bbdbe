// Names for contract types the UI uses under its own words, derived from the generated bindings
// (never re-declared), so a rename on the Rust side changes one line here, not every screen.
import type { commands, DeviceView } from "../bindings";

type Commands = typeof commands;
type OkOf<R> = R extends { status: "ok"; data: infer D } ? D : R extends { status: "error" } ? never : R;

/** What a command answers when it succeeds. */
export type Answer<K extends keyof Commands> = OkOf<Awaited<ReturnType<Commands[K]>>>;

/** A card job (an interrupted or running encoding), as `jobs()` lists it. */
export type Job = Answer<"jobs">[number];

/** A device view of a card we know (ours or a temporary card). */
export type HeldDevice = Extract<DeviceView, { kind: "ours" } | { kind: "temporary" }>;
