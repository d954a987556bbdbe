//! Seed 002 walked as an operator would, through the real `cardstation`
//! binary, a real `cardstation-registry serve` over pinned TLS on loopback,
//! and the real pcscd with a virtual card:
//!
//! * "Request card" is disabled by default: refused with a clear message;
//! * request with approval → card `requested` → an approver approves →
//!   `approved` → issue → the card is encoded and in the profile's end state;
//! * request without approval → `approved` at once → issue;
//! * the refusals the seed implies: approver = requester, wrong permission;
//! * OpenSC signs with the PIN the CLI printed, and the registry's records
//!   (device state, certificates and their serials, audit) match the card.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::lab::{Lab, WAIT};
use e2e::station::{profile, TestRegistry, TestStation};
use e2e::tools;
use serde_json::Value;

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

#[test]
fn seed_002_request_with_and_without_approval_then_issue() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&work.path().join("registry")).unwrap();
    registry.role("Requesters", &["can_request"], &[]).unwrap();
    registry.role("Approvers", &["can_request", "can_approve"], &[]).unwrap();
    registry.role("Issuers", &["can_collect"], &["unblock_pin"]).unwrap();
    registry.operator("rita", "Requester", &["Requesters"]).unwrap();
    registry.operator("abe", "Approver", &["Approvers"]).unwrap();
    registry.operator("ivy", "Issuer", &["Issuers"]).unwrap();
    let employee = registry.profile(&profile("Employee", true)).unwrap();
    let visitor = registry.profile(&profile("Visitor", false)).unwrap();
    // Enrollment pins the registry's certificate: a wrong fingerprint is refused, nothing written.
    let impostor = work.path().join("impostor");
    let wrong = tools::cardstation(
        &[
            "--json",
            "--data",
            impostor.to_str().unwrap(),
            "enroll",
            "--url",
            &registry.url,
            "--fingerprint",
            &"00".repeat(32),
        ],
        &[],
    )
    .unwrap();
    let (code, message) = error_of(&wrong);
    assert_eq!(code, "pin-mismatch", "{message}");
    assert!(!impostor.join("station.toml").exists());
    let station = TestStation::enroll(&work.path().join("station"), &registry).unwrap();

    let grace = ok(station
        .as_operator(
            "admin",
            &[
                "person",
                "add",
                "--given-name",
                "Grace",
                "--family-name",
                "Hopper",
                "--email",
                "grace@example.test",
            ],
        )
        .unwrap());
    let grace = grace["id"].as_str().unwrap().to_owned();

    // "This use case … disabled by default": refused, and the message says so.
    let refused = station
        .as_operator("rita", &["request", "--person", &grace, "--profile", &employee, "--reason", "new hire"])
        .unwrap();
    let (code, message) = error_of(&refused);
    assert_eq!(code, "use-case-disabled", "{message}");
    assert!(message.contains("Request card") && message.contains("disabled"), "{message}");
    registry.use_case("request", true).unwrap();

    // Request card with approval (the profile validates issuance): state requested.
    let requested = ok(station
        .as_operator(
            "rita",
            &["request", "--person", &grace, "--profile", &employee, "--notes", "starts Monday"],
        )
        .unwrap());
    assert_eq!(requested["request"]["state"], "pending_approval", "{requested}");
    assert_eq!(requested["device"]["state"], "requested", "{requested}");
    let request = requested["request"]["id"].as_str().unwrap().to_owned();
    let device = requested["device"]["id"].as_str().unwrap().to_owned();

    // Issuing before approval is refused.
    let reader = lab.acquire_reader();
    let (_card, _plugged) = reader.insert_fresh(7_100_000 + std::process::id() % 1000);
    // UC-READ: blank stock is recognised as such.
    let blank = ok(station.as_operator("ivy", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(blank["kind"], "blank", "{blank}");
    let early =
        station.as_operator("ivy", &["issue", "--request", &request, "--reader", &reader.name]).unwrap();
    let (code, message) = error_of(&early);
    assert_eq!(code, "state-not-allowed", "{message}");

    // Refusals: a requester without Can Approve; an approver approving their own request.
    let (code, message) = error_of(&station.as_operator("rita", &["approve", &request]).unwrap());
    assert_eq!(code, "not-permitted", "{message}");
    assert!(message.contains("permission"), "{message}");
    let own =
        ok(station.as_operator("abe", &["request", "--person", &grace, "--profile", &employee]).unwrap());
    let own = own["request"]["id"].as_str().unwrap().to_owned();
    let (code, message) = error_of(&station.as_operator("abe", &["approve", &own]).unwrap());
    assert_eq!(code, "approver-is-requester", "{message}");
    assert!(message.contains("own request"), "{message}");
    let cancelled = ok(station.as_operator("abe", &["cancel", &own, "--notes", "duplicate"]).unwrap());
    assert_eq!(cancelled["request"]["state"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["device"]["state"], "aborted", "{cancelled}");
    // … nor approve a request for themselves (the approver is the recipient).
    let abe = ok(station.as_operator("abe", &["signin"]).unwrap());
    let for_abe = ok(station
        .as_operator(
            "rita",
            &["request", "--person", abe["person"].as_str().unwrap(), "--profile", &employee],
        )
        .unwrap());
    let for_abe = for_abe["request"]["id"].as_str().unwrap().to_owned();
    let (code, message) = error_of(&station.as_operator("abe", &["approve", &for_abe]).unwrap());
    assert_eq!(code, "approver-is-recipient", "{message}");
    assert!(message.contains("for themselves"), "{message}");
    // The requester cannot request a card for themselves either.
    let rita = ok(station.as_operator("rita", &["signin"]).unwrap());
    let (code, message) = error_of(
        &station
            .as_operator(
                "rita",
                &["request", "--person", rita["person"].as_str().unwrap(), "--profile", &employee],
            )
            .unwrap(),
    );
    assert_eq!(code, "requester-is-recipient", "{message}");

    // The approver's queue lists it (the cancelled one is gone from it).
    let queue = ok(station.as_operator("abe", &["requests", "--state", "pending_approval"]).unwrap());
    let queued: Vec<&str> =
        queue["requests"].as_array().unwrap().iter().map(|v| v["request"]["id"].as_str().unwrap()).collect();
    assert!(queued.contains(&request.as_str()) && !queued.contains(&own.as_str()), "{queue}");
    let (code, _) = error_of(&station.as_operator("abe", &["requests", "--state", "sleeping"]).unwrap());
    assert_eq!(code, "bad-input");

    // The approver approves: state approved.
    let approved =
        ok(station.as_operator("abe", &["approve", &request, "--notes", "identity checked"]).unwrap());
    assert_eq!(approved["request"]["state"], "approved", "{approved}");
    assert_eq!(approved["device"]["state"], "approved", "{approved}");

    // Issue (single production): the card ends in the profile's end state.
    let issued =
        ok(station.as_operator("ivy", &["issue", "--request", &request, "--reader", &reader.name]).unwrap());
    assert_eq!(issued["device"]["id"], device.as_str());
    assert_eq!(issued["device"]["state"], "active", "{issued}");
    let pin = issued["pin"].as_str().unwrap().to_owned();
    assert_eq!(pin.len(), 8);
    assert_eq!(issued["certificates"].as_array().unwrap().len(), 2, "{issued}");
    let certificates = check_card_against_registry(&station, &reader, &pin, &device, work.path());
    no_secret_on_disk(&registry, &station, &device, &pin);
    let mut ids = vec![device.clone(), request.clone()];
    ids.extend(certificates);
    check_audit(
        &registry,
        &ids,
        &["op.request_card", "op.approve_request", "op.store_escrow", "op.record_issuance"],
    );

    // Request card without approval: approved at once, then issued.
    let direct =
        ok(station.as_operator("rita", &["request", "--person", &grace, "--profile", &visitor]).unwrap());
    assert_eq!(direct["request"]["state"], "approved", "{direct}");
    assert_eq!(direct["device"]["state"], "approved", "{direct}");
    let second_device = direct["device"]["id"].as_str().unwrap().to_owned();
    // The first card is no blank stock: refused, nothing written.
    let (code, message) = error_of(
        &station
            .as_operator("ivy", &["issue", "--device", &second_device, "--reader", &reader.name])
            .unwrap(),
    );
    assert_eq!(code, "wrong-card", "{message}");
    _plugged.remove();
    reader.wait_card_absent(WAIT);
    let (_card2, _plugged2) = reader.insert_fresh(7_200_000 + std::process::id() % 1000);
    let issued2 = ok(station
        .as_operator("ivy", &["issue", "--device", &second_device, "--reader", &reader.name])
        .unwrap());
    assert_eq!(issued2["device"]["state"], "active", "{issued2}");
    let pin2 = issued2["pin"].as_str().unwrap().to_owned();
    let certificates = check_card_against_registry(&station, &reader, &pin2, &second_device, work.path());
    let mut ids = vec![second_device.clone(), direct["request"]["id"].as_str().unwrap().to_owned()];
    ids.extend(certificates);
    check_audit(&registry, &ids, &["op.request_card", "op.store_escrow", "op.record_issuance"]);
    assert!(ok(station.as_operator("ivy", &["jobs"]).unwrap())["jobs"].as_array().unwrap().is_empty());

    // UC-READ: a card personalized elsewhere (the lab's local CA) is foreign, and not issued over.
    _plugged2.remove();
    reader.wait_card_absent(WAIT);
    let (_card3, _plugged3) = reader.insert_fresh(7_300_000 + std::process::id() % 1000);
    let ca = work.path().join("local-ca");
    let profile_path = tools::profile("piv-p256.toml");
    tools::cardstation(
        &[
            "--json",
            "card",
            "personalize",
            "--reader",
            &reader.name,
            "--profile",
            tools::path(&profile_path),
            "--ca-dir",
            tools::path(&ca),
        ],
        &[],
    )
    .unwrap()
    .expect_ok()
    .unwrap();
    let foreign = ok(station.as_operator("ivy", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(foreign["kind"], "foreign", "{foreign}");

    // Issuing needs the registry (CA, escrow): with it gone, a clear refusal.
    let another =
        ok(station.as_operator("rita", &["request", "--person", &grace, "--profile", &visitor]).unwrap());
    let another = another["request"]["id"].as_str().unwrap().to_owned();
    drop(registry);
    let (code, message) = error_of(
        &station.as_operator("ivy", &["issue", "--request", &another, "--reader", &reader.name]).unwrap(),
    );
    assert_eq!(code, "offline", "{message}");
    assert!(message.contains("unreachable"), "{message}");
}

/// "Issue card" without a request to approve (seed 002, UC-ISSUE direct):
/// disabled by default (a clear refusal, nothing recorded); enabled, an
/// operator who may request and collect encodes a blank card at once, and
/// OpenSC signs with the PIN printed.
#[test]
fn seed_002_issue_card_directly() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&work.path().join("registry")).unwrap();
    registry.role("Direct issuers", &["can_request", "can_collect"], &[]).unwrap();
    registry.role("Issuers", &["can_collect"], &[]).unwrap();
    registry.operator("dora", "Direct", &["Direct issuers"]).unwrap();
    registry.operator("ivy", "Issuer", &["Issuers"]).unwrap();
    let employee = registry.profile(&profile("Employee", true)).unwrap();
    let visitor = registry.profile(&profile("Visitor", false)).unwrap();
    let station = TestStation::enroll(&work.path().join("station"), &registry).unwrap();
    let grace = ok(station
        .as_operator("admin", &["person", "add", "--given-name", "Grace", "--family-name", "Hopper"])
        .unwrap());
    let grace = grace["id"].as_str().unwrap().to_owned();
    let reader = lab.acquire_reader();
    let (_card, _plugged) = reader.insert_fresh(7_400_000 + std::process::id() % 1000);
    let direct = |operator: &str, profile: &str| {
        station
            .as_operator(
                operator,
                &["issue", "--direct", "--person", &grace, "--profile", profile, "--reader", &reader.name],
            )
            .unwrap()
    };

    // Disabled by default: refused, the message says so, no request made.
    let (code, message) = error_of(&direct("dora", &visitor));
    assert_eq!(code, "use-case-disabled", "{message}");
    assert!(message.contains("Issue card without request") && message.contains("disabled"), "{message}");
    let none = ok(station.as_operator("dora", &["requests"]).unwrap());
    assert!(none["requests"].as_array().unwrap().is_empty(), "{none}");
    registry.use_case("direct_issue", true).unwrap();

    // A profile that validates issuance needs an approval; Can Request is needed too.
    let (code, message) = error_of(&direct("dora", &employee));
    assert_eq!(code, "approval-required", "{message}");
    let (code, message) = error_of(&direct("ivy", &visitor));
    assert_eq!(code, "not-permitted", "{message}");
    let none = ok(station.as_operator("dora", &["requests"]).unwrap());
    assert!(none["requests"].as_array().unwrap().is_empty(), "{none}");

    // Enabled: the blank card is encoded at once, in the profile's end state.
    let issued = ok(direct("dora", &visitor));
    assert_eq!(issued["device"]["state"], "active", "{issued}");
    assert_eq!(issued["certificates"].as_array().unwrap().len(), 2, "{issued}");
    let device = issued["device"]["id"].as_str().unwrap().to_owned();
    let request = issued["request"].as_str().unwrap().to_owned();
    let pin = issued["pin"].as_str().unwrap().to_owned();
    let certificates = check_card_against_registry(&station, &reader, &pin, &device, work.path());
    let requests = ok(station.as_operator("dora", &["requests"]).unwrap());
    let listed = requests["requests"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{requests}");
    assert_eq!(listed[0]["request"]["id"], request.as_str());
    assert_eq!(listed[0]["request"]["state"], "completed", "{requests}");
    let mut ids = vec![device.clone(), request];
    ids.extend(certificates);
    check_audit(&registry, &ids, &["op.request_card", "op.store_escrow", "op.record_issuance"]);
    assert!(ok(station.as_operator("dora", &["jobs"]).unwrap())["jobs"].as_array().unwrap().is_empty());

    // The card now in the reader is no blank stock: a second direct issue
    // is refused before any record is made for it.
    let (code, message) = error_of(&direct("dora", &visitor));
    assert_eq!(code, "wrong-card", "{message}");
    let after = ok(station.as_operator("dora", &["requests"]).unwrap());
    assert_eq!(after["requests"].as_array().unwrap().len(), 1, "{after}");
}

/// OpenSC signs with the PIN the CLI printed; the registry's device record
/// and certificates (serials) match what the card holds.
fn check_card_against_registry(
    station: &TestStation,
    reader: &e2e::lab::LabReader,
    pin: &str,
    device: &str,
    work: &std::path::Path,
) -> Vec<String> {
    let pem = tools::yubico_piv_tool(&reader.name, &["-a", "read-certificate", "-s", "9a"])
        .unwrap()
        .expect_ok()
        .unwrap();
    let cert = work.join(format!("{device}-9a.pem"));
    std::fs::write(&cert, pem.stdout).unwrap();
    let dir = work.join(device);
    std::fs::create_dir_all(&dir).unwrap();
    tools::pkcs11_sign_and_verify(&reader.name, pin, "01", "ECDSA-SHA256", &cert, &dir)
        .unwrap_or_else(|e| panic!("OpenSC must sign with the PIN the CLI printed: {e:#}"));

    let view = ok(station.as_operator("ivy", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(view["kind"], "ours", "{view}");
    assert_eq!(view["device"]["id"], device);
    assert_eq!(view["device"]["state"], "active");
    let mut on_card: Vec<String> = view["info"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["summary"]["serial_hex"].as_str().unwrap().trim_start_matches('0').to_owned())
        .collect();
    let mut recorded: Vec<String> = view["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["state"]["state"], "valid", "{c}");
            c["serial"].as_str().unwrap().trim_start_matches('0').to_uppercase()
        })
        .collect();
    on_card.sort();
    recorded.sort();
    assert_eq!(on_card, recorded, "the registry's certificates are the card's");
    assert!(view["open_job"].is_null());
    view["certificates"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

/// The registry's audit trail names the device's steps, all successful,
/// and its hash chain verifies.
fn check_audit(registry: &TestRegistry, ids: &[String], expected: &[&str]) {
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
    let events: Vec<&Value> =
        all.iter().filter(|e| ids.iter().any(|id| e["object"].to_string().contains(id.as_str()))).collect();
    let device = &ids[0];
    let actions: Vec<&str> = events.iter().filter_map(|e| e["action"].as_str()).collect();
    for want in expected {
        assert!(actions.contains(want), "the audit records {want} for {device}: {actions:?}");
    }
    assert_eq!(
        actions.iter().filter(|a| **a == "op.store_escrow").count(),
        2,
        "the management key and the PUK are escrowed: {actions:?}"
    );
    assert!(
        actions.iter().any(|a| a.contains("certificate")),
        "certificate issuance is audited: {actions:?}"
    );
    for e in &events {
        assert_eq!(e["outcome"]["outcome"], "success", "{e}");
    }
    let chain = registry.get_json("admin", "/v1/audit/verify").unwrap();
    assert_eq!(chain["intact"], true, "{chain}");
}

/// Neither the PIN shown nor the escrowed management key and PUK appear in
/// any file of the station (database, WAL, configuration).
fn no_secret_on_disk(registry: &TestRegistry, station: &TestStation, device: &str, pin: &str) {
    let key =
        registry.get_json_at(station, "ivy", &format!("/v1/devices/{device}/escrow/management_key")).unwrap();
    let puk = registry.get_json_at(station, "ivy", &format!("/v1/devices/{device}/escrow/puk")).unwrap();
    let key = key.as_str().unwrap_or_else(|| panic!("the escrowed key: {key}")).to_lowercase();
    let puk_hex = puk.as_str().unwrap_or_else(|| panic!("the escrowed PUK: {puk}")).to_owned();
    let puk = String::from_utf8(hex_decode(&puk_hex)).unwrap();
    assert_eq!(key.len(), 64, "an AES-256 management key");
    let key_bytes = hex_decode(&key);
    for entry in std::fs::read_dir(&station.data).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        for (what, secret) in [("PIN", pin), ("PUK", puk.as_str()), ("management key (hex)", key.as_str())] {
            assert!(!text.contains(secret), "the {what} is in {}", path.display());
        }
        assert!(
            !bytes.windows(key_bytes.len()).any(|w| w == key_bytes),
            "the management key is in {}",
            path.display()
        );
    }
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// UC-ADMIN from the CLI: a role made and granted by the administrator is
/// in force at the operator's next sign-in; switching Request card off
/// refuses the request; nobody can take the last Administer away; an
/// operator without Administer changes nothing.
#[test]
fn an_administrator_grants_roles_and_switches_use_cases_from_the_cli() {
    let work = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&work.path().join("registry")).unwrap();
    registry.operator("nora", "Newcomer", &[]).unwrap();
    registry.use_case("request", true).unwrap();
    let employee = registry.profile(&profile("Employee", false)).unwrap();
    let station = TestStation::enroll(&work.path().join("station"), &registry).unwrap();
    let person = ok(station
        .as_operator("admin", &["person", "add", "--given-name", "Ada", "--family-name", "Lovelace"])
        .unwrap())["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = ["request", "--person", person.as_str(), "--profile", employee.as_str()];
    let (code, _) = error_of(&station.as_operator("nora", &request).unwrap());
    assert_eq!(code, "not-permitted", "no role yet");

    let made = ok(station
        .as_operator(
            "admin",
            &["admin", "role", "--name", "Requesters", "--on-profile", &format!("can_request={employee}")],
        )
        .unwrap());
    let role = made["roles"].as_array().unwrap().iter().find(|r| r["name"] == "Requesters").unwrap().clone();
    assert_eq!(role["grants"], serde_json::json!(["Can Request: Employee"]), "{role}");
    let (code, _) = error_of(
        &station
            .as_operator("nora", &["admin", "grant", "--operator", "nora", "--role", "Requesters"])
            .unwrap(),
    );
    assert_eq!(code, "not-permitted", "nora cannot grant herself a role");
    let granted = ok(station
        .as_operator("admin", &["admin", "grant", "--operator", "nora", "--role", "Requesters"])
        .unwrap());
    let nora =
        granted["operators"].as_array().unwrap().iter().find(|o| o["username"] == "nora").unwrap().clone();
    assert_eq!(nora["role_names"], serde_json::json!(["Requesters"]), "{nora}");
    let asked = ok(station.as_operator("nora", &request).unwrap());
    assert_eq!(asked["request"]["state"], "approved", "{asked}");

    // Request card off: refused at once, whatever the role.
    let switched = ok(station.as_operator("admin", &["admin", "use-case", "request", "off"]).unwrap());
    assert!(switched["use_cases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["key"] == "request" && u["enabled"] == false));
    let (code, message) = error_of(&station.as_operator("nora", &request).unwrap());
    assert_eq!(code, "use-case-disabled", "{message}");
    let (code, _) =
        error_of(&station.as_operator("admin", &["admin", "use-case", "sign_in", "off"]).unwrap());
    assert_eq!(code, "use-case-required");

    // The last administrator keeps Administer.
    let (code, message) =
        error_of(&station.as_operator("admin", &["admin", "grant", "--operator", "admin"]).unwrap());
    assert_eq!(code, "last-administrator", "{message}");
    let access = ok(station.as_operator("admin", &["admin", "access"]).unwrap());
    let admin =
        access["operators"].as_array().unwrap().iter().find(|o| o["username"] == "admin").unwrap().clone();
    assert_eq!(admin["role_names"], serde_json::json!(["Administrators"]), "{admin}");
}
