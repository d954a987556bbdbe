//! Sync planned as pure functions (stage → plan → apply): given what the
//! outbox holds or what the registry answered, decide what to send and what
//! to write, without I/O. The engine ([`crate::engine`]) stages the inputs,
//! calls these, and applies the plan to the store. Everything the registry
//! says is checked here first: an answer that does not fit what was sent,
//! or a feed page going backwards, is refused before anything is written.

use domain::{OperatorId, WorkstationId};
use proto::{Answer, AnswerBatch, ChangesPage, Operation, OperationBatch, OperationKind};
use store::{OutboxEntry, RecordKind, RemoteChange};
use uuid::Uuid;

use crate::error::{Error, Result};

/// An outbox entry that can never be sent (its payload is not an operation
/// this program knows): it is rejected locally, with this code.
pub const UNSENDABLE: &str = "unsendable";

/// An operation rejected without asking the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRejection {
    /// The operation.
    pub op_id: Uuid,
    /// Why, for the operator.
    pub message: String,
}

/// What to push next.
#[derive(Debug, Clone, PartialEq)]
pub struct PushPlan {
    /// The batch to send, in outbox order.
    pub batch: OperationBatch,
    /// Operations to reject locally.
    pub unsendable: Vec<LocalRejection>,
}

impl PushPlan {
    /// The ids sent, in order.
    pub fn sent(&self) -> Vec<Uuid> {
        self.batch.operations.iter().map(|o| o.op_id).collect()
    }
}

/// Builds the next batch from pending outbox entries (oldest first), at most `max` operations.
pub fn plan_push(
    pending: &[OutboxEntry],
    actor: Option<OperatorId>,
    workstation: Option<WorkstationId>,
    max: usize,
) -> PushPlan {
    let mut operations = Vec::new();
    let mut unsendable = Vec::new();
    for entry in pending {
        if operations.len() >= max {
            break;
        }
        match serde_json::from_value::<OperationKind>(entry.payload.clone()) {
            // Each operation goes under the operator who made it; only
            // operations queued before operators were recorded take the
            // signed-in one (the registry refuses a mismatch either way).
            Ok(op) if op.name() == entry.kind => operations.push(Operation {
                op_id: entry.op_id,
                actor: entry.operator.map(OperatorId::new).or(actor),
                workstation,
                created_at: entry.created_at,
                op,
            }),
            Ok(op) => unsendable.push(LocalRejection {
                op_id: entry.op_id,
                message: format!("outbox kind {} does not match its payload ({})", entry.kind, op.name()),
            }),
            Err(e) => unsendable.push(LocalRejection {
                op_id: entry.op_id,
                message: format!("the operation cannot be sent: {e}"),
            }),
        }
    }
    PushPlan { batch: OperationBatch { operations }, unsendable }
}

/// One write decided from the registry's answers.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerStep {
    /// Mark accepted, keeping what the registry returned.
    Accept {
        /// The operation.
        op_id: Uuid,
        /// The registry's result, as JSON.
        result: serde_json::Value,
    },
    /// Mark rejected and roll the local effect back.
    Reject {
        /// The operation.
        op_id: Uuid,
        /// Stable reason code.
        code: String,
        /// Reason in words.
        message: String,
    },
}

/// Matches answers to the operations sent: one answer per operation, same
/// order, same ids; otherwise nothing is applied.
pub fn plan_answers(sent: &[Uuid], answers: &AnswerBatch) -> Result<Vec<AnswerStep>> {
    if answers.answers.len() != sent.len() {
        return Err(Error::Protocol(format!(
            "{} answers for {} operations",
            answers.answers.len(),
            sent.len()
        )));
    }
    sent.iter()
        .zip(&answers.answers)
        .map(|(id, answer)| {
            if answer.op_id() != *id {
                return Err(Error::Protocol(format!("answer for {} where {id} was sent", answer.op_id())));
            }
            Ok(match answer {
                Answer::Accepted { op_id, result } => AnswerStep::Accept {
                    op_id: *op_id,
                    result: serde_json::to_value(result).map_err(|e| Error::Protocol(e.to_string()))?,
                },
                Answer::Rejected { op_id, code, message } => {
                    AnswerStep::Reject { op_id: *op_id, code: code.clone(), message: message.clone() }
                }
            })
        })
        .collect()
}

/// What to write from one feed page.
#[derive(Debug, Clone, PartialEq)]
pub struct PullPlan {
    /// The records, oldest change first.
    pub changes: Vec<RemoteChange>,
    /// The cursor to store with them.
    pub next_cursor: String,
    /// Whether another page follows.
    pub more: bool,
}

fn remote<R: store::Record>(record: &R) -> Result<RemoteChange> {
    Ok(RemoteChange {
        kind: R::KIND,
        key: record.key(),
        doc: Some(serde_json::to_value(record).map_err(|e| Error::Protocol(e.to_string()))?),
    })
}

/// The store's change for one feed record.
pub fn remote_change(record: &proto::Record) -> Result<RemoteChange> {
    match record {
        proto::Record::Person(p) => remote(p),
        proto::Record::Profile(p) => remote(p),
        proto::Record::Device(d) => remote(d),
        proto::Record::Certificate(c) => remote(c),
        proto::Record::Request(r) => remote(r),
        proto::Record::TemporaryCard(t) => remote(t),
    }
}

/// Checks a feed page read from `since` and turns it into store changes:
/// sequence numbers strictly increase and come after `since` (when the
/// cursor is numeric), and the page hands out a cursor.
pub fn plan_page(since: Option<&str>, page: &ChangesPage) -> Result<PullPlan> {
    if page.next_cursor.is_empty() {
        return Err(Error::Protocol("the page has no next cursor".into()));
    }
    let mut last: Option<u64> = since.and_then(|s| s.parse().ok());
    for change in &page.changes {
        if last.is_some_and(|l| change.seq <= l) {
            return Err(Error::Protocol(format!(
                "change {} does not follow {}",
                change.seq,
                last.unwrap_or(0)
            )));
        }
        last = Some(change.seq);
    }
    if page.more && page.changes.is_empty() {
        return Err(Error::Protocol("an empty page claims more follow".into()));
    }
    let changes = page.changes.iter().map(|c| remote_change(&c.record)).collect::<Result<Vec<_>>>()?;
    debug_assert!(changes.iter().all(|c| RecordKind::ALL.contains(&c.kind)));
    Ok(PullPlan { changes, next_cursor: page.next_cursor.clone(), more: page.more })
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{PersonId, PersonStatus};
    use proto::{Change, CreatePerson, OperationResult};
    use store::OpState;
    use time::macros::datetime;

    const NOW: time::OffsetDateTime = datetime!(2026-01-15 10:00 UTC);

    fn create(n: u128) -> OperationKind {
        OperationKind::CreatePerson(CreatePerson {
            id: PersonId::from_u128(n),
            given_name: "A".into(),
            family_name: format!("N{n}"),
            email: None,
            employee_id: None,
        })
    }

    fn entry(n: u128, kind: &str, payload: serde_json::Value) -> OutboxEntry {
        OutboxEntry {
            seq: i64::try_from(n).unwrap(),
            op_id: Uuid::from_u128(n),
            kind: kind.into(),
            payload,
            created_at: NOW,
            state: OpState::Pending,
            attempts: 0,
            last_error: None,
            operator: None,
        }
    }

    #[test]
    fn each_operation_is_pushed_as_the_operator_who_made_it() {
        let (abe, rita) = (OperatorId::from_u128(7), OperatorId::from_u128(8));
        let mut by_abe = entry(1, "create_person", serde_json::to_value(create(1)).unwrap());
        by_abe.operator = Some(abe.uuid());
        let legacy = entry(2, "create_person", serde_json::to_value(create(2)).unwrap());
        let plan = plan_push(&[by_abe, legacy], Some(rita), None, 10);
        let actors: Vec<_> = plan.batch.operations.iter().map(|o| o.actor).collect();
        assert_eq!(
            actors,
            [Some(abe), Some(rita)],
            "abe's stays abe's; an unrecorded one takes the signed-in operator"
        );
    }

    #[test]
    fn push_plan_keeps_order_limits_and_sets_aside_unsendable_entries() {
        let pending = vec![
            entry(1, "create_person", serde_json::to_value(create(1)).unwrap()),
            entry(2, "create_person", serde_json::json!({"kind": "launch_rocket"})),
            entry(3, "approve_request", serde_json::to_value(create(3)).unwrap()),
            entry(4, "create_person", serde_json::to_value(create(4)).unwrap()),
            entry(5, "create_person", serde_json::to_value(create(5)).unwrap()),
        ];
        let plan = plan_push(&pending, None, None, 2);
        assert_eq!(plan.sent(), vec![Uuid::from_u128(1), Uuid::from_u128(4)]);
        assert_eq!(plan.batch.operations[1].op, create(4));
        assert_eq!(plan.batch.operations[0].created_at, NOW, "the action's time, not the push time");
        let bad: Vec<Uuid> = plan.unsendable.iter().map(|r| r.op_id).collect();
        assert_eq!(bad, vec![Uuid::from_u128(2), Uuid::from_u128(3)]);
    }

    #[test]
    fn answers_must_match_what_was_sent() {
        let sent = [Uuid::from_u128(1), Uuid::from_u128(2)];
        let ok = AnswerBatch {
            answers: vec![
                Answer::Accepted { op_id: sent[0], result: OperationResult::default() },
                Answer::Rejected { op_id: sent[1], code: "not_permitted".into(), message: "no".into() },
            ],
        };
        let steps = plan_answers(&sent, &ok).unwrap();
        assert!(matches!(&steps[0], AnswerStep::Accept { op_id, .. } if *op_id == sent[0]));
        assert!(matches!(&steps[1], AnswerStep::Reject { code, .. } if code == "not_permitted"));

        let mut swapped = ok.clone();
        swapped.answers.reverse();
        assert!(matches!(plan_answers(&sent, &swapped), Err(Error::Protocol(_))));
        let mut short = ok;
        short.answers.pop();
        assert!(matches!(plan_answers(&sent, &short), Err(Error::Protocol(_))));
    }

    fn person_change(seq: u64) -> Change {
        Change {
            seq,
            at: NOW,
            record: proto::Record::Person(domain::Person {
                id: PersonId::from_u128(u128::from(seq)),
                given_name: "G".into(),
                family_name: "F".into(),
                email: None,
                employee_id: None,
                photo: None,
                status: PersonStatus::Active,
            }),
        }
    }

    #[test]
    fn feed_pages_must_move_forward() {
        let page = ChangesPage {
            changes: vec![person_change(5), person_change(6)],
            next_cursor: "6".into(),
            more: true,
        };
        let plan = plan_page(Some("4"), &page).unwrap();
        assert_eq!(plan.changes.len(), 2);
        assert_eq!(plan.changes[0].key, PersonId::from_u128(5).to_string());
        assert_eq!((plan.next_cursor.as_str(), plan.more), ("6", true));

        assert!(plan_page(Some("5"), &page).is_err(), "a change already read");
        let backwards = ChangesPage { changes: vec![person_change(6), person_change(5)], ..page.clone() };
        assert!(plan_page(None, &backwards).is_err());
        let no_cursor = ChangesPage { next_cursor: String::new(), ..page.clone() };
        assert!(plan_page(None, &no_cursor).is_err());
        let empty_more = ChangesPage { changes: vec![], next_cursor: "9".into(), more: true };
        assert!(plan_page(None, &empty_more).is_err());
    }
}
