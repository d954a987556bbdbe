//! Request machine: every state × every command, against an explicit table.

use super::fixtures::*;
use crate::machines::request::{apply, next_state};
use crate::*;

use RequestState as S;

const SUPERSEDER: RequestId = RequestId::from_u128(399);

const COMMANDS: &[&str] = &["approve", "reject", "cancel", "supersede", "complete", "fail", "retry"];

fn command(label: &str) -> RequestCommand {
    match label {
        "approve" => RequestCommand::Approve,
        "reject" => RequestCommand::Reject,
        "cancel" => RequestCommand::Cancel,
        "supersede" => RequestCommand::Supersede { by: SUPERSEDER },
        "complete" => RequestCommand::Complete,
        "fail" => RequestCommand::Fail,
        "retry" => RequestCommand::Retry,
        other => panic!("no such command label {other}"),
    }
}

/// SPEC §4 Request; a failed request stays open (retry or cancel).
const ALLOWED: &[(RequestState, &str, RequestState)] = &[
    (S::PendingApproval, "approve", S::Approved),
    (S::PendingApproval, "reject", S::Rejected),
    (S::PendingApproval, "cancel", S::Cancelled),
    (S::PendingApproval, "supersede", S::Cancelled),
    (S::Approved, "cancel", S::Cancelled),
    (S::Approved, "supersede", S::Cancelled),
    (S::Approved, "complete", S::Completed),
    (S::Approved, "fail", S::Failed),
    (S::Failed, "retry", S::Approved),
    (S::Failed, "cancel", S::Cancelled),
    (S::Failed, "supersede", S::Cancelled),
];

fn expected(from: RequestState, label: &str) -> Result<RequestState, Refusal> {
    ALLOWED
        .iter()
        .find(|(s, l, _)| *s == from && *l == label)
        .map(|(_, _, to)| *to)
        .ok_or_else(|| Refusal::StateNotAllowed { from: AnyState::Request(from), command: label.to_owned() })
}

#[test]
fn next_state_matches_table_for_every_state_and_command() {
    for from in RequestState::ALL {
        for label in COMMANDS {
            assert_eq!(next_state(from, &command(label)), expected(from, label), "{from:?} × {label}");
        }
    }
}

#[test]
fn apply_with_a_permitted_actor_matches_table() {
    for kind in [RequestKind::Issue, RequestKind::Update, RequestKind::Reprovision] {
        for from in RequestState::ALL {
            for label in COMMANDS {
                let got = apply(&request(kind, from), &command(label), &officer(), NOW);
                match expected(from, label) {
                    Ok(to) => {
                        let outcome = got.unwrap_or_else(|r| panic!("{kind:?} {from:?} × {label}: {r}"));
                        assert_eq!((outcome.from, outcome.to), (from, to), "{kind:?} {from:?} × {label}");
                        let decided = matches!(*label, "approve" | "reject");
                        let effects: &[RequestEffect] =
                            if decided { &[RequestEffect::Decided { by: OFFICER }] } else { &[] };
                        assert_eq!(outcome.effects, effects, "{from:?} × {label}");
                    }
                    Err(refusal) => assert_eq!(got, Err(refusal), "{kind:?} {from:?} × {label}"),
                }
            }
        }
    }
}

#[test]
fn open_states_are_the_supersedable_ones() {
    let open: Vec<_> = RequestState::ALL.into_iter().filter(|s| s.is_open()).collect();
    assert_eq!(open, vec![S::PendingApproval, S::Approved, S::Failed]);
}

#[test]
fn approver_is_neither_requester_nor_recipient() {
    let r = request(RequestKind::Update, S::PendingApproval);
    let requester = operator(REQUESTER, Permissions::everything());
    let recipient = operator(HOLDER, Permissions::everything());
    assert_eq!(apply(&r, &RequestCommand::Approve, &requester, NOW), Err(Refusal::ApproverIsRequester));
    assert_eq!(apply(&r, &RequestCommand::Approve, &recipient, NOW), Err(Refusal::ApproverIsRecipient));
    assert_eq!(apply(&r, &RequestCommand::Reject, &requester, NOW), Err(Refusal::ApproverIsRequester));
    let approver =
        operator(APPROVER, Permissions::none().with(Permission::on(ProfilePermission::CanApprove, P1)));
    let outcome = apply(&r, &RequestCommand::Approve, &approver, NOW).unwrap();
    assert_eq!(outcome.effects, vec![RequestEffect::Decided { by: APPROVER }]);
}

#[test]
fn the_requester_may_cancel_their_own_request_without_approver_rights() {
    let r = request(RequestKind::Update, S::PendingApproval);
    let requester = operator(REQUESTER, Permissions::none());
    assert_eq!(apply(&r, &RequestCommand::Cancel, &requester, NOW).unwrap().to, S::Cancelled);
}

#[test]
fn others_cancel_only_with_can_approve_or_cancel_revoke() {
    let r = request(RequestKind::Update, S::Approved);
    assert_eq!(
        apply(&r, &RequestCommand::Cancel, &only(&[]), NOW),
        Err(Refusal::NotPermitted { permission: Permission::global(GlobalPermission::CancelRevoke) })
    );
    let approver = only(&[Permission::on(ProfilePermission::CanApprove, P1)]);
    assert!(apply(&r, &RequestCommand::Cancel, &approver, NOW).is_ok());
    let revoker = only(&[Permission::global(GlobalPermission::CancelRevoke)]);
    assert!(apply(&r, &RequestCommand::Cancel, &revoker, NOW).is_ok());
}

#[test]
fn an_update_cannot_be_collected_before_it_is_approved() {
    // Seed 000: another profile with Validate Issuance "must be approved before you can collect it".
    let r = request(RequestKind::Update, S::PendingApproval);
    assert_eq!(
        apply(&r, &RequestCommand::Complete, &officer(), NOW),
        Err(Refusal::StateNotAllowed {
            from: AnyState::Request(S::PendingApproval),
            command: "complete".into()
        })
    );
}

#[test]
fn collecting_needs_can_collect_and_not_ones_own_device() {
    let r = request(RequestKind::Update, S::Approved);
    let requester_only = only(&[Permission::on(ProfilePermission::CanRequest, P1)]);
    assert_eq!(
        apply(&r, &RequestCommand::Complete, &requester_only, NOW),
        Err(Refusal::NotPermitted { permission: Permission::on(ProfilePermission::CanCollect, P1) })
    );
    let holder = operator(HOLDER, Permissions::everything());
    assert_eq!(apply(&r, &RequestCommand::Complete, &holder, NOW), Err(Refusal::OwnDevice { device: CARD }));
}

#[test]
fn a_walk_up_cardholder_collects_only_their_own_request() {
    let r = request(RequestKind::Update, S::Approved);
    let holder = Actor::cardholder(HOLDER, UseCases::all());
    assert_eq!(apply(&r, &RequestCommand::Complete, &holder, NOW).unwrap().to, S::Completed);
    let stranger = Actor::cardholder(OFFICER, UseCases::all());
    assert_eq!(apply(&r, &RequestCommand::Complete, &stranger, NOW), Err(Refusal::NotTheCardholder));
    let off = Actor::cardholder(HOLDER, UseCases::default().tap_disable(UseCase::Walkup));
    assert_eq!(
        apply(&r, &RequestCommand::Complete, &off, NOW),
        Err(Refusal::UseCaseDisabled(UseCase::Walkup))
    );
}

#[test]
fn a_disabled_use_case_refuses_its_requests() {
    let r = request(RequestKind::Update, S::Approved);
    let mut actor = officer();
    actor.use_cases.disable(UseCase::Update).unwrap();
    assert_eq!(
        apply(&r, &RequestCommand::Complete, &actor, NOW),
        Err(Refusal::UseCaseDisabled(UseCase::Update))
    );
    actor.use_cases.disable(UseCase::Approve).unwrap();
    let pending = request(RequestKind::Update, S::PendingApproval);
    assert_eq!(
        apply(&pending, &RequestCommand::Approve, &actor, NOW),
        Err(Refusal::UseCaseDisabled(UseCase::Approve))
    );
}

trait TapDisable {
    fn tap_disable(self, use_case: UseCase) -> Self;
}

impl TapDisable for UseCases {
    fn tap_disable(mut self, use_case: UseCase) -> Self {
        self.disable(use_case).unwrap();
        self
    }
}
