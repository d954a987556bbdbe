//! Whole stack through the `cardstation` binary: pcscd + vpcd + virtual
//! cards, judged by OpenSC (pkcs15-tool, pkcs11-tool), yubico-piv-tool and
//! openssl.
#![allow(clippy::unwrap_used)]

use e2e::lab::{Lab, LabReader};
use e2e::tools::{self, cardstation, path, pkcs11_sign_and_verify, yubico_piv_tool};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// A serial no other card in this run has.
fn serial() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    (std::process::id() % 100_000) * 100 + NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Personalizes the card in `reader` through the CLI; returns its JSON result.
fn personalize(reader: &LabReader, profile_file: &str, work: &Path) -> Value {
    let run = cardstation(
        &[
            "--json",
            "card",
            "personalize",
            "--reader",
            &reader.name,
            "--profile",
            path(&tools::profile(profile_file)),
            "--name",
            "Grace Hopper",
            "--ca-dir",
            path(&work.join("ca")),
        ],
        &[],
    )
    .unwrap();
    assert!(run.ok, "personalization must succeed:\n{}\n{}", run.stdout, run.stderr);
    run.json()
}

fn personalize_and_judge(profile_file: &str, mechanism: &str) {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let (_card, _plugged) = reader.insert_fresh(serial());
    let work = tempfile::tempdir().unwrap();
    let result = personalize(&reader, profile_file, work.path());

    let pin = result["secrets"]["pin"].as_str().expect("a generated PIN is shown once").to_owned();
    assert!(pin.len() >= 6 && pin.bytes().all(|b| b.is_ascii_digit()), "PIN policy: 6+ digits");
    let certs = result["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 3, "the profile names 9A, 9C and 9D");
    let ca = result["ca_certificate"].as_str().unwrap();
    for c in certs {
        let slot = c["slot"].as_str().unwrap();
        let file = work.path().join(format!("cert-{slot}.pem"));
        std::fs::write(&file, c["pem"].as_str().unwrap()).unwrap();
        tools::openssl(&["verify", "-CAfile", ca, path(&file)]).unwrap().expect_ok().unwrap();
    }

    // OpenSC lists every certificate without a PIN.
    let listed =
        tools::pkcs15_tool(reader.index_for_opensc, &["--list-certificates"]).unwrap().expect_ok().unwrap();
    for label in ["PIV Authentication", "Digital Signature", "Key Management"] {
        assert!(
            listed.stdout.contains(label),
            "pkcs15-tool must list the {label} certificate:\n{}",
            listed.stdout
        );
    }
    for c in certs {
        let serial = c["serial"].as_str().unwrap();
        assert!(listed.stdout.contains(serial), "pkcs15-tool must show serial {serial}:\n{}", listed.stdout);
    }

    // pkcs11-tool logs in with the PIN we set and signs with 9A and 9C (PIN-always);
    // openssl verifies each signature with the certificate's key.
    pkcs11_sign_and_verify(
        &reader.name,
        &pin,
        "01",
        mechanism,
        &work.path().join("cert-9a.pem"),
        work.path(),
    )
    .unwrap();
    pkcs11_sign_and_verify(
        &reader.name,
        &pin,
        "02",
        mechanism,
        &work.path().join("cert-9c.pem"),
        work.path(),
    )
    .unwrap();

    // yubico-piv-tool shows the CHUID (with our GUID) and every certificate.
    let status = yubico_piv_tool(&reader.name, &["-a", "status"]).unwrap().expect_ok().unwrap();
    let guid = result["guid"].as_str().unwrap().to_lowercase();
    let chuid_line = status.stdout.lines().find(|l| l.starts_with("CHUID:")).unwrap_or("");
    assert!(
        chuid_line.contains(&guid),
        "yubico-piv-tool must show the CHUID with GUID {guid}:\n{}",
        status.stdout
    );
    for c in certs {
        let slot = c["slot"].as_str().unwrap();
        let fingerprint = c["sha256_fingerprint"].as_str().unwrap().to_lowercase();
        assert!(status.stdout.contains(&format!("Slot {slot}:")), "status must list slot {slot}");
        assert!(
            status.stdout.contains(&fingerprint),
            "status must show the {slot} certificate {fingerprint}"
        );
    }

    // And our own reader agrees: no PIN was spent by any of it.
    let info = cardstation(&["--json", "card", "info", "--reader", &reader.name], &[]).unwrap().json();
    assert_eq!(info["chuid"]["guid"].as_str().map(str::to_lowercase), Some(guid));
    assert_eq!(info["certificates"].as_array().unwrap().len(), 3);
    assert_eq!(info["pin"], serde_json::json!({"tries": 3}), "reading and signing must not spend PIN tries");
}

#[test]
fn p256_card_personalized_by_the_cli_signs_through_opensc_and_shows_in_yubico_piv_tool() {
    personalize_and_judge("piv-p256.toml", "ECDSA-SHA256");
}

#[test]
fn rsa2048_card_personalized_by_the_cli_signs_through_opensc_and_shows_in_yubico_piv_tool() {
    personalize_and_judge("piv-rsa2048.toml", "SHA256-RSA-PKCS");
}

#[test]
fn a_card_personalized_by_yubico_piv_tool_is_read_by_cardstation() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let (_card, _plugged) = reader.insert_fresh(serial());
    let work = tempfile::tempdir().unwrap();
    let w = |f: &str| work.path().join(f).to_string_lossy().into_owned();

    // A CA of our own, made with openssl; yubico-piv-tool 2.2 cannot self-sign under OpenSSL 3.
    tools::openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &w("ca.key")])
        .unwrap()
        .expect_ok()
        .unwrap();
    tools::openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &w("ca.key"),
        "-subj",
        "/CN=Interop CA",
        "-days",
        "30",
        "-out",
        &w("ca.crt"),
    ])
    .unwrap()
    .expect_ok()
    .unwrap();
    yubico_piv_tool(&reader.name, &["-a", "generate", "-s", "9a", "-A", "ECCP256", "-o", &w("9a.pub")])
        .unwrap()
        .expect_ok()
        .unwrap();
    tools::openssl(&[
        "x509",
        "-new",
        "-CA",
        &w("ca.crt"),
        "-CAkey",
        &w("ca.key"),
        "-force_pubkey",
        &w("9a.pub"),
        "-subj",
        "/CN=Ykpiv Holder",
        "-days",
        "30",
        "-out",
        &w("9a.crt"),
    ])
    .unwrap()
    .expect_ok()
    .unwrap();
    yubico_piv_tool(&reader.name, &["-a", "import-certificate", "-s", "9a", "-i", &w("9a.crt")])
        .unwrap()
        .expect_ok()
        .unwrap();
    yubico_piv_tool(&reader.name, &["-a", "set-chuid"]).unwrap().expect_ok().unwrap();
    yubico_piv_tool(&reader.name, &["-a", "change-pin", "-P", "123456", "-N", "24681357"])
        .unwrap()
        .expect_ok()
        .unwrap();

    let info = cardstation(&["--json", "card", "info", "--reader", &reader.name], &[]).unwrap().json();
    let certs = info["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1, "exactly the 9A certificate: {info}");
    assert_eq!(certs[0]["slot"], "9a");
    assert_eq!(certs[0]["summary"]["subject"], "CN=Ykpiv Holder");
    assert_eq!(certs[0]["summary"]["issuer"], "CN=Interop CA");
    assert_eq!(certs[0]["summary"]["key_algorithm"], "ecc-p256");
    assert_eq!(certs[0]["key_matches"], true, "the card's 9A key is the certificate's key");
    assert_eq!(info["chuid"]["guid"].as_str().map(str::len), Some(32), "the CHUID yubico-piv-tool wrote");
    assert_eq!(info["pin"], serde_json::json!({"tries": 3}));
    assert_eq!(info["pin_is_default"], false, "the PIN was changed");

    // And the PIN yubico-piv-tool set is the one the card now takes.
    let ok = cardstation(
        &["--json", "card", "verify-pin", "--reader", &reader.name],
        &[("CARDSTATION_PIN", "24681357")],
    )
    .unwrap();
    assert!(ok.ok, "the PIN set by yubico-piv-tool verifies: {}", ok.stdout);
}

/// `card info` and `verify-pin` on a factory-fresh card: the count goes down
/// by exactly one per wrong PIN, reading never spends a try, blocked is blocked.
#[test]
fn wrong_pins_are_counted_exactly_and_a_blocked_pin_is_reported() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let (_card, _plugged) = reader.insert_fresh(serial());
    let info =
        |r: &LabReader| cardstation(&["--json", "card", "info", "--reader", &r.name], &[]).unwrap().json();
    let verify = |r: &LabReader, pin: &str| {
        cardstation(&["--json", "card", "verify-pin", "--reader", &r.name], &[("CARDSTATION_PIN", pin)])
            .unwrap()
    };
    assert_eq!(info(&reader)["pin"], serde_json::json!({"tries": 3}));
    for left in [2, 1] {
        let run = verify(&reader, "999999");
        assert!(!run.ok);
        let body = run.json();
        assert_eq!(body["error"]["code"], "wrong-pin");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(&format!("{left} tries left")),
            "the message gives the count: {body}"
        );
        for _ in 0..2 {
            assert_eq!(
                info(&reader)["pin"],
                serde_json::json!({"tries": left}),
                "reading must not spend a try"
            );
        }
    }
    let last = verify(&reader, "999999").json();
    assert!(matches!(last["error"]["code"].as_str(), Some("wrong-pin" | "pin-blocked")), "{last}");
    assert_eq!(info(&reader)["pin"], "blocked");
    let right = verify(&reader, "123456").json();
    assert_eq!(right["error"]["code"], "pin-blocked", "even the right PIN is refused once blocked");

    // The PUK sets a new PIN and the counter is whole again.
    let unblock = cardstation(
        &["--json", "card", "unblock-pin", "--reader", &reader.name],
        &[("CARDSTATION_PUK", "12345678"), ("CARDSTATION_NEW_PIN", "11223344")],
    )
    .unwrap();
    assert!(unblock.ok, "{}", unblock.stdout);
    assert_eq!(info(&reader)["pin"], serde_json::json!({"tries": 3}));
    assert!(verify(&reader, "11223344").ok);
}

/// `card watch` reports the card already present, then its removal and its
/// return, as pcscd's status changes arrive (no polling of our own).
#[test]
fn watch_reports_cards_coming_and_going() {
    use std::io::BufRead;
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let card = std::sync::Arc::new(std::sync::Mutex::new(vcard::Card::factory_fresh(
        vcard::CardConfig::new(serial()),
    )));
    let plugged = reader.insert(std::sync::Arc::clone(&card));
    let atr = hex_upper(&reader.wait_card_present(e2e::lab::WAIT));
    let mut child = std::process::Command::new(tools::cardstation_bin())
        .args(["--json", "card", "watch", "--reader", &reader.name, "--count", "3", "--timeout", "60"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || -> Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    assert_eq!(next(), serde_json::json!({"event": "card-present", "reader": reader.name, "atr": atr}));
    plugged.remove();
    assert_eq!(next(), serde_json::json!({"event": "card-removed", "reader": reader.name, "atr": null}));
    let _again = reader.insert(card);
    assert_eq!(next(), serde_json::json!({"event": "card-inserted", "reader": reader.name, "atr": atr}));
    assert!(child.wait().unwrap().success(), "the watch ends by itself after --count events");
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
