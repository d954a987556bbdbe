//! Who is acting (SPEC §5 UC-SIGNIN, §7): every transition is decided for an
//! [`Actor`], never for an anonymous caller.

use serde::{Deserialize, Serialize};

use crate::ids::{DeviceId, OperatorId, PersonId, WorkstationId};
use crate::permissions::{Permission, Permissions};
use crate::refusal::Refusal;
use crate::use_case::{UseCase, UseCases};

/// What kind of party is acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ActorKind {
    /// A signed-in operator (who is also a person).
    Operator {
        /// The operator account.
        operator: OperatorId,
        /// The person behind it (for "not your own device" and approver rules).
        person: PersonId,
    },
    /// A cardholder at a walk-up kiosk (UC-WALKUP), identified by an
    /// enrollment code or a card with pending updates.
    Cardholder {
        /// The cardholder.
        person: PersonId,
    },
    /// The registry's own scheduler (expiry by date, superseding requests).
    System,
}

/// The party a decision is made for: identity, permissions, the card they
/// signed in with, and the deployment's use-case switches in force for the
/// session (so the same decision is made on the workstation and the registry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Who.
    pub kind: ActorKind,
    /// Effective permissions (the union of the operator's roles).
    pub permissions: Permissions,
    /// The device the operator signed in with, if any: nobody may act on it (UC-RETIRE).
    pub signed_in_with: Option<DeviceId>,
    /// The workstation acting, for the audit record.
    pub workstation: Option<WorkstationId>,
    /// The deployment's use-case enablement.
    pub use_cases: UseCases,
}

impl Actor {
    /// An operator with the given permissions under `use_cases`.
    pub fn operator(
        operator: OperatorId,
        person: PersonId,
        permissions: Permissions,
        use_cases: UseCases,
    ) -> Self {
        Self {
            kind: ActorKind::Operator { operator, person },
            permissions,
            signed_in_with: None,
            workstation: None,
            use_cases,
        }
    }

    /// A cardholder at a kiosk; holds no operator permission.
    pub fn cardholder(person: PersonId, use_cases: UseCases) -> Self {
        Self {
            kind: ActorKind::Cardholder { person },
            permissions: Permissions::none(),
            signed_in_with: None,
            workstation: None,
            use_cases,
        }
    }

    /// The registry's scheduler. It may only record facts that follow from
    /// dates (expiry) or from other decisions (superseded requests).
    pub fn system() -> Self {
        Self {
            kind: ActorKind::System,
            permissions: Permissions::none(),
            signed_in_with: None,
            workstation: None,
            use_cases: UseCases::all(),
        }
    }

    /// Records the device the operator signed in with.
    pub fn signed_in_with(mut self, device: DeviceId) -> Self {
        self.signed_in_with = Some(device);
        self
    }

    /// Records the workstation.
    pub fn at_workstation(mut self, workstation: WorkstationId) -> Self {
        self.workstation = Some(workstation);
        self
    }

    /// The person acting, if a person is acting.
    pub fn person(&self) -> Option<PersonId> {
        match self.kind {
            ActorKind::Operator { person, .. } | ActorKind::Cardholder { person } => Some(person),
            ActorKind::System => None,
        }
    }

    /// The operator account acting, if an operator is acting.
    pub fn operator_id(&self) -> Option<OperatorId> {
        match self.kind {
            ActorKind::Operator { operator, .. } => Some(operator),
            _ => None,
        }
    }

    /// Whether this is the registry's scheduler.
    pub fn is_system(&self) -> bool {
        matches!(self.kind, ActorKind::System)
    }

    /// Refuses unless the use case is enabled.
    pub fn require_use_case(&self, use_case: UseCase) -> Result<(), Refusal> {
        self.use_cases.require(use_case)
    }

    /// Refuses unless an operator holding `permission` is acting.
    pub fn require(&self, permission: Permission) -> Result<(), Refusal> {
        match self.kind {
            ActorKind::Operator { .. } => self.permissions.require(permission),
            ActorKind::Cardholder { .. } | ActorKind::System => Err(Refusal::OperatorRequired),
        }
    }

    /// Refuses unless an operator is acting (for steps any operator may take).
    pub fn require_operator(&self) -> Result<(), Refusal> {
        match self.kind {
            ActorKind::Operator { .. } => Ok(()),
            _ => Err(Refusal::OperatorRequired),
        }
    }

    /// Refuses unless the registry's scheduler is acting.
    pub fn require_system(&self) -> Result<(), Refusal> {
        if self.is_system() {
            Ok(())
        } else {
            Err(Refusal::SystemOnly)
        }
    }
}
