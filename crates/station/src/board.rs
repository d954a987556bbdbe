//! The batch board for a window (UC-BATCH, seed 003): batches with the
//! names of their cardholders, the options a window can set, and each
//! reader's events with a finished card's PIN behind a reveal ticket (a
//! batch's PINs are revealed one card at a time, never broadcast).

use std::collections::HashMap;

use domain::{BatchOptions, DeviceId, RequestId};
use serde::{Deserialize, Serialize};
use store::BatchItemState;
use uuid::Uuid;

use crate::batch::{BatchEvent, BatchView, RemoveReason, StopReason};
use crate::error::{Error, Result};
use crate::session::Session;
use crate::view::{label, PersonRef};
use crate::{CardStep, ErrorView, Notice, RevealTicket, Reveals};

/// A batch's options as a window sets them (seed 003); `None` keeps each
/// card's profile setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct BatchOptionsInput {
    /// Generated PIN length.
    pub pin_length: Option<u8>,
    /// PUK length.
    pub puk_length: Option<u8>,
    /// Certificates to issue, by slot (`piv_authentication`, `digital_signature`…).
    pub certificates: Option<Vec<String>>,
    /// `issued` or `active`.
    pub card_end_state: Option<String>,
    /// `on_hold` or `valid`.
    pub certificate_end_state: Option<String>,
}

impl BatchOptionsInput {
    /// The domain's options; an unknown slot or state is refused by name.
    pub fn to_options(&self) -> Result<BatchOptions> {
        let value = serde_json::to_value(self).map_err(|e| Error::Invalid(e.to_string()))?;
        serde_json::from_value(value).map_err(|e| Error::Invalid(format!("batch options: {e}")))
    }

    fn from_options(options: &BatchOptions) -> BatchOptionsInput {
        serde_json::to_value(options).ok().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
    }
}

/// One card of a batch on the board.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct BatchCardRow {
    /// Order in the batch.
    pub seq: u32,
    /// The request.
    pub request: Uuid,
    /// The cardholder.
    pub holder: Option<PersonRef>,
    /// The credential profile's name.
    pub profile_name: String,
    /// `pending`, `encoding`, `done`, `failed`, `cancelled`.
    pub state: String,
    /// In words.
    pub state_label: String,
    /// The reader it was encoded in.
    pub reader: Option<String>,
    /// Attempts started.
    pub attempts: u32,
    /// Why it last failed, in words.
    pub last_error: Option<String>,
}

/// A batch on the board.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct BatchBoard {
    /// Its id.
    pub id: Uuid,
    /// Created (RFC 3339).
    pub created_at: String,
    /// The options chosen.
    pub options: BatchOptionsInput,
    /// Cancel asked: no new card starts until it is resumed.
    pub cancelled: bool,
    /// Cards per state.
    pub pending: u32,
    /// Being encoded, or interrupted (finished when the card is back).
    pub encoding: u32,
    /// Encoded.
    pub done: u32,
    /// Failed after the retry.
    pub failed: u32,
    /// Not encoded: the request can no longer be issued.
    pub cancelled_cards: u32,
    /// The cards, in order.
    pub cards: Vec<BatchCardRow>,
}

/// What happened at one reader, for the board. A finished card's PIN is
/// behind `reveal`.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BoardEvent {
    /// The reader needs a blank card.
    InsertCard {
        /// Reader.
        reader: String,
    },
    /// Take the card out.
    RemoveCard {
        /// Reader.
        reader: String,
        /// Why.
        why: RemoveReason,
        /// Why, in words.
        message: String,
    },
    /// A card of the batch is being encoded.
    Started {
        /// Reader.
        reader: String,
        /// Order in the batch.
        seq: u32,
        /// The cardholder.
        holder: Option<PersonRef>,
        /// Attempt (1 or 2).
        attempt: u32,
        /// Finishing an interrupted job.
        resuming: bool,
    },
    /// Step `index` of `total` (from 1).
    Step {
        /// Reader.
        reader: String,
        /// Step.
        index: u32,
        /// Steps.
        total: u32,
        /// What it does.
        step: CardStep,
    },
    /// Something the operator should see.
    Note {
        /// Reader.
        reader: String,
        /// What.
        notice: Notice,
    },
    /// A card is done.
    Done {
        /// Reader.
        reader: String,
        /// Order in the batch.
        seq: u32,
        /// The cardholder.
        holder: Option<PersonRef>,
        /// Its new PIN's one reveal.
        reveal: Option<RevealTicket>,
        /// Things the operator should know.
        warnings: Vec<String>,
    },
    /// A card failed (not a tear).
    Failed {
        /// Reader.
        reader: String,
        /// Order in the batch.
        seq: u32,
        /// What went wrong.
        error: ErrorView,
        /// Retried on the next card.
        retried: bool,
    },
    /// The card was pulled mid-encoding: put it back to finish it.
    Torn {
        /// Reader.
        reader: String,
        /// Order in the batch.
        seq: u32,
        /// What happened.
        error: ErrorView,
    },
    /// This reader's worker stopped.
    Stopped {
        /// Reader.
        reader: String,
        /// Why.
        why: StopReason,
    },
}

/// Turns a batch's events into board events: names looked up once before
/// the run (the workers have no session to spare), PINs kept for reveal.
#[derive(Debug)]
pub struct BoardNames {
    holders: HashMap<Uuid, Option<PersonRef>>,
}

impl BoardNames {
    /// The holders of batch `view`'s cards.
    pub fn of(session: &Session, view: &BatchView) -> BoardNames {
        let holders = view
            .items
            .iter()
            .filter_map(|i| {
                let request = Uuid::parse_str(&i.request).ok()?;
                Some((request, holder_of(session, request)))
            })
            .collect();
        BoardNames { holders }
    }

    fn holder(&self, request: Uuid) -> Option<PersonRef> {
        self.holders.get(&request).cloned().flatten()
    }

    /// The board's view of `event`; a done card's PIN goes to `reveals`.
    pub fn event(&self, event: BatchEvent, reveals: &Reveals) -> BoardEvent {
        match event {
            BatchEvent::InsertCard { reader } => BoardEvent::InsertCard { reader },
            BatchEvent::RemoveCard { reader, why } => {
                BoardEvent::RemoveCard { reader, message: why.to_string(), why }
            }
            BatchEvent::Started { reader, seq, request, attempt, resuming } => {
                BoardEvent::Started { reader, seq, holder: self.holder(request), attempt, resuming }
            }
            BatchEvent::Step { reader, index, total, step, .. } => BoardEvent::Step {
                reader,
                index: u32::try_from(index).unwrap_or(u32::MAX),
                total: u32::try_from(total).unwrap_or(u32::MAX),
                step,
            },
            BatchEvent::Note { reader, notice } => BoardEvent::Note { reader, notice },
            BatchEvent::Done { reader, seq, request, issued } => BoardEvent::Done {
                reader,
                seq,
                holder: self.holder(request),
                reveal: issued.pin.as_ref().map(|pin| reveals.keep(pin, None)),
                warnings: issued.warnings.clone(),
            },
            BatchEvent::Failed { reader, seq, error, retried, .. } => {
                BoardEvent::Failed { reader, seq, error, retried }
            }
            BatchEvent::Torn { reader, seq, error, .. } => BoardEvent::Torn { reader, seq, error },
            BatchEvent::Stopped { reader, why } => BoardEvent::Stopped { reader, why },
        }
    }
}

fn holder_of(session: &Session, request: Uuid) -> Option<PersonRef> {
    let request = session.request(RequestId::new(request)).ok()?;
    request.person.map(|p| session.person_ref(p))
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Session {
    /// Batch `id` on the board.
    pub fn batch_board(&self, id: Uuid) -> Result<BatchBoard> {
        Ok(self.board_of(&self.batch(id)?))
    }

    /// Every batch of this station on the board, newest first.
    pub fn batch_boards(&self) -> Result<Vec<BatchBoard>> {
        let mut boards: Vec<BatchBoard> = self.batches()?.iter().map(|b| self.board_of(b)).collect();
        boards.reverse();
        Ok(boards)
    }

    fn board_of(&self, view: &BatchView) -> BatchBoard {
        let cards = view
            .items
            .iter()
            .map(|i| {
                let request = Uuid::parse_str(&i.request).unwrap_or_default();
                let profile_name = Uuid::parse_str(&i.device)
                    .ok()
                    .and_then(|d| self.device(DeviceId::new(d)).ok())
                    .and_then(|d| self.profile(d.profile.id).ok())
                    .map(|p| p.settings.name)
                    .unwrap_or_else(|| "unknown profile".into());
                let state = item_state_name(i.state);
                BatchCardRow {
                    seq: i.seq,
                    request,
                    holder: holder_of(self, request),
                    profile_name,
                    state: state.into(),
                    state_label: label(state),
                    reader: i.reader.clone(),
                    attempts: i.attempts,
                    last_error: i.last_error.clone(),
                }
            })
            .collect();
        let c = &view.counts;
        BatchBoard {
            id: view.id,
            created_at: view
                .created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            options: BatchOptionsInput::from_options(&view.options),
            cancelled: view.cancelled,
            pending: count(c.pending),
            encoding: count(c.encoding),
            done: count(c.done),
            failed: count(c.failed),
            cancelled_cards: count(c.cancelled),
            cards,
        }
    }
}

fn item_state_name(state: BatchItemState) -> &'static str {
    match state {
        BatchItemState::Pending => "pending",
        BatchItemState::Encoding => "encoding",
        BatchItemState::Done => "done",
        BatchItemState::Failed => "failed",
        BatchItemState::Cancelled => "cancelled",
    }
}
