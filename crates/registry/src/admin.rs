//! Administration from the command line (`cardstation-registry init`,
//! `operator add`, `role add/grant`, `profile add`): written straight to
//! storage, each change audited and (for records) put on the change feed.

use domain::{
    AuditObject, AuditOutcome, CredentialProfile, GlobalPermission, Operator, OperatorId, Person, PersonId,
    PersonStatus, ProfileId, ProfilePermission, ProfileScope, ProfileSettings, Role, RoleId,
};
use proto::Record;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit_trail::{append_audit, audit_draft};
use crate::error::{Error, Result};
use crate::password::hash_password;
use crate::storage::{self, DeploymentSettings, OperatorAccount, Storage, Tx};

/// The role `init` gives the first administrator: every permission.
pub const ADMINISTRATORS: &str = "Administrators";

fn audit_admin(tx: &mut dyn Tx, now: OffsetDateTime, action: &str, object: AuditObject) -> Result<()> {
    append_audit(tx, audit_draft(now, None, action, object, AuditOutcome::Success, None)).map(drop)
}

fn put(tx: &mut dyn Tx, now: OffsetDateTime, record: Record) -> Result<()> {
    tx.put_record(&record)?;
    tx.append_change(now, &record)?;
    Ok(())
}

/// A role with every permission on every profile.
pub fn everything_role(id: RoleId, name: &str) -> Role {
    let mut role = Role::new(id, name);
    for permission in GlobalPermission::ALL {
        role = role.with_global(permission);
    }
    for permission in ProfilePermission::ALL {
        role = role.with_profile_permission(permission, ProfileScope::All);
    }
    role
}

/// Sets up a new database: deployment settings, the Administrators role and
/// the first administrator (`username`, `password`). Refuses a database that
/// already has that operator.
pub fn init(
    storage: &dyn Storage,
    settings: &DeploymentSettings,
    username: &str,
    password: &str,
    now: OffsetDateTime,
) -> Result<OperatorId> {
    let hash = hash_password(password)?;
    storage::write(storage, |tx| {
        if tx.operator_by_username(username)?.is_some() {
            return Err(Error::Invalid(format!("operator {username:?} already exists: already initialized")));
        }
        tx.put_settings(settings)?;
        let role = match tx.role_by_name(ADMINISTRATORS)? {
            Some(role) => role,
            None => {
                let role = everything_role(RoleId::new(Uuid::now_v7()), ADMINISTRATORS);
                tx.put_role(&role)?;
                audit_admin(tx, now, "admin.role.add", AuditObject::Role(role.id))?;
                role
            }
        };
        let person = Person {
            id: PersonId::new(Uuid::now_v7()),
            given_name: String::new(),
            family_name: "Administrator".into(),
            email: None,
            employee_id: None,
            photo: None,
            status: PersonStatus::Active,
        };
        put(tx, now, Record::Person(person.clone()))?;
        let id = insert_operator(tx, now, person.id, username, &hash, vec![role.id])?;
        Ok(id)
    })
}

fn insert_operator(
    tx: &mut dyn Tx,
    now: OffsetDateTime,
    person: PersonId,
    username: &str,
    password_hash: &str,
    roles: Vec<RoleId>,
) -> Result<OperatorId> {
    let operator = Operator {
        id: OperatorId::new(Uuid::now_v7()),
        person,
        username: username.to_owned(),
        roles,
        enabled: true,
    };
    tx.insert_operator(&OperatorAccount {
        operator: operator.clone(),
        password_hash: password_hash.to_owned(),
    })?;
    audit_admin(tx, now, "admin.operator.add", AuditObject::Operator(operator.id))?;
    Ok(operator.id)
}

/// What `operator add` creates: a person and their operator account.
#[derive(Debug, Clone)]
pub struct NewOperator {
    /// Sign-in name.
    pub username: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Email.
    pub email: Option<String>,
    /// Roles, by name.
    pub roles: Vec<String>,
}

/// Creates a person and an operator account for them with `password`.
pub fn add_operator(
    storage: &dyn Storage,
    new: &NewOperator,
    password: &str,
    now: OffsetDateTime,
) -> Result<(OperatorId, PersonId)> {
    if new.username.trim().is_empty() || new.family_name.trim().is_empty() {
        return Err(Error::Invalid("username and family name are required".into()));
    }
    let hash = hash_password(password)?;
    storage::write(storage, |tx| {
        if tx.operator_by_username(&new.username)?.is_some() {
            return Err(Error::Invalid(format!("operator {:?} already exists", new.username)));
        }
        let mut roles = Vec::new();
        for name in &new.roles {
            let role =
                tx.role_by_name(name)?.ok_or_else(|| Error::Invalid(format!("no role named {name:?}")))?;
            roles.push(role.id);
        }
        let person = Person {
            id: PersonId::new(Uuid::now_v7()),
            given_name: new.given_name.clone(),
            family_name: new.family_name.clone(),
            email: new.email.clone(),
            employee_id: None,
            photo: None,
            status: PersonStatus::Active,
        };
        put(tx, now, Record::Person(person.clone()))?;
        let id = insert_operator(tx, now, person.id, &new.username, &hash, roles)?;
        Ok((id, person.id))
    })
}

/// Adds a role (its name must be new).
pub fn add_role(storage: &dyn Storage, role: &Role, now: OffsetDateTime) -> Result<()> {
    storage::write(storage, |tx| {
        if tx.role_by_name(&role.name)?.is_some() {
            return Err(Error::Invalid(format!("a role named {:?} already exists", role.name)));
        }
        tx.put_role(role)?;
        audit_admin(tx, now, "admin.role.add", AuditObject::Role(role.id))
    })
}

/// Gives operator `username` the role `role_name`.
pub fn grant_role(storage: &dyn Storage, username: &str, role_name: &str, now: OffsetDateTime) -> Result<()> {
    storage::write(storage, |tx| {
        let account = tx
            .operator_by_username(username)?
            .ok_or_else(|| Error::Invalid(format!("no operator named {username:?}")))?;
        let role = tx
            .role_by_name(role_name)?
            .ok_or_else(|| Error::Invalid(format!("no role named {role_name:?}")))?;
        tx.grant_role(account.operator.id, role.id)?;
        audit_admin(tx, now, "admin.role.grant", AuditObject::Operator(account.operator.id))
    })
}

/// Adds version 1 of a credential profile.
pub fn add_profile(
    storage: &dyn Storage,
    id: ProfileId,
    settings: ProfileSettings,
    now: OffsetDateTime,
) -> Result<CredentialProfile> {
    let profile = CredentialProfile::create(id, settings).map_err(|e| Error::Invalid(e.to_string()))?;
    storage::write(storage, |tx| {
        if tx.latest_profile(id)?.is_some() {
            return Err(Error::Invalid(format!("credential profile {id} already exists")));
        }
        put(tx, now, Record::Profile(profile.clone()))?;
        audit_admin(tx, now, "admin.profile.add", AuditObject::Profile(id))?;
        Ok(profile.clone())
    })
}

/// Replaces the deployment settings (use cases, approval step).
pub fn set_settings(storage: &dyn Storage, settings: &DeploymentSettings, now: OffsetDateTime) -> Result<()> {
    storage::write(storage, |tx| {
        tx.put_settings(settings)?;
        audit_admin(tx, now, "admin.settings", AuditObject::None)
    })
}
