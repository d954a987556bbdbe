//! Tear safety of `cardstation issue` (SPEC §2): the card is pulled at every
//! APDU index of an issuance, before and after the card executes it, with
//! the real registry (CA, escrow) over TLS and the real pcscd. On
//! re-insertion the interrupted job is found by its card and resumed
//! (escrowed management key, a new PIN); afterwards the card, the station
//! and the registry agree: the certificates on the card are exactly the
//! device's valid certificates, every other certificate issued for it is
//! revoked, no job is left open, and OpenSC signs with the PIN printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::lab::{Lab, LabReader, WAIT};
use e2e::station::{TestRegistry, TestStation};
use e2e::tools;
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex};

const PROFILE: &str = r#"
name = "Badge"
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
certificate = { subject = "CN={name},O=Example", validity_days = 365, ekus = ["client_auth"] }
"#;

struct World {
    registry: TestRegistry,
    profile: String,
    person: String,
}

fn json_ok(run: tools::Run) -> Value {
    assert!(run.ok, "`{}` failed:\n{}\n{}", run.command, run.stdout, run.stderr);
    run.json()
}

/// A new approved card request; returns (request, device).
fn approved_request(station: &TestStation, world: &World) -> (String, String) {
    let r = json_ok(
        station
            .as_operator("rita", &["request", "--person", &world.person, "--profile", &world.profile])
            .unwrap(),
    );
    assert_eq!(r["device"]["state"], "approved", "{r}");
    (r["request"]["id"].as_str().unwrap().to_owned(), r["device"]["id"].as_str().unwrap().to_owned())
}

fn issue(station: &TestStation, request: &str, reader: &LabReader) -> tools::Run {
    station.as_operator("ivy", &["issue", "--request", request, "--reader", &reader.name]).unwrap()
}

/// Card, station and registry agree on `device`; OpenSC signs with `pin`.
fn check_consistent(
    station: &TestStation,
    reader: &LabReader,
    device: &str,
    pin: &str,
    case: &str,
    work: &Path,
) {
    let view = json_ok(station.as_operator("ivy", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(view["kind"], "ours", "{case}: {view}");
    assert_eq!(view["device"]["id"], device, "{case}");
    assert_eq!(view["device"]["state"], "active", "{case}");
    assert!(view["open_job"].is_null(), "{case}: no job left open: {view}");
    let norm = |s: &str| s.trim_start_matches('0').to_uppercase();
    let mut on_card: Vec<String> = view["info"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| norm(c["summary"]["serial_hex"].as_str().unwrap()))
        .collect();
    let mut valid = Vec::new();
    for c in view["certificates"].as_array().unwrap() {
        match c["state"]["state"].as_str().unwrap() {
            "valid" => valid.push(norm(c["serial"].as_str().unwrap())),
            "revoked" => {}
            other => panic!("{case}: certificate {c} is {other}: neither on the card nor revoked"),
        }
    }
    on_card.sort();
    valid.sort();
    assert_eq!(on_card.len(), 1, "{case}: one slot in the profile");
    assert_eq!(on_card, valid, "{case}: the valid certificates are exactly the card's");
    let recorded: Vec<String> = view["device"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recorded.len(), 1, "{case}: the device record names the card's certificate: {view}");

    let pem = tools::yubico_piv_tool(&reader.name, &["-a", "read-certificate", "-s", "9a"])
        .unwrap()
        .expect_ok()
        .unwrap();
    let cert = work.join("9a.pem");
    std::fs::write(&cert, pem.stdout).unwrap();
    tools::pkcs11_sign_and_verify(&reader.name, pin, "01", "ECDSA-SHA256", &cert, work)
        .unwrap_or_else(|e| panic!("{case}: OpenSC must sign with the PIN printed: {e:#}"));
}

fn tear_and_recover(
    station: &TestStation,
    world: &World,
    reader: &LabReader,
    k: u64,
    after: bool,
    work: &Path,
) {
    let case = format!("tear at APDU {k} ({} execution)", if after { "after" } else { "before" });
    let work = work.join(format!("{k}-{after}"));
    std::fs::create_dir_all(&work).unwrap();
    let (request, device) = approved_request(station, world);
    let serial = 8_000_000 + (k as u32) * 2 + u32::from(after);
    let mut faults = vcard::Faults::tear_after(k);
    if after {
        faults = faults.after_execution();
    }
    let card =
        Arc::new(Mutex::new(vcard::Card::factory_fresh(vcard::CardConfig::new(serial).with_faults(faults))));
    let plugged = reader.insert(Arc::clone(&card));
    reader.wait_card_present(WAIT);

    let torn = issue(station, &request, reader);
    assert!(!torn.ok, "{case}: the issue must fail: {}", torn.stdout);
    assert!(!torn.stderr.contains("panicked"), "{case}: {}", torn.stderr);
    let code = torn.json()["error"]["code"].as_str().unwrap_or_default().to_owned();
    assert!(
        matches!(code.as_str(), "card-removed" | "no-card" | "reader-gone" | "card-reset"),
        "{case}: a pulled card is reported as such, not {code:?}: {}\n{}",
        torn.stdout,
        torn.stderr
    );
    // vpcd puts the card back 1.5 s later: recovery on insertion.
    reader.wait_card_absent(WAIT);
    reader.wait_card_present(WAIT);
    let jobs = json_ok(station.as_operator("ivy", &["jobs"]).unwrap());
    let open = jobs["jobs"].as_array().unwrap().iter().any(|j| j["device"] == device.as_str());
    let recovered = if open {
        station.as_operator("ivy", &["jobs", "resume", "--reader", &reader.name]).unwrap()
    } else {
        // Torn before the job began (while the card was first read): issue again.
        issue(station, &request, reader)
    };
    let recovered = json_ok(recovered);
    assert_eq!(recovered["device"]["state"], "active", "{case}: {recovered}");
    let pin = recovered["pin"]
        .as_str()
        .unwrap_or_else(|| panic!("{case}: a PIN is printed: {recovered}"))
        .to_owned();
    check_consistent(station, reader, &device, &pin, &case, &work);
    assert_eq!(card.lock().unwrap().pin_tries_remaining(), 3, "{case}: no PIN try left spent");
    plugged.remove();
    reader.wait_card_absent(WAIT);
}

/// A registry with a requester, an issuer (who may also revoke and unblock),
/// a one-slot profile, a cardholder, and an administrator's station.
fn world(work: &Path) -> World {
    let registry = TestRegistry::start(&work.join("registry")).unwrap();
    registry.use_case("request", true).unwrap();
    registry.role("Requesters", &["can_request"], &[]).unwrap();
    registry.role("Issuers", &["can_collect"], &["cancel_revoke", "unblock_pin"]).unwrap();
    registry.operator("rita", "Requester", &["Requesters"]).unwrap();
    registry.operator("ivy", "Issuer", &["Issuers"]).unwrap();
    let profile = registry.profile(PROFILE).unwrap();
    let admin_station = TestStation::enroll(&work.join("station-admin"), &registry).unwrap();
    let person = json_ok(
        admin_station
            .as_operator("admin", &["person", "add", "--given-name", "Ada", "--family-name", "Lovelace"])
            .unwrap(),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    World { registry, profile, person }
}

#[test]
fn a_card_pulled_at_any_apdu_of_issue_is_finished_on_reinsertion_and_everything_agrees() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let world = world(work.path());

    // How many APDUs a clean issuance sends (the card counts them).
    let station = TestStation::enroll(&work.path().join("station-0"), &world.registry).unwrap();
    let total = {
        let reader = lab.acquire_reader();
        let (request, device) = approved_request(&station, &world);
        let (card, plugged) = reader.insert_fresh(7_900_000 + std::process::id() % 1000);
        let before = card.lock().unwrap().stats().apdus;
        let run = json_ok(issue(&station, &request, &reader));
        let pin = run["pin"].as_str().unwrap().to_owned();
        let total = card.lock().unwrap().stats().apdus - before;
        let dir = work.path().join("clean");
        std::fs::create_dir_all(&dir).unwrap();
        check_consistent(&station, &reader, &device, &pin, "clean run", &dir);
        plugged.remove();
        reader.wait_card_absent(WAIT);
        total
    };
    assert!(total > 20, "an issuance is more than a handful of APDUs ({total})");
    eprintln!("tearing each of the {total} APDUs of `cardstation issue`, before and after execution");

    let cases: Vec<(u64, bool)> = (0..total).flat_map(|k| [(k, false), (k, true)]).collect();
    let workers = 4.min(lab.reader_count());
    let chunks: Vec<Vec<(u64, bool)>> =
        (0..workers).map(|w| cases.iter().copied().skip(w).step_by(workers).collect()).collect();
    std::thread::scope(|scope| {
        for (w, chunk) in chunks.into_iter().enumerate() {
            let (lab, world, work) = (&lab, &world, work.path());
            scope.spawn(move || {
                let station =
                    TestStation::enroll(&work.join(format!("station-{}", w + 1)), &world.registry).unwrap();
                let reader = lab.acquire_reader();
                for (k, after) in chunk {
                    tear_and_recover(&station, world, &reader, k, after, work);
                }
            });
        }
    });
}

#[test]
fn an_interrupted_job_rolled_back_fails_production_revokes_its_certificates_and_is_retried_on_another_card() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let world = world(work.path());
    let station = TestStation::enroll(&work.path().join("station"), &world.registry).unwrap();
    let reader = lab.acquire_reader();
    let (request, device) = approved_request(&station, &world);

    // Pulled at the first PUT DATA (the CHUID), after the card stored it: the
    // job's certificate was issued (the CA works while the card does), not
    // yet written.
    let faults = vcard::Faults::tear_at(0xDB).after_execution();
    let card = Arc::new(Mutex::new(vcard::Card::factory_fresh(
        vcard::CardConfig::new(7_600_000 + std::process::id() % 1000).with_faults(faults),
    )));
    let plugged = reader.insert(Arc::clone(&card));
    reader.wait_card_present(WAIT);
    let torn = issue(&station, &request, &reader);
    assert!(!torn.ok, "the run is torn: {}", torn.stdout);
    let jobs = json_ok(station.as_operator("ivy", &["jobs"]).unwrap());
    let job = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["device"] == device.as_str())
        .unwrap_or_else(|| panic!("an open job for the device: {jobs}"))
        .clone();
    assert_eq!(
        job["writes_done"].as_u64(),
        Some(3),
        "management key, PIN and the 9A key were written before the CHUID's write was torn: {job}"
    );
    // The card is lost: roll back.
    plugged.remove();
    reader.wait_card_absent(WAIT);
    let rolled = json_ok(
        station
            .as_operator(
                "ivy",
                &["jobs", "rollback", job["id"].as_str().unwrap(), "--reason", "card damaged"],
            )
            .unwrap(),
    );
    assert_eq!(rolled["state"], "rolled_back", "{rolled}");
    assert!(json_ok(station.as_operator("ivy", &["jobs"]).unwrap())["jobs"].as_array().unwrap().is_empty());

    // Production failed is retryable with another card.
    let (_fresh, _plugged) = reader.insert_fresh(7_700_000 + std::process::id() % 1000);
    let issued = json_ok(
        station.as_operator("ivy", &["issue", "--device", &device, "--reader", &reader.name]).unwrap(),
    );
    assert_eq!(issued["device"]["state"], "active", "{issued}");
    let pin = issued["pin"].as_str().unwrap().to_owned();
    let dir = work.path().join("retry");
    std::fs::create_dir_all(&dir).unwrap();
    check_consistent(&station, &reader, &device, &pin, "retry after rollback", &dir);
    let view = json_ok(station.as_operator("ivy", &["read", "--reader", &reader.name]).unwrap());
    let revoked =
        view["certificates"].as_array().unwrap().iter().filter(|c| c["state"]["state"] == "revoked").count();
    assert!(revoked >= 1, "the rolled-back job's certificate is revoked: {view}");
}

/// `cardstation issue` SIGKILLed at spread-out moments (from before the job
/// exists to after the registry recorded the card); running `issue` again
/// finds the interrupted job and finishes it, and everything agrees.
#[test]
fn an_issue_killed_at_any_moment_is_finished_by_the_next_run() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let world = world(work.path());
    // A whole issuance takes a few hundred milliseconds here: kill points spread over it
    // (a run that finished before its kill keeps its own answer).
    let delays_ms: Vec<u64> = (0..14).map(|i| 10 + i * 20).collect();
    let workers = 2;
    std::thread::scope(|scope| {
        for w in 0..workers {
            let (lab, world, work) = (&lab, &world, work.path());
            let delays: Vec<u64> = delays_ms.iter().copied().skip(w).step_by(workers).collect();
            scope.spawn(move || {
                let station =
                    TestStation::enroll(&work.join(format!("kill-station-{w}")), &world.registry).unwrap();
                let reader = lab.acquire_reader();
                for delay in delays {
                    let case = format!("SIGKILL after {delay} ms");
                    let (request, device) = approved_request(&station, world);
                    let (card, plugged) = reader.insert_fresh(7_400_000 + delay as u32);
                    let mut child = std::process::Command::new(tools::cardstation_bin())
                        .args(["--json", "--data", station.data.to_str().unwrap()])
                        .args(["issue", "--request", &request, "--reader", &reader.name])
                        .env("CARDSTATION_OPERATOR", "ivy")
                        .env("CARDSTATION_PASSWORD", e2e::station::PASSWORD)
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::null())
                        .spawn()
                        .unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(delay));
                    let finished = child.try_wait().unwrap().is_some();
                    let _ = child.kill();
                    let output = child.wait_with_output().unwrap();
                    let again = if finished && output.status.success() {
                        serde_json::from_slice::<Value>(&output.stdout).unwrap()
                    } else {
                        // pcscd may still be releasing the killed client's transaction
                        // (the card then reports a reset or is busy): an operator retries.
                        let mut attempt = 0;
                        loop {
                            let run = issue(&station, &request, &reader);
                            let code =
                                if run.ok { String::new() } else { run.json()["error"]["code"].to_string() };
                            attempt += 1;
                            if attempt < 3 && (code.contains("card-reset") || code.contains("card-in-use")) {
                                continue;
                            }
                            let message = if run.ok {
                                String::new()
                            } else {
                                run.json()["error"]["message"].as_str().unwrap_or_default().to_owned()
                            };
                            if message.contains("active") {
                                // Killed after the registry recorded the issuance but before the
                                // PIN reached the operator: the card is issued, and the operator
                                // sets a new PIN with the escrowed PUK.
                                let unblock = station
                                    .as_operator(
                                        "ivy",
                                        &[
                                            "unblock",
                                            "--identity-check",
                                            "kill test",
                                            "--reader",
                                            &reader.name,
                                        ],
                                    )
                                    .unwrap();
                                let unblocked = json_ok(unblock);
                                break serde_json::json!({
                                    "device": unblocked["device"],
                                    "pin": unblocked["pin"],
                                });
                            }
                            break json_ok(run);
                        }
                    };
                    assert_eq!(again["device"]["state"], "active", "{case}: {again}");
                    let pin =
                        again["pin"].as_str().unwrap_or_else(|| panic!("{case}: a PIN: {again}")).to_owned();
                    let dir = work.join(format!("kill-{delay}"));
                    std::fs::create_dir_all(&dir).unwrap();
                    check_consistent(&station, &reader, &device, &pin, &case, &dir);
                    assert_eq!(card.lock().unwrap().pin_tries_remaining(), 3, "{case}");
                    plugged.remove();
                    reader.wait_card_absent(WAIT);
                }
            });
        }
    });
}
