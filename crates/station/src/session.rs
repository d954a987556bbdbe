//! A signed-in operator at the station (UC-SIGNIN) and the record use
//! cases: UC-SEARCH, UC-REQUEST, UC-APPROVE.

use std::path::PathBuf;

use domain::{
    machines, Actor, CredentialProfile, Device, DeviceId, Permission, Person, PersonId, PersonStatus,
    ProfileId, Request, RequestCommand, RequestId,
};
use proto::{
    ApproveRequest, CancelRequest, CreatePerson, Login, OperationKind, Password, RejectRequest, RequestCard,
    SessionGrant,
};
use serde::Serialize;
use store::{Hit, Local, OpState, Store};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::remote::Remote;
use crate::{runtime, Enrollment, Station, REGISTRY_TIMEOUT};

/// Who is signed in, as shown after sign-in.
#[derive(Debug, Clone, Serialize)]
pub struct SignedIn {
    /// The operator account.
    pub operator: domain::OperatorId,
    /// The person behind it.
    pub person: PersonId,
    /// The session's end.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Effective permissions.
    pub permissions: domain::Permissions,
    /// Enabled use cases (SPEC ids).
    pub use_cases: Vec<domain::UseCase>,
    /// Interrupted card jobs found at start: resume or roll them back (`jobs`).
    pub open_jobs: usize,
}

/// A person to register.
#[derive(Debug, Clone)]
pub struct NewPerson {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Email.
    pub email: Option<String>,
    /// Employee id.
    pub employee_id: Option<String>,
}

/// A request as the registry has it now, with its card.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    /// The request.
    pub request: Request,
    /// Its card record, if it has one.
    pub device: Option<Device>,
}

/// What an approver does with a request (UC-APPROVE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Approve: the card can be issued.
    Approve,
    /// Reject (final).
    Reject,
    /// Cancel (the requester aborts; others cancel).
    Cancel,
}

/// A signed-in operator at an enrolled station.
#[derive(Debug)]
pub struct Session {
    pub(crate) data_dir: PathBuf,
    pub(crate) enrollment: Enrollment,
    pub(crate) store: Store,
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) client: sync::RegistryClient,
    pub(crate) remote: Remote,
    pub(crate) engine: sync::Engine,
    pub(crate) grant: SessionGrant,
    /// Signed in offline against the cached verifier (`offline`): local work only.
    pub(crate) offline: bool,
    /// What the sign-in's own sync pushed and pulled (a command reports it
    /// with its own: `sync` says everything its run sent).
    pub(crate) sign_in_report: sync::SyncReport,
    /// The PIN the cardholder chose at a walk-up kiosk, for the card job
    /// running now; `None`: a job sets a random PIN shown once. Cleared
    /// (and zeroized) when the walk-up job ends.
    pub(crate) chosen_pin: Option<piv::Pin>,
}

impl Session {
    pub(crate) fn sign_in(station: Station, username: &str, password: &str) -> Result<Session> {
        let Station { data_dir, enrollment, store } = station;
        let pin = enrollment.pin()?;
        let client = sync::RegistryClient::new(&enrollment.registry_url, pin, REGISTRY_TIMEOUT)?;
        let remote = Remote::new(&enrollment.registry_url, pin, REGISTRY_TIMEOUT)?;
        let runtime = runtime()?;
        let login = Login {
            username: username.to_owned(),
            password: Password::new(password),
            workstation: Some(enrollment.workstation_id()),
            workstation_key: Some(Enrollment::workstation_key(&data_dir)?),
        };
        let grant = runtime.block_on(client.login(&login)).map_err(|e| match e {
            sync::Error::Unauthorized(m) | sync::Error::Status { message: m, .. } => Error::SignIn(m),
            other => other.into(),
        })?;
        let engine = sync::Engine::new(
            client.clone(),
            grant.token.clone(),
            Some(grant.operator),
            Some(enrollment.workstation_id()),
        );
        let mut session = Session {
            data_dir,
            enrollment,
            store,
            runtime,
            client,
            remote,
            engine,
            grant,
            offline: false,
            sign_in_report: sync::SyncReport::default(),
            chosen_pin: None,
        };
        session.sign_in_report = session.sync()?;
        Ok(session)
    }

    /// What the sign-in's own sync did.
    pub fn sign_in_report(&self) -> &sync::SyncReport {
        &self.sign_in_report
    }

    /// Whether this session was opened offline (cached verifier): the
    /// registry is not reachable; actions are queued, issuance is refused.
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// Who is signed in.
    pub fn signed_in(&self) -> SignedIn {
        SignedIn {
            operator: self.grant.operator,
            person: self.grant.person,
            expires_at: self.grant.expires_at,
            permissions: self.grant.permissions.clone(),
            use_cases: self.grant.use_cases.enabled().collect(),
            open_jobs: self.store.open_jobs().map(|j| j.len()).unwrap_or(0),
        }
    }

    /// The actor the station's own checks decide for (the registry decides again).
    pub fn actor(&self) -> Actor {
        Actor::operator(
            self.grant.operator,
            self.grant.person,
            self.grant.permissions.clone(),
            self.grant.use_cases.clone(),
        )
        .at_workstation(self.enrollment.workstation_id())
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The local store (read access for views).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Pushes what is pending and pulls what changed (UC-SYNC).
    pub fn sync(&mut self) -> Result<sync::SyncReport> {
        self.sync_as(crate::host_time::Activity::Sync)
    }

    /// [`Session::sync`], its time tallied as `activity`.
    pub(crate) fn sync_as(&mut self, activity: crate::host_time::Activity) -> Result<sync::SyncReport> {
        if self.offline {
            return Err(Error::Offline(
                "signed in offline (the registry was unreachable at sign-in); sign in again once it is back"
                    .into(),
            ));
        }
        if !self.replicates() {
            // A walk-up kiosk is refused the feed: it only sends its operations.
            return self.push();
        }
        let now = OffsetDateTime::now_utc();
        let synced = crate::host_time::timed(activity, || {
            self.runtime.block_on(self.engine.sync_once(&mut self.store, now))
        });
        Ok(synced?)
    }

    /// The PIN a card job sets: the cardholder's choice at a walk-up kiosk,
    /// or a new random one of `length` digits.
    pub(crate) fn job_pin(&self, length: usize) -> Result<piv::Pin> {
        match &self.chosen_pin {
            Some(pin) => Ok(pin.clone()),
            None => Ok(piv::Pin::random(length, &mut rand::rngs::OsRng)?),
        }
    }

    /// Keeps the records of an accepted operation's answer in the replica.
    fn keep_answer(&mut self, result: Option<&serde_json::Value>) -> Result<()> {
        let Some(result) = result else { return Ok(()) };
        let result: proto::OperationResult =
            serde_json::from_value(result.clone()).map_err(store::Error::from)?;
        self.keep_records(&result.records)
    }

    /// Records the registry answered with, kept in the replica outside the
    /// feed (a walk-up kiosk pulls none).
    pub(crate) fn keep_records(&mut self, records: &[proto::Record]) -> Result<()> {
        let changes = records.iter().map(sync::plan::remote_change).collect::<sync::Result<Vec<_>>>()?;
        self.store.keep_remote(&changes)?;
        Ok(())
    }

    /// Whether this session keeps the replica current: every operator's
    /// does; a walk-up kiosk's holds only what its own jobs need.
    pub(crate) fn replicates(&self) -> bool {
        !self.grant.permissions.is_kiosk_only()
    }

    /// Sends the outbox, without pulling the feed (a batch card's recording).
    fn push(&mut self) -> Result<sync::SyncReport> {
        if self.offline {
            return self.sync();
        }
        let now = OffsetDateTime::now_utc();
        let pushed = crate::host_time::timed(crate::host_time::Activity::Recording, || {
            self.runtime.block_on(self.engine.push_once(&mut self.store, now))
        });
        Ok(pushed?)
    }

    /// Records one operator action: the local effect and its operation in
    /// one transaction, then a sync. Returns the registry's result, or its
    /// rejection (the local effect is rolled back).
    pub(crate) fn submit(
        &mut self,
        op: OperationKind,
        local: impl FnOnce(&mut Local<'_>) -> Result<()>,
    ) -> Result<Option<serde_json::Value>> {
        self.submit_then(op, local, true)
    }

    /// [`Session::submit`] that only pushes: the replica catches up with
    /// the feed at the next sync (a batch worker's, between two cards).
    pub(crate) fn submit_pushed(&mut self, op: OperationKind) -> Result<Option<serde_json::Value>> {
        self.submit_then(op, |_| Ok(()), false)
    }

    fn submit_then(
        &mut self,
        op: OperationKind,
        local: impl FnOnce(&mut Local<'_>) -> Result<()>,
        pull: bool,
    ) -> Result<Option<serde_json::Value>> {
        let op_id = Uuid::now_v7();
        let entry = sync::outbox_entry(&op, op_id, OffsetDateTime::now_utc(), Some(self.grant.operator))
            .map_err(store::Error::from)?;
        let activity =
            if pull { crate::host_time::Activity::Outbox } else { crate::host_time::Activity::Recording };
        crate::host_time::timed(activity, || self.store.act(entry, local))?;
        let synced = if pull { self.sync() } else { self.push() };
        let state = self.store.operation(op_id)?.map(|e| e.state);
        match state {
            Some(OpState::Accepted { result, .. }) => {
                if !self.replicates() {
                    // No feed brings the change back: the answer's records are the replica's.
                    self.keep_answer(result.as_ref())?;
                }
                Ok(result)
            }
            Some(OpState::Rejected { code, reason, .. }) => Err(Error::Rejected { code, message: reason }),
            _ => Err(match synced {
                Err(_) => Error::Queued("queued, will be sent when the registry is reachable".into()),
                Ok(_) => Error::Queued(
                    "sent, but the registry has not answered it yet: queued, will be sent again when it is reachable"
                        .into(),
                ),
            }),
        }
    }

    /// A person from the replica.
    pub fn person(&self, id: PersonId) -> Result<Person> {
        self.store.get::<Person>(&id.to_string())?.ok_or_else(|| Error::NotFound(format!("no person {id}")))
    }

    /// A device from the replica.
    pub fn device(&self, id: DeviceId) -> Result<Device> {
        self.store.get::<Device>(&id.to_string())?.ok_or_else(|| Error::NotFound(format!("no device {id}")))
    }

    /// A request from the replica.
    pub fn request(&self, id: RequestId) -> Result<Request> {
        self.store.get::<Request>(&id.to_string())?.ok_or_else(|| Error::NotFound(format!("no request {id}")))
    }

    /// The latest version of a credential profile.
    pub fn profile(&self, id: ProfileId) -> Result<CredentialProfile> {
        self.store.latest_profile(id)?.ok_or_else(|| Error::NotFound(format!("no credential profile {id}")))
    }

    /// One version of a credential profile.
    pub fn profile_version(&self, id: ProfileId, version: u32) -> Result<CredentialProfile> {
        self.store
            .get::<CredentialProfile>(&format!("{id}/{version}"))?
            .ok_or_else(|| Error::NotFound(format!("no credential profile {id} version {version}")))
    }

    /// UC-SEARCH: people, devices and requests by name, serial, email, state…
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>> {
        Ok(self.store.search(query, limit)?)
    }

    /// Requests in `state` (all when `None`), oldest first, with their
    /// cards: the approver's queue (`pending_approval`) and the issuer's
    /// (`approved`), UC-APPROVE / UC-ISSUE.
    pub fn requests(&self, state: Option<domain::RequestState>, limit: usize) -> Result<Vec<RequestView>> {
        let state = state.map(|s| serde_json::to_value(s).map_err(store::Error::from)).transpose()?;
        let state = state.as_ref().and_then(|v| v.as_str().map(str::to_owned));
        let docs: Vec<String> = self
            .store
            .connection()
            .prepare("SELECT doc FROM requests WHERE (?1 IS NULL OR state = ?1) ORDER BY created_at LIMIT ?2")
            .and_then(|mut stmt| {
                stmt.query_map(rusqlite::params![state, i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    r.get(0)
                })?
                .collect::<rusqlite::Result<Vec<String>>>()
            })
            .map_err(store::Error::from)?;
        let mut out = Vec::new();
        for doc in docs {
            let request: Request = serde_json::from_str(&doc).map_err(store::Error::from)?;
            let device = match request.device {
                Some(d) => self.store.get::<Device>(&d.to_string())?,
                None => None,
            };
            out.push(RequestView { request, device });
        }
        Ok(out)
    }

    /// Registers a person (administrators).
    pub fn create_person(&mut self, new: NewPerson) -> Result<Person> {
        let actor = self.actor();
        actor.require(Permission::global(domain::GlobalPermission::Administer))?;
        if let Some(email) = &new.email {
            domain::rules::check_email(email)?;
        }
        let person = Person {
            id: PersonId::new(Uuid::now_v7()),
            given_name: new.given_name,
            family_name: new.family_name,
            email: new.email,
            employee_id: new.employee_id,
            photo: None,
            status: PersonStatus::Active,
        };
        let op = OperationKind::CreatePerson(CreatePerson::of(&person));
        self.submit(op, |tx| Ok(tx.put(&person)?))?;
        self.person(person.id)
    }

    /// UC-REQUEST (seed 002): requests a card for `person` with `profile`.
    /// With an approval step (the profile's Validate Issuance or the
    /// deployment's option) the card is `requested`; without, `approved`.
    pub fn request_card(
        &mut self,
        person: PersonId,
        profile: ProfileId,
        reason: Option<String>,
        notes: Option<String>,
    ) -> Result<RequestView> {
        let actor = self.actor();
        let profile = self.profile(profile)?;
        // The station explains what it can; the registry also knows the
        // deployment's approval option and decides.
        domain::rules::plan_card_request(&profile, person, &actor, false)?;
        let holder = self.person(person)?;
        // A retry after "queued" must not make a second request: the first
        // is still here, waiting to be sent.
        if let Some(queued_at) = self.queued_card_request(person, profile.id)? {
            return Err(Error::Queued(format!(
                "a request for {} with {} is already queued here (since {queued_at}): it will be sent when the \
                 registry is reachable; it was not queued twice",
                holder.display_name(),
                profile.settings.name
            )));
        }
        let (request, device) = (RequestId::new(Uuid::now_v7()), DeviceId::new(Uuid::now_v7()));
        let op = OperationKind::RequestCard(RequestCard {
            request,
            device,
            person,
            profile: profile.id,
            reason,
            notes,
            route: None,
        });
        let answer = self.submit(op, |_| Ok(()))?;
        self.request_view_answered(request, answer.as_ref())
    }

    /// When this operator's unsent card request for `person` and `profile`
    /// was made, if there is one.
    fn queued_card_request(&self, person: PersonId, profile: ProfileId) -> Result<Option<String>> {
        for entry in self.store.pending_of(self.grant.operator.uuid(), usize::MAX)? {
            if let Ok(OperationKind::RequestCard(r)) = serde_json::from_value::<OperationKind>(entry.payload)
            {
                if r.person == person && r.profile == profile {
                    let when = entry.created_at.format(&time::format_description::well_known::Rfc3339);
                    return Ok(Some(when.unwrap_or_else(|_| entry.created_at.to_string())));
                }
            }
        }
        Ok(None)
    }

    /// The request and its card as the registry answered them (the answer
    /// is the outcome: the pull that follows may not have arrived), else as
    /// the replica has them.
    pub(crate) fn request_view_answered(
        &self,
        id: RequestId,
        answer: Option<&serde_json::Value>,
    ) -> Result<RequestView> {
        let records = answer
            .and_then(|a| serde_json::from_value::<proto::OperationResult>(a.clone()).ok())
            .map(|r| r.records)
            .unwrap_or_default();
        let answered = records.iter().find_map(|r| match r {
            proto::Record::Request(request) if request.id == id => Some(request.clone()),
            _ => None,
        });
        let Some(request) = answered else { return self.request_view(id) };
        let device = match request.device {
            Some(d) => match records.iter().find_map(|r| match r {
                proto::Record::Device(device) if device.id == d => Some(device.clone()),
                _ => None,
            }) {
                Some(device) => Some(device),
                None => self.store.get::<Device>(&d.to_string())?,
            },
            None => None,
        };
        Ok(RequestView { request, device })
    }

    /// The request and its card, as the replica has them.
    pub fn request_view(&self, id: RequestId) -> Result<RequestView> {
        let request = self.request(id)?;
        let device = match request.device {
            Some(d) => self.store.get::<Device>(&d.to_string())?,
            None => None,
        };
        Ok(RequestView { request, device })
    }

    /// UC-APPROVE: approve, reject or cancel a request, with notes. An
    /// approver is neither the requester nor the recipient.
    pub fn decide(
        &mut self,
        id: RequestId,
        decision: Decision,
        notes: Option<String>,
    ) -> Result<RequestView> {
        let request = self.request(id)?;
        let command = match decision {
            Decision::Approve => RequestCommand::Approve,
            Decision::Reject => RequestCommand::Reject,
            Decision::Cancel => RequestCommand::Cancel,
        };
        machines::request::apply(&request, &command, &self.actor(), OffsetDateTime::now_utc())?;
        let op = match decision {
            Decision::Approve => OperationKind::ApproveRequest(ApproveRequest { request: id, notes }),
            Decision::Reject => OperationKind::RejectRequest(RejectRequest { request: id, notes }),
            Decision::Cancel => OperationKind::CancelRequest(CancelRequest { request: id, notes }),
        };
        let answer = self.submit(op, |_| Ok(()))?;
        self.request_view_answered(id, answer.as_ref())
    }

    /// Pushes operations straight to the registry without the outbox (for
    /// operations carrying secrets, which must not be written to disk).
    pub(crate) fn push_direct(&mut self, ops: Vec<OperationKind>) -> Result<()> {
        let push = self.push_later(ops);
        crate::host_time::timed(crate::host_time::Activity::EscrowPush, || push.wait(self.runtime.handle()))
    }

    /// [`Session::push_direct`] started on the session's runtime; the
    /// answer is waited for with [`PushLater::wait`].
    pub(crate) fn push_later(&mut self, ops: Vec<OperationKind>) -> PushLater {
        let operations = ops
            .into_iter()
            .map(|op| proto::Operation {
                op_id: Uuid::now_v7(),
                actor: Some(self.grant.operator),
                workstation: Some(self.enrollment.workstation_id()),
                created_at: OffsetDateTime::now_utc(),
                op,
            })
            .collect();
        let batch = proto::OperationBatch { operations };
        let (client, token) = (self.client.clone(), self.grant.token.clone());
        PushLater(self.runtime.spawn(async move { client.push(&token, &batch).await }))
    }
}

/// Operations sent straight to the registry (not through the outbox: they
/// carry secrets), answer pending.
pub(crate) struct PushLater(tokio::task::JoinHandle<sync::Result<proto::AnswerBatch>>);

impl PushLater {
    /// The registry's answer: every operation accepted, or the first refusal.
    pub(crate) fn wait(self, runtime: &tokio::runtime::Handle) -> Result<()> {
        self.records(runtime).map(|_| ())
    }

    /// [`PushLater::wait`], with the records the accepted operations changed.
    pub(crate) fn records(self, runtime: &tokio::runtime::Handle) -> Result<Vec<proto::Record>> {
        let answers = runtime
            .block_on(self.0)
            .map_err(|e| Error::Invalid(format!("sending to the registry stopped: {e}")))??;
        let mut records = Vec::new();
        for answer in answers.answers {
            match answer {
                proto::Answer::Rejected { code, message, .. } => {
                    return Err(Error::Rejected { code, message })
                }
                proto::Answer::Accepted { result, .. } => records.extend(result.records),
            }
        }
        Ok(records)
    }
}
