//! Requests (jobs) (SPEC §3 Request; UC-REQUEST, UC-UPDATE, UC-APPROVE).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{DeviceId, PersonId, ProfileId, RequestId};
use crate::machines::request::RequestState;
use crate::use_case::UseCase;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// Issue a new card (UC-REQUEST).
    Issue,
    /// Apply the latest profile version to a card (UC-UPDATE "Apply latest updates").
    Update,
    /// Erase and re-encode a card completely (UC-UPDATE "Reprovision all content").
    Reprovision,
    /// A temporary card for a person (UC-TEMP).
    Temporary,
    /// Unblock a PIN (UC-PIN).
    Unblock,
    /// Cancel a device (UC-RETIRE).
    Cancel,
}

impl RequestKind {
    /// The use case requests of this kind belong to.
    pub const fn use_case(self) -> UseCase {
        match self {
            RequestKind::Issue => UseCase::Request,
            RequestKind::Update | RequestKind::Reprovision => UseCase::Update,
            RequestKind::Temporary => UseCase::Temp,
            RequestKind::Unblock => UseCase::Pin,
            RequestKind::Cancel => UseCase::Retire,
        }
    }
}

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Identity.
    pub id: RequestId,
    /// What it asks for.
    pub kind: RequestKind,
    /// State (SPEC §4 Request).
    pub state: RequestState,
    /// The device concerned, if any.
    pub device: Option<DeviceId>,
    /// The person it is for (the recipient), if any.
    pub person: Option<PersonId>,
    /// The credential profile it uses.
    pub profile: ProfileId,
    /// Who asked.
    pub requester: PersonId,
    /// Who approved or rejected it.
    pub approver: Option<PersonId>,
    /// The reason chosen (free text or a reason code).
    pub reason: Option<String>,
    /// Notes; they also go to the audit record.
    pub notes: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Request {
    /// Whether the request is still open (may yet be carried out).
    pub fn is_open(&self) -> bool {
        self.state.is_open()
    }
}
