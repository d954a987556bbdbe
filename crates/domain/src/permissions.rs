//! Roles and permissions (SPEC §3 Role, §5 UC-SIGNIN "permissions are
//! enforced in the backend").
//!
//! A role grants permissions; some apply per credential profile (Can
//! Request, Can Collect, Can Approve), the rest are global. An operator's
//! effective [`Permissions`] are the union of their roles' grants.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{ProfileId, RoleId};
use crate::refusal::Refusal;

/// Permissions granted per credential profile (SPEC §3 Role; seed 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfilePermission {
    /// Request cards with this profile, or an update to it from another profile.
    CanRequest,
    /// Issue (collect) cards with this profile, or update a card within it.
    CanCollect,
    /// Approve or reject requests for this profile ("Validate Issuance").
    CanApprove,
}

impl ProfilePermission {
    /// All per-profile permissions.
    pub const ALL: [ProfilePermission; 3] =
        [ProfilePermission::CanRequest, ProfilePermission::CanCollect, ProfilePermission::CanApprove];

    /// The name an administrator sees.
    pub const fn title(self) -> &'static str {
        match self {
            ProfilePermission::CanRequest => "Can Request",
            ProfilePermission::CanCollect => "Can Collect",
            ProfilePermission::CanApprove => "Can Approve",
        }
    }
}

/// Permissions not tied to a profile (SPEC §3 Role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlobalPermission {
    /// Order, initialize, assign, withdraw and lock temporary cards (UC-TEMP).
    ManageTemporaryCards,
    /// Create and run batch orders (UC-BATCH).
    ManageBatches,
    /// Create, edit, resend and remove provisioning tasks (UC-PROV).
    ManageProvisioningTasks,
    /// Unblock a cardholder's PIN (UC-PIN).
    UnblockPin,
    /// Deactivate, reactivate and cancel devices; hold, release and revoke certificates (UC-RETIRE).
    CancelRevoke,
    /// Erase a card back to blank stock (UC-RETIRE).
    Erase,
    /// Read the audit log (UC-AUDIT).
    ViewAudit,
    /// Profiles, roles, use-case enablement (UC-ADMIN).
    Administer,
    /// Act as a walk-up kiosk (UC-WALKUP): check enrollment codes and record
    /// the cardholder's own enrollment. A kiosk account holds only this.
    Walkup,
}

impl GlobalPermission {
    /// All global permissions.
    pub const ALL: [GlobalPermission; 9] = [
        GlobalPermission::ManageTemporaryCards,
        GlobalPermission::ManageBatches,
        GlobalPermission::ManageProvisioningTasks,
        GlobalPermission::UnblockPin,
        GlobalPermission::CancelRevoke,
        GlobalPermission::Erase,
        GlobalPermission::ViewAudit,
        GlobalPermission::Administer,
        GlobalPermission::Walkup,
    ];

    /// The name an administrator sees.
    pub const fn title(self) -> &'static str {
        match self {
            GlobalPermission::ManageTemporaryCards => "Manage temporary cards",
            GlobalPermission::ManageBatches => "Manage batches",
            GlobalPermission::ManageProvisioningTasks => "Manage provisioning tasks",
            GlobalPermission::UnblockPin => "Unblock PIN",
            GlobalPermission::CancelRevoke => "Cancel / revoke",
            GlobalPermission::Erase => "Erase",
            GlobalPermission::ViewAudit => "View audit",
            GlobalPermission::Administer => "Administer",
            GlobalPermission::Walkup => "Walk-up kiosk",
        }
    }
}

/// One concrete permission an action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope")]
pub enum Permission {
    /// A per-profile permission on one profile.
    Profile {
        /// Which permission.
        permission: ProfilePermission,
        /// On which profile.
        profile: ProfileId,
    },
    /// A global permission.
    Global {
        /// Which permission.
        permission: GlobalPermission,
    },
}

impl Permission {
    /// Shorthand for a per-profile permission.
    pub const fn on(permission: ProfilePermission, profile: ProfileId) -> Self {
        Permission::Profile { permission, profile }
    }

    /// Shorthand for a global permission.
    pub const fn global(permission: GlobalPermission) -> Self {
        Permission::Global { permission }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permission::Profile { permission, profile } => {
                write!(f, "{} on credential profile {profile}", permission.title())
            }
            Permission::Global { permission } => f.write_str(permission.title()),
        }
    }
}

/// Which profiles a per-profile grant covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "profiles")]
pub enum ProfileScope {
    /// Every profile, present and future.
    All,
    /// Only these profiles.
    Only(BTreeSet<ProfileId>),
}

/// A role: a named set of grants (SPEC §3 Role).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Identity.
    pub id: RoleId,
    /// Display name, e.g. "Issuer".
    pub name: String,
    /// Global permissions granted.
    pub global: BTreeSet<GlobalPermission>,
    /// Per-profile permissions granted, each with its scope.
    pub per_profile: BTreeMap<ProfilePermission, ProfileScope>,
}

impl Role {
    /// A role that grants nothing yet.
    pub fn new(id: RoleId, name: impl Into<String>) -> Self {
        Self { id, name: name.into(), global: BTreeSet::new(), per_profile: BTreeMap::new() }
    }

    /// Adds a global permission.
    pub fn with_global(mut self, permission: GlobalPermission) -> Self {
        self.global.insert(permission);
        self
    }

    /// Adds a per-profile permission over `scope` (merged with an earlier grant of it).
    pub fn with_profile_permission(mut self, permission: ProfilePermission, scope: ProfileScope) -> Self {
        let merged = match (self.per_profile.remove(&permission), scope) {
            (Some(ProfileScope::All), _) | (_, ProfileScope::All) => ProfileScope::All,
            (Some(ProfileScope::Only(mut a)), ProfileScope::Only(b)) => {
                a.extend(b);
                ProfileScope::Only(a)
            }
            (None, only) => only,
        };
        self.per_profile.insert(permission, merged);
        self
    }
}

/// An operator's effective permissions: the union of their roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    global: BTreeSet<GlobalPermission>,
    all_profiles: BTreeSet<ProfilePermission>,
    per_profile: BTreeMap<ProfileId, BTreeSet<ProfilePermission>>,
}

impl Permissions {
    /// No permission at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every permission on every profile (the lab, tests, the first administrator).
    pub fn everything() -> Self {
        Self {
            global: GlobalPermission::ALL.into_iter().collect(),
            all_profiles: ProfilePermission::ALL.into_iter().collect(),
            per_profile: BTreeMap::new(),
        }
    }

    /// The union of the grants of `roles`.
    pub fn from_roles<'a>(roles: impl IntoIterator<Item = &'a Role>) -> Self {
        let mut out = Self::default();
        for role in roles {
            out.global.extend(role.global.iter().copied());
            for (permission, scope) in &role.per_profile {
                match scope {
                    ProfileScope::All => {
                        out.all_profiles.insert(*permission);
                    }
                    ProfileScope::Only(profiles) => {
                        for profile in profiles {
                            out.per_profile.entry(*profile).or_default().insert(*permission);
                        }
                    }
                }
            }
        }
        out
    }

    /// Adds one permission.
    pub fn grant(&mut self, permission: Permission) {
        match permission {
            Permission::Profile { permission, profile } => {
                self.per_profile.entry(profile).or_default().insert(permission);
            }
            Permission::Global { permission } => {
                self.global.insert(permission);
            }
        }
    }

    /// Builder form of [`Permissions::grant`].
    pub fn with(mut self, permission: Permission) -> Self {
        self.grant(permission);
        self
    }

    /// Whether `permission` is held.
    pub fn permits(&self, permission: Permission) -> bool {
        match permission {
            Permission::Profile { permission, profile } => {
                self.all_profiles.contains(&permission)
                    || self.per_profile.get(&profile).is_some_and(|set| set.contains(&permission))
            }
            Permission::Global { permission } => self.global.contains(&permission),
        }
    }

    /// Whether any permission at all is held (an operator with no role holds none).
    pub fn grants_anything(&self) -> bool {
        !self.global.is_empty()
            || !self.all_profiles.is_empty()
            || self.per_profile.values().any(|p| !p.is_empty())
    }

    /// Whether this is a kiosk's grant: walk-up and nothing else. A kiosk
    /// stands unattended, so its credential reads and changes nothing but
    /// the walk-up enrollments it serves.
    pub fn is_kiosk_only(&self) -> bool {
        self.global.len() == 1
            && self.global.contains(&GlobalPermission::Walkup)
            && self.all_profiles.is_empty()
            && self.per_profile.values().all(|p| p.is_empty())
    }

    /// Whether `permission` is held on at least one profile (e.g. whether an
    /// operator may ask for a proof-of-possession challenge before naming a card).
    pub fn permits_on_some_profile(&self, permission: ProfilePermission) -> bool {
        self.all_profiles.contains(&permission)
            || self.per_profile.values().any(|set| set.contains(&permission))
    }

    /// Refuses with [`Refusal::NotPermitted`] unless `permission` is held.
    pub fn require(&self, permission: Permission) -> Result<(), Refusal> {
        if self.permits(permission) {
            Ok(())
        } else {
            Err(Refusal::NotPermitted { permission })
        }
    }
}
