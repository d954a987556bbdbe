//! UC-BATCH (seed 003) "Issue multiple cards", whole stack: the real
//! registry over TLS, the `cardstation` binary, pcscd with virtual cards in
//! four lab readers. A feeder thread per reader plays the operator's hands:
//! it puts a fresh blank card in when the batch asks for one, checks each
//! finished card with OpenSC (signing with the PIN the batch printed) while
//! it is still in the reader, and takes it out when the batch says so.
//!
//! * Seed 003 as the operator walks it: the approved requests are listed,
//!   some selected, the options set (PIN length, PUK length, certificates,
//!   card and certificate end states), then encoded on all readers at once;
//!   every card, and the registry's device, certificate and audit records,
//!   match what was chosen. Refusals: a request not approved, an operator
//!   without Manage batches, the use case switched off.
//! * Cancel mid-batch: no card is left half-written, the rest stay pending,
//!   `batch resume` finishes them.
//! * SIGKILL of `cardstation batch` at random moments (seeded; the seed is
//!   printed), then `batch resume`: every card, record and certificate agrees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::lab::{Lab, LabReader, WAIT};
use e2e::station::{TestRegistry, TestStation, PASSWORD};
use e2e::tools;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

const PROFILE: &str = r#"
name = "Staff badge"
capabilities = "contact"
management_key = "aes256"
validate_issuance = false
card_end_state = "active"
certificate_end_state = "valid"
is_temporary = false
card_validity_days = 1825
pin = { min_length = 6, max_length = 8, numeric = true, retries = 3 }
puk = { length = 8, numeric = true, retries = 3 }

[[slots]]
slot = "piv_authentication"
algorithm = "ecc_p256"
certificate = { subject = "CN={name},OU=PIV Authentication,O=Example", validity_days = 365, ekus = ["client_auth"] }

[[slots]]
slot = "digital_signature"
algorithm = "ecc_p256"
certificate = { subject = "CN={name},OU=Digital Signature,O=Example", validity_days = 365, ekus = ["email_protection"] }
"#;

static SERIAL: AtomicU32 = AtomicU32::new(0);

fn next_serial() -> u32 {
    9_000_000 + (std::process::id() % 900) * 1000 + SERIAL.fetch_add(1, Ordering::SeqCst)
}

fn json_ok(run: tools::Run) -> Value {
    assert!(run.ok, "`{}` failed:\n{}\n{}", run.command, run.stdout, run.stderr);
    run.json()
}

struct World {
    registry: TestRegistry,
    profile: String,
    approval_profile: String,
    admin: TestStation,
    station: TestStation,
}

/// A registry with a requester (rita), an approver (abe), a batch operator
/// (bea: Can Collect, Manage batches, Unblock PIN, Cancel/Revoke) and an
/// issuer without Manage batches (ivy).
fn world(work: &Path) -> World {
    let registry = TestRegistry::start(&work.join("registry")).unwrap();
    registry.use_case("request", true).unwrap();
    registry.role("Requesters", &["can_request"], &[]).unwrap();
    registry.role("Approvers", &["can_approve"], &[]).unwrap();
    registry.role("Batchers", &["can_collect"], &["manage_batches", "unblock_pin", "cancel_revoke"]).unwrap();
    registry.role("Issuers", &["can_collect"], &[]).unwrap();
    registry.operator("rita", "Requester", &["Requesters"]).unwrap();
    registry.operator("abe", "Approver", &["Approvers"]).unwrap();
    registry.operator("bea", "Batcher", &["Batchers"]).unwrap();
    registry.operator("ivy", "Issuer", &["Issuers"]).unwrap();
    let profile = registry.profile(PROFILE).unwrap();
    let approval_profile = registry
        .profile(
            &PROFILE
                .replace("name = \"Staff badge\"", "name = \"Vetted badge\"")
                .replace("validate_issuance = false", "validate_issuance = true"),
        )
        .unwrap();
    let admin = TestStation::enroll(&work.join("station-admin"), &registry).unwrap();
    let station = TestStation::enroll(&work.join("station-batch"), &registry).unwrap();
    World { registry, profile, approval_profile, admin, station }
}

/// `n` approved card requests for new people; returns (request, device).
fn approved(world: &World, n: usize, tag: &str) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let person = json_ok(
                world
                    .admin
                    .as_operator(
                        "admin",
                        &["person", "add", "--given-name", &format!("{tag}{i}"), "--family-name", "Holder"],
                    )
                    .unwrap(),
            )["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let r = json_ok(
                world
                    .admin
                    .as_operator("rita", &["request", "--person", &person, "--profile", &world.profile])
                    .unwrap(),
            );
            assert_eq!(r["request"]["state"], "approved", "{r}");
            (r["request"]["id"].as_str().unwrap().to_owned(), r["device"]["id"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// What a batch chose, as the checks expect it on every card.
#[derive(Clone)]
struct Expect {
    pin_length: usize,
    puk_length: usize,
    /// (slot letter for yubico-piv-tool, PKCS#11 id).
    slots: Vec<(&'static str, &'static str)>,
    card_state: &'static str,
    certificate_state: &'static str,
}

/// What the feeders saw.
#[derive(Default)]
struct Ledger {
    /// device → PIN printed, for every card checked with OpenSC.
    checked: Vec<(String, String)>,
    /// Cards taken out as finished.
    finished: Vec<Arc<Mutex<vcard::Card>>>,
    /// Cards set aside as failed.
    set_aside: usize,
    /// Every event, in order.
    events: Vec<Value>,
    problems: Vec<String>,
}

enum Feed {
    /// An event line of the batch process, and when it was read.
    Event(Value, std::time::Instant),
    Quit,
}

struct Feeder {
    tx: Sender<Feed>,
    handle: JoinHandle<()>,
}

/// The operator's hands at one reader.
fn feeder(
    reader: Arc<LabReader>,
    work: PathBuf,
    expect: Expect,
    ledger: Arc<Mutex<Ledger>>,
    first: Option<Arc<Mutex<vcard::Card>>>,
) -> Feeder {
    let (tx, rx) = channel::<Feed>();
    let handle = std::thread::spawn(move || {
        let mut current: Option<(Arc<Mutex<vcard::Card>>, vcard::vpcd::VpcdCard)> = None;
        let insert = |current: &mut Option<(Arc<Mutex<vcard::Card>>, vcard::vpcd::VpcdCard)>| {
            if current.is_none() {
                *current = Some(insert_blank(&reader));
            }
        };
        // When the card now in the reader went in (taken as the moment the
        // hand starts inserting it: a fast worker may finish it before
        // pcscd's listing shows it): a prompt read before that is about an
        // earlier card (a killed process's, say) and is not acted on, as an
        // operator reads the screen for the card in hand.
        let mut inserted_at = std::time::Instant::now();
        match first {
            Some(card) => {
                let plugged = reader.insert(Arc::clone(&card));
                reader.wait_card_present(WAIT);
                current = Some((card, plugged));
            }
            None => insert(&mut current),
        }
        // A finished card is asked out before its recording's answer; the
        // hand keeps it in until the `done` line (PIN) is read, to check it.
        let mut done_read = false;
        let mut out_asked = false;
        let take_out = |current: &mut Option<(Arc<Mutex<vcard::Card>>, vcard::vpcd::VpcdCard)>, why: &str| {
            if let Some((card, plugged)) = current.take() {
                plugged.remove();
                reader.wait_card_absent(WAIT);
                let mut l = ledger.lock().unwrap();
                if why.contains("set it aside") {
                    l.set_aside += 1;
                } else if card.lock().unwrap().object(0x5F_C102).is_some() {
                    l.finished.push(card);
                }
            }
        };
        // The card out, the next one in: returns when the hand started inserting it.
        let swap = |current: &mut Option<(Arc<Mutex<vcard::Card>>, vcard::vpcd::VpcdCard)>, why: &str| {
            take_out(current, why);
            let at = std::time::Instant::now();
            insert(current);
            at
        };
        for feed in rx {
            let (event, at) = match feed {
                Feed::Event(e, at) => (e, at),
                Feed::Quit => break,
            };
            match event["event"].as_str().unwrap_or_default() {
                "insert_card" if current.is_none() => {
                    inserted_at = std::time::Instant::now();
                    insert(&mut current);
                    (done_read, out_asked) = (false, false);
                }
                "done" => {
                    let issued = &event["issued"];
                    let device = issued["device"]["id"].as_str().unwrap_or_default().to_owned();
                    match issued["pin"].as_str() {
                        Some(pin) => match check_card(&reader, &work, &device, pin, &expect) {
                            Ok(()) => ledger.lock().unwrap().checked.push((device, pin.to_owned())),
                            Err(e) => ledger.lock().unwrap().problems.push(format!("card {device}: {e:#}")),
                        },
                        None => ledger
                            .lock()
                            .unwrap()
                            .problems
                            .push(format!("card {device}: no PIN printed: {event}")),
                    }
                    done_read = true;
                    if out_asked {
                        inserted_at = swap(&mut current, "finished");
                        (done_read, out_asked) = (false, false);
                    }
                }
                "remove_card" if at < inserted_at => {}
                "remove_card" if event["why"] == "finished" && !done_read => out_asked = true,
                "remove_card" => {
                    inserted_at = swap(&mut current, event["why"].as_str().unwrap_or_default());
                    (done_read, out_asked) = (false, false);
                }
                _ => {}
            }
        }
        if let Some((_, plugged)) = current.take() {
            plugged.remove();
            reader.wait_card_absent(WAIT);
        }
    });
    Feeder { tx, handle }
}

/// A fresh blank card in `reader`, seen by pcscd; re-inserted when pcscd
/// does not show it (it may still be releasing a killed client).
fn insert_blank(reader: &LabReader) -> (Arc<Mutex<vcard::Card>>, vcard::vpcd::VpcdCard) {
    for attempt in 0..4 {
        let card = Arc::new(Mutex::new(vcard::Card::factory_fresh(vcard::CardConfig::new(next_serial()))));
        let plugged = reader.insert(Arc::clone(&card));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            let seen = reader::Readers::establish()
                .and_then(|r| r.list())
                .map(|l| l.iter().any(|s| s.name == reader.name && s.card_present && s.atr.is_some()))
                .unwrap_or(false);
            if seen {
                return (card, plugged);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        eprintln!("{}: the blank card did not show (attempt {attempt}); inserting it again", reader.name);
        plugged.remove();
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("{}: no blank card shows", reader.name)
}

/// The card in `reader` has the batch's keys and certificates (OpenSC
/// signs with each key using `pin`), PIN and PUK of the chosen lengths, and
/// only the chosen slots.
fn check_card(
    reader: &LabReader,
    work: &Path,
    device: &str,
    pin: &str,
    expect: &Expect,
) -> anyhow::Result<()> {
    anyhow::ensure!(pin.len() == expect.pin_length, "PIN {pin:?} is not {} digits", expect.pin_length);
    let dir = work.join(device);
    std::fs::create_dir_all(&dir)?;
    for (slot, id) in &expect.slots {
        let pem =
            tools::yubico_piv_tool(&reader.name, &["-a", "read-certificate", "-s", slot])?.expect_ok()?;
        let cert = dir.join(format!("{slot}.pem"));
        std::fs::write(&cert, pem.stdout)?;
        tools::pkcs11_sign_and_verify(&reader.name, pin, id, "ECDSA-SHA256", &cert, &dir)?;
    }
    for slot in ["9a", "9c", "9d", "9e"] {
        if expect.slots.iter().any(|(s, _)| *s == slot) {
            continue;
        }
        let run = tools::yubico_piv_tool(&reader.name, &["-a", "read-certificate", "-s", slot])?;
        anyhow::ensure!(
            !run.ok || run.stdout.trim().is_empty(),
            "slot {slot} was not chosen but holds a certificate"
        );
    }
    Ok(())
}

/// A running `cardstation batch …` whose JSON lines go to the feeders.
struct BatchProcess {
    child: Child,
    pump: JoinHandle<Option<Value>>,
}

fn spawn_batch(
    station: &TestStation,
    operator: &str,
    args: &[&str],
    feeders: &[(String, Sender<Feed>)],
    ledger: &Arc<Mutex<Ledger>>,
) -> BatchProcess {
    let mut child = Command::new(tools::cardstation_bin())
        .args(["--json", "--data", station.data.to_str().unwrap(), "batch"])
        .args(args)
        .env("CARDSTATION_OPERATOR", operator)
        .env("CARDSTATION_PASSWORD", PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let feeders: Vec<(String, Sender<Feed>)> = feeders.to_vec();
    let ledger = Arc::clone(ledger);
    let pump = std::thread::spawn(move || {
        let mut last = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(value) = serde_json::from_str::<Value>(&line) else { continue };
            ledger.lock().unwrap().events.push(value.clone());
            if let Some(reader) = value["reader"].as_str() {
                if let Some((_, tx)) = feeders.iter().find(|(r, _)| r == reader) {
                    let _ = tx.send(Feed::Event(value.clone(), std::time::Instant::now()));
                }
            }
            last = Some(value);
        }
        last
    });
    BatchProcess { child, pump }
}

impl BatchProcess {
    /// Waits for the end; returns the last JSON line (the summary, or an error).
    fn finish(mut self) -> Value {
        let status = self.child.wait().unwrap();
        let last = self.pump.join().unwrap().unwrap_or(Value::Null);
        assert!(status.success() || last.get("error").is_some(), "batch exited {status}: {last}");
        last
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.pump.join();
    }
}

struct Hands {
    readers: Vec<Arc<LabReader>>,
    feeders: Vec<Feeder>,
    ledger: Arc<Mutex<Ledger>>,
}

impl Hands {
    fn new(lab: &Lab, work: &Path, expect: &Expect) -> Hands {
        Hands::with(lab, work, expect, 4, None)
    }

    /// `count` readers; `first` is the first card of the first reader.
    fn with(
        lab: &Lab,
        work: &Path,
        expect: &Expect,
        count: usize,
        first: Option<Arc<Mutex<vcard::Card>>>,
    ) -> Hands {
        let readers: Vec<Arc<LabReader>> = (0..count).map(|_| Arc::new(lab.acquire_reader())).collect();
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let mut first = first;
        let feeders = readers
            .iter()
            .map(|r| {
                feeder(Arc::clone(r), work.to_owned(), expect.clone(), Arc::clone(&ledger), first.take())
            })
            .collect();
        Hands { readers, feeders, ledger }
    }

    fn senders(&self) -> Vec<(String, Sender<Feed>)> {
        self.readers.iter().zip(&self.feeders).map(|(r, f)| (r.name.clone(), f.tx.clone())).collect()
    }

    fn reader_list(&self) -> String {
        self.readers.iter().map(|r| r.name.clone()).collect::<Vec<_>>().join(",")
    }

    fn stop(self) -> (Vec<Arc<LabReader>>, Ledger) {
        for f in &self.feeders {
            let _ = f.tx.send(Feed::Quit);
        }
        for f in self.feeders {
            f.handle.join().unwrap();
        }
        let ledger = std::mem::take(&mut *self.ledger.lock().unwrap());
        (self.readers, ledger)
    }
}

/// The registry (through a second station's replica, synced from it) has
/// each finished card as chosen: the card in `reader` is ours, in
/// `expect.card_state`, no job open; its certificates on the card are
/// exactly the device's live certificates (in `expect.certificate_state`);
/// every other certificate of the device is revoked.
fn check_records(world: &World, reader: &LabReader, expect: &Expect, case: &str) -> String {
    let view = json_ok(world.admin.as_operator("bea", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(view["kind"], "ours", "{case}: {view}");
    assert_eq!(view["device"]["state"], expect.card_state, "{case}: {view}");
    assert!(view["open_job"].is_null(), "{case}: {view}");
    let norm = |s: &str| s.trim_start_matches('0').to_uppercase();
    let mut on_card: Vec<String> = view["info"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| norm(c["summary"]["serial_hex"].as_str().unwrap()))
        .collect();
    let mut live = Vec::new();
    for c in view["certificates"].as_array().unwrap() {
        let state = c["state"]["state"].as_str().unwrap();
        if state == "revoked" {
            continue;
        }
        assert_eq!(state, expect.certificate_state, "{case}: certificate {c}");
        live.push(norm(c["serial"].as_str().unwrap()));
    }
    on_card.sort();
    live.sort();
    assert_eq!(on_card.len(), expect.slots.len(), "{case}: the chosen certificates only: {view}");
    assert_eq!(on_card, live, "{case}: the card's certificates are exactly the live ones: {view}");
    view["device"]["id"].as_str().unwrap().to_owned()
}

/// Puts each finished card back into a reader, one at a time, and checks the records.
fn check_finished_cards(
    world: &World,
    reader: &LabReader,
    cards: &[Arc<Mutex<vcard::Card>>],
    expect: &Expect,
) -> Vec<String> {
    let mut devices = Vec::new();
    for (i, card) in cards.iter().enumerate() {
        let plugged = reader.insert(Arc::clone(card));
        reader.wait_card_present(WAIT);
        devices.push(check_records(world, reader, expect, &format!("finished card {i}")));
        plugged.remove();
        reader.wait_card_absent(WAIT);
    }
    devices
}

fn audit_actions(registry: &TestRegistry, device: &str) -> Vec<String> {
    let mut from = 0u64;
    let mut out = Vec::new();
    loop {
        let page = registry.get_json("admin", &format!("/v1/audit?from={from}&limit=500")).unwrap();
        for e in page["events"].as_array().unwrap() {
            if e["object"].to_string().contains(device) {
                out.push(e["action"].as_str().unwrap_or_default().to_owned());
            }
        }
        match page["next_from"].as_u64() {
            Some(next) => from = next,
            None => break,
        }
    }
    out
}

#[test]
fn seed_003_issue_multiple_cards_on_four_readers_with_the_chosen_options() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let world = world(work.path());
    let requests = approved(&world, 6, "Seed");
    // One approved request stays out of the batch.
    let left_out = &requests[5];

    // Refusals first, with clear messages.
    let pending = {
        let person = json_ok(
            world
                .admin
                .as_operator("admin", &["person", "add", "--given-name", "Val", "--family-name", "Pending"])
                .unwrap(),
        )["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = json_ok(
            world
                .admin
                .as_operator("rita", &["request", "--person", &person, "--profile", &world.approval_profile])
                .unwrap(),
        );
        assert_eq!(r["request"]["state"], "pending_approval", "{r}");
        r["request"]["id"].as_str().unwrap().to_owned()
    };
    let refused = world
        .station
        .as_operator("bea", &["batch", "start", "--request", &pending, "--readers", "nonexistent-reader-x"])
        .unwrap();
    assert!(!refused.ok);
    // Readers are resolved first; with a real reader the request is refused.
    let lab_names = lab.reader_names();
    let refused = world
        .station
        .as_operator("bea", &["batch", "start", "--request", &pending, "--readers", &lab_names[0]])
        .unwrap();
    assert!(!refused.ok, "{}", refused.stdout);
    let message = refused.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.contains("not approved"), "a request pending approval is refused: {message}");
    let refused = world
        .station
        .as_operator("ivy", &["batch", "start", "--request", &requests[0].0, "--readers", &lab_names[0]])
        .unwrap();
    assert!(!refused.ok, "{}", refused.stdout);
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "not-permitted", "{error}");
    assert!(error["message"].as_str().unwrap().contains("Manage batches"), "{error}");
    world.registry.use_case("batch", false).unwrap();
    let refused = world
        .station
        .as_operator("bea", &["batch", "start", "--request", &requests[0].0, "--readers", &lab_names[0]])
        .unwrap();
    assert!(!refused.ok, "{}", refused.stdout);
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "use-case-disabled", "{error}");
    assert!(error["message"].as_str().unwrap().contains("Issue multiple cards"), "{error}");
    world.registry.use_case("batch", true).unwrap();

    // 1–2. Search: the approved requests are listed.
    let listed = json_ok(world.station.as_operator("bea", &["batch", "list-approved"]).unwrap());
    let listed: Vec<&str> =
        listed["requests"].as_array().unwrap().iter().map(|r| r["request"]["id"].as_str().unwrap()).collect();
    for (r, _) in &requests {
        assert!(listed.contains(&r.as_str()), "approved request {r} is listed: {listed:?}");
    }
    assert!(!listed.contains(&pending.as_str()), "a pending request is not listed");

    // 3–5. Select five, set the options, issue on all four readers.
    let expect = Expect {
        pin_length: 6,
        puk_length: 7,
        slots: vec![("9a", "01")],
        card_state: "issued",
        certificate_state: "on_hold",
    };
    let hands = Hands::new(&lab, work.path(), &expect);
    let mut args = vec!["start".to_owned()];
    for (r, _) in &requests[..5] {
        args.extend(["--request".to_owned(), r.clone()]);
    }
    args.extend(
        [
            "--pin-length",
            "6",
            "--puk-length",
            "7",
            "--certificates",
            "9a",
            "--card-end-state",
            "issued",
            "--certificate-end-state",
            "on-hold",
            "--readers",
        ]
        .map(str::to_owned),
    );
    args.push(hands.reader_list());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let summary = spawn_batch(&world.station, "bea", &args, &hands.senders(), &hands.ledger).finish();
    eprintln!("seed 003 batch of 5 on 4 readers: {:?}", started.elapsed());
    let (readers, ledger) = hands.stop();
    assert!(ledger.problems.is_empty(), "{:#?}", ledger.problems);
    let batch = &summary["batch"];
    assert_eq!(batch["counts"]["done"], 5, "{summary}");
    assert_eq!(ledger.checked.len(), 5, "OpenSC signed on every card with its PIN");
    let used: std::collections::BTreeSet<&str> =
        ledger.events.iter().filter(|e| e["event"] == "done").filter_map(|e| e["reader"].as_str()).collect();
    assert!(used.len() >= 2, "cards were encoded on several readers in parallel: {used:?}");

    let devices = check_finished_cards(&world, &readers[0], &ledger.finished, &expect);
    for (_, device) in &requests[..5] {
        assert!(devices.contains(device), "device {device} was encoded");
        let puk = world
            .registry
            .get_json_at(&world.station, "bea", &format!("/v1/devices/{device}/escrow/puk"))
            .unwrap();
        let puk = puk.as_str().unwrap();
        assert_eq!(puk.len() / 2, expect.puk_length, "the escrowed PUK has the chosen length");
        let actions = audit_actions(&world.registry, device);
        assert!(actions.iter().any(|a| a.ends_with("record_issuance")), "{device}: {actions:?}");
    }
    let left = json_ok(world.station.as_operator("bea", &["batch", "list-approved"]).unwrap());
    let left: Vec<&str> =
        left["requests"].as_array().unwrap().iter().map(|r| r["request"]["id"].as_str().unwrap()).collect();
    assert_eq!(left, vec![left_out.0.as_str()], "only the request left out is still approved");
    let chain = world.registry.get_json("admin", "/v1/audit/verify").unwrap();
    assert_eq!(chain["intact"], true, "{chain}");
}

#[test]
fn a_cancelled_batch_leaves_no_card_half_written_and_resume_finishes_it() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let world = world(work.path());
    let requests = approved(&world, 10, "Cancel");
    let expect = Expect {
        pin_length: 8,
        puk_length: 8,
        slots: vec![("9a", "01"), ("9c", "02")],
        card_state: "active",
        certificate_state: "valid",
    };
    let hands = Hands::new(&lab, work.path(), &expect);
    let mut args =
        vec!["start".to_owned(), "--all-approved".to_owned(), "--readers".to_owned(), hands.reader_list()];
    args.truncate(4);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let process = spawn_batch(&world.station, "bea", &args, &hands.senders(), &hands.ledger);
    // Cancel from another process once the first card is done.
    let batch = loop {
        let l = hands.ledger.lock().unwrap();
        let created = l
            .events
            .iter()
            .find(|e| e["event"] == "created")
            .map(|e| e["batch"].as_str().unwrap().to_owned());
        if let (Some(b), true) = (created, l.events.iter().any(|e| e["event"] == "done")) {
            break b;
        }
        drop(l);
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let cancelled = json_ok(world.station.as_operator("bea", &["batch", "cancel", &batch]).unwrap());
    assert_eq!(cancelled["cancelled"], true, "{cancelled}");
    let summary = process.finish();
    let counts = &summary["batch"]["counts"];
    eprintln!("cancelled: {counts}");
    assert_eq!(counts["encoding"], 0, "no card left half-written: {summary}");
    assert_eq!(counts["failed"], 0, "{summary}");
    let done = counts["done"].as_u64().unwrap();
    assert!((1..10).contains(&done), "the batch stopped part-way: {summary}");
    assert_eq!(counts["pending"].as_u64().unwrap(), 10 - done, "the rest stay pending: {summary}");
    let status = json_ok(world.station.as_operator("bea", &["batch", "status", &batch]).unwrap());
    assert_eq!(status["counts"], *counts);
    // No job open: every card started was finished.
    let jobs = json_ok(world.station.as_operator("bea", &["jobs"]).unwrap());
    assert!(jobs["jobs"].as_array().unwrap().is_empty(), "{jobs}");

    let readers = hands.reader_list();
    let summary = spawn_batch(
        &world.station,
        "bea",
        &["resume", &batch, "--readers", &readers],
        &hands.senders(),
        &hands.ledger,
    )
    .finish();
    assert_eq!(summary["batch"]["counts"]["done"], 10, "resume finishes the batch: {summary}");
    let (readers, ledger) = hands.stop();
    assert!(ledger.problems.is_empty(), "{:#?}", ledger.problems);
    assert_eq!(ledger.checked.len(), 10);
    let devices = check_finished_cards(&world, &readers[0], &ledger.finished, &expect);
    for (_, device) in &requests {
        assert!(devices.contains(device), "device {device} was encoded");
    }
}

#[test]
fn a_batch_killed_at_random_moments_is_finished_by_resume_and_everything_agrees() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let world = world(work.path());
    let n = 12;
    let requests = approved(&world, n, "Kill");
    let seed: u64 = std::env::var("BATCH_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::random::<u64>() % 1_000_000);
    eprintln!("SIGKILL points from seed {seed} (BATCH_KILL_SEED={seed} repeats them)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let expect = Expect {
        pin_length: 8,
        puk_length: 8,
        slots: vec![("9a", "01"), ("9c", "02")],
        card_state: "active",
        certificate_state: "valid",
    };
    let hands = Hands::new(&lab, work.path(), &expect);
    let readers = hands.reader_list();
    let mut args = vec!["start".to_owned()];
    for (r, _) in &requests {
        args.extend(["--request".to_owned(), r.clone()]);
    }
    args.extend(["--readers".to_owned(), readers.clone()]);
    let start_args: Vec<&str> = args.iter().map(String::as_str).collect();

    let mut batch: Option<String> = None;
    let kills = 4;
    for k in 0..kills {
        let args: Vec<String> = match &batch {
            None => start_args.iter().map(|s| s.to_string()).collect(),
            Some(b) => vec!["resume".into(), b.clone(), "--readers".into(), readers.clone()],
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let process = spawn_batch(&world.station, "bea", &args, &hands.senders(), &hands.ledger);
        let delay = rng.gen_range(300..2500);
        std::thread::sleep(std::time::Duration::from_millis(delay));
        eprintln!("kill {k} after {delay} ms");
        process.kill();
        if batch.is_none() {
            let l = hands.ledger.lock().unwrap();
            batch = l
                .events
                .iter()
                .find(|e| e["event"] == "created")
                .map(|e| e["batch"].as_str().unwrap().to_owned());
        }
    }
    let batch = batch.expect("the batch was created before the first kill");
    // pcscd may still hold a killed client's transaction briefly.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let summary = spawn_batch(
        &world.station,
        "bea",
        &["resume", &batch, "--readers", &readers],
        &hands.senders(),
        &hands.ledger,
    )
    .finish();
    let counts = &summary["batch"]["counts"];
    eprintln!("after the kills and a resume: {counts}");
    assert_eq!(counts["done"].as_u64().unwrap() as usize, n, "every card done: {summary}");
    let (lab_readers, ledger) = hands.stop();
    assert!(ledger.problems.is_empty(), "{:#?}", ledger.problems);
    eprintln!(
        "{} cards checked with the PIN printed, {} set aside as failed",
        ledger.checked.len(),
        ledger.set_aside
    );

    // Every card, record and certificate agrees.
    let devices = check_finished_cards(&world, &lab_readers[0], &ledger.finished, &expect);
    for (_, device) in &requests {
        assert!(devices.contains(device), "device {device} is on a finished card");
    }
    let jobs = json_ok(world.station.as_operator("bea", &["jobs"]).unwrap());
    assert!(jobs["jobs"].as_array().unwrap().is_empty(), "no job left open: {jobs}");
    let left = json_ok(world.station.as_operator("bea", &["batch", "list-approved"]).unwrap());
    assert!(left["requests"].as_array().unwrap().is_empty(), "no request left to encode: {left}");
    let status = json_ok(world.station.as_operator("bea", &["batch", "status", &batch]).unwrap());
    assert_eq!(status["counts"]["encoding"], 0, "{status}");
}

/// A card that fails (not a tear: its PUK is not the factory one, so the
/// last write, the PUK, fails after the certificates were issued) is reported, its production failure recorded, and its
/// request retried once on the next card, which succeeds.
#[test]
fn a_failed_card_is_reported_and_its_request_retried_on_the_next_card() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let world = world(work.path());
    let requests = approved(&world, 2, "Retry");
    // Blank stock whose PUK someone changed: it looks blank, the encoding fails at the end.
    let bad = Arc::new(Mutex::new(vcard::Card::factory_fresh(vcard::CardConfig::new(next_serial()))));
    {
        let mut card = bad.lock().unwrap();
        let select = [0x00, 0xA4, 0x04, 0x00, 0x09, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00];
        assert!(card.process(&select).ends_with(&[0x90, 0x00]));
        let mut change = vec![0x00, 0x24, 0x00, 0x81, 0x10];
        change.extend_from_slice(b"1234567887654321");
        assert!(card.process(&change).ends_with(&[0x90, 0x00]), "PUK changed");
    }
    let expect = Expect {
        pin_length: 8,
        puk_length: 8,
        slots: vec![("9a", "01"), ("9c", "02")],
        card_state: "active",
        certificate_state: "valid",
    };
    let hands = Hands::with(&lab, work.path(), &expect, 1, Some(bad));
    let args = [
        "start",
        "--request",
        &requests[0].0,
        "--request",
        &requests[1].0,
        "--readers",
        &hands.reader_list(),
    ]
    .map(str::to_owned);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let summary = spawn_batch(&world.station, "bea", &args, &hands.senders(), &hands.ledger).finish();
    let (readers, ledger) = hands.stop();
    assert!(ledger.problems.is_empty(), "{:#?}", ledger.problems);
    assert_eq!(summary["batch"]["counts"]["done"], 2, "{summary}");
    let failed: Vec<&Value> = ledger.events.iter().filter(|e| e["event"] == "failed").collect();
    assert_eq!(failed.len(), 1, "the bad card is reported: {failed:?}");
    assert_eq!(failed[0]["request"], requests[0].0.as_str());
    assert_eq!(failed[0]["retried"], true);
    assert!(!failed[0]["error"].as_str().unwrap().is_empty());
    assert_eq!(ledger.set_aside, 1, "the failed card was set aside");
    let item = &summary["batch"]["items"][0];
    assert_eq!(item["attempts"], 2, "retried once: {item}");
    let devices = check_finished_cards(&world, &readers[0], &ledger.finished, &expect);
    assert!(devices.contains(&requests[0].1));
    let actions = audit_actions(&world.registry, &requests[0].1);
    eprintln!("audit of the retried card: {actions:?}");
    for action in ["record_production_failure", "retry_issuance", "record_issuance"] {
        assert!(actions.iter().any(|a| a.ends_with(action)), "{action} in {actions:?}");
    }
    assert!(actions.iter().any(|a| a.ends_with("record_issuance")), "{actions:?}");
}
