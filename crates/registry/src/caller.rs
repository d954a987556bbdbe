//! Who is calling, as every use case decides for them (a leaf: the
//! service, the operation pipeline and the use-case modules all take it).

use domain::{Actor, GlobalPermission, OperatorId, Permission, PersonId, Refusal, UseCase};

/// Who is calling: a signed-in operator, as the domain sees them.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The operator account.
    pub operator: OperatorId,
    /// The person behind it.
    pub person: PersonId,
    /// Permissions and use cases in force, for the domain's decisions.
    pub actor: Actor,
}

/// Refuses unless a walk-up kiosk (or an operator holding Walk-up) acts under UC-WALKUP.
pub(crate) fn require_kiosk(actor: &Actor) -> Result<(), Refusal> {
    actor.require_use_case(UseCase::Walkup)?;
    actor.require(Permission::global(GlobalPermission::Walkup))
}

/// The cardholder `person` as a kiosk acts for them (UC-WALKUP): the
/// enrollment machine's and the card jobs' actor, at the kiosk's workstation.
pub(crate) fn cardholder(caller: &Caller, person: PersonId) -> Actor {
    let mut actor = Actor::cardholder(person, caller.actor.use_cases.clone());
    actor.workstation = caller.actor.workstation;
    actor
}
