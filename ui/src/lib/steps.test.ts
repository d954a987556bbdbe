import { describe, expect, it } from "vitest";
import type { CardStep, Notice } from "../bindings";
import { algorithmName, applyJobEvent, emptyProgress, noticeText, percentDone, slotName, stepCounter, stepLabel } from "./steps";

const STEPS: CardStep[] = [
  { step: "authenticate" }, { step: "set_management_key", algorithm: "AES-192" }, { step: "set_retries", pin: 3, puk: 5 },
  { step: "set_pin" }, { step: "set_puk" }, { step: "generate_key", slot: "9a", algorithm: "ecc_p256" },
  { step: "prove_and_certify", slot: "9a" }, { step: "check_certificate", slot: "9c" },
  { step: "write_certificate", slot: "9d" }, { step: "delete_certificate", slot: "9e" },
  { step: "write_chuid" }, { step: "write_ccc" }, { step: "read_back" }, { step: "block_pin" },
  { step: "block_puk" }, { step: "reset_application" }, { step: "unblock_pin" }, { step: "verify_pin" },
  { step: "ask_challenge" }, { step: "prove_response" }, { step: "change_puk" },
];

describe("step names", () => {
  it("names every step distinctly, without snake_case", () => {
    const labels = STEPS.map(stepLabel);
    expect(new Set(labels).size).toBe(STEPS.length);
    for (const l of labels) expect(l).not.toMatch(/_/);
  });

  it("names slots and algorithms", () => {
    expect(stepLabel({ step: "generate_key", slot: "9A", algorithm: "rsa2048" })).toBe(
      "Generating the 9A authentication key (RSA 2048)",
    );
    expect(stepLabel({ step: "set_retries", pin: 3, puk: 5 })).toBe("Setting PIN tries to 3 and PUK tries to 5");
    expect(slotName("digital_signature")).toBe("9C signature");
    expect(slotName("82")).toBe("82");
    expect(algorithmName("EccP384")).toBe("ECC P-384");
    expect(algorithmName("ECC P-256")).toBe("ECC P-256");
    expect(algorithmName("RSA 2048")).toBe("RSA 2048");
    expect(stepLabel({ step: "set_management_key", algorithm: "AES-192" })).toBe(
      "Setting the card's own management key (AES-192)",
    );
    expect(stepLabel({ step: "generate_key", slot: "9a", algorithm: "ECC P-256" })).toBe(
      "Generating the 9A authentication key (ECC P-256)",
    );
  });

  it("words every notice", () => {
    const notices: Notice[] = [
      { notice: "resuming_job", job: "j" }, { notice: "earlier_attempt" },
      { notice: "card_already_finished", job: "j" }, { notice: "pin_reset_only", job: "j" },
    ];
    expect(new Set(notices.map(noticeText)).size).toBe(4);
  });
});

describe("job progress", () => {
  it("folds events, replacing a repeated step index", () => {
    let p = emptyProgress();
    p = applyJobEvent(p, { kind: "step", index: 1, total: 4, step: { step: "authenticate" } });
    p = applyJobEvent(p, { kind: "step", index: 2, total: 4, step: { step: "set_pin" } });
    p = applyJobEvent(p, { kind: "notice", notice: { notice: "earlier_attempt" } });
    p = applyJobEvent(p, { kind: "step", index: 2, total: 4, step: { step: "set_pin" } });
    expect(p.steps.map((s) => s.index)).toEqual([1, 2]);
    expect(p.current && stepCounter(p.current)).toBe("Step 2 of 4");
    expect(percentDone(p.current)).toBe(25);
    expect(p.notices).toHaveLength(1);
    expect(p.written).toBe(false);
    p = applyJobEvent(p, { kind: "card_written" });
    expect(p.written).toBe(true);
    expect(percentDone(null)).toBe(0);
  });
});
