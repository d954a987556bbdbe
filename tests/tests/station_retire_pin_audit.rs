//! UC-RETIRE, UC-PIN and UC-AUDIT walked as an operator would, through the
//! real `cardstation` binary, a real `cardstation-registry serve` over
//! pinned TLS and the real pcscd with virtual cards:
//!
//! * deactivate → the registry's certificates on hold, the CRL lists them
//!   with `certificateHold`; reactivate → valid, off the CRL;
//! * a PIN blocked by three wrong tries → `unblock` with the escrowed PUK →
//!   OpenSC signs with the new PIN; `change-pin` → OpenSC signs with that;
//! * refusals changing nothing: wrong permission, the operator's own card;
//! * cancel (lost) → locked, certificates revoked for key compromise;
//!   erase → the card reads blank (ours and yubico-piv-tool), device erased;
//! * the audit CSV holds those actions with names; the chain verifies;
//! * a card pulled at every APDU of an unblock: the re-run finishes it and
//!   the PIN works.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use e2e::lab::{Lab, LabReader, WAIT};
use e2e::station::{profile, TestRegistry, TestStation};
use e2e::tools;
use serde_json::Value;

fn ok(run: tools::Run) -> Value {
    assert!(run.ok, "`{}` failed:\n{}\n{}", run.command, run.stdout, run.stderr);
    run.json()
}

fn refused(run: tools::Run) -> (String, String) {
    assert!(!run.ok, "`{}` should have been refused:\n{}", run.command, run.stdout);
    let json = run.json();
    (
        json["error"]["code"].as_str().unwrap_or_default().to_owned(),
        json["error"]["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A registry with an issuer (ivy: request + collect), a retirer (rex:
/// cancel/revoke, erase, unblock PIN, view audit), Request card on, one
/// profile without approval, and an enrolled station.
struct Stack {
    registry: TestRegistry,
    station: TestStation,
    profile: String,
}

fn stack(work: &Path) -> Stack {
    let registry = TestRegistry::start(&work.join("registry")).unwrap();
    registry.role("Issuers", &["can_request", "can_collect"], &[]).unwrap();
    registry
        .role("Retirers", &["can_request"], &["cancel_revoke", "erase", "unblock_pin", "view_audit"])
        .unwrap();
    registry.operator("ivy", "Issuer", &["Issuers"]).unwrap();
    registry.operator("rex", "Retirer", &["Retirers"]).unwrap();
    registry.use_case("request", true).unwrap();
    let profile = registry.profile(&profile("Staff", false)).unwrap();
    let station = TestStation::enroll(&work.join("station"), &registry).unwrap();
    Stack { registry, station, profile }
}

impl Stack {
    fn person(&self, given: &str, family: &str) -> String {
        let p = ok(self
            .station
            .as_operator("admin", &["person", "add", "--given-name", given, "--family-name", family])
            .unwrap());
        p["id"].as_str().unwrap().to_owned()
    }

    /// Requests and issues a card for `person` in `reader`; returns (device, PIN).
    fn issue(&self, person: &str, reader: &LabReader) -> (String, String) {
        let req = ok(self
            .station
            .as_operator("ivy", &["request", "--person", person, "--profile", &self.profile])
            .unwrap());
        let device = req["device"]["id"].as_str().unwrap().to_owned();
        let issued = ok(self
            .station
            .as_operator("ivy", &["issue", "--device", &device, "--reader", &reader.name])
            .unwrap());
        assert_eq!(issued["device"]["state"], "active", "{issued}");
        (device, issued["pin"].as_str().unwrap().to_owned())
    }

    fn read(&self, reader: &LabReader) -> Value {
        ok(self.station.as_operator("rex", &["read", "--reader", &reader.name]).unwrap())
    }

    /// The CRL as `openssl crl -text` prints it.
    fn crl_text(&self, work: &Path) -> String {
        let der = work.join("crl.der");
        tools::run("curl", &["-sfk", "-o", tools::path(&der), &format!("{}/v1/crl", self.registry.url)], &[])
            .unwrap()
            .expect_ok()
            .unwrap();
        tools::openssl(&["crl", "-inform", "DER", "-in", tools::path(&der), "-noout", "-text"])
            .unwrap()
            .expect_ok()
            .unwrap()
            .stdout
    }
}

fn serials_and_states(view: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = view["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["serial"].as_str().unwrap().trim_start_matches('0').to_uppercase(),
                c["state"]["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The CRL entry of `serial` (upper-case hex, no leading zeros) and the
/// lines after it (its reason), if listed.
fn crl_entry(crl: &str, serial: &str) -> Option<String> {
    let entries: Vec<&str> = crl.split("Serial Number:").skip(1).collect();
    entries
        .into_iter()
        .find(|e| {
            e.split_whitespace()
                .next()
                .is_some_and(|s| s.trim_start_matches('0').eq_ignore_ascii_case(serial))
        })
        .map(str::to_owned)
}

fn sign_with(reader: &LabReader, pin: &str, work: &Path, tag: &str) {
    let pem = tools::yubico_piv_tool(&reader.name, &["-a", "read-certificate", "-s", "9a"])
        .unwrap()
        .expect_ok()
        .unwrap();
    let dir = work.join(tag);
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("9a.pem");
    std::fs::write(&cert, pem.stdout).unwrap();
    tools::pkcs11_sign_and_verify(&reader.name, pin, "01", "ECDSA-SHA256", &cert, &dir)
        .unwrap_or_else(|e| panic!("{tag}: OpenSC must sign with PIN {pin}: {e:#}"));
}

fn verify_pin(reader: &LabReader, pin: &str) -> tools::Run {
    tools::cardstation(
        &["--json", "card", "verify-pin", "--reader", &reader.name],
        &[("CARDSTATION_PIN", pin)],
    )
    .unwrap()
}

#[test]
fn retire_pin_and_audit_through_the_cli() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let s = stack(work);
    let grace = s.person("Grace", "Hopper");
    let reader = lab.acquire_reader();
    let (card, plugged) = reader.insert_fresh(7_300_000 + std::process::id() % 1000);
    let (device, pin) = s.issue(&grace, &reader);
    let active = serials_and_states(&s.read(&reader));
    assert_eq!(active.len(), 2);
    assert!(active.iter().all(|(_, st)| st == "valid"), "{active:?}");

    // Wrong permission: the issuer cannot deactivate; nothing changes.
    let (code, message) = refused(s.station.as_operator("ivy", &["deactivate", &device]).unwrap());
    assert_eq!(code, "not-permitted", "{message}");
    assert!(message.contains("permission"), "{message}");
    assert_eq!(s.read(&reader)["device"]["state"], "active");

    // Deactivate: certificates on hold, listed on the CRL with certificateHold.
    let off = ok(s.station.as_operator("rex", &["deactivate", &device, "--notes", "on leave"]).unwrap());
    assert_eq!(off["device"]["state"], "inactive", "{off}");
    let held = serials_and_states(&off);
    assert!(held.iter().all(|(_, st)| st == "on_hold"), "{held:?}");
    let crl = s.crl_text(work);
    for (serial, _) in &held {
        let entry = crl_entry(&crl, serial).unwrap_or_else(|| panic!("{serial} on the CRL:\n{crl}"));
        assert!(entry.contains("Certificate Hold"), "{serial}: {entry}");
    }

    // Reactivate: valid again, off the CRL.
    let on = ok(s.station.as_operator("rex", &["reactivate", &device]).unwrap());
    assert_eq!(on["device"]["state"], "active", "{on}");
    assert!(serials_and_states(&on).iter().all(|(_, st)| st == "valid"), "{on}");
    let crl = s.crl_text(work);
    for (serial, _) in &held {
        assert!(crl_entry(&crl, serial).is_none(), "{serial} released, yet on the CRL:\n{crl}");
    }

    // PIN blocked by three wrong tries → unblock with the escrowed PUK.
    for _ in 0..3 {
        assert!(!verify_pin(&reader, "00000000").ok);
    }
    assert_eq!(card.lock().unwrap().pin_tries_remaining(), 0);
    let (code, _) = refused(verify_pin(&reader, &pin));
    assert_eq!(code, "pin-blocked");
    let (code, message) = refused(
        s.station
            .as_operator("ivy", &["unblock", "--reader", &reader.name, "--identity-check", "badge"])
            .unwrap(),
    );
    assert_eq!(code, "not-permitted", "{message}");
    let unblocked = ok(s
        .station
        .as_operator("rex", &["unblock", "--reader", &reader.name, "--identity-check", "passport seen"])
        .unwrap());
    let new_pin = unblocked["pin"].as_str().unwrap().to_owned();
    assert_eq!(new_pin.len(), 8);
    assert_eq!(card.lock().unwrap().pin_tries_remaining(), 3);
    sign_with(&reader, &new_pin, work, "unblocked");

    // Change PIN: the cardholder's PIN → a new one.
    let changed = tools::cardstation(
        &["--json", "--data", tools::path(&s.station.data), "change-pin", "--reader", &reader.name],
        &[
            ("CARDSTATION_OPERATOR", "rex"),
            ("CARDSTATION_PASSWORD", e2e::station::PASSWORD),
            ("CARDSTATION_PIN", &new_pin),
            ("CARDSTATION_NEW_PIN", "24681357"),
        ],
    )
    .unwrap();
    ok(changed);
    sign_with(&reader, "24681357", work, "changed");

    // The operator's own card: neither cancel nor erase.
    plugged.remove();
    reader.wait_card_absent(WAIT);
    let rex = ok(s.station.as_operator("rex", &["signin"]).unwrap())["person"].as_str().unwrap().to_owned();
    let (_own_card, own_plugged) = reader.insert_fresh(7_400_000 + std::process::id() % 1000);
    let (own, _) = s.issue(&rex, &reader);
    let (code, message) =
        refused(s.station.as_operator("rex", &["cancel-device", &own, "--reason", "lost"]).unwrap());
    assert_eq!(code, "own-device", "{message}");
    let (code, message) =
        refused(s.station.as_operator("rex", &["erase", "--reader", &reader.name, "--yes"]).unwrap());
    assert_eq!(code, "own-device", "{message}");
    assert_eq!(s.read(&reader)["device"]["state"], "active");
    own_plugged.remove();
    reader.wait_card_absent(WAIT);
    let plugged = reader.insert(Arc::clone(&card));
    reader.wait_card_present(WAIT);

    // Cancel, lost: locked, certificates revoked for key compromise.
    let cancelled = ok(s
        .station
        .as_operator("rex", &["cancel-device", &device, "--reason", "lost", "--notes", "left on a train"])
        .unwrap());
    assert_eq!(cancelled["device"]["state"], "locked", "{cancelled}");
    let revoked = serials_and_states(&cancelled);
    assert!(revoked.iter().all(|(_, st)| st == "revoked"), "{revoked:?}");
    let crl = s.crl_text(work);
    for (serial, _) in &revoked {
        let entry = crl_entry(&crl, serial).unwrap_or_else(|| panic!("{serial} on the CRL:\n{crl}"));
        assert!(entry.contains("Key Compromise"), "{serial}: {entry}");
    }

    // Erase without permission is refused; with it the card is blank stock again.
    let (code, _) =
        refused(s.station.as_operator("ivy", &["erase", "--reader", &reader.name, "--yes"]).unwrap());
    assert_eq!(code, "not-permitted");
    let erased = ok(s
        .station
        .as_operator("rex", &["erase", "--reader", &reader.name, "--device", &device, "--yes"])
        .unwrap());
    assert_eq!(erased["retired"]["device"]["state"], "erased", "{erased}");
    assert_eq!(s.read(&reader)["kind"], "blank");
    let status = tools::yubico_piv_tool(&reader.name, &["-a", "status"]).unwrap().expect_ok().unwrap();
    assert!(
        !status.stdout.contains("CHUID:") || status.stdout.contains("No data available"),
        "{}",
        status.stdout
    );
    assert!(!status.stdout.contains("Slot 9a"), "{}", status.stdout);
    assert!(verify_pin(&reader, "123456").ok, "an erased card has the factory PIN");
    drop(plugged);

    // The audit trail, with names, as CSV; the chain verifies.
    let csv = work.join("audit.csv");
    let rows = ok(s
        .station
        .as_operator("rex", &["audit", "--person", "Hopper", "--csv", tools::path(&csv)])
        .unwrap());
    let events = rows["events"].as_array().unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("seq,at,operator,workstation,action,object,person,device,outcome,notes\r\n"));
    assert_eq!(text.matches("\r\n").count(), events.len() + 1, "{text}");
    for needle in ["on leave", "left on a train", "Grace Hopper", "Retirer", "escrow.fetch.puk"] {
        assert!(text.contains(needle), "{needle:?} in the audit CSV:\n{text}");
    }
    assert!(events.iter().all(|e| e["person"] == "Grace Hopper"), "{rows}");
    assert!(
        events.iter().filter(|e| e["action"].as_str().unwrap().contains("change_device")).count() >= 4,
        "{rows}"
    );
    let by_rex = ok(s.station.as_operator("rex", &["audit", "--operator", "rex"]).unwrap());
    assert!(by_rex["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["operator"].as_str().unwrap().contains("rex")));
    let (code, _) = refused(s.station.as_operator("ivy", &["audit"]).unwrap());
    assert_eq!(code, "not-permitted");
    let verified = ok(s.station.as_operator("rex", &["audit", "verify"]).unwrap());
    assert_eq!(verified["intact"], true, "{verified}");
    assert!(verified["events"].as_u64().unwrap() > 10);
}

#[test]
fn a_card_pulled_at_any_apdu_of_a_pin_unblock_is_finished_by_a_rerun() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let s = stack(work);
    let grace = s.person("Ada", "Lovelace");
    let reader = lab.acquire_reader();
    let (card, mut plugged) = reader.insert_fresh(7_500_000 + std::process::id() % 1000);
    s.issue(&grace, &reader);
    let unblock = || {
        s.station
            .as_operator("rex", &["unblock", "--reader", &reader.name, "--identity-check", "known"])
            .unwrap()
    };
    let reinsert = |plugged: vcard::vpcd::VpcdCard, faults: vcard::Faults| {
        plugged.remove();
        reader.wait_card_absent(WAIT);
        card.lock().unwrap().set_faults(faults);
        let p = reader.insert(Arc::clone(&card));
        reader.wait_card_present(WAIT);
        p
    };
    // The APDUs of a clean unblock, counted from insertion.
    plugged = reinsert(plugged, vcard::Faults::none());
    let before = card.lock().unwrap().stats().apdus;
    ok(unblock());
    let total = card.lock().unwrap().stats().apdus - before;
    assert!(total > 3, "{total}");
    eprintln!("tearing each of the {total} APDUs of a PIN unblock, before and after execution");
    for k in 0..total {
        for after in [false, true] {
            let case = format!("tear at APDU {k} ({})", if after { "after" } else { "before" });
            let mut faults = vcard::Faults::tear_after(k);
            if after {
                faults = faults.after_execution();
            }
            plugged = reinsert(plugged, faults);
            let start = card.lock().unwrap().stats().apdus;
            let torn = unblock();
            if torn.ok {
                // This run needed no more than k APDUs (fewer than the clean run measured
                // above), so the tear never fired: the unblock simply finished.
                let used = card.lock().unwrap().stats().apdus - start;
                assert!(used <= k, "{case}: {used} APDUs went through a torn card: {}", torn.stdout);
                // The tear is still armed for a later APDU: disarm it so that
                // checking the PIN is not torn instead.
                card.lock().unwrap().set_faults(vcard::Faults::none());
                let pin = torn.json()["pin"].as_str().unwrap().to_owned();
                assert!(verify_pin(&reader, &pin).ok, "{case}: the new PIN works");
                continue;
            }
            assert!(!torn.stderr.contains("panicked"), "{case}: {}", torn.stderr);
            let code = torn.json()["error"]["code"].as_str().unwrap_or_default().to_owned();
            assert!(
                matches!(code.as_str(), "card-removed" | "no-card" | "reader-gone" | "card-reset"),
                "{case}: a pulled card is reported as such, not {code:?}: {}",
                torn.stdout
            );
            reader.wait_card_absent(WAIT);
            reader.wait_card_present(WAIT);
            let rerun = ok(unblock());
            let pin = rerun["pin"].as_str().unwrap().to_owned();
            assert!(verify_pin(&reader, &pin).ok, "{case}: the new PIN works");
            assert_eq!(card.lock().unwrap().pin_tries_remaining(), 3, "{case}");
            let jobs = ok(s.station.as_operator("rex", &["jobs"]).unwrap());
            assert!(jobs["jobs"].as_array().unwrap().is_empty(), "{case}: no job left open: {jobs}");
        }
    }
    let last = ok(unblock());
    sign_with(&reader, last["pin"].as_str().unwrap(), work, "after-tearing");
    drop(plugged);
}
