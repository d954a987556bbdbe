// Offline PIN unblock by challenge–response (UC-PIN, card not at the station), the helpdesk's side:
// pure helpers. The challenge goes to the backend exactly as typed (it parses case, spaces and
// dashes itself); these only check that something was typed and lay the response out to read aloud.
import type { HitView, PersonRef } from "../bindings";
import type { ReaderState } from "./readers";

/** The card as the screen names it: profile and serial, never its id. */
export function offlineCardLabel(hit: Extract<HitView, { kind: "device" }>): string {
  return [hit.profile_name, hit.serial ? `serial ${hit.serial}` : null].filter((x): x is string => !!x).join(", ");
}

/** The screen's heading: whose card it is. */
export function offlineTitle(holder: PersonRef | null): string {
  return holder ? `Offline PIN unblock for ${holder.name}` : "Offline PIN unblock";
}

/**
 * What stops the request before it is sent: no challenge typed, or no identity-check note (the
 * note goes into the audit record, and the backend refuses without it).
 */
export function offlineProblem(challenge: string, identityCheck: string): { field: "challenge" | "identity"; message: string } | null {
  if (challenge.trim() === "") {
    return { field: "challenge", message: "Type the challenge code the cardholder reads out from their unblock tool." };
  }
  if (identityCheck.trim() === "") {
    return {
      field: "identity",
      message: "Note how you checked the cardholder's identity (for example: call-back to the number on file): it goes into the audit record.",
    };
  }
  return null;
}

/**
 * The response code in the groups it is read aloud in. The backend sends it grouped ("7K2M-9QXD-…");
 * its groups are kept as they are. A code that arrives as one long run is cut into groups of 4.
 */
export function responseGroups(code: string): string[] {
  const groups = code
    .trim()
    .split(/[\s-]+/)
    .filter((g) => g !== "");
  const only = groups[0];
  if (groups.length === 1 && only !== undefined && only.length > 5) return only.match(/.{1,4}/g) ?? [only];
  return groups;
}

/** For screen readers: every character apart, groups separated ("7 K 2 M, 9 Q X D"). */
export function spokenCode(groups: readonly string[]): string {
  return groups.map((g) => g.split("").join(" ")).join(", ");
}

/** The reader the card is in after all, if it is (then it is unblocked there, without codes). */
export function readerHolding(readers: readonly ReaderState[], device: string): string | null {
  const r = readers.find((x) => x.view?.kind === "ours" && x.view.device_id === device);
  return r?.name ?? null;
}
