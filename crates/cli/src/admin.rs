//! UC-ADMIN from the command line: who may do what (roles, the roles each
//! operator holds) and the use cases on, over the same station calls as the
//! app's Access tab. Names in, names out: roles and operators by name.

use station::{AccessView, ProfileGrant, RoleForm, UseCaseForm};
use uuid::Uuid;

use crate::failure::Failure;
use crate::station::{sign_in, to_json, DataDir};
use crate::text::Table;
use crate::{CommandResult, Output};

/// The administration commands.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Roles with their grants, operators with their roles, use cases.
    Access,
    /// Create a role, or replace the grants of the role of that name.
    Role {
        /// Role name.
        #[arg(long)]
        name: String,
        /// A global permission granted (`unblock_pin`, `view_audit`, …); repeatable.
        #[arg(long = "global")]
        global: Vec<String>,
        /// A per-profile permission on every profile (`can_collect`, …); repeatable.
        #[arg(long = "every-profile")]
        every_profile: Vec<String>,
        /// A per-profile permission on one profile, `PERMISSION=PROFILE_ID`; repeatable.
        #[arg(long = "on-profile", value_parser = parse_on_profile)]
        on_profile: Vec<(String, Uuid)>,
    },
    /// Give an operator exactly these roles (by name; none takes every role away).
    Grant {
        /// The operator's sign-in name.
        #[arg(long)]
        operator: String,
        /// Role names; repeatable.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// The self-enrollment policy of provisioning tasks: change the values given, show it all.
    SelfEnrollment {
        /// Days from a task's creation (or a resend) to its stop date (1–366).
        #[arg(long)]
        period_days: Option<u32>,
        /// Wrong enrollment codes allowed before an enrollment locks (1–20).
        #[arg(long)]
        max_attempts: Option<u32>,
        /// Seconds of inactivity after which a walk-up kiosk ends the session (15–3600).
        #[arg(long)]
        kiosk_idle_secs: Option<u32>,
    },
    /// Switch a use case on or off (`audit`, `request`, …), or the approval step (`approval_step`).
    UseCase {
        /// The use case's key, or `approval_step`.
        key: String,
        /// `on` or `off`.
        #[arg(value_parser = parse_switch, action = clap::ArgAction::Set)]
        state: bool,
    },
}

fn parse_on_profile(text: &str) -> Result<(String, Uuid), String> {
    let (permission, profile) = text.split_once('=').ok_or("expected PERMISSION=PROFILE_ID")?;
    let profile = Uuid::parse_str(profile).map_err(|e| format!("{profile:?} is not a profile id: {e}"))?;
    Ok((permission.to_owned(), profile))
}

fn parse_switch(text: &str) -> Result<bool, String> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("{other:?}: expected on or off")),
    }
}

/// Runs one administration command.
pub fn run(command: AdminCommand, data: &DataDir, _json: bool) -> CommandResult {
    let mut session = sign_in(data)?;
    let view = match command {
        AdminCommand::Access => session.access()?,
        AdminCommand::Role { name, global, every_profile, on_profile } => {
            let current = session.access()?;
            let id = current.roles.iter().find(|r| r.name.eq_ignore_ascii_case(name.trim())).map(|r| r.id);
            let mut per_profile: Vec<ProfileGrant> = every_profile
                .into_iter()
                .map(|permission| ProfileGrant { permission, every_profile: true, profiles: vec![] })
                .collect();
            for (permission, profile) in on_profile {
                match per_profile.iter_mut().find(|g| g.permission == permission) {
                    Some(grant) => grant.profiles.push(profile),
                    None => per_profile.push(ProfileGrant {
                        permission,
                        every_profile: false,
                        profiles: vec![profile],
                    }),
                }
            }
            session.save_role(&RoleForm { id, name, global, per_profile })?
        }
        AdminCommand::Grant { operator, roles } => {
            let current = session.access()?;
            let account = current
                .operators
                .iter()
                .find(|o| o.username == operator)
                .ok_or_else(|| Failure::new("not-found", format!("no operator named {operator:?}")))?;
            let mut ids = Vec::new();
            for name in &roles {
                let role = current
                    .roles
                    .iter()
                    .find(|r| r.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| Failure::new("not-found", format!("no role named {name:?}")))?;
                ids.push(role.id);
            }
            session.set_operator_roles(account.id, &ids)?
        }
        AdminCommand::SelfEnrollment { period_days, max_attempts, kiosk_idle_secs } => {
            let current = session.access()?;
            let mut form = current.self_enrollment;
            if period_days.is_none() && max_attempts.is_none() && kiosk_idle_secs.is_none() {
                current
            } else {
                form.period_days = period_days.unwrap_or(form.period_days);
                form.max_attempts = max_attempts.unwrap_or(form.max_attempts);
                form.kiosk_idle_timeout_secs = kiosk_idle_secs.unwrap_or(form.kiosk_idle_timeout_secs);
                session.set_self_enrollment_policy(&form)?
            }
        }
        AdminCommand::UseCase { key, state } => {
            let current = session.access()?;
            let mut form = UseCaseForm {
                enabled: current.use_cases.iter().filter(|u| u.enabled).map(|u| u.key.clone()).collect(),
                approval_step: current.approval_step,
            };
            if key == "approval_step" {
                form.approval_step = state;
            } else if !current.use_cases.iter().any(|u| u.key == key) {
                return Err(Failure::new("invalid", format!("{key:?} is not a use case")));
            } else {
                form.enabled.retain(|k| *k != key);
                if state {
                    form.enabled.push(key);
                }
            }
            session.set_use_cases(&form)?
        }
    };
    Ok(Output { text: access_text(&view), json: to_json(&view) })
}

fn access_text(view: &AccessView) -> String {
    let mut text = String::from("roles:\n");
    let mut roles = Table::new().indented(2);
    for role in &view.roles {
        roles.row([role.name.clone(), role.grants.join("; ")]);
    }
    text.push_str(&roles.render());
    text.push_str("operators:\n");
    let mut operators = Table::new().indented(2);
    for o in &view.operators {
        let disabled = if o.enabled { "" } else { " (disabled)" };
        operators.row([format!("{} ({}){disabled}", o.name, o.username), o.role_names.join(", ")]);
    }
    text.push_str(&operators.render());
    let on: Vec<&str> = view.use_cases.iter().filter(|u| u.enabled).map(|u| u.key.as_str()).collect();
    text.push_str(&format!("use cases on: {}\n", on.join(", ")));
    text.push_str(&format!("approval step: {}\n", if view.approval_step { "on" } else { "off" }));
    let policy = &view.self_enrollment;
    text.push_str(&format!(
        "self-enrollment: {} days to enroll, locked after {} wrong codes, kiosk idle timeout {} s\n",
        policy.period_days, policy.max_attempts, policy.kiosk_idle_timeout_secs
    ));
    text
}
