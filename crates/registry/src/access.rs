//! UC-ADMIN over the network: deciding role, role-holder and use-case
//! changes, and the directory an administrator reads. Every change keeps at
//! least one enabled operator able to administer, so no edit from a window
//! can lock the deployment out of its own administration.

use std::collections::BTreeSet;

use domain::{
    Actor, GlobalPermission, OperatorId, Permission, Permissions, ProfileScope, Role, RoleId, UseCase,
    UseCases,
};
use proto::{AccessDirectory, OperatorEntry, SaveRole, SetOperatorRoles, SetUseCases};

use crate::decline::{check_name, check_text, not_found, refuse, Decline};
use crate::error::Result;
use crate::storage::{DeploymentSettings, Tx};

/// Most roles one operator may hold (keeps the audit note bounded).
pub const MAX_ROLES_PER_OPERATOR: usize = 20;
/// Longest role name, in characters.
const MAX_ROLE_NAME: usize = 100;

/// An accepted change to who may do what.
#[derive(Debug)]
pub(crate) enum AccessChange {
    /// Insert or replace a role.
    Role(Role),
    /// Replace the roles of an operator: take `revoke`, give `grant`.
    OperatorRoles { operator: OperatorId, grant: Vec<RoleId>, revoke: Vec<RoleId> },
    /// Replace the deployment settings.
    Settings(DeploymentSettings),
}

impl AccessChange {
    /// Writes the change.
    pub(crate) fn apply(&self, tx: &mut dyn Tx) -> Result<()> {
        match self {
            AccessChange::Role(role) => tx.put_role(role),
            AccessChange::OperatorRoles { operator, grant, revoke } => {
                for role in revoke {
                    tx.revoke_role(*operator, *role)?;
                }
                for role in grant {
                    tx.grant_role(*operator, *role)?;
                }
                Ok(())
            }
            AccessChange::Settings(settings) => tx.put_settings(settings),
        }
    }
}

/// Administer and the administration use case: what every change here needs.
pub(crate) fn require_admin(actor: &Actor) -> Result<(), Decline> {
    actor.require_use_case(UseCase::Admin)?;
    actor.require(Permission::global(GlobalPermission::Administer))?;
    Ok(())
}

/// Decides `save_role`.
pub(crate) fn save_role(tx: &mut dyn Tx, actor: &Actor, op: &SaveRole) -> Result<AccessChange, Decline> {
    require_admin(actor)?;
    let mut role = op.role.clone();
    role.name = role.name.trim().to_owned();
    check_text("role name", &role.name, true)?;
    check_name("role name", &role.name)?;
    if role.name.chars().count() > MAX_ROLE_NAME {
        return refuse("invalid", format!("a role name has at most {MAX_ROLE_NAME} characters"));
    }
    // Names differing only in case would read as one role in every list.
    let lower = role.name.to_lowercase();
    if let Some(other) = tx.roles()?.into_iter().find(|r| r.id != role.id && r.name.to_lowercase() == lower) {
        return refuse("already_exists", format!("a role named {:?} already exists", other.name));
    }
    // A grant on no profile at all grants nothing: drop it.
    role.per_profile.retain(|_, scope| !matches!(scope, ProfileScope::Only(p) if p.is_empty()));
    for scope in role.per_profile.values() {
        if let ProfileScope::Only(profiles) = scope {
            for profile in profiles {
                if tx.latest_profile(*profile)?.is_none() {
                    return not_found("credential profile", profile);
                }
            }
        }
    }
    if tx.role(role.id)?.as_ref() == Some(&role) {
        return refuse("unchanged", format!("role {:?} already grants exactly this", role.name));
    }
    keep_an_administrator(tx, Some(&role), None)?;
    Ok(AccessChange::Role(role))
}

/// Decides `set_operator_roles`.
pub(crate) fn set_operator_roles(
    tx: &mut dyn Tx,
    actor: &Actor,
    op: &SetOperatorRoles,
) -> Result<AccessChange, Decline> {
    require_admin(actor)?;
    let Some(account) = tx.operator(op.operator)? else {
        return not_found("operator", op.operator);
    };
    let wanted: BTreeSet<RoleId> = op.roles.iter().copied().collect();
    if wanted.len() > MAX_ROLES_PER_OPERATOR {
        return refuse("invalid", format!("an operator holds at most {MAX_ROLES_PER_OPERATOR} roles"));
    }
    for role in &wanted {
        if tx.role(*role)?.is_none() {
            return not_found("role", role);
        }
    }
    let held: BTreeSet<RoleId> = account.operator.roles.iter().copied().collect();
    if held == wanted {
        return refuse(
            "unchanged",
            format!("{} already holds exactly these roles", account.operator.username),
        );
    }
    let wanted_list: Vec<RoleId> = wanted.iter().copied().collect();
    keep_an_administrator(tx, None, Some((op.operator, &wanted_list)))?;
    Ok(AccessChange::OperatorRoles {
        operator: op.operator,
        grant: wanted.difference(&held).copied().collect(),
        revoke: held.difference(&wanted).copied().collect(),
    })
}

/// Decides `set_use_cases`.
pub(crate) fn set_use_cases(
    tx: &mut dyn Tx,
    actor: &Actor,
    op: &SetUseCases,
) -> Result<AccessChange, Decline> {
    require_admin(actor)?;
    let mut use_cases = UseCases::all();
    for use_case in UseCase::ALL {
        if !op.enabled.contains(&use_case) {
            if let Err(e) = use_cases.disable(use_case) {
                return refuse("use_case_required", e.to_string());
            }
        }
    }
    let current = tx.settings()?;
    // The self-enrollment policy is not part of this operation: kept as it is.
    let settings = DeploymentSettings {
        use_cases,
        approval_step: op.approval_step,
        self_enrollment: current.self_enrollment,
    };
    if current == settings {
        return refuse("unchanged", "the use cases and the approval step are already so");
    }
    Ok(AccessChange::Settings(settings))
}

/// Sets the self-enrollment policy (Administer): each value within its bounds.
pub(crate) fn set_self_enrollment_policy(
    tx: &mut dyn Tx,
    actor: &Actor,
    op: &proto::SetSelfEnrollmentPolicy,
) -> Result<AccessChange, Decline> {
    require_admin(actor)?;
    let bounds = [
        ("the enrollment period", op.period_days, 1, 366, "days"),
        ("the wrong codes allowed", op.max_attempts, 1, 20, "codes"),
        ("the kiosk's idle timeout", op.kiosk_idle_timeout_secs, 15, 3600, "seconds"),
    ];
    for (what, value, min, max, unit) in bounds {
        if !(min..=max).contains(&value) {
            return refuse("invalid", format!("{what} must be {min} to {max} {unit}, not {value}"));
        }
    }
    let current = tx.settings()?;
    let policy = domain::SelfEnrollmentPolicy {
        period_days: op.period_days,
        max_attempts: op.max_attempts,
        kiosk_idle_timeout_secs: op.kiosk_idle_timeout_secs,
    };
    if current.self_enrollment == policy {
        return refuse("unchanged", "the self-enrollment policy is already so");
    }
    Ok(AccessChange::Settings(DeploymentSettings { self_enrollment: policy, ..current }))
}

/// Refuses unless, with `role` replaced and `operator` holding `roles`, some
/// enabled operator still holds Administer.
fn keep_an_administrator(
    tx: &mut dyn Tx,
    role: Option<&Role>,
    operator: Option<(OperatorId, &[RoleId])>,
) -> Result<(), Decline> {
    for account in tx.operators()? {
        if !account.operator.enabled {
            continue;
        }
        let ids = match operator {
            Some((id, roles)) if id == account.operator.id => roles.to_vec(),
            _ => account.operator.roles.clone(),
        };
        let mut held = Vec::with_capacity(ids.len());
        for id in ids {
            match role {
                Some(role) if role.id == id => held.push(role.clone()),
                _ => held.extend(tx.role(id)?),
            }
        }
        if Permissions::from_roles(&held).permits(Permission::global(GlobalPermission::Administer)) {
            return Ok(());
        }
    }
    refuse(
        "last_administrator",
        "no enabled operator would hold Administer afterwards: keep it on at least one operator",
    )
}

/// What an administrator reads: every role, operator and the use cases.
pub(crate) fn directory(tx: &mut dyn Tx) -> Result<AccessDirectory> {
    let settings = tx.settings()?;
    let operators = tx
        .operators()?
        .into_iter()
        .map(|a| OperatorEntry {
            id: a.operator.id,
            person: a.operator.person,
            username: a.operator.username,
            enabled: a.operator.enabled,
            roles: a.operator.roles,
        })
        .collect();
    Ok(AccessDirectory {
        roles: tx.roles()?,
        operators,
        use_cases: settings.use_cases.enabled().collect(),
        approval_step: settings.approval_step,
        self_enrollment: settings.self_enrollment,
    })
}

/// The audit note of a role change: its name and grants in words.
pub(crate) fn role_note(role: &Role) -> String {
    let mut grants: Vec<String> = role.global.iter().map(|p| p.title().to_owned()).collect();
    for (permission, scope) in &role.per_profile {
        grants.push(match scope {
            ProfileScope::All => format!("{} (every profile)", permission.title()),
            ProfileScope::Only(p) => format!("{} ({} profiles)", permission.title(), p.len()),
        });
    }
    let name: String = role.name.chars().take(MAX_ROLE_NAME).collect();
    format!("{name}: {}", if grants.is_empty() { "nothing".to_owned() } else { grants.join(", ") })
}
