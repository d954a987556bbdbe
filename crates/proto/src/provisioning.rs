//! Provisioning tasks and walk-up enrollment on the wire (UC-PROV, UC-WALKUP;
//! seed 004). Operations change tasks through `/v1/operations`; the views
//! are read from `/v1/provisioning/…` and `/v1/people/{id}/provisioning`.
//! No type here carries an enrollment code except the kiosk's inputs
//! ([`EnrollmentCode`]), which redact it from `Debug`.

use domain::{DeviceId, EnrollmentId, EnrollmentState, PersonId, ProfileId, TaskId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::secret::EnrollmentCode;

/// Create a provisioning task (seed 004): each person gets an enrollment
/// email with a one-time code; the registry numbers the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProvisioningTask {
    /// Client-made id of the task.
    #[schema(value_type = String, format = Uuid)]
    pub task: TaskId,
    /// The credential profile the users enroll ("Authentication Type").
    #[schema(value_type = String, format = Uuid)]
    pub profile: ProfileId,
    /// The users, each with a client-made enrollment id; one at least.
    #[schema(min_items = 1, max_items = 1000)]
    pub invitees: Vec<ProvisioningInvitee>,
    /// The date by which all users must have enrolled; absent: the
    /// self-enrollment policy's period from now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub stop_date: Option<OffsetDateTime>,
}

/// One user to provision; the email goes to the address on their person record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningInvitee {
    /// Client-made id of the user's enrollment.
    #[schema(value_type = String, format = Uuid)]
    pub enrollment: EnrollmentId,
    /// The user (an active person with an email address).
    #[schema(value_type = String, format = Uuid)]
    pub person: PersonId,
}

/// Edit a task (seed 004 "Edit"): remove users (irreversible; their codes
/// stop working at once) and/or set a new stop date (earlier or later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditProvisioningTask {
    /// The task.
    #[schema(value_type = String, format = Uuid)]
    pub task: TaskId,
    /// Enrollments to remove.
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 1000)]
    pub remove: Vec<EnrollmentId>,
    /// Email the removed users that their enrollment was cancelled.
    #[serde(default)]
    pub notify_removed: bool,
    /// The new stop date of the task and its active users.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub stop_date: Option<OffsetDateTime>,
}

/// Remove a task (seed 004 "Remove"): users who have not completed can no
/// longer enroll; completed ones stay for reporting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveProvisioningTask {
    /// The task.
    #[schema(value_type = String, format = Uuid)]
    pub task: TaskId,
    /// Email the users who had not completed that their enrollment was cancelled.
    #[serde(default)]
    pub notify_removed: bool,
}

/// Resend the enrollment email to one active user with a fresh code (the
/// old one stops working); their stop date moves per the self-enrollment policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendEnrollment {
    /// The task.
    #[schema(value_type = String, format = Uuid)]
    pub task: TaskId,
    /// The user's enrollment.
    #[schema(value_type = String, format = Uuid)]
    pub enrollment: EnrollmentId,
    /// An address for this message only; not kept.
    #[serde(default)]
    pub alternate_email: Option<String>,
}

/// A walk-up kiosk starts the user's card (UC-WALKUP): the registry makes
/// the card record and its request, approved by the task that invited the
/// user, under the task's credential profile. The code is checked again
/// (a wrong one counts toward the lock-out) and stays usable until the card
/// is enrolled. One unfinished card per enrollment: the same code resumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartWalkupCard {
    /// The task (from the code check).
    #[schema(value_type = String, format = Uuid)]
    pub task: TaskId,
    /// The user's enrollment (from the code check).
    #[schema(value_type = String, format = Uuid)]
    pub enrollment: EnrollmentId,
    /// The code the user entered (checked again; never stored or echoed).
    pub code: EnrollmentCode,
    /// Client-made id of the card request.
    #[schema(value_type = String, format = Uuid)]
    pub request: domain::RequestId,
    /// Client-made id of the card record.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
}

/// The walk-up kiosk finished encoding the user's card (UC-WALKUP): the
/// enrollment records the card and its code is used up. Until then the code
/// keeps working, so a card pulled mid-encode resumes with the same code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordWalkupEnrollment {
    /// The task (from the code check).
    #[schema(value_type = String, format = Uuid)]
    pub task: TaskId,
    /// The user's enrollment (from the code check).
    #[schema(value_type = String, format = Uuid)]
    pub enrollment: EnrollmentId,
    /// The code the user entered (checked again; never stored or echoed).
    pub code: EnrollmentCode,
    /// The card's device record: the user's, issued.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
}

/// The user authenticated with the enrolled card for the first time (the
/// kiosk's final PIN verification counts): the enrollment is completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordWalkupAuthentication {
    /// The task (from the code check).
    #[schema(value_type = String, format = Uuid)]
    pub task: TaskId,
    /// The user's enrollment.
    #[schema(value_type = String, format = Uuid)]
    pub enrollment: EnrollmentId,
    /// The card it was enrolled with.
    #[schema(value_type = String, format = Uuid)]
    pub device: DeviceId,
}

/// `POST /v1/walkup/code`: what the user typed at the kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckEnrollmentCode {
    /// The code, with or without its hyphens.
    pub code: EnrollmentCode,
}

/// Whom a right code names (never the code itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WalkupInvitation {
    /// The task.
    #[schema(value_type = String, format = Uuid)]
    pub task: TaskId,
    /// The task's number.
    pub task_number: u64,
    /// The user's enrollment.
    #[schema(value_type = String, format = Uuid)]
    pub enrollment: EnrollmentId,
    /// The user.
    #[schema(value_type = String, format = Uuid)]
    pub person: PersonId,
    /// Their name, to greet them.
    pub person_name: String,
    /// The credential profile to encode.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub profile: Option<ProfileId>,
    /// The profile's version at the task's creation.
    pub profile_version: Option<u32>,
    /// The credential profile the kiosk encodes (its latest version): a
    /// kiosk replicates no records, and shows the cardholder its PIN policy.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub credential_profile: Option<domain::CredentialProfile>,
    /// The user's own record, for their card's certificate subjects (name,
    /// email, employee id): the kiosk replicates nothing.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub holder: Option<domain::Person>,
    /// Enroll before this.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub stop_date: OffsetDateTime,
    /// A card already enrolled with this code whose first authentication is pending.
    pub serial: Option<String>,
    /// The card a kiosk started with this code and has not finished: the
    /// kiosk resumes it instead of starting another.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub walkup_device: Option<DeviceId>,
    /// Seconds of inactivity after which the kiosk ends the session (policy).
    pub kiosk_idle_timeout_secs: u32,
}

/// One user of a task, as the details show them (seed 004 "Status", "Serial Number").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentView {
    /// The enrollment.
    #[schema(value_type = String, format = Uuid)]
    pub enrollment: EnrollmentId,
    /// The user.
    #[schema(value_type = String, format = Uuid)]
    pub person: PersonId,
    /// Their name.
    pub person_name: String,
    /// The address the enrollment email goes to.
    pub email: String,
    /// active, completed, locked, expired or removed (expired as soon as
    /// the stop date passes).
    #[schema(value_type = String)]
    pub status: EnrollmentState,
    /// Their stop date.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub stop_date: OffsetDateTime,
    /// Wrong codes so far.
    pub failed_attempts: u32,
    /// Serial of the enrolled card.
    pub serial: Option<String>,
}

/// A task with every column of seed 004's list and details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProvisioningTaskView {
    /// Its id.
    #[schema(value_type = String, format = Uuid)]
    pub id: TaskId,
    /// "Task": the number the registry gave it.
    pub number: u64,
    /// "Operator": the name of the operator who created it.
    pub operator: String,
    /// "Emailed to": the last address an enrollment email went to.
    pub emailed_to: String,
    /// "Start Date".
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start_date: OffsetDateTime,
    /// "Stop Date".
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub stop_date: OffsetDateTime,
    /// "Count": the number of users.
    pub count: u64,
    /// "Authentication Type": the credential profile's name.
    pub authentication_type: Option<String>,
    /// Removed by an operator.
    pub removed: bool,
    /// Every user completed: shown in reports only.
    pub completed: bool,
    /// The users.
    pub users: Vec<EnrollmentView>,
}

/// The task list or the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProvisioningTaskList {
    /// Tasks, by number.
    pub tasks: Vec<ProvisioningTaskView>,
}

/// One outstanding task of a person (seed 004 "View provisioning tasks for a user").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PersonProvisioningRow {
    /// "Task": its number.
    pub task: u64,
    /// The task's id.
    #[schema(value_type = String, format = Uuid)]
    pub task_id: TaskId,
    /// The person's enrollment in it.
    #[schema(value_type = String, format = Uuid)]
    pub enrollment: EnrollmentId,
    /// "Requester": the name of the operator who created the task.
    pub requester: String,
    /// "Provisioned to": the address the enrollment email was sent to.
    pub provisioned_to: String,
    /// "Start Date".
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start_date: OffsetDateTime,
    /// "Stop Date": the person's.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub stop_date: OffsetDateTime,
    /// "Status".
    #[schema(value_type = String)]
    pub status: EnrollmentState,
    /// "Authentication Type": the credential profile's name.
    pub authentication_type: Option<String>,
}

/// A person's outstanding tasks (empty: the table is not shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PersonProvisioning {
    /// Outstanding tasks, by number.
    pub tasks: Vec<PersonProvisioningRow>,
}
