//! People and operators (SPEC §3 Person, Operator).

use serde::{Deserialize, Serialize};

use crate::ids::{OperatorId, PersonId, RoleId};

/// Whether a person is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonStatus {
    /// Current.
    Active,
    /// Left or suspended: no new cards.
    Inactive,
}

/// A person: cardholder, operator or both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Identity.
    pub id: PersonId,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Email address (enrollment emails, UC-PROV).
    pub email: Option<String>,
    /// Employee id from the HR system.
    pub employee_id: Option<String>,
    /// Reference to a stored photo (kept out of the record itself).
    pub photo: Option<String>,
    /// Status.
    pub status: PersonStatus,
}

impl Person {
    /// "Given Family", as lists and audit reports show it (UC-AUDIT: names, not ids).
    pub fn display_name(&self) -> String {
        match (self.given_name.trim(), self.family_name.trim()) {
            ("", family) => family.to_owned(),
            (given, "") => given.to_owned(),
            (given, family) => format!("{given} {family}"),
        }
    }
}

/// An operator: a person with roles who signs in to the workstation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Identity of the account.
    pub id: OperatorId,
    /// The person.
    pub person: PersonId,
    /// Sign-in name.
    pub username: String,
    /// Roles held.
    pub roles: Vec<RoleId>,
    /// Disabled accounts cannot sign in.
    pub enabled: bool,
}
