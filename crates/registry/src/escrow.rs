//! Escrow of per-card secrets (SPEC §2 steps 2 and 5, §7): the registry
//! stores only what an [`EscrowSeal`] returns. The key-encryption key lives
//! behind the trait (crate `authority`: a file by default, room for PKCS#11).
//! Which version goes to whom is decided here too ([`release_for`]): only
//! to the job that needs it (issue 16).

use domain::DeviceId;
use proto::EscrowKind;
use zeroize::Zeroizing;

use domain::{AuditObject, AuditOutcome, Permission, ProfilePermission, UseCase};
use proto::EscrowSecret;
use time::OffsetDateTime;

use crate::audit_trail::{append_audit, audit_draft};
use crate::caller::Caller;
use crate::error::{Error, Result};
use crate::fault::{Fault, Served};
use crate::storage::Tx;

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
    /// The keyed verifier of an enrollment code (`message` names the code
    /// and its enrollment): only the key-encryption key's holder can test
    /// a guess against it, and it costs microseconds to check.
    fn code_mac(&self, message: &[u8]) -> Result<[u8; 32]>;
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

    fn code_mac(&self, message: &[u8]) -> Result<[u8; 32]> {
        self.0.kek().mac("enrollment code", message).map_err(|e| Error::Escrow(e.to_string()))
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

/// Which escrowed version of `record`'s `kind` goes to `caller`, and why
/// (issue 16: escrow only to the job that needs it):
///
/// 1. the job that stored the newest version (this operator, this
///    workstation, within [`crate::escrow::JOB_WINDOW`]) gets it back, to
///    resume, roll back or close its card;
/// 2. the collect job of an approved update or reprovision request (Can
///    Collect on its profile, not one's own card) gets the current management
///    key; the current PUK only if the operator may unblock PINs or someone
///    else requested or approved the request: collecting resets the PIN with
///    it, and an operator alone would otherwise file a reprovision (approved
///    at once), take the PUK and cancel;
/// 3. a PIN unblock (Unblock PIN, identity check noted) gets the current PUK.
pub(crate) fn release_for<'v>(
    tx: &mut dyn Tx,
    caller: &Caller,
    record: &domain::Device,
    kind: EscrowKind,
    versions: &'v [crate::storage::EscrowVersion],
    identity_checked: bool,
    now: OffsetDateTime,
) -> Result<Result<(&'v crate::storage::EscrowVersion, Release), Fault>, Error> {
    let actor = &caller.actor;
    let Some(newest) = versions.first() else { return Ok(Err(no_escrow(record.id, kind))) };
    let walkup = matches!(actor.kind, domain::ActorKind::Cardholder { .. });
    if walkup {
        // A kiosk's walk-up job (UC-WALKUP) gets back only what it stored itself.
        if let Err(refusal) = domain::rules::walkup_cardholder(actor, record.owner) {
            return Ok(Err(Fault::Forbidden(refusal)));
        }
    } else if let Err(refusal) = domain::rules::not_own_device(actor, record.id, record.owner) {
        return Ok(Err(Fault::Forbidden(refusal)));
    }
    let may_collect = |profile| {
        if walkup {
            // Its own walk-up card's profile, or on an issued card the
            // update its cardholder was proved for (crate::walkup_update).
            profile == record.profile.id || record.state.is_issued()
        } else {
            actor.require(Permission::on(ProfilePermission::CanCollect, profile)).is_ok()
        }
    };
    let collect = if record.state.is_issued() && actor.require_use_case(UseCase::Update).is_ok() {
        tx.requests_of(record.id)?.into_iter().find(|r| {
            matches!(r.kind, domain::RequestKind::Update | domain::RequestKind::Reprovision)
                && r.state == domain::RequestState::Approved
                && may_collect(r.profile)
        })
    } else {
        None
    };
    if !record.state.is_final()
        && crate::escrow::stored_by_this_job(newest, caller.operator, actor.workstation, now)
        && (may_collect(record.profile.id) || collect.is_some())
    {
        return Ok(Ok((newest, Release::OwnJob)));
    }
    let Some(current) = crate::escrow::current(versions) else {
        return Ok(Err(Fault::Denied(format!(
            "the {} of device {} belongs to the job that is writing the card",
            kind.name().replace('_', " "),
            record.id
        ))));
    };
    let unblock = domain::rules::check_pin_unblock(record, actor);
    if let Some(request) = collect {
        let acting_alone =
            request.requester == caller.person && request.approver.is_none_or(|a| a == caller.person);
        if kind == EscrowKind::ManagementKey || !acting_alone || unblock.is_ok() {
            return Ok(Ok((current, Release::Collect(request.id))));
        }
        return Ok(Err(Fault::Denied(format!(
            "collecting request {} resets the PIN with the card's PUK: it needs the Unblock PIN permission, \
             or the request filed or approved by another operator",
            request.id
        ))));
    }
    match kind {
        EscrowKind::Puk => match unblock {
            Err(refusal) => Ok(Err(Fault::Forbidden(refusal))),
            Ok(()) if !identity_checked => Ok(Err(Fault::Invalid(
                "unblocking a PIN needs the identity check noted: how the cardholder was identified".into(),
            ))),
            Ok(()) => Ok(Ok((current, Release::Unblock))),
        },
        EscrowKind::ManagementKey => Ok(Err(Fault::Denied(format!(
            "no issue or collect job of yours needs the management key of device {}",
            record.id
        )))),
    }
}

pub(crate) fn no_escrow(device: DeviceId, kind: EscrowKind) -> Fault {
    Fault::NotFound(format!("no {} is escrowed for device {device}", kind.name()))
}

/// Opens `version` of the escrowed `kind` of `device` (a device or temporary
/// card the caller was checked for) and audits the fetch with the
/// workstation, the version and the notes (why; the identity check of an unblock).
#[allow(clippy::too_many_arguments)]
pub(crate) fn open_escrow(
    tx: &mut dyn Tx,
    seal: &dyn EscrowSeal,
    caller: &Caller,
    device: DeviceId,
    kind: EscrowKind,
    version: &crate::storage::EscrowVersion,
    now: OffsetDateTime,
    notes: Option<String>,
) -> Result<Served<EscrowSecret>, Error> {
    let secret = seal.open(device, kind, &version.sealed)?;
    let notes = match notes {
        Some(n) => format!("version {}: {n}", version.version),
        None => format!("version {}", version.version),
    };
    let mut draft = audit_draft(
        now,
        Some(caller.operator),
        format!("escrow.fetch.{}", kind.name()),
        AuditObject::Device(device),
        AuditOutcome::Success,
        Some(notes),
    );
    draft.workstation = caller.actor.workstation;
    append_audit(tx, draft)?;
    Ok(Ok(EscrowSecret::from_bytes(&secret)))
}
