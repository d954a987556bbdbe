//! Temporary card machine: every state × every command, against an explicit
//! table; and the permanent card's fate (SPEC §4, UC-TEMP, seed 001).

use super::fixtures::*;
use crate::machines::temporary_card::{apply, next_state};
use crate::*;

use TemporaryCardState as S;

const COMMANDS: &[&str] = &[
    "mark_produced",
    "initialize",
    "assign",
    "withdraw_no_longer_needed",
    "withdraw_lost",
    "expire",
    "lock",
];

fn command(label: &str) -> TemporaryCardCommand {
    match label {
        "mark_produced" => TemporaryCardCommand::MarkProduced,
        "initialize" => TemporaryCardCommand::Initialize,
        "assign" => TemporaryCardCommand::Assign {
            person: HOLDER,
            until: Some(NOW + days(14)),
            permanent_card: Some(CARD),
        },
        "withdraw_no_longer_needed" => {
            TemporaryCardCommand::Withdraw { reason: TemporaryReturnReason::NoLongerNeeded }
        }
        "withdraw_lost" => TemporaryCardCommand::Withdraw { reason: TemporaryReturnReason::Lost },
        "expire" => TemporaryCardCommand::Expire,
        "lock" => TemporaryCardCommand::Lock,
        other => panic!("no such command label {other}"),
    }
}

/// SPEC §4 Temporary card.
const ALLOWED: &[(TemporaryCardState, &str, TemporaryCardState)] = &[
    (S::Ordered, "mark_produced", S::Produced),
    (S::Produced, "initialize", S::Unassigned),
    (S::Unassigned, "assign", S::Assigned),
    (S::Unassigned, "lock", S::Locked),
    (S::Assigned, "withdraw_no_longer_needed", S::Unassigned),
    (S::Assigned, "withdraw_lost", S::Unassigned),
    (S::Assigned, "expire", S::Expired),
    (S::Assigned, "lock", S::Locked),
    (S::Expired, "withdraw_no_longer_needed", S::Unassigned),
    (S::Expired, "withdraw_lost", S::Unassigned),
];

fn expected(from: S, label: &str) -> Result<S, Refusal> {
    ALLOWED.iter().find(|(s, l, _)| *s == from && *l == label).map(|(_, _, to)| *to).ok_or_else(|| {
        Refusal::StateNotAllowed {
            from: AnyState::TemporaryCard(from),
            command: command(label).name().to_owned(),
        }
    })
}

fn expected_effects(label: &str) -> Vec<TemporaryCardEffect> {
    use TemporaryCardEffect as E;
    match label {
        "assign" => vec![E::SuspendPermanentCard { device: CARD }],
        "withdraw_no_longer_needed" => vec![
            E::ResumePermanentCard { device: CARD, reason: TemporaryReturnReason::NoLongerNeeded },
            E::ClearHolder,
        ],
        "withdraw_lost" => {
            vec![E::ResumePermanentCard { device: CARD, reason: TemporaryReturnReason::Lost }, E::ClearHolder]
        }
        _ => vec![],
    }
}

#[test]
fn next_state_matches_table_for_every_state_and_command() {
    for from in S::ALL {
        for label in COMMANDS {
            assert_eq!(next_state(from, &command(label)), expected(from, label), "{from:?} × {label}");
        }
    }
}

#[test]
fn apply_with_a_permitted_actor_matches_table_and_effects() {
    for from in S::ALL {
        for label in COMMANDS {
            let got = apply(&temporary_card(from), &command(label), &officer(), NOW);
            match expected(from, label) {
                Ok(to) => {
                    let outcome = got.unwrap_or_else(|r| panic!("{from:?} × {label}: {r}"));
                    assert_eq!(outcome.to, to, "{from:?} × {label}");
                    let mut want = expected_effects(label);
                    if *label == "lock" && from == S::Assigned {
                        want = vec![TemporaryCardEffect::ClearHolder];
                    }
                    assert_eq!(outcome.effects, want, "{from:?} × {label}");
                }
                Err(refusal) => assert_eq!(got, Err(refusal), "{from:?} × {label}"),
            }
        }
    }
}

#[test]
fn initialization_is_disabled_by_default() {
    // Seed 001: "This use case is disabled by default."
    let actor =
        Actor::operator(OperatorId::from_u128(9), OFFICER, Permissions::everything(), UseCases::default());
    assert_eq!(
        apply(&temporary_card(S::Produced), &TemporaryCardCommand::Initialize, &actor, NOW),
        Err(Refusal::UseCaseDisabled(UseCase::TempInitialize))
    );
    let mut enabled = actor.clone();
    enabled.use_cases.enable(UseCase::TempInitialize);
    let outcome =
        apply(&temporary_card(S::Produced), &TemporaryCardCommand::Initialize, &enabled, NOW).unwrap();
    assert_eq!(outcome.to, S::Unassigned, "seed 001: end state for temporary card = unassigned");
}

#[test]
fn only_produced_cards_are_initialized() {
    // Seed 001 prerequisite: "The temporary card must be in state produced".
    assert_eq!(
        apply(&temporary_card(S::Ordered), &TemporaryCardCommand::Initialize, &officer(), NOW),
        Err(Refusal::StateNotAllowed {
            from: AnyState::TemporaryCard(S::Ordered),
            command: "initialize".into()
        })
    );
}

#[test]
fn temporary_card_commands_need_manage_temporary_cards() {
    assert_eq!(
        apply(&temporary_card(S::Unassigned), &command("assign"), &only(&[]), NOW),
        Err(Refusal::NotPermitted { permission: Permission::global(GlobalPermission::ManageTemporaryCards) })
    );
}

#[test]
fn nobody_assigns_a_temporary_card_to_themselves() {
    let holder = operator(HOLDER, Permissions::everything());
    assert_eq!(
        apply(&temporary_card(S::Unassigned), &command("assign"), &holder, NOW),
        Err(Refusal::ActorIsRecipient)
    );
}

#[test]
fn an_assignment_must_end_in_the_future() {
    let cmd = TemporaryCardCommand::Assign { person: HOLDER, until: Some(NOW), permanent_card: None };
    assert_eq!(
        apply(&temporary_card(S::Unassigned), &cmd, &officer(), NOW),
        Err(Refusal::DateNotInFuture { date: NOW })
    );
}

#[test]
fn expiry_only_after_the_assignment_period() {
    let mut card = temporary_card(S::Assigned);
    card.assigned_until = Some(NOW + days(2));
    assert_eq!(
        apply(&card, &TemporaryCardCommand::Expire, &Actor::system(), NOW),
        Err(Refusal::NotYetExpired { expires_at: NOW + days(2) })
    );
    assert_eq!(
        apply(&card, &TemporaryCardCommand::Expire, &Actor::system(), NOW + days(2)).unwrap().to,
        S::Expired
    );
}

#[test]
fn the_permanent_card_is_temporarily_inactive_while_a_temporary_card_is_out() {
    let run = |permanent: &mut Device, effects: &[TemporaryCardEffect]| {
        for effect in effects {
            let cmd = match *effect {
                TemporaryCardEffect::SuspendPermanentCard { .. } => {
                    CardCommand::SuspendForTemporary { temporary: TEMP_CARD }
                }
                TemporaryCardEffect::ResumePermanentCard { reason, .. } => {
                    CardCommand::ResumeAfterTemporary { reason }
                }
                TemporaryCardEffect::ClearHolder => continue,
            };
            permanent.state = crate::machines::card::apply(permanent, &cmd, &officer(), NOW).unwrap().to;
        }
    };
    for (reason, permanent_ends) in [
        (TemporaryReturnReason::NoLongerNeeded, CardState::Active),
        (TemporaryReturnReason::Lost, CardState::Inactive),
    ] {
        let mut permanent = device(CardState::Active);
        let mut temp = temporary_card(S::Unassigned);
        let assigned = apply(&temp, &command("assign"), &officer(), NOW).unwrap();
        run(&mut permanent, &assigned.effects);
        assert_eq!(permanent.state, CardState::TemporarilyInactive);
        temp.state = assigned.to;
        temp.permanent_card = Some(CARD);
        let back = apply(&temp, &TemporaryCardCommand::Withdraw { reason }, &officer(), NOW).unwrap();
        run(&mut permanent, &back.effects);
        assert_eq!(permanent.state, permanent_ends, "return with reason {reason:?}");
        assert_eq!(back.to, S::Unassigned);
    }
}
