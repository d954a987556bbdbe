//! Certificate machine: every state × every command, against an explicit table.

use super::fixtures::*;
use crate::machines::certificate::{apply, follow_card, next_state};
use crate::*;

use CertificateState as S;

const REVOKED: S = S::Revoked { reason: RevocationReason::KeyCompromise };
const STATES: [S; 3] = [S::OnHold, S::Valid, REVOKED];
const COMMANDS: [CertificateCommand; 3] = [
    CertificateCommand::Hold,
    CertificateCommand::Release,
    CertificateCommand::Revoke { reason: RevocationReason::Superseded },
];

/// SPEC §4 Certificate: on hold ⇄ valid → revoked (final).
fn expected(from: S, command: CertificateCommand) -> Result<S, Refusal> {
    let table: [(S, CertificateCommand, S); 4] = [
        (S::Valid, CertificateCommand::Hold, S::OnHold),
        (S::OnHold, CertificateCommand::Release, S::Valid),
        (S::Valid, COMMANDS[2], S::Revoked { reason: RevocationReason::Superseded }),
        (S::OnHold, COMMANDS[2], S::Revoked { reason: RevocationReason::Superseded }),
    ];
    table.iter().find(|(s, c, _)| *s == from && *c == command).map(|(_, _, to)| *to).ok_or_else(|| {
        Refusal::StateNotAllowed { from: AnyState::Certificate(from), command: command.name().to_owned() }
    })
}

#[test]
fn next_state_and_apply_match_table_for_every_state_and_command() {
    for from in STATES {
        for command in COMMANDS {
            let want = expected(from, command);
            assert_eq!(next_state(from, command), want, "{from:?} × {command:?}");
            let got = apply(&certificate(from), Some(HOLDER), command, &officer(), NOW).map(|o| o.to);
            assert_eq!(got, want, "apply {from:?} × {command:?}");
        }
    }
}

#[test]
fn certificates_follow_their_card() {
    let hold = CardEffect::HoldCertificates;
    let release = CardEffect::ReleaseCertificates;
    let revoke = CardEffect::RevokeCertificates { reason: RevocationReason::KeyCompromise };
    let issued = CardEffect::CertificatesIssued { state: CertificateEndState::Valid };
    let cases = [
        (S::Valid, hold, Some(S::OnHold)),
        (S::OnHold, hold, None),
        (REVOKED, hold, None),
        (S::OnHold, release, Some(S::Valid)),
        (S::Valid, release, None),
        (REVOKED, release, None),
        (S::Valid, revoke, Some(REVOKED)),
        (S::OnHold, revoke, Some(REVOKED)),
        (S::Revoked { reason: RevocationReason::Superseded }, revoke, None),
        (S::Valid, issued, None),
        (S::Valid, CardEffect::ReturnToStock, None),
    ];
    for (from, effect, want) in cases {
        assert_eq!(follow_card(from, effect), want, "{from:?} after {effect:?}");
    }
}

#[test]
fn revoking_needs_cancel_revoke_and_not_ones_own_card() {
    let cert = certificate(S::Valid);
    let cmd = CertificateCommand::Revoke { reason: RevocationReason::KeyCompromise };
    assert_eq!(
        apply(&cert, Some(HOLDER), cmd, &only(&[]), NOW),
        Err(Refusal::NotPermitted { permission: Permission::global(GlobalPermission::CancelRevoke) })
    );
    let holder = operator(HOLDER, Permissions::everything());
    assert_eq!(apply(&cert, Some(HOLDER), cmd, &holder, NOW), Err(Refusal::OwnDevice { device: CARD }));
}
