//! Writing the audit chain (a leaf every module that audits calls; the
//! chain's rules are `domain`'s, its anchor is [`crate::anchor`]).

use domain::{AuditDraft, AuditEvent, AuditEventId, AuditObject, AuditOutcome, OperatorId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Result;
use crate::storage::Tx;

/// Appends an audit event to the chain inside the transaction, sealed with
/// the storage's audit key when it has one (computed here, in memory: no
/// extra round trip to the database).
pub fn append_audit(tx: &mut dyn Tx, draft: AuditDraft) -> Result<AuditEvent> {
    let prev = tx.last_audit()?;
    let event = AuditEvent::append(draft, prev.as_ref());
    let mac = match tx.audit_key() {
        Some(key) => {
            Some(key.event_mac(event.seq, &event.hash).map_err(|e| crate::Error::Authority(e.to_string()))?)
        }
        None => None,
    };
    tx.insert_audit(&event, mac.as_ref())?;
    Ok(event)
}

/// A new audit draft with a fresh id.
pub fn audit_draft(
    at: OffsetDateTime,
    actor: Option<OperatorId>,
    action: impl Into<String>,
    object: AuditObject,
    outcome: AuditOutcome,
    notes: Option<String>,
) -> AuditDraft {
    AuditDraft {
        id: AuditEventId::new(Uuid::now_v7()),
        at,
        actor,
        workstation: None,
        action: action.into(),
        object,
        outcome,
        notes,
    }
}
