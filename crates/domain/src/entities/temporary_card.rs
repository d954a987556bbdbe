//! Temporary cards (SPEC §4 Temporary card; UC-TEMP, seed 001).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::entities::profile::ProfileRef;
use crate::ids::{DeviceId, PersonId};
use crate::machines::temporary_card::TemporaryCardState;

/// A temporary card, produced externally and lent to people who forgot or
/// lost their permanent card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporaryCard {
    /// Identity (the CHUID GUID once initialized).
    pub id: DeviceId,
    /// Serial printed on the card, once produced.
    pub serial: Option<String>,
    /// The temporary-card profile it is initialized with.
    pub profile: ProfileRef,
    /// State.
    pub state: TemporaryCardState,
    /// Who holds it now.
    pub holder: Option<PersonId>,
    /// End of the current assignment; the card may expire after it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub assigned_until: Option<OffsetDateTime>,
    /// The holder's permanent card, temporarily inactive while this one is out.
    pub permanent_card: Option<DeviceId>,
}
