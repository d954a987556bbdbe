//! `cardstation batch …` (UC-BATCH, seed 003): list the approved requests,
//! start a batch with options on every connected reader (or `--readers`),
//! show its status, cancel it (from another terminal too) and resume it
//! after a restart. Progress: one bar per reader; `--json` prints one JSON
//! line per event (the PIN of each card once, in its `done` line) and a
//! `summary` line at the end.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use domain::{BatchOptions, CardEndState, CertificateEndState, RequestId, Slot};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use station::{BatchEvent, BatchProgress, BatchView, Session};
use uuid::Uuid;

use crate::connect::choose_reader;
use crate::failure::Failure;
use crate::station::{sign_in, to_json, DataDir};
use crate::text::{self, Table};
use crate::{CommandResult, Output};

/// Set by Ctrl-C: the workers stop before their next card.
static STOP: AtomicBool = AtomicBool::new(false);

/// `batch …`.
#[derive(Debug, clap::Subcommand)]
pub enum BatchCommand {
    /// The approved card requests a batch can take.
    ListApproved,
    /// Create a batch of approved requests and encode it on the readers.
    Start(StartArgs),
    /// A batch and its cards.
    Status {
        /// The batch id.
        batch: Uuid,
    },
    /// Continue a batch (after a restart or a cancel): interrupted cards are
    /// finished when found in a reader, pending cards encoded.
    Resume {
        /// The batch id.
        batch: Uuid,
        /// Readers to use (names or unique parts, comma-separated); default: all.
        #[arg(long, value_delimiter = ',')]
        readers: Vec<String>,
    },
    /// Stop a running batch before its next card (cards being written finish).
    Cancel {
        /// The batch id.
        batch: Uuid,
    },
}

/// `batch start`.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Approved requests to issue (repeat).
    #[arg(long = "request")]
    requests: Vec<Uuid>,
    /// Take every approved request.
    #[arg(long)]
    all_approved: bool,
    /// PIN length (within the profile's policy).
    #[arg(long)]
    pin_length: Option<u8>,
    /// PUK length (6–8).
    #[arg(long)]
    puk_length: Option<u8>,
    /// Certificates to issue: slots of the profile, comma-separated
    /// (9a, 9c, 9d, 9e or piv_authentication, digital_signature, …).
    #[arg(long, value_delimiter = ',')]
    certificates: Vec<String>,
    /// Card end state: issued or active.
    #[arg(long)]
    card_end_state: Option<String>,
    /// Certificate end state: on-hold or valid.
    #[arg(long)]
    certificate_end_state: Option<String>,
    /// Readers to use (names or unique parts, comma-separated); default: all.
    #[arg(long, value_delimiter = ',')]
    readers: Vec<String>,
}

fn parse_slot(text: &str) -> Result<Slot, Failure> {
    let t = text.trim().to_lowercase().replace('-', "_");
    Ok(match t.as_str() {
        "9a" | "piv_authentication" | "authentication" => Slot::PivAuthentication,
        "9c" | "digital_signature" | "signature" => Slot::DigitalSignature,
        "9d" | "key_management" => Slot::KeyManagement,
        "9e" | "card_authentication" => Slot::CardAuthentication,
        _ => return Err(Failure::new("bad-input", format!("unknown certificate slot {text:?}"))),
    })
}

fn options(a: &StartArgs) -> Result<BatchOptions, Failure> {
    let certificates = if a.certificates.is_empty() {
        None
    } else {
        Some(a.certificates.iter().map(|c| parse_slot(c)).collect::<Result<_, _>>()?)
    };
    let card_end_state = match a.card_end_state.as_deref() {
        None => None,
        Some("issued") => Some(CardEndState::Issued),
        Some("active") => Some(CardEndState::Active),
        Some(other) => {
            return Err(Failure::new("bad-input", format!("card end state {other:?}: issued or active")))
        }
    };
    let certificate_end_state = match a.certificate_end_state.as_deref() {
        None => None,
        Some("on-hold" | "on_hold") => Some(CertificateEndState::OnHold),
        Some("valid") => Some(CertificateEndState::Valid),
        Some(other) => {
            return Err(Failure::new(
                "bad-input",
                format!("certificate end state {other:?}: on-hold or valid"),
            ))
        }
    };
    Ok(BatchOptions {
        pin_length: a.pin_length,
        puk_length: a.puk_length,
        certificates,
        card_end_state,
        certificate_end_state,
    })
}

fn readers(wanted: &[String]) -> Result<Vec<String>, Failure> {
    let readers = reader::Readers::establish()?;
    if wanted.is_empty() {
        let all = readers.names()?;
        if all.is_empty() {
            return Err(Failure::new("no-reader", "no smart card reader is connected"));
        }
        return Ok(all);
    }
    let mut out = Vec::new();
    for w in wanted {
        let name = choose_reader(&readers, Some(w))?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// Progress: JSON lines, or one bar per reader.
struct Display {
    json: bool,
    multi: MultiProgress,
    bars: Mutex<Vec<(String, ProgressBar)>>,
}

impl Display {
    fn new(json: bool, readers: &[String]) -> Display {
        let hidden = json || !std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if hidden {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        });
        let style = ProgressStyle::with_template("{prefix:24} {bar:24} {pos}/{len} {msg}").ok();
        let bars = readers
            .iter()
            .map(|r| {
                let bar = multi.add(ProgressBar::new(0));
                if let Some(s) = &style {
                    bar.set_style(s.clone());
                }
                bar.set_prefix(r.clone());
                (r.clone(), bar)
            })
            .collect();
        Display { json, multi, bars: Mutex::new(bars) }
    }

    fn bar(&self, reader: &str) -> Option<ProgressBar> {
        let bars = self.bars.lock().ok()?;
        bars.iter().find(|(r, _)| r == reader).map(|(_, b)| b.clone())
    }

    fn line(&self, text: String) {
        if self.multi.println(&text).is_err() || self.multi.is_hidden() {
            eprintln!("{text}");
        }
    }
}

impl BatchProgress for Display {
    fn event(&self, event: BatchEvent) {
        if self.json {
            // One JSON line per event, reasons and errors in words as before
            // (`code` beside a failure's message).
            let mut json = crate::station::to_json(&event);
            match &event {
                BatchEvent::Done { issued, .. } => {
                    json["issued"] = crate::station::with_pin(issued, issued.pin.as_ref());
                }
                BatchEvent::RemoveCard { why, .. } => json["why"] = why.to_string().into(),
                BatchEvent::Stopped { why, .. } => json["why"] = why.to_string().into(),
                BatchEvent::Failed { error, .. } | BatchEvent::Torn { error, .. } => {
                    json["code"] = error.code.as_str().into();
                    json["error"] = error.message.clone().into();
                }
                _ => {}
            }
            println!("{json}");
            return;
        }
        match event {
            BatchEvent::InsertCard { reader } => {
                if let Some(b) = self.bar(&reader) {
                    b.set_message("insert a blank card");
                }
            }
            BatchEvent::RemoveCard { reader, why } => {
                if let Some(b) = self.bar(&reader) {
                    b.set_message(format!("remove the card ({why})"));
                }
            }
            BatchEvent::Started { reader, request, attempt, resuming, .. } => {
                if let Some(b) = self.bar(&reader) {
                    b.set_position(0);
                    let what = if resuming { "finishing" } else { "encoding" };
                    b.set_message(format!("{what} request {request} (attempt {attempt})"));
                }
            }
            BatchEvent::Step { reader, index, total, step, .. } => {
                if let Some(b) = self.bar(&reader) {
                    b.set_length(total as u64);
                    b.set_position(index as u64);
                    b.set_message(step.to_string());
                }
            }
            BatchEvent::Note { reader, notice } => self.line(format!("{reader}: {notice}")),
            BatchEvent::Done { reader, request, issued, .. } => {
                let pin = issued.pin.as_ref().map(|p| p.expose_secret().to_owned());
                self.line(format!(
                    "{reader}: request {request} done: card {} {}; PIN (shown once): {}",
                    issued.device.id,
                    issued.device.state.name(),
                    pin.as_deref().unwrap_or("not set, unblock it (UC-PIN)")
                ));
                for w in &issued.warnings {
                    self.line(format!("{reader}: warning: {w}"));
                }
            }
            BatchEvent::Failed { reader, request, error, retried, .. } => self.line(format!(
                "{reader}: request {request} FAILED: {}{}",
                error.message,
                if retried { " (retried on the next card)" } else { "" }
            )),
            BatchEvent::Torn { reader, request, error, .. } => self.line(format!(
                "{reader}: request {request} interrupted ({}): put the card back to finish it",
                error.message
            )),
            BatchEvent::Stopped { reader, why } => {
                if let Some(b) = self.bar(&reader) {
                    b.finish_with_message(format!("stopped: {why}"));
                }
            }
        }
    }
}

fn summary_text(view: &BatchView) -> String {
    let c = &view.counts;
    let mut text = format!(
        "batch {}{}: {} done, {} pending, {} encoding, {} failed, {} cancelled\n",
        view.id,
        if view.cancelled { " (cancelled)" } else { "" },
        c.done,
        c.pending,
        c.encoding,
        c.failed,
        c.cancelled
    );
    let mut table =
        Table::with_header(&["#", "REQUEST", "CARD", "STATE", "READER", "LAST ERROR"]).indented(2);
    for i in &view.items {
        table.row([
            i.seq.to_string(),
            i.request.to_string(),
            i.device.to_string(),
            text::wire_words(&i.state),
            i.reader.clone().unwrap_or_default(),
            i.last_error.clone().unwrap_or_default(),
        ]);
    }
    if !view.items.is_empty() {
        text.push_str(&table.render());
    }
    if !view.cancelled && c.pending + c.encoding > 0 {
        text.push_str(&format!("next: `cardstation batch resume {}` finishes it\n", view.id));
    }
    text
}

fn run_output(view: BatchView, json_output: bool) -> CommandResult {
    if json_output {
        // The event lines are on stdout already; the summary is one line too.
        println!("{}", json!({ "event": "summary", "batch": to_json(&view) }));
        return Ok(Output { text: String::new(), json: serde_json::Value::Null });
    }
    Ok(Output { text: summary_text(&view), json: serde_json::Value::Null })
}

fn on_ctrl_c() {
    // A second handler cannot be installed; the first one is enough.
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "cancelling: the cards being written finish, no new card is started (Ctrl-C again to quit now)"
        );
    });
}

fn run_batch(
    session: &mut Session,
    batch: Uuid,
    readers: &[String],
    resume: bool,
    json_output: bool,
) -> CommandResult {
    let display = Display::new(json_output, readers);
    on_ctrl_c();
    let view = if resume {
        session.resume_batch(batch, readers, &STOP, &display)?
    } else {
        session.run_batch(batch, readers, &STOP, &display)?
    };
    run_output(view, json_output)
}

/// Runs one `batch` command.
pub fn run(command: BatchCommand, data: &DataDir, json_output: bool) -> CommandResult {
    match command {
        BatchCommand::ListApproved => {
            let session = sign_in(data)?;
            let views = session.approved_requests()?;
            let mut table = Table::with_header(&["REQUEST", "CARD", "FOR", "PROFILE"]);
            for v in &views {
                let row = session.request_row(&v.request);
                table.row([
                    v.request.id.to_string(),
                    v.device.as_ref().map(|d| d.id.to_string()).unwrap_or_default(),
                    row.person.map(|p| p.name).unwrap_or_default(),
                    row.profile_name,
                ]);
            }
            let text = if views.is_empty() {
                "no approved request\n".to_owned()
            } else {
                table.render()
                    + "next: `cardstation batch start --all-approved` (or `--request R` for some)\n"
            };
            Ok(Output { text, json: json!({ "requests": to_json(&views) }) })
        }
        BatchCommand::Start(args) => {
            let options = options(&args)?;
            let readers = readers(&args.readers)?;
            let mut session = sign_in(data)?;
            let mut requests: Vec<RequestId> = args.requests.iter().map(|r| RequestId::new(*r)).collect();
            if args.all_approved {
                for v in session.approved_requests()? {
                    if !requests.contains(&v.request.id) {
                        requests.push(v.request.id);
                    }
                }
            }
            if requests.is_empty() {
                return Err(Failure::new("bad-input", "select requests with --request R or --all-approved"));
            }
            let view = session.create_batch(&requests, options)?;
            if json_output {
                println!(
                    "{}",
                    json!({ "event": "created", "batch": view.id, "cards": view.items.len(), "readers": readers })
                );
            } else {
                eprintln!("batch {} of {} cards on {} reader(s)", view.id, view.items.len(), readers.len());
            }
            run_batch(&mut session, view.id, &readers, false, json_output)
        }
        BatchCommand::Status { batch } => {
            let session = sign_in(data)?;
            let view = session.batch(batch)?;
            Ok(Output { text: summary_text(&view), json: to_json(&view) })
        }
        BatchCommand::Resume { batch, readers: wanted } => {
            let readers = readers(&wanted)?;
            let mut session = sign_in(data)?;
            run_batch(&mut session, batch, &readers, true, json_output)
        }
        BatchCommand::Cancel { batch } => {
            let mut session = sign_in(data)?;
            let view = session.cancel_batch(batch)?;
            Ok(Output { text: summary_text(&view), json: to_json(&view) })
        }
    }
}
