//! Storage behind the registry: a trait with no database types in its
//! signatures, so SQLite (the embedded default, [`sqlite::SqliteStorage`])
//! and PostgreSQL implement the same contract and pass the same tests.
//!
//! All methods are synchronous; the HTTP layer runs them on the blocking
//! pool. Writes happen inside [`Storage::write`]: one transaction, serializable
//! against every other write, committed only if the work returns `Ok`. The
//! decisions themselves live in [`crate::decide`], not here.

pub mod postgres;
pub use postgres::PostgresStorage;
pub mod sqlite;

/// The most events or records one page of the audit trail or feed holds.
pub const MAX_PAGE: u32 = 1000;

/// The registry's tables in `Storage::dump` order, the same for every
/// storage so dumps of SQLite and PostgreSQL compare alike.
const TABLES: &[&str] = &[
    "settings",
    "people",
    "roles",
    "operators",
    "operator_roles",
    "sessions",
    "profiles",
    "devices",
    "certificates",
    "requests",
    "applied_ops",
    "changes",
    "audit",
    "escrow",
    "challenges",
    "ca_certificates",
    "temporary_cards",
    "workstations",
    "provisioning_tasks",
    "enrollment_codes",
    "mail_outbox",
    "walkup_grants",
];

use domain::{
    AuditEvent, Certificate, CredentialProfile, Device, DeviceId, Operator, OperatorId, Person, PersonId,
    ProfileId, Request, RequestId, Role, RoleId, UseCases,
};
use proto::{Answer, Change, EscrowKind, Record};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Result;

/// The audit key a storage seals new audit events with (see
/// [`crate::anchor`]): set at start, read once per transaction.
#[derive(Debug, Default)]
pub(crate) struct AuditKeySlot(std::sync::RwLock<Option<std::sync::Arc<authority::AuditKey>>>);

impl AuditKeySlot {
    pub(crate) fn set(&self, key: std::sync::Arc<authority::AuditKey>) -> Result<()> {
        *self.0.write().map_err(|_| crate::Error::Storage("the audit key lock was poisoned".into()))? =
            Some(key);
        Ok(())
    }

    /// The key; a poisoned lock is an error, never "unsealed".
    pub(crate) fn get(&self) -> Result<Option<std::sync::Arc<authority::AuditKey>>> {
        Ok(self
            .0
            .read()
            .map_err(|_| crate::Error::Storage("the audit key lock was poisoned".into()))?
            .clone())
    }
}

/// An audit event as stored, with its MAC (none: written without an audit key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// The event.
    pub event: AuditEvent,
    /// HMAC-SHA256 of its position and hash under the audit key.
    pub mac: Option<Vec<u8>>,
}

/// An operator account with its password verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorAccount {
    /// The operator (roles included).
    pub operator: Operator,
    /// Argon2 PHC string; never the password.
    pub password_hash: String,
}

/// A session: the SHA-256 of its bearer token, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// Who signed in.
    pub operator: OperatorId,
    /// From which workstation.
    pub workstation: Option<domain::WorkstationId>,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Stops working at.
    pub expires_at: OffsetDateTime,
}

/// A challenge handed out for a proof of possession (SPEC §2 step 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    /// The random bytes the card signs.
    pub challenge: Vec<u8>,
    /// The operator it was handed to: only they may use it.
    pub operator: OperatorId,
    /// Handed out.
    pub created_at: OffsetDateTime,
    /// Unusable from then on.
    pub expires_at: OffsetDateTime,
}

/// A certificate the registry's CA issued, beside its `domain::Certificate` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCertificateRecord {
    /// The certificate record.
    pub certificate: domain::CertificateId,
    /// The client's id for the issuance (exactly once).
    pub op_id: Uuid,
    /// Who asked.
    pub operator: OperatorId,
    /// The certificate as signed.
    pub der: Vec<u8>,
    /// When.
    pub issued_at: OffsetDateTime,
}

/// A kiosk's right to act as a cardholder on their card for its approved
/// update (UC-WALKUP, UC-UPDATE), after the card and PIN proved them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkupGrant {
    /// The card.
    pub device: DeviceId,
    /// The approved update or reprovision request.
    pub request: RequestId,
    /// The cardholder the kiosk acts as.
    pub person: PersonId,
    /// The kiosk's account.
    pub operator: OperatorId,
    /// The kiosk's workstation.
    pub workstation: Option<domain::WorkstationId>,
    /// Until when.
    pub expires_at: OffsetDateTime,
}

/// A secret to escrow, and the job that generated it.
#[derive(Debug, Clone, Copy)]
pub struct NewEscrow<'a> {
    /// The card (a device or a temporary card).
    pub device: DeviceId,
    /// Which secret.
    pub kind: EscrowKind,
    /// Sealed; never plaintext.
    pub sealed: &'a [u8],
    /// The operator whose job stored it (`None`: the registry itself).
    pub stored_by: Option<OperatorId>,
    /// The workstation of that operator's session.
    pub workstation: Option<domain::WorkstationId>,
    /// Already on the card (e.g. moved by an offline unblock answer).
    pub written: bool,
    /// When.
    pub at: OffsetDateTime,
}

/// One escrowed version of a card's secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowVersion {
    /// 1, 2, … per card and kind.
    pub version: u32,
    /// Sealed; never plaintext.
    pub sealed: Vec<u8>,
    /// When it was stored.
    pub stored_at: OffsetDateTime,
    /// The operator whose job stored it.
    pub stored_by: Option<OperatorId>,
    /// That operator's workstation.
    pub workstation: Option<domain::WorkstationId>,
    /// A recorded issuance or update put it on the card.
    pub written: bool,
}

/// An offline unblock answer that moved the escrowed PUK (see
/// [`crate::offline_unblock`]): the PUK it replaced, sealed like escrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineUnblockRecord {
    /// Its id.
    pub id: Uuid,
    /// The card.
    pub device: DeviceId,
    /// The helpdesk operator who answered.
    pub operator: OperatorId,
    /// The replaced PUK, sealed for (device, PUK).
    pub previous_puk: Vec<u8>,
    /// When.
    pub created_at: OffsetDateTime,
}

/// Deployment-wide settings (UC-ADMIN).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentSettings {
    /// Use-case enablement.
    pub use_cases: UseCases,
    /// The "add an approval step" option of seed 002: every card request needs approval.
    pub approval_step: bool,
    /// Provisioning periods, wrong-code limit and kiosk timeout (seed 004);
    /// settings stored before it existed read the defaults.
    #[serde(default)]
    pub self_enrollment: domain::SelfEnrollmentPolicy,
}

/// An enrollment code as stored: its public tag and the verifier of its
/// secret part, never the code (UC-PROV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentCodeRecord {
    /// The enrollment it opens.
    pub enrollment: domain::EnrollmentId,
    /// Its task.
    pub task: domain::TaskId,
    /// The code's first group (finds the row; not secret).
    pub tag: String,
    /// The secret part's keyed verifier (`hmac-sha256:` + hex; see `provisioning`), or an
    /// Argon2id PHC string made by an earlier version.
    pub verifier: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
}

/// A message in the mail outbox; its body is sealed (it may hold an enrollment code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRecord {
    /// Its id (the seal is bound to it).
    pub id: Uuid,
    /// The one address it goes to.
    pub recipient: String,
    /// Subject line (plain: no secret in it).
    pub subject: String,
    /// The body, sealed by [`crate::EscrowSeal::seal_message`].
    pub body: Vec<u8>,
    /// Queued.
    pub created_at: OffsetDateTime,
    /// Delivered, once.
    pub sent_at: Option<OffsetDateTime>,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Not tried again before this.
    pub next_attempt_at: OffsetDateTime,
}

/// The registry's database.
pub trait Storage: Send + Sync + 'static {
    /// Runs `work` in one write transaction whose effects are those of
    /// some serial order of all writes; commits if it returns `Ok`, rolls
    /// back otherwise. `work` may run again after a rollback when the
    /// transaction lost a race with another one (never seen by callers).
    fn write(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()>;

    /// Runs `work` on a consistent read snapshot (writes through it fail or
    /// are discarded).
    fn read(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()>;

    /// Every row of every table as canonical text: for tests that prove a
    /// refused call changed nothing.
    fn dump(&self) -> Result<String>;

    /// Seals the audit events appended from now on with `key`
    /// ([`Tx::audit_key`]); set once at start by [`crate::AuditAnchor`].
    fn seal_audit(&self, key: std::sync::Arc<authority::AuditKey>) -> Result<()>;

    /// Runs `sql` with the audit table's append-only triggers out of the
    /// way, as an attacker with database access would: for the tests that
    /// show such edits are detected. Never called by the registry.
    #[doc(hidden)]
    fn tamper_audit(&self, sql: &str) -> Result<()>;
}

/// An operation already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Who sent it.
    pub operator: OperatorId,
    /// What it was answered.
    pub answer: Answer,
    /// SHA-256 of its content (none: applied before digests were kept).
    pub digest: Option<Vec<u8>>,
}

/// What one transaction can read and write.
pub trait Tx {
    // --- exactly-once ---
    /// The stored answer of an operation already applied, who sent it and
    /// the digest of its content.
    fn answer_of(&mut self, op_id: Uuid) -> Result<Option<Applied>>;
    /// Records the answer of a newly applied (or refused) operation, with
    /// the digest of its content.
    fn record_answer(
        &mut self,
        op_id: Uuid,
        operator: OperatorId,
        answer: &Answer,
        at: OffsetDateTime,
        digest: &[u8],
    ) -> Result<()>;

    // --- records ---
    /// A person.
    fn person(&mut self, id: PersonId) -> Result<Option<Person>>;
    /// One version of a profile.
    fn profile_version(&mut self, id: ProfileId, version: u32) -> Result<Option<CredentialProfile>>;
    /// The latest version of a profile.
    fn latest_profile(&mut self, id: ProfileId) -> Result<Option<CredentialProfile>>;
    /// A device.
    fn device(&mut self, id: DeviceId) -> Result<Option<Device>>;
    /// A certificate.
    fn certificate(&mut self, id: domain::CertificateId) -> Result<Option<Certificate>>;
    /// Whether a certificate with this serial exists.
    fn certificate_serial_taken(&mut self, serial: &str) -> Result<bool>;
    /// The certificates of a device.
    fn certificates_of(&mut self, device: DeviceId) -> Result<Vec<Certificate>>;
    /// A request.
    fn request(&mut self, id: RequestId) -> Result<Option<Request>>;
    /// The requests concerning a device.
    fn requests_of(&mut self, device: DeviceId) -> Result<Vec<Request>>;
    /// A temporary card (UC-TEMP).
    fn temporary_card(&mut self, id: DeviceId) -> Result<Option<domain::TemporaryCard>>;
    /// Inserts or replaces a record (profiles: inserts the version).
    fn put_record(&mut self, record: &Record) -> Result<()>;

    // --- change feed ---
    /// Appends a change; returns its sequence number. Sequence numbers must
    /// become visible in increasing order: once a reader has seen seq N it
    /// must never later find a new change below N (SQLite: one writer;
    /// PostgreSQL: take the feed's lock in the transaction, or a sequence
    /// alone would let an earlier number commit after a later one).
    fn append_change(&mut self, at: OffsetDateTime, record: &Record) -> Result<u64>;
    /// Changes after `after`, oldest first, at most `limit`.
    fn changes_after(&mut self, after: u64, limit: u32) -> Result<Vec<Change>>;

    // --- audit ---
    /// The key new audit events are sealed with, if the storage has one
    /// ([`Storage::seal_audit`]); held in memory, never stored.
    fn audit_key(&self) -> Option<&authority::AuditKey>;
    /// The newest audit event.
    fn last_audit(&mut self) -> Result<Option<AuditEvent>>;
    /// Appends an audit event (its seq follows the last) with its MAC.
    fn insert_audit(&mut self, event: &AuditEvent, mac: Option<&[u8; 32]>) -> Result<()>;
    /// Audit events from position `from` with their MACs, at most `limit`.
    fn audit_rows(&mut self, from: u64, limit: u32) -> Result<Vec<AuditRow>>;
    /// Audit events from position `from`, at most `limit`.
    fn audit_from(&mut self, from: u64, limit: u32) -> Result<Vec<AuditEvent>> {
        Ok(self.audit_rows(from, limit)?.into_iter().map(|row| row.event).collect())
    }

    // --- workstations ---
    /// The hash of a workstation's credential, if it ever signed in.
    fn workstation_key_hash(&mut self, workstation: domain::WorkstationId) -> Result<Option<Vec<u8>>>;
    /// Binds a workstation to its credential's hash (first sign-in).
    fn insert_workstation(
        &mut self,
        workstation: domain::WorkstationId,
        key_hash: &[u8],
        operator: OperatorId,
        at: OffsetDateTime,
    ) -> Result<()>;

    // --- provisioning (UC-PROV) ---
    /// A provisioning task.
    fn provisioning_task(&mut self, id: domain::TaskId) -> Result<Option<domain::ProvisioningTask>>;
    /// Every provisioning task, by number.
    fn provisioning_tasks(&mut self) -> Result<Vec<domain::ProvisioningTask>>;
    /// The number the next task gets: 1, 2, 3… (writes are serialized).
    fn next_task_number(&mut self) -> Result<u64>;
    /// Inserts or replaces a provisioning task.
    fn put_provisioning_task(&mut self, task: &domain::ProvisioningTask) -> Result<()>;
    /// The live code with this tag.
    fn enrollment_code(&mut self, tag: &str) -> Result<Option<EnrollmentCodeRecord>>;
    /// Stores an enrollment's code, replacing its earlier one.
    fn put_enrollment_code(&mut self, code: &EnrollmentCodeRecord) -> Result<()>;
    /// Deletes an enrollment's code (used, removed, locked); whether it had one.
    fn delete_enrollment_code(&mut self, enrollment: domain::EnrollmentId) -> Result<bool>;

    // --- mail outbox ---
    /// Queues a message (body sealed).
    fn insert_mail(&mut self, mail: &MailRecord) -> Result<()>;
    /// Unsent messages due at `now`, oldest first, at most `limit`.
    fn pending_mail(&mut self, limit: u32, now: OffsetDateTime) -> Result<Vec<MailRecord>>;
    /// Claims up to `limit` unsent messages due at `now` for one sender,
    /// oldest first: their next attempt moves to `lease_until`, so another
    /// registry instance's dispatcher skips them (two claiming at once get
    /// disjoint sets). A sender that dies before `mark_mail_sent` leaves its
    /// messages due again at `lease_until`.
    fn claim_mail(
        &mut self,
        limit: u32,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Vec<MailRecord>>;
    /// Marks a message delivered.
    fn mark_mail_sent(&mut self, id: Uuid, at: OffsetDateTime) -> Result<()>;
    /// Records a failed delivery: one more attempt, the error, when to retry.
    fn mark_mail_failed(&mut self, id: Uuid, error: &str, next_attempt_at: OffsetDateTime) -> Result<()>;

    // --- escrow (ciphertext only) ---
    /// Appends a version of a sealed secret (the next number); never replaces one.
    fn put_escrow(&mut self, stored: &NewEscrow<'_>) -> Result<u32>;
    /// Every version of a sealed secret, newest first.
    fn escrow_versions(&mut self, device: DeviceId, kind: EscrowKind) -> Result<Vec<EscrowVersion>>;
    /// Marks the newest version of each of `device`'s secrets as written on
    /// the card (a recorded issuance or update).
    fn mark_escrow_written(&mut self, device: DeviceId) -> Result<()>;
    /// Discards a device's sealed secrets (card erased back to stock).
    fn discard_escrow(&mut self, device: DeviceId) -> Result<()>;
    /// Keeps the PUK an offline unblock answer replaced (sealed).
    fn insert_offline_unblock(&mut self, record: &OfflineUnblockRecord) -> Result<()>;
    /// The newest offline unblock answer for a device.
    fn latest_offline_unblock(&mut self, device: DeviceId) -> Result<Option<OfflineUnblockRecord>>;

    // --- walk-up updates ---
    /// Keeps a kiosk's grant on a card, replacing the card's earlier one.
    fn put_walkup_grant(&mut self, grant: &WalkupGrant) -> Result<()>;
    /// The grant kept on a card, expired or not.
    fn walkup_grant(&mut self, device: DeviceId) -> Result<Option<WalkupGrant>>;

    // --- certificate authority ---
    /// Keeps a challenge handed out.
    fn insert_challenge(&mut self, challenge: &ChallengeRecord) -> Result<()>;
    /// A challenge still kept (used ones are deleted).
    fn challenge(&mut self, challenge: &[u8]) -> Result<Option<ChallengeRecord>>;
    /// Uses up a challenge; whether it was kept.
    fn delete_challenge(&mut self, challenge: &[u8]) -> Result<bool>;
    /// Forgets challenges that expired before `before`; how many.
    fn purge_challenges(&mut self, before: OffsetDateTime) -> Result<u64>;
    /// Records a certificate the CA issued, in `state` since its issuance
    /// (its `certificates` row must exist).
    fn insert_ca_certificate(
        &mut self,
        issued: &CaCertificateRecord,
        state: domain::CertificateState,
    ) -> Result<()>;
    /// The issuance made for a client id.
    fn ca_certificate_by_op(&mut self, op_id: Uuid) -> Result<Option<CaCertificateRecord>>;
    /// The issuance of a certificate record, if the CA issued it.
    fn ca_certificate(&mut self, id: domain::CertificateId) -> Result<Option<CaCertificateRecord>>;
    /// Notes a certificate's state (written with its record): a CA-issued
    /// certificate entering a new state starts its `state_since` at `at`.
    fn note_certificate_state(&mut self, certificate: &Certificate, at: OffsetDateTime) -> Result<()>;
    /// The CA's certificates that are not valid (held or revoked), each with
    /// the time it entered that state: the CRL's entries.
    fn crl_entries(&mut self) -> Result<Vec<(Certificate, OffsetDateTime)>>;
    /// The CA's certificate with this serial (upper-case hex) and the time
    /// it entered its state: what the OCSP responder answers. `None` for a
    /// serial the CA never issued, even if a record names it.
    fn ca_certificate_by_serial(&mut self, serial: &str) -> Result<Option<(Certificate, OffsetDateTime)>>;

    // --- operators, roles, sessions, settings ---
    /// An operator account by sign-in name.
    fn operator_by_username(&mut self, username: &str) -> Result<Option<OperatorAccount>>;
    /// An operator account by id.
    fn operator(&mut self, id: OperatorId) -> Result<Option<OperatorAccount>>;
    /// Inserts an operator account (roles included).
    fn insert_operator(&mut self, account: &OperatorAccount) -> Result<()>;
    /// A role by id.
    fn role(&mut self, id: RoleId) -> Result<Option<Role>>;
    /// A role by name.
    fn role_by_name(&mut self, name: &str) -> Result<Option<Role>>;
    /// Inserts or replaces a role.
    fn put_role(&mut self, role: &Role) -> Result<()>;
    /// Gives an operator a role.
    fn grant_role(&mut self, operator: OperatorId, role: RoleId) -> Result<()>;
    /// Takes a role away from an operator.
    fn revoke_role(&mut self, operator: OperatorId, role: RoleId) -> Result<()>;
    /// Every role, by name.
    fn roles(&mut self) -> Result<Vec<Role>>;
    /// Every operator account, by username.
    fn operators(&mut self) -> Result<Vec<OperatorAccount>>;
    /// Inserts a session.
    fn insert_session(&mut self, session: &SessionRecord) -> Result<()>;
    /// A session by token hash.
    fn session(&mut self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>>;
    /// Ends a session; whether it existed.
    fn delete_session(&mut self, token_hash: &[u8; 32]) -> Result<bool>;
    /// Deletes sessions that expired before `before`; how many.
    fn purge_sessions(&mut self, before: OffsetDateTime) -> Result<u64>;
    /// Deployment settings.
    fn settings(&mut self) -> Result<DeploymentSettings>;
    /// Replaces the deployment settings.
    fn put_settings(&mut self, settings: &DeploymentSettings) -> Result<()>;
}

/// Runs `work` in a write transaction and hands back its value. `work`
/// may run more than once: a storage that runs writers in parallel retries
/// a transaction that lost a race (its effects were rolled back).
pub fn write<R>(storage: &dyn Storage, mut work: impl FnMut(&mut dyn Tx) -> Result<R>) -> Result<R> {
    let mut out = None;
    storage.write(&mut |tx| {
        out = Some(work(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| crate::Error::Task("transaction produced no value".into()))
}

/// Runs `work` on a read snapshot and hands back its value.
pub fn read<R>(storage: &dyn Storage, work: impl FnOnce(&mut dyn Tx) -> Result<R>) -> Result<R> {
    let mut work = Some(work);
    let mut out = None;
    storage.read(&mut |tx| {
        let f = work.take().ok_or_else(|| crate::Error::Task("transaction body ran twice".into()))?;
        out = Some(f(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| crate::Error::Task("transaction produced no value".into()))
}
