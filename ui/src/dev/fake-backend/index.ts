// A stand-in backend for `npm run dev` in a plain browser and for the UI's DOM tests: installs it behind mockIPC and dispatches each command to its area.
// It answers the IPC commands with made-up records through @tauri-apps/api/mocks; it is never part of
// the production build (main.ts imports it only in dev outside Tauri). Its state lives in FakeState
// (state.ts); each area module answers its commands from that state and imports nothing but it and shared.ts.
import { mockIPC } from "@tauri-apps/api/mocks";
import type { AuditEntry, SyncStatus, TemporaryRow } from "../../bindings";
import type { Answer } from "../../lib/contract";
import { accessHandlers } from "./access";
import { adminHandlers } from "./admin";
import { auditEntries, auditHandlers } from "./audit";
import { batchHandlers } from "./batch";
import { cardsHandlers, serviceDown, serviceUp } from "./cards";
import { cardWorkHandlers } from "./cardwork";
import { jobsHandlers, reinsertTorn } from "./jobs";
import { offlineHandlers } from "./offline";
import { peopleHandlers } from "./people";
import { requestsHandlers } from "./requests";
import { kioskHandlers } from "./kiosk";
import { lock, sessionHandlers } from "./session";
import { ipcName, type Args, type Commands, type FakeOptions } from "./shared";
import { FakeState } from "./state";
import { provisioningHandlers } from "./provisioning";
import { pushSync, syncHandlers } from "./sync";
import { insertTemporary, temporaryHandlers, temporaryRows } from "./temporary";

export type { FakeOptions } from "./shared";

/**
 * One handler per generated command, answering exactly what the command declares: a command
 * added to `bindings.ts` fails the type check here until the stand-in answers it.
 */
type Handlers = { [K in keyof Commands]: (args: Args) => Promise<Answer<K>> };

/** The stand-in backend: its state plus the console/test helpers (`window.fake.*` in `npm run dev`). */
export class FakeBackend extends FakeState {
  private readonly handlers: Handlers = {
    ...sessionHandlers(this),
    ...cardsHandlers(this),
    ...peopleHandlers(this),
    ...requestsHandlers(this),
    ...jobsHandlers(this),
    ...syncHandlers(this),
    ...auditHandlers(this),
    ...batchHandlers(this),
    ...temporaryHandlers(this),
    ...cardWorkHandlers(this),
    ...offlineHandlers(this),
    ...adminHandlers(this),
    ...accessHandlers(this),
    ...kioskHandlers(this),
    ...provisioningHandlers(this),
  };

  /** The backend's idle lock fires (the generated `session-locked` event). */
  lock(): void {
    lock(this);
  }

  /** The PC/SC service stops: readers go away until `serviceUp`. */
  serviceDown(): void {
    serviceDown(this);
  }

  /** The PC/SC service is back: every reader as it is now. */
  serviceUp(): void {
    serviceUp(this);
  }

  pushSync(s: SyncStatus): void {
    pushSync(this, s);
  }

  /** Put the torn card back: its view carries the interrupted job. */
  reinsertTorn(reader: string): void {
    reinsertTorn(this, reader);
  }

  /** Temporary cards in every state (seed 001). */
  temporaryRows(): TemporaryRow[] {
    return temporaryRows(this);
  }

  /** A temporary card in `reader` (console: `fake.insertTemporary("Virtual PCD 00 01", 2)` = the first produced one). */
  insertTemporary(reader: string, n: number): void {
    insertTemporary(this, reader, n);
  }

  /** 60 days of made-up events (none at weekends, so the chart has gaps), oldest first. */
  auditEntries(): AuditEntry[] {
    return auditEntries(this);
  }

  handle(cmd: string, args: Args): Promise<unknown> {
    this.calls.push({ cmd, args });
    // Like Tauri itself: an ACL denial or an unknown command rejects with a free-form string.
    if (this.denied.has(cmd)) return Promise.reject(`${cmd} not allowed. Permissions associated with this command: []`);
    const name = (Object.keys(this.handlers) as (keyof Commands)[]).find((k) => ipcName(k) === cmd);
    if (name === undefined) return Promise.reject(`Command ${cmd} not found`);
    return this.handlers[name](args);
  }
}

/** Install the fake backend behind @tauri-apps/api. */
export function installFakeBackend(opts: FakeOptions): FakeBackend {
  const fake = new FakeBackend(opts);
  mockIPC((cmd, args) => fake.handle(cmd, (args ?? {}) as Record<string, unknown>), { shouldMockEvents: true });
  return fake;
}
