// Fakes the walk-up kiosk (UC-WALKUP): the kiosk account's Walk-up permission, codes the made-up
// registry knows (one good, one locked, one expired, one whose card was started before), cards
// with an update waiting (UC-UPDATE: their current PIN proves them), the encoding with its steps,
// the PIN tried on the new card, and the exit gesture's password.
import type { KioskUpdate, KioskWalkup } from "../../bindings";
import { cardSteps } from "./card-job";
import { channelId, err, issueSteps, str, type AreaHandlers } from "./shared";
import type { FakeState } from "./state";

type KioskCommand =
  | "kioskReady"
  | "kioskCheck"
  | "kioskRecognise"
  | "kioskProve"
  | "kioskUpdate"
  | "kioskEncode"
  | "kioskTryPin"
  | "kioskEnd"
  | "kioskExit";

/** The current PIN of every made-up card with an update waiting. */
export const FAKE_CURRENT_PIN = "123456";

/** User names of the made-up kiosk accounts (their role allows walk-up only). */
export const KIOSK_ACCOUNTS = ["kiosk"];

/** The codes the made-up registry knows, normalized. */
export const FAKE_CODES = {
  good: "ABCD-EFGH-JKMN-PQRS",
  locked: "ZZZZ-0000-0000-0001",
  expired: "EEEE-0000-0000-0002",
  resuming: "RRRR-0000-0000-0003",
} as const;

export interface FakeWalkupData {
  /** Wrong codes left before the good code's enrollment locks. */
  attemptsLeft: number;
  /** The invitation being worked on, and the PIN its card got. */
  current: KioskWalkup | null;
  cardPin: string | null;
  /** Readers whose card has an update waiting (tests set them before inserting a card). */
  updateReaders: string[];
  /** The recognised card's update, and whether its holder proved it. */
  update: KioskUpdate | null;
  proved: boolean;
  /** How many times kioskEnd was called (tests: the code was forgotten). */
  ended: number;
  exited: boolean;
}

function data(s: FakeState): FakeWalkupData {
  s.walkupData ??= { attemptsLeft: 5, current: null, cardPin: null, updateReaders: [], update: null, proved: false, ended: 0, exited: false };
  return s.walkupData;
}

function invitation(name: string, resuming: boolean): KioskWalkup {
  return {
    person_name: name,
    task_number: 17,
    profile_name: "Employee",
    stop_date: new Date(Date.now() + 14 * 86_400_000).toISOString(),
    idle_timeout_secs: 60,
    pin: { min_length: 6, max_length: 8, numeric: true },
    resuming,
  };
}

export function kioskHandlers(s: FakeState): AreaHandlers<KioskCommand> {
  return {
    kioskReady: () => {
      if (!s.signedIn) return s.fail(err("sign-in", "Nobody is signed in."));
      if (!KIOSK_ACCOUNTS.includes(s.session.username)) {
        return s.fail(err("not-permitted", "this account may not run the walk-up kiosk: sign in with a kiosk account"));
      }
      return s.later(null);
    },
    kioskCheck: (args) => {
      const d = data(s);
      const code = str(args, "code").toUpperCase();
      if (code === FAKE_CODES.locked) return s.fail(err("state-not-allowed", "the enrollment is locked"));
      if (code === FAKE_CODES.expired) return s.fail(err("stop-date-passed", "the stop date has passed"));
      if (code === FAKE_CODES.resuming) {
        d.current = invitation("Alan Turing", true);
        return s.later(d.current);
      }
      if (code === FAKE_CODES.good && d.attemptsLeft > 0) {
        d.current = invitation("Grace Hopper", false);
        return s.later(d.current);
      }
      if (code.startsWith("ABCD")) {
        if (d.attemptsLeft === 0) return s.fail(err("state-not-allowed", "the enrollment is locked"));
        d.attemptsLeft--;
        return s.fail(err("wrong-enrollment-code", `the enrollment code is not right; ${d.attemptsLeft.toString()} attempts left`));
      }
      return s.fail(err("wrong-enrollment-code", "the enrollment code is not right"));
    },
    kioskRecognise: (args) => {
      const d = data(s);
      if (!d.updateReaders.includes(str(args, "reader"))) return s.later(null);
      d.update = {
        person_name: "Katherine Johnson",
        profile_name: "Employee 2027",
        reprovision: false,
        idle_timeout_secs: 60,
        pin: { min_length: 6, max_length: 8, numeric: true },
        resuming: false,
      };
      d.proved = false;
      return s.later(d.update);
    },
    kioskProve: (args) => {
      const d = data(s);
      if (d.update === null) return s.fail(err("bad-input", "insert your card first"));
      if (str(args, "pin") !== FAKE_CURRENT_PIN) return s.fail(err("wrong-pin", "wrong PIN", 2));
      d.proved = true;
      return s.later(null);
    },
    kioskUpdate: async (args) => {
      const d = data(s);
      if (d.update === null || !d.proved) return s.fail(err("bad-input", "insert your card first"));
      const [pin, again] = [str(args, "pin"), str(args, "again")];
      if (pin !== again) return s.fail(err("pins-differ", "the two PINs are not the same"));
      if (!/^[0-9]{6,8}$/.test(pin)) return s.fail(err("pin-not-allowed", "the PIN must be 6 to 8 digits"));
      await cardSteps(s, str(args, "reader"), channelId(args, "progress"), issueSteps());
      d.cardPin = pin;
      return { serial: "7C01D2E4", resumed: false, warnings: [] };
    },
    kioskEncode: async (args) => {
      const d = data(s);
      if (d.current === null) return s.fail(err("bad-input", "enter your enrollment code first"));
      const [pin, again] = [str(args, "pin"), str(args, "again")];
      if (pin !== again) return s.fail(err("pins-differ", "the two PINs are not the same"));
      if (!/^[0-9]{6,8}$/.test(pin)) return s.fail(err("pin-not-allowed", "the PIN must be 6 to 8 digits"));
      const reader = str(args, "reader");
      await cardSteps(s, reader, channelId(args, "progress"), issueSteps());
      d.cardPin = pin;
      return { serial: "5F3A9C21", resumed: d.current.resuming, warnings: [] };
    },
    kioskTryPin: (args) => {
      const d = data(s);
      if ((d.current === null && d.update === null) || d.cardPin === null) return s.fail(err("bad-input", "enter your enrollment code first"));
      if (str(args, "pin") !== d.cardPin) return s.fail(err("wrong-pin", "wrong PIN", 2));
      return s.later(null);
    },
    kioskEnd: () => {
      const d = data(s);
      d.current = null;
      d.update = null;
      d.proved = false;
      d.cardPin = null;
      d.ended++;
      return Promise.resolve();
    },
    kioskExit: (args) => {
      if (str(args, "password") !== "secret") return s.fail(err("sign-in", "User name or password not accepted."));
      data(s).exited = true;
      s.signedIn = false;
      return s.later(null);
    },
  };
}
