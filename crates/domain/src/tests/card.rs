//! Card machine: every state × every command, against an explicit table.

use super::fixtures::*;
use crate::machines::card::{apply, next_state};
use crate::*;

use CardState as S;

/// Every command the table covers, by label (variants with different outcomes listed separately).
const COMMANDS: &[&str] = &[
    "approve",
    "reject",
    "abort",
    "issue_to_issued",
    "issue_to_active",
    "fail_production",
    "retry",
    "activate",
    "deactivate",
    "reactivate",
    "suspend_for_temporary",
    "resume_no_longer_needed",
    "resume_lost",
    "cancel_lost",
    "cancel_damaged",
    "expire",
    "erase",
];

fn command(label: &str) -> CardCommand {
    match label {
        "approve" => CardCommand::Approve,
        "reject" => CardCommand::Reject,
        "abort" => CardCommand::Abort,
        "issue_to_issued" => CardCommand::Issue {
            route: IssueRoute::Single,
            end_state: CardEndState::Issued,
            certificate_end_state: CertificateEndState::OnHold,
        },
        "issue_to_active" => CardCommand::Issue {
            route: IssueRoute::Single,
            end_state: CardEndState::Active,
            certificate_end_state: CertificateEndState::Valid,
        },
        "fail_production" => CardCommand::FailProduction { route: IssueRoute::Single },
        "retry" => CardCommand::Retry { route: IssueRoute::Single },
        "activate" => CardCommand::Activate,
        "deactivate" => CardCommand::Deactivate,
        "reactivate" => CardCommand::Reactivate,
        "suspend_for_temporary" => CardCommand::SuspendForTemporary { temporary: TEMP_CARD },
        "resume_no_longer_needed" => {
            CardCommand::ResumeAfterTemporary { reason: TemporaryReturnReason::NoLongerNeeded }
        }
        "resume_lost" => CardCommand::ResumeAfterTemporary { reason: TemporaryReturnReason::Lost },
        "cancel_lost" => CardCommand::Cancel { reason: CancelReason::Lost },
        "cancel_damaged" => CardCommand::Cancel { reason: CancelReason::Damaged },
        "expire" => CardCommand::Expire,
        "erase" => CardCommand::Erase,
        other => panic!("no such command label {other}"),
    }
}

/// The allowed transitions of SPEC §4 Card; every pair not listed is refused.
const ALLOWED: &[(CardState, &str, CardState)] = &[
    (S::Requested, "approve", S::Approved),
    (S::Requested, "reject", S::Rejected),
    (S::Requested, "abort", S::Aborted),
    (S::Approved, "issue_to_issued", S::Issued),
    (S::Approved, "issue_to_active", S::Active),
    (S::Approved, "fail_production", S::ProductionFailed),
    (S::ProductionFailed, "issue_to_issued", S::Issued),
    (S::ProductionFailed, "issue_to_active", S::Active),
    (S::ProductionFailed, "fail_production", S::ProductionFailed),
    (S::ProductionFailed, "retry", S::Approved),
    (S::ProductionFailed, "erase", S::Erased),
    (S::Issued, "activate", S::Active),
    (S::Issued, "cancel_lost", S::Locked),
    (S::Issued, "cancel_damaged", S::Locked),
    (S::Issued, "expire", S::Expired),
    (S::Issued, "erase", S::Erased),
    (S::Active, "deactivate", S::Inactive),
    (S::Active, "suspend_for_temporary", S::TemporarilyInactive),
    (S::Active, "cancel_lost", S::Locked),
    (S::Active, "cancel_damaged", S::Locked),
    (S::Active, "expire", S::Expired),
    (S::Active, "erase", S::Erased),
    (S::Inactive, "reactivate", S::Active),
    (S::Inactive, "cancel_lost", S::Locked),
    (S::Inactive, "cancel_damaged", S::Locked),
    (S::Inactive, "expire", S::Expired),
    (S::Inactive, "erase", S::Erased),
    (S::TemporarilyInactive, "resume_no_longer_needed", S::Active),
    (S::TemporarilyInactive, "resume_lost", S::Inactive),
    (S::TemporarilyInactive, "cancel_lost", S::Locked),
    (S::TemporarilyInactive, "cancel_damaged", S::Locked),
    (S::TemporarilyInactive, "expire", S::Expired),
    (S::TemporarilyInactive, "erase", S::Erased),
    (S::Locked, "erase", S::Erased),
    (S::Expired, "erase", S::Erased),
];

fn expected(from: CardState, label: &str) -> Result<CardState, Refusal> {
    ALLOWED.iter().find(|(s, l, _)| *s == from && *l == label).map(|(_, _, to)| *to).ok_or_else(|| {
        Refusal::StateNotAllowed { from: AnyState::Card(from), command: command(label).name().to_owned() }
    })
}

/// The effects each allowed transition must report.
fn expected_effects(from: CardState, label: &str) -> Vec<CardEffect> {
    let revoke = |reason| CardEffect::RevokeCertificates { reason };
    match label {
        "issue_to_issued" => vec![CardEffect::CertificatesIssued { state: CertificateEndState::OnHold }],
        "issue_to_active" => vec![CardEffect::CertificatesIssued { state: CertificateEndState::Valid }],
        "deactivate" | "suspend_for_temporary" => vec![CardEffect::HoldCertificates],
        "reactivate" | "resume_no_longer_needed" => vec![CardEffect::ReleaseCertificates],
        "cancel_lost" => vec![revoke(RevocationReason::KeyCompromise)],
        "cancel_damaged" => vec![revoke(RevocationReason::CessationOfOperation)],
        "erase" => match from {
            S::Issued | S::Active | S::Inactive | S::TemporarilyInactive => {
                vec![revoke(RevocationReason::CessationOfOperation), CardEffect::ReturnToStock]
            }
            _ => vec![CardEffect::ReturnToStock],
        },
        _ => vec![],
    }
}

/// The actor allowed to give each command: the requester aborts; anyone else is the officer.
fn actor_for(label: &str) -> Actor {
    if label == "abort" {
        operator(REQUESTER, Permissions::everything())
    } else {
        officer()
    }
}

#[test]
fn table_lists_every_state_and_command_once() {
    assert_eq!(CardState::ALL.len(), 12, "SPEC §4 card states plus temporarily-inactive");
    for (i, (s, l, _)) in ALLOWED.iter().enumerate() {
        assert!(COMMANDS.contains(l), "unknown label {l}");
        assert!(!ALLOWED[..i].iter().any(|(s2, l2, _)| s2 == s && l2 == l), "duplicate row {s:?} {l}");
    }
}

#[test]
fn next_state_matches_table_for_every_state_and_command() {
    let mut checked = 0;
    for from in CardState::ALL {
        for label in COMMANDS {
            assert_eq!(next_state(from, &command(label)), expected(from, label), "{from:?} × {label}");
            checked += 1;
        }
    }
    assert_eq!(checked, 12 * 17);
}

#[test]
fn apply_with_a_permitted_actor_matches_table_and_effects() {
    for from in CardState::ALL {
        for label in COMMANDS {
            let got = apply(&device(from), &command(label), &actor_for(label), NOW);
            match expected(from, label) {
                Ok(to) => {
                    let outcome = got.unwrap_or_else(|r| panic!("{from:?} × {label} refused: {r}"));
                    assert_eq!(outcome.from, from);
                    assert_eq!(outcome.to, to, "{from:?} × {label}");
                    assert_eq!(outcome.at, NOW);
                    assert_eq!(outcome.effects, expected_effects(from, label), "{from:?} × {label}");
                }
                Err(refusal) => assert_eq!(got, Err(refusal), "{from:?} × {label}"),
            }
        }
    }
}

#[test]
fn final_states_accept_nothing() {
    for from in CardState::ALL.into_iter().filter(|s| s.is_final()) {
        for label in COMMANDS {
            assert!(next_state(from, &command(label)).is_err(), "{from:?} is final but accepts {label}");
        }
    }
}

#[test]
fn approver_cannot_be_requester_or_recipient() {
    let d = device(S::Requested);
    let as_requester = operator(REQUESTER, Permissions::everything());
    let as_holder = operator(HOLDER, Permissions::everything());
    assert_eq!(apply(&d, &CardCommand::Approve, &as_requester, NOW), Err(Refusal::ApproverIsRequester));
    assert_eq!(apply(&d, &CardCommand::Reject, &as_holder, NOW), Err(Refusal::ApproverIsRecipient));
}

#[test]
fn approving_needs_can_approve_on_the_cards_profile() {
    let d = device(S::Requested);
    let other_profile = only(&[Permission::on(ProfilePermission::CanApprove, P2)]);
    assert_eq!(
        apply(&d, &CardCommand::Approve, &other_profile, NOW),
        Err(Refusal::NotPermitted { permission: Permission::on(ProfilePermission::CanApprove, P1) })
    );
    let right_profile = only(&[Permission::on(ProfilePermission::CanApprove, P1)]);
    assert_eq!(apply(&d, &CardCommand::Approve, &right_profile, NOW).unwrap().to, S::Approved);
}

#[test]
fn only_the_requester_aborts() {
    assert_eq!(
        apply(&device(S::Requested), &CardCommand::Abort, &officer(), NOW),
        Err(Refusal::NotRequester)
    );
}

#[test]
fn nobody_erases_or_cancels_the_device_they_signed_in_with() {
    // Not their card by ownership: the sign-in device alone forbids it (UC-RETIRE).
    let actor = officer().signed_in_with(CARD);
    for label in ["erase", "cancel_lost", "deactivate"] {
        assert_eq!(
            apply(&device(S::Active), &command(label), &actor, NOW),
            Err(Refusal::OwnDevice { device: CARD }),
            "{label}"
        );
    }
}

#[test]
fn nobody_retires_or_issues_their_own_card() {
    let holder = operator(HOLDER, Permissions::everything());
    assert_eq!(
        apply(&device(S::Active), &CardCommand::Erase, &holder, NOW),
        Err(Refusal::OwnDevice { device: CARD })
    );
    assert_eq!(
        apply(&device(S::Approved), &command("issue_to_active"), &holder, NOW),
        Err(Refusal::OwnDevice { device: CARD })
    );
}

#[test]
fn retire_commands_need_their_global_permissions() {
    let collector = only(&[Permission::on(ProfilePermission::CanCollect, P1)]);
    assert_eq!(
        apply(&device(S::Active), &CardCommand::Erase, &collector, NOW),
        Err(Refusal::NotPermitted { permission: Permission::global(GlobalPermission::Erase) })
    );
    assert_eq!(
        apply(&device(S::Active), &CardCommand::Deactivate, &collector, NOW),
        Err(Refusal::NotPermitted { permission: Permission::global(GlobalPermission::CancelRevoke) })
    );
}

#[test]
fn batch_issuance_needs_manage_batches_and_the_batch_use_case() {
    let cmd = CardCommand::Issue {
        route: IssueRoute::Batch,
        end_state: CardEndState::Issued,
        certificate_end_state: CertificateEndState::OnHold,
    };
    let collector = only(&[Permission::on(ProfilePermission::CanCollect, P1)]);
    assert_eq!(
        apply(&device(S::Approved), &cmd, &collector, NOW),
        Err(Refusal::NotPermitted { permission: Permission::global(GlobalPermission::ManageBatches) })
    );
    let mut no_batch = officer();
    no_batch.use_cases.disable(UseCase::Batch).unwrap();
    assert_eq!(
        apply(&device(S::Approved), &cmd, &no_batch, NOW),
        Err(Refusal::UseCaseDisabled(UseCase::Batch))
    );
}

#[test]
fn a_disabled_use_case_is_refused_before_anything_else() {
    let mut actor = officer();
    actor.use_cases.disable(UseCase::Retire).unwrap();
    // Even a command the state would refuse reports the disabled use case.
    assert_eq!(
        apply(&device(S::Requested), &CardCommand::Erase, &actor, NOW),
        Err(Refusal::UseCaseDisabled(UseCase::Retire))
    );
}

#[test]
fn expiry_only_after_the_expiry_date() {
    let mut d = device(S::Active);
    d.expires_at = Some(NOW + days(1));
    assert_eq!(
        apply(&d, &CardCommand::Expire, &Actor::system(), NOW),
        Err(Refusal::NotYetExpired { expires_at: NOW + days(1) })
    );
    assert_eq!(apply(&d, &CardCommand::Expire, &Actor::system(), NOW + days(1)).unwrap().to, S::Expired);
}

#[test]
fn the_system_and_cardholders_cannot_give_operator_commands() {
    let d = device(S::Active);
    assert_eq!(apply(&d, &CardCommand::Deactivate, &Actor::system(), NOW), Err(Refusal::OperatorRequired));
    let kiosk = Actor::cardholder(OFFICER, UseCases::all());
    assert_eq!(apply(&d, &CardCommand::Erase, &kiosk, NOW), Err(Refusal::OperatorRequired));
}

#[test]
fn cancel_reasons_decide_the_certificates_fate() {
    assert_eq!(CancelReason::Lost.revocation(), RevocationReason::KeyCompromise);
    assert_eq!(CancelReason::Stolen.revocation(), RevocationReason::KeyCompromise);
    assert_eq!(CancelReason::Damaged.revocation(), RevocationReason::CessationOfOperation);
    assert_eq!(CancelReason::NoLongerNeeded.revocation(), RevocationReason::CessationOfOperation);
}

#[test]
fn the_device_view_offers_the_actions_of_the_state_with_reasons() {
    let ends = (CardEndState::Active, CertificateEndState::Valid);
    let names = |actions: &[crate::machines::card::CardAction]| {
        actions.iter().map(|a| (a.command.name(), a.refusal.clone())).collect::<Vec<_>>()
    };
    let active = crate::machines::card::actions(&device(S::Active), ends, &officer(), NOW);
    assert_eq!(
        names(&active),
        vec![("deactivate", None), ("cancel", None), ("erase", None)],
        "an active card can be deactivated, cancelled or erased"
    );
    let own = crate::machines::card::actions(&device(S::Active), ends, &officer().signed_in_with(CARD), NOW);
    assert!(own.iter().all(|a| a.refusal == Some(Refusal::OwnDevice { device: CARD })), "{own:?}");
    let mut no_retire = officer();
    no_retire.use_cases.disable(UseCase::Retire).unwrap();
    assert!(crate::machines::card::actions(&device(S::Active), ends, &no_retire, NOW).is_empty());
    let requested = crate::machines::card::actions(&device(S::Requested), ends, &officer(), NOW);
    assert_eq!(
        names(&requested),
        vec![("approve", None), ("reject", None), ("abort", Some(Refusal::NotRequester))]
    );
}

#[test]
fn every_state_is_reachable_from_requested_and_every_state_can_end() {
    use std::collections::BTreeSet;
    let step = |s: CardState| -> Vec<CardState> {
        COMMANDS.iter().filter_map(|l| next_state(s, &command(l)).ok()).collect()
    };
    let mut seen = BTreeSet::from([S::Requested.name()]);
    let mut queue = vec![S::Requested];
    while let Some(s) = queue.pop() {
        for t in step(s) {
            if seen.insert(t.name()) {
                queue.push(t);
            }
        }
    }
    let all: BTreeSet<_> = CardState::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(seen, all, "no card state is unreachable");
    for s in CardState::ALL {
        // From every state a final state (no way out) is reachable: nothing loops forever.
        let mut frontier = vec![s];
        let mut visited = BTreeSet::new();
        let mut ends = false;
        while let Some(x) = frontier.pop() {
            if !visited.insert(x.name()) {
                continue;
            }
            let next = step(x);
            ends |= next.is_empty();
            frontier.extend(next);
        }
        assert!(ends, "{s:?} can never end");
    }
}

#[test]
fn actions_read_as_operator_wording() {
    assert_eq!(
        CardCommand::Cancel { reason: CancelReason::NoLongerNeeded }.to_string(),
        "cancel the card (no longer needed)"
    );
    assert_eq!(
        CardCommand::Issue {
            route: IssueRoute::Batch,
            end_state: CardEndState::Active,
            certificate_end_state: CertificateEndState::OnHold
        }
        .to_string(),
        "issue the card (batch; card ends active, certificates on hold)"
    );
    assert_eq!(CardCommand::Deactivate.to_string(), "deactivate the card (certificates on hold)");
}
