// Fakes the registry sync: status, the sync channel and "Sync now".
import type { SyncStatus } from "../../bindings";
import { channelId, type AreaHandlers } from "./shared";
import type { FakeState } from "./state";

type SyncCommand = "watchSync" | "syncStatus" | "syncNow";

export function syncHandlers(s: FakeState): AreaHandlers<SyncCommand> {
  return {
    watchSync: (args) => {
      s.syncChannel = channelId(args, "events");
      s.syncIndex = 0;
      return Promise.resolve(null);
    },
    syncStatus: () => s.later(s.sync),
    syncNow: () => {
      s.sync = { ...s.sync, last_sync: new Date().toISOString(), last_error: null };
      return s.later(s.sync);
    },
  };
}

/** A new sync status, pushed to the UI. */
export function pushSync(s: FakeState, status: SyncStatus): void {
  s.sync = status;
  s.send(s.syncChannel, s.syncIndex++, status);
}
