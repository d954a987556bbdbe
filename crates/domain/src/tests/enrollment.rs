//! Enrollment machine: every state × every command, against an explicit
//! table; and the provisioning task rules of seed 004.

use super::fixtures::*;
use crate::machines::enrollment::{apply, next_state};
use crate::*;

use EnrollmentState as S;

const COMMANDS: &[&str] =
    &["enroll", "complete", "fail_attempt", "expire", "remove", "resend", "change_stop_date"];

fn command(label: &str) -> EnrollmentCommand {
    match label {
        "enroll" => EnrollmentCommand::Enroll { serial: "SN-9".into() },
        "complete" => EnrollmentCommand::Complete { serial: "SN-9".into() },
        "fail_attempt" => EnrollmentCommand::FailAttempt,
        "expire" => EnrollmentCommand::Expire,
        "remove" => EnrollmentCommand::Remove { notify: false },
        "resend" => EnrollmentCommand::Resend { alternate_email: None, new_stop_date: NOW + days(30) },
        "change_stop_date" => EnrollmentCommand::ChangeStopDate { stop_date: NOW + days(20) },
        other => panic!("no such command label {other}"),
    }
}

/// SPEC §4 Provisioning enrollment.
const ALLOWED: &[(EnrollmentState, &str, EnrollmentState)] = &[
    (S::Active, "enroll", S::Active),
    (S::Active, "complete", S::Completed),
    (S::Active, "fail_attempt", S::Active),
    (S::Active, "expire", S::Expired),
    (S::Active, "remove", S::Removed),
    (S::Active, "resend", S::Active),
    (S::Active, "change_stop_date", S::Active),
    (S::Locked, "remove", S::Removed),
    (S::Expired, "remove", S::Removed),
];

fn expected(from: S, label: &str) -> Result<S, Refusal> {
    ALLOWED.iter().find(|(s, l, _)| *s == from && *l == label).map(|(_, _, to)| *to).ok_or_else(|| {
        Refusal::StateNotAllowed { from: AnyState::Enrollment(from), command: label.to_owned() }
    })
}

/// Who gives each command, and when: the cardholder enrolls; the registry
/// expires after the stop date; an operator edits.
fn actor_and_time(label: &str) -> (Actor, time::OffsetDateTime) {
    match label {
        "enroll" | "complete" | "fail_attempt" => (Actor::cardholder(HOLDER, UseCases::all()), NOW),
        "expire" => (Actor::system(), NOW + days(8)),
        _ => (officer(), NOW),
    }
}

fn expected_effects(label: &str) -> Vec<EnrollmentEffect> {
    use EnrollmentEffect as E;
    match label {
        "enroll" => vec![E::DeviceEnrolled { serial: "SN-9".into() }],
        "fail_attempt" => vec![E::AttemptCounted { failed_attempts: 1 }],
        "resend" => vec![
            E::SendEnrollmentEmail { to: "holder@example.org".into(), alternate: false },
            E::StopDateMoved { to: NOW + days(30) },
        ],
        "change_stop_date" => vec![E::StopDateMoved { to: NOW + days(20) }],
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
fn apply_with_the_right_actor_matches_table_and_effects() {
    for from in S::ALL {
        for label in COMMANDS {
            let (actor, at) = actor_and_time(label);
            let got = apply(&enrollment(from), &command(label), &actor, at);
            match expected(from, label) {
                Ok(to) => {
                    let outcome = got.unwrap_or_else(|r| panic!("{from:?} × {label}: {r}"));
                    assert_eq!(outcome.to, to, "{from:?} × {label}");
                    assert_eq!(outcome.effects, expected_effects(label), "{from:?} × {label}");
                }
                Err(refusal) => assert_eq!(got, Err(refusal), "{from:?} × {label}"),
            }
        }
    }
}

#[test]
fn too_many_wrong_codes_lock_the_enrollment() {
    // Seed 004: "Locked—User attempted and failed to enroll token within the maximum allowed attempts."
    let kiosk = Actor::cardholder(HOLDER, UseCases::all());
    let mut e = enrollment(S::Active);
    let mut states = vec![];
    for _ in 0..3 {
        let outcome = apply(&e, &EnrollmentCommand::FailAttempt, &kiosk, NOW).unwrap();
        e.state = outcome.to;
        e.failed_attempts += 1;
        states.push(outcome.to);
    }
    assert_eq!(states, vec![S::Active, S::Active, S::Locked]);
    assert!(
        apply(&e, &EnrollmentCommand::FailAttempt, &kiosk, NOW).is_err(),
        "a locked enrollment counts no more"
    );
}

#[test]
fn expiry_only_after_the_stop_date_and_no_completion_after_it() {
    // Seed 004: "Expired—User did not enroll token before the stop date."
    let e = enrollment(S::Active);
    assert_eq!(
        apply(&e, &EnrollmentCommand::Expire, &Actor::system(), NOW),
        Err(Refusal::NotYetExpired { expires_at: e.stop_date })
    );
    let kiosk = Actor::cardholder(HOLDER, UseCases::all());
    assert_eq!(
        apply(&e, &command("enroll"), &kiosk, e.stop_date + days(1)),
        Err(Refusal::StopDatePassed { stop_date: e.stop_date })
    );
    assert!(
        apply(&e, &command("complete"), &kiosk, e.stop_date + days(1)).is_ok(),
        "the first authentication with a card enrolled in time may follow the stop date"
    );
}

#[test]
fn only_active_enrollments_are_resent() {
    // Seed 004: "Only active provisioning tasks can be resent."
    for from in [S::Completed, S::Locked, S::Expired, S::Removed] {
        assert_eq!(
            apply(&enrollment(from), &command("resend"), &officer(), NOW),
            Err(Refusal::StateNotAllowed { from: AnyState::Enrollment(from), command: "resend".into() })
        );
    }
}

#[test]
fn an_alternate_address_is_used_once_and_not_kept() {
    let cmd = EnrollmentCommand::Resend {
        alternate_email: Some("private@example.net".into()),
        new_stop_date: NOW + days(30),
    };
    let e = enrollment(S::Active);
    let outcome = apply(&e, &cmd, &officer(), NOW).unwrap();
    assert_eq!(
        outcome.effects,
        vec![
            EnrollmentEffect::SendEnrollmentEmail { to: "private@example.net".into(), alternate: true },
            EnrollmentEffect::StopDateMoved { to: NOW + days(30) },
        ],
        "the alternate address is flagged so the caller does not store it"
    );
    let bad = EnrollmentCommand::Resend {
        alternate_email: Some("not an address".into()),
        new_stop_date: NOW + days(30),
    };
    assert_eq!(apply(&e, &bad, &officer(), NOW), Err(Refusal::InvalidEmail("not an address".into())));
}

#[test]
fn removal_is_irreversible_and_may_notify() {
    // Seed 004: "This action cannot be reversed."
    let outcome =
        apply(&enrollment(S::Active), &EnrollmentCommand::Remove { notify: true }, &officer(), NOW).unwrap();
    assert_eq!(
        outcome.effects,
        vec![EnrollmentEffect::SendRemovalNotice { to: "holder@example.org".into() }]
    );
    for label in COMMANDS {
        let (actor, at) = actor_and_time(label);
        assert!(
            apply(&enrollment(S::Removed), &command(label), &actor, at).is_err(),
            "removed accepts {label}"
        );
    }
}

#[test]
fn a_stop_date_must_be_in_the_future() {
    let cmd = EnrollmentCommand::ChangeStopDate { stop_date: NOW - days(1) };
    assert_eq!(
        apply(&enrollment(S::Active), &cmd, &officer(), NOW),
        Err(Refusal::DateNotInFuture { date: NOW - days(1) })
    );
}

#[test]
fn editing_needs_manage_provisioning_tasks_and_the_use_case() {
    assert_eq!(
        apply(&enrollment(S::Active), &command("remove"), &only(&[]), NOW),
        Err(Refusal::NotPermitted {
            permission: Permission::global(GlobalPermission::ManageProvisioningTasks)
        })
    );
    let mut actor = officer();
    actor.use_cases.disable(UseCase::Prov).unwrap();
    assert_eq!(
        apply(&enrollment(S::Active), &command("remove"), &actor, NOW),
        Err(Refusal::UseCaseDisabled(UseCase::Prov))
    );
}

#[test]
fn only_the_enrolling_cardholder_completes() {
    let stranger = Actor::cardholder(OFFICER, UseCases::all());
    assert_eq!(
        apply(&enrollment(S::Active), &command("complete"), &stranger, NOW),
        Err(Refusal::NotTheCardholder)
    );
    assert_eq!(
        apply(&enrollment(S::Active), &command("complete"), &officer(), NOW),
        Err(Refusal::NotTheCardholder)
    );
}

fn task(states: &[S], removed: bool) -> ProvisioningTask {
    ProvisioningTask {
        id: TaskId::from_u128(601),
        number: 17,
        operator: OperatorId::from_u128(1004),
        emailed_to: "holder@example.org".into(),
        start_date: NOW - days(1),
        stop_date: NOW + days(7),
        enrollments: states
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut e = enrollment(*s);
                e.id = EnrollmentId::from_u128(700 + i as u128);
                e.person = PersonId::from_u128(800 + i as u128);
                e
            })
            .collect(),
        removed,
        profile: None,
    }
}

#[test]
fn completed_and_removed_tasks_leave_the_list() {
    // Seed 004: a completed task "is not displayed in this list"; removal stops enrollment.
    assert!(task(&[S::Active, S::Completed], false).is_listed());
    assert!(!task(&[S::Completed, S::Completed], false).is_listed());
    assert!(!task(&[S::Active], true).is_listed());
    assert_eq!(task(&[S::Active, S::Locked, S::Completed], false).count(), 3);
}

#[test]
fn a_persons_outstanding_tasks_are_their_active_enrollments() {
    let t = task(&[S::Active, S::Completed], false);
    assert!(t.is_outstanding_for(PersonId::from_u128(800)));
    assert!(!t.is_outstanding_for(PersonId::from_u128(801)), "completed is not outstanding");
    assert!(!task(&[S::Active], true).is_outstanding_for(PersonId::from_u128(800)), "removed task");
}

fn invitee(n: u128, email: &str) -> Invitee {
    Invitee { enrollment: EnrollmentId::from_u128(n), person: PersonId::from_u128(n), email: email.into() }
}

#[test]
fn creating_a_task_enrolls_every_invitee() {
    let invitees = [invitee(1, "a@example.org"), invitee(2, "b@example.org")];
    let t = ProvisioningTask::create(TaskId::from_u128(1), 5, &invitees, NOW + days(7), 3, &officer(), NOW)
        .unwrap();
    assert_eq!(t.count(), 2);
    assert_eq!(t.start_date, NOW);
    assert_eq!(t.emailed_to, "b@example.org", "Emailed to: the last address an email went to");
    assert!(t.enrollments.iter().all(|e| e.state == S::Active && e.stop_date == NOW + days(7)));
    assert!(t.is_listed());
}

#[test]
fn a_task_needs_users_valid_addresses_a_future_stop_date_and_the_permission() {
    let ok = [invitee(1, "a@example.org")];
    let create = |invitees: &[Invitee], stop, actor: &Actor| {
        ProvisioningTask::create(TaskId::from_u128(1), 5, invitees, stop, 3, actor, NOW)
    };
    assert!(matches!(create(&[], NOW + days(1), &officer()), Err(Refusal::InvalidTask(_))));
    assert!(matches!(
        create(&[invitee(1, "a@example.org"), invitee(1, "a@example.org")], NOW + days(1), &officer()),
        Err(Refusal::InvalidTask(_))
    ));
    assert_eq!(
        create(&[invitee(1, "nope")], NOW + days(1), &officer()),
        Err(Refusal::InvalidEmail("nope".into()))
    );
    assert_eq!(create(&ok, NOW, &officer()), Err(Refusal::DateNotInFuture { date: NOW }));
    assert_eq!(
        create(&ok, NOW + days(1), &only(&[])),
        Err(Refusal::NotPermitted {
            permission: Permission::global(GlobalPermission::ManageProvisioningTasks)
        })
    );
}

#[test]
fn removing_a_task_removes_its_unfinished_users_only() {
    // Seed 004: "any users in the task that have not completed enrollment will no longer be able to self-enroll."
    let t = task(&[S::Active, S::Completed, S::Locked, S::Expired], false);
    let removed = t.remove(false, &officer(), NOW).unwrap();
    let ids: Vec<_> = removed.iter().map(|(id, o)| (*id, o.to)).collect();
    assert_eq!(
        ids,
        vec![
            (EnrollmentId::from_u128(700), S::Removed),
            (EnrollmentId::from_u128(702), S::Removed),
            (EnrollmentId::from_u128(703), S::Removed),
        ]
    );
    assert_eq!(task(&[S::Active], true).remove(false, &officer(), NOW), Err(Refusal::TaskRemoved));
    assert_eq!(
        task(&[S::Completed], false).remove(false, &only(&[]), NOW),
        Err(Refusal::NotPermitted {
            permission: Permission::global(GlobalPermission::ManageProvisioningTasks)
        })
    );
}

#[test]
fn editing_removes_users_and_moves_the_stop_date_both_ways() {
    // Seed 004 "Edit": remove selected users (optionally emailing them), new stop date.
    let mut t = task(&[S::Active, S::Active, S::Completed], false);
    let mails = t.edit(&[EnrollmentId::from_u128(700)], true, Some(NOW + days(2)), &officer(), NOW).unwrap();
    assert_eq!(mails, vec![EnrollmentEffect::SendRemovalNotice { to: "holder@example.org".into() }]);
    assert_eq!(t.enrollments[0].state, S::Removed);
    assert_eq!((t.stop_date, t.enrollments[1].stop_date), (NOW + days(2), NOW + days(2)), "shortened");
    t.edit(&[], false, Some(NOW + days(30)), &officer(), NOW).unwrap();
    assert_eq!(t.stop_date, NOW + days(30), "extended");
    assert!(t.edit(&[EnrollmentId::from_u128(700)], false, None, &officer(), NOW).is_err(), "irreversible");
    assert_eq!(
        t.edit(&[], false, Some(NOW - days(1)), &officer(), NOW),
        Err(Refusal::DateNotInFuture { date: NOW - days(1) })
    );
    assert!(matches!(t.edit(&[], false, None, &officer(), NOW), Err(Refusal::InvalidTask(_))));
}

#[test]
fn resending_moves_the_stop_date_per_policy_and_keeps_no_alternate_address() {
    let policy = SelfEnrollmentPolicy::default();
    let mut t = task(&[S::Active, S::Locked], false);
    t.enrollments[0].serial = None;
    let id = EnrollmentId::from_u128(700);
    let mails = t.resend(id, Some("private@example.net".into()), &policy, &officer(), NOW).unwrap();
    assert_eq!(
        mails,
        vec![EnrollmentEffect::SendEnrollmentEmail { to: "private@example.net".into(), alternate: true }]
    );
    assert_eq!(t.emailed_to, "holder@example.org", "the alternate address is not kept");
    assert_eq!(t.enrollments[0].email, "holder@example.org");
    assert_eq!(t.enrollments[0].stop_date, NOW + days(14));
    assert_eq!(t.stop_date, NOW + days(14));
    assert!(t.resend(EnrollmentId::from_u128(701), None, &policy, &officer(), NOW).is_err(), "locked");
    let later = NOW + days(40);
    assert!(
        matches!(t.resend(id, None, &policy, &officer(), later), Err(Refusal::StateNotAllowed { .. })),
        "past the stop date the user is expired, not active"
    );
    assert_eq!(t.enrollments[0].state_at(later), S::Expired);
}

#[test]
fn the_self_enrollment_policy_defaults_and_reads_partial_settings() {
    let policy = SelfEnrollmentPolicy::default();
    assert_eq!((policy.period_days, policy.max_attempts, policy.kiosk_idle_timeout_secs), (14, 5, 60));
    assert_eq!(policy.stop_date_from(NOW), NOW + days(14));
    let partial: SelfEnrollmentPolicy = serde_json::from_str(r#"{"max_attempts": 3}"#).unwrap();
    assert_eq!(partial, SelfEnrollmentPolicy { max_attempts: 3, ..SelfEnrollmentPolicy::default() });
}
