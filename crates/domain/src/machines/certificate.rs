//! The certificate state machine (SPEC §4 Certificate): `on hold ⇄ valid →
//! revoked (final)`; on hold may also be revoked directly.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::actor::Actor;
use crate::entities::certificate::Certificate;
use crate::ids::PersonId;
use crate::machines::card::CardEffect;
use crate::machines::{AnyState, NoEffect, Outcome};
use crate::permissions::{GlobalPermission, Permission};
use crate::refusal::Refusal;
use crate::rules;
use crate::use_case::UseCase;

/// Revocation reasons (RFC 5280 §5.3.1, the subset a card workstation uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// No reason given.
    Unspecified,
    /// The key may be known to someone else (lost, stolen card).
    KeyCompromise,
    /// The holder's details changed.
    AffiliationChanged,
    /// Replaced by a new certificate (update, reprovision).
    Superseded,
    /// No longer used (damaged, erased, left).
    CessationOfOperation,
}

/// Certificate states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum CertificateState {
    /// Suspended (RFC 5280 certificateHold); can be released.
    OnHold,
    /// Valid.
    Valid,
    /// Revoked (final).
    Revoked {
        /// Why.
        reason: RevocationReason,
    },
}

impl CertificateState {
    /// snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            CertificateState::OnHold => "on_hold",
            CertificateState::Valid => "valid",
            CertificateState::Revoked { .. } => "revoked",
        }
    }
}

/// Commands on a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command")]
pub enum CertificateCommand {
    /// Put on hold.
    Hold,
    /// Release from hold.
    Release,
    /// Revoke for good.
    Revoke {
        /// Why.
        reason: RevocationReason,
    },
}

impl CertificateCommand {
    /// snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            CertificateCommand::Hold => "hold",
            CertificateCommand::Release => "release",
            CertificateCommand::Revoke { .. } => "revoke",
        }
    }
}

/// An accepted transition of this machine.
pub type CertificateOutcome = Outcome<CertificateState, NoEffect>;

/// The bare transition table.
pub fn next_state(from: CertificateState, command: CertificateCommand) -> Result<CertificateState, Refusal> {
    use CertificateCommand as C;
    use CertificateState as S;
    match (from, command) {
        (S::Valid, C::Hold) => Ok(S::OnHold),
        (S::OnHold, C::Release) => Ok(S::Valid),
        (S::OnHold | S::Valid, C::Revoke { reason }) => Ok(S::Revoked { reason }),
        _ => Err(Refusal::StateNotAllowed {
            from: AnyState::Certificate(from),
            command: command.name().to_owned(),
        }),
    }
}

/// An operator acts on one certificate directly (UC-RETIRE): needs
/// Cancel/Revoke and may not touch the certificates of their own device.
/// `holder` is the owner of the certificate's device.
pub fn apply(
    certificate: &Certificate,
    holder: Option<PersonId>,
    command: CertificateCommand,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<CertificateOutcome, Refusal> {
    actor.require_use_case(UseCase::Retire)?;
    let from = certificate.state;
    let to = next_state(from, command)?;
    actor.require(Permission::global(GlobalPermission::CancelRevoke))?;
    rules::not_own_device(actor, certificate.device, holder)?;
    Ok(Outcome { from, to, at: now, effects: Vec::new() })
}

/// A certificate follows its card (SPEC §4: certificates on hold while the
/// card is inactive, revoked when it is locked). The card transition was
/// already decided, so no permission is checked here. `None`: unchanged
/// (e.g. releasing a certificate that is already valid, or one revoked).
pub fn follow_card(from: CertificateState, effect: CardEffect) -> Option<CertificateState> {
    use CertificateState as S;
    match (from, effect) {
        (S::Valid, CardEffect::HoldCertificates) => Some(S::OnHold),
        (S::OnHold, CardEffect::ReleaseCertificates) => Some(S::Valid),
        (S::OnHold | S::Valid, CardEffect::RevokeCertificates { reason }) => Some(S::Revoked { reason }),
        _ => None,
    }
}
