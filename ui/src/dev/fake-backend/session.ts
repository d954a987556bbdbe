// Fakes the session: app status, registry indicator, sign-in / sign-out, idle lock and unlock, touch.
import { events } from "../../bindings";
import { err, str, type AreaHandlers } from "./shared";
import type { FakeState } from "./state";

type SessionCommand = "appStatus" | "registryOnline" | "signIn" | "signOut" | "unlock" | "touch";

export function sessionHandlers(s: FakeState): AreaHandlers<SessionCommand> {
  return {
    appStatus: () =>
      s.later({
        enrolled: true,
        registry_url: "https://registry.example.org:8443",
        workstation: "Badge office, desk 3",
        signed_in: s.signedIn ? s.session : null,
        locked: s.locked,
        kiosk: s.kiosk,
      }),
    registryOnline: () => s.later(s.registryUp),
    signIn: (args) => {
      if (str(args, "username") === "locked") return s.fail(err("sign-in-locked", "Too many failed attempts; try again in 15 minutes."));
      if (str(args, "password") !== "secret") return s.fail(err("sign-in", "User name or password not accepted."));
      s.signedIn = true;
      s.signInAs(str(args, "username"));
      // This operator's refused actions are answered once, at sign-in only.
      const refused = (s.refusals.get(s.session.username) ?? []).map((r) => ({ ...r, yours: true }));
      s.refusals.delete(s.session.username);
      return s.later({ ...s.session, refused });
    },
    signOut: () => {
      s.signedIn = false;
      return s.later(null);
    },
    unlock: (args) => {
      if (str(args, "password") !== "secret") return s.fail(err("sign-in", "Password not accepted."));
      s.locked = false;
      return s.later(s.session);
    },
    touch: () => Promise.resolve(),
  };
}

/** The backend's idle lock fires (the generated `session-locked` event). */
export function lock(s: FakeState): void {
  s.locked = true;
  void events.sessionLocked.emit();
}
