//! Cards that answer badly (truncated TLV, lengths that lie, unknown status
//! words, objects that never end), through the real pcscd: the CLI reports a
//! typed error or names the bad object, and never panics.
#![allow(clippy::unwrap_used)]

use e2e::lab::{Lab, LabReader, StubCard, WAIT};
use e2e::tools::{cardstation, path};
use serde_json::Value;

/// A real virtual card whose answer to the commands `matches` selects is
/// replaced by `bad(answer)`.
fn insert_with_bad_answer(
    reader: &LabReader,
    matches: impl Fn(&[u8]) -> bool + Send + 'static,
    bad: impl Fn(Vec<u8>) -> Vec<u8> + Send + 'static,
) -> StubCard {
    let mut card = vcard::Card::factory_fresh(vcard::CardConfig::new(6_000_000 + std::process::id() % 1000));
    let stub = reader.insert_stub(&card.atr(), move |apdu| {
        let answer = card.process(apdu);
        if matches(apdu) {
            bad(answer)
        } else {
            answer
        }
    });
    reader.wait_card_present(WAIT);
    stub
}

fn is_get_data(tag: &'static [u8]) -> impl Fn(&[u8]) -> bool {
    move |apdu: &[u8]| apdu.len() > 7 && apdu[1] == 0xCB && apdu[7..].starts_with(tag)
}

fn run(reader: &LabReader, args: &[&str]) -> (bool, Value, String) {
    let mut all = vec!["--json", "card"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--reader", &reader.name]);
    let run = cardstation(&all, &[]).unwrap();
    assert!(!run.stderr.contains("panicked"), "no panic: {}", run.stderr);
    let json =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("JSON expected ({e}): {}", run.stdout));
    (run.ok, json, run.stderr)
}

fn assert_error(outcome: (bool, Value, String), code: &str, why: &str) {
    let (ok, json, _) = outcome;
    assert!(!ok, "{why}: must fail");
    assert_eq!(json["error"]["code"], code, "{why}: {json}");
}

#[test]
fn a_truncated_select_answer_is_a_typed_error() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let _stub = insert_with_bad_answer(
        &reader,
        |apdu| apdu[1] == 0xA4,
        |mut answer| {
            let sw = answer.split_off(answer.len() - 2);
            answer.truncate(answer.len() / 2);
            [answer, sw].concat()
        },
    );
    assert_error(run(&reader, &["info"]), "malformed-card-data", "SELECT template cut in half");
}

#[test]
fn an_object_whose_length_lies_is_named_and_the_rest_is_still_shown() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    // The CHUID claims 256 bytes and holds 4.
    let _stub = insert_with_bad_answer(&reader, is_get_data(&[0x5F, 0xC1, 0x02]), |_| {
        vec![0x53, 0x82, 0x01, 0x00, 0x30, 0x19, 0xD4, 0xE7, 0x90, 0x00]
    });
    let (ok, json, _) = run(&reader, &["info"]);
    assert!(ok, "one bad object must not hide the rest of the card: {json}");
    assert!(json["chuid"].is_null(), "a CHUID that does not parse is not shown as one: {json}");
    let problems = json["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p.as_str().unwrap_or("").to_lowercase().contains("chuid")),
        "the operator is told the CHUID is malformed: {json}"
    );
    assert_eq!(json["pin"], serde_json::json!({"tries": 3}), "the rest of the card is still read");
}

#[test]
fn an_unknown_status_word_is_reported_with_its_value() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let _stub = insert_with_bad_answer(&reader, |apdu| apdu[1] == 0x20, |_| vec![0x6F, 0x00]);
    let (ok, json, _) = run(&reader, &["info"]);
    assert!(!ok, "a PIN status nobody can interpret is an error: {json}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("6F00"), "the status word is named: {json}");
}

#[test]
fn an_object_that_never_ends_is_cut_off() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    // Every answer to the 9A certificate read, and every GET RESPONSE after
    // it, says "256 more bytes follow".
    let endless = |apdu: &[u8]| is_get_data(&[0x5F, 0xC1, 0x05])(apdu) || apdu[1] == 0xC0;
    let _stub = insert_with_bad_answer(&reader, endless, |_| [vec![0xAB; 256], vec![0x61, 0x00]].concat());
    let (ok, json, _) = run(&reader, &["info"]);
    let text = json.to_string();
    assert!(text.contains("exceeds"), "the oversized object is reported: {json}");
    if ok {
        assert!(json["problems"].as_array().is_some_and(|p| !p.is_empty()), "{json}");
    }
}

#[test]
fn a_bad_public_key_from_key_generation_stops_personalization_with_a_typed_error() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    // GENERATE answers a 7F49 template whose point is cut short (a whole
    // answer arrives through GET RESPONSE on RSA; P-256 fits in one).
    let _stub = insert_with_bad_answer(
        &reader,
        |apdu| apdu[1] == 0x47,
        |_| vec![0x7F, 0x49, 0x43, 0x86, 0x41, 0x04, 0x01, 0x02, 0x90, 0x00],
    );
    let work = tempfile::tempdir().unwrap();
    let profile = e2e::tools::profile("piv-p256.toml");
    let (ok, json, _) = run(
        &reader,
        &["personalize", "--profile", path(&profile), "--ca-dir", path(&work.path().join("ca"))],
    );
    assert!(!ok, "{json}");
    assert_eq!(json["error"]["code"], "malformed-card-data", "{json}");
    assert!(
        json["error"]["message"].as_str().unwrap().contains("CARDSTATION_MANAGEMENT_KEY"),
        "the card was already written: the secrets to finish it are shown once: {json}"
    );
}
