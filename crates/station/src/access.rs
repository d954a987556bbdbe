//! UC-ADMIN, who may do what: roles and their grants, the roles each
//! operator holds, and the use cases the deployment has on. Read from the
//! registry (it alone knows every account); changed through its operations
//! like any other action, so a change made offline queues and is sent under
//! the administrator who made it. Grants travel as the domain's snake_case
//! names, so the window never needs its own copy of the permission list.

use std::collections::{BTreeMap, BTreeSet};

use domain::{
    GlobalPermission, OperatorId, Permission, Person, ProfileId, ProfilePermission, ProfileScope, Refusal,
    Role, RoleId, UseCase,
};
use proto::{AccessDirectory, OperationKind, SaveRole, SetOperatorRoles, SetUseCases};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::session::Session;
use crate::view::ActionView;

/// The Access tab: roles, operators, use cases.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct AccessView {
    /// Every role, by name.
    pub roles: Vec<RoleView>,
    /// Every operator account, by name.
    pub operators: Vec<OperatorRow>,
    /// Every use case of SPEC §5, on or off.
    pub use_cases: Vec<UseCaseSwitch>,
    /// Every card request needs an approval (seed 002).
    pub approval_step: bool,
    /// The self-enrollment policy of provisioning tasks (UC-PROV).
    pub self_enrollment: SelfEnrollmentForm,
    /// The permissions a role can grant everywhere.
    pub global_permissions: Vec<Choice>,
    /// The permissions a role grants per credential profile.
    pub profile_permissions: Vec<Choice>,
    /// The credential profiles a per-profile grant can name.
    pub profiles: Vec<ProfileChoice>,
    /// Changing any of it: allowed now, or why not.
    pub change: ActionView,
}

/// A permission or use case as a form offers it.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Choice {
    /// Its name on the wire (`unblock_pin`).
    pub key: String,
    /// In words ("Unblock PIN").
    pub title: String,
}

/// A credential profile a grant can name.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ProfileChoice {
    /// Profile id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
}

/// One role.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct RoleView {
    /// Role id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// What it grants, in words ("Can Collect: Employee, Contractor").
    pub grants: Vec<String>,
    /// Who holds it, by name.
    pub holders: Vec<String>,
    /// The edit form, filled with the role as it is.
    pub form: RoleForm,
}

/// A role as the administrator edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct RoleForm {
    /// The role changed; none to create one.
    pub id: Option<Uuid>,
    /// Its name (unique, case aside).
    pub name: String,
    /// Global permissions granted, by key.
    pub global: Vec<String>,
    /// Per-profile permissions granted.
    pub per_profile: Vec<ProfileGrant>,
}

/// One per-profile permission of a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ProfileGrant {
    /// The permission, by key (`can_collect`).
    pub permission: String,
    /// On every profile, present and future.
    pub every_profile: bool,
    /// Otherwise, on these.
    pub profiles: Vec<Uuid>,
}

/// One operator account.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct OperatorRow {
    /// Account id.
    pub id: Uuid,
    /// Sign-in name.
    pub username: String,
    /// The person's name.
    pub name: String,
    /// Whether the account may sign in.
    pub enabled: bool,
    /// The roles held, by id (the form's ticks).
    pub roles: Vec<Uuid>,
    /// The roles held, by name.
    pub role_names: Vec<String>,
    /// The signed-in operator.
    pub is_you: bool,
}

/// One use case and whether it is on.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct UseCaseSwitch {
    /// Its name on the wire (`issue`).
    pub key: String,
    /// `UC-ISSUE`.
    pub id: String,
    /// "Issue card".
    pub title: String,
    /// On in this deployment.
    pub enabled: bool,
    /// Sign-in and administration cannot be switched off.
    pub required: bool,
}

/// The use cases as the administrator sets them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct UseCaseForm {
    /// Every use case on, by key.
    pub enabled: Vec<String>,
    /// Every card request needs an approval.
    pub approval_step: bool,
}

/// The self-enrollment policy (seed 004), as the administrator sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct SelfEnrollmentForm {
    /// Days from a task's creation (or a resend) to its stop date.
    pub period_days: u32,
    /// Wrong enrollment codes allowed before an enrollment locks.
    pub max_attempts: u32,
    /// Seconds of inactivity after which a walk-up kiosk ends the session.
    pub kiosk_idle_timeout_secs: u32,
}

impl Session {
    /// UC-ADMIN: the self-enrollment policy of provisioning tasks (the
    /// registry checks the bounds).
    pub fn set_self_enrollment_policy(&mut self, form: &SelfEnrollmentForm) -> Result<AccessView> {
        self.may_change_access()?;
        let op = proto::SetSelfEnrollmentPolicy {
            period_days: form.period_days,
            max_attempts: form.max_attempts,
            kiosk_idle_timeout_secs: form.kiosk_idle_timeout_secs,
        };
        self.submit(OperationKind::SetSelfEnrollmentPolicy(op), |_| Ok(()))?;
        self.access()
    }

    /// UC-ADMIN: roles, operators and use cases, read from the registry.
    pub fn access(&self) -> Result<AccessView> {
        self.actor().require(Permission::global(GlobalPermission::Administer))?;
        let directory: AccessDirectory = self.runtime.block_on(self.remote.access(&self.grant.token))?;
        self.access_view(directory)
    }

    /// UC-ADMIN: creates a role or changes one.
    pub fn save_role(&mut self, form: &RoleForm) -> Result<AccessView> {
        self.may_change_access()?;
        let role = form.to_role()?;
        self.submit(OperationKind::SaveRole(SaveRole { role }), |_| Ok(()))?;
        self.access()
    }

    /// UC-ADMIN: gives `operator` exactly `roles`.
    pub fn set_operator_roles(&mut self, operator: Uuid, roles: &[Uuid]) -> Result<AccessView> {
        self.may_change_access()?;
        let op = SetOperatorRoles {
            operator: OperatorId::new(operator),
            roles: roles.iter().map(|r| RoleId::new(*r)).collect(),
        };
        self.submit(OperationKind::SetOperatorRoles(op), |_| Ok(()))?;
        self.access()
    }

    /// UC-ADMIN: switches use cases on and off.
    pub fn set_use_cases(&mut self, form: &UseCaseForm) -> Result<AccessView> {
        self.may_change_access()?;
        let enabled =
            form.enabled.iter().map(|k| parse_key::<UseCase>(k, "use case")).collect::<Result<_>>()?;
        self.submit(
            OperationKind::SetUseCases(SetUseCases { enabled, approval_step: form.approval_step }),
            |_| Ok(()),
        )?;
        self.access()
    }

    fn may_change_access(&self) -> std::result::Result<(), Refusal> {
        let actor = self.actor();
        actor.require(Permission::global(GlobalPermission::Administer))?;
        actor.require_use_case(UseCase::Admin)
    }

    fn access_view(&self, directory: AccessDirectory) -> Result<AccessView> {
        let mut profiles = Vec::new();
        for profile in self.store.profile_versions()?.chunk_by(|a, b| a.id == b.id) {
            if let Some(latest) = profile.first() {
                profiles.push(ProfileChoice { id: latest.id.uuid(), name: latest.settings.name.clone() });
            }
        }
        profiles.sort_by_key(|p| p.name.to_lowercase());
        let profile_names: BTreeMap<Uuid, String> = profiles.iter().map(|p| (p.id, p.name.clone())).collect();
        let role_names: BTreeMap<RoleId, String> =
            directory.roles.iter().map(|r| (r.id, r.name.clone())).collect();
        let mut operators = Vec::new();
        for entry in &directory.operators {
            let name = match self.store.get::<Person>(&entry.person.to_string())? {
                Some(person) if !person.display_name().trim().is_empty() => person.display_name(),
                _ => entry.username.clone(),
            };
            let mut held: Vec<String> =
                entry.roles.iter().filter_map(|r| role_names.get(r).cloned()).collect();
            held.sort_by_key(|n| n.to_lowercase());
            operators.push(OperatorRow {
                id: entry.id.uuid(),
                username: entry.username.clone(),
                name,
                enabled: entry.enabled,
                roles: entry.roles.iter().map(|r| r.uuid()).collect(),
                role_names: held,
                is_you: entry.id == self.grant.operator,
            });
        }
        operators.sort_by_key(|o| (o.name.to_lowercase(), o.username.clone()));
        let roles = directory
            .roles
            .iter()
            .map(|role| RoleView {
                id: role.id.uuid(),
                name: role.name.clone(),
                grants: grants_in_words(role, &profile_names),
                holders: operators
                    .iter()
                    .filter(|o| o.roles.contains(&role.id.uuid()))
                    .map(|o| o.name.clone())
                    .collect(),
                form: RoleForm::of(role),
            })
            .collect();
        let on: BTreeSet<UseCase> = directory.use_cases.iter().copied().collect();
        Ok(AccessView {
            roles,
            operators,
            use_cases: UseCase::ALL
                .iter()
                .map(|u| UseCaseSwitch {
                    key: key(u),
                    id: u.spec_id().to_owned(),
                    title: u.title().to_owned(),
                    enabled: on.contains(u),
                    required: !u.can_be_disabled(),
                })
                .collect(),
            approval_step: directory.approval_step,
            self_enrollment: SelfEnrollmentForm {
                period_days: directory.self_enrollment.period_days,
                max_attempts: directory.self_enrollment.max_attempts,
                kiosk_idle_timeout_secs: directory.self_enrollment.kiosk_idle_timeout_secs,
            },
            global_permissions: GlobalPermission::ALL
                .iter()
                .map(|p| Choice { key: key(p), title: p.title().to_owned() })
                .collect(),
            profile_permissions: ProfilePermission::ALL
                .iter()
                .map(|p| Choice { key: key(p), title: p.title().to_owned() })
                .collect(),
            profiles,
            change: ActionView::of(
                "change_access",
                "Save",
                self.may_change_access().map_err(|r| r.to_string()),
            ),
        })
    }
}

impl RoleForm {
    /// The form of `role` as it is.
    fn of(role: &Role) -> RoleForm {
        RoleForm {
            id: Some(role.id.uuid()),
            name: role.name.clone(),
            global: role.global.iter().map(key).collect(),
            per_profile: role
                .per_profile
                .iter()
                .map(|(permission, scope)| ProfileGrant {
                    permission: key(permission),
                    every_profile: matches!(scope, ProfileScope::All),
                    profiles: match scope {
                        ProfileScope::All => Vec::new(),
                        ProfileScope::Only(p) => p.iter().map(|id| id.uuid()).collect(),
                    },
                })
                .collect(),
        }
    }

    /// The role this form describes (a new id when it has none).
    fn to_role(&self) -> Result<Role> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(Error::Invalid("a role needs a name".into()));
        }
        let id = RoleId::new(self.id.unwrap_or_else(Uuid::now_v7));
        let mut role = Role::new(id, name);
        for k in &self.global {
            role = role.with_global(parse_key(k, "permission")?);
        }
        for grant in &self.per_profile {
            let permission: ProfilePermission = parse_key(&grant.permission, "permission")?;
            let scope = if grant.every_profile {
                ProfileScope::All
            } else if grant.profiles.is_empty() {
                continue;
            } else {
                ProfileScope::Only(grant.profiles.iter().map(|p| ProfileId::new(*p)).collect())
            };
            role = role.with_profile_permission(permission, scope);
        }
        Ok(role)
    }
}

/// What `role` grants, one line per permission, profiles by name.
fn grants_in_words(role: &Role, profiles: &BTreeMap<Uuid, String>) -> Vec<String> {
    let mut out: Vec<String> = role.global.iter().map(|p| p.title().to_owned()).collect();
    for (permission, scope) in &role.per_profile {
        let on = match scope {
            ProfileScope::All => "every profile".to_owned(),
            ProfileScope::Only(ids) => ids
                .iter()
                .map(|id| {
                    profiles.get(&id.uuid()).cloned().unwrap_or_else(|| "a profile not synced yet".into())
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        out.push(format!("{}: {on}", permission.title()));
    }
    out
}

/// The snake_case wire name of a domain enum value.
fn key<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The domain enum value named `text`; an unknown name is a typed error.
fn parse_key<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| Error::Invalid(format!("{text:?} is not a {what}")))
}
