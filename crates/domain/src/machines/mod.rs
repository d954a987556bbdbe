//! The state machines of SPEC §4.
//!
//! Each machine has two layers:
//! - `next_state(from, command)`: the bare transition table;
//! - `apply(record, command, actor, now)`: use-case enablement, the
//!   transition table, permissions and the §5 rules, then the effects the
//!   caller must carry out on other records.
//!
//! Both are pure: the same code runs on the workstation (to act offline and
//! to explain refusals) and at the registry (which decides).

pub mod card;
pub mod certificate;
pub mod enrollment;
pub mod request;
pub mod temporary_card;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The result of an accepted transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome<S, E> {
    /// State before.
    pub from: S,
    /// State after.
    pub to: S,
    /// When it happened (passed in, never read from a clock).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What the caller must do to other records as a consequence.
    pub effects: Vec<E>,
}

/// Effects of machines whose transitions touch nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoEffect {}

/// A state of any machine, for refusals and audit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "machine", content = "state")]
pub enum AnyState {
    /// A card.
    Card(card::CardState),
    /// A temporary card.
    TemporaryCard(temporary_card::TemporaryCardState),
    /// A request.
    Request(request::RequestState),
    /// A certificate.
    Certificate(certificate::CertificateState),
    /// A provisioning enrollment.
    Enrollment(enrollment::EnrollmentState),
}

impl std::fmt::Display for AnyState {
    /// "card is production failed", "request is pending approval", …
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (machine, state) = match self {
            AnyState::Card(s) => ("card", s.name()),
            AnyState::TemporaryCard(s) => ("temporary card", s.name()),
            AnyState::Request(s) => ("request", s.name()),
            AnyState::Certificate(s) => ("certificate", s.name()),
            AnyState::Enrollment(s) => ("enrollment", s.name()),
        };
        write!(f, "{machine} is {}", state.replace('_', " "))
    }
}
