//! The hash-chained audit trail (SPEC §3 Audit event, UC-AUDIT).

use super::fixtures::*;
use crate::*;

fn draft(n: u128, action: &str) -> AuditDraft {
    AuditDraft {
        id: AuditEventId::from_u128(n),
        at: NOW + time::Duration::seconds(n as i64),
        actor: Some(OperatorId::from_u128(1004)),
        workstation: Some(WorkstationId::from_u128(9)),
        action: action.into(),
        object: AuditObject::Device(CARD),
        outcome: AuditOutcome::Success,
        notes: Some("identity checked".into()),
    }
}

fn chain(n: usize) -> Vec<AuditEvent> {
    let mut events: Vec<AuditEvent> = Vec::new();
    for i in 0..n {
        let next = AuditEvent::append(draft(i as u128, "card.issue"), events.last());
        events.push(next);
    }
    events
}

#[test]
fn an_untouched_chain_verifies() {
    let events = chain(5);
    assert_eq!(events[0].prev_hash, ChainHash::GENESIS);
    assert_eq!(events[3].prev_hash, events[2].hash);
    assert_eq!(events[4].seq, 4);
    assert_eq!(verify_chain(&events), Ok(()));
    assert_eq!(
        verify_chain_after(Some(&events[1]), &events[2..]),
        Ok(()),
        "a page verifies after its predecessor"
    );
}

#[test]
fn changing_an_event_is_detected() {
    let mut events = chain(5);
    events[2].draft.notes = Some("identity not checked".into());
    assert_eq!(
        verify_chain(&events),
        Err(Error::AuditChainBroken { index: 2, reason: "content does not match its hash" })
    );
}

#[test]
fn rehashing_a_changed_event_breaks_the_next_link() {
    let mut events = chain(5);
    events[2].draft.outcome = AuditOutcome::Failed { message: "x".into() };
    events[2].hash = events[2].compute_hash();
    assert_eq!(
        verify_chain(&events),
        Err(Error::AuditChainBroken { index: 3, reason: "previous hash does not match" })
    );
}

#[test]
fn removing_or_reordering_events_is_detected() {
    let mut removed = chain(5);
    removed.remove(1);
    assert!(matches!(verify_chain(&removed), Err(Error::AuditChainBroken { index: 1, .. })));
    let mut swapped = chain(5);
    swapped.swap(1, 2);
    assert!(matches!(verify_chain(&swapped), Err(Error::AuditChainBroken { index: 1, .. })));
}

#[test]
fn every_field_is_covered_by_the_hash() {
    let base = AuditEvent::append(draft(1, "card.issue"), None);
    let mut variants = Vec::new();
    let mut d = base.draft.clone();
    d.action = "card.erase".into();
    variants.push(d);
    let mut d = base.draft.clone();
    d.actor = None;
    variants.push(d);
    let mut d = base.draft.clone();
    d.workstation = None;
    variants.push(d);
    let mut d = base.draft.clone();
    d.object = AuditObject::Request(RequestId::from_u128(1));
    variants.push(d);
    let mut d = base.draft.clone();
    d.notes = None;
    variants.push(d);
    let mut d = base.draft.clone();
    d.at += time::Duration::nanoseconds(1);
    variants.push(d);
    let mut d = base.draft.clone();
    d.outcome = AuditOutcome::from(&Refusal::ApproverIsRequester);
    variants.push(d);
    for v in variants {
        assert_ne!(AuditEvent::append(v.clone(), None).hash, base.hash, "{v:?}");
    }
}

#[test]
fn hashes_travel_as_hex() {
    let events = chain(2);
    let json = serde_json::to_string(&events[1]).unwrap();
    assert!(json.contains(&events[1].prev_hash.to_hex()));
    let back: AuditEvent = serde_json::from_str(&json).unwrap();
    assert_eq!(back, events[1]);
    assert_eq!(ChainHash::from_hex(&events[0].hash.to_hex()), Some(events[0].hash));
    assert_eq!(ChainHash::from_hex("zz"), None);
    assert_eq!(ChainHash::from_hex(&"g".repeat(64)), None);
}

#[test]
fn refusals_carry_a_stable_code_and_a_message() {
    let refusal =
        Refusal::StateNotAllowed { from: AnyState::Card(CardState::Locked), command: "activate".into() };
    assert_eq!(refusal.code(), "state_not_allowed");
    assert_eq!(refusal.to_string(), "cannot activate while the card is locked");
    let json = serde_json::to_string(&refusal).unwrap();
    assert_eq!(serde_json::from_str::<Refusal>(&json).unwrap(), refusal);
    let outcome = AuditOutcome::from(&Refusal::OwnDevice { device: CARD });
    assert!(matches!(outcome, AuditOutcome::Refused { ref code, .. } if code == "own_device"));
}

#[test]
fn every_kind_of_refusal_round_trips_through_json() {
    let refusals = vec![
        Refusal::UseCaseDisabled(UseCase::TempInitialize),
        Refusal::NotPermitted { permission: Permission::on(ProfilePermission::CanCollect, P1) },
        Refusal::NotPermitted { permission: Permission::global(GlobalPermission::Erase) },
        Refusal::OperatorRequired,
        Refusal::OwnDevice { device: CARD },
        Refusal::ApproverIsRequester,
        Refusal::CapabilityMismatch { required: CapabilityRequirement::Both, card: Capabilities::CONTACT },
        Refusal::NotYetExpired { expires_at: NOW },
        Refusal::InvalidBatch("x".into()),
        Refusal::InvalidEmail("y".into()),
        Refusal::StateNotAllowed {
            from: AnyState::Certificate(CertificateState::Revoked {
                reason: RevocationReason::KeyCompromise,
            }),
            command: "hold".into(),
        },
    ];
    for refusal in refusals {
        let json = serde_json::to_string(&refusal).unwrap_or_else(|e| panic!("{refusal:?}: {e}"));
        assert!(json.contains(&format!("\"code\":\"{}\"", refusal.code())), "{json}");
        assert_eq!(serde_json::from_str::<Refusal>(&json).unwrap(), refusal, "{json}");
        assert!(!refusal.to_string().is_empty());
    }
}

#[test]
fn outcomes_and_commands_round_trip_through_json() {
    let outcome = crate::machines::card::apply(
        &device(CardState::Active),
        &CardCommand::Cancel { reason: CancelReason::Stolen },
        &officer(),
        NOW,
    )
    .unwrap();
    let json = serde_json::to_string(&outcome).unwrap();
    assert_eq!(serde_json::from_str::<Outcome<CardState, CardEffect>>(&json).unwrap(), outcome);
    let cmd = TemporaryCardCommand::Assign { person: HOLDER, until: Some(NOW), permanent_card: Some(CARD) };
    let json = serde_json::to_string(&cmd).unwrap();
    assert_eq!(serde_json::from_str::<TemporaryCardCommand>(&json).unwrap(), cmd);
    let actor = officer().signed_in_with(CARD);
    let json = serde_json::to_string(&actor).unwrap();
    assert_eq!(serde_json::from_str::<Actor>(&json).unwrap(), actor);
}
