//! Walk-up initialization (UC-WALKUP) through the real `cardstation walkup`,
//! a real `cardstation-registry serve` over pinned TLS whose mail goes to
//! its local mailbox, the real pcscd and blank virtual cards: a cardholder's
//! code from their enrollment email enrolls a blank card with the PIN they
//! chose, and OpenSC signs with that PIN; the task shows them completed with
//! the card's serial; the code is used up; a kiosk account can do nothing
//! but walk-up; wrong codes lock the enrollment; and a card pulled at any
//! APDU of the walk-up encode is finished when reinserted with the same code,
//! leaving no half card and no orphan certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use e2e::lab::{Lab, LabReader, WAIT};
use e2e::station::{TestRegistry, TestStation, WALKUP_PROFILE};
use e2e::tools;
use serde_json::Value;

struct World {
    registry: TestRegistry,
    /// The provisioner's and checker's station.
    office: TestStation,
    profile: String,
}

fn ok(run: tools::Run) -> Value {
    assert!(run.ok, "`{}` failed:\n{}\n{}", run.command, run.stdout, run.stderr);
    run.json()
}

fn error_of(run: &tools::Run) -> (String, String) {
    assert!(!run.ok, "`{}` should have been refused:\n{}", run.command, run.stdout);
    let json = run.json();
    (
        json["error"]["code"].as_str().unwrap_or_default().to_owned(),
        json["error"]["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A registry with a provisioner, a kiosk account (walk-up only), the
/// profile, and the office station.
fn world(work: &Path) -> World {
    let registry = TestRegistry::start(&work.join("registry")).unwrap();
    registry.walkup_accounts().unwrap();
    let profile = registry.profile(WALKUP_PROFILE).unwrap();
    let office = TestStation::enroll(&work.join("office"), &registry).unwrap();
    World { registry, office, profile }
}

/// A new person invited by a new task; returns (task number, person id, code).
fn invite(world: &World, given: &str) -> (u64, String, String) {
    invite_until(world, given, None)
}

/// [`invite`] with the task's stop date.
fn invite_until(world: &World, given: &str, stop: Option<&str>) -> (u64, String, String) {
    let email = format!("{}@example.org", given.to_lowercase());
    let args = ["person", "add", "--given-name", given, "--family-name", "Walker", "--email", &email];
    let person = ok(world.office.as_operator("admin", &args).unwrap())["id"].as_str().unwrap().to_owned();
    let mut args = vec!["provision", "create", "--profile", &world.profile, "--person", &person];
    if let Some(stop) = stop {
        args.extend(["--stop-date", stop]);
    }
    let task = ok(world.office.as_operator("pat", &args).unwrap());
    (task["number"].as_u64().unwrap(), person, world.registry.code_mailed_to(&email).unwrap())
}

fn walkup(kiosk: &TestStation, reader: &LabReader, code: &str, pin: &str) -> tools::Run {
    kiosk
        .as_operator_env(
            "kiosk",
            &["walkup", "--reader", &reader.name],
            &[("CARDSTATION_ENROLLMENT_CODE", code), ("CARDSTATION_NEW_PIN", pin)],
        )
        .unwrap()
}

fn task_user(world: &World, number: u64, person: &str) -> Value {
    let task = ok(world.office.as_operator("pat", &["provision", "show", &number.to_string()]).unwrap());
    task["users"].as_array().unwrap().iter().find(|u| u["person"] == person).cloned().expect("the user's row")
}

/// The card in `reader` is the cardholder's, active, its one valid
/// certificate exactly the card's (every other one revoked), and OpenSC
/// signs with `pin`.
fn check_card(world: &World, reader: &LabReader, person: &str, pin: &str, case: &str, work: &Path) {
    let read = || world.office.as_operator("admin", &["read", "--reader", &reader.name]).unwrap();
    let mut run = read();
    if !run.ok && run.stdout.contains("\"card-removed\"") {
        // A tear armed for the walk-up's last APDU pulls the card after it
        // answered; vpcd puts it back.
        reader.wait_card_present(WAIT);
        run = read();
    }
    let view = ok(run);
    assert_eq!(view["kind"], "ours", "{case}: {view}");
    assert_eq!(view["device"]["owner"], person, "{case}: the cardholder's card");
    assert_eq!(view["device"]["state"], "active", "{case}: {view}");
    let norm = |s: &str| s.trim_start_matches('0').to_uppercase();
    let on_card: Vec<String> = view["info"]["certificates"]
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
    assert_eq!(on_card.len(), 1, "{case}: one slot in the profile: {view}");
    assert_eq!(on_card, valid, "{case}: the valid certificates are exactly the card's");
    std::fs::create_dir_all(work).unwrap();
    let pem = tools::yubico_piv_tool(&reader.name, &["-a", "read-certificate", "-s", "9a"])
        .unwrap()
        .expect_ok()
        .unwrap();
    let cert = work.join("9a.pem");
    std::fs::write(&cert, pem.stdout).unwrap();
    tools::pkcs11_sign_and_verify(&reader.name, pin, "01", "ECDSA-SHA256", &cert, work)
        .unwrap_or_else(|e| panic!("{case}: OpenSC must sign with the cardholder's PIN: {e:#}"));
}

#[test]
fn a_cardholder_enrolls_a_blank_card_with_their_code_and_their_own_pin() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let world = world(work.path());
    let kiosk = TestStation::enroll(&work.path().join("kiosk"), &world.registry).unwrap();
    let reader = lab.acquire_reader();

    // A kiosk account can do nothing but walk-up.
    let (code, message) = error_of(&kiosk.as_operator("kiosk", &["provision", "list"]).unwrap());
    assert_eq!(code, "not-permitted", "{message}");
    let (code, _) =
        error_of(&world.office.as_operator("pat", &["walkup", "--reader", &reader.name]).unwrap());
    assert_eq!(code, "not-permitted", "an operator without the walk-up permission is no kiosk");

    let (task, grace, grace_code) = invite(&world, "Grace");
    let (card, plugged) = reader.insert_fresh(5_100_000 + std::process::id() % 1000);
    reader.wait_card_present(WAIT);

    // The PIN policy is checked before any card work.
    let (code, message) = error_of(&walkup(&kiosk, &reader, &grace_code, "1234"));
    assert_eq!(code, "pin-not-allowed", "{message}");
    assert!(message.contains("6 to 8"), "{message}");

    let done = ok(walkup(&kiosk, &reader, &grace_code, "246810"));
    assert_eq!(done["walkup"]["person_name"], "Grace Walker", "{done}");
    assert_eq!(done["authenticated"], true, "{done}");
    let serial = done["encoded"]["serial"].as_str().unwrap().to_owned();
    assert!(!done.to_string().contains(&grace_code), "the code is never echoed");
    check_card(&world, &reader, &grace, "246810", "walk-up", &work.path().join("grace"));
    assert_eq!(card.lock().unwrap().pin_tries_remaining(), 3, "the kiosk's own verification spent no try");

    // Completed (enrolled and authenticated once), with the card's serial.
    let row = task_user(&world, task, &grace);
    assert_eq!(row["status"], "completed", "{row}");
    assert_eq!(row["serial"].as_str(), Some(serial.as_str()), "{row}");
    // A completed task leaves the list.
    let listed = ok(world.office.as_operator("pat", &["provision", "list"]).unwrap());
    assert!(listed["tasks"].as_array().unwrap().iter().all(|t| t["number"] != task), "{listed}");

    // The code is used up.
    let (code, _) = error_of(&walkup(&kiosk, &reader, &grace_code, "246810"));
    assert_eq!(code, "wrong-enrollment-code");
    plugged.remove();
    reader.wait_card_absent(WAIT);

    // Wrong codes lock the enrollment (policy: 5); the right one is refused then.
    let (task, alan, alan_code) = invite(&world, "Alan");
    let (_card, plugged) = reader.insert_fresh(5_200_000 + std::process::id() % 1000);
    reader.wait_card_present(WAIT);
    let tag = &alan_code[..4];
    for attempt in 0..5 {
        let wrong = format!("{tag}-0000-0000-000{attempt}");
        let (code, message) = error_of(&walkup(&kiosk, &reader, &wrong, "246810"));
        if attempt < 4 {
            assert_eq!(code, "wrong-enrollment-code", "attempt {attempt}: {message}");
            assert!(message.contains(&format!("{} attempts left", 4 - attempt)), "{message}");
        } else {
            // The fifth locks it, and says so.
            assert_eq!(code, "state-not-allowed", "{message}");
            assert!(message.contains("locked"), "{message}");
        }
    }
    let (code, message) = error_of(&walkup(&kiosk, &reader, &alan_code, "246810"));
    // A locked enrollment's code is deleted: it opens nothing any more.
    assert_eq!(code, "wrong-enrollment-code", "the right code, too late: {message}");
    assert_eq!(task_user(&world, task, &alan)["status"], "locked");
    let view = ok(world.office.as_operator("admin", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(view["kind"], "blank", "a locked code writes nothing: {view}");

    // Past the stop date the code is refused, and the enrollment is expired.
    let stop = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let stop_text = stop.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (task, hedy, hedy_code) = invite_until(&world, "Hedy", Some(&stop_text));
    while time::OffsetDateTime::now_utc() <= stop {
        // Waiting on the clock itself: the stop date is the event.
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (code, message) = error_of(&walkup(&kiosk, &reader, &hedy_code, "246810"));
    assert_eq!(code, "stop-date-passed", "{message}");
    assert_eq!(task_user(&world, task, &hedy)["status"], "expired");
    let view = ok(world.office.as_operator("admin", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(view["kind"], "blank", "an expired code writes nothing: {view}");
    plugged.remove();
    reader.wait_card_absent(WAIT);
}

/// Pulls the card at APDU `k` of a walk-up encode; reinserted, the same code
/// finishes it. Returns whether the tear fired.
fn tear_and_recover(world: &World, kiosk: &TestStation, reader: &LabReader, k: u64, after: bool) -> bool {
    let case = format!("tear at APDU {k} ({} execution)", if after { "after" } else { "before" });
    let work = tempfile::tempdir().unwrap();
    let (task, person, code) = invite(world, &format!("Tear{k}{}", if after { "b" } else { "a" }));
    let serial = 5_300_000 + (k as u32) * 2 + u32::from(after);
    let mut faults = vcard::Faults::tear_after(k);
    if after {
        faults = faults.after_execution();
    }
    let vcard =
        Arc::new(Mutex::new(vcard::Card::factory_fresh(vcard::CardConfig::new(serial).with_faults(faults))));
    let plugged = reader.insert(Arc::clone(&vcard));
    reader.wait_card_present(WAIT);
    let start = vcard.lock().unwrap().stats().apdus;
    let torn = walkup(kiosk, reader, &code, "135790");
    let fired = !torn.ok;
    if torn.ok {
        let used = vcard.lock().unwrap().stats().apdus - start;
        assert!(used <= k + 1, "{case}: {used} APDUs went through a torn card: {}", torn.stdout);
        vcard.lock().unwrap().set_faults(vcard::Faults::default());
    } else {
        assert_pulled(&case, &torn);
        // vpcd puts the card back: the cardholder enters the same code again.
        reader.wait_card_absent(WAIT);
        reader.wait_card_present(WAIT);
        assert_eq!(
            task_user(world, task, &person)["status"],
            "active",
            "{case}: not enrolled before the card is done"
        );
        ok(walkup(kiosk, reader, &code, "135790"));
    }
    check_card(world, reader, &person, "135790", &case, work.path());
    assert_eq!(task_user(world, task, &person)["status"], "completed", "{case}");
    let jobs = ok(kiosk.as_operator("kiosk", &["jobs"]).unwrap());
    assert!(jobs["jobs"].as_array().unwrap().is_empty(), "{case}: no job open at the kiosk: {jobs}");
    plugged.remove();
    reader.wait_card_absent(WAIT);
    fired
}

#[test]
fn a_card_pulled_at_any_apdu_of_a_walkup_is_finished_with_the_same_code() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let world = world(work.path());

    // How many APDUs a clean walk-up sends (the card counts them).
    let kiosk = TestStation::enroll(&work.path().join("kiosk-0"), &world.registry).unwrap();
    let total = {
        let reader = lab.acquire_reader();
        let (_, person, code) = invite(&world, "Clean");
        let (card, plugged) = reader.insert_fresh(5_250_000 + std::process::id() % 1000);
        reader.wait_card_present(WAIT);
        let before = card.lock().unwrap().stats().apdus;
        ok(walkup(&kiosk, &reader, &code, "135790"));
        let total = card.lock().unwrap().stats().apdus - before;
        check_card(&world, &reader, &person, "135790", "clean run", &work.path().join("clean"));
        plugged.remove();
        reader.wait_card_absent(WAIT);
        total
    };
    assert!(total > 20, "a walk-up encode is more than a handful of APDUs ({total})");
    eprintln!("tearing each of the {total} APDUs of `cardstation walkup`, before and after execution");

    let cases: Vec<(u64, bool)> = (0..total).flat_map(|k| [(k, false), (k, true)]).collect();
    let torn = sweep(&lab, &world, work.path(), &cases, tear_and_recover);
    eprintln!("{torn} of {} cases were torn; the others finished before their tear point", cases.len());
    assert!(torn * 10 >= cases.len() * 9, "most cases tear ({torn} of {})", cases.len());
}

/// Runs the tear `cases` (APDU index, after execution) on up to four readers
/// at once, each with a kiosk of its own; how many tears fired.
fn sweep(
    lab: &Lab,
    world: &World,
    work: &Path,
    cases: &[(u64, bool)],
    case: fn(&World, &TestStation, &LabReader, u64, bool) -> bool,
) -> usize {
    let workers = 4.min(lab.reader_count());
    let chunks: Vec<Vec<(u64, bool)>> =
        (0..workers).map(|w| cases.iter().copied().skip(w).step_by(workers).collect()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .enumerate()
            .map(|(w, chunk)| {
                scope.spawn(move || {
                    let kiosk =
                        TestStation::enroll(&work.join(format!("kiosk-{}", w + 1)), &world.registry).unwrap();
                    let reader = lab.acquire_reader();
                    chunk.into_iter().filter(|&(k, after)| case(world, &kiosk, &reader, k, after)).count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

/// A torn run failed as a pulled card does: no panic, a card error named as such.
fn assert_pulled(case: &str, torn: &tools::Run) {
    assert!(!torn.stderr.contains("panicked"), "{case}: {}", torn.stderr);
    let error = torn.json()["error"]["code"].as_str().unwrap_or_default().to_owned();
    assert!(
        matches!(error.as_str(), "card-removed" | "no-card" | "reader-gone" | "card-reset"),
        "{case}: a pulled card is reported as such, not {error:?}: {}\n{}",
        torn.stdout,
        torn.stderr
    );
}

/// The office's updater: requests updates (Can Request, Can Collect).
fn with_updater(world: &World) {
    world.registry.role("Updaters", &["can_request", "can_collect"], &[]).unwrap();
    world.registry.operator("uma", "Updater", &["Updaters"]).unwrap();
}

/// A new person's card, enrolled at `kiosk` with `pin`; returns (person, device).
fn enrolled(
    world: &World,
    kiosk: &TestStation,
    reader: &LabReader,
    given: &str,
    pin: &str,
) -> (String, String) {
    let (_, person, code) = invite(world, given);
    ok(walkup(kiosk, reader, &code, pin));
    let view = ok(world.office.as_operator("admin", &["read", "--reader", &reader.name]).unwrap());
    (person, view["device"]["id"].as_str().unwrap().to_owned())
}

/// The office asks for every key of `device` to be made anew (approved at once: same profile).
fn request_reprovision(world: &World, device: &str) {
    let args = ["request-update", "--device", device, "--reason", "reprovision"];
    let requested = ok(world.office.as_operator("uma", &args).unwrap());
    assert_eq!(requested["request"]["state"], "approved", "{requested}");
}

/// `cardstation walkup` with no code: the card is recognised by its update.
fn walkup_update(kiosk: &TestStation, reader: &LabReader, current: &str, new_pin: &str) -> tools::Run {
    kiosk
        .as_operator_env(
            "kiosk",
            &["walkup", "--reader", &reader.name],
            &[("CARDSTATION_PIN", current), ("CARDSTATION_NEW_PIN", new_pin)],
        )
        .unwrap()
}

/// Approved updates of the card in `reader` still to collect, as the office reads them.
fn pending_updates(world: &World, reader: &LabReader) -> usize {
    let view = ok(world.office.as_operator("admin", &["read", "--reader", &reader.name]).unwrap());
    view["pending_updates"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_card_with_an_update_waiting_is_updated_at_the_kiosk_once_its_pin_proves_it() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let world = world(work.path());
    with_updater(&world);
    let kiosk = TestStation::enroll(&work.path().join("kiosk"), &world.registry).unwrap();
    let reader = lab.acquire_reader();
    let (card, plugged) = reader.insert_fresh(5_400_000 + std::process::id() % 1000);
    reader.wait_card_present(WAIT);
    let (ada, device) = enrolled(&world, &kiosk, &reader, "Ada", "246810");
    let old = ok(world.office.as_operator("admin", &["read", "--reader", &reader.name]).unwrap());
    let old_serial = old["info"]["certificates"][0]["summary"]["serial_hex"].as_str().unwrap().to_owned();

    // Nothing waiting: the kiosk asks for a code, and the card is not touched.
    let idle = walkup_update(&kiosk, &reader, "246810", "975310");
    assert!(!idle.ok && !idle.stderr.contains("update waiting"), "{}", idle.stderr);

    request_reprovision(&world, &device);
    assert_eq!(pending_updates(&world, &reader), 1);

    // A wrong current PIN proves nothing (and counts on the card, as any wrong PIN).
    let (code, message) = error_of(&walkup_update(&kiosk, &reader, "111111", "975310"));
    assert_eq!(code, "wrong-pin", "{message}");
    assert_eq!(card.lock().unwrap().pin_tries_remaining(), 2);
    assert_eq!(pending_updates(&world, &reader), 1, "nothing was collected");

    // The right one: the card signs the registry's challenge, the kiosk updates it with the new PIN.
    let run = walkup_update(&kiosk, &reader, "246810", "975310");
    assert!(run.stderr.contains("Hello, Ada Walker. Your card has an update waiting"), "{}", run.stderr);
    let done = ok(run);
    assert_eq!(done["update"]["person_name"], "Ada Walker", "{done}");
    assert_eq!(done["update"]["reprovision"], true, "{done}");
    assert_eq!(done["authenticated"], true, "{done}");
    assert!(!done.to_string().contains("975310") && !done.to_string().contains("246810"), "no PIN echoed");
    check_card(&world, &reader, &ada, "975310", "kiosk update", &work.path().join("ada"));
    let new = ok(world.office.as_operator("admin", &["read", "--reader", &reader.name]).unwrap());
    let new_serial = new["info"]["certificates"][0]["summary"]["serial_hex"].as_str().unwrap();
    assert_ne!(new_serial, old_serial, "reprovisioned: a new key and certificate in 9A");
    assert_eq!(pending_updates(&world, &reader), 0, "the update is collected");
    assert_eq!(card.lock().unwrap().pin_tries_remaining(), 3, "the new PIN's check spent no try");
    let jobs = ok(kiosk.as_operator("kiosk", &["jobs"]).unwrap());
    assert!(jobs["jobs"].as_array().unwrap().is_empty(), "no job open at the kiosk: {jobs}");

    // Nothing waiting any more: the kiosk asks for a code, and nothing changes.
    let again = walkup_update(&kiosk, &reader, "975310", "135790");
    assert!(!again.ok, "{}", again.stdout);
    check_card(&world, &reader, &ada, "975310", "after the update", &work.path().join("ada-2"));

    // "Apply latest updates" at the kiosk too: the card keeps its key and
    // certificate (the profile has not changed) and takes the new PIN.
    let args = ["request-update", "--device", device.as_str(), "--reason", "apply-latest"];
    assert_eq!(ok(world.office.as_operator("uma", &args).unwrap())["request"]["state"], "approved");
    let done = ok(walkup_update(&kiosk, &reader, "975310", "135790"));
    assert_eq!(done["update"]["reprovision"], false, "{done}");
    check_card(&world, &reader, &ada, "135790", "apply latest", &work.path().join("ada-3"));
    let kept = ok(world.office.as_operator("admin", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(
        kept["info"]["certificates"][0]["summary"]["serial_hex"].as_str().unwrap(),
        new_serial,
        "nothing to change: the certificate stays"
    );
    assert_eq!(pending_updates(&world, &reader), 0);
    plugged.remove();
    reader.wait_card_absent(WAIT);
}

/// Pulls the card at APDU `k` of a kiosk update (counted from its insertion:
/// recognising, proving, updating, trying the PIN); reinserted, the same
/// kiosk finishes it. Returns whether the tear fired.
fn tear_update(world: &World, kiosk: &TestStation, reader: &LabReader, k: u64, after: bool) -> bool {
    let case =
        format!("kiosk update torn at APDU {k} ({} execution)", if after { "after" } else { "before" });
    let work = tempfile::tempdir().unwrap();
    let serial = 5_500_000 + (k as u32) * 2 + u32::from(after);
    let vcard = Arc::new(Mutex::new(vcard::Card::factory_fresh(vcard::CardConfig::new(serial))));
    let plugged = reader.insert(Arc::clone(&vcard));
    reader.wait_card_present(WAIT);
    let (person, device) =
        enrolled(world, kiosk, reader, &format!("Upd{k}{}", if after { "b" } else { "a" }), "246810");
    request_reprovision(world, &device);
    plugged.remove();
    reader.wait_card_absent(WAIT);
    let mut faults = vcard::Faults::tear_after(k);
    if after {
        faults = faults.after_execution();
    }
    vcard.lock().unwrap().set_faults(faults);
    let plugged = reader.insert(Arc::clone(&vcard));
    reader.wait_card_present(WAIT);
    let torn = walkup_update(kiosk, reader, "246810", "975310");
    let fired = !vcard.lock().unwrap().faults().is_armed();
    if !torn.ok {
        assert!(fired, "{case}: failed without a tear: {}\n{}", torn.stdout, torn.stderr);
        assert_pulled(&case, &torn);
        reader.wait_card_absent(WAIT);
        reader.wait_card_present(WAIT);
        // Torn before the registry recorded the update: the kiosk finishes it
        // (with the current PIN if it must prove the card again).
        if pending_updates(world, reader) > 0 {
            ok(walkup_update(kiosk, reader, "246810", "975310"));
        }
    } else {
        vcard.lock().unwrap().set_faults(vcard::Faults::default());
    }
    assert_eq!(pending_updates(world, reader), 0, "{case}: collected");
    check_card(world, reader, &person, "975310", &case, work.path());
    let jobs = ok(kiosk.as_operator("kiosk", &["jobs"]).unwrap());
    assert!(jobs["jobs"].as_array().unwrap().is_empty(), "{case}: no job open at the kiosk: {jobs}");
    plugged.remove();
    reader.wait_card_absent(WAIT);
    fired
}

#[test]
fn a_card_pulled_during_its_kiosk_update_is_finished_by_the_same_kiosk() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let world = world(work.path());
    with_updater(&world);

    // How many APDUs a clean kiosk update sends, from the card's insertion.
    let kiosk = TestStation::enroll(&work.path().join("kiosk-0"), &world.registry).unwrap();
    let total = {
        let reader = lab.acquire_reader();
        let (card, plugged) = reader.insert_fresh(5_450_000 + std::process::id() % 1000);
        reader.wait_card_present(WAIT);
        let (_, device) = enrolled(&world, &kiosk, &reader, "Counted", "246810");
        request_reprovision(&world, &device);
        plugged.remove();
        reader.wait_card_absent(WAIT);
        let plugged = reader.insert(Arc::clone(&card));
        reader.wait_card_present(WAIT);
        let before = card.lock().unwrap().stats().apdus;
        ok(walkup_update(&kiosk, &reader, "246810", "975310"));
        let total = card.lock().unwrap().stats().apdus - before;
        plugged.remove();
        reader.wait_card_absent(WAIT);
        total
    };
    assert!(total > 20, "a kiosk update is more than a handful of APDUs ({total})");
    // Every fifth index, before and after execution, spread over the whole run
    // (each case enrolls a card first; the exhaustive sweep is the walk-up encode's).
    let cases: Vec<(u64, bool)> = (0..total).step_by(5).flat_map(|k| [(k, false), (k, true)]).collect();
    eprintln!(
        "tearing {} of the {total} APDUs of a kiosk update, before and after execution",
        cases.len() / 2
    );
    let torn = sweep(&lab, &world, work.path(), &cases, tear_update);
    eprintln!("{torn} of {} cases were torn", cases.len());
    assert!(torn * 10 >= cases.len() * 9, "most cases tear ({torn} of {})", cases.len());
}
