//! The registry's credential profile (`domain::ProfileSettings`) as the
//! card engine's personalization profile (`piv::Profile`). The registry's
//! templates decide the certificates' content; the card side needs the
//! slots, algorithms, PIN/PUK policy and management key algorithm.

use domain::{CredentialProfile, ExtendedKeyUsage, KeyAlgorithm, ManagementKeyAlgorithm, Slot};

/// The card slot for a profile slot (SP 800-73-4 Part 1 Table 4b).
pub fn card_slot(slot: Slot) -> piv::Slot {
    match slot {
        Slot::PivAuthentication => piv::Slot::Authentication,
        Slot::DigitalSignature => piv::Slot::Signature,
        Slot::KeyManagement => piv::Slot::KeyManagement,
        Slot::CardAuthentication => piv::Slot::CardAuthentication,
    }
}

/// The profile slot of a card slot (retired slots are in no profile).
pub fn profile_slot(slot: piv::Slot) -> Option<Slot> {
    match slot {
        piv::Slot::Authentication => Some(Slot::PivAuthentication),
        piv::Slot::Signature => Some(Slot::DigitalSignature),
        piv::Slot::KeyManagement => Some(Slot::KeyManagement),
        piv::Slot::CardAuthentication => Some(Slot::CardAuthentication),
        _ => None,
    }
}

fn eku(e: &ExtendedKeyUsage) -> String {
    match e {
        ExtendedKeyUsage::ClientAuth => "1.3.6.1.5.5.7.3.2".into(),
        ExtendedKeyUsage::SmartCardLogon => "1.3.6.1.4.1.311.20.2.2".into(),
        ExtendedKeyUsage::EmailProtection => "1.3.6.1.5.5.7.3.4".into(),
        ExtendedKeyUsage::CodeSigning => "1.3.6.1.5.5.7.3.3".into(),
        ExtendedKeyUsage::PivCardAuth => "2.16.840.1.101.3.6.8".into(),
        ExtendedKeyUsage::Oid(oid) => oid.clone(),
    }
}

/// The personalization profile for one version of a credential profile.
pub fn card_profile(profile: &CredentialProfile) -> piv::Profile {
    let s = &profile.settings;
    piv::Profile {
        name: s.name.clone(),
        version: profile.version,
        management_key_algorithm: match s.management_key {
            ManagementKeyAlgorithm::Aes128 => piv::ManagementKeyAlgorithm::Aes128,
            ManagementKeyAlgorithm::Aes192 => piv::ManagementKeyAlgorithm::Aes192,
            ManagementKeyAlgorithm::Aes256 => piv::ManagementKeyAlgorithm::Aes256,
        },
        chuid_expiry_years: u8::try_from(s.card_validity_days.div_ceil(365)).unwrap_or(u8::MAX).max(1),
        compress_certificates: false,
        pin: piv::SecretPolicy { length: s.pin.max_length, retries: s.pin.retries },
        puk: piv::SecretPolicy { length: s.puk.length, retries: s.puk.retries },
        slots: s
            .slots
            .iter()
            .map(|spec| piv::SlotProfile {
                slot: card_slot(spec.slot),
                algorithm: match spec.algorithm {
                    KeyAlgorithm::Rsa2048 => piv::KeyAlgorithm::Rsa2048,
                    KeyAlgorithm::EccP256 => piv::KeyAlgorithm::EccP256,
                    KeyAlgorithm::EccP384 => piv::KeyAlgorithm::EccP384,
                },
                pin_policy: None,
                touch_policy: None,
                certificate: piv::CertificateTemplate {
                    subject: spec.certificate.subject.clone(),
                    validity_days: spec.certificate.validity_days,
                    key_usage: vec![piv::KeyUsage::DigitalSignature],
                    extended_key_usage: spec.certificate.ekus.iter().map(eku).collect(),
                },
            })
            .collect(),
    }
}
