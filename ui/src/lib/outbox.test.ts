import { describe, expect, it } from "vitest";
import { madeBy, refusedHeading, waitingForOthers, waitingText } from "./outbox";

describe("outbox words", () => {
  it("names who made an operation", () => {
    expect(madeBy({ operator: "Olga Operator (olga)", yours: true })).toBe("You");
    expect(madeBy({ operator: "Abe Approver (abe)", yours: false })).toBe("Abe Approver (abe)");
    expect(madeBy({ operator: null, yours: false })).toBe("Not recorded");
    expect(madeBy({ operator: null, yours: true })).toBe("You");
  });

  it("says whose sign-in another operator's operation waits for", () => {
    expect(waitingText({ operator: "Abe Approver (abe)", yours: false })).toBe(
      "Waits for Abe Approver (abe) to sign in: sent only in their session",
    );
    expect(waitingText({ operator: null, yours: false })).toBe(
      "Waits for the operator who made it to sign in: sent only in their session",
    );
    expect(waitingText({ operator: "Olga Operator (olga)", yours: true })).toBeNull();
    expect(waitingForOthers([{ yours: true }, { yours: false }, { yours: false }])).toBe(2);
    expect(waitingForOthers([])).toBe(0);
  });

  it("counts refusals in the notice heading", () => {
    expect(refusedHeading(1)).toBe("1 of your queued actions was refused by the registry");
    expect(refusedHeading(2)).toBe("2 of your queued actions were refused by the registry");
  });
});
