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

/// The piv profile for one card: the profile's, with a batch's settings
/// applied (PIN and PUK length, the chosen slots only).
pub(crate) fn with_settings(
    mut profile: piv::Profile,
    settings: Option<&domain::IssuanceSettings>,
) -> piv::Profile {
    if let Some(s) = settings {
        profile.pin.length = s.pin_length;
        profile.puk.length = s.puk_length;
        let chosen: Vec<piv::Slot> = s.certificates.iter().map(|slot| card_slot(*slot)).collect();
        profile.slots.retain(|p| chosen.contains(&p.slot));
    }
    profile
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{
        CapabilityRequirement, CardEndState, CertificateEndState, CertificateTemplate, PinPolicy, ProfileId,
        ProfileSettings, PukPolicy, SlotSpec,
    };

    fn settings() -> ProfileSettings {
        ProfileSettings {
            name: "Employee".into(),
            capabilities: CapabilityRequirement::Contact,
            slots: vec![
                SlotSpec {
                    slot: Slot::PivAuthentication,
                    algorithm: KeyAlgorithm::EccP256,
                    certificate: CertificateTemplate {
                        subject: "CN={name}".into(),
                        validity_days: 365,
                        ekus: vec![ExtendedKeyUsage::ClientAuth, ExtendedKeyUsage::Oid("1.2.3.4".into())],
                    },
                },
                SlotSpec {
                    slot: Slot::KeyManagement,
                    algorithm: KeyAlgorithm::Rsa2048,
                    certificate: CertificateTemplate {
                        subject: "CN={name},OU=KM".into(),
                        validity_days: 730,
                        ekus: vec![],
                    },
                },
            ],
            pin: PinPolicy { min_length: 6, max_length: 7, numeric: true, retries: 5 },
            puk: PukPolicy { length: 8, numeric: true, retries: 4 },
            management_key: ManagementKeyAlgorithm::Aes192,
            validate_issuance: false,
            card_end_state: CardEndState::Active,
            certificate_end_state: CertificateEndState::Valid,
            is_temporary: false,
            card_validity_days: 1000,
        }
    }

    #[test]
    fn a_registry_profile_becomes_the_card_plan_profile() {
        let profile = CredentialProfile::create(ProfileId::from_u128(7), settings()).unwrap();
        let card = card_profile(&profile);
        assert_eq!(card.version, 1);
        assert_eq!(card.management_key_algorithm, piv::ManagementKeyAlgorithm::Aes192);
        assert_eq!((card.pin.length, card.pin.retries), (7, 5));
        assert_eq!((card.puk.length, card.puk.retries), (8, 4));
        assert_eq!(card.chuid_expiry_years, 3, "1000 days round up to 3 years");
        assert_eq!(card.slots.len(), 2);
        assert_eq!(card.slots[0].slot, piv::Slot::Authentication);
        assert_eq!(card.slots[0].algorithm, piv::KeyAlgorithm::EccP256);
        assert_eq!(card.slots[0].certificate.extended_key_usage, ["1.3.6.1.5.5.7.3.2", "1.2.3.4"]);
        assert_eq!(card.slots[1].slot, piv::Slot::KeyManagement);
        assert_eq!(card.slots[1].algorithm, piv::KeyAlgorithm::Rsa2048);
        assert_eq!(card.slots[1].certificate.validity_days, 730);
        card.validate().unwrap();
    }

    #[test]
    fn every_profile_slot_maps_to_its_card_slot_and_back() {
        for slot in Slot::ALL {
            assert_eq!(profile_slot(card_slot(slot)), Some(slot));
            assert_eq!(card_slot(slot).key_ref(), slot.key_reference());
        }
    }
}
