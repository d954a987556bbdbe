//! Seed 001 (UC-TEMP) walked as an operator would, through the real
//! `cardstation` binary, a real `cardstation-registry serve` over pinned TLS
//! and the real pcscd with virtual cards:
//!
//! * order → produced; "Initialize temporary card" is disabled by default
//!   (a clear refusal, the card untouched); enabled, the operator searches
//!   the produced cards and initializes one → `unassigned`, the PIN shown
//!   once verifies on the card, the escrowed management key and PUK are the
//!   card's; temporary cards carry no certificates;
//! * assign → the holder's permanent card is `temporarily_inactive` at the
//!   registry (certificates on hold); withdraw "no longer needed" → active
//!   again (valid); withdraw "lost" → it stays inactive (on hold);
//! * expiry (the station's sweep) and lock;
//! * refusals with clear messages: use case disabled, wrong permission,
//!   state not allowed, assigning to yourself, a profile that is no
//!   temporary-card profile;
//! * tearing at every APDU index of the initialization, before and after
//!   the card executes it: initializing again finishes the job, and card,
//!   station records and registry records agree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use e2e::lab::{Lab, LabReader, WAIT};
use e2e::station::{profile, TestRegistry, TestStation};
use e2e::tools;
use serde_json::Value;

const TEMP_PROFILE: &str = r#"
name = "Temporary badge"
capabilities = "contact"
management_key = "aes256"
validate_issuance = false
card_end_state = "active"
certificate_end_state = "valid"
is_temporary = true
card_validity_days = 365
pin = { min_length = 6, max_length = 6, numeric = true, retries = 3 }
puk = { length = 8, numeric = true, retries = 3 }
slots = []
"#;

fn error_of(run: &tools::Run) -> (String, String) {
    assert!(!run.ok, "`{}` should have been refused:\n{}", run.command, run.stdout);
    let json = run.json();
    (
        json["error"]["code"].as_str().unwrap_or_default().to_owned(),
        json["error"]["message"].as_str().unwrap_or_default().to_owned(),
    )
}

fn ok(run: tools::Run) -> Value {
    assert!(run.ok, "`{}` failed:\n{}\n{}", run.command, run.stdout, run.stderr);
    run.json()
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// Every record of the registry's change feed, oldest first (as `admin`).
fn feed(registry: &TestRegistry) -> Vec<Value> {
    let mut all = Vec::new();
    let mut since: Option<String> = None;
    loop {
        let path = match &since {
            Some(s) => format!("/v1/changes?since={s}&limit=1000"),
            None => "/v1/changes?limit=1000".to_owned(),
        };
        let page = registry.get_json("admin", &path).unwrap();
        all.extend(
            page["changes"].as_array().unwrap_or_else(|| panic!("a feed page: {page}")).iter().cloned(),
        );
        since = page["next_cursor"].as_str().map(str::to_owned);
        if page["more"] != true {
            break;
        }
    }
    all.into_iter().map(|c| c["record"].clone()).collect()
}

/// The registry's latest record of type `kind` with id `id`.
fn at_registry(registry: &TestRegistry, kind: &str, id: &str) -> Value {
    feed(registry)
        .into_iter()
        .rev()
        .find(|r| r["type"] == kind && r["record"]["id"] == id)
        .unwrap_or_else(|| panic!("the registry has no {kind} {id}"))["record"]
        .clone()
}

/// The registry's certificates of `device`, latest state of each.
fn certificates_at_registry(registry: &TestRegistry, device: &str) -> Vec<Value> {
    let mut latest: Vec<Value> = Vec::new();
    for r in feed(registry) {
        if r["type"] == "certificate" && r["record"]["device"] == device {
            latest.retain(|c| c["id"] != r["record"]["id"]);
            latest.push(r["record"].clone());
        }
    }
    latest
}

/// The card in `reader` is temporary card `id`: the station reads it as
/// ours (`unassigned`, no open job); the PIN printed verifies; the
/// registry's escrowed management key authenticates to it and its escrowed
/// PUK unblocks it (the PIN is then set back to `pin`); the registry has
/// it `unassigned` and no certificate for it; no PIN try was spent.
fn check_initialized(
    station: &TestStation,
    registry: &TestRegistry,
    reader: &LabReader,
    id: &str,
    pin: &str,
    case: &str,
) {
    let view = ok(station.as_operator("tom", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(view["kind"], "temporary", "{case}: {view}");
    assert_eq!(view["temporary"]["id"], id, "{case}");
    assert_eq!(view["temporary"]["state"], "unassigned", "{case}");
    assert!(view["open_job"].is_null(), "{case}: no job left open: {view}");
    assert!(
        view["info"]["certificates"].as_array().is_none_or(Vec::is_empty),
        "{case}: a temporary card holds no certificate: {view}"
    );
    assert_eq!(pin.len(), 6, "{case}: the profile's PIN length");

    let record = at_registry(registry, "temporary_card", id);
    assert_eq!(record["state"], "unassigned", "{case}: {record}");
    assert!(certificates_at_registry(registry, id).is_empty(), "{case}: no certificate for a temporary card");

    let key = registry.get_json("tom", &format!("/v1/devices/{id}/escrow/management_key")).unwrap();
    let key = hex_decode(key.as_str().unwrap_or_else(|| panic!("{case}: the escrowed key: {key}")));
    let puk = registry.get_json("tom", &format!("/v1/devices/{id}/escrow/puk")).unwrap();
    let puk = String::from_utf8(hex_decode(puk.as_str().unwrap_or_else(|| panic!("{case}: the PUK: {puk}"))))
        .unwrap();
    let mut connection = reader.connect();
    let mut tx = connection.transaction().unwrap();
    {
        let mut card = piv::PivCard::new(&mut tx);
        card.select().unwrap();
        let pin = piv::Pin::new(pin).unwrap();
        card.verify_pin(&pin).unwrap_or_else(|e| panic!("{case}: the PIN printed verifies: {e}"));
        let key = piv::ManagementKey::new(piv::ManagementKeyAlgorithm::Aes256, &key).unwrap();
        card.authenticate(&key)
            .unwrap_or_else(|e| panic!("{case}: the escrowed management key is the card's: {e}"));
        card.unblock_pin(&piv::Puk::new(&puk).unwrap(), &pin)
            .unwrap_or_else(|e| panic!("{case}: the escrowed PUK is the card's: {e}"));
    }
    let _ = tx.end();
}

/// Seed 001 from order to lock, with the permanent card following.
#[test]
fn seed_001_temporary_cards_order_initialize_assign_withdraw_expire_lock() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&work.path().join("registry")).unwrap();
    registry.use_case("request", true).unwrap();
    registry.role("Temporary cards", &[], &["manage_temporary_cards"]).unwrap();
    registry.role("Issuers", &["can_request", "can_collect"], &[]).unwrap();
    registry.operator("tom", "Temp", &["Temporary cards"]).unwrap();
    registry.operator("ivy", "Issuer", &["Issuers"]).unwrap();
    let employee = registry.profile(&profile("Employee", false)).unwrap();
    let temporary = registry.profile(TEMP_PROFILE).unwrap();
    let station = TestStation::enroll(&work.path().join("station"), &registry).unwrap();
    let person = |given: &str, family: &str| {
        ok(station
            .as_operator("admin", &["person", "add", "--given-name", given, "--family-name", family])
            .unwrap())["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let grace = person("Grace", "Hopper");
    let alan = person("Alan", "Turing");

    // Grace's permanent card, issued and active.
    let reader = lab.acquire_reader();
    let requested =
        ok(station.as_operator("ivy", &["request", "--person", &grace, "--profile", &employee]).unwrap());
    let permanent = requested["device"]["id"].as_str().unwrap().to_owned();
    let (_badge, badge_plugged) = reader.insert_fresh(6_100_000 + std::process::id() % 1000);
    let issued =
        ok(station.as_operator("ivy", &["issue", "--device", &permanent, "--reader", &reader.name]).unwrap());
    assert_eq!(issued["device"]["state"], "active", "{issued}");
    badge_plugged.remove();
    reader.wait_card_absent(WAIT);

    // Order: only a temporary-card profile, only with Manage temporary cards.
    let (code, message) =
        error_of(&station.as_operator("tom", &["temp", "order", "--profile", &employee]).unwrap());
    assert_eq!(code, "profile-not-temporary", "{message}");
    assert!(message.contains("not a temporary-card profile"), "{message}");
    let (code, message) =
        error_of(&station.as_operator("ivy", &["temp", "order", "--profile", &temporary]).unwrap());
    assert_eq!(code, "not-permitted", "{message}");
    assert!(message.contains("Manage temporary cards"), "{message}");
    let ordered = ok(station.as_operator("tom", &["temp", "order", "--profile", &temporary]).unwrap());
    assert_eq!(ordered["state"], "ordered", "{ordered}");
    let card = ordered["id"].as_str().unwrap().to_owned();
    let produced =
        ok(station.as_operator("tom", &["temp", "produced", &card, "--serial", "TMP-0001"]).unwrap());
    assert_eq!(produced["state"], "produced", "{produced}");
    assert_eq!(produced["serial"], "TMP-0001", "{produced}");
    let (code, message) =
        error_of(&station.as_operator("tom", &["temp", "produced", &card, "--serial", "TMP-0002"]).unwrap());
    assert_eq!(code, "state-not-allowed", "{message}");

    // "This use case is disabled by default": refused, the card untouched.
    let (_temp_card, plugged) = reader.insert_fresh(6_200_000 + std::process::id() % 1000);
    let (code, message) =
        error_of(&station.as_operator("tom", &["temp", "init", &card, "--reader", &reader.name]).unwrap());
    assert_eq!(code, "use-case-disabled", "{message}");
    assert!(message.contains("Initialize temporary card") && message.contains("disabled"), "{message}");
    let blank = ok(station.as_operator("tom", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(blank["kind"], "blank", "{blank}");
    registry.use_case("temp_initialize", true).unwrap();

    // Search: temporary cards in state produced; select ours; initialize.
    let listed = ok(station.as_operator("tom", &["temp", "list", "--state", "produced"]).unwrap());
    let listed: Vec<&str> = listed.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![card.as_str()]);
    let (code, message) =
        error_of(&station.as_operator("ivy", &["temp", "init", &card, "--reader", &reader.name]).unwrap());
    assert_eq!(code, "not-permitted", "{message}");
    let init = ok(station.as_operator("tom", &["temp", "init", &card, "--reader", &reader.name]).unwrap());
    assert_eq!(init["card"]["state"], "unassigned", "{init}");
    let pin = init["pin"].as_str().unwrap().to_owned();
    check_initialized(&station, &registry, &reader, &card, &pin, "seed 001");
    assert!(ok(station.as_operator("tom", &["temp", "list", "--state", "produced"]).unwrap())
        .as_array()
        .unwrap()
        .is_empty());
    // A temporary card in the drawer is not blank stock: it cannot be issued over.
    plugged.remove();
    reader.wait_card_absent(WAIT);

    // Assign: Grace's permanent card becomes temporarily inactive, its certificates on hold.
    let assigned = ok(station.as_operator("tom", &["temp", "assign", &card, "--person", &grace]).unwrap());
    assert_eq!(assigned["state"], "assigned", "{assigned}");
    assert_eq!(assigned["holder"], grace.as_str(), "{assigned}");
    assert_eq!(assigned["permanent_card"], permanent.as_str(), "{assigned}");
    assert_eq!(at_registry(&registry, "device", &permanent)["state"], "temporarily_inactive");
    let held = certificates_at_registry(&registry, &permanent);
    assert_eq!(held.len(), 2);
    assert!(held.iter().all(|c| c["state"]["state"] == "on_hold"), "{held:?}");
    // State not allowed: initializing or assigning an assigned card.
    let (code, message) =
        error_of(&station.as_operator("tom", &["temp", "assign", &card, "--person", &alan]).unwrap());
    assert_eq!(code, "state-not-allowed", "{message}");
    assert!(message.contains("assigned"), "{message}");
    // Wrong permission: withdrawing needs Manage temporary cards.
    let (code, message) = error_of(
        &station.as_operator("ivy", &["temp", "withdraw", &card, "--reason", "no-longer-needed"]).unwrap(),
    );
    assert_eq!(code, "not-permitted", "{message}");

    // Return, no longer needed: the permanent card is active again, certificates valid.
    let back =
        ok(station.as_operator("tom", &["temp", "withdraw", &card, "--reason", "no-longer-needed"]).unwrap());
    assert_eq!(back["state"], "unassigned", "{back}");
    assert!(back["holder"].is_null() && back["permanent_card"].is_null(), "{back}");
    assert_eq!(at_registry(&registry, "device", &permanent)["state"], "active");
    assert!(certificates_at_registry(&registry, &permanent).iter().all(|c| c["state"]["state"] == "valid"));

    // Nobody lends a temporary card to themselves.
    let tom = ok(station.as_operator("tom", &["signin"]).unwrap());
    let (code, message) = error_of(
        &station
            .as_operator("tom", &["temp", "assign", &card, "--person", tom["person"].as_str().unwrap()])
            .unwrap(),
    );
    assert_eq!(code, "actor-is-recipient", "{message}");

    // Return, lost: the permanent card stays inactive, certificates on hold.
    ok(station.as_operator("tom", &["temp", "assign", &card, "--person", &grace]).unwrap());
    assert_eq!(at_registry(&registry, "device", &permanent)["state"], "temporarily_inactive");
    let back = ok(station.as_operator("tom", &["temp", "withdraw", &card, "--reason", "lost"]).unwrap());
    assert_eq!(back["state"], "unassigned", "{back}");
    assert_eq!(at_registry(&registry, "device", &permanent)["state"], "inactive");
    assert!(certificates_at_registry(&registry, &permanent).iter().all(|c| c["state"]["state"] == "on_hold"));

    // Expiry: an assignment whose period passed is expired by the sweep, then withdrawn.
    let soon = time_in(3);
    let (code, message) = error_of(
        &station
            .as_operator("tom", &["temp", "assign", &card, "--person", &alan, "--until", &time_in(-60)])
            .unwrap(),
    );
    assert_eq!(code, "date-not-in-future", "a period already over: {message}");
    let lent = ok(station
        .as_operator("tom", &["temp", "assign", &card, "--person", &alan, "--until", &soon])
        .unwrap());
    assert_eq!(lent["state"], "assigned", "{lent}");
    assert!(lent["permanent_card"].is_null(), "Alan has no card: {lent}");
    let none = ok(station.as_operator("tom", &["temp", "expire"]).unwrap());
    assert!(none.as_array().unwrap().is_empty(), "not yet expired: {none}");
    // Wait for the assignment's end (a date to pass, not a timing assertion).
    std::thread::sleep(std::time::Duration::from_secs(4));
    let expired = ok(station.as_operator("tom", &["temp", "expire"]).unwrap());
    let expired: Vec<&str> = expired.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(expired, vec![card.as_str()]);
    assert_eq!(at_registry(&registry, "temporary_card", &card)["state"], "expired");
    let back =
        ok(station.as_operator("tom", &["temp", "withdraw", &card, "--reason", "no-longer-needed"]).unwrap());
    assert_eq!(back["state"], "unassigned", "{back}");

    // Lock (final): nothing more can be done with it.
    let locked = ok(station.as_operator("tom", &["temp", "lock", &card]).unwrap());
    assert_eq!(locked["state"], "locked", "{locked}");
    let (code, message) =
        error_of(&station.as_operator("tom", &["temp", "assign", &card, "--person", &alan]).unwrap());
    assert_eq!(code, "state-not-allowed", "{message}");
    assert!(message.contains("locked"), "{message}");
    let (code, _) = error_of(&station.as_operator("tom", &["temp", "list", "--state", "lent"]).unwrap());
    assert_eq!(code, "bad-input");

    // The audit trail names every step, all successful, and its chain verifies.
    let events = audit_of(&registry, &card);
    let notes: Vec<String> = events.iter().filter_map(|e| e["notes"].as_str().map(str::to_owned)).collect();
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"op.order_temporary_card"), "{actions:?}");
    for step in ["mark_produced", "initialize", "assign", "withdraw", "expire", "lock"] {
        assert!(notes.iter().any(|n| n.contains(step)), "the audit names {step}: {notes:?}");
    }
    assert!(notes.iter().any(|n| n.contains("lost")), "the return reason is recorded: {notes:?}");
    assert_eq!(actions.iter().filter(|a| **a == "op.store_escrow").count(), 2, "{actions:?}");
    let refused: Vec<&Value> = events.iter().filter(|e| e["outcome"]["outcome"] != "success").collect();
    assert!(
        refused.iter().all(|e| e["outcome"]["outcome"] == "refused"),
        "refusals are recorded as such: {refused:?}"
    );
    let chain = registry.get_json("admin", "/v1/audit/verify").unwrap();
    assert_eq!(chain["intact"], true, "{chain}");
}

/// RFC 3339 UTC `seconds` from now.
fn time_in(seconds: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let t = now + seconds;
    let (days, rest) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// The audit events about `object`.
fn audit_of(registry: &TestRegistry, object: &str) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    let mut from = 0u64;
    loop {
        let page = registry.get_json("admin", &format!("/v1/audit?from={from}&limit=500")).unwrap();
        all.extend(
            page["events"].as_array().unwrap_or_else(|| panic!("an audit page: {page}")).iter().cloned(),
        );
        match page["next_from"].as_u64() {
            Some(next) => from = next,
            None => break,
        }
    }
    all.into_iter().filter(|e| e["object"].to_string().contains(object)).collect()
}

struct World {
    registry: TestRegistry,
    profile: String,
}

/// A new produced temporary card; returns its id.
fn produced_card(station: &TestStation, world: &World) -> String {
    let ordered = ok(station.as_operator("tom", &["temp", "order", "--profile", &world.profile]).unwrap());
    let card = ordered["id"].as_str().unwrap().to_owned();
    ok(station.as_operator("tom", &["temp", "produced", &card]).unwrap());
    card
}

fn init(station: &TestStation, card: &str, reader: &LabReader) -> tools::Run {
    station.as_operator("tom", &["temp", "init", card, "--reader", &reader.name]).unwrap()
}

/// Returns whether the tear fired (a run shorter than the clean one finishes first).
fn tear_and_recover(station: &TestStation, world: &World, reader: &LabReader, k: u64, after: bool) -> bool {
    let case = format!("tear at APDU {k} ({} execution)", if after { "after" } else { "before" });
    let card = produced_card(station, world);
    let serial = 6_500_000 + (k as u32) * 2 + u32::from(after);
    let mut faults = vcard::Faults::tear_after(k);
    if after {
        faults = faults.after_execution();
    }
    let vcard =
        Arc::new(Mutex::new(vcard::Card::factory_fresh(vcard::CardConfig::new(serial).with_faults(faults))));
    let plugged = reader.insert(Arc::clone(&vcard));
    reader.wait_card_present(WAIT);

    let start = vcard.lock().unwrap().stats().apdus;
    let torn = init(station, &card, reader);
    if torn.ok {
        // This run needed no more than k APDUs (fewer than the clean run
        // measured), so the tear never fired: the initialization finished.
        let used = vcard.lock().unwrap().stats().apdus - start;
        assert!(used <= k, "{case}: {used} APDUs went through a torn card: {}", torn.stdout);
        vcard.lock().unwrap().set_faults(vcard::Faults::default());
        let pin = torn.json()["pin"].as_str().unwrap().to_owned();
        check_initialized(station, &world.registry, reader, &card, &pin, &case);
        plugged.remove();
        reader.wait_card_absent(WAIT);
        return false;
    }
    assert!(!torn.stderr.contains("panicked"), "{case}: {}", torn.stderr);
    let code = torn.json()["error"]["code"].as_str().unwrap_or_default().to_owned();
    assert!(
        matches!(code.as_str(), "card-removed" | "no-card" | "reader-gone" | "card-reset"),
        "{case}: a pulled card is reported as such, not {code:?}: {}\n{}",
        torn.stdout,
        torn.stderr
    );
    // vpcd puts the card back: initializing again finds the job and finishes it.
    reader.wait_card_absent(WAIT);
    reader.wait_card_present(WAIT);
    let registry_state = at_registry(&world.registry, "temporary_card", &card)["state"].clone();
    assert_eq!(registry_state, "produced", "{case}: not initialized at the registry before the card is done");
    let recovered = ok(init(station, &card, reader));
    assert_eq!(recovered["card"]["state"], "unassigned", "{case}: {recovered}");
    let pin = recovered["pin"]
        .as_str()
        .unwrap_or_else(|| panic!("{case}: a PIN is printed: {recovered}"))
        .to_owned();
    assert_eq!(vcard.lock().unwrap().pin_tries_remaining(), 3, "{case}: no PIN try spent");
    check_initialized(station, &world.registry, reader, &card, &pin, &case);
    let jobs = ok(station.as_operator("tom", &["jobs"]).unwrap());
    assert!(jobs["jobs"].as_array().unwrap().is_empty(), "{case}: no job open: {jobs}");
    plugged.remove();
    reader.wait_card_absent(WAIT);
    true
}

#[test]
fn a_temporary_card_pulled_at_any_apdu_of_initialization_is_finished_and_everything_agrees() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&work.path().join("registry")).unwrap();
    registry.use_case("temp_initialize", true).unwrap();
    registry.role("Temporary cards", &[], &["manage_temporary_cards"]).unwrap();
    registry.operator("tom", "Temp", &["Temporary cards"]).unwrap();
    let profile = registry.profile(TEMP_PROFILE).unwrap();
    let world = World { registry, profile };

    // How many APDUs a clean initialization sends (the card counts them).
    let station = TestStation::enroll(&work.path().join("station-0"), &world.registry).unwrap();
    let total = {
        let reader = lab.acquire_reader();
        let card = produced_card(&station, &world);
        let (vcard, plugged) = reader.insert_fresh(6_400_000 + std::process::id() % 1000);
        let before = vcard.lock().unwrap().stats().apdus;
        let run = ok(init(&station, &card, &reader));
        let total = vcard.lock().unwrap().stats().apdus - before;
        check_initialized(
            &station,
            &world.registry,
            &reader,
            &card,
            run["pin"].as_str().unwrap(),
            "clean run",
        );
        plugged.remove();
        reader.wait_card_absent(WAIT);
        total
    };
    assert!(total > 8, "an initialization is more than a handful of APDUs ({total})");
    eprintln!("tearing each of the {total} APDUs of `cardstation temp init`, before and after execution");

    let cases: Vec<(u64, bool)> = (0..total).flat_map(|k| [(k, false), (k, true)]).collect();
    let workers = 4.min(lab.reader_count());
    let chunks: Vec<Vec<(u64, bool)>> =
        (0..workers).map(|w| cases.iter().copied().skip(w).step_by(workers).collect()).collect();
    let torn: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .enumerate()
            .map(|(w, chunk)| {
                let (lab, world, work) = (&lab, &world, work.path());
                scope.spawn(move || {
                    let station =
                        TestStation::enroll(&work.join(format!("station-{}", w + 1)), &world.registry)
                            .unwrap();
                    let reader = lab.acquire_reader();
                    chunk
                        .into_iter()
                        .filter(|&(k, after)| tear_and_recover(&station, world, &reader, k, after))
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    eprintln!("{torn} of {} cases were torn; the others finished before their tear point", cases.len());
    assert!(torn * 10 >= cases.len() * 9, "most cases tear ({torn} of {})", cases.len());
}

/// An initialization torn after the card stored its CHUID: the card reads as
/// the temporary card with an open job; `jobs resume` points to `temp init`;
/// the operator rolls the job back (the card is lost), and the temporary
/// card, still `produced`, is initialized on another card.
#[test]
fn an_interrupted_initialization_rolled_back_is_done_again_on_another_card() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&work.path().join("registry")).unwrap();
    registry.use_case("temp_initialize", true).unwrap();
    registry.role("Temporary cards", &[], &["manage_temporary_cards"]).unwrap();
    registry.operator("tom", "Temp", &["Temporary cards"]).unwrap();
    let profile = registry.profile(TEMP_PROFILE).unwrap();
    let world = World { registry, profile };
    let station = TestStation::enroll(&work.path().join("station"), &world.registry).unwrap();
    let reader = lab.acquire_reader();
    let card = produced_card(&station, &world);

    let faults = vcard::Faults::tear_at(0xDB).after_execution();
    let vcard = Arc::new(Mutex::new(vcard::Card::factory_fresh(
        vcard::CardConfig::new(6_600_000 + std::process::id() % 1000).with_faults(faults),
    )));
    let plugged = reader.insert(Arc::clone(&vcard));
    reader.wait_card_present(WAIT);
    let torn = init(&station, &card, &reader);
    assert!(!torn.ok, "the run is torn: {}", torn.stdout);
    reader.wait_card_absent(WAIT);
    reader.wait_card_present(WAIT);
    let view = ok(station.as_operator("tom", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(view["kind"], "temporary", "{view}");
    assert_eq!(view["temporary"]["state"], "produced", "{view}");
    let job = view["open_job"].as_str().unwrap_or_else(|| panic!("an open job: {view}")).to_owned();
    let (code, message) =
        error_of(&station.as_operator("tom", &["jobs", "resume", &job, "--reader", &reader.name]).unwrap());
    assert_eq!(code, "bad-input", "{message}");
    assert!(message.contains("temp init"), "{message}");

    plugged.remove();
    reader.wait_card_absent(WAIT);
    let rolled =
        ok(station.as_operator("tom", &["jobs", "rollback", &job, "--reason", "card damaged"]).unwrap());
    assert_eq!(rolled["state"], "rolled_back", "{rolled}");
    assert_eq!(at_registry(&world.registry, "temporary_card", &card)["state"], "produced");

    let (_fresh, _plugged) = reader.insert_fresh(6_700_000 + std::process::id() % 1000);
    let done = ok(init(&station, &card, &reader));
    assert_eq!(done["card"]["state"], "unassigned", "{done}");
    assert_eq!(done["resumed"], false, "{done}");
    check_initialized(&station, &world.registry, &reader, &card, done["pin"].as_str().unwrap(), "retry");
}
