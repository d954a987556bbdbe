//! Progress of card work, typed: each client names the steps in its own
//! words (the CLI through `Display`, the desktop app per step kind), and
//! nothing secret ever travels in a progress event.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One step of card work, as it begins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum CardStep {
    /// Authenticate with the card's management key.
    Authenticate,
    /// Set the per-card management key.
    SetManagementKey {
        /// Its algorithm, e.g. "AES-192".
        algorithm: String,
    },
    /// Set the PIN and PUK retry counters.
    SetRetries {
        /// PIN tries.
        pin: u8,
        /// PUK tries.
        puk: u8,
    },
    /// Set the new PIN.
    SetPin,
    /// Set the new PUK.
    SetPuk,
    /// Generate a key pair in a slot.
    GenerateKey {
        /// Slot, e.g. "9a".
        slot: String,
        /// Algorithm, as profiles name it, e.g. "ecc-p256".
        algorithm: String,
    },
    /// Prove possession of the new key and have the registry CA certify it.
    ProveAndCertify {
        /// Slot.
        slot: String,
    },
    /// Check the issued certificate certifies the generated key.
    CheckCertificate {
        /// Slot.
        slot: String,
    },
    /// Write a certificate.
    WriteCertificate {
        /// Slot.
        slot: String,
    },
    /// Delete the certificate of a slot the profile does not name.
    DeleteCertificate {
        /// Slot.
        slot: String,
    },
    /// Write the CHUID (the card's identity).
    WriteChuid,
    /// Write the CCC.
    WriteCcc,
    /// Read everything back and verify the new PIN.
    ReadBack,
    /// Block the PIN (erase).
    BlockPin,
    /// Block the PUK (erase).
    BlockPuk,
    /// Reset the PIV application (erase).
    ResetApplication,
    /// Unblock the PIN with the escrowed PUK.
    UnblockPin,
    /// Verify the new PIN.
    VerifyPin,
    /// Ask the card for a challenge (offline unblock).
    AskChallenge,
    /// Prove the response to the card (offline unblock).
    ProveResponse,
    /// Change the PUK to the escrowed one (offline unblock).
    ChangePuk,
}

impl From<&piv::Step> for CardStep {
    fn from(step: &piv::Step) -> Self {
        use piv::profile::names;
        use piv::Step as S;
        match step {
            S::Authenticate { .. } => CardStep::Authenticate,
            S::SetManagementKey { algorithm, .. } => {
                CardStep::SetManagementKey { algorithm: names::management_algorithm_name(*algorithm).into() }
            }
            S::SetRetries { pin, puk } => CardStep::SetRetries { pin: *pin, puk: *puk },
            S::SetPin { .. } => CardStep::SetPin,
            S::SetPuk => CardStep::SetPuk,
            S::GenerateKey { slot, algorithm, .. } => CardStep::GenerateKey {
                slot: slot.to_string(),
                algorithm: names::key_algorithm_name(*algorithm).into(),
            },
            S::ProveAndCertify { slot, .. } => CardStep::ProveAndCertify { slot: slot.to_string() },
            S::VerifyCertificateMatchesKey { slot } => CardStep::CheckCertificate { slot: slot.to_string() },
            S::WriteCertificate { slot, .. } => CardStep::WriteCertificate { slot: slot.to_string() },
            S::DeleteCertificate { slot } => CardStep::DeleteCertificate { slot: slot.to_string() },
            S::WriteChuid { .. } => CardStep::WriteChuid,
            S::WriteCcc { .. } => CardStep::WriteCcc,
            S::Verify { .. } => CardStep::ReadBack,
        }
    }
}

impl std::fmt::Display for CardStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CardStep::Authenticate => f.write_str("authenticate with the management key"),
            CardStep::SetManagementKey { algorithm } => write!(f, "set a new {algorithm} management key"),
            CardStep::SetRetries { pin, puk } => write!(f, "set retry counters (PIN {pin}, PUK {puk})"),
            CardStep::SetPin => f.write_str("set the PIN"),
            CardStep::SetPuk => f.write_str("set the PUK"),
            CardStep::GenerateKey { slot, algorithm } => {
                write!(f, "generate a {algorithm} key in slot {slot}")
            }
            CardStep::ProveAndCertify { slot } => write!(f, "prove possession and certify slot {slot}"),
            CardStep::CheckCertificate { slot } => write!(f, "check the certificate of slot {slot}"),
            CardStep::WriteCertificate { slot } => write!(f, "write the certificate of slot {slot}"),
            CardStep::DeleteCertificate { slot } => write!(f, "delete the certificate of slot {slot}"),
            CardStep::WriteChuid => f.write_str("write the CHUID"),
            CardStep::WriteCcc => f.write_str("write the CCC"),
            CardStep::ReadBack => f.write_str("read back and verify"),
            CardStep::BlockPin => f.write_str("blocking the PIN"),
            CardStep::BlockPuk => f.write_str("blocking the PUK"),
            CardStep::ResetApplication => f.write_str("resetting the PIV application"),
            CardStep::UnblockPin => f.write_str("unblocking the PIN"),
            CardStep::VerifyPin => f.write_str("verifying the new PIN"),
            CardStep::AskChallenge => f.write_str("asking the card for a challenge"),
            CardStep::ProveResponse => f.write_str("proving the response to the card"),
            CardStep::ChangePuk => f.write_str("changing the PUK to the one the registry escrowed"),
        }
    }
}

/// Something about the job the operator should know now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// An interrupted job is being finished instead of starting anew.
    ResumingJob {
        /// The job.
        job: Uuid,
    },
    /// The card holds an earlier attempt: its escrowed management key is used.
    EarlierAttempt,
    /// The interrupted job had finished the card; only its recording is left.
    CardAlreadyFinished {
        /// The job.
        job: Uuid,
    },
    /// The card was recorded already; only its PIN is reset.
    PinResetOnly {
        /// The job.
        job: Uuid,
    },
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::ResumingJob { job } => write!(f, "resuming the interrupted job {job}"),
            Notice::EarlierAttempt => {
                f.write_str("this card holds an earlier attempt: using its escrowed management key")
            }
            Notice::CardAlreadyFinished { job } => {
                write!(f, "job {job}: the card was finished; recording it")
            }
            Notice::PinResetOnly { job } => {
                write!(f, "job {job}: the card was already recorded; resetting its PIN")
            }
        }
    }
}

/// Progress of card work, for a progress display.
pub trait Progress {
    /// Step `index` (from 1) of `total` begins.
    fn step(&mut self, _index: usize, _total: usize, _step: &CardStep) {}
    /// Something the operator should see now.
    fn note(&mut self, _notice: &Notice) {}
    /// The card holds everything the job writes; what follows (recording
    /// the issuance at the registry) needs no card, so it may leave the
    /// reader now (a batch asks for the next one).
    fn card_written(&mut self) {}
}

/// A progress event as a window receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobEvent {
    /// Step `index` (from 1) of `total` begins.
    Step {
        /// 1-based.
        index: u32,
        /// Steps in all.
        total: u32,
        /// Which.
        step: CardStep,
    },
    /// Something to know now.
    Notice {
        /// What.
        notice: Notice,
    },
    /// The card holds everything: it may be taken out.
    CardWritten,
}

/// [`Progress`] sent on as [`JobEvent`]s (to a window's channel).
pub struct ProgressEvents<F: FnMut(JobEvent)>(pub F);

impl<F: FnMut(JobEvent)> std::fmt::Debug for ProgressEvents<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressEvents")
    }
}

impl<F: FnMut(JobEvent)> Progress for ProgressEvents<F> {
    fn step(&mut self, index: usize, total: usize, step: &CardStep) {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        (self.0)(JobEvent::Step { index: n(index), total: n(total), step: step.clone() });
    }
    fn note(&mut self, notice: &Notice) {
        (self.0)(JobEvent::Notice { notice: notice.clone() });
    }
    fn card_written(&mut self) {
        (self.0)(JobEvent::CardWritten);
    }
}

/// No progress display.
#[derive(Debug, Default, Clone, Copy)]
pub struct SilentProgress;

impl Progress for SilentProgress {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_step_becomes_a_typed_step_without_its_parameters() {
        let step = piv::Step::GenerateKey {
            slot: piv::Slot::Authentication,
            algorithm: piv::KeyAlgorithm::EccP256,
            pin_policy: None,
            touch_policy: None,
        };
        let typed = CardStep::from(&step);
        assert_eq!(typed, CardStep::GenerateKey { slot: "9a".into(), algorithm: "ecc-p256".into() });
        let json = serde_json::to_value(&typed).unwrap();
        assert_eq!(json["step"], "generate_key");
        assert_eq!(typed.to_string(), step.describe(), "the CLI's words stay the plan's");
    }
}
