//! A card pulled after every APDU of a full personalization through the
//! `cardstation` CLI, over the real pcscd and vpcd: each pull gives a typed
//! error (no panic), and re-running on the re-inserted card finishes a card
//! that OpenSC accepts and signs with.
#![allow(clippy::unwrap_used)]

use e2e::lab::{Lab, LabReader, WAIT};
use e2e::tools::{self, cardstation, path};
use std::path::Path;
use std::sync::{Arc, Mutex};

const PIN: &str = "13572468";
const SECRETS: [(&str, &str); 4] = [
    ("CARDSTATION_LOG", "reader=debug"),
    ("CARDSTATION_NEW_PIN", PIN),
    ("CARDSTATION_NEW_PUK", "97531864"),
    ("CARDSTATION_MANAGEMENT_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
];

fn personalize(reader: &LabReader, ca: &Path) -> tools::Run {
    let profile = tools::profile("piv-p256.toml");
    cardstation(
        &[
            "--json",
            "card",
            "personalize",
            "--reader",
            &reader.name,
            "--profile",
            path(&profile),
            "--ca-dir",
            path(ca),
        ],
        &SECRETS,
    )
    .unwrap()
}

/// How many APDUs a clean personalization sends (the card counts them).
fn apdus_of_a_clean_run(lab: &Lab, ca: &Path) -> u64 {
    let reader = lab.acquire_reader();
    let (card, _plugged) = reader.insert_fresh(4_000_000 + std::process::id() % 1000);
    let before = card.lock().unwrap().stats().apdus;
    let run = personalize(&reader, ca);
    assert!(run.ok, "a clean run succeeds: {}", run.stdout);
    let after = card.lock().unwrap().stats().apdus;
    after - before
}

/// Pulls the card at APDU `k` (before or after the card executed it), then
/// re-runs and has OpenSC judge the result.
fn tear_and_recover(reader: &LabReader, k: u64, after_execution: bool, ca: &Path, work: &Path) {
    let serial = 5_000_000 + (k as u32) * 2 + u32::from(after_execution);
    let mut faults = vcard::Faults::tear_after(k);
    if after_execution {
        faults = faults.after_execution();
    }
    let card =
        Arc::new(Mutex::new(vcard::Card::factory_fresh(vcard::CardConfig::new(serial).with_faults(faults))));
    let plugged = reader.insert(Arc::clone(&card));
    reader.wait_card_present(WAIT);
    let case = format!("tear at APDU {k} ({} execution)", if after_execution { "after" } else { "before" });
    let work = work.join(format!("{k}-{after_execution}"));
    std::fs::create_dir_all(&work).unwrap();
    let work = work.as_path();

    let torn = personalize(reader, ca);
    assert!(!torn.ok, "{case}: the run must fail");
    assert!(!torn.stderr.contains("panicked"), "{case}: no panic: {}", torn.stderr);
    let code = torn.json()["error"]["code"].as_str().unwrap_or_default().to_owned();
    assert!(
        matches!(code.as_str(), "card-removed" | "no-card" | "reader-gone" | "card-reset"),
        "{case}: a pulled card is reported as such, not as {code:?}: {}\n{}",
        torn.stdout,
        torn.stderr
    );

    // vpcd puts the card back 1.5 s after the tear.
    reader.wait_card_absent(WAIT);
    reader.wait_card_present(WAIT);
    let rerun = personalize(reader, ca);
    assert!(rerun.ok, "{case}: the re-run finishes the card: {}\n{}", rerun.stdout, rerun.stderr);

    // OpenSC sees all three certificates and signs with 9A using the PIN.
    let listed =
        tools::pkcs15_tool(reader.index_for_opensc, &["--list-certificates"]).unwrap().expect_ok().unwrap();
    assert_eq!(listed.stdout.matches("X.509 Certificate").count(), 3, "{case}: {}", listed.stdout);
    let cert = work.join("9a.pem");
    let pem = tools::yubico_piv_tool(&reader.name, &["-a", "read-certificate", "-s", "9a"])
        .unwrap()
        .expect_ok()
        .unwrap();
    std::fs::write(&cert, pem.stdout).unwrap();
    tools::pkcs11_sign_and_verify(&reader.name, PIN, "01", "ECDSA-SHA256", &cert, work)
        .unwrap_or_else(|e| panic!("{case}: OpenSC must sign with the finished card: {e:#}"));
    assert_eq!(card.lock().unwrap().pin_tries_remaining(), 3, "{case}: no PIN try is left spent");

    // pcscd must see this card leave before the next one arrives, or it takes
    // the next card for this one and misses its removal.
    plugged.remove();
    reader.wait_card_absent(WAIT);
}

#[test]
fn a_card_pulled_at_any_apdu_of_personalization_is_finished_by_a_rerun() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let ca = work.path().join("ca");
    let total = apdus_of_a_clean_run(&lab, &ca);
    assert!(total > 20, "a personalization is more than a handful of APDUs ({total})");
    eprintln!("tearing each of the {total} APDUs of a personalization, before and after execution");

    // Every index, both ways a tear can fall, spread over several readers.
    let cases: Vec<(u64, bool)> = (0..total).flat_map(|k| [(k, false), (k, true)]).collect();
    let workers = 4.min(lab.reader_count());
    let chunks: Vec<Vec<(u64, bool)>> =
        (0..workers).map(|w| cases.iter().copied().skip(w).step_by(workers).collect()).collect();
    std::thread::scope(|scope| {
        for chunk in chunks {
            let (lab, ca, work) = (&lab, &ca, work.path());
            scope.spawn(move || {
                let reader = lab.acquire_reader();
                for (k, after) in chunk {
                    tear_and_recover(&reader, k, after, ca, work);
                }
            });
        }
    });
}
