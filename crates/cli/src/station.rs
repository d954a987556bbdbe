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
        Failure::new(view.code.as_str(), view.message)
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
    let (session, refused) = sign_in_with_refusals(data)?;
    if !refused.is_empty() {
        eprint!("{}", refusals_text(&refused));
    }
    Ok(session)
}

/// Signs in; also returns this operator's refusals not shown yet (now shown).
pub(crate) fn sign_in_with_refusals(data: &DataDir) -> Result<(Session, Vec<station::OutboxRow>), Failure> {
    let mut session = open_session(data)?;
    let refused = session.take_refusals()?;
    Ok((session, refused))
}

fn refusals_text(refused: &[station::OutboxRow]) -> String {
    let mut text = format!("{} of your queued actions were refused by the registry:\n", refused.len());
    for r in refused {
        text.push_str(&format!(
            "  {} ({}, queued {}): {}\n",
            r.kind_label,
            r.op_id,
            r.queued_at,
            r.reason.as_deref().unwrap_or("no reason given")
        ));
    }
    text
}

fn open_session(data: &DataDir) -> Result<Session, Failure> {
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
    Ok(station.sign_in(&username, &password)?)
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
    for answer in &report.answers {
        if let station::PushOutcome::Rejected { code, message } = &answer.outcome {
            text.push_str(&format!("  refused {} ({}): {message} [{code}]\n", answer.kind, answer.op_id));
        }
    }
    // Refused earlier (a sync whose outcome this operator never saw).
    let earlier: Vec<_> =
        refused.iter().filter(|r| !report.answers.iter().any(|a| a.op_id == r.op_id)).cloned().collect();
    if !earlier.is_empty() {
        text.push_str(&refusals_text(&earlier));
    }
    let others = waiting.iter().filter(|w| !w.yours).count();
    if others > 0 {
        text.push_str(&format!("{others} queued action(s) of other operators wait for them to sign in\n"));
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

fn request_text(view: &station::RequestView) -> String {
    let r = &view.request;
    let mut text = format!("request {} ({:?}): {}\n", r.id, r.kind, r.state.name());
    if let Some(d) = &view.device {
        text.push_str(&format!("card {}: {}\n", d.id, d.state.name()));
    }
    text
}

/// Runs one station command.
pub fn run(command: StationCommand, data: &DataDir, json_output: bool) -> CommandResult {
    match command {
        StationCommand::Enroll { url, fingerprint } => {
            let enrollment = Station::enroll(&data.path(), &url, &fingerprint)?;
            Ok(Output {
                text: format!(
                    "enrolled {} with {} (pinned {})\n",
                    data.path().display(),
                    enrollment.registry_url,
                    enrollment.fingerprint
                ),
                json: json!({ "data": data.path(), "registry_url": enrollment.registry_url,
                    "fingerprint": enrollment.fingerprint, "workstation": enrollment.workstation }),
            })
        }
        StationCommand::Signin => {
            let (session, refused) = sign_in_with_refusals(data)?;
            let who = session.signed_in();
            let names: Vec<&str> = who.use_cases.iter().map(|u| u.title()).collect();
            if who.open_jobs > 0 {
                eprintln!("{} interrupted card job(s): see `cardstation jobs`", who.open_jobs);
            }
            let mut text = format!(
                "signed in{} as operator {} until {}\nuse cases: {}\n",
                if session.is_offline() { " OFFLINE (cached verifier; actions are queued)" } else { "" },
                who.operator,
                who.expires_at,
                names.join(", ")
            );
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
            let (mut session, refused) = sign_in_with_refusals(data)?;
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
                text: format!("person {}: {}\n", person.id, person.display_name()),
                json: to_json(&person),
            })
        }
        StationCommand::Request { person, profile, reason, notes } => {
            let mut session = sign_in(data)?;
            let view = session.request_card(PersonId::new(person), ProfileId::new(profile), reason, notes)?;
            Ok(Output { text: request_text(&view), json: to_json(&view) })
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
            let text = views.iter().map(request_text).collect();
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
            let mut progress = bar(json_output);
            let issued = session.issue(target, &reader, &mut progress);
            progress.0.finish_and_clear();
            issued_output(issued?)
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
                        device.state.name(),
                        owner.as_ref().map(|p| p.display_name()).unwrap_or_else(|| "none".into())
                    );
                    if let Some(job) = open_job {
                        t.push_str(&format!("interrupted job {job}: `cardstation jobs resume {job}`\n"));
                    }
                    for r in pending_updates {
                        t.push_str(&format!("update to collect: request {r} (`cardstation collect`)\n"));
                    }
                    for a in actions {
                        t.push_str(&format!(
                            "  {}{}\n",
                            a.command,
                            a.refusal.as_ref().map(|r| format!(" — not allowed: {r}")).unwrap_or_default()
                        ));
                    }
                    t
                }
                CardView::Temporary { temporary, open_job, .. } => {
                    let mut t = format!(
                        "temporary card {} ({}): {}\n",
                        temporary.id,
                        temporary.serial.as_deref().unwrap_or("no serial"),
                        temporary.state.name()
                    );
                    if let Some(job) = open_job {
                        t.push_str(&format!(
                            "interrupted job {job}: `cardstation temp init {}`\n",
                            temporary.id
                        ));
                    }
                    t
                }
                CardView::Blank { .. } => "blank card: ready to issue\n".into(),
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
            let text = hits.iter().map(|h| format!("{}\n", to_json(h))).collect();
            Ok(Output { text, json: json!({ "hits": to_json(&hits) }) })
        }
        StationCommand::Jobs { command } => match command.unwrap_or(JobsCommand::List { all: false }) {
            JobsCommand::List { all } => {
                let session = sign_in(data)?;
                let jobs = session.jobs(all)?;
                let text = if jobs.is_empty() {
                    "no interrupted jobs\n".into()
                } else {
                    jobs.iter()
                        .map(|j| {
                            format!(
                                "{} {:?} device {} {:?}, {} writes done{}\n",
                                j.id,
                                j.kind,
                                j.device,
                                j.state,
                                j.writes_done,
                                j.interrupted
                                    .as_ref()
                                    .map(|s| format!(", interrupted at {s}"))
                                    .unwrap_or_default()
                            )
                        })
                        .collect()
                };
                Ok(Output { text, json: json!({ "jobs": to_json(&jobs) }) })
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
                issued_output(issued?)
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
    Ok(Output { text: request_text(&view), json: to_json(&view) })
}

fn issued_output(issued: station::Issued) -> CommandResult {
    let mut text = format!(
        "card {} {}: {}\n",
        issued.device.id,
        if issued.resumed { "finished" } else { "issued" },
        issued.device.state.name()
    );
    for c in &issued.certificates {
        text.push_str(&format!("  {:?} certificate {} {}\n", c.slot, c.serial, c.subject));
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
