//! The operator use cases through the `station` crate: `enroll`, `signin`,
//! `sync`, `person add`, `request`, `approve` / `reject` / `cancel`,
//! `issue`, `read`, `search`, `jobs` (list / resume / rollback).
//!
//! The station's data directory is `--data DIR`, `$CARDSTATION_DATA`, or
//! `~/.local/share/cardstation/station`. The operator's credentials come
//! from `CARDSTATION_OPERATOR` / `CARDSTATION_PASSWORD` or a prompt (the
//! password hidden); every command signs in afresh, so no session token is
//! kept on disk. A PIN a card job produces is shown once, in its result.

use std::io::IsTerminal;
use std::path::PathBuf;

use domain::{DeviceId, PersonId, ProfileId, RequestId};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use station::{CardView, Decision, IssueTarget, NewPerson, Progress, Session, Station};
use uuid::Uuid;

use crate::connect::choose_reader;
use crate::failure::Failure;
use crate::text::{self, Table};
use crate::{secrets, CommandResult, Output};

/// Where the station keeps its enrollment and database.
#[derive(Debug, Clone, clap::Args)]
pub struct DataDir {
    /// The station's data directory.
    #[arg(long = "data", env = "CARDSTATION_DATA", global = true)]
    pub data: Option<PathBuf>,
}

impl DataDir {
    pub(crate) fn path(&self) -> PathBuf {
        self.data.clone().unwrap_or_else(|| {
            let base = std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
                .unwrap_or_else(|| PathBuf::from("."));
            base.join("cardstation/station")
        })
    }
}

/// The station commands.
#[derive(Debug, clap::Subcommand)]
pub enum StationCommand {
    /// Enroll this station with a registry, pinning its certificate fingerprint.
    Enroll {
        /// The registry's URL, e.g. https://registry.example:8443.
        #[arg(long)]
        url: String,
        /// The SHA-256 fingerprint `cardstation-registry serve` printed.
        #[arg(long)]
        fingerprint: String,
    },
    /// Sign in and show the operator's permissions and the enabled use cases.
    Signin,
    /// Push pending actions and pull what changed.
    Sync,
    /// People.
    #[command(subcommand)]
    Person(PersonCommand),
    /// Request a card for a person (UC-REQUEST).
    Request {
        /// The recipient (person id).
        #[arg(long)]
        person: Uuid,
        /// The credential profile id.
        #[arg(long)]
        profile: Uuid,
        /// Reason.
        #[arg(long)]
        reason: Option<String>,
        /// Notes (also in the audit record).
        #[arg(long)]
        notes: Option<String>,
    },
    /// List requests, e.g. the approval queue (`--state pending_approval`) or
    /// the issue queue (`--state approved`).
    Requests {
        /// pending_approval, approved, rejected, cancelled, completed or failed; default: all.
        #[arg(long)]
        state: Option<String>,
        /// Most results.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Approve a request (UC-APPROVE).
    Approve(DecideArgs),
    /// Reject a request (UC-APPROVE).
    Reject(DecideArgs),
    /// Cancel a request (UC-APPROVE).
    Cancel(DecideArgs),
    /// Issue a card for an approved request (UC-ISSUE): encodes the card in the reader.
    /// `--direct --person P --profile F`: "Issue card" without a request to approve
    /// (seed 002, where the deployment enables it).
    Issue {
        /// The approved request.
        #[arg(long, conflicts_with_all = ["device", "direct"])]
        request: Option<Uuid>,
        /// The approved card record.
        #[arg(long, conflicts_with = "direct")]
        device: Option<Uuid>,
        /// Issue directly: the card record and request are made approved at once.
        #[arg(long, requires_all = ["person", "profile"])]
        direct: bool,
        /// The recipient of a direct issue (person id).
        #[arg(long, requires = "direct")]
        person: Option<Uuid>,
        /// The credential profile of a direct issue.
        #[arg(long, requires = "direct")]
        profile: Option<Uuid>,
        /// Reader name (exact or a unique part); default: the only reader with a card.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Read the card in a reader: ours, blank or foreign, and what can be done (UC-READ).
    Read {
        /// Reader name (exact or a unique part); default: the only reader with a card.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Search people, devices and requests (UC-SEARCH).
    Search {
        /// Words to find (names, email, serial, state, …).
        query: String,
        /// Most results.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Interrupted card jobs: list, resume, roll back.
    Jobs {
        #[command(subcommand)]
        command: Option<JobsCommand>,
    },
}

/// `person …`.
#[derive(Debug, clap::Subcommand)]
pub enum PersonCommand {
    /// Register a person (administrators).
    Add {
        /// Given name.
        #[arg(long, default_value = "")]
        given_name: String,
        /// Family name.
        #[arg(long)]
        family_name: String,
        /// Email.
        #[arg(long)]
        email: Option<String>,
        /// Employee id.
        #[arg(long)]
        employee_id: Option<String>,
    },
}

/// `approve|reject|cancel REQUEST [--notes]`.
#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// The request.
    pub request: Uuid,
    /// Notes (in the audit record).
    #[arg(long)]
    pub notes: Option<String>,
}

/// `jobs …`.
#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// Open jobs (default), or all with --all.
    List {
        /// Include finished jobs of the devices with open ones.
        #[arg(long)]
        all: bool,
    },
    /// Resume a job on its card (the open job of the card in the reader if no id is given).
    Resume {
        /// The job.
        job: Option<Uuid>,
        /// Reader name.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Roll a job back: production failed; its certificates that reached no card are revoked.
    Rollback {
        /// The job.
        job: Uuid,
        /// Why.
        #[arg(long, default_value = "rolled back by the operator")]
        reason: String,
    },
}

impl From<station::Error> for Failure {
    fn from(e: station::Error) -> Self {
        let view = e.view();
        let failure = Failure::new(view.code.as_str(), view.message);
        if view.code == station::ErrorCode::Queued {
            return failure.with_next(
                "it is kept on this station and sent by your next command once the registry is back \
                 (or run `cardstation sync`); do not run this one again",
            );
        }
        failure
    }
}

pub(crate) struct Bar(pub(crate) ProgressBar);

impl Progress for Bar {
    fn step(&mut self, index: usize, total: usize, step: &station::CardStep) {
        self.0.set_length(total as u64);
        self.0.set_position(index as u64);
        self.0.set_message(step.to_string());
    }
    fn note(&mut self, notice: &station::Notice) {
        self.0.println(notice.to_string());
    }
}

pub(crate) fn bar(json_output: bool) -> Bar {
    if json_output || !std::io::stderr().is_terminal() {
        return Bar(ProgressBar::hidden());
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    Bar(bar)
}

/// Signs in; refusals of this operator's queued actions not shown to them
/// yet are printed (stderr) and count as shown.
pub(crate) fn sign_in(data: &DataDir) -> Result<Session, Failure> {
    let (session, refused, _) = sign_in_with_refusals(data)?;
    if !refused.is_empty() {
        eprint!("{}", refusals_text(&refused));
    }
    Ok(session)
}

/// Signs in; also returns this operator's refusals not shown yet (now
/// shown) and the name they signed in with.
pub(crate) fn sign_in_with_refusals(
    data: &DataDir,
) -> Result<(Session, Vec<station::OutboxRow>, String), Failure> {
    let (mut session, username) = open_session(data)?;
    let refused = session.take_refusals()?;
    Ok((session, refused, username))
}

fn refusals_text(refused: &[station::OutboxRow]) -> String {
    let mut text = match refused.len() {
        1 => "a queued action of yours was refused by the registry:\n".to_owned(),
        n => format!("{n} queued actions of yours were refused by the registry:\n"),
    };
    let mut table = Table::new().indented(2);
    for r in refused {
        table.row([
            r.kind_label.clone(),
            format!("queued {}", text::time_text(&r.queued_at)),
            r.reason.clone().unwrap_or_else(|| "no reason given".into()),
        ]);
    }
    text.push_str(&table.render());
    text
}

fn open_session(data: &DataDir) -> Result<(Session, String), Failure> {
    let station = Station::open(&data.path())?;
    let username = match secrets::optional("CARDSTATION_OPERATOR") {
        Some(u) => u.to_string(),
        None if std::io::stdin().is_terminal() => {
            eprint!("operator: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Failure::new("bad-input", format!("cannot read the operator name: {e}")))?;
            line.trim().to_owned()
        }
        None => {
            return Err(Failure::new(
                "bad-input",
                "the operator is required: set CARDSTATION_OPERATOR or run on a terminal",
            ))
        }
    };
    let password = secrets::required("CARDSTATION_PASSWORD", "password")?;
    let session = station.sign_in(&username, &password)?;
    Ok((session, username))
}

pub(crate) fn reader_name(wanted: Option<&str>) -> Result<String, Failure> {
    let readers = reader::Readers::establish()?;
    choose_reader(&readers, wanted)
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// `v` as JSON with the new PIN shown once under `pin` (station never
/// serializes a PIN: the terminal that ran the command is its one reveal).
pub(crate) fn with_pin<T: serde::Serialize>(v: &T, pin: Option<&piv::Pin>) -> serde_json::Value {
    let mut json = to_json(v);
    if let Some(object) = json.as_object_mut() {
        object.insert("pin".into(), pin.map(|p| p.expose_secret().into()).unwrap_or(serde_json::Value::Null));
    }
    json
}

fn sync_text(
    report: &station::SyncReport,
    refused: &[station::OutboxRow],
    waiting: &[station::OutboxRow],
) -> String {
    let mut text = format!(
        "sent {}: accepted {}, refused {}; pulled {} change(s)\n",
        report.pushed, report.accepted, report.rejected, report.pulled
    );
    let mut refusals = Table::new().indented(2);
    for answer in &report.answers {
        if let station::PushOutcome::Rejected { message, .. } = &answer.outcome {
            refusals.row([format!("refused: {}", text::words(&answer.kind)), message.clone()]);
        }
    }
    text.push_str(&refusals.render());
    // Refused earlier (a sync whose outcome this operator never saw).
    let earlier: Vec<_> =
        refused.iter().filter(|r| !report.answers.iter().any(|a| a.op_id == r.op_id)).cloned().collect();
    if !earlier.is_empty() {
        text.push_str(&refusals_text(&earlier));
    }
    let others = waiting.iter().filter(|w| !w.yours).count();
    if others > 0 {
        text.push_str(&format!(
            "{} of other operators wait for them to sign in\n",
            text::count(others, "queued action", "queued actions")
        ));
    }
    text
}

fn sync_json(
    report: &station::SyncReport,
    refused: &[station::OutboxRow],
    waiting: &[station::OutboxRow],
) -> serde_json::Value {
    json!({
        "pushed": report.pushed,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "pulled": report.pulled,
        "answers": to_json(&report.answers),
        "refused": to_json(&refused),
        "waiting": to_json(&waiting),
    })
}

/// One request in words: what, for whom, where it stands, and the
/// command that moves it on.
fn request_text(session: &Session, view: &station::RequestView) -> String {
    let r = &view.request;
    let row = session.request_row(r);
    let mut text = format!(
        "request {}: {} for {}, profile {}: {}\n",
        r.id,
        text::words(&row.kind),
        row.person.as_ref().map(|p| p.name.as_str()).unwrap_or("nobody"),
        row.profile_name,
        text::words(&row.state)
    );
    if let Some(d) = &view.device {
        text.push_str(&format!("card {}: {}\n", d.id, text::words(d.state.name())));
    }
    if let Some(next) = request_next(view) {
        text.push_str(&format!("next: {next}\n"));
    }
    text
}

/// The command that moves a request on, where there is one.
fn request_next(view: &station::RequestView) -> Option<String> {
    use domain::{RequestKind, RequestState};
    let r = &view.request;
    match (r.state, r.kind) {
        (RequestState::PendingApproval, _) => {
            Some(format!("an approver runs `cardstation approve {}` (or `reject`)", r.id))
        }
        (RequestState::Approved, RequestKind::Issue) => {
            Some(format!("`cardstation issue --request {}` with a blank card in a reader", r.id))
        }
        (RequestState::Approved, RequestKind::Update | RequestKind::Reprovision) => {
            let device = view.device.as_ref().map(|d| format!(" --device {}", d.id)).unwrap_or_default();
            Some(format!("`cardstation collect{device}` with the card in a reader"))
        }
        _ => None,
    }
}

/// Requests as a table, oldest first.
fn requests_text(session: &Session, views: &[station::RequestView]) -> String {
    if views.is_empty() {
        return "no requests\n".into();
    }
    let mut table = Table::with_header(&["REQUEST", "KIND", "FOR", "PROFILE", "STATE", "CARD", "CREATED"]);
    for view in views {
        let row = session.request_row(&view.request);
        table.row([
            row.id.to_string(),
            text::words(&row.kind),
            row.person.map(|p| p.name).unwrap_or_default(),
            row.profile_name,
            text::words(&row.state),
            view.device.as_ref().map(|d| d.id.to_string()).unwrap_or_default(),
            text::time_text(&row.created_at),
        ]);
    }
    table.render()
}

/// Runs one station command.
pub fn run(command: StationCommand, data: &DataDir, json_output: bool) -> CommandResult {
    match command {
        StationCommand::Enroll { url, fingerprint } => {
            let enrollment = Station::enroll(&data.path(), &url, &fingerprint)?;
            Ok(Output {
                text: format!(
                    "enrolled {} with {} (pinned {})\nnext: `cardstation signin`\n",
                    data.path().display(),
                    enrollment.registry_url,
                    enrollment.fingerprint
                ),
                json: json!({ "data": data.path(), "registry_url": enrollment.registry_url,
                    "fingerprint": enrollment.fingerprint, "workstation": enrollment.workstation }),
            })
        }
        StationCommand::Signin => {
            let (session, refused, username) = sign_in_with_refusals(data)?;
            let who = session.signed_in();
            let names: Vec<&str> = who.use_cases.iter().map(|u| u.title()).collect();
            if who.open_jobs > 0 {
                eprintln!(
                    "{}: see `cardstation jobs list`",
                    text::count(who.open_jobs, "interrupted card job", "interrupted card jobs")
                );
            }
            let view = session.signed_in_view(&username, std::time::Duration::ZERO);
            let mut text = format!(
                "signed in{} as {} ({username}) until {}\npermissions: {}\nuse cases: {}\n",
                if session.is_offline() { " OFFLINE" } else { "" },
                view.display_name,
                text::time(who.expires_at),
                view.permissions.join(", "),
                names.join(", ")
            );
            if session.is_offline() {
                text.push_str(
                    "the registry is unreachable: signed in with the cached verifier; actions are queued and \
                     sent by `cardstation sync` when it is back\n",
                );
            }
            if !refused.is_empty() {
                text.push_str(&refusals_text(&refused));
            }
            Ok(Output {
                text,
                json: {
                    let mut json = to_json(&who);
                    json["offline"] = json!(session.is_offline());
                    json["refused"] = to_json(&refused);
                    json
                },
            })
        }
        StationCommand::Sync => {
            let (mut session, refused, _) = sign_in_with_refusals(data)?;
            // The sign-in's own sync counts: it may have sent the whole queue.
            let report = session.sign_in_report().clone().merged(session.sync()?);
            let waiting = session.sync_status()?.pending;
            Ok(Output {
                text: sync_text(&report, &refused, &waiting),
                json: sync_json(&report, &refused, &waiting),
            })
        }
        StationCommand::Person(PersonCommand::Add { given_name, family_name, email, employee_id }) => {
            let mut session = sign_in(data)?;
            let person = session.create_person(NewPerson { given_name, family_name, email, employee_id })?;
            Ok(Output {
                text: format!(
                    "person {}: {}\nnext: `cardstation request --person {} --profile PROFILE`\n",
                    person.id,
                    person.display_name(),
                    person.id
                ),
                json: to_json(&person),
            })
        }
        StationCommand::Request { person, profile, reason, notes } => {
            let mut session = sign_in(data)?;
            let view = session.request_card(PersonId::new(person), ProfileId::new(profile), reason, notes)?;
            Ok(Output { text: request_text(&session, &view), json: to_json(&view) })
        }
        StationCommand::Requests { state, limit } => {
            let state = state
                .map(|s| {
                    serde_json::from_value::<domain::RequestState>(serde_json::Value::String(s.clone()))
                        .map_err(|_| Failure::new("bad-input", format!("{s:?} is not a request state")))
                })
                .transpose()?;
            let mut session = sign_in(data)?;
            session.sync()?;
            let views = session.requests(state, limit)?;
            let text = requests_text(&session, &views);
            Ok(Output { text, json: json!({ "requests": to_json(&views) }) })
        }
        StationCommand::Approve(a) => decide(data, a, Decision::Approve),
        StationCommand::Reject(a) => decide(data, a, Decision::Reject),
        StationCommand::Cancel(a) => decide(data, a, Decision::Cancel),
        StationCommand::Issue { request, device, direct, person, profile, reader } => {
            let target = match (request, device, direct, person, profile) {
                (Some(r), None, false, ..) => IssueTarget::Request(RequestId::new(r)),
                (None, Some(d), false, ..) => IssueTarget::Device(DeviceId::new(d)),
                (None, None, true, Some(p), Some(f)) => {
                    IssueTarget::Direct { person: PersonId::new(p), profile: ProfileId::new(f) }
                }
                _ => {
                    return Err(Failure::new(
                        "bad-input",
                        "give --request, --device, or --direct --person P --profile F",
                    ))
                }
            };
            let reader = reader_name(reader.as_deref())?;
            let mut session = sign_in(data)?;
            let left = match target {
                IssueTarget::Request(r) => JobOf::Request(r.uuid()),
                IssueTarget::Device(d) | IssueTarget::Walkup(d) => JobOf::Device(d.uuid()),
                IssueTarget::Direct { .. } => JobOf::StartedSince(time::OffsetDateTime::now_utc()),
            };
            let mut progress = bar(json_output);
            let issued = session.issue(target, &reader, &mut progress);
            progress.0.finish_and_clear();
            match issued {
                Ok(issued) => issued_output(&session, issued),
                Err(e) => Err(torn_job_failure(&session, e, left)),
            }
        }
        StationCommand::Read { reader } => {
            let reader = reader_name(reader.as_deref())?;
            let session = sign_in(data)?;
            let view = session.read_card(&reader)?;
            let text = match &view {
                CardView::Ours { device, owner, open_job, actions, pending_updates, .. } => {
                    let mut t = format!(
                        "our card: device {} ({}), holder {}\n",
                        device.id,
                        text::words(device.state.name()),
                        owner.as_ref().map(|p| p.display_name()).unwrap_or_else(|| "none".into())
                    );
                    if let Some(job) = open_job {
                        t.push_str(&format!("interrupted job {job}: `cardstation jobs resume {job}`\n"));
                    }
                    for r in pending_updates {
                        t.push_str(&format!("update to collect: request {r} (`cardstation collect`)\n"));
                    }
                    if !actions.is_empty() {
                        t.push_str("what can be done:\n");
                    }
                    for a in actions {
                        t.push_str(&format!(
                            "  {}{}\n",
                            a.command,
                            a.refusal.as_ref().map(|r| format!(" — not allowed: {}", session.explain(r))).unwrap_or_default()
                        ));
                    }
                    t
                }
                CardView::Temporary { temporary, open_job, holder, .. } => {
                    let mut t = format!(
                        "temporary card {} ({}): {}{}\n",
                        temporary.id,
                        temporary.serial.as_deref().unwrap_or("no serial"),
                        text::words(temporary.state.name()),
                        holder.as_ref().map(|p| format!(", held by {}", p.display_name())).unwrap_or_default()
                    );
                    if let Some(job) = open_job {
                        t.push_str(&format!(
                            "interrupted job {job}: `cardstation temp init {}`\n",
                            temporary.id
                        ));
                    }
                    t
                }
                CardView::Blank { .. } => {
                    "blank card: ready to issue (`cardstation requests --state approved` lists what to issue)\n"
                        .into()
                }
                CardView::Foreign { card, .. } => {
                    format!(
                        "a card not from this registry (CHUID {})\n",
                        card.guid.as_deref().unwrap_or("none")
                    )
                }
            };
            Ok(Output { text, json: to_json(&view) })
        }
        StationCommand::Search { query, limit } => {
            let session = sign_in(data)?;
            let hits = session.search(&query, limit)?;
            // The text names what it finds (the window's view of the same hits).
            let text = if json_output {
                String::new()
            } else {
                search_text(&session.search_view(&query, limit)?, &query)
            };
            Ok(Output { text, json: json!({ "hits": to_json(&hits) }) })
        }
        StationCommand::Jobs { command } => match command.unwrap_or(JobsCommand::List { all: false }) {
            JobsCommand::List { all } => {
                let session = sign_in(data)?;
                let jobs = session.jobs(all)?;
                Ok(Output { text: jobs_text(&session, &jobs), json: json!({ "jobs": to_json(&jobs) }) })
            }
            JobsCommand::Resume { job, reader } => {
                let reader = reader_name(reader.as_deref())?;
                let mut session = sign_in(data)?;
                let job = match job {
                    Some(j) => j,
                    None => session.job_for_card(&reader)?.ok_or_else(|| {
                        Failure::new("not-found", format!("the card in {reader} has no interrupted job"))
                    })?,
                };
                let mut progress = bar(json_output);
                let issued = session.resume(job, &reader, &mut progress);
                progress.0.finish_and_clear();
                match issued {
                    Ok(issued) => issued_output(&session, issued),
                    Err(e) => Err(torn_job_failure(&session, e, JobOf::Job(job))),
                }
            }
            JobsCommand::Rollback { job, reason } => {
                let mut session = sign_in(data)?;
                let view = session.rollback(job, &reason)?;
                let outcome = if view.kind.name() == "update" {
                    "its certificates on no card revoked; the update can be collected again"
                } else {
                    "production failed"
                };
                Ok(Output { text: format!("job {} rolled back: {outcome}\n", view.id), json: to_json(&view) })
            }
        },
    }
}

fn decide(data: &DataDir, a: DecideArgs, decision: Decision) -> CommandResult {
    let mut session = sign_in(data)?;
    let view = session.decide(RequestId::new(a.request), decision, a.notes)?;
    Ok(Output { text: request_text(&session, &view), json: to_json(&view) })
}

/// The open job a failed card command left behind.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JobOf {
    /// The job itself (`jobs resume`).
    Job(Uuid),
    /// The job of this request.
    Request(Uuid),
    /// The job of this device.
    Device(Uuid),
    /// The newest job started since then (a direct issue: no id before it starts).
    StartedSince(time::OffsetDateTime),
}

/// A card pulled mid-job: the failure says which job stays open and the
/// command that finishes it (the message itself is the station's, as in `--json`).
pub(crate) fn torn_job_failure(session: &Session, e: station::Error, of: JobOf) -> Failure {
    let failure = Failure::from(e);
    if !failure.is_tear() {
        return failure;
    }
    let jobs = session.jobs(false).unwrap_or_default();
    let job = match of {
        JobOf::Job(id) => jobs.iter().find(|j| j.id == id),
        JobOf::Request(r) => jobs.iter().find(|j| j.request.as_deref() == Some(r.to_string().as_str())),
        JobOf::Device(d) => jobs.iter().find(|j| j.device == d.to_string()),
        JobOf::StartedSince(at) => {
            jobs.iter().filter(|j| j.created_at >= at - time::Duration::SECOND).max_by_key(|j| j.created_at)
        }
    };
    match job {
        Some(j) => failure.with_next(format!(
            "job {id} stays open: put the card back and run `cardstation jobs resume {id}` \
             (or `cardstation jobs rollback {id}` if the card is lost or damaged)",
            id = j.id
        )),
        None => {
            failure.with_next("no card job was left open: put the card back and run the same command again")
        }
    }
}

/// Card jobs as a table, with the commands that finish the open ones.
fn jobs_text(session: &Session, jobs: &[station::JobView]) -> String {
    if jobs.is_empty() {
        return "no interrupted jobs\n".into();
    }
    let mut table =
        Table::with_header(&["JOB", "KIND", "STATE", "CARD OF", "DEVICE", "WRITES", "STARTED", "STOPPED AT"]);
    for j in jobs {
        let holder = Uuid::parse_str(&j.device)
            .ok()
            .and_then(|d| session.device(DeviceId::new(d)).ok())
            .and_then(|d| d.owner)
            .map(|p| session.person_ref(p).name)
            .unwrap_or_default();
        table.row([
            j.id.to_string(),
            j.kind.name().to_owned(),
            text::words(j.state.name()),
            holder,
            j.device.clone(),
            j.writes_done.to_string(),
            text::time(j.created_at),
            j.interrupted.as_deref().map(text::words).unwrap_or_default(),
        ]);
    }
    let mut text = table.render();
    if jobs.iter().any(|j| j.state.is_open()) {
        text.push_str(
            "next: put the job's card in a reader and run `cardstation jobs resume JOB`, \
             or `cardstation jobs rollback JOB` if the card is lost or damaged\n",
        );
    }
    text
}

/// Search hits as a table: what each is, its name, details, state, id.
fn search_text(results: &station::SearchResults, query: &str) -> String {
    use station::HitView;
    if results.hits.is_empty() {
        return format!("nothing matches {query:?}\n");
    }
    let mut table = Table::with_header(&["WHAT", "NAME", "DETAILS", "STATE", "ID"]);
    for hit in &results.hits {
        let row = match hit {
            HitView::Person { id, name, email, employee_id, devices, requests } => [
                "person".to_owned(),
                name.clone(),
                [email.clone(), employee_id.as_ref().map(|e| format!("employee {e}"))]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", "),
                format!(
                    "{}, {}",
                    text::count(*devices as usize, "card", "cards"),
                    text::count(*requests as usize, "request", "requests")
                ),
                id.to_string(),
            ],
            HitView::Device { id, serial, state_label, holder, profile_name } => [
                "card".to_owned(),
                holder.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| "no holder".into()),
                format!("{profile_name}, serial {}", serial.as_deref().unwrap_or("none")),
                state_label.to_lowercase(),
                id.to_string(),
            ],
            HitView::Request { id, kind_label, state_label, person, profile_name } => [
                "request".to_owned(),
                person.as_ref().map(|p| p.name.clone()).unwrap_or_default(),
                format!("{} request, {profile_name}", kind_label),
                state_label.to_lowercase(),
                id.to_string(),
            ],
        };
        table.row(row);
    }
    let mut text = table.render();
    if results.more {
        text.push_str(&format!("more than {} match: add words or raise --limit\n", results.hits.len()));
    }
    text
}

fn issued_output(session: &Session, issued: station::Issued) -> CommandResult {
    let holder =
        issued.device.owner.map(|p| format!(" for {}", session.person_ref(p).name)).unwrap_or_default();
    let mut text = format!(
        "card {}{holder} {}: {}\n",
        issued.device.id,
        if issued.resumed { "finished" } else { "issued" },
        text::words(issued.device.state.name())
    );
    for c in &issued.certificates {
        text.push_str(&format!(
            "  {} certificate {} {} (until {})\n",
            c.slot,
            c.serial,
            c.subject,
            text::date(c.not_after)
        ));
    }
    for id in &issued.revoked {
        text.push_str(&format!("  revoked certificate {id} (its key is on no card)\n"));
    }
    for w in &issued.warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    if let Some(pin) = &issued.pin {
        text.push_str(&format!("PIN (shown once): {}\n", pin.expose_secret()));
    }
    let json = with_pin(&issued, issued.pin.as_ref());
    Ok(Output { text, json })
}
