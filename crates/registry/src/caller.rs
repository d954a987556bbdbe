//! Who is calling, as every use case decides for them (a leaf: the
//! service, the operation pipeline and the use-case modules all take it).

use domain::{Actor, OperatorId, PersonId};

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
