// Thin helpers over the generated bindings: unwrap Result into a value or a thrown AppError.
import type { ErrorView, Result } from "../bindings";
import { isErrorView, toErrorView } from "./errors";

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
export async function call<T>(pending: Promise<Result<T, ErrorView>>): Promise<T> {
  let result: Result<T, ErrorView>;
  try {
    result = await pending;
  } catch (e) {
    // An Error thrown by invoke itself (no backend, IPC failure): never show its text.
    throw new AppError(toErrorView(e));
  }
  if (result.status === "ok") return result.data;
  throw new AppError(isErrorView(result.error) ? result.error : toErrorView(result.error));
}

/**
 * Fire a command whose answer does not matter (touch, closeReveal, the watches). Accepts a plain
 * promise or a Result so it type-checks whether the backend declares a Result or nothing.
 */
export function fire(pending: Promise<unknown>): void {
  pending.catch(() => undefined);
}

/** The ErrorView behind anything caught. */
export function errorOf(e: unknown): ErrorView {
  if (e instanceof AppError) return e.view;
  return toErrorView(e);
}
