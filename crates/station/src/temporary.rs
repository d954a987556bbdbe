//! UC-TEMP (seed 001): temporary cards — order, mark produced, initialize,
//! assign, withdraw (return with a reason), expire, lock.
//!
//! Every command is first decided here with the domain's temporary-card
//! machine (so a refusal is explained before the registry is asked), then
//! sent as `ChangeTemporaryCard`; the registry decides again and moves the
//! holder's permanent card in the same transaction (assign → temporarily
//! inactive, certificates on hold; withdraw "no longer needed" → active
//! again, "lost" → stays inactive).
//!
//! Locking a lent card (the holder lost it) leaves the permanent card
//! `inactive`, certificates on hold, as a "lost" return does; an operator
//! reactivates it when it is back in hand. The permanent card found at
//! assignment is the person's `active` one; a person with none (or only an
//! `issued` one) gets the temporary card without a suspension.
//!
//! **Certificates.** Temporary cards carry none: they pass from person to
//! person and a certificate would name one of them. A temporary-card
//! profile names no key slot (the registry refuses to order with one that
//! does). Initialization writes the CHUID (GUID = the temporary card's id,
//! which is how [`Session::read_card`] recognises it), a per-card AES
//! management key, PIN and PUK.
//!
//! **Initialization** (`produced → unassigned`, disabled by default) is a
//! journaled job like an issue (stored with kind `issue`, as the store's
//! schema allows no other kind; the job's device id names a temporary card,
//! never a device; the same card writer as [`Session::issue`]): job row first, management key and
//! PUK escrowed at the registry before the first card write, every write
//! journaled before and after, the PUK set last (factory → escrowed), the
//! PIN returned once. A torn job is resumed by initializing the card again:
//! secrets from escrow, a new PUK escrowed if the card still has the
//! factory one, or — if the final PUK is on the card — the card is recorded
//! and its PIN reset with the escrowed PUK.
//!
//! **Expiry.** The station sweeps: [`Session::expire_temporary_cards`]
//! (`cardstation temp expire`) sends `Expire` for every assigned card whose
//! period has passed; the registry checks the date again. Nobody else
//! expires cards, so an operator (or a scheduled `cardstation temp expire`)
//! runs the sweep.

use domain::{
    machines, CardState, DeviceId, IssueRoute, Person, PersonId, ProfileId, TemporaryCard,
    TemporaryCardCommand, TemporaryCardState, TemporaryReturnReason,
};
use piv::personalize::PlanOptions;
use piv::{Pin, Secrets};
use proto::{ChangeTemporaryCard, OperationKind, OrderTemporaryCard};
use serde::Serialize;
use store::{Job, JobKind, JobState};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::card::{with_card, CardFacts};
use crate::error::{Error, Result};
use crate::issue::Progress;
use crate::job::JobDetail;
use crate::profile::card_profile;
use crate::session::Session;

/// A temporary card as listed for the operator.
#[derive(Debug, Clone, Serialize)]
pub struct TemporaryCardView {
    /// The record.
    #[serde(flatten)]
    pub card: TemporaryCard,
    /// The holder, if lent.
    pub holder_person: Option<Person>,
    /// The holder's permanent card state now, if it stands in for one.
    pub permanent_card_state: Option<CardState>,
}

/// A temporary card initialized (`unassigned`).
#[derive(Debug, Serialize)]
pub struct Initialized {
    /// The job.
    pub job: Uuid,
    /// The record as the registry has it now.
    pub card: TemporaryCard,
    /// The new PIN: shown once, never stored (Debug redacts it). `None` only
    /// when a recovered card's PIN could not be reset (see `warnings`).
    #[serde(skip)] // never serialized: the client that receives it is its one reveal
    pub pin: Option<Pin>,
    /// Whether this finished an interrupted job.
    pub resumed: bool,
    /// Things the operator should know.
    pub warnings: Vec<String>,
}

impl Session {
    /// A temporary card from the replica.
    pub fn temporary_card(&self, id: DeviceId) -> Result<TemporaryCard> {
        self.store
            .get::<TemporaryCard>(&id.to_string())?
            .ok_or_else(|| Error::NotFound(format!("no temporary card {id}")))
    }

    /// Temporary cards in `state`, or all (UC-SEARCH "temporary card" by status).
    pub fn temporary_cards(&self, state: Option<TemporaryCardState>) -> Result<Vec<TemporaryCardView>> {
        let cards = self.store.temporary_cards(state.map(TemporaryCardState::name))?;
        cards
            .into_iter()
            .map(|card| {
                let holder_person = match card.holder {
                    Some(p) => self.store.get::<Person>(&p.to_string())?,
                    None => None,
                };
                let permanent_card_state = match card.permanent_card {
                    Some(d) => self.store.get::<domain::Device>(&d.to_string())?.map(|d| d.state),
                    None => None,
                };
                Ok(TemporaryCardView { card, holder_person, permanent_card_state })
            })
            .collect()
    }

    /// Orders a temporary card with a temporary-card `profile` (`ordered`).
    pub fn order_temporary_card(
        &mut self,
        profile: ProfileId,
        serial: Option<String>,
    ) -> Result<TemporaryCard> {
        let profile = self.profile(profile)?;
        domain::rules::check_temporary_order(&profile, &self.actor())?;
        let card = DeviceId::new(Uuid::now_v7());
        let op = OperationKind::OrderTemporaryCard(OrderTemporaryCard { card, profile: profile.id, serial });
        self.submit(op, |_| Ok(()))?;
        self.temporary_card(card)
    }

    /// External production delivered the card (`produced`), with its printed serial.
    pub fn mark_temporary_card_produced(
        &mut self,
        id: DeviceId,
        serial: Option<String>,
    ) -> Result<TemporaryCard> {
        self.change_temporary(id, TemporaryCardCommand::MarkProduced, serial)
    }

    /// Lends the temporary card to `person` until `until` (if limited). The
    /// person's active permanent card, if any, is found here and becomes
    /// temporarily inactive at the registry (its certificates on hold).
    pub fn assign_temporary_card(
        &mut self,
        id: DeviceId,
        person: PersonId,
        until: Option<OffsetDateTime>,
    ) -> Result<TemporaryCard> {
        self.sync()?;
        self.person(person)?;
        let permanent_card =
            self.store.devices_of(person)?.into_iter().find(|d| d.state == CardState::Active).map(|d| d.id);
        self.change_temporary(id, TemporaryCardCommand::Assign { person, until, permanent_card }, None)
    }

    /// Takes the temporary card back with `reason` (`unassigned`): "no longer
    /// needed" reactivates the permanent card, "lost" leaves it inactive.
    pub fn withdraw_temporary_card(
        &mut self,
        id: DeviceId,
        reason: TemporaryReturnReason,
    ) -> Result<TemporaryCard> {
        self.change_temporary(id, TemporaryCardCommand::Withdraw { reason }, None)
    }

    /// Locks the temporary card for good.
    pub fn lock_temporary_card(&mut self, id: DeviceId) -> Result<TemporaryCard> {
        self.change_temporary(id, TemporaryCardCommand::Lock, None)
    }

    /// The expiry sweep: every assigned temporary card whose period has
    /// passed becomes `expired` (then waits to be withdrawn). Returns them.
    pub fn expire_temporary_cards(&mut self) -> Result<Vec<TemporaryCard>> {
        self.sync()?;
        let now = OffsetDateTime::now_utc();
        let due: Vec<DeviceId> = self
            .store
            .temporary_cards(Some(TemporaryCardState::Assigned.name()))?
            .into_iter()
            .filter(|c| c.assigned_until.is_some_and(|until| until <= now))
            .map(|c| c.id)
            .collect();
        due.into_iter().map(|id| self.change_temporary(id, TemporaryCardCommand::Expire, None)).collect()
    }

    fn change_temporary(
        &mut self,
        id: DeviceId,
        command: TemporaryCardCommand,
        serial: Option<String>,
    ) -> Result<TemporaryCard> {
        let card = self.temporary_card(id)?;
        machines::temporary_card::apply(&card, &command, &self.actor(), OffsetDateTime::now_utc())?;
        let op = OperationKind::ChangeTemporaryCard(ChangeTemporaryCard {
            card: id,
            command,
            serial,
            notes: None,
        });
        self.submit(op, |_| Ok(()))?;
        self.temporary_card(id)
    }

    /// Initializes the produced temporary card `id` on the card in `reader`
    /// (seed 001: profile, PIN, PUK → `unassigned`); an interrupted
    /// initialization of it is resumed instead. The PIN is returned once.
    pub fn initialize_temporary_card(
        &mut self,
        id: DeviceId,
        reader: &str,
        progress: &mut dyn Progress,
    ) -> Result<Initialized> {
        self.sync()?;
        let card = self.temporary_card(id)?;
        if let Some(job) = self.open_temporary_job(id)? {
            progress.note(&crate::Notice::ResumingJob { job: job.id });
            return self.resume_temporary(job, reader, progress);
        }
        let now = OffsetDateTime::now_utc();
        machines::temporary_card::apply(&card, &TemporaryCardCommand::Initialize, &self.actor(), now)?;
        let profile = self.profile_version(card.profile.id, card.profile.version)?;
        let card_profile = card_profile(&profile);

        let (facts, info) = crate::card::read(reader)?;
        let same_card = facts.device_id() == Some(id);
        if !info.looks_blank() && !same_card {
            return Err(Error::WrongCard(format!(
                "the card in {reader} is not blank stock (CHUID {}); insert the produced temporary card",
                facts.guid.as_deref().unwrap_or("none")
            )));
        }
        let job_id = Uuid::now_v7();
        let detail =
            JobDetail { route: IssueRoute::Single, certificates: Vec::new(), update: None, settings: None };
        self.store.create_job(&Job::new(
            job_id,
            JobKind::Issue,
            id.to_string(),
            JobState::Open,
            serde_json::to_value(&facts).map_err(store::Error::from)?,
            serde_json::to_value(&detail).map_err(store::Error::from)?,
            now,
        ))?;
        let secrets = self.new_job_secrets(id, &card_profile, &info, same_card, progress)?;
        self.escrow(id, &secrets)?;
        self.store.update_job(job_id, JobState::Escrowed, None, None, OffsetDateTime::now_utc())?;
        self.run_temporary(job_id, id, reader, &card_profile, secrets, false, progress)
    }

    fn open_temporary_job(&self, id: DeviceId) -> Result<Option<Job>> {
        Ok(self.store.jobs_of_device(&id.to_string())?.into_iter().find(|j| j.state.is_open()))
    }

    /// Whether `job` initializes a temporary card (its device id names one).
    pub(crate) fn is_temporary_job(&self, job: &Job) -> Result<bool> {
        Ok(self.store.get::<TemporaryCard>(&job.device)?.is_some())
    }

    /// Resumes an interrupted initialization on its card in `reader`.
    fn resume_temporary(
        &mut self,
        job: Job,
        reader: &str,
        progress: &mut dyn Progress,
    ) -> Result<Initialized> {
        let id = DeviceId::new(
            Uuid::parse_str(&job.device)
                .map_err(|_| Error::Invalid(format!("job device {:?}", job.device)))?,
        );
        let card = self.temporary_card(id)?;
        let profile = self.profile_version(card.profile.id, card.profile.version)?;
        let card_profile = card_profile(&profile);
        let (facts, info) = crate::card::read(reader)?;
        let started: Option<CardFacts> = serde_json::from_value(job.card.clone()).ok();
        if !started.as_ref().is_some_and(|s| facts.same_card(s)) && facts.device_id() != Some(id) {
            return Err(Error::WrongCard(format!(
                "job {} was started on another card: insert the temporary card {id}",
                job.id
            )));
        }
        if card.state != TemporaryCardState::Produced {
            // The registry recorded the initialization before the job closed.
            progress.note(&crate::Notice::PinResetOnly { job: job.id });
            return self.close_temporary(job.id, id, reader, &card_profile, Vec::new());
        }
        machines::temporary_card::apply(
            &card,
            &TemporaryCardCommand::Initialize,
            &self.actor(),
            OffsetDateTime::now_utc(),
        )?;
        let mut secrets = Secrets::generate(&card_profile, &mut rand::rngs::OsRng)?;
        if job.state != JobState::Open {
            secrets.management_key = self.escrowed_key(id, card_profile.management_key_algorithm)?;
            if info.puk_is_default == Some(false) {
                // Torn in or after the last write (the final PUK): the card is complete.
                if facts.device_id() != Some(id) {
                    return Err(Error::WrongCard(format!(
                        "job {}: the card has its final PUK but not the temporary card's CHUID; roll the job back",
                        job.id
                    )));
                }
                progress.note(&crate::Notice::CardAlreadyFinished { job: job.id });
                self.record_initialized(id)?;
                return self.close_temporary(job.id, id, reader, &card_profile, Vec::new());
            }
        }
        self.escrow(id, &secrets)?;
        if job.state == JobState::Open {
            self.store.update_job(job.id, JobState::Escrowed, None, None, OffsetDateTime::now_utc())?;
        }
        progress.note(&crate::Notice::ResumingJob { job: job.id });
        self.run_temporary(job.id, id, reader, &card_profile, secrets, true, progress)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_temporary(
        &mut self,
        job_id: Uuid,
        id: DeviceId,
        reader: &str,
        card_profile: &piv::Profile,
        secrets: Secrets,
        resumed: bool,
        progress: &mut dyn Progress,
    ) -> Result<Initialized> {
        let job = self.store.job(job_id)?.ok_or_else(|| Error::NotFound(format!("no job {job_id}")))?;
        let detail: JobDetail = serde_json::from_value(job.detail.clone()).map_err(store::Error::from)?;
        let mut options = PlanOptions::for_holder("");
        options.guid = Some(*id.uuid().as_bytes());
        let (outcome, _) = self.write_card(
            &job,
            detail,
            id,
            IssueRoute::Single,
            reader,
            card_profile,
            &options,
            &secrets,
            None,
            None,
            None,
            progress,
        );
        match outcome {
            Ok((outcome, _, _)) => {
                if let Err(e) = self.record_initialized(id) {
                    let _ = self.store.update_job(
                        job_id,
                        JobState::Writing,
                        None,
                        Some(&format!("the card is written; recording it failed: {e}")),
                        OffsetDateTime::now_utc(),
                    );
                    return Err(e);
                }
                self.store.update_job(job_id, JobState::Completed, None, None, OffsetDateTime::now_utc())?;
                Ok(Initialized {
                    job: job_id,
                    card: self.temporary_card(id)?,
                    pin: Some(secrets.pin),
                    resumed,
                    warnings: outcome.warnings,
                })
            }
            Err(e) if e.is_tear() => {
                let _ = self.store.update_job(
                    job_id,
                    JobState::Writing,
                    None,
                    Some(&format!("interrupted: {e}")),
                    OffsetDateTime::now_utc(),
                );
                Err(e)
            }
            Err(e) => {
                let _ = self.store.update_job(
                    job_id,
                    JobState::RolledBack,
                    None,
                    Some(&e.to_string()),
                    OffsetDateTime::now_utc(),
                );
                Err(e)
            }
        }
    }

    /// `produced → unassigned` at the registry (skipped if already recorded).
    fn record_initialized(&mut self, id: DeviceId) -> Result<()> {
        if self.temporary_card(id)?.state == TemporaryCardState::Unassigned {
            return Ok(());
        }
        let op = OperationKind::ChangeTemporaryCard(ChangeTemporaryCard {
            card: id,
            command: TemporaryCardCommand::Initialize,
            serial: None,
            notes: None,
        });
        self.submit(op, |_| Ok(())).map(drop)
    }

    /// Closes a job whose card is complete and recorded: the PIN nobody saw
    /// is reset with the escrowed PUK and returned.
    fn close_temporary(
        &mut self,
        job_id: Uuid,
        id: DeviceId,
        reader: &str,
        card_profile: &piv::Profile,
        mut warnings: Vec<String>,
    ) -> Result<Initialized> {
        let pin = Pin::random(usize::from(card_profile.pin.length), &mut rand::rngs::OsRng)?;
        let reset = self.job_escrowed_puk(id).and_then(|puk| {
            with_card(reader, |_, card| {
                card.select()?;
                card.unblock_pin(&puk, &pin)?;
                Ok(())
            })
        });
        let pin = match reset {
            Ok(()) => Some(pin),
            // Torn again: the job stays open for the next attempt.
            Err(e) if e.is_tear() => return Err(e),
            Err(e) => {
                warnings.push(format!(
                    "the card is initialized but its PIN was lost with the interrupted run and could not be reset ({e}): unblock it with the escrowed PUK"
                ));
                None
            }
        };
        self.store.update_job(job_id, JobState::Completed, None, None, OffsetDateTime::now_utc())?;
        Ok(Initialized { job: job_id, card: self.temporary_card(id)?, pin, resumed: true, warnings })
    }
}
