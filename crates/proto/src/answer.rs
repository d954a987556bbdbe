//! The registry's answer to one operation (SPEC §6: accepted, or rejected
//! with a reason). A replay of the same `op_id` gets the first answer again.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::feed::Record;

/// Accepted or rejected, per operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Answer {
    /// Applied; `result` holds the records as they now are.
    Accepted {
        /// The operation.
        op_id: Uuid,
        /// What it changed.
        result: OperationResult,
    },
    /// Refused; nothing was changed. The workstation rolls its local effect back.
    Rejected {
        /// The operation.
        op_id: Uuid,
        /// Stable machine-readable reason (a `domain::Refusal` code, or one of
        /// the registry's: `not_found`, `already_exists`, `version_conflict`,
        /// `actor_mismatch`, `invalid`, `unsupported`).
        code: String,
        /// The reason in words, for the operator.
        message: String,
    },
}

impl Answer {
    /// The operation answered.
    pub fn op_id(&self) -> Uuid {
        match self {
            Answer::Accepted { op_id, .. } | Answer::Rejected { op_id, .. } => *op_id,
        }
    }

    /// Whether it was applied.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Answer::Accepted { .. })
    }

    /// The rejection code, if rejected.
    pub fn rejection_code(&self) -> Option<&str> {
        match self {
            Answer::Rejected { code, .. } => Some(code),
            Answer::Accepted { .. } => None,
        }
    }
}

/// What an accepted operation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperationResult {
    /// Every record written, in its new state (the same records then appear in the change feed).
    pub records: Vec<Record>,
}

/// The answers to a batch, in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnswerBatch {
    /// One answer per operation.
    pub answers: Vec<Answer>,
}
