// Fakes the helpdesk's side of the offline PIN unblock: a challenge code in, a response code out.
import { heldById } from "./card-job";
import { err, str, uuid, type AreaHandlers } from "./shared";
import type { FakeState } from "./state";

export function offlineHandlers(s: FakeState): AreaHandlers<"respondOfflineUnblock"> {
  return {
    respondOfflineUnblock: (args) => {
      // The card is not here, so any card record will do. "BAD" (or anything that is not groups
      // of Crockford base32) does not parse; a challenge beginning with ZZZZ comes from another card.
      const device = str(args, "device");
      if (device !== uuid(7, 0xe) && heldById(s, device) === null) return s.fail(err("not-found", "No such card."));
      const code = str(args, "challenge").replace(/[\s-]+/g, "").toUpperCase();
      if (!/^[0-9A-HJKMNP-TV-Z]{8,}$/.test(code)) return s.fail(err("bad-code", "The challenge code does not check out."));
      if (code.startsWith("ZZZZ")) return s.fail(err("challenge-mismatch", "The challenge was made by another card."));
      if (str(args, "identityCheck").trim() === "") return s.fail(err("bad-input", "Say how the cardholder's identity was checked."));
      const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
      const chars = Array.from({ length: 16 }, (_, i) => alphabet[(code.charCodeAt(i % code.length) * 7 + i * 13) % 32] ?? "0").join("");
      return s.later({ response: chars.match(/.{1,4}/g)?.join("-") ?? chars });
    },
  };
}
