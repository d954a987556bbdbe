// Thin helpers over the generated bindings: unwrap a command's outcome into a value or a thrown
// AppError.
import type { ErrorView } from "../bindings";
import { toErrorView } from "./errors";

/**
 * What a generated command resolves to (tauri-specta's `typedError` runtime shape; the generated
 * file exports no name for it). The `error` side is typed ErrorView, but tauri-specta passes on
 * whatever the IPC rejected with: Tauri itself (unknown command, ACL denial, bad argument)
 * rejects with a free-form string, which arrives here as `error`. `call` checks it at run time.
 */
export type Outcome<T> = { status: "ok"; data: T } | { status: "error"; error: ErrorView };

/** An ErrorView from the backend, thrown. */
export class AppError extends Error {
  readonly view: ErrorView;
  constructor(view: ErrorView) {
    super(view.message || view.code);
    this.name = "AppError";
    this.view = view;
  }
  get code(): ErrorView["code"] {
    return this.view.code;
  }
}

/** Await a command and return its data, or throw an AppError. */
export async function call<T>(pending: Promise<Outcome<T>>): Promise<T> {
  let result: Outcome<T>;
  try {
    result = await pending;
  } catch (e) {
    // An Error thrown by invoke itself (no backend, IPC failure): never show its text.
    throw new AppError(toErrorView(e));
  }
  if (result.status === "ok") return result.data;
  // A string from Tauri itself (ACL denial, unknown command, bad argument) is not an ErrorView:
  // it becomes "internal" without its raw text.
  throw new AppError(toErrorView(result.error as unknown));
}

/**
 * Await a command that answers with a plain promise (`touch`, `watchCards`, `closeReveal`: no
 * ErrorView), turning any rejection (a Tauri string) into an AppError "internal".
 */
export async function plain<T>(pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (e) {
    throw new AppError(toErrorView(e));
  }
}

/** Fire a command whose answer does not matter (touch, closeReveal). */
export function fire(pending: Promise<unknown>): void {
  pending.catch(() => undefined);
}

/** The ErrorView behind anything caught. */
export function errorOf(e: unknown): ErrorView {
  if (e instanceof AppError) return e.view;
  return toErrorView(e);
}
