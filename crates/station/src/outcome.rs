//! Window views of what a card action did and of the records the later
//! screens list (temporary cards, the audit trail): names where a person
//! reads names, states with their words, a new PIN behind its one reveal.

use domain::{Device, DeviceId, Refusal, TemporaryCardState, TemporaryReturnReason, UpdateReason};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::session::Session;
use crate::view::{label, ActionView, PersonRef};
use crate::{AuditFilter, AuditRow, RevealTicket, Reveals};

/// What a card action left: the card's state, its holder, a new PIN's one
/// reveal, and what the operator should know.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct CardOutcome {
    /// What was done, in words ("Updates collected", "Card deactivated"…).
    pub summary: String,
    /// The card record (device or temporary card).
    pub device_id: Uuid,
    /// Its state now.
    pub state: String,
    /// In words.
    pub state_label: String,
    /// The cardholder.
    pub holder: Option<PersonRef>,
    /// Whether an interrupted job was finished.
    pub resumed: bool,
    /// Things the operator should know.
    pub warnings: Vec<String>,
    /// A new PIN's one reveal.
    pub reveal: Option<RevealTicket>,
}

/// A temporary card as listed (seed 001).
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct TemporaryRow {
    /// Its record.
    pub id: Uuid,
    /// Printed serial.
    pub serial: Option<String>,
    /// Its profile's name.
    pub profile_name: String,
    /// `ordered`, `produced`, `unassigned`, `assigned`…
    pub state: String,
    /// In words.
    pub state_label: String,
    /// Who holds it.
    pub holder: Option<PersonRef>,
    /// Lent until (RFC 3339).
    pub assigned_until: Option<String>,
    /// The holder's permanent card's state, in words.
    pub permanent_card: Option<String>,
}

/// Which audit events to show, as a window sets it.
#[derive(Debug, Clone, Default, Deserialize, specta::Type)]
pub struct AuditQuery {
    /// The operator who acted (name, username, email or id; part of it).
    pub operator: Option<String>,
    /// The person concerned (part of a name, email or id).
    pub person: Option<String>,
    /// The card concerned.
    pub device: Option<Uuid>,
    /// Part of the action's name.
    pub action: Option<String>,
    /// From (RFC 3339 or YYYY-MM-DD).
    pub since: Option<String>,
    /// Until, exclusive.
    pub until: Option<String>,
}

impl AuditQuery {
    /// The station's filter; a date that does not parse is refused.
    pub fn to_filter(&self) -> Result<AuditFilter> {
        let time = |t: &Option<String>| t.as_deref().map(crate::parse_time).transpose();
        let blank = |t: &Option<String>| t.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(AuditFilter {
            operator: blank(&self.operator),
            person: blank(&self.person),
            device: self.device.map(DeviceId::new),
            action: blank(&self.action),
            since: time(&blank(&self.since))?,
            until: time(&blank(&self.until))?,
        })
    }
}

/// One audit event as listed.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct AuditEntry {
    /// Position in the chain.
    pub seq: u32,
    /// When (RFC 3339).
    pub at: String,
    /// Who acted, by name.
    pub operator: String,
    /// The action's name.
    pub action: String,
    /// In words.
    pub action_label: String,
    /// What it was done to, in words.
    pub object: String,
    /// The person concerned, by name.
    pub person: Option<String>,
    /// `success`, or why not.
    pub outcome: String,
    /// Whether it succeeded.
    pub success: bool,
    /// Notes.
    pub notes: Option<String>,
}

/// Cards issued on one day (the audit chart).
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct DayCount {
    /// YYYY-MM-DD (UTC).
    pub day: String,
    /// Cards issued.
    pub cards: u32,
}

/// What one reader did in this station's batches (the audit chart).
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ReaderThroughput {
    /// The reader.
    pub reader: String,
    /// Cards encoded.
    pub cards: u32,
    /// Cards per hour between its first and last card (none for one card).
    pub cards_per_hour: Option<f64>,
}

/// The audit screen: the events, the chain's verification, the charts.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct AuditReport {
    /// Matching events, oldest first.
    pub entries: Vec<AuditEntry>,
    /// Cards issued per day among them.
    pub issued_per_day: Vec<DayCount>,
    /// Batch throughput per reader at this station.
    pub batch_readers: Vec<ReaderThroughput>,
}

/// The registry's verification of the whole audit chain.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ChainView {
    /// Every event verifies.
    pub intact: bool,
    /// Events checked.
    pub events: u32,
    /// The first event that does not verify.
    pub broken_at: Option<u32>,
    /// Why, in words.
    pub reason: Option<String>,
}

/// A temporary card's state from its wire name (`unassigned`…).
pub fn temporary_state(name: &str) -> Result<TemporaryCardState> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| Error::Invalid(format!("{name:?} is not a temporary card state")))
}

/// Why a temporary card comes back, from its wire name (`no_longer_needed`, `lost`…).
pub fn return_reason(name: &str) -> Result<TemporaryReturnReason> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|_| Error::Invalid(format!("{name:?} is not a reason to return a temporary card")))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

fn small(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Audit actions that put a new card into someone's hands.
fn is_issuance(action: &str) -> bool {
    action == "record_issuance"
}

impl Session {
    /// The card work the device view offers for `device` (card present),
    /// each allowed or with the domain's reason: request an update or a
    /// reprovision (seed 000), collect `pending` approved updates, unblock
    /// or change the PIN.
    pub(crate) fn card_work(&self, device: &Device, pending: usize) -> Vec<ActionView> {
        let actor = self.actor();
        let existing = self.store().requests_for_device(device.id).unwrap_or_default();
        let latest = self.profile(device.profile.id);
        let refused = |r: Result<(), Refusal>| r.map_err(|r| self.explain(&r));
        let update = |reason: UpdateReason| match &latest {
            Ok(profile) => {
                refused(domain::rules::plan_update(device, profile, reason, &actor, &existing).map(|_| ()))
            }
            Err(_) => Err("the card's credential profile is not known here".to_owned()),
        };
        let collect = if pending > 0 {
            refused(actor.require_use_case(domain::UseCase::Update))
        } else {
            Err("no approved update is waiting for this card".to_owned())
        };
        let change = if device.state.is_issued() {
            refused(actor.require_use_case(domain::UseCase::Pin))
        } else {
            Err(format!("the card is {}", label(device.state.name()).to_lowercase()))
        };
        let action = ActionView::of;
        vec![
            action("request_update", "Request update", update(UpdateReason::ApplyLatestUpdates)),
            action("request_reprovision", "Request reprovision", update(UpdateReason::ReprovisionAllContent)),
            action("collect_updates", "Collect updates", collect),
            action("unblock_pin", "Unblock PIN", refused(domain::rules::check_pin_unblock(device, &actor))),
            action("change_pin", "Change PIN", change),
        ]
    }

    /// What `summary` left on `device`; `pin` goes to `reveals`.
    pub fn card_outcome(
        &self,
        summary: &str,
        device: &Device,
        resumed: bool,
        warnings: Vec<String>,
        pin: Option<&piv::Pin>,
        reveals: &Reveals,
    ) -> CardOutcome {
        CardOutcome {
            summary: summary.into(),
            device_id: device.id.uuid(),
            state: device.state.name().into(),
            state_label: label(device.state.name()),
            holder: device.owner.map(|p| self.person_ref(p)),
            resumed,
            warnings,
            reveal: pin.map(|p| reveals.keep(p, None)),
        }
    }

    /// What an initialization left on a temporary card.
    pub fn initialized_outcome(&self, done: &crate::Initialized, reveals: &Reveals) -> CardOutcome {
        let card = &done.card;
        CardOutcome {
            summary: "Temporary card initialized".into(),
            device_id: card.id.uuid(),
            state: card.state.name().into(),
            state_label: label(card.state.name()),
            holder: card.holder.map(|p| self.person_ref(p)),
            resumed: done.resumed,
            warnings: done.warnings.clone(),
            reveal: done.pin.as_ref().map(|p| reveals.keep(p, None)),
        }
    }

    /// Temporary cards in `state` (all when `None`), as listed.
    pub fn temporary_rows(&self, state: Option<TemporaryCardState>) -> Result<Vec<TemporaryRow>> {
        Ok(self
            .temporary_cards(state)?
            .into_iter()
            .map(|v| {
                let card = v.card;
                TemporaryRow {
                    id: card.id.uuid(),
                    serial: card.serial.clone(),
                    profile_name: self
                        .profile(card.profile.id)
                        .map(|p| p.settings.name)
                        .unwrap_or_else(|_| "unknown profile".into()),
                    state: card.state.name().into(),
                    state_label: label(card.state.name()),
                    holder: v.holder_person.map(|p| PersonRef { id: p.id.uuid(), name: p.display_name() }),
                    assigned_until: card.assigned_until.map(rfc3339),
                    permanent_card: v.permanent_card_state.map(|s| label(s.name())),
                }
            })
            .collect())
    }

    /// UC-AUDIT for a window: the events matching `query`, and the charts.
    pub fn audit_report(&self, query: &AuditQuery) -> Result<AuditReport> {
        let rows = self.audit(&query.to_filter()?)?;
        let mut per_day: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
        for row in rows.iter().filter(|r| r.outcome == "success" && is_issuance(&r.action)) {
            let day = rfc3339(row.at).chars().take(10).collect::<String>();
            *per_day.entry(day).or_default() += 1;
        }
        Ok(AuditReport {
            entries: rows.into_iter().map(audit_entry).collect(),
            issued_per_day: per_day.into_iter().map(|(day, cards)| DayCount { day, cards }).collect(),
            batch_readers: self.batch_throughput()?,
        })
    }

    /// Cards done per reader in this station's batches, with their pace.
    fn batch_throughput(&self) -> Result<Vec<ReaderThroughput>> {
        let mut per_reader: std::collections::BTreeMap<String, Vec<OffsetDateTime>> = Default::default();
        for batch in self.store().batches()? {
            for item in self.store().batch_items(batch.id)? {
                if let (store::BatchItemState::Done, Some(reader)) = (item.state, item.reader) {
                    per_reader.entry(reader).or_default().push(item.updated_at);
                }
            }
        }
        Ok(per_reader
            .into_iter()
            .map(|(reader, mut times)| {
                times.sort();
                let span = match (times.first(), times.last()) {
                    (Some(a), Some(b)) if times.len() > 1 => (*b - *a).as_seconds_f64(),
                    _ => 0.0,
                };
                let cards = u32::try_from(times.len()).unwrap_or(u32::MAX);
                // n cards finish n − 1 intervals apart.
                let cards_per_hour = (span > 0.0).then(|| f64::from(cards - 1) * 3600.0 / span);
                ReaderThroughput { reader, cards, cards_per_hour }
            })
            .collect())
    }

    /// The registry's verification of the audit chain.
    pub fn audit_chain(&self) -> Result<ChainView> {
        let report = self.verify_audit()?;
        Ok(ChainView {
            intact: report.intact,
            events: small(report.events),
            broken_at: report.broken_at.map(small),
            reason: report.reason,
        })
    }
}

fn audit_entry(row: AuditRow) -> AuditEntry {
    AuditEntry {
        seq: small(row.seq),
        at: rfc3339(row.at),
        operator: if row.operator.is_empty() { "the registry".into() } else { row.operator },
        action_label: label(&row.action.replace('.', " ")),
        action: row.action,
        object: row.object,
        person: row.person,
        success: row.outcome == "success",
        outcome: row.outcome,
        notes: row.notes,
    }
}
