//! The rules of SPEC §5, each tested as the seeds word it.

use super::fixtures::*;
use crate::rules::*;
use crate::*;

fn with_permissions(permissions: &[Permission]) -> Actor {
    only(permissions)
}

fn collect_on(profile: ProfileId) -> Permission {
    Permission::on(ProfilePermission::CanCollect, profile)
}

fn request_on(profile: ProfileId) -> Permission {
    Permission::on(ProfilePermission::CanRequest, profile)
}

fn open_request(id: u128, kind: RequestKind, state: RequestState, device: DeviceId) -> Request {
    let mut r = request(kind, state);
    r.id = RequestId::from_u128(id);
    r.device = Some(device);
    r
}

// ---- seed 000: requesting an update for a device ----

#[test]
fn same_profile_update_needs_can_collect() {
    // "If you are using the current credential profile, you must have the Can Collect permission"
    let d = device(CardState::Active);
    let p1 = profile(P1);
    let refused =
        plan_update(&d, &p1, UpdateReason::ApplyLatestUpdates, &with_permissions(&[request_on(P1)]), []);
    assert_eq!(refused, Err(Refusal::NotPermitted { permission: collect_on(P1) }));
    let plan =
        plan_update(&d, &p1, UpdateReason::ApplyLatestUpdates, &with_permissions(&[collect_on(P1)]), [])
            .unwrap();
    assert!(plan.same_profile);
    assert_eq!(plan.kind, RequestKind::Update);
}

#[test]
fn other_profile_update_needs_can_request() {
    // "If you are using a different credential profile, you must have the Can Request permission"
    let d = device(CardState::Active);
    let p2 = profile(P2);
    let refused =
        plan_update(&d, &p2, UpdateReason::ReprovisionAllContent, &with_permissions(&[collect_on(P2)]), []);
    assert_eq!(refused, Err(Refusal::NotPermitted { permission: request_on(P2) }));
    let plan =
        plan_update(&d, &p2, UpdateReason::ReprovisionAllContent, &with_permissions(&[request_on(P2)]), [])
            .unwrap();
    assert!(!plan.same_profile);
    assert_eq!(plan.kind, RequestKind::Reprovision);
    assert_eq!(plan.target, ProfileRef { id: P2, version: 1 });
}

#[test]
fn nobody_requests_an_update_for_their_own_device() {
    // "You cannot request updates for your own device."
    let d = device(CardState::Active);
    let holder = operator(HOLDER, Permissions::everything());
    assert_eq!(
        plan_update(&d, &profile(P1), UpdateReason::ApplyLatestUpdates, &holder, []),
        Err(Refusal::OwnDevice { device: CARD })
    );
    let signed_in_with_it = officer().signed_in_with(CARD);
    assert_eq!(
        plan_update(&d, &profile(P1), UpdateReason::ApplyLatestUpdates, &signed_in_with_it, []),
        Err(Refusal::OwnDevice { device: CARD })
    );
}

#[test]
fn a_contact_card_cannot_take_a_contact_and_contactless_profile() {
    // "if your device is a contact smart card, you cannot update to a credential profile that is both"
    let d = device(CardState::Active);
    let dual = profile_with(P2, |s| s.capabilities = CapabilityRequirement::Both);
    assert_eq!(
        plan_update(&d, &dual, UpdateReason::ReprovisionAllContent, &officer(), []),
        Err(Refusal::CapabilityMismatch {
            required: CapabilityRequirement::Both,
            card: Capabilities::CONTACT
        })
    );
    let mut dual_card = device(CardState::Active);
    dual_card.capabilities = Some(Capabilities::DUAL);
    assert!(plan_update(&dual_card, &dual, UpdateReason::ReprovisionAllContent, &officer(), []).is_ok());
}

#[test]
fn updates_are_for_issued_contact_smart_cards() {
    // "You can requests updates for issued contact smart cards."
    for state in [CardState::Requested, CardState::Approved, CardState::Locked, CardState::Erased] {
        assert_eq!(
            plan_update(&device(state), &profile(P1), UpdateReason::ApplyLatestUpdates, &officer(), []),
            Err(Refusal::StateNotAllowed { from: AnyState::Card(state), command: "request_update".into() }),
            "{state:?}"
        );
    }
    let mut contactless = device(CardState::Active);
    contactless.capabilities = Some(Capabilities::CONTACTLESS);
    let cl_profile = profile_with(P1, |s| s.capabilities = CapabilityRequirement::Contactless);
    assert_eq!(
        plan_update(&contactless, &cl_profile, UpdateReason::ApplyLatestUpdates, &officer(), []),
        Err(Refusal::ContactInterfaceRequired)
    );
    let mut unread = device(CardState::Active);
    unread.capabilities = None;
    assert_eq!(
        plan_update(&unread, &profile(P1), UpdateReason::ApplyLatestUpdates, &officer(), []),
        Err(Refusal::CapabilitiesUnknown)
    );
}

#[test]
fn same_profile_needs_no_approval_even_with_validate_issuance() {
    // "If you have selected the same credential profile ... you do not need to approve the request,
    //  even if the credential profile has the Validate Issuance option set."
    let validating_p1 = profile_with(P1, |s| s.validate_issuance = true);
    let plan = plan_update(
        &device(CardState::Active),
        &validating_p1,
        UpdateReason::ApplyLatestUpdates,
        &officer(),
        [],
    )
    .unwrap();
    assert!(!plan.needs_approval);
    assert_eq!(plan.request_state, RequestState::Approved);
}

#[test]
fn another_profile_with_validate_issuance_must_be_approved() {
    // "if you change the credential profile to one that has the Validate Issuance option set,
    //  you must approve the request before you can collect it."
    let validating_p2 = profile_with(P2, |s| s.validate_issuance = true);
    let plan = plan_update(
        &device(CardState::Active),
        &validating_p2,
        UpdateReason::ReprovisionAllContent,
        &officer(),
        [],
    )
    .unwrap();
    assert!(plan.needs_approval);
    assert_eq!(plan.request_state, RequestState::PendingApproval);
    let plain_p2 = profile(P2);
    let plan = plan_update(
        &device(CardState::Active),
        &plain_p2,
        UpdateReason::ReprovisionAllContent,
        &officer(),
        [],
    )
    .unwrap();
    assert!(!plan.needs_approval, "another profile without Validate Issuance needs no approval");
}

#[test]
fn a_new_request_cancels_earlier_requests_of_its_own_kind_only() {
    // "creating an update request cancels any previous update requests, and creating a reprovision
    //  request cancels any previous reprovision requests."
    use RequestKind::{Reprovision, Update};
    use RequestState::*;
    let existing = vec![
        open_request(1, Update, PendingApproval, CARD),
        open_request(2, Update, Approved, CARD),
        open_request(3, Update, Failed, CARD),
        open_request(4, Update, Completed, CARD),
        open_request(5, Update, Cancelled, CARD),
        open_request(6, Reprovision, Approved, CARD),
        open_request(7, Update, Approved, OTHER_CARD),
        open_request(8, Reprovision, PendingApproval, CARD),
    ];
    let d = device(CardState::Active);
    let update =
        plan_update(&d, &profile(P1), UpdateReason::ApplyLatestUpdates, &officer(), &existing).unwrap();
    assert_eq!(update.supersedes, [1, 2, 3].map(RequestId::from_u128).to_vec());
    let reprovision =
        plan_update(&d, &profile(P1), UpdateReason::ReprovisionAllContent, &officer(), &existing).unwrap();
    assert_eq!(reprovision.supersedes, [6, 8].map(RequestId::from_u128).to_vec());
}

#[test]
fn superseding_cancels_the_earlier_requests() {
    let earlier = open_request(1, RequestKind::Update, RequestState::Approved, CARD);
    let outcome = crate::machines::request::apply(
        &earlier,
        &RequestCommand::Supersede { by: RequestId::from_u128(2) },
        &officer(),
        NOW,
    )
    .unwrap();
    assert_eq!(outcome.to, RequestState::Cancelled);
}

#[test]
fn a_disabled_update_use_case_is_refused() {
    let mut actor = officer();
    actor.use_cases.disable(UseCase::Update).unwrap();
    assert_eq!(
        plan_update(&device(CardState::Active), &profile(P1), UpdateReason::ApplyLatestUpdates, &actor, []),
        Err(Refusal::UseCaseDisabled(UseCase::Update))
    );
}

#[test]
fn a_card_behind_its_profiles_latest_version_has_updates() {
    let v1 = profile(P1);
    let v2 = v1.revise(settings("Employee 2026")).unwrap();
    let d = device(CardState::Active);
    assert!(!has_newer_version(&d, &v1));
    assert!(has_newer_version(&d, &v2));
    assert!(!has_newer_version(&d, &profile(P2)), "another profile is not a newer version");
}

// ---- seed 002: request a card, with or without approval ----

#[test]
fn request_with_approval_starts_requested_and_without_starts_approved() {
    let p = profile(P1);
    let with = plan_card_request(&p, HOLDER, &officer(), true).unwrap();
    assert_eq!((with.card_state, with.request_state), (CardState::Requested, RequestState::PendingApproval));
    let without = plan_card_request(&p, HOLDER, &officer(), false).unwrap();
    assert_eq!((without.card_state, without.request_state), (CardState::Approved, RequestState::Approved));
    let validating = profile_with(P1, |s| s.validate_issuance = true);
    let forced = plan_card_request(&validating, HOLDER, &officer(), false).unwrap();
    assert_eq!(forced.card_state, CardState::Requested, "Validate Issuance forces the approval step");
}

#[test]
fn nobody_requests_a_card_for_themselves() {
    let holder = operator(HOLDER, Permissions::everything());
    assert_eq!(plan_card_request(&profile(P1), HOLDER, &holder, false), Err(Refusal::RequesterIsRecipient));
}

#[test]
fn requesting_needs_can_request_and_the_use_case() {
    assert_eq!(
        plan_card_request(&profile(P1), HOLDER, &only(&[collect_on(P1)]), false),
        Err(Refusal::NotPermitted { permission: request_on(P1) })
    );
    let defaults =
        Actor::operator(OperatorId::from_u128(9), OFFICER, Permissions::everything(), UseCases::default());
    assert_eq!(
        plan_card_request(&profile(P1), HOLDER, &defaults, false),
        Err(Refusal::UseCaseDisabled(UseCase::Request)),
        "seed 002: Request card is disabled by default"
    );
}

#[test]
fn temporary_profiles_are_not_for_permanent_cards() {
    let temp = profile_with(TEMP_PROFILE, |s| s.is_temporary = true);
    assert_eq!(
        plan_card_request(&temp, HOLDER, &officer(), false),
        Err(Refusal::ProfileIsTemporary { profile: TEMP_PROFILE })
    );
    assert_eq!(
        check_temporary_order(&profile(P1), &officer()),
        Err(Refusal::ProfileNotTemporary { profile: P1 })
    );
    assert_eq!(check_temporary_order(&temp, &officer()), Ok(()));
}

#[test]
fn direct_issuance_rules() {
    let p = profile(P1);
    assert_eq!(check_direct_issue(&p, HOLDER, &officer()), Ok(()));
    let validating = profile_with(P1, |s| s.validate_issuance = true);
    assert_eq!(
        check_direct_issue(&validating, HOLDER, &officer()),
        Err(Refusal::ApprovalRequired { profile: P1 })
    );
    let holder = operator(HOLDER, Permissions::everything());
    assert_eq!(check_direct_issue(&p, HOLDER, &holder), Err(Refusal::ActorIsRecipient));
    assert_eq!(
        check_direct_issue(&p, HOLDER, &only(&[request_on(P1)])),
        Err(Refusal::NotPermitted { permission: collect_on(P1) })
    );
    let defaults =
        Actor::operator(OperatorId::from_u128(9), OFFICER, Permissions::everything(), UseCases::default());
    assert_eq!(
        check_direct_issue(&p, HOLDER, &defaults),
        Err(Refusal::UseCaseDisabled(UseCase::DirectIssue)),
        "seed 002: Issue card is disabled by default"
    );
}

// ---- relational rules ----

#[test]
fn approver_requester_recipient_are_three_people() {
    let me = operator(OFFICER, Permissions::none());
    assert_eq!(check_approver(&me, Some(OFFICER), Some(HOLDER)), Err(Refusal::ApproverIsRequester));
    assert_eq!(check_approver(&me, Some(REQUESTER), Some(OFFICER)), Err(Refusal::ApproverIsRecipient));
    assert_eq!(check_approver(&me, Some(REQUESTER), Some(HOLDER)), Ok(()));
    assert_eq!(check_approver(&Actor::system(), Some(REQUESTER), None), Err(Refusal::OperatorRequired));
    assert_eq!(check_requester(&me, OFFICER), Err(Refusal::RequesterIsRecipient));
}

#[test]
fn own_device_is_the_held_card_or_the_sign_in_card() {
    let me = operator(OFFICER, Permissions::none());
    assert_eq!(not_own_device(&me, CARD, Some(OFFICER)), Err(Refusal::OwnDevice { device: CARD }));
    assert_eq!(not_own_device(&me, CARD, Some(HOLDER)), Ok(()));
    assert_eq!(not_own_device(&me, CARD, None), Ok(()));
    assert_eq!(
        not_own_device(&me.signed_in_with(CARD), CARD, None),
        Err(Refusal::OwnDevice { device: CARD })
    );
    assert_eq!(not_own_device(&Actor::system(), CARD, None), Ok(()));
}

#[test]
fn email_addresses() {
    for good in ["a@b.co", "first.last@example.org"] {
        assert_eq!(check_email(good), Ok(()), "{good}");
    }
    for bad in ["", "a", "a@b", "@b.co", "a@.co", "a@b.", "a b@c.de", "a@b@c.de"] {
        assert_eq!(check_email(bad), Err(Refusal::InvalidEmail(bad.into())), "{bad}");
    }
}

// ---- seed 003: batch orders ----

fn approved(id: u128) -> Device {
    let mut d = device(CardState::Approved);
    d.id = DeviceId::from_u128(id);
    d
}

#[test]
fn a_batch_takes_approved_cards_only() {
    // Seed 003: "Required card state: Approved".
    let a = approved(1);
    let b = device(CardState::Requested);
    assert_eq!(
        BatchOrder::create(BatchId::from_u128(1), &[&a, &b], BatchOptions::default(), &officer(), NOW),
        Err(Refusal::StateNotAllowed {
            from: AnyState::Card(CardState::Requested),
            command: "batch_issue".into()
        })
    );
    let batch =
        BatchOrder::create(BatchId::from_u128(1), &[&a], BatchOptions::default(), &officer(), NOW).unwrap();
    assert_eq!(batch.next_pending(), Some(a.id));
    assert!(BatchOrder::create(BatchId::from_u128(1), &[&a, &a], BatchOptions::default(), &officer(), NOW)
        .is_err());
    assert!(BatchOrder::create(BatchId::from_u128(1), &[], BatchOptions::default(), &officer(), NOW).is_err());
}

#[test]
fn a_batch_needs_manage_batches_and_collect_rights_and_excludes_ones_own_card() {
    let a = approved(1);
    assert_eq!(
        BatchOrder::create(
            BatchId::from_u128(1),
            &[&a],
            BatchOptions::default(),
            &only(&[collect_on(P1)]),
            NOW
        ),
        Err(Refusal::NotPermitted { permission: Permission::global(GlobalPermission::ManageBatches) })
    );
    let batcher = only(&[Permission::global(GlobalPermission::ManageBatches)]);
    assert_eq!(
        BatchOrder::create(BatchId::from_u128(1), &[&a], BatchOptions::default(), &batcher, NOW),
        Err(Refusal::NotPermitted { permission: collect_on(P1) })
    );
    let holder = operator(HOLDER, Permissions::everything());
    assert_eq!(
        BatchOrder::create(BatchId::from_u128(1), &[&a], BatchOptions::default(), &holder, NOW),
        Err(Refusal::OwnDevice { device: a.id })
    );
}

#[test]
fn batch_options_override_the_profile_within_its_policy() {
    let p = settings("Employee");
    let defaults = BatchOptions::default().resolve(&p).unwrap();
    assert_eq!(
        defaults,
        IssuanceSettings {
            pin_length: 8,
            puk_length: 8,
            certificates: vec![Slot::PivAuthentication, Slot::DigitalSignature],
            card_end_state: CardEndState::Active,
            certificate_end_state: CertificateEndState::Valid,
        }
    );
    let options = BatchOptions {
        pin_length: Some(6),
        puk_length: Some(6),
        certificates: Some([Slot::DigitalSignature].into_iter().collect()),
        card_end_state: Some(CardEndState::Issued),
        certificate_end_state: Some(CertificateEndState::OnHold),
    };
    let chosen = options.resolve(&p).unwrap();
    assert_eq!(chosen.pin_length, 6);
    assert_eq!(chosen.puk_length, 6);
    assert_eq!(chosen.certificates, vec![Slot::DigitalSignature]);
    assert_eq!(chosen.card_end_state, CardEndState::Issued);
    assert_eq!(chosen.certificate_end_state, CertificateEndState::OnHold);

    let too_short = BatchOptions { pin_length: Some(4), ..BatchOptions::default() };
    assert!(matches!(too_short.resolve(&p), Err(Refusal::InvalidBatch(_))));
    let bad_puk = BatchOptions { puk_length: Some(9), ..BatchOptions::default() };
    assert!(matches!(bad_puk.resolve(&p), Err(Refusal::InvalidBatch(_))));
    let foreign_slot = BatchOptions {
        certificates: Some([Slot::KeyManagement].into_iter().collect()),
        ..BatchOptions::default()
    };
    assert!(matches!(foreign_slot.resolve(&p), Err(Refusal::InvalidBatch(_))));
    let none = BatchOptions { certificates: Some(Default::default()), ..BatchOptions::default() };
    assert!(matches!(none.resolve(&p), Err(Refusal::InvalidBatch(_))));
}

#[test]
fn cancelling_a_batch_stops_before_the_next_card() {
    let (a, b) = (approved(1), approved(2));
    let mut batch =
        BatchOrder::create(BatchId::from_u128(1), &[&a, &b], BatchOptions::default(), &officer(), NOW)
            .unwrap();
    batch.items[0].status = BatchItemStatus::Done;
    assert_eq!(batch.next_pending(), Some(b.id));
    batch.cancel();
    assert_eq!(batch.next_pending(), None);
    assert_eq!(batch.items[0].status, BatchItemStatus::Done, "a finished card stays finished");
    assert_eq!(batch.items[1].status, BatchItemStatus::Skipped);
    assert!(!batch.is_complete());
}

// ---- UC-UPDATE collect, UC-PIN ----

#[test]
fn collect_updates_applies_approved_reprovisions_then_updates_of_this_device() {
    use RequestKind::{Reprovision, Update};
    use RequestState::*;
    let requests = vec![
        open_request(1, Update, Approved, CARD),
        open_request(2, Reprovision, Approved, CARD),
        open_request(3, Update, PendingApproval, CARD),
        open_request(4, Update, Approved, OTHER_CARD),
        open_request(5, Reprovision, Completed, CARD),
    ];
    assert_eq!(updates_to_collect(CARD, &requests), [2, 1].map(RequestId::from_u128).to_vec());
}

#[test]
fn pin_unblock_rules() {
    assert_eq!(check_pin_unblock(&device(CardState::Active), &officer()), Ok(()));
    assert_eq!(
        check_pin_unblock(&device(CardState::Locked), &officer()),
        Err(Refusal::StateNotAllowed {
            from: AnyState::Card(CardState::Locked),
            command: "unblock_pin".into()
        })
    );
    assert_eq!(
        check_pin_unblock(&device(CardState::Active), &only(&[])),
        Err(Refusal::NotPermitted { permission: Permission::global(GlobalPermission::UnblockPin) })
    );
    let holder = operator(HOLDER, Permissions::everything());
    assert_eq!(
        check_pin_unblock(&device(CardState::Active), &holder),
        Err(Refusal::OwnDevice { device: CARD })
    );
}

#[test]
fn a_walkup_job_is_the_cardholders_own_card_only() {
    let holder = Actor::cardholder(HOLDER, UseCases::all());
    let stranger = Actor::cardholder(REQUESTER, UseCases::all());
    let walkup = CardCommand::Issue {
        route: IssueRoute::Walkup,
        end_state: CardEndState::Issued,
        certificate_end_state: CertificateEndState::Valid,
    };
    let card = device(CardState::Approved);
    assert!(machines::card::apply(&card, &walkup, &holder, NOW).is_ok());
    assert_eq!(machines::card::apply(&card, &walkup, &stranger, NOW), Err(Refusal::NotTheCardholder));
    // An operator cannot take the walk-up route, whatever they hold.
    assert_eq!(machines::card::apply(&card, &walkup, &officer(), NOW), Err(Refusal::NotTheCardholder));
    // Nor can a cardholder take an operator's route.
    let single = CardCommand::Issue {
        route: IssueRoute::Single,
        end_state: CardEndState::Issued,
        certificate_end_state: CertificateEndState::Valid,
    };
    assert_eq!(machines::card::apply(&card, &single, &holder, NOW), Err(Refusal::OperatorRequired));
    let mut off = Actor::cardholder(HOLDER, UseCases::all());
    off.use_cases.disable(UseCase::Walkup).unwrap();
    assert_eq!(
        machines::card::apply(&card, &walkup, &off, NOW),
        Err(Refusal::UseCaseDisabled(UseCase::Walkup))
    );
    assert_eq!(may_collect(&holder, &card), Ok(()));
    assert_eq!(may_collect(&stranger, &card), Err(Refusal::NotTheCardholder));
    assert_eq!(may_collect(&officer(), &card), Ok(()));
}

#[test]
fn a_chosen_pin_follows_the_profiles_policy_and_is_typed_twice() {
    let policy = PinPolicy { min_length: 6, max_length: 8, numeric: true, retries: 3 };
    assert_eq!(check_chosen_pin(&policy, "246810", "246810"), Ok(()));
    assert_eq!(check_chosen_pin(&policy, "24681012", "24681012"), Ok(()));
    let short = check_chosen_pin(&policy, "24681", "24681").unwrap_err();
    assert_eq!(short.to_string(), "the PIN must be 6 to 8 characters long");
    assert!(matches!(check_chosen_pin(&policy, "246810123", "246810123"), Err(Refusal::PinNotAllowed(_))));
    let letters = check_chosen_pin(&policy, "24681a", "24681a").unwrap_err();
    assert_eq!(letters.to_string(), "the PIN must be digits only");
    assert_eq!(check_chosen_pin(&policy, "246810", "246811"), Err(Refusal::PinsDiffer));
    let open = PinPolicy { numeric: false, ..policy };
    assert_eq!(check_chosen_pin(&open, "abc123", "abc123"), Ok(()));
    assert!(matches!(check_chosen_pin(&open, "abc 123", "abc 123"), Err(Refusal::PinNotAllowed(_))));
}
