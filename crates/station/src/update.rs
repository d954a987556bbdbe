//! UC-UPDATE (seed 000): request an update for an issued device, and
//! *collect updates* with the card inserted, as a journaled, tear-safe job.
//!
//! * [`Session::request_update`] checks every rule of SPEC §5 UC-UPDATE here
//!   (`domain::rules::plan_update`, to explain) and the registry decides again:
//!   the same profile needs Can Collect, another Can Request; the profile fits
//!   the card; never one's own device; the notes go into the audit record;
//!   a new request cancels earlier ones of its type; approval only when
//!   switching to a profile with Validate Issuance.
//! * [`Session::collect_updates`] applies the approved request (reprovision
//!   first, then apply-latest; one request per job):
//!   - *apply latest updates*: the plan of the profile's latest version from
//!     the card as it is (slots whose certificate matches the key, subject
//!     and algorithm are kept; others are generated and certified by the
//!     registry CA); the card's management key and PUK stay; a new PIN is set
//!     with the escrowed PUK (SP 800-73-4 §3.2.3 RESET RETRY COUNTER).
//!   - *reprovision all content*: every slot re-keyed, a new management key
//!     and PUK escrowed before the first card write, a new PIN.
//!
//!   The registry then records the card (`RecordIssuance` for the update
//!   request): the device moves to the profile's latest version, the
//!   certificates the card no longer holds are revoked (superseded).
//!
//! Tear safety: the job row, then the previous management key and PUK
//! *wrapped* under the new (escrowed) key — so a card torn before it took the
//! new key can still be opened, while nothing usable without the registry's
//! escrow is on disk — then the escrow, then every card write journaled
//! before and after. Resume re-plans from the card as found, trying the
//! escrowed and the previous secrets in the order the journal makes likely.

use std::cell::RefCell;

use domain::{
    AnyState, CertificateId, Device, DeviceId, IssueRoute, Permission, ProfileId, ProfilePermission, Refusal,
    RequestId, RequestKind, RequestState, UseCase,
};
use piv::{CardInfo, KnownSecrets, ManagementKey, Personalizer, Pin, Puk, Secrets};
use proto::{CardFacts as WireCardFacts, OperationKind, RecordIssuance, RequestUpdate};
use serde::Serialize;
use store::{Job, JobKind, JobState, StepPhase};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

pub use crate::job::UpdateReason;

use crate::card::{with_card, CardFacts};
use crate::error::{Error, Result};
use crate::issue::{revoked_with, same_serial, Journal, Observer, Progress, RegistryIssuer};
use crate::job::{IssuedCertificateView, JobDetail, UpdateDetail};
use crate::previous_secrets::WrappedPrevious;
use crate::profile::card_profile;
use crate::session::{RequestView, Session};
use crate::Issued;

/// A collected update (UC-UPDATE "Collect updates").
#[derive(Debug, Serialize)]
pub struct Collected {
    /// The job.
    pub job: Uuid,
    /// The card record as the registry has it now (profile version, state).
    pub device: Device,
    /// The update or reprovision request completed.
    pub request: RequestId,
    /// Why.
    pub reason: UpdateReason,
    /// The new PIN: shown once, never stored (Debug redacts it).
    #[serde(skip)] // never serialized: the client that receives it is its one reveal
    pub pin: Option<Pin>,
    /// Certificates issued by this job and now on the card.
    pub certificates: Vec<IssuedCertificateView>,
    /// Certificates the card already held and keeps.
    pub kept: Vec<CertificateId>,
    /// Certificates revoked: replaced ones and any of the job's that reached no card.
    pub revoked: Vec<CertificateId>,
    /// Approved updates still to collect (collect again).
    pub remaining: Vec<RequestId>,
    /// Whether this finished an interrupted job.
    pub resumed: bool,
    /// Things the operator should know.
    pub warnings: Vec<String>,
}

impl From<Collected> for Issued {
    fn from(c: Collected) -> Issued {
        Issued {
            job: c.job,
            device: c.device,
            request: Some(c.request),
            pin: c.pin,
            certificates: c.certificates,
            revoked: c.revoked,
            resumed: c.resumed,
            warnings: c.warnings,
        }
    }
}

fn reason_of(kind: RequestKind) -> UpdateReason {
    if kind == RequestKind::Reprovision {
        UpdateReason::ReprovisionAllContent
    } else {
        UpdateReason::ApplyLatestUpdates
    }
}

fn parse_device(job: &Job) -> Result<DeviceId> {
    Uuid::parse_str(&job.device)
        .map(DeviceId::new)
        .map_err(|_| Error::Invalid(format!("job device {:?}", job.device)))
}

impl Session {
    /// UC-UPDATE "Request Update": asks to bring `device` to the latest
    /// version of `profile` (default: the profile it was issued with) or to
    /// reprovision it. Every rule is checked here first, with the message the
    /// domain gives; the registry decides.
    pub fn request_update(
        &mut self,
        device: DeviceId,
        profile: Option<ProfileId>,
        reason: UpdateReason,
        notes: Option<String>,
    ) -> Result<RequestView> {
        self.sync()?;
        let device = self.device(device)?;
        let target = self.profile(profile.unwrap_or(device.profile.id))?;
        let existing = self.store.requests_for_device(device.id)?;
        domain::rules::plan_update(&device, &target, reason, &self.actor(), &existing)?;
        let request = RequestId::new(Uuid::now_v7());
        let op = OperationKind::RequestUpdate(RequestUpdate {
            request,
            device: device.id,
            profile: target.id,
            reason,
            notes,
        });
        let answer = self.submit(op, |_| Ok(()))?;
        self.request_view_answered(request, answer.as_ref())
    }

    /// The approved update and reprovision requests of `device`, in the
    /// order "Collect updates" applies them (UC-READ shows them).
    pub fn pending_updates(&self, device: DeviceId) -> Result<Vec<RequestId>> {
        let requests = self.store.requests_for_device(device)?;
        Ok(domain::rules::updates_to_collect(device, &requests))
    }

    /// UC-UPDATE "Collect Updates": applies the device's approved update or
    /// reprovision request to its card in `reader` (the card says which
    /// device it is; `device`, if given, must match). An interrupted update
    /// job of the device is resumed instead.
    pub fn collect_updates(
        &mut self,
        device: Option<DeviceId>,
        reader: &str,
        progress: &mut dyn Progress,
    ) -> Result<Collected> {
        self.collect_on(IssueRoute::Single, device, reader, progress)
    }

    /// [`Session::collect_updates`] on `route`: an operator's (single) or a
    /// walk-up kiosk's for the cardholder it proved (see `crate::walkup_update`).
    pub(crate) fn collect_on(
        &mut self,
        route: IssueRoute,
        device: Option<DeviceId>,
        reader: &str,
        progress: &mut dyn Progress,
    ) -> Result<Collected> {
        self.sync()?;
        self.actor().require_use_case(UseCase::Update)?;
        let (facts, _) = crate::card::read(reader)?;
        let on_card = facts.device_id().filter(|d| self.device(*d).is_ok());
        let device_id = match (device, on_card) {
            (Some(d), Some(c)) if d != c => {
                return Err(Error::WrongCard(format!("the card in {reader} is device {c}, not {d}")))
            }
            (_, Some(c)) => c,
            (Some(d), None) => {
                return Err(Error::WrongCard(format!(
                    "the card in {reader} is not a card of this registry: insert the card of device {d}"
                )))
            }
            (None, None) => {
                return Err(Error::WrongCard(format!(
                    "the card in {reader} is not a card of this registry: nothing to collect"
                )))
            }
        };
        let device = self.device(device_id)?;
        let jobs = self.store.jobs_of_device(&device.id.to_string())?;
        if let Some(job) = jobs.iter().find(|j| j.state.is_open()) {
            if job.kind != JobKind::Update {
                return Err(Error::Invalid(format!(
                    "device {} has an interrupted {} job {}: resume or roll it back first",
                    device.id,
                    job.kind.name(),
                    job.id
                )));
            }
            progress.note(&crate::Notice::ResumingJob { job: job.id });
            return self.resume_update(job.clone(), reader, progress);
        }
        let requests = self.store.requests_for_device(device.id)?;
        let collectable = domain::rules::updates_to_collect(device.id, &requests);
        let Some(&request_id) = collectable.first() else {
            if let Some(r) = requests.iter().find(|r| {
                matches!(r.kind, RequestKind::Update | RequestKind::Reprovision)
                    && r.state == RequestState::PendingApproval
            }) {
                return Err(Refusal::StateNotAllowed {
                    from: AnyState::Request(r.state),
                    command: "collect_updates".into(),
                }
                .into());
            }
            return Err(Error::NotFound(format!(
                "device {} has no approved update or reprovision request to collect",
                device.id
            )));
        };
        let request = self.request(request_id)?;
        self.check_collect(&device, request.profile, route)?;
        let reason = reason_of(request.kind);
        let target = card_profile(&self.profile(request.profile)?);
        let current = card_profile(&self.profile_version(device.profile.id, device.profile.version)?);

        // The card's secrets, from escrow (the management key opens it; the
        // PUK sets the new PIN).
        let old_key = self.escrowed_key(device.id, current.management_key_algorithm)?;
        let old_puk = self.job_escrowed_puk(device.id)?;
        let mut rng = rand::rngs::OsRng;
        let pin = self.job_pin(usize::from(target.pin.length))?;
        let reprovision = reason == UpdateReason::ReprovisionAllContent;
        let rekey = reprovision || old_key.algorithm() != target.management_key_algorithm;
        let management_key = if rekey {
            ManagementKey::random(target.management_key_algorithm, &mut rng)
        } else {
            old_key.clone()
        };
        let puk = if reprovision {
            Puk::random(usize::from(target.puk.length), &mut rng)?
        } else {
            old_puk.clone()
        };
        let previous = (rekey || reprovision)
            .then(|| WrappedPrevious::wrap(device.id, &management_key, &old_key, &old_puk))
            .flatten();

        // 1. The job (with the previous secrets wrapped), before anything else.
        let now = OffsetDateTime::now_utc();
        let job_id = Uuid::now_v7();
        let detail = JobDetail {
            route,
            certificates: Vec::new(),
            update: Some(UpdateDetail { reason, profile: request.profile, previous: previous.clone() }),
            settings: None,
        };
        self.store.create_job(
            &Job::new(
                job_id,
                JobKind::Update,
                device.id.to_string(),
                JobState::Open,
                serde_json::to_value(&facts).map_err(store::Error::from)?,
                serde_json::to_value(&detail).map_err(store::Error::from)?,
                now,
            )
            .for_request(Some(request.id.to_string())),
        )?;
        // 2. New secrets escrowed before the first card write.
        let secrets = Secrets { pin, puk, management_key };
        if previous.is_some() {
            self.escrow(device.id, &secrets)?;
        }
        self.store.update_job(job_id, JobState::Escrowed, None, None, OffsetDateTime::now_utc())?;
        let (earlier_keys, earlier_puks) =
            self.rolled_back_secrets(device.id, std::slice::from_ref(&old_key))?;
        let mut known = KnownSecrets { management_keys: vec![old_key], puks: vec![old_puk] };
        known.management_keys.extend(earlier_keys);
        known.puks.extend(earlier_puks);
        // 3. The card.
        self.run_update(job_id, &device, request.id, reason, reader, &target, secrets, known, false, progress)
    }

    /// The operator may collect updates of `device` to `profile` now (a
    /// walk-up kiosk's cardholder was proved to the registry, which decides).
    fn check_collect(&self, device: &Device, profile: ProfileId, route: IssueRoute) -> Result<()> {
        let actor = self.actor();
        actor.require_use_case(UseCase::Update)?;
        if !device.state.is_issued() {
            return Err(Refusal::StateNotAllowed {
                from: AnyState::Card(device.state),
                command: "collect_updates".into(),
            }
            .into());
        }
        if route == IssueRoute::Walkup {
            return Ok(());
        }
        actor.require(Permission::on(ProfilePermission::CanCollect, profile))?;
        domain::rules::not_own_device(&actor, device.id, device.owner)?;
        Ok(())
    }

    /// Runs (or re-runs) the update plan of job `job_id` on the card, then
    /// records the card at the registry.
    #[allow(clippy::too_many_arguments)]
    fn run_update(
        &mut self,
        job_id: Uuid,
        device: &Device,
        request: RequestId,
        reason: UpdateReason,
        reader: &str,
        target: &piv::Profile,
        secrets: Secrets,
        known: KnownSecrets,
        resumed: bool,
        progress: &mut dyn Progress,
    ) -> Result<Collected> {
        let job = self.store.job(job_id)?.ok_or_else(|| Error::NotFound(format!("no job {job_id}")))?;
        let detail: JobDetail = serde_json::from_value(job.detail.clone()).map_err(store::Error::from)?;
        let mut options = self.plan_options_for(device)?;
        options.force_regenerate = reason == UpdateReason::ReprovisionAllContent;
        options.remove_other_certificates = true;
        options.keep_retry_counters = true;

        let route = detail.route;
        let Session { store, runtime, remote, grant, .. } = self;
        let journal = RefCell::new(Journal::new(store, job_id, detail, job.state == JobState::Writing));
        let outcome = with_card(reader, |atr, card| {
            let info = piv::read_info(card)?;
            let facts = CardFacts::of(reader, atr, &info);
            if facts.device_id() != Some(device.id) {
                return Err(Error::WrongCard(format!(
                    "job {job_id} updates device {} — insert that card",
                    device.id
                )));
            }
            let plan = piv::plan(target, &info, &options)?;
            let mut notes = Vec::new();
            if let (Some(pin), Some(puk)) = (info.pin_retries, info.puk_retries) {
                if pin.total != target.pin.retries || puk.total != target.puk.retries {
                    notes.push(format!(
                        "the card keeps its retry counters (PIN {}, PUK {}); the profile asks for PIN {}, PUK {}: erase and issue the card to change them",
                        pin.total, puk.total, target.pin.retries, target.puk.retries
                    ));
                }
            }
            let issuer = RegistryIssuer {
                runtime,
                remote,
                token: &grant.token,
                device: device.id,
                route,
                journal: &journal,
                challenges: Default::default(),
                issuing: Default::default(),
            };
            let mut observer = Observer { journal: &journal, progress: &mut *progress };
            let outcome = Personalizer::run_known(card, &plan, &secrets, &known, &issuer, &mut observer)?;
            let after: CardInfo = piv::read_info(card)?;
            let mut outcome = outcome;
            outcome.warnings.extend(notes);
            Ok((outcome, after, facts))
        });
        let detail = journal.into_inner().finish();
        match outcome {
            Ok((outcome, after, facts)) => self.record_update(
                job_id,
                device,
                request,
                reason,
                detail,
                &after,
                &facts,
                Some(secrets.pin),
                resumed,
                outcome.warnings,
            ),
            Err(e) => {
                // The job stays open whatever stopped it: the card may be half
                // updated, and only a resume (or an explicit rollback) ends it.
                let _ = self.store.update_job(
                    job_id,
                    if job.state == JobState::Open { JobState::Open } else { JobState::Writing },
                    None,
                    Some(&format!("interrupted: {e}")),
                    OffsetDateTime::now_utc(),
                );
                Err(e)
            }
        }
    }

    /// Records the updated card: every certificate on it (kept or new) named
    /// for the update request; the registry moves the device to the target
    /// profile's latest version and revokes what the card no longer holds.
    #[allow(clippy::too_many_arguments)]
    fn record_update(
        &mut self,
        job_id: Uuid,
        device: &Device,
        request: RequestId,
        reason: UpdateReason,
        mut detail: JobDetail,
        after: &CardInfo,
        facts: &CardFacts,
        pin: Option<Pin>,
        resumed: bool,
        mut warnings: Vec<String>,
    ) -> Result<Collected> {
        let on_card: Vec<String> = after
            .certificates
            .iter()
            .filter_map(|c| c.summary.as_ref().map(|s| s.serial_hex.clone()))
            .collect();
        let new: Vec<IssuedCertificateView> = detail
            .certificates
            .iter()
            .filter(|c| on_card.iter().any(|s| same_serial(s, &c.serial)))
            .cloned()
            .collect();
        let kept: Vec<domain::Certificate> = self
            .certificates_of(device.id)?
            .into_iter()
            .filter(|c| {
                device.certificates.contains(&c.id)
                    && !matches!(c.state, domain::CertificateState::Revoked { .. })
                    && on_card.iter().any(|s| same_serial(s, &c.serial))
                    && !new.iter().any(|n| n.id == c.id)
            })
            .collect();
        let mut named: Vec<proto::IssuedCertificate> = kept
            .iter()
            .map(|c| proto::IssuedCertificate {
                id: c.id,
                serial: c.serial.clone(),
                slot: c.slot,
                subject: c.subject.clone(),
                not_before: c.not_before,
                not_after: c.not_after,
            })
            .collect();
        named.extend(new.iter().map(|c| proto::IssuedCertificate {
            id: c.id,
            serial: c.serial.clone(),
            slot: c.slot,
            subject: c.subject.clone(),
            not_before: c.not_before,
            not_after: c.not_after,
        }));
        let expires_at =
            after.chuid.as_ref().and_then(|c| c.expiry_date()).map(|d| d.midnight().assume_utc());
        let op = OperationKind::RecordIssuance(RecordIssuance {
            device: device.id,
            request: Some(request),
            route: detail.route,
            card: WireCardFacts {
                serial: facts.serial.clone(),
                atr: Some(facts.atr.clone()),
                contact: true,
                contactless: false,
            },
            expires_at,
            certificates: named,
            card_end_state: None,
            certificate_end_state: None,
        });
        let result = self.submit(op, |_| Ok(()))?;
        let mut revoked = superseded_in(result.as_ref());
        for id in revoked_with(result.as_ref(), &new) {
            if !revoked.contains(&id) {
                revoked.push(id);
            }
        }
        for id in self.revoke_pending(device.id, &mut warnings)? {
            if !revoked.contains(&id) {
                revoked.push(id);
            }
        }
        self.close_update_job(job_id, &mut detail)?;
        Ok(Collected {
            job: job_id,
            device: self.device(device.id)?,
            request,
            reason,
            pin,
            certificates: new,
            kept: kept.iter().map(|c| c.id).collect(),
            revoked,
            remaining: self.pending_updates(device.id)?,
            resumed,
            warnings,
        })
    }

    /// Completes the job and forgets the wrapped previous secrets.
    fn close_update_job(&mut self, job_id: Uuid, detail: &mut JobDetail) -> Result<()> {
        if let Some(u) = detail.update.as_mut() {
            u.previous = None;
        }
        let detail = serde_json::to_value(&*detail).map_err(store::Error::from)?;
        self.store.update_job(job_id, JobState::Completed, Some(&detail), None, OffsetDateTime::now_utc())?;
        Ok(())
    }

    /// Resumes an interrupted update job on its card in `reader`: the
    /// escrowed and the previous secrets are tried, a new PIN is set, the
    /// plan re-runs from the card as found, and the card is recorded.
    pub(crate) fn resume_update(
        &mut self,
        job: Job,
        reader: &str,
        progress: &mut dyn Progress,
    ) -> Result<Collected> {
        self.sync()?;
        let mut detail: JobDetail = serde_json::from_value(job.detail.clone()).map_err(store::Error::from)?;
        let update = detail
            .update
            .clone()
            .ok_or_else(|| Error::Invalid(format!("job {} is an update without its details", job.id)))?;
        let device = self.device(parse_device(&job)?)?;
        let request_id = job
            .request
            .as_deref()
            .and_then(|r| Uuid::parse_str(r).ok())
            .map(RequestId::new)
            .ok_or_else(|| Error::Invalid(format!("job {} names no request", job.id)))?;
        let request = self.request(request_id)?;
        if request.state == RequestState::Completed {
            // Killed after the registry recorded the card: close the job.
            return self.close_recorded_update(job.id, &device, request_id, update.reason, detail, reader);
        }
        self.check_collect(&device, request.profile, detail.route)?;
        let target = card_profile(&self.profile(request.profile)?);
        let current = card_profile(&self.profile_version(device.profile.id, device.profile.version)?);
        let token = &self.grant.token;
        let escrowed = self
            .runtime
            .block_on(self.remote.escrow(token, device.id, proto::EscrowKind::ManagementKey))?
            .to_bytes()
            .map_err(|_| Error::Invalid("the escrowed management key is not hex".into()))?;
        let escrowed = Zeroizing::new(escrowed);
        let mut keys: Vec<ManagementKey> =
            [target.management_key_algorithm, current.management_key_algorithm]
                .into_iter()
                .filter_map(|a| ManagementKey::new(a, &escrowed).ok())
                .collect();
        keys.dedup();
        let escrowed_key = keys.first().cloned().ok_or_else(|| {
            Error::Invalid("the escrowed management key fits neither profile's algorithm".into())
        })?;
        let escrowed_puk = self.job_escrowed_puk(device.id)?;
        let (previous_key, previous_puk) = match &update.previous {
            Some(p) => p.unwrap(device.id, &escrowed_key),
            None => (None, None),
        };
        // What the journal says was (perhaps) written decides what to try first.
        let steps = self.store.job_steps(job.id)?;
        let began = |name: &str| {
            steps.iter().any(|s| {
                s.phase == StepPhase::Before && s.step.get("step").and_then(|v| v.as_str()) == Some(name)
            })
        };
        let mut management_keys = keys.clone();
        let mut puks = vec![escrowed_puk.clone()];
        if let Some(k) = previous_key {
            if began("set-management-key") {
                management_keys.push(k);
            } else {
                management_keys.insert(0, k);
            }
        }
        if let Some(p) = previous_puk {
            if began("set-puk") {
                puks.push(p);
            } else {
                puks.insert(0, p);
            }
        }
        let (earlier_keys, earlier_puks) = self.rolled_back_secrets(device.id, &management_keys)?;
        management_keys.extend(earlier_keys);
        puks.extend(earlier_puks);
        let pin = self.job_pin(usize::from(target.pin.length))?;
        let secrets = Secrets { pin, puk: escrowed_puk, management_key: escrowed_key };
        if job.state == JobState::Open {
            self.store.update_job(job.id, JobState::Escrowed, None, None, OffsetDateTime::now_utc())?;
        }
        detail.update = Some(update.clone());
        progress.note(&crate::Notice::ResumingJob { job: job.id });
        self.run_update(
            job.id,
            &device,
            request_id,
            update.reason,
            reader,
            &target,
            secrets,
            KnownSecrets { management_keys, puks },
            true,
            progress,
        )
    }

    /// The registry already recorded the update (the process died before
    /// the job closed): revoke what reached no card, reset the PIN nobody
    /// saw with the escrowed PUK, close the job.
    fn close_recorded_update(
        &mut self,
        job_id: Uuid,
        device: &Device,
        request: RequestId,
        reason: UpdateReason,
        mut detail: JobDetail,
        reader: &str,
    ) -> Result<Collected> {
        let (facts, info) = crate::card::read(reader)?;
        if facts.device_id() != Some(device.id) {
            return Err(Error::WrongCard(format!("job {job_id}: insert the card of device {}", device.id)));
        }
        let on_card: Vec<String> = info
            .certificates
            .iter()
            .filter_map(|c| c.summary.as_ref().map(|s| s.serial_hex.clone()))
            .collect();
        let new: Vec<IssuedCertificateView> = detail
            .certificates
            .iter()
            .filter(|c| on_card.iter().any(|s| same_serial(s, &c.serial)))
            .cloned()
            .collect();
        let mut warnings = Vec::new();
        let revoked = self.revoke_pending(device.id, &mut warnings)?;
        let length = self.profile_version(device.profile.id, device.profile.version)?.settings.pin.max_length;
        let pin = self.job_pin(usize::from(length))?;
        let reset = self.job_escrowed_puk(device.id).and_then(|puk| {
            with_card(reader, |_, card| {
                card.select()?;
                card.unblock_pin(&puk, &pin)?;
                Ok(())
            })
        });
        let pin = match reset {
            Ok(()) => Some(pin),
            Err(e) => {
                warnings.push(format!(
                    "the card is updated but its PIN was lost with the interrupted run and could not be reset ({e}): unblock it (UC-PIN)"
                ));
                None
            }
        };
        self.close_update_job(job_id, &mut detail)?;
        let device = self.device(device.id)?;
        let kept =
            device.certificates.iter().copied().filter(|id| !new.iter().any(|n| n.id == *id)).collect();
        Ok(Collected {
            job: job_id,
            remaining: self.pending_updates(device.id)?,
            device,
            request,
            reason,
            pin,
            certificates: new,
            kept,
            revoked,
            resumed: true,
            warnings,
        })
    }

    /// The secrets a card may still hold after update jobs of `device` were
    /// rolled back: each such job's wrapped previous secrets, opened with
    /// every key known so far (a key they were not sealed under opens nothing).
    fn rolled_back_secrets(
        &self,
        device: DeviceId,
        known: &[ManagementKey],
    ) -> Result<(Vec<ManagementKey>, Vec<Puk>)> {
        let wrapped: Vec<WrappedPrevious> = self
            .store
            .jobs_of_device(&device.to_string())?
            .into_iter()
            .filter(|j| j.kind == JobKind::Update && j.state == JobState::RolledBack)
            .filter_map(|j| serde_json::from_value::<JobDetail>(j.detail).ok())
            .filter_map(|d| d.update.and_then(|u| u.previous))
            .collect();
        let mut keys: Vec<ManagementKey> = known.to_vec();
        let mut puks: Vec<Puk> = Vec::new();
        for _ in 0..wrapped.len() {
            let mut grew = false;
            for w in &wrapped {
                for k in keys.clone() {
                    let (key, puk) = w.unwrap(device, &k);
                    if let Some(key) = key.filter(|key| !keys.contains(key)) {
                        keys.push(key);
                        grew = true;
                    }
                    if let Some(puk) = puk.filter(|p| !puks.contains(p)) {
                        puks.push(puk);
                    }
                }
            }
            if !grew {
                break;
            }
        }
        Ok((keys.split_off(known.len()), puks))
    }

    /// Rolls an interrupted update job back: the job's certificates that
    /// reached no card recorded are revoked and the job is closed; the
    /// request stays approved, so the update can be collected again. The
    /// job keeps its wrapped previous secrets: a card torn before it took
    /// the new (escrowed) ones is opened with them by the next collect.
    pub(crate) fn rollback_update(&mut self, job: Job, reason: &str) -> Result<()> {
        let device = parse_device(&job)?;
        let mut warnings = Vec::new();
        self.revoke_pending(device, &mut warnings)?;
        let mut message: String = reason.chars().take(900).collect();
        for w in warnings {
            message.push_str("; ");
            message.push_str(&w);
        }
        self.store.update_job(
            job.id,
            JobState::RolledBack,
            None,
            Some(&message),
            OffsetDateTime::now_utc(),
        )?;
        Ok(())
    }
}

/// The certificates an accepted update shows revoked as superseded.
fn superseded_in(result: Option<&serde_json::Value>) -> Vec<CertificateId> {
    let Some(result) = result.and_then(|r| serde_json::from_value::<proto::OperationResult>(r.clone()).ok())
    else {
        return Vec::new();
    };
    result
        .records
        .into_iter()
        .filter_map(|r| match r {
            proto::Record::Certificate(c)
                if c.state
                    == (domain::CertificateState::Revoked {
                        reason: domain::RevocationReason::Superseded,
                    }) =>
            {
                Some(c.id)
            }
            _ => None,
        })
        .collect()
}
