//! The workstation's sync with the registry (SPEC §6, §7).
//!
//! * [`RegistryClient`]: the registry's HTTP API over TLS that trusts only
//!   the certificate pinned at enrollment ([`pin`]); a certificate that does
//!   not match is refused before anything is sent or applied.
//! * [`plan`]: pure functions deciding what to push and what to write from
//!   the registry's answers and feed (stage → plan → apply).
//! * [`Engine`]: pushes the outbox in order, pulls the feed from the stored
//!   cursor, rolls rejected operations back (through the store), retries
//!   with exponential backoff and jitter ([`Backoff`]), and reports status
//!   overall ([`Status`]) — per record it is [`store::Store::record_status`].
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod backoff;
mod client;
pub mod engine;
mod error;
pub mod pin;
pub mod plan;

pub use backoff::Backoff;
pub use client::RegistryClient;
pub use engine::{Connectivity, Engine, PushOutcome, PushedOp, Status, SyncReport};
pub use error::{Error, Result};
pub use pin::Fingerprint;

/// The outbox entry that queues `op`: the registry applies `op_id` once;
/// `created_at` is when `operator` acted (it is pushed only in their session).
pub fn outbox_entry(
    op: &proto::OperationKind,
    op_id: uuid::Uuid,
    created_at: time::OffsetDateTime,
    operator: Option<domain::OperatorId>,
) -> std::result::Result<store::NewOperation, serde_json::Error> {
    Ok(store::NewOperation {
        op_id,
        kind: op.name().to_owned(),
        payload: serde_json::to_value(op)?,
        created_at,
        operator: operator.map(|o| o.uuid()),
    })
}
