//! Escrow of per-card secrets (SPEC §2 steps 2 and 5, §7): the registry
//! stores only what an [`EscrowSeal`] returns. The key-encryption key lives
//! behind the trait (crate `authority`: a file by default, room for PKCS#11).

use domain::DeviceId;
use proto::EscrowKind;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Seals and opens escrowed card secrets, bound to the card and the kind of
/// secret, so a sealed PUK cannot be opened as another card's key.
pub trait EscrowSeal: Send + Sync + 'static {
    /// Encrypts `secret` for `device` and `kind`.
    fn seal(&self, device: DeviceId, kind: EscrowKind, secret: &[u8]) -> Result<Vec<u8>>;
    /// Decrypts what [`EscrowSeal::seal`] returned for the same `device` and `kind`.
    fn open(&self, device: DeviceId, kind: EscrowKind, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
    /// Encrypts the body of outgoing message `id` (the mail outbox): an
    /// enrollment email holds a one-time code, never kept in plaintext.
    fn seal_message(&self, id: uuid::Uuid, body: &[u8]) -> Result<Vec<u8>>;
    /// Decrypts what [`EscrowSeal::seal_message`] returned for the same `id`,
    /// only to send it.
    fn open_message(&self, id: uuid::Uuid, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

/// The seal of crate `authority`: an AES-256-GCM envelope per secret, its
/// data key wrapped by the key-encryption key, bound to the card and kind.
#[derive(Debug, Clone)]
pub struct AuthoritySeal(pub authority::Escrow);

impl AuthoritySeal {
    /// Escrow under the key-encryption key kept in the file at `path`
    /// (created, mode 0600, at first start).
    pub fn with_key_file(path: &std::path::Path) -> Result<Self> {
        let kek = authority::FileKek::open_or_create(path).map_err(|e| Error::Escrow(e.to_string()))?;
        Ok(Self(authority::Escrow::new(std::sync::Arc::new(kek))))
    }
}

fn authority_kind(kind: EscrowKind) -> authority::EscrowKind {
    match kind {
        EscrowKind::ManagementKey => authority::EscrowKind::ManagementKey,
        EscrowKind::Puk => authority::EscrowKind::Puk,
    }
}

/// The version of a secret sealed here: one current secret per card and
/// kind is kept, and a replacement overwrites it.
const SEAL_VERSION: u32 = 1;

impl EscrowSeal for AuthoritySeal {
    fn seal(&self, device: DeviceId, kind: EscrowKind, secret: &[u8]) -> Result<Vec<u8>> {
        let record = self
            .0
            .seal(device, authority_kind(kind), SEAL_VERSION, secret)
            .map_err(|e| Error::Escrow(e.to_string()))?;
        record.to_bytes().map_err(|e| Error::Escrow(e.to_string()))
    }

    fn open(&self, device: DeviceId, kind: EscrowKind, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.0.open_bytes(sealed, device, authority_kind(kind)).map_err(|e| Error::Escrow(e.to_string()))
    }

    fn seal_message(&self, id: uuid::Uuid, body: &[u8]) -> Result<Vec<u8>> {
        // The envelope binds a card id and a kind; a message binds its own id.
        let record = self
            .0
            .seal(DeviceId::new(id), authority::EscrowKind::OutgoingMail, SEAL_VERSION, body)
            .map_err(|e| Error::Escrow(e.to_string()))?;
        record.to_bytes().map_err(|e| Error::Escrow(e.to_string()))
    }

    fn open_message(&self, id: uuid::Uuid, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.0
            .open_bytes(sealed, DeviceId::new(id), authority::EscrowKind::OutgoingMail)
            .map_err(|e| Error::Escrow(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_message_opens_only_under_its_own_id() {
        let dir = tempfile::tempdir().unwrap();
        let seal = AuthoritySeal::with_key_file(&dir.path().join("kek")).unwrap();
        let id = uuid::Uuid::now_v7();
        let body = b"enter this enrollment code: ABCD-EFGH-JKMN-PQRS";
        let sealed = seal.seal_message(id, body).unwrap();
        assert!(!sealed.windows(4).any(|w| w == b"ABCD"), "no plaintext in what is stored");
        assert_eq!(&*seal.open_message(id, &sealed).unwrap(), body);
        assert!(seal.open_message(uuid::Uuid::now_v7(), &sealed).is_err(), "another message's id");
        assert!(seal.open(DeviceId::new(id), EscrowKind::Puk, &sealed).is_err(), "not a card secret");
    }

    #[test]
    fn settings_stored_before_the_policy_read_its_defaults() {
        let old = r#"{"use_cases":{"enabled":["sign_in","admin"]},"approval_step":true}"#;
        let settings: crate::DeploymentSettings = serde_json::from_str(old).unwrap();
        assert!(settings.approval_step);
        assert_eq!(settings.self_enrollment, domain::SelfEnrollmentPolicy::default());
    }

    #[test]
    fn authority_seal_round_trips_and_binds_card_and_kind() {
        let dir = tempfile::tempdir().unwrap();
        let seal = AuthoritySeal::with_key_file(&dir.path().join("kek")).unwrap();
        let device = DeviceId::from_u128(1);
        let sealed = seal.seal(device, EscrowKind::Puk, b"12345678").unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"12345678"), "no plaintext in what is stored");
        assert_eq!(&*seal.open(device, EscrowKind::Puk, &sealed).unwrap(), b"12345678");
        assert!(
            seal.open(DeviceId::from_u128(2), EscrowKind::Puk, &sealed).is_err(),
            "another card's record"
        );
        assert!(seal.open(device, EscrowKind::ManagementKey, &sealed).is_err(), "another kind");
        let reopened = AuthoritySeal::with_key_file(&dir.path().join("kek")).unwrap();
        assert_eq!(
            &*reopened.open(device, EscrowKind::Puk, &sealed).unwrap(),
            b"12345678",
            "the key file persists"
        );
    }
}

/// How long the job that stored a secret gets that version back (resume,
/// roll back, or close a card torn after the registry recorded it).
pub const JOB_WINDOW: time::Duration = time::Duration::hours(24);

/// Why an escrowed version was released: written into the fetch's audit note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// To the job that stored it: this operator, this workstation, within [`JOB_WINDOW`].
    OwnJob,
    /// To the collect job of an approved update or reprovision request.
    Collect(domain::RequestId),
    /// To a PIN unblock (Unblock PIN, identity check noted).
    Unblock,
}

impl Release {
    /// The words of the audit note.
    pub(crate) fn note(self) -> String {
        match self {
            Release::OwnJob => "released to the job that stored it".to_owned(),
            Release::Collect(request) => format!("released to the collect job of request {request}"),
            Release::Unblock => "released to a PIN unblock".to_owned(),
        }
    }
}

/// Whether `newest` was stored by `operator` at `workstation` less than
/// [`JOB_WINDOW`] before `now` and is not yet on the card: that job's own secret.
pub(crate) fn stored_by_this_job(
    newest: &crate::storage::EscrowVersion,
    operator: domain::OperatorId,
    workstation: Option<domain::WorkstationId>,
    now: time::OffsetDateTime,
) -> bool {
    newest.stored_by == Some(operator)
        && newest.workstation == workstation
        && now - newest.stored_at < JOB_WINDOW
}

/// The version a card holds: the newest one a recorded issuance or update
/// wrote, never one a job stored and did not finish.
pub(crate) fn current(versions: &[crate::storage::EscrowVersion]) -> Option<&crate::storage::EscrowVersion> {
    versions.iter().find(|v| v.written)
}

/// The sealed secret `device` holds now (see [`current`]).
pub(crate) fn current_sealed(
    tx: &mut dyn crate::storage::Tx,
    device: DeviceId,
    kind: EscrowKind,
) -> Result<Option<Vec<u8>>> {
    let versions = tx.escrow_versions(device, kind)?;
    Ok(current(&versions).map(|v| v.sealed.clone()))
}
