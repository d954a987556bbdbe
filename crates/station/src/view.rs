//! Views for a window: records with names where a person reads names
//! (never an id where a name belongs), states as a stable `state` plus a
//! `state_label`, actions with the domain's reason when not allowed, and
//! times as RFC 3339 text. The desktop app shows these as they are; the
//! rules that fill them are the domain's, here, not the UI's.

use std::time::Duration;

use domain::{
    machines, CardAction, Certificate, Device, GlobalPermission, Permission, PersonId, ProfileId,
    ProfilePermission, Request, RequestCommand, UseCase,
};
use serde::Serialize;
use store::Hit;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::card::CardView;
use crate::error::Result;
use crate::job::JobView;
use crate::session::Session;

/// A person named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct PersonRef {
    /// Their id (for links).
    pub id: Uuid,
    /// "Given Family".
    pub name: String,
}

/// What the signed-in operator may reach: navigation shows only these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, specta::Type)]
pub struct Capabilities {
    /// UC-SEARCH.
    pub search: bool,
    /// UC-REQUEST (Can Request on some profile).
    pub request: bool,
    /// UC-APPROVE (Can Approve on some profile).
    pub approve: bool,
    /// UC-ISSUE (Can Collect on some profile).
    pub issue: bool,
    /// "Issue card" without a request.
    pub direct_issue: bool,
    /// UC-BATCH.
    pub batch: bool,
    /// UC-TEMP.
    pub temporary: bool,
    /// UC-UPDATE.
    pub update: bool,
    /// UC-PIN.
    pub pin: bool,
    /// UC-RETIRE.
    pub retire: bool,
    /// UC-AUDIT.
    pub audit: bool,
    /// UC-PROV: provisioning tasks (Manage provisioning tasks).
    pub provision: bool,
    /// Administration.
    pub admin: bool,
}

/// The signed-in operator, as the window shows them.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct SignedInView {
    /// The operator account.
    pub operator: Uuid,
    /// The name they signed in with.
    pub username: String,
    /// Their person's name.
    pub display_name: String,
    /// Signed in offline (the registry was unreachable).
    pub offline: bool,
    /// Permission titles, e.g. "Can Approve", "Unblock PIN".
    pub permissions: Vec<String>,
    /// What the window may offer.
    pub can: Capabilities,
    /// Enabled use cases (`UC-…` ids).
    pub use_cases: Vec<String>,
    /// Interrupted card jobs waiting here.
    pub open_jobs: u32,
    /// Idle time before the session locks.
    pub idle_lock_seconds: u32,
    /// Set at sign-in: this operator's queued actions the registry refused
    /// since they last saw them (shown once).
    pub refused: Vec<OutboxRow>,
}

/// An action on a record, allowed or with the reason it is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct ActionView {
    /// Stable name, e.g. `deactivate`.
    pub action: String,
    /// In words.
    pub label: String,
    /// Whether this operator may take it now.
    pub allowed: bool,
    /// Why not, in words.
    pub reason: Option<String>,
}

impl ActionView {
    /// `action`, allowed unless `check` gives the reason why not (in words, names resolved).
    pub(crate) fn of(action: &str, label: &str, check: std::result::Result<(), String>) -> ActionView {
        ActionView { action: action.into(), label: label.into(), allowed: check.is_ok(), reason: check.err() }
    }
}

/// A certificate as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct CertificateRow {
    /// Slot, e.g. "PIV Authentication (9A)".
    pub slot: String,
    /// Subject DN.
    pub subject: String,
    /// Serial, hex.
    pub serial: String,
    /// `valid`, `on_hold`, `revoked`…
    pub state: String,
    /// In words.
    pub state_label: String,
    /// End of validity.
    pub not_after: String,
}

/// A request as listed, with what this operator may do with it.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct RequestRow {
    /// Its id.
    pub id: Uuid,
    /// `issue`, `update`…
    pub kind: String,
    /// In words.
    pub kind_label: String,
    /// `pending_approval`, `approved`…
    pub state: String,
    /// In words.
    pub state_label: String,
    /// The recipient.
    pub person: Option<PersonRef>,
    /// Who asked.
    pub requester: PersonRef,
    /// Who decided.
    pub approver: Option<PersonRef>,
    /// The credential profile's name.
    pub profile_name: String,
    /// The card record, if any.
    pub device_id: Option<Uuid>,
    /// Created.
    pub created_at: String,
    /// Reason or notes.
    pub reason: Option<String>,
    /// Approve.
    pub can_approve: ActionView,
    /// Reject.
    pub can_reject: ActionView,
    /// Cancel.
    pub can_cancel: ActionView,
}

/// What the card in a reader is, for the device view.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeviceView {
    /// A card of this deployment.
    Ours {
        /// The reader.
        reader: String,
        /// Vendor serial.
        serial: Option<String>,
        /// The card record.
        device_id: Uuid,
        /// Card state.
        state: String,
        /// In words.
        state_label: String,
        /// The cardholder.
        holder: Option<PersonRef>,
        /// Its profile's name.
        profile_name: String,
        /// Certificates the registry issued for it.
        certificates: Vec<CertificateRow>,
        /// PIN tries left, where the card tells.
        pin_tries: Option<u8>,
        /// PUK tries left, where the card tells.
        puk_tries: Option<u8>,
        /// Approved updates waiting to be collected.
        pending_updates: u32,
        /// Requests still open for it.
        open_requests: Vec<RequestRow>,
        /// Actions now, with reasons for those not allowed.
        actions: Vec<ActionView>,
        /// Card work with the card present (update, collect, PIN), with
        /// reasons for what is not allowed (seed 000's rules among them).
        card_work: Vec<ActionView>,
        /// An interrupted job: resume or roll back.
        open_job: Option<JobRow>,
    },
    /// A temporary card of this deployment.
    Temporary {
        /// The reader.
        reader: String,
        /// Vendor serial.
        serial: Option<String>,
        /// The temporary card's record.
        device_id: Uuid,
        /// Its state.
        state: String,
        /// In words.
        state_label: String,
        /// Who holds it.
        holder: Option<PersonRef>,
        /// An interrupted initialization.
        open_job: Option<JobRow>,
    },
    /// Factory-fresh stock.
    Blank {
        /// The reader.
        reader: String,
        /// Vendor serial.
        serial: Option<String>,
        /// Approved requests this operator can issue on it.
        issuable: Vec<RequestRow>,
        /// A job interrupted on this very card before it carried our
        /// identity (pulled early): resume or roll back, not issue again.
        open_job: Option<JobRow>,
    },
    /// A PIV card from elsewhere.
    Foreign {
        /// The reader.
        reader: String,
        /// Vendor serial.
        serial: Option<String>,
    },
}

/// A card job as listed (interrupted jobs: resume or roll back).
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct JobRow {
    /// The job.
    pub id: Uuid,
    /// `issue`, `update`, `unblock`, `erase`, `init_temporary`…
    pub kind: String,
    /// In words.
    pub kind_label: String,
    /// `started`, `writing`, `done`, `failed`…
    pub state: String,
    /// The device.
    pub device: String,
    /// Card writes journaled as done.
    pub writes_done: u32,
    /// The write a tear interrupted, if any.
    pub interrupted: Option<String>,
    /// Why it last failed.
    pub last_error: Option<String>,
    /// Started.
    pub created_at: String,
}

impl From<JobView> for JobRow {
    fn from(j: JobView) -> Self {
        let kind = wire_name(&j.kind);
        JobRow {
            id: j.id,
            kind_label: label(&kind),
            kind,
            state: wire_name(&j.state),
            device: j.device,
            writes_done: count(j.writes_done),
            interrupted: j.interrupted,
            last_error: j.last_error,
            created_at: rfc3339(j.created_at),
        }
    }
}

/// One search result.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HitView {
    /// A person.
    Person {
        /// Id.
        id: Uuid,
        /// Name.
        name: String,
        /// Email.
        email: Option<String>,
        /// Employee id.
        employee_id: Option<String>,
        /// Their devices.
        devices: u32,
        /// Requests for them.
        requests: u32,
    },
    /// A device.
    Device {
        /// Id.
        id: Uuid,
        /// Serial.
        serial: Option<String>,
        /// State in words.
        state_label: String,
        /// Cardholder.
        holder: Option<PersonRef>,
        /// Profile name.
        profile_name: String,
    },
    /// A request.
    Request {
        /// Id.
        id: Uuid,
        /// Kind in words.
        kind_label: String,
        /// State in words.
        state_label: String,
        /// Recipient.
        person: Option<PersonRef>,
        /// Profile name.
        profile_name: String,
    },
}

/// Search results: the first `limit`, and whether there are more.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct SearchResults {
    /// The hits.
    pub hits: Vec<HitView>,
    /// More matched than shown ("200+").
    pub more: bool,
}

/// A person's record.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct PersonView {
    /// Who.
    pub person: PersonRef,
    /// Email.
    pub email: Option<String>,
    /// Employee id.
    pub employee_id: Option<String>,
    /// Status in words.
    pub status_label: String,
    /// Their devices.
    pub devices: Vec<HitView>,
    /// Requests for them.
    pub requests: Vec<RequestRow>,
    /// What was done for them, oldest first (needs View audit and the registry).
    pub history: Vec<HistoryRow>,
    /// Why `history` is empty although there may be some (no permission, offline).
    pub history_note: Option<String>,
}

/// One audit event in a record's history, with names.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct HistoryRow {
    /// When.
    pub at: String,
    /// What was done (`issue_card`, `approve_request`, …).
    pub action: String,
    /// In words.
    pub action_label: String,
    /// The operator, by name.
    pub actor: String,
    /// What it was done to, in words.
    pub subject: String,
    /// `success`, or the refusal or failure in words.
    pub outcome: String,
}

/// A credential profile to choose.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ProfileRow {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Latest version.
    pub version: u32,
    /// Requests need approval ("Validate Issuance").
    pub needs_approval: bool,
    /// A temporary-card profile.
    pub temporary: bool,
}

/// One queued or answered operation.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct OutboxRow {
    /// The operation.
    pub op_id: Uuid,
    /// What it does, in words.
    pub kind_label: String,
    /// When the operator acted.
    pub queued_at: String,
    /// `pending`, `accepted`, `rejected`.
    pub state: String,
    /// The registry's reason for a rejection.
    pub reason: Option<String>,
    /// Who made it, by name (none: queued before operators were recorded).
    pub operator: Option<String>,
    /// Made by the signed-in operator: sent in this session. Another
    /// operator's waits for theirs.
    pub yours: bool,
}

/// Where sync stands.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct SyncStatus {
    /// The last sync attempt reached the registry.
    pub online: bool,
    /// Last complete sync.
    pub last_sync: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Waiting to be sent.
    pub pending: Vec<OutboxRow>,
    /// Refused by the registry (rolled back here).
    pub rejected: Vec<OutboxRow>,
    /// Accepted lately, newest first (at most [`RECENT_ACCEPTED`]).
    pub accepted: Vec<OutboxRow>,
}

/// How many accepted operations the sync view lists.
pub const RECENT_ACCEPTED: usize = 20;

/// A finished card job, for the window: its PIN is not here but behind
/// `reveal`, for the one panel that shows it.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct IssuedView {
    /// The job.
    pub job: Uuid,
    /// The card record.
    pub device_id: Uuid,
    /// Its state in words.
    pub state_label: String,
    /// The cardholder.
    pub holder: Option<PersonRef>,
    /// Certificates on the card.
    pub certificates: Vec<CertificateRow>,
    /// Whether an interrupted job was finished.
    pub resumed: bool,
    /// Things the operator should know.
    pub warnings: Vec<String>,
    /// The new PIN's one reveal; `None` when no PIN was set.
    pub reveal: Option<crate::RevealTicket>,
}

/// "Approved" from `approved`, "Pending approval" from `pending_approval`.
pub fn label(name: &str) -> String {
    capitalised(&name.replace('_', " "))
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The serde name of a unit-like value (`snake_case` enums).
fn wire_name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(o)) => {
            o.values().find_map(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
        }
        _ => String::new(),
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Session {
    /// The signed-in operator as the window shows them.
    pub fn signed_in_view(&self, username: &str, idle_lock: Duration) -> SignedInView {
        let signed = self.signed_in();
        let actor = self.actor();
        let permissions = &signed.permissions;
        let global = |p: GlobalPermission| permissions.permits(Permission::global(p));
        let on_some = |p: ProfilePermission| permissions.permits_on_some_profile(p);
        let enabled = |u: UseCase| actor.require_use_case(u).is_ok();
        let mut titles: Vec<String> = ProfilePermission::ALL
            .iter()
            .filter(|p| on_some(**p))
            .map(|p| p.title().to_owned())
            .chain(GlobalPermission::ALL.iter().filter(|p| global(**p)).map(|p| p.title().to_owned()))
            .collect();
        titles.dedup();
        let can = Capabilities {
            search: enabled(UseCase::Search),
            request: enabled(UseCase::Request) && on_some(ProfilePermission::CanRequest),
            approve: enabled(UseCase::Approve) && on_some(ProfilePermission::CanApprove),
            issue: enabled(UseCase::Issue) && on_some(ProfilePermission::CanCollect),
            direct_issue: enabled(UseCase::DirectIssue) && on_some(ProfilePermission::CanCollect),
            batch: enabled(UseCase::Batch) && global(GlobalPermission::ManageBatches),
            temporary: enabled(UseCase::Temp) && global(GlobalPermission::ManageTemporaryCards),
            update: enabled(UseCase::Update)
                && (on_some(ProfilePermission::CanRequest) || on_some(ProfilePermission::CanCollect)),
            pin: enabled(UseCase::Pin),
            retire: enabled(UseCase::Retire),
            audit: global(GlobalPermission::ViewAudit),
            provision: enabled(UseCase::Prov) && global(GlobalPermission::ManageProvisioningTasks),
            admin: global(GlobalPermission::Administer),
        };
        SignedInView {
            operator: signed.operator.uuid(),
            username: username.to_owned(),
            display_name: self
                .person(signed.person)
                .map(|p| p.display_name())
                .unwrap_or_else(|_| username.into()),
            offline: self.is_offline(),
            permissions: titles,
            can,
            use_cases: signed.use_cases.iter().map(|u| u.to_string()).collect(),
            open_jobs: count(signed.open_jobs),
            idle_lock_seconds: u32::try_from(idle_lock.as_secs()).unwrap_or(u32::MAX),
            refused: Vec::new(),
        }
    }

    /// A refusal in words, with the profile a permission is about named
    /// (the domain's own text names it by id).
    pub fn explain(&self, refusal: &domain::Refusal) -> String {
        match refusal {
            domain::Refusal::NotPermitted { permission: Permission::Profile { permission, profile } } => {
                format!(
                    "you do not have the permission {} on the credential profile {}",
                    permission.title(),
                    self.profile_name(*profile)
                )
            }
            other => other.to_string(),
        }
    }

    /// A card action as offered, with its reason when not allowed.
    fn action_view(&self, a: &CardAction) -> ActionView {
        let check = match &a.refusal {
            Some(r) => Err(self.explain(r)),
            None => Ok(()),
        };
        ActionView::of(a.command.name(), &capitalised(&a.command.to_string()), check)
    }

    /// A person named (an unknown id says so rather than showing itself).
    pub fn person_ref(&self, id: PersonId) -> PersonRef {
        let name = self.person(id).map(|p| p.display_name()).unwrap_or_else(|_| "unknown person".into());
        PersonRef { id: id.uuid(), name }
    }

    fn profile_name(&self, id: ProfileId) -> String {
        self.profile(id).map(|p| p.settings.name).unwrap_or_else(|_| "unknown profile".into())
    }

    /// A request as listed, with what this operator may do with it now.
    pub fn request_row(&self, request: &Request) -> RequestRow {
        let (actor, now) = (self.actor(), OffsetDateTime::now_utc());
        let check = |command: RequestCommand| {
            machines::request::apply(request, &command, &actor, now).map(|_| ()).map_err(|r| self.explain(&r))
        };
        RequestRow {
            id: request.id.uuid(),
            kind: wire_name(&request.kind),
            kind_label: label(&wire_name(&request.kind)),
            state: request.state.name().into(),
            state_label: label(request.state.name()),
            person: request.person.map(|p| self.person_ref(p)),
            requester: self.person_ref(request.requester),
            approver: request.approver.map(|p| self.person_ref(p)),
            profile_name: self.profile_name(request.profile),
            device_id: request.device.map(|d| d.uuid()),
            created_at: rfc3339(request.created_at),
            reason: request.reason.clone().or_else(|| request.notes.clone()),
            can_approve: ActionView::of("approve", "Approve", check(RequestCommand::Approve)),
            can_reject: ActionView::of("reject", "Reject", check(RequestCommand::Reject)),
            can_cancel: ActionView::of("cancel", "Cancel", check(RequestCommand::Cancel)),
        }
    }

    /// Requests in `state` (all when `None`), as listed.
    pub fn request_rows(&self, state: Option<domain::RequestState>, limit: usize) -> Result<Vec<RequestRow>> {
        Ok(self.requests(state, limit)?.iter().map(|v| self.request_row(&v.request)).collect())
    }

    /// The card in `reader` for the device view (UC-READ).
    pub fn device_view(&self, reader: &str) -> Result<DeviceView> {
        Ok(match self.read_card(reader)? {
            CardView::Ours {
                card,
                device,
                owner,
                profile,
                certificates,
                open_requests,
                actions,
                pending_updates,
                open_job,
                info,
            } => DeviceView::Ours {
                reader: card.reader,
                serial: card.serial,
                device_id: device.id.uuid(),
                state: device.state.name().into(),
                state_label: label(device.state.name()),
                holder: owner.map(|p| PersonRef { id: p.id.uuid(), name: p.display_name() }),
                profile_name: profile
                    .map(|p| p.settings.name)
                    .unwrap_or_else(|| self.profile_name(device.profile.id)),
                certificates: certificates.iter().map(certificate_row).collect(),
                pin_tries: info.pin_retries.map(|r| r.remaining).or(match info.pin {
                    piv::PinStatus::Tries(n) => Some(n),
                    piv::PinStatus::Blocked => Some(0),
                    piv::PinStatus::Verified => None,
                }),
                puk_tries: info.puk_retries.map(|r| r.remaining),
                pending_updates: count(pending_updates.len()),
                card_work: self.card_work(&device, pending_updates.len()),
                open_requests: open_requests.iter().map(|r| self.request_row(r)).collect(),
                actions: actions.iter().map(|a| self.action_view(a)).collect(),
                open_job: open_job.and_then(|j| self.job_row(j)),
            },
            CardView::Temporary { card, temporary, holder, open_job, .. } => DeviceView::Temporary {
                reader: card.reader,
                serial: card.serial,
                device_id: temporary.id.uuid(),
                state: temporary.state.name().into(),
                state_label: label(temporary.state.name()),
                holder: holder.map(|p| PersonRef { id: p.id.uuid(), name: p.display_name() }),
                open_job: open_job.and_then(|j| self.job_row(j)),
            },
            CardView::Blank { card, .. } => {
                let open_job = self
                    .jobs(false)?
                    .into_iter()
                    .find(|j| j.card.as_ref().is_some_and(|started| card.same_card(started)))
                    .map(JobRow::from);
                let approved = self.request_rows(Some(domain::RequestState::Approved), 200)?;
                DeviceView::Blank { reader: card.reader, serial: card.serial, issuable: approved, open_job }
            }
            CardView::Foreign { card, .. } => {
                DeviceView::Foreign { reader: card.reader, serial: card.serial }
            }
        })
    }

    fn job_row(&self, id: Uuid) -> Option<JobRow> {
        self.jobs(true).ok()?.into_iter().find(|j| j.id == id).map(JobRow::from)
    }

    /// Card jobs (`all`: finished ones too), as listed.
    pub fn job_rows(&self, all: bool) -> Result<Vec<JobRow>> {
        Ok(self.jobs(all)?.into_iter().map(JobRow::from).collect())
    }

    /// UC-SEARCH for a window: the first `limit` hits, named.
    pub fn search_view(&self, query: &str, limit: usize) -> Result<SearchResults> {
        let hits = self.search(query, limit + 1)?;
        let more = hits.len() > limit;
        let hits = hits.into_iter().take(limit).map(|h| self.hit_view(h)).collect();
        Ok(SearchResults { hits, more })
    }

    fn hit_view(&self, hit: Hit) -> HitView {
        match hit {
            Hit::Person { person, devices, requests } => HitView::Person {
                id: person.id.uuid(),
                name: person.display_name(),
                email: person.email,
                employee_id: person.employee_id,
                devices: count(devices.len()),
                requests: count(requests.len()),
            },
            Hit::Device { device, .. } => self.device_hit(&device),
            Hit::Request { request } => HitView::Request {
                id: request.id.uuid(),
                kind_label: label(&wire_name(&request.kind)),
                state_label: label(request.state.name()),
                person: request.person.map(|p| self.person_ref(p)),
                profile_name: self.profile_name(request.profile),
            },
        }
    }

    fn device_hit(&self, device: &Device) -> HitView {
        HitView::Device {
            id: device.id.uuid(),
            serial: device.serial.clone(),
            state_label: label(device.state.name()),
            holder: device.owner.map(|p| self.person_ref(p)),
            profile_name: self.profile_name(device.profile.id),
        }
    }

    /// A person's record with their devices and requests.
    pub fn person_view(&self, id: PersonId) -> Result<PersonView> {
        let person = self.person(id)?;
        let devices = self.store.devices_of(id)?.iter().map(|d| self.device_hit(d)).collect();
        let requests = self.store.requests_for_person(id)?.iter().map(|r| self.request_row(r)).collect();
        let filter = crate::AuditFilter { person: Some(id.to_string()), ..Default::default() };
        let (history, history_note) = match self.audit(&filter) {
            Ok(rows) => (rows.into_iter().map(history_row).collect(), None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        Ok(PersonView {
            history,
            history_note,
            person: PersonRef { id: id.uuid(), name: person.display_name() },
            status_label: label(&wire_name(&person.status)),
            email: person.email,
            employee_id: person.employee_id,
            devices,
            requests,
        })
    }

    /// The credential profiles (latest versions), by name.
    pub fn profile_rows(&self) -> Result<Vec<ProfileRow>> {
        let versions = self.store.profile_versions()?;
        let mut rows: Vec<ProfileRow> = versions
            .chunk_by(|a, b| a.id == b.id)
            .filter_map(|all| all.first())
            .map(|p| ProfileRow {
                id: p.id.uuid(),
                version: p.version,
                needs_approval: p.settings.validate_issuance,
                temporary: p.settings.is_temporary,
                name: p.settings.name.clone(),
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rows)
    }

    /// A finished job for the window; its PIN goes to `reveals`, never into the view.
    pub fn issued_view(&self, issued: &crate::Issued, reveals: &crate::Reveals) -> IssuedView {
        let certificates = self.certificates_of(issued.device.id).unwrap_or_default();
        let on_card: Vec<CertificateRow> = certificates
            .iter()
            .filter(|c| issued.certificates.iter().any(|i| i.id == c.id))
            .map(certificate_row)
            .collect();
        IssuedView {
            job: issued.job,
            device_id: issued.device.id.uuid(),
            state_label: label(issued.device.state.name()),
            holder: issued.device.owner.map(|p| self.person_ref(p)),
            certificates: on_card,
            resumed: issued.resumed,
            warnings: issued.warnings.clone(),
            reveal: issued.pin.as_ref().map(|pin| reveals.keep(pin, None)),
        }
    }

    /// Where sync stands, with every queued and refused operation.
    pub fn sync_status(&self) -> Result<SyncStatus> {
        let state = self.store.sync_state()?;
        let (mut pending, mut rejected, mut accepted) = (Vec::new(), Vec::new(), Vec::new());
        for entry in self.store.operations()? {
            match &entry.state {
                store::OpState::Pending => pending.push(self.outbox_row(&entry, "pending", None)),
                store::OpState::Accepted { .. } => accepted.push(entry),
                store::OpState::Rejected { reason, .. } => {
                    rejected.push(self.outbox_row(&entry, "rejected", Some(reason.clone())));
                }
            }
        }
        let accepted = accepted
            .iter()
            .rev()
            .take(RECENT_ACCEPTED)
            .map(|e| self.outbox_row(e, "accepted", None))
            .collect();
        Ok(SyncStatus {
            online: !self.is_offline() && state.last_error.is_none(),
            last_sync: state.last_sync_at.map(rfc3339),
            last_error: state.last_error,
            pending,
            rejected,
            accepted,
        })
    }
}

impl Session {
    fn outbox_row(&self, entry: &store::OutboxEntry, state: &str, reason: Option<String>) -> OutboxRow {
        let operator = entry.operator.map(domain::OperatorId::new);
        OutboxRow {
            op_id: entry.op_id,
            kind_label: label(&entry.kind),
            queued_at: rfc3339(entry.created_at),
            state: state.into(),
            reason,
            operator: operator.map(|o| self.operator_display(o)),
            yours: operator.is_none_or(|o| o == self.grant.operator),
        }
    }

    /// The signed-in operator's refused operations not shown to them yet
    /// (refused while they were away, or in a sync whose answer was lost to
    /// them); from now on they count as shown.
    pub fn take_refusals(&mut self) -> Result<Vec<OutboxRow>> {
        let entries = self.store.unseen_rejections(self.grant.operator.uuid())?;
        let rows: Vec<OutboxRow> = entries
            .iter()
            .map(|e| {
                let reason = match &e.state {
                    store::OpState::Rejected { reason, .. } => Some(reason.clone()),
                    _ => None,
                };
                self.outbox_row(e, "rejected", reason)
            })
            .collect();
        let ids: Vec<Uuid> = entries.iter().map(|e| e.op_id).collect();
        self.store.mark_seen(&ids, time::OffsetDateTime::now_utc())?;
        Ok(rows)
    }
}

fn history_row(row: crate::AuditRow) -> HistoryRow {
    HistoryRow {
        at: rfc3339(row.at),
        action_label: label(&row.action.replace('.', " ")),
        action: row.action,
        actor: if row.operator.is_empty() { "the registry".into() } else { row.operator },
        subject: row.object,
        outcome: row.outcome,
    }
}

fn certificate_row(c: &Certificate) -> CertificateRow {
    CertificateRow {
        slot: c.slot.to_string(),
        subject: c.subject.clone(),
        serial: c.serial.clone(),
        state: c.state.name().into(),
        state_label: label(c.state.name()),
        not_after: rfc3339(c.not_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_words() {
        assert_eq!(label("pending_approval"), "Pending approval");
        assert_eq!(label("active"), "Active");
        assert_eq!(wire_name(&domain::RequestKind::Reprovision), "reprovision");
    }
}
