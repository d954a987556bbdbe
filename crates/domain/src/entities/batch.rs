//! Batch orders (SPEC §3 Batch order; UC-BATCH, seed 003).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::actor::Actor;
use crate::entities::device::Device;
use crate::entities::profile::{CardEndState, CertificateEndState, ProfileSettings, Slot};
use crate::ids::{BatchId, DeviceId, PersonId};
use crate::machines::card::CardState;
use crate::machines::AnyState;
use crate::permissions::{GlobalPermission, Permission, ProfilePermission};
use crate::refusal::Refusal;
use crate::rules;
use crate::use_case::UseCase;

/// The options of "Issue multiple cards" (seed 003); `None` keeps the profile's setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchOptions {
    /// PIN length for generated PINs.
    pub pin_length: Option<u8>,
    /// PUK length.
    pub puk_length: Option<u8>,
    /// Which certificates to issue (a subset of the profile's slots).
    pub certificates: Option<BTreeSet<Slot>>,
    /// Card end state.
    pub card_end_state: Option<CardEndState>,
    /// Certificate end state.
    pub certificate_end_state: Option<CertificateEndState>,
}

/// The settings one card of a batch is encoded with: the profile's, with the batch options applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceSettings {
    /// Generated PIN length.
    pub pin_length: u8,
    /// PUK length.
    pub puk_length: u8,
    /// Slots to fill, in slot order.
    pub certificates: Vec<Slot>,
    /// Card end state.
    pub card_end_state: CardEndState,
    /// Certificate end state.
    pub certificate_end_state: CertificateEndState,
}

impl BatchOptions {
    /// Applies the options to `profile`, refusing options outside its policy.
    pub fn resolve(&self, profile: &ProfileSettings) -> Result<IssuanceSettings, Refusal> {
        let pin_length = self.pin_length.unwrap_or(profile.pin.max_length);
        if !(profile.pin.min_length..=profile.pin.max_length).contains(&pin_length) {
            return Err(Refusal::InvalidBatch(format!(
                "PIN length {pin_length} is outside the profile's {}–{}",
                profile.pin.min_length, profile.pin.max_length
            )));
        }
        let puk_length = self.puk_length.unwrap_or(profile.puk.length);
        if !(6..=8).contains(&puk_length) {
            return Err(Refusal::InvalidBatch(format!("PUK length {puk_length} is outside 6–8")));
        }
        let mut certificates: Vec<Slot> = match &self.certificates {
            None => profile.slots.iter().map(|s| s.slot).collect(),
            Some(chosen) => {
                if chosen.is_empty() {
                    return Err(Refusal::InvalidBatch("no certificate selected".into()));
                }
                if let Some(slot) = chosen.iter().find(|s| profile.slot(**s).is_none()) {
                    return Err(Refusal::InvalidBatch(format!("the profile has no slot {slot}")));
                }
                chosen.iter().copied().collect()
            }
        };
        certificates.sort();
        Ok(IssuanceSettings {
            pin_length,
            puk_length,
            certificates,
            card_end_state: self.card_end_state.unwrap_or(profile.card_end_state),
            certificate_end_state: self.certificate_end_state.unwrap_or(profile.certificate_end_state),
        })
    }
}

/// Progress of one card in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum BatchItemStatus {
    /// Not yet started.
    Pending,
    /// Encoded.
    Done,
    /// Failed; retryable.
    Failed {
        /// What went wrong.
        reason: String,
    },
    /// Not attempted because the batch was cancelled.
    Skipped,
}

/// One card of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItem {
    /// The approved card.
    pub device: DeviceId,
    /// Progress.
    pub status: BatchItemStatus,
}

/// A batch order: approved cards issued together with shared options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchOrder {
    /// Identity.
    pub id: BatchId,
    /// The operator who created it.
    pub created_by: PersonId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Options.
    pub options: BatchOptions,
    /// The cards.
    pub items: Vec<BatchItem>,
    /// Cancelled: no further card is started.
    pub cancelled: bool,
}

impl BatchOrder {
    /// Creates a batch of `devices` (UC-BATCH): the use case is on, the
    /// operator may manage batches and collect every card's profile, every
    /// card is `approved`, none is theirs, none is listed twice.
    pub fn create(
        id: BatchId,
        devices: &[&Device],
        options: BatchOptions,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<Self, Refusal> {
        actor.require_use_case(UseCase::Batch)?;
        actor.require(Permission::global(GlobalPermission::ManageBatches))?;
        let created_by = actor.person().ok_or(Refusal::OperatorRequired)?;
        if devices.is_empty() {
            return Err(Refusal::InvalidBatch("no card selected".into()));
        }
        let mut seen = BTreeSet::new();
        for device in devices {
            if !seen.insert(device.id) {
                return Err(Refusal::InvalidBatch(format!("card {} is selected twice", device.id)));
            }
            if device.state != CardState::Approved {
                return Err(Refusal::StateNotAllowed {
                    from: AnyState::Card(device.state),
                    command: "batch_issue".to_owned(),
                });
            }
            actor.require(Permission::on(ProfilePermission::CanCollect, device.profile.id))?;
            rules::not_own_device(actor, device.id, device.owner)?;
        }
        let items =
            devices.iter().map(|d| BatchItem { device: d.id, status: BatchItemStatus::Pending }).collect();
        Ok(Self { id, created_by, created_at: now, options, items, cancelled: false })
    }

    /// The next card to encode, unless the batch is cancelled (cancel stops before the next card).
    pub fn next_pending(&self) -> Option<DeviceId> {
        if self.cancelled {
            return None;
        }
        self.items.iter().find(|i| i.status == BatchItemStatus::Pending).map(|i| i.device)
    }

    /// Cancels: pending cards become skipped; a card being encoded finishes.
    pub fn cancel(&mut self) {
        self.cancelled = true;
        for item in &mut self.items {
            if item.status == BatchItemStatus::Pending {
                item.status = BatchItemStatus::Skipped;
            }
        }
    }

    /// Whether every card is done.
    pub fn is_complete(&self) -> bool {
        self.items.iter().all(|i| i.status == BatchItemStatus::Done)
    }
}
