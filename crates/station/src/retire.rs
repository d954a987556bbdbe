//! UC-RETIRE: deactivate / reactivate (certificates on hold / valid again),
//! cancel with a reason (lost and stolen revoke for key compromise, damaged
//! and no longer needed for cessation of operation), and erase a card back
//! to blank stock.
//!
//! Every command is decided first by the same `domain` machine the
//! registry runs (use case enabled, state, Cancel/Revoke or Erase
//! permission, nobody acts on their own device), so a refusal is explained
//! before anything changes; the registry then decides again and cascades
//! the certificates' states.
//!
//! Erase is a journaled card job (SPEC §2 tear safety): the job row first,
//! each card write journaled before and after, the registry told only once
//! the card is blank. A card pulled mid-erase is found on the next run (its
//! serial, or its CHUID while that still exists) and the erase resumes; a
//! card already blank with an open erase job only needs the record.

use domain::{machines, CancelReason, CardCommand, Certificate, Device, DeviceId};
use piv::{Pin, PivCard, Puk};
use proto::{ChangeDevice, DeviceChange, OperationKind};
use serde::Serialize;
use store::{Job, JobKind, JobState, StepPhase};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::card::with_card;
use crate::card::CardFacts;
use crate::error::{Error, Result};
use crate::issue::Progress;
use crate::pin::journal_step;
use crate::session::Session;

/// Wrong guesses sent to block the PIN or the PUK before a reset; PIV
/// retry counters are at most 255, real profiles use 3 to 15.
const MAX_BLOCKING_TRIES: usize = 256;

/// A device after a retire command, with its certificates as the registry
/// cascaded them.
#[derive(Debug, Clone, Serialize)]
pub struct Retired {
    /// The device record as the registry has it now.
    pub device: Device,
    /// Its certificates (on hold, valid, revoked …).
    pub certificates: Vec<Certificate>,
}

/// A card erased back to blank stock.
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    /// The erase job.
    pub job: Uuid,
    /// The device record (now `erased`) and its certificates (revoked).
    pub retired: Retired,
    /// Whether this finished an interrupted erase.
    pub resumed: bool,
    /// The card as read back after the reset.
    pub card: CardFacts,
}

impl Session {
    /// Deactivates an active card: its certificates go on hold (UC-RETIRE).
    pub fn deactivate(&mut self, device: DeviceId, notes: Option<String>) -> Result<Retired> {
        self.change_device(device, DeviceChange::Deactivate, CardCommand::Deactivate, notes)
    }

    /// Reactivates an inactive card: its held certificates are valid again.
    pub fn reactivate(&mut self, device: DeviceId, notes: Option<String>) -> Result<Retired> {
        self.change_device(device, DeviceChange::Reactivate, CardCommand::Reactivate, notes)
    }

    /// Cancels a device for good (`locked`); the reason decides how its
    /// certificates are revoked (lost / stolen: key compromise).
    pub fn cancel_device(
        &mut self,
        device: DeviceId,
        reason: CancelReason,
        notes: Option<String>,
    ) -> Result<Retired> {
        self.change_device(device, DeviceChange::Cancel { reason }, CardCommand::Cancel { reason }, notes)
    }

    /// The device and its certificates, as the replica has them.
    pub fn retired_view(&self, device: DeviceId) -> Result<Retired> {
        Ok(Retired { device: self.device(device)?, certificates: self.certificates_of(device)? })
    }

    fn change_device(
        &mut self,
        id: DeviceId,
        change: DeviceChange,
        command: CardCommand,
        notes: Option<String>,
    ) -> Result<Retired> {
        self.sync()?;
        let device = self.device(id)?;
        machines::card::apply(&device, &command, &self.actor(), OffsetDateTime::now_utc())?;
        let op = OperationKind::ChangeDevice(ChangeDevice { device: id, change, notes });
        self.submit(op, |_| Ok(()))?;
        self.retired_view(id)
    }

    /// Erases the card in `reader` back to blank stock (UC-RETIRE): blocks
    /// PIN and PUK and resets the PIV application (YubiKey RESET, which the
    /// card accepts only then), checks the card reads back blank, then has
    /// the registry mark the device `erased` (its certificates revoked, its
    /// escrowed secrets discarded). `expected` guards against erasing
    /// another card than the operator means. An interrupted erase of this
    /// card is resumed.
    pub fn erase(
        &mut self,
        reader: &str,
        expected: Option<DeviceId>,
        notes: Option<String>,
        progress: &mut dyn Progress,
    ) -> Result<Erased> {
        self.sync()?;
        let (facts, info) = crate::card::read(reader)?;
        let open = self.open_erase_job(&facts)?;
        let device_id = match (&open, facts.device_id()) {
            (Some(job), _) => parse_device(&job.device)?,
            (None, Some(d)) => d,
            (None, None) if info.looks_blank() => {
                return Err(Error::WrongCard(format!("the card in {reader} is already blank stock")))
            }
            (None, None) => {
                return Err(Error::WrongCard(format!(
                    "the card in {reader} is not from this registry; `cardstation card reset` wipes foreign cards"
                )))
            }
        };
        if let Some(expected) = expected {
            if expected != device_id {
                return Err(Error::WrongCard(format!(
                    "the card in {reader} is device {device_id}, not {expected}"
                )));
            }
        }
        let device = self.store.get::<Device>(&device_id.to_string())?.ok_or_else(|| {
            Error::WrongCard(format!(
                "the card in {reader} names device {device_id}, which this registry does not know"
            ))
        })?;
        // An erase interrupted after the registry recorded it only has its job to close.
        let recorded = open.is_some() && device.state == domain::CardState::Erased;
        if !recorded {
            machines::card::apply(&device, &CardCommand::Erase, &self.actor(), OffsetDateTime::now_utc())?;
        }
        if !info.yubikey_extensions && !info.looks_blank() {
            return Err(Error::WrongCard(format!(
                "the card in {reader} has no PIV reset command (not YubiKey-compatible): it cannot be \
                 returned to blank stock; cancel the device (reason damaged) instead"
            )));
        }

        let resumed = open.is_some();
        let job_id = match open {
            Some(job) => job.id,
            None => {
                let now = OffsetDateTime::now_utc();
                let id = Uuid::now_v7();
                self.store.create_job(&Job::new(
                    id,
                    JobKind::Erase,
                    device_id.to_string(),
                    JobState::Open,
                    serde_json::to_value(&facts).map_err(store::Error::from)?,
                    serde_json::json!({ "notes": notes }),
                    now,
                ))?;
                id
            }
        };
        if resumed {
            progress.note(&crate::Notice::ResumingJob { job: job_id });
        }

        let wiped = if info.looks_blank() {
            Ok(facts.clone())
        } else {
            self.wipe(job_id, reader, device_id, progress)
        };
        let card = match wiped {
            Ok(card) => card,
            Err(e) => {
                let state = if e.is_tear() { JobState::Writing } else { JobState::Open };
                let _ = self.store.update_job(
                    job_id,
                    state,
                    None,
                    Some(&format!("interrupted: {e}")),
                    OffsetDateTime::now_utc(),
                );
                return Err(e);
            }
        };

        // The card is blank: now the record (certificates revoked, escrow discarded).
        let already = self.device(device_id)?.state == domain::CardState::Erased;
        if !already {
            let op = OperationKind::ChangeDevice(ChangeDevice {
                device: device_id,
                change: DeviceChange::Erase,
                notes: notes.clone(),
            });
            if let Err(e) = self.submit(op, |_| Ok(())) {
                let _ = self.store.update_job(
                    job_id,
                    JobState::Writing,
                    None,
                    Some(&format!("the card is blank but the registry has not recorded it: {e}")),
                    OffsetDateTime::now_utc(),
                );
                return Err(e);
            }
        }
        self.store.update_job(job_id, JobState::Completed, None, None, OffsetDateTime::now_utc())?;
        Ok(Erased { job: job_id, retired: self.retired_view(device_id)?, resumed, card })
    }

    /// The open erase job of the card described by `facts`, if any.
    fn open_erase_job(&self, facts: &CardFacts) -> Result<Option<Job>> {
        for job in self.store.open_jobs()? {
            if job.kind != JobKind::Erase {
                continue;
            }
            let started: Option<CardFacts> = serde_json::from_value(job.card.clone()).ok();
            let same = started.as_ref().is_some_and(|s| facts.same_card(s))
                || facts.device_id().map(|d| d.to_string()).as_deref() == Some(job.device.as_str());
            if same {
                return Ok(Some(job));
            }
        }
        Ok(None)
    }

    /// Blocks PIN and PUK and resets the card (YubiKey RESET), each write
    /// journaled before and after; reads the card back and insists it is blank.
    fn wipe(
        &mut self,
        job_id: Uuid,
        reader: &str,
        device: DeviceId,
        progress: &mut dyn Progress,
    ) -> Result<CardFacts> {
        let store = &mut self.store;
        store.update_job(job_id, JobState::Writing, None, None, OffsetDateTime::now_utc())?;
        with_card(reader, |atr, card| {
            let info = piv::read_info(card)?;
            let facts = CardFacts::of(reader, atr, &info);
            if let Some(d) = facts.device_id() {
                if d != device {
                    return Err(Error::WrongCard(format!(
                        "the card in {reader} is device {d}, not {device}"
                    )));
                }
            }
            progress.step(1, 3, &crate::CardStep::BlockPin);
            journal_step(store, job_id, StepPhase::Before, "block_pin")?;
            block_pin(card)?;
            journal_step(store, job_id, StepPhase::After, "block_pin")?;
            progress.step(2, 3, &crate::CardStep::BlockPuk);
            journal_step(store, job_id, StepPhase::Before, "block_puk")?;
            block_puk(card)?;
            journal_step(store, job_id, StepPhase::After, "block_puk")?;
            progress.step(3, 3, &crate::CardStep::ResetApplication);
            journal_step(store, job_id, StepPhase::Before, "reset")?;
            card.reset()?;
            journal_step(store, job_id, StepPhase::After, "reset")?;
            let after = piv::read_info(card)?;
            if !after.looks_blank() {
                return Err(Error::WrongCard(format!(
                    "the card in {reader} did not read back blank after the reset"
                )));
            }
            Ok(CardFacts::of(reader, atr, &after))
        })
    }
}

fn parse_device(text: &str) -> Result<DeviceId> {
    Uuid::parse_str(text).map(DeviceId::new).map_err(|_| Error::Invalid(format!("job device {text:?}")))
}

/// Sends wrong PINs until the card says the PIN is blocked (SP 800-73-4
/// Part 2 §3.2.1: VERIFY counts down the retry counter). A guess that
/// happens to be right is simply followed by another.
fn block_pin<T: apdu::Transport>(card: &mut PivCard<T>) -> Result<()> {
    let mut rng = rand::rngs::OsRng;
    for _ in 0..MAX_BLOCKING_TRIES {
        if card.pin_status()? == piv::PinStatus::Blocked {
            return Ok(());
        }
        match card.verify_pin(&Pin::random(8, &mut rng)?) {
            Err(piv::Error::PinBlocked) | Err(piv::Error::WrongPin { tries: 0 }) => return Ok(()),
            Ok(()) | Err(piv::Error::WrongPin { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Card(piv::Error::BadInput("the PIN does not block".into())))
}

/// Sends wrong PUKs (RESET RETRY COUNTER, Part 2 §3.2.4) until the PUK is
/// blocked; a lucky right guess only sets a random PIN, blocked again after.
fn block_puk<T: apdu::Transport>(card: &mut PivCard<T>) -> Result<()> {
    let mut rng = rand::rngs::OsRng;
    for _ in 0..MAX_BLOCKING_TRIES {
        let puk = Puk::random(8, &mut rng)?;
        match card.unblock_pin(&puk, &Pin::random(8, &mut rng)?) {
            Err(piv::Error::PukBlocked) | Err(piv::Error::WrongPuk { tries: 0 }) => return Ok(()),
            Err(piv::Error::WrongPuk { .. }) => {}
            Ok(()) => block_pin(card)?,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Card(piv::Error::BadInput("the PUK does not block".into())))
}
