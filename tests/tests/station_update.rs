//! Seed 000 (UC-UPDATE) walked as an operator would, through the real
//! `cardstation` binary, a real `cardstation-registry serve` over pinned TLS
//! and the real pcscd with virtual cards:
//!
//! * "Request Update" for an issued card: the profile defaults to the one it
//!   was issued with; same profile needs Can Collect, another profile Can
//!   Request; the profile must fit the card (a contact card cannot take a
//!   contact+contactless profile); nobody updates their own device; a device
//!   in a state that does not allow it and a disabled use case are refused;
//!   each refusal has a clear message;
//! * a new update request cancels the earlier update request, a reprovision
//!   request the earlier reprovision request; the notes are in the audit record;
//! * same profile: no approval even with Validate Issuance; another profile
//!   with Validate Issuance: approved before it can be collected;
//! * "Collect Updates" with the card inserted, for *apply latest updates*
//!   (a new profile version adds a signature certificate; the valid
//!   authentication certificate is kept) and *reprovision all content*
//!   (every key new, old certificates revoked, a new management key and PUK
//!   escrowed); after each, OpenSC signs with the new keys and the PIN the
//!   collect printed, and the registry's records (device state, profile
//!   version, certificates, audit) match the card.
//!
//! Tearing: the card is pulled at every APDU index of collect-updates for
//! both reasons, before and after execution; the interrupted job is resumed
//! on re-insertion and card, records and certificates agree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::lab::{Lab, LabReader, WAIT};
use e2e::station::{TestRegistry, TestStation};
use e2e::tools;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// One slot (9A), contact; `validate_issuance` as given.
fn badge(name: &str, validate_issuance: bool, capabilities: &str) -> String {
    format!(
        r#"
name = "{name}"
capabilities = "{capabilities}"
management_key = "aes256"
validate_issuance = {validate_issuance}
card_end_state = "active"
certificate_end_state = "valid"
is_temporary = false
card_validity_days = 1825
pin = {{ min_length = 6, max_length = 8, numeric = true, retries = 3 }}
puk = {{ length = 8, numeric = true, retries = 3 }}

[[slots]]
slot = "piv_authentication"
algorithm = "ecc_p256"
certificate = {{ subject = "CN={{name}},OU=PIV Authentication,O=Example", validity_days = 365, ekus = ["client_auth"] }}
"#
    )
}

/// Two slots (9A, 9C).
fn secure(name: &str) -> String {
    format!(
        r#"{}
[[slots]]
slot = "digital_signature"
algorithm = "ecc_p256"
certificate = {{ subject = "CN={{name}},OU=Digital Signature,O=Example", validity_days = 365, ekus = ["email_protection"] }}
"#,
        badge(name, true, "contact")
    )
}

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

fn id(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("an id: {v}")).to_owned()
}

/// Adds a 9C slot to profile settings (JSON, as the feed has them).
fn add_signature_slot(settings: &mut Value) {
    let mut slot = settings["slots"][0].clone();
    slot["slot"] = json!("digital_signature");
    let subject = slot["certificate"]["subject"].as_str().unwrap().replace("PIV Authentication", "Signature");
    slot["certificate"]["subject"] = json!(subject);
    settings["slots"].as_array_mut().unwrap().push(slot);
}

/// The card, the registry's records and OpenSC agree on `device`: the
/// certificates on the card are exactly the device's valid ones (every other
/// one revoked), its profile version is `version`, no job is open, and
/// OpenSC signs with every key in `keys` (PKCS#11 id, slot) using `pin`.
#[allow(clippy::too_many_arguments)]
fn check_card(
    station: &TestStation,
    operator: &str,
    reader: &LabReader,
    device: &str,
    pin: &str,
    version: u64,
    keys: &[(&str, &str)],
    case: &str,
    work: &Path,
) -> Value {
    let view = ok(station.as_operator(operator, &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(view["kind"], "ours", "{case}: {view}");
    assert_eq!(view["device"]["id"], device, "{case}");
    assert_eq!(view["device"]["state"], "active", "{case}: {view}");
    assert_eq!(view["device"]["profile"]["version"], version, "{case}: profile version: {view}");
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
    assert_eq!(on_card.len(), keys.len(), "{case}: one certificate per slot of the profile: {view}");
    assert_eq!(on_card, valid, "{case}: the registry's valid certificates are exactly the card's");
    for (pkcs11_id, slot) in keys {
        let pem = tools::yubico_piv_tool(&reader.name, &["-a", "read-certificate", "-s", slot])
            .unwrap()
            .expect_ok()
            .unwrap();
        let cert = work.join(format!("{slot}.pem"));
        std::fs::write(&cert, pem.stdout).unwrap();
        tools::pkcs11_sign_and_verify(&reader.name, pin, pkcs11_id, "ECDSA-SHA256", &cert, work)
            .unwrap_or_else(|e| {
                panic!("{case}: OpenSC must sign with key {slot} and the PIN printed: {e:#}")
            });
    }
    view
}

/// Every audit event about `object`s (ids), all successful; the chain verifies.
fn audit_about(registry: &TestRegistry, ids: &[&str]) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    let mut from = 0u64;
    loop {
        let page = registry.get_json("admin", &format!("/v1/audit?from={from}&limit=500")).unwrap();
        all.extend(page["events"].as_array().unwrap().iter().cloned());
        match page["next_from"].as_u64() {
            Some(next) => from = next,
            None => break,
        }
    }
    let chain = registry.get_json("admin", "/v1/audit/verify").unwrap();
    assert_eq!(chain["intact"], true, "{chain}");
    all.into_iter().filter(|e| ids.iter().any(|id| e["object"].to_string().contains(id))).collect()
}

#[test]
fn seed_000_request_update_and_collect_updates() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&work.path().join("registry")).unwrap();
    registry.use_case("request", true).unwrap();
    registry.role("Requesters", &["can_request"], &[]).unwrap();
    registry.role("Approvers", &["can_request", "can_approve"], &[]).unwrap();
    registry.role("Issuers", &["can_collect"], &["cancel_revoke"]).unwrap();
    registry.role("Updaters", &["can_request", "can_collect"], &[]).unwrap();
    registry.operator("rita", "Requester", &["Requesters"]).unwrap();
    registry.operator("abe", "Approver", &["Approvers"]).unwrap();
    registry.operator("ivy", "Issuer", &["Issuers"]).unwrap();
    registry.operator("uma", "Updater", &["Updaters"]).unwrap();
    let badge_id = registry.profile(&badge("Badge", true, "contact")).unwrap();
    let secure_id = registry.profile(&secure("Secure")).unwrap();
    let dual_id = registry.profile(&badge("Dual", false, "both")).unwrap();
    let station = TestStation::enroll(&work.path().join("station"), &registry).unwrap();
    let grace = ok(station
        .as_operator("admin", &["person", "add", "--given-name", "Grace", "--family-name", "Hopper"])
        .unwrap());
    let grace = id(&grace["id"]);

    // An issued card: requested, approved (Badge validates issuance), issued.
    let requested =
        ok(station.as_operator("rita", &["request", "--person", &grace, "--profile", &badge_id]).unwrap());
    let device = id(&requested["device"]["id"]);
    ok(station.as_operator("abe", &["approve", &id(&requested["request"]["id"])]).unwrap());
    let reader = lab.acquire_reader();
    let (card, _plugged) = reader.insert_fresh(7_500_000 + std::process::id() % 1000);
    let issued = ok(station
        .as_operator(
            "ivy",
            &["issue", "--request", &id(&requested["request"]["id"]), "--reader", &reader.name],
        )
        .unwrap());
    let pin = id(&issued["pin"]);
    let dir = work.path().join("issued");
    std::fs::create_dir_all(&dir).unwrap();
    let first = check_card(&station, "ivy", &reader, &device, &pin, 1, &[("01", "9a")], "issued", &dir);
    let first_certificate = id(&first["certificates"][0]["id"]);
    assert!(first["pending_updates"].as_array().unwrap().is_empty(), "{first}");
    // A card with no approved update: nothing to collect, said so.
    let (code, message) =
        error_of(&station.as_operator("ivy", &["collect", "--reader", &reader.name]).unwrap());
    assert_eq!(code, "not-found", "{message}");
    assert!(message.contains("no approved update"), "{message}");

    let request_update = |operator: &str, extra: &[&str]| {
        let mut args = vec!["request-update", "--device", &device];
        args.extend_from_slice(extra);
        station.as_operator(operator, &args).unwrap()
    };

    // Use case disabled: refused, and the message says so.
    registry.use_case("update", false).unwrap();
    let (code, message) = error_of(&request_update("uma", &["--reason", "apply-latest"]));
    assert_eq!(code, "use-case-disabled", "{message}");
    assert!(message.contains("Request and collect updates") && message.contains("disabled"), "{message}");
    let (code, message) =
        error_of(&station.as_operator("ivy", &["collect", "--reader", &reader.name]).unwrap());
    assert_eq!(code, "use-case-disabled", "collecting too: {message}");
    registry.use_case("update", true).unwrap();

    // Wrong permission: the same profile needs Can Collect, another profile Can Request.
    let (code, message) = error_of(&request_update("rita", &["--reason", "apply-latest"]));
    assert_eq!(code, "not-permitted", "{message}");
    assert!(message.to_lowercase().contains("collect"), "same profile needs Can Collect: {message}");
    let (code, message) =
        error_of(&request_update("ivy", &["--profile", &secure_id, "--reason", "reprovision"]));
    assert_eq!(code, "not-permitted", "{message}");
    assert!(message.to_lowercase().contains("request"), "another profile needs Can Request: {message}");
    // Wrong capability: a contact card cannot take a contact+contactless profile.
    let (code, message) =
        error_of(&request_update("uma", &["--profile", &dual_id, "--reason", "reprovision"]));
    assert_eq!(code, "capability-mismatch", "{message}");
    assert!(message.contains("contactless"), "{message}");

    // The administrator edits Badge: version 2 adds a signature certificate.
    let v2 = registry.revise_profile(&badge_id, add_signature_slot).unwrap();
    assert_eq!(v2, 2);

    // Apply latest updates, same profile: approved at once although Badge
    // validates issuance; a second update request cancels the first.
    let earlier = ok(request_update("uma", &["--reason", "apply-latest", "--notes", "first try"]));
    assert_eq!(earlier["request"]["kind"], "update", "{earlier}");
    assert_eq!(earlier["request"]["state"], "approved", "{earlier}");
    assert_eq!(earlier["request"]["profile"], badge_id.as_str(), "the profile defaults to the card's");
    let update =
        ok(request_update("uma", &["--reason", "apply-latest", "--notes", "add the signature certificate"]));
    assert_eq!(update["request"]["state"], "approved", "{update}");
    let update_id = id(&update["request"]["id"]);
    let earlier_view = ok(station.as_operator("uma", &["requests"]).unwrap());
    let state_of = |requests: &Value, request: &str| {
        requests["requests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["request"]["id"] == request)
            .map(|r| r["request"]["state"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(state_of(&earlier_view, &id(&earlier["request"]["id"])), "cancelled", "{earlier_view}");

    // The device view offers the update to collect.
    let view = ok(station.as_operator("ivy", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(view["pending_updates"], json!([update_id]), "{view}");

    // Collect updates (apply latest): 9A kept, 9C new, a new PIN.
    let collected = ok(station.as_operator("ivy", &["collect", "--reader", &reader.name]).unwrap());
    assert_eq!(collected["reason"], "apply_latest_updates", "{collected}");
    assert_eq!(collected["device"]["profile"]["version"], 2, "{collected}");
    assert_eq!(
        collected["kept"],
        json!([first_certificate]),
        "the valid 9A certificate is kept: {collected}"
    );
    assert_eq!(collected["certificates"].as_array().unwrap().len(), 1, "{collected}");
    assert_eq!(collected["certificates"][0]["slot"], "digital_signature", "{collected}");
    let pin = id(&collected["pin"]);
    let dir = work.path().join("apply-latest");
    std::fs::create_dir_all(&dir).unwrap();
    let after = check_card(
        &station,
        "ivy",
        &reader,
        &device,
        &pin,
        2,
        &[("01", "9a"), ("02", "9c")],
        "apply latest",
        &dir,
    );
    assert!(after["pending_updates"].as_array().unwrap().is_empty(), "{after}");
    assert_eq!(state_of(&ok(station.as_operator("uma", &["requests"]).unwrap()), &update_id), "completed");
    let events = audit_about(&registry, &[&update_id]);
    let noted = events
        .iter()
        .find(|e| e["action"] == "op.request_update")
        .unwrap_or_else(|| panic!("the update request is audited: {events:?}"));
    assert_eq!(noted["notes"], "add the signature certificate", "the notes are in the audit record: {noted}");
    assert_eq!(noted["outcome"]["outcome"], "success");

    // Reprovision all content: a second reprovision request cancels the first.
    let key_before = registry
        .get_json_at(&station, "ivy", &format!("/v1/devices/{device}/escrow/management_key"))
        .unwrap();
    let earlier = ok(request_update("uma", &["--reason", "reprovision"]));
    let reprovision = ok(request_update("uma", &["--reason", "reprovision", "--notes", "keys rotated"]));
    assert_eq!(reprovision["request"]["kind"], "reprovision", "{reprovision}");
    assert_eq!(reprovision["request"]["state"], "approved", "{reprovision}");
    let requests = ok(station.as_operator("uma", &["requests"]).unwrap());
    assert_eq!(state_of(&requests, &id(&earlier["request"]["id"])), "cancelled", "{requests}");
    let reprovision_id = id(&reprovision["request"]["id"]);
    let collected =
        ok(station.as_operator("ivy", &["collect", "--device", &device, "--reader", &reader.name]).unwrap());
    assert_eq!(collected["reason"], "reprovision_all_content", "{collected}");
    assert!(collected["kept"].as_array().unwrap().is_empty(), "nothing kept: {collected}");
    assert_eq!(collected["certificates"].as_array().unwrap().len(), 2, "{collected}");
    assert_eq!(collected["revoked"].as_array().unwrap().len(), 2, "the old certificates: {collected}");
    let pin = id(&collected["pin"]);
    let dir = work.path().join("reprovision");
    std::fs::create_dir_all(&dir).unwrap();
    let after = check_card(
        &station,
        "ivy",
        &reader,
        &device,
        &pin,
        2,
        &[("01", "9a"), ("02", "9c")],
        "reprovision",
        &dir,
    );
    let revoked: Vec<&Value> = after["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"]["state"] == "revoked")
        .collect();
    assert_eq!(revoked.len(), 2, "{after}");
    assert!(revoked.iter().any(|c| c["id"] == first_certificate.as_str()), "{after}");
    let key_after = registry
        .get_json_at(&station, "ivy", &format!("/v1/devices/{device}/escrow/management_key"))
        .unwrap();
    assert_ne!(key_before, key_after, "a new management key is escrowed");
    assert_eq!(card.lock().unwrap().puk_tries_remaining(), 3, "no PUK try spent");
    let events = audit_about(&registry, &[&reprovision_id, &device]);
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    for want in ["op.request_update", "op.store_escrow", "op.record_issuance"] {
        assert!(actions.contains(&want), "the audit records {want}: {actions:?}");
    }

    // Another profile with Validate Issuance: approved before it can be collected.
    let switch = ok(request_update("uma", &["--profile", &secure_id, "--reason", "reprovision"]));
    assert_eq!(switch["request"]["state"], "pending_approval", "{switch}");
    let switch_id = id(&switch["request"]["id"]);
    let (code, message) =
        error_of(&station.as_operator("ivy", &["collect", "--reader", &reader.name]).unwrap());
    assert_eq!(code, "state-not-allowed", "{message}");
    assert!(message.contains("pending"), "{message}");
    ok(station.as_operator("abe", &["approve", &switch_id, "--notes", "new role"]).unwrap());
    let collected = ok(station.as_operator("ivy", &["collect", "--reader", &reader.name]).unwrap());
    assert_eq!(collected["device"]["profile"]["id"], secure_id.as_str(), "{collected}");
    let pin = id(&collected["pin"]);
    let dir = work.path().join("switch");
    std::fs::create_dir_all(&dir).unwrap();
    check_card(&station, "ivy", &reader, &device, &pin, 1, &[("01", "9a"), ("02", "9c")], "switch", &dir);
    assert!(ok(station.as_operator("ivy", &["jobs"]).unwrap())["jobs"].as_array().unwrap().is_empty());

    // Own device: uma's own card is issued, and she may not request its update.
    let uma = ok(station.as_operator("uma", &["signin"]).unwrap());
    let for_uma = ok(station
        .as_operator("rita", &["request", "--person", &id(&uma["person"]), "--profile", &badge_id])
        .unwrap());
    let own_device = id(&for_uma["device"]["id"]);
    ok(station.as_operator("abe", &["approve", &id(&for_uma["request"]["id"])]).unwrap());
    _plugged.remove();
    reader.wait_card_absent(WAIT);
    let (_own_card, _own_plugged) = reader.insert_fresh(7_510_000 + std::process::id() % 1000);
    ok(station
        .as_operator("ivy", &["issue", "--request", &id(&for_uma["request"]["id"]), "--reader", &reader.name])
        .unwrap());
    let (code, message) = error_of(
        &station
            .as_operator("uma", &["request-update", "--device", &own_device, "--reason", "reprovision"])
            .unwrap(),
    );
    assert_eq!(code, "own-device", "{message}");
    assert!(message.contains("own"), "{message}");
    // State not allowed: a cancelled (locked) card takes no update.
    ok(station.as_operator("ivy", &["cancel-device", &own_device, "--reason", "damaged"]).unwrap());
    let (code, message) = error_of(
        &station
            .as_operator("ivy", &["request-update", "--device", &own_device, "--reason", "apply-latest"])
            .unwrap(),
    );
    assert_eq!(code, "state-not-allowed", "{message}");
    assert!(message.contains("locked"), "{message}");
}

/// A worker's world for the tearing test: its own profile (so revisions of
/// one worker do not change another's), an issued card.
struct Worker<'a> {
    registry: &'a TestRegistry,
    station: TestStation,
    reader: LabReader,
    profile: String,
    device: String,
    card: Arc<Mutex<vcard::Card>>,
    plugged: Option<vcard::vpcd::VpcdCard>,
    version: u64,
    toggle: bool,
}

impl Worker<'_> {
    fn request(&self, reason: &str) {
        let r = ok(self
            .station
            .as_operator("uma", &["request-update", "--device", &self.device, "--reason", reason])
            .unwrap());
        assert_eq!(r["request"]["state"], "approved", "{r}");
    }

    /// An apply-latest update always has work: the signature certificate's
    /// subject changes with every new version.
    fn new_version(&mut self) {
        let toggle = self.toggle;
        self.version = self
            .registry
            .revise_profile(&self.profile, |s| {
                let ou = if toggle { "Signature A" } else { "Signature B" };
                s["slots"][1]["certificate"]["subject"] = json!(format!("CN={{name}},OU={ou},O=Example"));
            })
            .unwrap();
        self.toggle = !toggle;
    }

    /// Re-inserts the card with `faults` armed (APDUs count from insertion).
    fn reinsert(&mut self, faults: vcard::Faults) {
        if let Some(p) = self.plugged.take() {
            p.remove();
            self.reader.wait_card_absent(WAIT);
        }
        self.card.lock().unwrap().set_faults(faults);
        self.plugged = Some(self.reader.insert(Arc::clone(&self.card)));
        self.reader.wait_card_present(WAIT);
    }

    fn collect(&self) -> tools::Run {
        self.station.as_operator("ivy", &["collect", "--reader", &self.reader.name]).unwrap()
    }

    fn check(&self, pin: &str, case: &str, work: &Path) {
        let dir = work.join(case.replace(' ', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        check_card(
            &self.station,
            "ivy",
            &self.reader,
            &self.device,
            pin,
            self.version,
            &[("01", "9a"), ("02", "9c")],
            case,
            &dir,
        );
        let card = self.card.lock().unwrap();
        assert_eq!(card.pin_tries_remaining(), 3, "{case}: no PIN try left spent");
        assert!(card.puk_tries_remaining() >= 2, "{case}: at most one PUK guess");
    }
}

fn tearing_world(work: &Path) -> TestRegistry {
    let registry = TestRegistry::start(&work.join("registry")).unwrap();
    registry.use_case("request", true).unwrap();
    registry.role("Requesters", &["can_request"], &[]).unwrap();
    registry.role("Issuers", &["can_collect"], &["cancel_revoke", "unblock_pin"]).unwrap();
    registry.role("Updaters", &["can_request", "can_collect"], &[]).unwrap();
    registry.operator("rita", "Requester", &["Requesters"]).unwrap();
    registry.operator("ivy", "Issuer", &["Issuers"]).unwrap();
    registry.operator("uma", "Updater", &["Updaters"]).unwrap();
    registry
}

fn worker<'a>(lab: &Lab, registry: &'a TestRegistry, w: usize, work: &Path) -> Worker<'a> {
    let station = TestStation::enroll(&work.join(format!("station-{w}")), registry).unwrap();
    let mut settings = secure(&format!("Badge {w}"));
    settings = settings.replace("validate_issuance = true", "validate_issuance = false");
    let profile = registry.profile(&settings).unwrap();
    let person = ok(station
        .as_operator(
            "admin",
            &["person", "add", "--given-name", "Ada", "--family-name", &format!("Lovelace {w}")],
        )
        .unwrap());
    let r = ok(station
        .as_operator("rita", &["request", "--person", &id(&person["id"]), "--profile", &profile])
        .unwrap());
    let reader = lab.acquire_reader();
    let card = Arc::new(Mutex::new(vcard::Card::factory_fresh(vcard::CardConfig::new(
        8_500_000 + (w as u32) * 1000 + std::process::id() % 1000,
    ))));
    let plugged = reader.insert(Arc::clone(&card));
    reader.wait_card_present(WAIT);
    ok(station
        .as_operator("ivy", &["issue", "--request", &id(&r["request"]["id"]), "--reader", &reader.name])
        .unwrap());
    Worker {
        registry,
        station,
        reader,
        profile,
        device: id(&r["device"]["id"]),
        card,
        plugged: Some(plugged),
        version: 1,
        toggle: true,
    }
}

/// One tear: the update requested, the card pulled at APDU `k` of the
/// collect, re-inserted (vpcd puts it back), the job resumed; all agree.
fn tear_and_recover(w: &mut Worker<'_>, reason: &str, k: u64, after: bool, work: &Path) {
    let case = format!("{reason} torn at APDU {k} {}", if after { "after" } else { "before" });
    if reason == "apply-latest" {
        w.new_version();
    }
    w.request(reason);
    let mut faults = vcard::Faults::tear_after(k);
    if after {
        faults = faults.after_execution();
    }
    w.reinsert(faults);
    let torn = w.collect();
    let pin = if torn.ok {
        // The whole collect took fewer APDUs than `k` (a shorter run than
        // the one measured), or the tear hit an APDU another PC/SC client
        // sent after the run (OpenSC's PKCS#11 module of a concurrent test
        // probes every reader): then wait for vpcd to put the card back.
        if !w.card.lock().unwrap().faults().is_armed() {
            std::thread::sleep(std::time::Duration::from_secs(2));
            w.reader.wait_card_present(WAIT);
        }
        w.card.lock().unwrap().set_faults(vcard::Faults::none());
        id(&torn.json()["pin"])
    } else {
        assert!(!torn.stderr.contains("panicked"), "{case}: {}", torn.stderr);
        let code = torn.json()["error"]["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            matches!(code.as_str(), "card-removed" | "no-card" | "reader-gone" | "card-reset"),
            "{case}: a pulled card is reported as such, not {code:?}: {}\n{}",
            torn.stdout,
            torn.stderr
        );
        w.reader.wait_card_absent(WAIT);
        w.reader.wait_card_present(WAIT);
        let jobs = ok(w.station.as_operator("ivy", &["jobs"]).unwrap());
        let open = jobs["jobs"].as_array().unwrap().iter().any(|j| j["device"] == w.device.as_str());
        let recovered = if open {
            w.station.as_operator("ivy", &["jobs", "resume", "--reader", &w.reader.name]).unwrap()
        } else {
            // Torn before the job began (while the card was first read): collect again.
            w.collect()
        };
        let recovered = ok(recovered);
        id(&recovered["pin"])
    };
    w.check(&pin, &case, work);
}

fn clean_run_apdus(w: &mut Worker<'_>, reason: &str, work: &Path) -> u64 {
    if reason == "apply-latest" {
        w.new_version();
    }
    w.request(reason);
    w.reinsert(vcard::Faults::none());
    let before = w.card.lock().unwrap().stats().apdus;
    let run = ok(w.collect());
    let total = w.card.lock().unwrap().stats().apdus - before;
    w.check(&id(&run["pin"]), &format!("clean {reason}"), work);
    total
}

#[test]
fn a_card_pulled_at_any_apdu_of_collect_updates_is_finished_on_reinsertion_and_everything_agrees() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let registry = tearing_world(work.path());
    let (apply_total, reprovision_total) = {
        let mut w = worker(&lab, &registry, 0, work.path());
        let apply = clean_run_apdus(&mut w, "apply-latest", work.path());
        let reprovision = clean_run_apdus(&mut w, "reprovision", work.path());
        (apply, reprovision)
    };
    // Counted on the card, so other PC/SC clients of concurrent tests (OpenSC
    // scans every reader) may add a few: only a lower bound is certain, and
    // tear points past a run's own APDUs are handled as runs that finished.
    assert!(apply_total > 10 && reprovision_total > 10, "{apply_total} {reprovision_total}");
    eprintln!(
        "tearing each of the {apply_total} APDUs of apply-latest and {reprovision_total} of reprovision, before and after execution"
    );
    let mut cases: Vec<(&str, u64, bool)> = Vec::new();
    for (reason, total) in [("apply-latest", apply_total), ("reprovision", reprovision_total)] {
        for k in 0..total {
            cases.push((reason, k, false));
            cases.push((reason, k, true));
        }
    }
    let workers = 4.min(lab.reader_count());
    let chunks: Vec<Vec<(&str, u64, bool)>> =
        (0..workers).map(|w| cases.iter().copied().skip(w).step_by(workers).collect()).collect();
    std::thread::scope(|scope| {
        for (n, chunk) in chunks.into_iter().enumerate() {
            let (lab, registry, work) = (&lab, &registry, work.path());
            scope.spawn(move || {
                let mut w = worker(lab, registry, n + 1, work);
                for (reason, k, after) in chunk {
                    tear_and_recover(&mut w, reason, k, after, work);
                }
            });
        }
    });
}

/// A collect torn and then rolled back (the card taken away, say) leaves
/// the request approved; collecting again finishes the card, and card,
/// records and certificates agree: torn before the card took the new
/// management key (the next collect opens it with the previous key the
/// rolled-back job kept wrapped), and torn after the first certificate was
/// written (rollback revokes the certificates that reached no card record).
#[test]
fn a_torn_collect_rolled_back_is_collected_again_and_everything_agrees() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let registry = tearing_world(work.path());
    let mut w = worker(&lab, &registry, 9, work.path());
    for (case, faults) in [
        ("torn before SET MANAGEMENT KEY", vcard::Faults::tear_at(0xFF)),
        ("torn after the first PUT DATA", vcard::Faults::tear_at(0xDB).after_execution()),
    ] {
        w.request("reprovision");
        w.reinsert(faults);
        let torn = w.collect();
        assert!(!torn.ok, "{case}: the collect is torn: {}", torn.stdout);
        w.reader.wait_card_absent(WAIT);
        w.reader.wait_card_present(WAIT);
        let jobs = ok(w.station.as_operator("ivy", &["jobs"]).unwrap());
        let job = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["device"] == w.device.as_str())
            .unwrap_or_else(|| panic!("{case}: an open job: {jobs}"))
            .clone();
        assert_eq!(job["kind"], "update", "{case}: {job}");
        let before = ok(w.station.as_operator("ivy", &["read", "--reader", &w.reader.name]).unwrap());
        let revoked_before = before["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["state"]["state"] == "revoked")
            .count();
        let rolled = ok(w
            .station
            .as_operator("ivy", &["jobs", "rollback", &id(&job["id"]), "--reason", "card taken away"])
            .unwrap());
        assert_eq!(rolled["state"], "rolled_back", "{case}: {rolled}");
        let view = ok(w.station.as_operator("ivy", &["read", "--reader", &w.reader.name]).unwrap());
        assert!(view["open_job"].is_null(), "{case}: {view}");
        assert_eq!(view["pending_updates"].as_array().unwrap().len(), 1, "{case}: still to collect: {view}");
        let pending: Vec<&Value> = view["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["state"]["state"] == "on_hold")
            .collect();
        assert!(pending.is_empty(), "{case}: no certificate left pending: {pending:?}");
        let revoked_after = view["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["state"]["state"] == "revoked")
            .count();
        if case.contains("PUT DATA") {
            assert!(revoked_after > revoked_before, "{case}: the job's certificate is revoked: {view}");
        }
        let again = ok(w.collect());
        assert_eq!(again["resumed"], false, "{case}: a new job: {again}");
        w.check(&id(&again["pin"]), case, work.path());
    }
}

/// `cardstation collect` (reprovision) SIGKILLed at spread-out moments, from
/// before its job exists to after the registry recorded the card; running
/// `collect` again finds the interrupted job (or the approved request) and
/// finishes it — a job the registry already recorded is closed and the PIN
/// nobody saw is reset with the escrowed PUK — and everything agrees.
#[test]
fn a_collect_killed_at_any_moment_is_finished_by_the_next_run() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let registry = tearing_world(work.path());
    // A collect takes about 200 ms here: kill points every 10 ms over it.
    let delays_ms: Vec<u64> = (0..22).map(|i| 10 + i * 10).collect();
    let workers = 2;
    std::thread::scope(|scope| {
        for n in 0..workers {
            let (lab, registry, work) = (&lab, &registry, work.path());
            let delays: Vec<u64> = delays_ms.iter().copied().skip(n).step_by(workers).collect();
            scope.spawn(move || {
                let w = worker(lab, registry, 20 + n, work);
                for delay in delays {
                    let case = format!("SIGKILL after {delay} ms");
                    w.request("reprovision");
                    let mut child = std::process::Command::new(tools::cardstation_bin())
                        .args(["--json", "--data", w.station.data.to_str().unwrap()])
                        .args(["collect", "--reader", &w.reader.name])
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
                    eprintln!("{case}: {}", if finished { "had finished" } else { "killed mid-run" });
                    let done = if finished && output.status.success() {
                        serde_json::from_slice::<Value>(&output.stdout).unwrap()
                    } else {
                        // pcscd may still be releasing the killed client's
                        // transaction (a reset, or busy): the operator retries.
                        let mut attempt = 0;
                        loop {
                            let run = w.collect();
                            let code =
                                if run.ok { String::new() } else { run.json()["error"]["code"].to_string() };
                            attempt += 1;
                            if attempt < 4 && (code.contains("card-reset") || code.contains("card-in-use")) {
                                continue;
                            }
                            if code.contains("not-found") {
                                // Killed after the job was closed but before the PIN
                                // was printed: the operator unblocks with the escrowed PUK.
                                let unblock = ["unblock", "--identity-check", "kill test", "--reader"];
                                let mut args = unblock.to_vec();
                                args.push(&w.reader.name);
                                break ok(w.station.as_operator("ivy", &args).unwrap());
                            }
                            break ok(run);
                        }
                    };
                    let pin =
                        done["pin"].as_str().unwrap_or_else(|| panic!("{case}: a PIN: {done}")).to_owned();
                    w.check(&pin, &case, work);
                    let jobs = ok(w.station.as_operator("ivy", &["jobs"]).unwrap());
                    assert!(jobs["jobs"].as_array().unwrap().is_empty(), "{case}: {jobs}");
                }
            });
        }
    });
}
