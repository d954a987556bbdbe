//! The registry's use cases behind the HTTP adapter: sign-in, sessions,
//! operations, the change feed, the audit trail and escrow retrieval. Each
//! method is synchronous (the HTTP layer runs it on the blocking pool) and
//! checks the caller's permission before touching anything.

use std::sync::{Arc, OnceLock};

use domain::{
    Actor, AuditObject, AuditOutcome, DeviceId, GlobalPermission, Permission, Permissions, UseCase,
};
use proto::{
    Answer, AuditPage, ChainReport, ChangesPage, Cursor, EscrowKind, EscrowSecret, Login, Operation,
    SessionGrant, SessionToken,
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::audit_trail::{append_audit, audit_draft};
use crate::caller::Caller;
use crate::decide::apply_operation;
use crate::error::Error;
use crate::escrow::{no_escrow, open_escrow, release_for, EscrowSeal};
pub use crate::fault::{Fault, Served};
pub use crate::password::hash_password;
pub use crate::storage::MAX_PAGE;
use crate::storage::{self, SessionRecord, Storage, Tx};

/// Where the registry gets the time (passed in so tests can move it).
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    /// The system clock, UTC.
    pub fn system() -> Self {
        Self(Arc::new(OffsetDateTime::now_utc))
    }

    /// A clock reading whatever `f` returns.
    pub fn from_fn(f: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Now.
    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// The registry: storage, escrow seal, certificate authority, clock and session lifetime.
#[derive(Clone)]
pub struct Registry {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) seal: Option<Arc<dyn EscrowSeal>>,
    pub(crate) authority: Option<Arc<authority::CertificateAuthority>>,
    anchor: Option<Arc<crate::anchor::AuditAnchor>>,
    pub(crate) clock: Clock,
    session_ttl: Duration,
    gate: Arc<crate::throttle::SignInGate>,
    /// Wakes the mail dispatcher after an operation queued mail (set by `serve`).
    mail_waker: Arc<std::sync::OnceLock<mail::Waker>>,
    /// The local mailbox mail is delivered to, when it is (set by `serve`;
    /// absent: mail goes to an SMTP server).
    pub(crate) mailbox: Arc<std::sync::OnceLock<mail::Mailbox>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("escrow", &self.seal.is_some())
            .field("authority", &self.authority.is_some())
            .field("audit_anchor", &self.anchor.is_some())
            .finish_non_exhaustive()
    }
}

/// How long an expired session is kept before a sign-in deletes it (long
/// enough to tell "expired" from "unknown" for a while).
pub const SESSION_RETENTION: Duration = Duration::days(1);

/// Page sizes accepted by the feed and the audit log.
const DEFAULT_PAGE: u32 = 500;

/// A verifier to check unknown names against, so they take as long as known ones.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password, never valid").unwrap_or_default())
}

/// SHA-256 of a bearer token: what the sessions table keeps.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn new_token() -> SessionToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SessionToken::new(hex::encode(bytes))
}

impl Registry {
    /// A registry over `storage` with the system clock, 12-hour sessions, no
    /// escrow seal and no certificate authority.
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        Self {
            storage,
            seal: None,
            authority: None,
            anchor: None,
            clock: Clock::system(),
            session_ttl: Duration::hours(12),
            gate: Arc::new(crate::throttle::SignInGate::new(crate::throttle::SignInPolicy::default())),
            mail_waker: Arc::default(),
            mailbox: Arc::default(),
        }
    }

    /// Throttles sign-in by `policy` (see [`crate::throttle`]).
    pub fn with_sign_in_policy(mut self, policy: crate::throttle::SignInPolicy) -> Self {
        self.gate = Arc::new(crate::throttle::SignInGate::new(policy));
        self
    }

    /// The sign-in gate: admission and turns at checking a password.
    pub fn sign_in_gate(&self) -> &crate::throttle::SignInGate {
        &self.gate
    }

    /// Issues certificates, and signs CRLs, with `ca` (see [`crate::certificates`]).
    pub fn with_authority(mut self, ca: Arc<authority::CertificateAuthority>) -> Self {
        self.authority = Some(ca);
        self
    }

    /// Seals the audit trail with `anchor` and verifies against it (see
    /// [`crate::anchor`]). Without one, events carry no MAC and the audit
    /// verification reports `sealed: false`.
    pub fn with_audit_anchor(mut self, anchor: Arc<crate::anchor::AuditAnchor>) -> Self {
        // Already sealed when opened on this storage; this covers another one.
        if let Err(e) = anchor.seal(self.storage()) {
            tracing::error!(error = %e, "the audit key could not be given to the storage");
        }
        self.anchor = Some(anchor);
        self
    }

    /// Writes an audit checkpoint if the chain's head moved since the last
    /// one (`serve` calls it periodically and at shutdown); `None`: nothing
    /// written, or no anchor.
    pub fn checkpoint_audit(&self) -> Result<Option<crate::anchor::Checkpoint>, Error> {
        match &self.anchor {
            Some(anchor) => anchor.checkpoint(self.storage(), self.clock.now()),
            None => Ok(None),
        }
    }

    /// The certificate authority, if this registry has one.
    pub fn authority(&self) -> Option<&authority::CertificateAuthority> {
        self.authority.as_deref()
    }

    /// Uses `seal` for escrowed secrets.
    pub fn with_escrow(mut self, seal: Arc<dyn EscrowSeal>) -> Self {
        self.seal = Some(seal);
        self
    }

    /// Uses `clock` for every decision.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sessions last `ttl`.
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// The storage.
    pub fn storage(&self) -> &dyn Storage {
        &*self.storage
    }

    /// UC-SIGNIN: checks the password and opens a session.
    pub fn login(&self, login: &Login, address: Option<std::net::IpAddr>) -> Served<SessionGrant> {
        let now = self.clock.now();
        let username = login.username.trim();
        if username.is_empty() || username.len() > 200 || login.password.expose().len() > 1024 {
            return Err(Fault::Unauthenticated("invalid username or password"));
        }
        self.gate.admit(username, address)?;
        let account = storage::read(self.storage(), |tx| tx.operator_by_username(username))?;
        let verified = match &account {
            Some(a) if a.operator.enabled => {
                self.gate.verify_password(login.password.expose().as_bytes(), &a.password_hash)
            }
            _ => {
                self.gate.verify_password(login.password.expose().as_bytes(), decoy_hash());
                false
            }
        };
        let Some(account) = account.filter(|_| verified) else {
            // Logged, not audited per attempt (anyone could grow the trail);
            // a lock it causes is audited, once.
            tracing::warn!(username, ?address, "sign-in refused: invalid username or password");
            let locks = self.gate.failed(username, address);
            if !locks.is_empty() {
                let operator = storage::read(self.storage(), |tx| tx.operator_by_username(username))?;
                storage::write(self.storage(), |tx| {
                    for lock in &locks {
                        let (object, notes) = match lock {
                            crate::throttle::Locked::Account(name) => (
                                operator
                                    .as_ref()
                                    .map_or(AuditObject::None, |a| AuditObject::Operator(a.operator.id)),
                                format!("account {name:?} locked after failed sign-ins"),
                            ),
                            crate::throttle::Locked::Address(a) => {
                                (AuditObject::None, format!("address {a} locked after failed sign-ins"))
                            }
                        };
                        let outcome = AuditOutcome::Failed { message: "too many failed sign-ins".into() };
                        let mut draft =
                            audit_draft(now, None, "session.locked", object, outcome, Some(notes));
                        draft.workstation = login.workstation;
                        append_audit(tx, draft)?;
                    }
                    Ok(())
                })?;
            }
            return Err(Fault::Unauthenticated("invalid username or password"));
        };
        self.gate.succeeded(username);
        let workstation_key = match (login.workstation, &login.workstation_key) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(Fault::Invalid(
                    "a workstation signs in with its credential (workstation_key)".into(),
                ))
            }
            (Some(_), Some(key)) => Some(crate::workstation::key_hash(key)?),
        };
        let token = new_token();
        let expires_at = now + self.session_ttl;
        let operator = account.operator.clone();
        let granted = storage::write(self.storage(), |tx| {
            if let (Some(workstation), Some(hash)) = (login.workstation, &workstation_key) {
                if let Err(fault) = crate::workstation::admit(tx, workstation, hash, operator.id, now)? {
                    return Ok(Err(fault));
                }
            }
            tx.purge_sessions(now - SESSION_RETENTION)?;
            tx.insert_session(&SessionRecord {
                token_hash: token_hash(token.expose()),
                operator: operator.id,
                workstation: login.workstation,
                created_at: now,
                expires_at,
            })?;
            let mut draft = audit_draft(
                now,
                Some(operator.id),
                "session.create",
                AuditObject::Operator(operator.id),
                AuditOutcome::Success,
                None,
            );
            draft.workstation = login.workstation;
            append_audit(tx, draft)?;
            Ok(Ok((permissions_of(tx, &operator.roles)?, tx.settings()?.use_cases)))
        })?;
        let (permissions, use_cases) = granted?;
        Ok(SessionGrant {
            token,
            expires_at,
            operator: operator.id,
            person: operator.person,
            permissions,
            use_cases,
        })
    }

    /// Checks a bearer token and builds the caller the domain decides for.
    pub fn authenticate(&self, token: &str) -> Served<Caller> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Fault::Unauthenticated("the session token is not valid"));
        }
        let now = self.clock.now();
        let hash = token_hash(token);
        let caller = storage::read(self.storage(), |tx| {
            let Some(session) = tx.session(&hash)? else { return Ok(Err("the session token is not valid")) };
            if session.expires_at <= now {
                return Ok(Err("the session has expired; sign in again"));
            }
            let Some(account) = tx.operator(session.operator)? else {
                return Ok(Err("the session token is not valid"));
            };
            if !account.operator.enabled {
                return Ok(Err("the operator account is disabled"));
            }
            let permissions = permissions_of(tx, &account.operator.roles)?;
            let use_cases = tx.settings()?.use_cases;
            let op = &account.operator;
            let mut actor = Actor::operator(op.id, op.person, permissions, use_cases);
            actor.workstation = session.workstation;
            Ok(Ok(Caller { operator: op.id, person: op.person, actor }))
        })?;
        caller.map_err(Fault::Unauthenticated)
    }

    /// Ends the session of `token`.
    pub fn logout(&self, caller: &Caller, token: &str) -> Served<()> {
        let now = self.clock.now();
        let hash = token_hash(token);
        storage::write(self.storage(), |tx| {
            tx.delete_session(&hash)?;
            let draft = audit_draft(
                now,
                Some(caller.operator),
                "session.delete",
                AuditObject::Operator(caller.operator),
                AuditOutcome::Success,
                None,
            );
            append_audit(tx, draft).map(drop)
        })?;
        Ok(())
    }

    /// Applies one operation exactly once, in its own transaction.
    pub fn apply(&self, caller: &Caller, op: &Operation) -> Served<Answer> {
        let now = self.clock.now();
        let seal = self.seal.as_deref();
        let answer = storage::write(self.storage(), |tx| apply_operation(tx, caller, op, now, seal))?;
        if answer.is_accepted() && queues_mail(&op.op) {
            if let Some(waker) = self.mail_waker.get() {
                waker.wake();
            }
        }
        Ok(answer)
    }

    /// Lets operations that queue mail wake `waker`'s dispatcher at once
    /// (committed first: the dispatcher finds the message). Set once.
    pub fn wake_mail_with(&self, waker: mail::Waker) {
        let _ = self.mail_waker.set(waker);
    }

    /// Mail is delivered to `mailbox` (the embedded default): administrators
    /// may read it (`GET /v1/admin/mailbox`). Set once.
    pub fn read_mail_from(&self, mailbox: mail::Mailbox) {
        let _ = self.mailbox.set(mailbox);
    }

    /// A page of the change feed after `since`.
    /// The feed holds people with their email, requests with their notes and
    /// every certificate: it serves operators who work at a station, so one
    /// without any role (no permission at all) is refused it.
    pub fn changes(&self, caller: &Caller, since: Option<&str>, limit: Option<u32>) -> Served<ChangesPage> {
        if !caller.actor.permissions.grants_anything() || caller.actor.permissions.is_kiosk_only() {
            return Err(Fault::Denied(
                "an operator without any role, or a walk-up kiosk, cannot replicate the registry's records"
                    .into(),
            ));
        }
        let cursor = match since {
            Some(text) => text.parse::<Cursor>().map_err(|e| Fault::Invalid(e.to_string()))?,
            None => Cursor::START,
        };
        let limit = page_size(limit)?;
        let changes = storage::read(self.storage(), |tx| tx.changes_after(cursor.0, limit + 1))?;
        let more = changes.len() > limit as usize;
        let changes: Vec<_> = changes.into_iter().take(limit as usize).collect();
        let next = changes.last().map_or(cursor, |c| Cursor(c.seq));
        Ok(ChangesPage { changes, next_cursor: next.to_string(), more })
    }

    /// A page of the audit trail (View audit).
    pub fn audit(&self, caller: &Caller, from: Option<u64>, limit: Option<u32>) -> Served<AuditPage> {
        require_audit(caller)?;
        let from = from.unwrap_or(0);
        let limit = page_size(limit)?;
        let mut events = storage::read(self.storage(), |tx| tx.audit_from(from, limit + 1))?;
        let next_from = if events.len() > limit as usize {
            events.truncate(limit as usize);
            events.last().map(|e| e.seq + 1)
        } else {
            None
        };
        Ok(AuditPage { events, next_from })
    }

    /// Verifies the whole audit chain (View audit), and with an anchor each
    /// event's MAC and every checkpoint (see [`crate::anchor`]).
    pub fn verify_audit(&self, caller: &Caller) -> Served<ChainReport> {
        require_audit(caller)?;
        Ok(crate::anchor::verify(self.storage(), self.anchor.as_deref())?)
    }

    /// Opens an escrowed secret: the management key for an operator who may
    /// collect with the card's profile, the PUK for one who may unblock PINs
    /// (UC-PIN). Audited.
    pub fn escrow(&self, caller: &Caller, device: DeviceId, kind: EscrowKind) -> Served<EscrowSecret> {
        self.escrow_noted(caller, device, kind, None)
    }

    /// [`Registry::escrow`] with the identity-check note (UC-PIN: how the
    /// cardholder was identified) written into the fetch's audit event.
    pub fn escrow_noted(
        &self,
        caller: &Caller,
        device: DeviceId,
        kind: EscrowKind,
        identity_check: Option<&str>,
    ) -> Served<EscrowSecret> {
        let notes = match identity_check.map(str::trim) {
            None => None,
            Some("") => return Err(Fault::Invalid("identity_check is empty".into())),
            Some(n) if n.len() > proto::MAX_IDENTITY_CHECK => {
                return Err(Fault::Invalid(format!(
                    "identity_check is longer than {} bytes",
                    proto::MAX_IDENTITY_CHECK
                )))
            }
            Some(n) => Some(format!("identity check: {n}")),
        };
        let actor = &caller.actor;
        let now = self.clock.now();
        let Some(seal) = self.seal.as_deref() else {
            return Err(Fault::NotFound("this registry has no escrow key configured".into()));
        };
        let outcome = storage::write(self.storage(), |tx| {
            let record = match tx.device(device)? {
                Some(record) => record,
                // A temporary card's secrets (UC-TEMP): Manage temporary cards.
                None => match tx.temporary_card(device)? {
                    Some(card) => {
                        return Ok(match crate::temporary::check_secret_access(actor, &card) {
                            Err(refusal) => Err(Fault::Forbidden(refusal)),
                            Ok(()) => {
                                let versions = tx.escrow_versions(device, kind)?;
                                match versions.first() {
                                    None => Err(no_escrow(device, kind)),
                                    Some(newest) => open_escrow(
                                        tx,
                                        seal,
                                        caller,
                                        device,
                                        kind,
                                        newest,
                                        now,
                                        notes.clone(),
                                    )?,
                                }
                            }
                        })
                    }
                    None => return Ok(Err(Fault::NotFound(format!("device {device} does not exist")))),
                },
            };
            let versions = tx.escrow_versions(device, kind)?;
            let acting = crate::provisioning::acting_on(tx, caller, device, now)?;
            let (version, release) =
                match release_for(tx, &acting, &record, kind, &versions, notes.is_some(), now)? {
                    Ok(released) => released,
                    Err(fault) => return Ok(Err(fault)),
                };
            let note = match &notes {
                Some(n) => format!("{}; {n}", release.note()),
                None => release.note(),
            };
            open_escrow(tx, seal, caller, device, kind, version, now, Some(note))
        })?;
        outcome
    }

    /// Roles, operators and use cases, for an administrator (UC-ADMIN).
    pub fn access_directory(&self, caller: &Caller) -> Served<proto::AccessDirectory> {
        caller.actor.require_use_case(UseCase::Admin).map_err(Fault::Forbidden)?;
        caller.actor.require(Permission::global(GlobalPermission::Administer)).map_err(Fault::Forbidden)?;
        Ok(storage::read(self.storage(), |tx| crate::access::directory(tx))?)
    }

    /// Whether the database answers.
    pub fn health(&self) -> Served<()> {
        Ok(storage::read(self.storage(), |tx| tx.settings().map(drop))?)
    }
}

fn require_audit(caller: &Caller) -> Served<()> {
    caller.actor.require_use_case(UseCase::Audit).map_err(Fault::Forbidden)?;
    caller.actor.require(Permission::global(GlobalPermission::ViewAudit)).map_err(Fault::Forbidden)
}

fn page_size(limit: Option<u32>) -> Served<u32> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(Fault::Invalid(format!("limit {n} is outside 1..={MAX_PAGE}"))),
    }
}

/// The effective permissions of an operator holding `roles`.
pub fn permissions_of(tx: &mut dyn Tx, roles: &[domain::RoleId]) -> Result<Permissions, Error> {
    let mut held = Vec::with_capacity(roles.len());
    for id in roles {
        if let Some(role) = tx.role(*id)? {
            held.push(role);
        }
    }
    Ok(Permissions::from_roles(&held))
}

/// Whether `op` may queue mail (enrollment emails, removal notices): the
/// dispatcher is woken after it commits.
fn queues_mail(op: &proto::OperationKind) -> bool {
    use proto::OperationKind as K;
    matches!(
        op,
        K::CreateProvisioningTask(_)
            | K::EditProvisioningTask(_)
            | K::RemoveProvisioningTask(_)
            | K::ResendEnrollment(_)
    )
}
