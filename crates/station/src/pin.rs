//! UC-PIN with the card present: unblock (operator-assisted, the PUK from
//! the registry's escrow, the identity check noted) and change PIN (the
//! cardholder's current PIN → a new one).
//!
//! Unblock is a journaled card job: the job row (with the identity-check
//! note) first, the PUK fetched from escrow into memory only (the registry
//! audits the fetch with the identity-check note), RESET RETRY COUNTER (SP 800-73-4 Part 2 §3.2.4)
//! journaled before and after, then a VERIFY with the new PIN proves it.
//! A card pulled at any APDU leaves the job open; the next unblock of that
//! card resumes it with a fresh PIN: the escrowed PUK still works, so there
//! is nothing to undo.

use domain::{CardState, Device, DeviceId, UseCase};
use piv::{Pin, Puk};
use proto::EscrowKind;
use serde::Serialize;
use store::{Job, JobKind, JobState, StepPhase, Store};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::card::{with_card, CardFacts};
use crate::error::{Error, Result};
use crate::issue::Progress;
use crate::session::Session;

/// Longest identity-check note kept with the job.
const MAX_NOTE: usize = 900;

/// The result of a PIN unblock: the new PIN, shown once.
#[derive(Debug, Serialize)]
pub struct PinUnblocked {
    /// The unblock job.
    pub job: Uuid,
    /// The device.
    pub device: Device,
    /// Whether this finished an interrupted unblock.
    pub resumed: bool,
    /// The new PIN: shown once, never stored (Debug redacts it).
    #[serde(skip)] // never serialized: the client that receives it is its one reveal
    pub pin: Pin,
    /// Whether the PIN was generated (else the cardholder chose it).
    pub generated: bool,
}

/// The result of a PIN change.
#[derive(Debug, Clone, Serialize)]
pub struct PinChanged {
    /// The device.
    pub device: DeviceId,
    /// The journal entry of the change.
    pub job: Uuid,
}

/// Journals one card write of a job (before it is sent, after the card answered).
pub(crate) fn journal_step(store: &mut Store, job: Uuid, phase: StepPhase, step: &str) -> Result<()> {
    store.record_job_step(job, phase, &serde_json::json!({ "step": step }), OffsetDateTime::now_utc())?;
    Ok(())
}

impl Session {
    /// The device whose card is in `reader` (its CHUID GUID), from the replica.
    fn device_in(&self, reader: &str) -> Result<(CardFacts, Device)> {
        let (facts, _) = crate::card::read(reader)?;
        let id = facts.device_id().ok_or_else(|| {
            Error::WrongCard(format!("the card in {reader} is not from this registry (no CHUID of ours)"))
        })?;
        let device = self.store.get::<Device>(&id.to_string())?.ok_or_else(|| {
            Error::WrongCard(format!(
                "the card in {reader} names device {id}, which this registry does not know"
            ))
        })?;
        Ok((facts, device))
    }

    /// UC-PIN unblock with the card in `reader`: the PUK comes from the
    /// registry's escrow; `identity_check` says how the holder was
    /// identified (required); the new PIN is `chosen` or generated with the
    /// profile's length, and returned once. Resumes an interrupted unblock.
    pub fn unblock_pin(
        &mut self,
        reader: &str,
        identity_check: &str,
        chosen: Option<Pin>,
        progress: &mut dyn Progress,
    ) -> Result<PinUnblocked> {
        let identity_check = identity_check.trim();
        if identity_check.is_empty() {
            return Err(Error::Invalid(
                "say how the cardholder's identity was checked (e.g. \"passport seen\")".into(),
            ));
        }
        self.sync()?;
        let (facts, device) = self.device_in(reader)?;
        domain::rules::check_pin_unblock(&device, &self.actor())?;
        let profile = self.profile_version(device.profile.id, device.profile.version)?;
        let policy = profile.settings.pin;
        let generated = chosen.is_none();
        let pin = match chosen {
            Some(pin) => {
                let len = pin.len();
                if len < usize::from(policy.min_length) || len > usize::from(policy.max_length) {
                    return Err(Error::Invalid(format!(
                        "the profile wants a PIN of {} to {} digits",
                        policy.min_length, policy.max_length
                    )));
                }
                pin
            }
            None => Pin::random(usize::from(policy.max_length), &mut rand::rngs::OsRng)?,
        };

        let open = self
            .store
            .jobs_of_device(&device.id.to_string())?
            .into_iter()
            .find(|j| j.kind == JobKind::Unblock && j.state.is_open());
        let resumed = open.is_some();
        let now = OffsetDateTime::now_utc();
        let note: String = identity_check.chars().take(MAX_NOTE).collect();
        let job_id = match open {
            Some(job) => {
                progress.note(&crate::Notice::ResumingJob { job: job.id });
                job.id
            }
            None => {
                let id = Uuid::now_v7();
                self.store.create_job(&Job::new(
                    id,
                    JobKind::Unblock,
                    device.id.to_string(),
                    JobState::Open,
                    serde_json::to_value(&facts).map_err(store::Error::from)?,
                    serde_json::json!({ "identity_check": note }),
                    now,
                ))?;
                id
            }
        };

        // The PUK, in memory only; the registry audits the fetch.
        let puk = self.escrowed_puk(device.id, &note)?;
        self.store.update_job(job_id, JobState::Writing, None, None, OffsetDateTime::now_utc())?;
        let store = &mut self.store;
        let outcome = with_card(reader, |_, card| {
            card.select()?;
            let guid = card.read_chuid()?.and_then(|c| hex::decode(c.guid_hex()).ok());
            if guid.as_deref() != Some(device.id.uuid().as_bytes().as_slice()) {
                return Err(Error::WrongCard(format!(
                    "the card in {reader} is no longer device {}",
                    device.id
                )));
            }
            progress.step(1, 2, &crate::CardStep::UnblockPin);
            journal_step(store, job_id, StepPhase::Before, "unblock_pin")?;
            card.unblock_pin(&puk, &pin)?;
            journal_step(store, job_id, StepPhase::After, "unblock_pin")?;
            progress.step(2, 2, &crate::CardStep::VerifyPin);
            card.verify_pin(&pin)?;
            Ok(())
        });
        match outcome {
            Ok(()) => {
                self.store.update_job(job_id, JobState::Completed, None, None, OffsetDateTime::now_utc())?;
                Ok(PinUnblocked { job: job_id, device, resumed, pin, generated })
            }
            Err(e) if e.is_tear() => {
                let _ = self.store.update_job(
                    job_id,
                    JobState::Writing,
                    None,
                    Some(&format!("interrupted: {e}; run the unblock again")),
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

    /// The escrowed PUK; the registry audits the fetch with the identity-check note.
    fn escrowed_puk(&self, device: DeviceId, identity_check: &str) -> Result<Puk> {
        let secret = self.runtime.block_on(self.remote.escrow_noted(
            &self.grant.token,
            device,
            EscrowKind::Puk,
            identity_check,
        ))?;
        let bytes = zeroize::Zeroizing::new(
            secret.to_bytes().map_err(|_| Error::Invalid("the escrowed PUK is not hex".into()))?,
        );
        let text =
            std::str::from_utf8(&bytes).map_err(|_| Error::Invalid("the escrowed PUK is not text".into()))?;
        Ok(Puk::new(text)?)
    }

    /// UC-PIN change: the cardholder's `current` PIN → `new` on the card in
    /// `reader` (CHANGE REFERENCE DATA, Part 2 §3.2.3), journaled. A card
    /// pulled mid-change holds either PIN, both known to the cardholder.
    pub fn change_pin(&mut self, reader: &str, current: &Pin, new: &Pin) -> Result<PinChanged> {
        let actor = self.actor();
        actor.require_use_case(UseCase::Pin)?;
        let (facts, device) = self.device_in(reader)?;
        if !matches!(device.state, CardState::Issued | CardState::Active | CardState::Inactive) {
            return Err(domain::Refusal::StateNotAllowed {
                from: domain::AnyState::Card(device.state),
                command: "change_pin".into(),
            }
            .into());
        }
        let profile = self.profile_version(device.profile.id, device.profile.version)?;
        let policy = profile.settings.pin;
        if new.len() < usize::from(policy.min_length) || new.len() > usize::from(policy.max_length) {
            return Err(Error::Invalid(format!(
                "the profile wants a PIN of {} to {} digits",
                policy.min_length, policy.max_length
            )));
        }
        let now = OffsetDateTime::now_utc();
        let job_id = Uuid::now_v7();
        self.store.create_job(&Job::new(
            job_id,
            JobKind::Unblock,
            device.id.to_string(),
            JobState::Writing,
            serde_json::to_value(&facts).map_err(store::Error::from)?,
            serde_json::json!({ "change_pin": true }),
            now,
        ))?;
        let store = &mut self.store;
        let outcome = with_card(reader, |_, card| {
            card.select()?;
            journal_step(store, job_id, StepPhase::Before, "change_pin")?;
            card.change_pin(current, new)?;
            journal_step(store, job_id, StepPhase::After, "change_pin")?;
            Ok(())
        });
        // Nothing to resume: the card holds the old or the new PIN.
        let (state, error) = match &outcome {
            Ok(()) => (JobState::Completed, None),
            Err(e) => (JobState::RolledBack, Some(e.to_string())),
        };
        self.store.update_job(job_id, state, None, error.as_deref(), OffsetDateTime::now_utc())?;
        outcome.map(|()| PinChanged { device: device.id, job: job_id })
    }
}
