//! Credential profiles: versions, validation, capability fit (SPEC §3).

use super::fixtures::*;
use crate::*;

#[test]
fn editing_creates_a_new_version_and_keeps_the_old() {
    let v1 = profile(P1);
    assert_eq!(v1.version, 1);
    let mut changed = v1.settings.clone();
    changed.validate_issuance = true;
    let v2 = v1.revise(changed).unwrap();
    assert_eq!((v2.id, v2.version), (P1, 2));
    assert!(!v1.settings.validate_issuance, "devices keep the version they were encoded with");
    assert_eq!(v1.reference(), ProfileRef { id: P1, version: 1 });
    assert_eq!(v1.revise(v1.settings.clone()), Err(Error::UnchangedProfile));
}

#[test]
fn capability_requirements() {
    use CapabilityRequirement as R;
    let table = [
        (R::Contact, Capabilities::CONTACT, true),
        (R::Contact, Capabilities::CONTACTLESS, false),
        (R::Contact, Capabilities::DUAL, true),
        (R::Contactless, Capabilities::CONTACT, false),
        (R::Contactless, Capabilities::CONTACTLESS, true),
        (R::Contactless, Capabilities::DUAL, true),
        (R::Both, Capabilities::CONTACT, false),
        (R::Both, Capabilities::CONTACTLESS, false),
        (R::Both, Capabilities::DUAL, true),
    ];
    for (required, card, fits) in table {
        assert_eq!(required.is_met_by(card), fits, "{required} on {card}");
    }
}

#[test]
fn invalid_settings_are_rejected() {
    type Change = Box<dyn Fn(&mut ProfileSettings)>;
    let cases: Vec<(&str, Change)> = vec![
        ("empty name", Box::new(|s| s.name = " ".into())),
        ("no slot", Box::new(|s| s.slots.clear())),
        ("duplicate slot", Box::new(|s| s.slots[1].slot = Slot::PivAuthentication)),
        ("empty subject", Box::new(|s| s.slots[0].certificate.subject.clear())),
        ("zero validity", Box::new(|s| s.slots[0].certificate.validity_days = 0)),
        ("unbalanced braces", Box::new(|s| s.slots[0].certificate.subject = "CN={name".into())),
        ("short PIN", Box::new(|s| s.pin.min_length = 4)),
        ("long PIN", Box::new(|s| s.pin.max_length = 9)),
        ("min > max", Box::new(|s| (s.pin.min_length, s.pin.max_length) = (8, 6))),
        ("no PIN retries", Box::new(|s| s.pin.retries = 0)),
        ("PUK length", Box::new(|s| s.puk.length = 5)),
        ("no PUK retries", Box::new(|s| s.puk.retries = 0)),
        ("card validity", Box::new(|s| s.card_validity_days = 0)),
    ];
    for (what, change) in cases {
        let mut s = settings("Employee");
        change(&mut s);
        assert!(matches!(CredentialProfile::create(P1, s), Err(Error::InvalidProfile(_))), "{what}");
    }
    assert!(CredentialProfile::create(P1, settings("Employee")).is_ok());
}

#[test]
fn a_temporary_card_profile_names_no_slot() {
    let mut s = settings("Temporary");
    s.is_temporary = true;
    s.slots.clear();
    assert!(CredentialProfile::create(P1, s.clone()).is_ok(), "CHUID, management key, PIN and PUK only");
    s.is_temporary = false;
    assert!(
        matches!(CredentialProfile::create(P1, s), Err(Error::InvalidProfile(_))),
        "a card profile needs a slot"
    );
}

#[test]
fn slots_carry_their_key_references() {
    let refs: Vec<u8> = Slot::ALL.iter().map(|s| s.key_reference()).collect();
    assert_eq!(refs, vec![0x9A, 0x9C, 0x9D, 0x9E], "SP 800-73-4 Part 1 Table 4b");
}

#[test]
fn profiles_round_trip_through_json() {
    let p = profile(P1);
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<CredentialProfile>(&json).unwrap(), p);
    let d = device(CardState::Active);
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(serde_json::from_str::<Device>(&json).unwrap(), d);
}
