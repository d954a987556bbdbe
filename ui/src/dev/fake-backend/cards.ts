// Fakes the readers and the cards in them: the card-event channel, reading a card, the PC/SC service going down and up.
import { err, str, channelId, type AreaHandlers } from "./shared";
import type { FakeState } from "./state";

type CardsCommand = "watchCards" | "readCard";

export function cardsHandlers(s: FakeState): AreaHandlers<CardsCommand> {
  return {
    watchCards: (args) => {
      s.cardChannel = channelId(args, "events");
      s.cardIndex = 0;
      setTimeout(() => serviceUp(s), 0);
      return Promise.resolve();
    },
    readCard: (args) => {
      const r = s.readers.find((x) => x.name === str(args, "reader"));
      if (!r) return s.fail(err("reader-gone", "The reader is gone."));
      if (!r.view) return s.fail(err("no-card", "No card in the reader."));
      return s.later(r.view);
    },
  };
}

/** The PC/SC service stops: readers go away until `serviceUp`. */
export function serviceDown(s: FakeState): void {
  s.cardEvent({ kind: "service_down" });
}

/** The PC/SC service is back: every reader as it is now. */
export function serviceUp(s: FakeState): void {
  s.cardEvent({ kind: "readers", readers: s.readers.map((r) => ({ name: r.name, card_present: r.view !== null })) });
  for (const r of s.readers) if (r.view) s.cardEvent({ kind: "card_read", reader: r.name, view: r.view });
}
