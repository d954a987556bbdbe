//! UC-PROV from the command line: provisioning tasks (seed 004), over the
//! same station calls the app uses. Tasks by number, people by id; codes
//! are made and mailed by the registry and never shown here.

use domain::{PersonId, ProfileId};
use proto::{ProvisioningTaskList, ProvisioningTaskView};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::station::{sign_in, to_json, DataDir};
use crate::text::{self, Table};
use crate::{CommandResult, Output};

/// The provisioning commands.
#[derive(Debug, clap::Subcommand)]
pub enum ProvisionCommand {
    /// Provision people to enroll a card at a kiosk: each gets an email with a one-time code.
    Create {
        /// The credential profile they enroll.
        #[arg(long)]
        profile: Uuid,
        /// A person's id; repeatable.
        #[arg(long = "person", required = true)]
        people: Vec<Uuid>,
        /// Last day to enroll (YYYY-MM-DD, UTC, or RFC 3339); default: the self-enrollment policy.
        #[arg(long, value_parser = parse_stop_date)]
        stop_date: Option<OffsetDateTime>,
    },
    /// The task list (completed and removed tasks are left out; `--all`: the report).
    List {
        /// Every task, completed and removed ones too.
        #[arg(long)]
        all: bool,
    },
    /// One task with every user.
    Show {
        /// The task's number.
        task: String,
    },
    /// Remove users (irreversible; their codes stop at once) and/or set a new stop date.
    Edit {
        /// The task's number.
        task: String,
        /// A person to remove; repeatable.
        #[arg(long = "remove")]
        remove: Vec<Uuid>,
        /// Email the removed users that their enrollment was cancelled.
        #[arg(long)]
        notify: bool,
        /// The new stop date (earlier or later, not past).
        #[arg(long, value_parser = parse_stop_date)]
        stop_date: Option<OffsetDateTime>,
    },
    /// Remove a task: users who have not completed can no longer enroll.
    Remove {
        /// The task's number.
        task: String,
        /// Email the users who had not completed.
        #[arg(long)]
        notify: bool,
    },
    /// Send an active user a new code (the old one stops working).
    Resend {
        /// The task's number.
        task: String,
        /// The person's id.
        #[arg(long)]
        person: Uuid,
        /// Another address, for this message only (not kept).
        #[arg(long = "to")]
        alternate_email: Option<String>,
    },
    /// A person's outstanding tasks.
    Person {
        /// The person's id.
        person: Uuid,
    },
}

fn parse_stop_date(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(at) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok(at);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day =
        time::Date::parse(text, &format).map_err(|_| format!("{text:?}: expected YYYY-MM-DD or RFC 3339"))?;
    // The whole day counts.
    Ok(day.with_hms(23, 59, 59).map_err(|e| e.to_string())?.assume_utc())
}

/// Runs one provisioning command.
pub fn run(command: ProvisionCommand, data: &DataDir, _json: bool) -> CommandResult {
    let mut session = sign_in(data)?;
    match command {
        ProvisionCommand::Create { profile, people, stop_date } => {
            let people: Vec<PersonId> = people.into_iter().map(PersonId::new).collect();
            task(&session.create_provisioning_task(ProfileId::new(profile), &people, stop_date)?)
        }
        ProvisionCommand::List { all } => {
            let list = if all { session.provisioning_report()? } else { session.provisioning_tasks()? };
            Ok(Output { text: list_text(&list), json: to_json(&list) })
        }
        ProvisionCommand::Show { task: number } => task(&session.provisioning_task(&number)?),
        ProvisionCommand::Edit { task: number, remove, notify, stop_date } => {
            let remove: Vec<PersonId> = remove.into_iter().map(PersonId::new).collect();
            task(&session.edit_provisioning_task(&number, &remove, notify, stop_date)?)
        }
        ProvisionCommand::Remove { task: number, notify } => {
            task(&session.remove_provisioning_task(&number, notify)?)
        }
        ProvisionCommand::Resend { task: number, person, alternate_email } => {
            task(&session.resend_enrollment(&number, PersonId::new(person), alternate_email)?)
        }
        ProvisionCommand::Person { person } => {
            let rows = session.person_provisioning(PersonId::new(person))?;
            let mut table = Table::with_header(&["TASK", "STATUS", "UNTIL", "AUTHENTICATION"]);
            for r in &rows.tasks {
                table.row([
                    r.task.to_string(),
                    text::wire_words(&r.status),
                    date(r.stop_date),
                    r.authentication_type.clone().unwrap_or_else(|| "-".into()),
                ]);
            }
            let text = if rows.tasks.is_empty() {
                "no outstanding provisioning task\n".to_owned()
            } else {
                table.render()
            };
            Ok(Output { text, json: to_json(&rows) })
        }
    }
}

fn task(view: &ProvisioningTaskView) -> CommandResult {
    let mut text = format!(
        "task {} by {}: {}, {} to {}{}\n",
        view.number,
        view.operator,
        text::count(view.count as usize, "user", "users"),
        date(view.start_date),
        date(view.stop_date),
        if view.removed {
            ", removed"
        } else if view.completed {
            ", completed"
        } else {
            ""
        },
    );
    let mut table = Table::new().indented(2);
    for u in &view.users {
        table.row([
            u.person_name.clone(),
            format!("<{}>", u.email),
            text::wire_words(&u.status),
            format!("until {}", date(u.stop_date)),
            u.serial.as_deref().map(|s| format!("card {s}")).unwrap_or_default(),
        ]);
    }
    text.push_str(&table.render());
    Ok(Output { text, json: to_json(view) })
}

fn list_text(list: &ProvisioningTaskList) -> String {
    if list.tasks.is_empty() {
        return "no provisioning task\n".to_owned();
    }
    let mut table = Table::with_header(&["TASK", "USERS", "BY", "EMAILED TO", "FROM", "UNTIL"]);
    for t in &list.tasks {
        table.row([
            t.number.to_string(),
            t.count.to_string(),
            t.operator.clone(),
            t.emailed_to.to_string(),
            date(t.start_date),
            date(t.stop_date),
        ]);
    }
    table.render() + "next: `cardstation provision show TASK` lists its users\n"
}

fn date(at: OffsetDateTime) -> String {
    text::date(at)
}
