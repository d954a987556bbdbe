//! Shared, deterministic fixtures: fixed ids, a fixed clock, sample profiles.

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::*;

/// The fixed "now" of every test.
pub const NOW: OffsetDateTime = datetime!(2026-01-15 10:00 UTC);

pub const REQUESTER: PersonId = PersonId::from_u128(1);
pub const APPROVER: PersonId = PersonId::from_u128(2);
pub const HOLDER: PersonId = PersonId::from_u128(3);
pub const OFFICER: PersonId = PersonId::from_u128(4);

pub const P1: ProfileId = ProfileId::from_u128(101);
pub const P2: ProfileId = ProfileId::from_u128(102);
pub const TEMP_PROFILE: ProfileId = ProfileId::from_u128(103);

pub const CARD: DeviceId = DeviceId::from_u128(201);
pub const OTHER_CARD: DeviceId = DeviceId::from_u128(202);
pub const TEMP_CARD: DeviceId = DeviceId::from_u128(203);

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

/// An operator with every permission, every use case on, not involved in anything.
pub fn officer() -> Actor {
    operator(OFFICER, Permissions::everything())
}

/// An operator `person` with `permissions` and every use case on.
pub fn operator(person: PersonId, permissions: Permissions) -> Actor {
    let operator_id = OperatorId::from_u128(person.uuid().as_u128() + 1000);
    Actor::operator(operator_id, person, permissions, UseCases::all())
}

/// An operator with exactly `permissions` (no others).
pub fn only(permissions: &[Permission]) -> Actor {
    let mut set = Permissions::none();
    for p in permissions {
        set.grant(*p);
    }
    operator(OFFICER, set)
}

pub fn settings(name: &str) -> ProfileSettings {
    let template = |cn: &str| CertificateTemplate {
        subject: format!("CN={{name}} {cn},O=Example"),
        validity_days: 365,
        ekus: vec![ExtendedKeyUsage::ClientAuth, ExtendedKeyUsage::SmartCardLogon],
    };
    ProfileSettings {
        name: name.to_owned(),
        capabilities: CapabilityRequirement::Contact,
        slots: vec![
            SlotSpec {
                slot: Slot::PivAuthentication,
                algorithm: KeyAlgorithm::EccP256,
                certificate: template("auth"),
            },
            SlotSpec {
                slot: Slot::DigitalSignature,
                algorithm: KeyAlgorithm::EccP384,
                certificate: template("sign"),
            },
        ],
        pin: PinPolicy { min_length: 6, max_length: 8, numeric: true, retries: 3 },
        puk: PukPolicy { length: 8, numeric: true, retries: 3 },
        management_key: ManagementKeyAlgorithm::Aes256,
        validate_issuance: false,
        card_end_state: CardEndState::Active,
        certificate_end_state: CertificateEndState::Valid,
        is_temporary: false,
        card_validity_days: 1095,
    }
}

pub fn profile(id: ProfileId) -> CredentialProfile {
    CredentialProfile::create(id, settings("Employee")).unwrap()
}

pub fn profile_with(id: ProfileId, change: impl FnOnce(&mut ProfileSettings)) -> CredentialProfile {
    let mut s = settings("Employee");
    change(&mut s);
    CredentialProfile::create(id, s).unwrap()
}

/// CARD, held by HOLDER, requested by REQUESTER, profile P1 v1, contact-only.
pub fn device(state: CardState) -> Device {
    Device {
        id: CARD,
        serial: Some("0001".into()),
        atr: Some(vec![0x3B, 0x8C]),
        capabilities: Some(Capabilities::CONTACT),
        owner: Some(HOLDER),
        profile: ProfileRef { id: P1, version: 1 },
        state,
        certificates: vec![],
        requested_by: Some(REQUESTER),
        expires_at: None,
    }
}

/// A request of `kind` on CARD for HOLDER, by REQUESTER, profile P1.
pub fn request(kind: RequestKind, state: RequestState) -> Request {
    Request {
        id: RequestId::from_u128(301),
        kind,
        state,
        device: Some(CARD),
        person: Some(HOLDER),
        profile: P1,
        requester: REQUESTER,
        approver: None,
        reason: None,
        notes: None,
        created_at: NOW - days(1),
        updated_at: NOW - days(1),
    }
}

pub fn temporary_card(state: TemporaryCardState) -> TemporaryCard {
    let assigned = matches!(state, TemporaryCardState::Assigned | TemporaryCardState::Expired);
    TemporaryCard {
        id: TEMP_CARD,
        serial: Some("T-1".into()),
        profile: ProfileRef { id: TEMP_PROFILE, version: 1 },
        state,
        holder: assigned.then_some(HOLDER),
        assigned_until: None,
        permanent_card: assigned.then_some(CARD),
    }
}

pub fn certificate(state: CertificateState) -> Certificate {
    Certificate {
        id: CertificateId::from_u128(401),
        serial: "01".into(),
        slot: Slot::PivAuthentication,
        subject: "CN=Holder".into(),
        not_before: NOW - days(10),
        not_after: NOW + days(355),
        state,
        device: CARD,
    }
}

pub fn enrollment(state: EnrollmentState) -> Enrollment {
    Enrollment {
        id: EnrollmentId::from_u128(501),
        task: TaskId::from_u128(601),
        person: HOLDER,
        email: "holder@example.org".into(),
        state,
        failed_attempts: 0,
        max_attempts: 3,
        stop_date: NOW + days(7),
        // Enrolled already, so completion (the first authentication) applies.
        serial: Some("SN-9".into()),
        device: None,
        walkup_device: None,
    }
}
