//! The whole flow on a virtual card: the workstation's personalizer asks the
//! registry CA for certificates (the registry's templates decide), the card's
//! new management key and PUK go into escrow, and what comes back out of
//! escrow opens the card. OpenSSL judges certificates and the CRL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use authority::{crl_pem, CertificateAuthority, DeviceIssuance, Escrow, FileKek, Holder, RevokedEntry};
use domain::{
    CapabilityRequirement, CardEndState, CertificateEndState, CertificateTemplate, DeviceId,
    ExtendedKeyUsage, KeyAlgorithm, ManagementKeyAlgorithm, PinPolicy, ProfileSettings, PukPolicy,
    RevocationReason, Slot, SlotSpec,
};
use piv::{NoObserver, Personalizer, PivCard, PlanOptions, Profile, Secrets};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use time::OffsetDateTime;

const WORKSTATION_PROFILE: &str = include_str!("../../../assets/profiles/piv-p256.toml");

/// The registry's version of the profile (domain form).
fn registry_profile() -> ProfileSettings {
    let spec = |slot, subject: &str, ekus| SlotSpec {
        slot,
        algorithm: KeyAlgorithm::EccP256,
        certificate: CertificateTemplate { subject: subject.into(), validity_days: 365, ekus },
    };
    ProfileSettings {
        name: "PIV P-256".into(),
        capabilities: CapabilityRequirement::Contact,
        slots: vec![
            spec(
                Slot::PivAuthentication,
                "CN={name},OU=PIV Authentication,O=Example",
                vec![ExtendedKeyUsage::ClientAuth, ExtendedKeyUsage::SmartCardLogon],
            ),
            spec(
                Slot::DigitalSignature,
                "CN={name},OU=Digital Signature,O=Example",
                vec![ExtendedKeyUsage::EmailProtection],
            ),
            spec(
                Slot::KeyManagement,
                "CN={name},OU=Key Management,O=Example",
                vec![ExtendedKeyUsage::EmailProtection],
            ),
        ],
        pin: PinPolicy { min_length: 6, max_length: 8, numeric: true, retries: 3 },
        puk: PukPolicy { length: 8, numeric: true, retries: 3 },
        management_key: ManagementKeyAlgorithm::Aes256,
        validate_issuance: false,
        card_end_state: CardEndState::Active,
        certificate_end_state: CertificateEndState::Valid,
        is_temporary: false,
        card_validity_days: 1825,
    }
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn a_card_personalized_with_the_registry_ca_verifies_and_its_escrowed_secrets_open_it() {
    let dir = tempfile::tempdir().unwrap();
    let kek: Arc<FileKek> = Arc::new(FileKek::open_or_create(&dir.path().join("kek")).unwrap());
    let ca =
        CertificateAuthority::open_or_create(&dir.path().join("ca"), "Example Registry CA", kek.as_ref())
            .unwrap();
    let escrow = Escrow::new(kek.clone());
    let device = DeviceId::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0001);

    // The workstation's side: plan and run on a factory-fresh virtual card.
    let session = vcard::Session::with_card(vcard::Card::factory_fresh(vcard::CardConfig::new(4242)));
    let mut card = PivCard::new(session);
    let profile = Profile::from_toml(WORKSTATION_PROFILE).unwrap();
    let secrets = Secrets::generate(&profile, &mut rand::rngs::OsRng).unwrap();
    let info = piv::read_info(&mut card).unwrap();
    let mut options = PlanOptions::for_holder("Client's Own Rendering");
    options.guid = Some(*device.uuid().as_bytes());
    let plan = piv::plan(&profile, &info, &options).unwrap();

    // The registry's side: its profile and the person's names.
    let settings = registry_profile();
    let holder = Holder {
        name: "Grace Hopper".into(),
        email: Some("grace@example.test".into()),
        employee_id: None,
        upn: Some("grace@corp.example.test".into()),
    };
    let issuance =
        DeviceIssuance::new(&ca, &settings, holder, Some(device.uuid()), OffsetDateTime::now_utc());
    let outcome = Personalizer::run(&mut card, &plan, &secrets, &issuance, &mut NoObserver).unwrap();
    assert!(outcome.management_key_is_new);
    assert_eq!(outcome.certificates.len(), 3);

    // The registry keeps the issued certificates and the escrowed secrets.
    let issued = issuance.issued();
    assert_eq!(issued.len(), 3);
    let records = [
        escrow.seal_management_key(device, 1, &secrets.management_key).unwrap(),
        escrow.seal_puk(device, 1, &secrets.puk).unwrap(),
    ];
    let stored = serde_json::to_string(&records).unwrap();

    // Every certificate on the card is the registry's, with the registry's subject.
    for (on_card, ours) in outcome.certificates.iter().zip(&issued) {
        assert_eq!(on_card.der, ours.der);
        assert!(ours.subject.starts_with("CN=Grace Hopper,OU="), "{}", ours.subject);
        assert!(on_card.summary.issuer.contains("Example Registry CA"));
        let read_back = card.read_certificate(on_card.slot).unwrap().unwrap();
        assert_eq!(read_back, ours.der);
        std::fs::write(dir.path().join("leaf.pem"), ours.pem().unwrap()).unwrap();
        let ca_path = ca.certificate_path();
        let (ok, text) = openssl(dir.path(), &["verify", "-CAfile", ca_path.to_str().unwrap(), "leaf.pem"]);
        assert!(ok, "{text}");
    }
    let (_, text) = openssl(dir.path(), &["x509", "-in", "leaf.pem", "-noout", "-text"]);
    assert!(!text.contains("othername"), "the UPN belongs on 9A only: {text}");
    std::fs::write(dir.path().join("auth.pem"), issued[0].pem().unwrap()).unwrap();
    let (_, text) = openssl(dir.path(), &["x509", "-in", "auth.pem", "-noout", "-text"]);
    assert!(text.contains("othername: UPN::grace@corp.example.test"), "{text}");
    assert!(text.contains(&format!("URI:urn:uuid:{}", device.uuid())), "{text}");

    // Later, an operator unblocks the PIN and manages the card with what escrow returns.
    let records: Vec<authority::EscrowRecord> = serde_json::from_str(&stored).unwrap();
    let management_key = escrow.open_management_key(&records[0], device).unwrap();
    let puk = escrow.open_puk(&records[1], device).unwrap();
    card.select().unwrap();
    card.authenticate(&management_key).unwrap();
    let new_pin = piv::Pin::new("135790").unwrap();
    card.unblock_pin(&puk, &new_pin).unwrap();
    card.verify_pin(&new_pin).unwrap();
    // Another device's records are refused for this card.
    let other = DeviceId::from_u128(2);
    assert!(escrow.open_puk(&records[1], other).is_err());

    // The card is locked: its certificates are revoked and the CRL says so.
    let now = OffsetDateTime::now_utc() - time::Duration::seconds(5);
    let entries: Vec<RevokedEntry> = issued
        .iter()
        .filter_map(|c| {
            let state = domain::CertificateState::Revoked { reason: RevocationReason::KeyCompromise };
            RevokedEntry::for_state(&c.serial, state, now)
        })
        .collect();
    let crl = ca.crl(&entries, now, now + time::Duration::days(1)).unwrap();
    std::fs::write(dir.path().join("crl.pem"), crl_pem(&crl).unwrap()).unwrap();
    let ca_path = ca.certificate_path();
    let (ok, text) = openssl(
        dir.path(),
        &["verify", "-crl_check", "-CAfile", ca_path.to_str().unwrap(), "-CRLfile", "crl.pem", "auth.pem"],
    );
    assert!(!ok && text.contains("certificate revoked"), "{text}");
}

#[test]
fn a_slot_the_registry_profile_does_not_fill_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let kek = FileKek::open_or_create(&dir.path().join("kek")).unwrap();
    let ca = CertificateAuthority::open_or_create(&dir.path().join("ca"), "CA", &kek).unwrap();
    let mut settings = registry_profile();
    settings.slots.retain(|s| s.slot != Slot::KeyManagement);
    let session = vcard::Session::with_card(vcard::Card::factory_fresh(vcard::CardConfig::new(4243)));
    let mut card = PivCard::new(session);
    let profile = Profile::from_toml(WORKSTATION_PROFILE).unwrap();
    let secrets = Secrets::generate(&profile, &mut rand::rngs::OsRng).unwrap();
    let info = piv::read_info(&mut card).unwrap();
    let plan = piv::plan(&profile, &info, &PlanOptions::for_holder("X")).unwrap();
    let issuance = DeviceIssuance::new(&ca, &settings, Holder::default(), None, OffsetDateTime::now_utc());
    let err = Personalizer::run(&mut card, &plan, &secrets, &issuance, &mut NoObserver).unwrap_err();
    assert!(err.to_string().contains("not in the device's profile"), "{err}");
    assert_eq!(issuance.issued().len(), 2);
}
