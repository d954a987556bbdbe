//! The desktop app through its real window: `cardstation-app` under Xvfb,
//! driven by WebDriver (tauri-driver + WebKitWebDriver), against a real
//! registry over pinned TLS on loopback and the real pcscd with virtual
//! cards. Each test asserts what the operator sees *and* what the registry
//! and the card hold.
//!
//! * sign-in failure wording, then a command invoked over IPC without the
//!   permission: refused by the backend with `not-permitted`, nothing changed;
//! * seed 002 through the window: request (form) → approve (queue) → issue
//!   onto a blank card (stepper, PIN revealed once) → OpenSC signs with it;
//! * UC-ADMIN: a profile revised in the window is the registry's next
//!   version; an edit crossing another administrator's is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::lab::{Lab, WAIT};
use e2e::station::{profile, TestRegistry, TestStation, PASSWORD};
use e2e::tools;
use e2e::window::AppWindow;
use serde_json::{json, Value};

/// One app window at a time: each runs WebKit (several processes) on a
/// 2-core machine, and the batch test takes four readers' worth of work.
fn one_window() -> std::sync::MutexGuard<'static, ()> {
    static WINDOW: std::sync::Mutex<()> = std::sync::Mutex::new(());
    WINDOW.lock().unwrap_or_else(|p| p.into_inner())
}

/// yubico-piv-tool reads the certificate in `slot` of the card in `reader`,
/// and OpenSC (PKCS#11 key `id`) signs with it using `pin`; the signature verifies.
fn opensc_signs(reader: &str, pin: &str, slot: &str, id: &str) {
    let pem =
        tools::yubico_piv_tool(reader, &["-a", "read-certificate", "-s", slot]).unwrap().expect_ok().unwrap();
    let work = tempfile::tempdir().unwrap();
    let cert = work.path().join(format!("{slot}.pem"));
    std::fs::write(&cert, pem.stdout).unwrap();
    tools::pkcs11_sign_and_verify(reader, pin, id, "ECDSA-SHA256", &cert, work.path()).unwrap();
}

fn ok(run: tools::Run) -> Value {
    assert!(run.ok, "`{}` failed:\n{}\n{}", run.command, run.stdout, run.stderr);
    run.json()
}

/// A registry with requesters, approvers and issuers, Request card on,
/// an approval profile, one person; and a station enrolled with it.
struct World {
    registry: TestRegistry,
    station: TestStation,
    employee: String,
    grace: String,
    _work: tempfile::TempDir,
}

fn world() -> World {
    let work = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&work.path().join("registry")).unwrap();
    registry.role("Requesters", &["can_request"], &[]).unwrap();
    registry.role("Approvers", &["can_request", "can_approve"], &[]).unwrap();
    registry.role("Issuers", &["can_collect"], &["unblock_pin"]).unwrap();
    registry.operator("rita", "Requester", &["Requesters"]).unwrap();
    registry.operator("abe", "Approver", &["Approvers"]).unwrap();
    registry.operator("ivy", "Issuer", &["Issuers"]).unwrap();
    registry.use_case("request", true).unwrap();
    let employee = registry.profile(&profile("Employee", true)).unwrap();
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
    World { registry, station, employee, grace, _work: work }
}

#[test]
fn sign_in_failure_wording_and_a_permission_refused_at_the_backend() {
    let _one = one_window();
    let w = world();
    let requested = ok(w
        .station
        .as_operator("rita", &["request", "--person", &w.grace, "--profile", &w.employee])
        .unwrap());
    let request = requested["request"]["id"].as_str().unwrap().to_owned();

    let app = AppWindow::open("signin", &w.station.data, 300).unwrap();
    app.screenshot("sign-in").unwrap();
    app.sign_in("rita", "not the password").unwrap();
    let shown = app.wait_text("[data-testid=signin-error]", "not accepted").unwrap();

    assert_eq!(app.attr("[data-testid=signin-error]", "data-code").unwrap().as_deref(), Some("sign-in"));
    assert!(!shown.contains('{') && !shown.contains("Error"), "operator wording, not a Rust string: {shown}");
    app.screenshot("sign-in-refused").unwrap();

    app.sign_in("rita", PASSWORD).unwrap();
    app.wait_for("[data-testid=status-operator]").unwrap();
    app.wait_text("[data-testid=status-operator]", "Requester").unwrap();

    // rita has no Can Approve: the window offers no approval, and a script
    // calling the command anyway is refused by the backend, nothing changed.
    let answer =
        app.invoke("decide", json!({ "request": request, "decision": "approve", "reason": null })).unwrap();
    assert_eq!(answer["error"]["code"], "not-permitted", "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("Can Approve"), "{answer}");
    let listed = ok(w.station.as_operator("abe", &["requests", "--state", "pending_approval"]).unwrap());
    assert!(listed.to_string().contains(&request), "still waiting for an approver: {listed}");

    // Nor may rita administer: no Admin item, and revising a profile over IPC
    // is refused by the backend; the registry still has version 1.
    assert!(texts(&app, "[data-testid=nav-admin]").is_empty(), "no Admin item without Administer");
    let form = w.registry.latest_profile(&w.employee).unwrap()["settings"].clone();
    let answer = app
        .invoke(
            "revise_profile",
            json!({ "profile": w.employee, "expectedVersion": 1, "form": {
                "name": "Employee", "validate_issuance": false, "pin_min_length": 6, "pin_max_length": 8,
                "pin_retries": 9, "puk_length": 8, "puk_retries": 3, "card_validity_days": 30,
                "card_ends_active": true, "certificates_end_valid": true } }),
        )
        .unwrap();
    assert_eq!(answer["error"]["code"], "not-permitted", "{answer}");
    let after = w.registry.latest_profile(&w.employee).unwrap();
    assert_eq!((after["version"].as_u64(), &after["settings"]), (Some(1), &form), "nothing changed");
    // Nor give herself a role, nor switch a use case off.
    let before = w.registry.get_json("admin", "/v1/admin/access").unwrap();
    let rita =
        before["operators"].as_array().unwrap().iter().find(|o| o["username"] == "rita").unwrap().clone();
    let everything: Vec<Value> =
        before["roles"].as_array().unwrap().iter().map(|r| r["id"].clone()).collect();
    let answer =
        app.invoke("set_operator_roles", json!({ "operator": rita["id"], "roles": everything })).unwrap();
    assert_eq!(answer["error"]["code"], "not-permitted", "{answer}");
    let answer = app
        .invoke(
            "set_use_cases",
            json!({ "form": { "enabled": ["sign_in", "admin"], "approval_step": true } }),
        )
        .unwrap();
    assert_eq!(answer["error"]["code"], "not-permitted", "{answer}");
    assert_eq!(before, w.registry.get_json("admin", "/v1/admin/access").unwrap(), "nothing changed");
}

#[test]
fn seed_002_request_approve_and_issue_through_the_window() {
    let _one = one_window();
    let lab = Lab::from_env();
    let w = world();
    let app = AppWindow::open("seed002", &w.station.data, 300).unwrap();

    // rita requests a card for Grace through the form.
    app.sign_in("rita", PASSWORD).unwrap();
    app.click("[data-testid=nav-new-request]").unwrap();
    app.type_into("[data-testid=request-person-search]", "Grace").unwrap();
    app.click("[data-testid=request-person-option]").unwrap();
    app.wait_text("[data-testid=request-person]", "Grace Hopper").unwrap();
    app.type_into("[data-testid=request-notes]", "starts Monday").unwrap();
    app.screenshot("request-form").unwrap();
    app.click("[data-testid=request-submit]").unwrap();
    app.wait_text("[data-testid=request-created]", "Grace Hopper").unwrap();
    app.wait_text("[data-testid=request-created-state]", "Pending approval").unwrap();
    app.click("[data-testid=status-signout]").unwrap();

    // abe approves it from the queue.
    app.sign_in("abe", PASSWORD).unwrap();
    app.click("[data-testid=nav-requests]").unwrap();
    app.click("[data-testid=requests-filter-pending_approval]").unwrap();
    app.wait_text("[data-testid=request-row]", "Grace Hopper").unwrap();
    app.screenshot("approvals").unwrap();
    app.click("[data-testid=request-row] [data-testid=approve]").unwrap();
    app.wait_for("[data-testid=request-row][data-state=approved], [data-testid=requests-empty]").unwrap();
    app.click("[data-testid=status-signout]").unwrap();

    // ivy inserts a blank card: the device view offers the approved request.
    app.sign_in("ivy", PASSWORD).unwrap();
    app.wait_for("[data-testid=status-operator]").unwrap();
    let reader = lab.acquire_reader();
    let (_card, _plugged) = reader.insert_fresh(7_300_000 + std::process::id() % 1000);
    reader.wait_card_present(WAIT);
    app.wait_for(&format!("[data-testid=reader-chip][data-reader='{}'][data-status=blank]", reader.name))
        .unwrap();
    app.click(&format!("[data-testid=reader-chip][data-reader='{}']", reader.name)).unwrap();
    app.wait_for("[data-testid=device-blank]").unwrap();
    app.wait_text("[data-testid=request-row]", "Grace Hopper").unwrap();
    app.screenshot("device-blank").unwrap();
    app.click("[data-testid=request-row] [data-testid=issue-start]").unwrap();
    app.click("[data-testid=issue-confirm]").unwrap();
    app.wait_for("[data-testid=issued-done]").unwrap();
    let steps: Vec<String> = app
        .block(app.client.execute(
            "return [...document.querySelectorAll('[data-testid=job-step]')].map(e => e.textContent.replace(/\\s+/g, ' ').trim())",
            vec![],
        ))
        .map(|v| serde_json::from_value(v).unwrap_or_default())
        .unwrap_or_default();
    let pin = app.wait_for("[data-testid=pin-value]").unwrap();
    let pin: String = app.block(pin.text()).unwrap().chars().filter(char::is_ascii_digit).collect();
    assert!(pin.len() >= 6, "a generated PIN is revealed: {pin:?}");
    app.screenshot("pin-reveal").unwrap();
    let ticket =
        app.attr("[data-testid=pin-reveal]", "data-ticket").unwrap().expect("the reveal names its ticket");
    app.click("[data-testid=pin-close]").unwrap();
    app.wait_for("[data-testid=issued-done][data-reveal=closed]").unwrap();
    let page = app.block(app.client.source()).unwrap();
    assert!(!page.contains(&pin), "the PIN is gone from the window once handed over");
    let again = app.invoke("reveal_secret", json!({ "ticket": ticket })).unwrap();
    assert_eq!(again["error"]["code"], "secret-gone", "a PIN is revealed once: {again}");
    // The stepper named every step of the card, counted from 1, each done.
    let total = steps.len();
    assert!(total >= 10, "two keys and certificates take more than ten steps: {steps:?}");
    assert!(steps[0].starts_with(&format!("1/{total} ")), "{steps:?}");
    assert!(steps[total - 1].starts_with(&format!("{total}/{total} ")), "{steps:?}");
    assert!(steps.iter().all(|s| s.ends_with(" done")), "{steps:?}");
    assert!(steps.iter().any(|s| s.contains("9A authentication key")), "{steps:?}");

    // The registry has the card active for Grace, and OpenSC signs with the revealed PIN.
    let listed = ok(w.station.as_operator("ivy", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(listed["kind"], "ours", "{listed}");
    assert_eq!(listed["device"]["state"], "active", "{listed}");
    assert_eq!(listed["owner"]["given_name"], "Grace", "{listed}");
    opensc_signs(&reader.name, &pin, "9a", "01");
}

/// The reader panels of the batch board: reader → (status, seq, step).
fn board_panels(app: &AppWindow) -> std::collections::HashMap<String, (String, String, u32)> {
    let script = "return [...document.querySelectorAll('[data-testid=batch-reader]')].map(e => \
                  [e.dataset.reader, e.dataset.status, e.dataset.seq, Number(e.dataset.step || 0)])";
    let rows: Vec<(String, String, String, u32)> =
        serde_json::from_value(app.block(app.client.execute(script, vec![])).unwrap()).unwrap_or_default();
    rows.into_iter().map(|(r, status, seq, step)| (r, (status, seq, step))).collect()
}

/// The board's counts: (done, pending, encoding, failed).
fn board_counts(app: &AppWindow) -> (u32, u32, u32, u32) {
    let script = "const e = document.querySelector('[data-testid=batch-counts]'); \
                  return e ? [e.dataset.done, e.dataset.pending, e.dataset.encoding, e.dataset.failed].map(Number) : null";
    let v = app.block(app.client.execute(script, vec![])).unwrap();
    serde_json::from_value::<Option<(u32, u32, u32, u32)>>(v).unwrap().unwrap_or_default()
}

#[test]
fn seed_003_batch_on_four_readers_with_a_card_pulled_mid_write_and_recovered() {
    let _one = one_window();
    const CARDS: usize = 6;
    let lab = Lab::from_env();
    let w = world();
    w.registry.role("Batchers", &["can_collect"], &["manage_batches"]).unwrap();
    w.registry.operator("bea", "Batcher", &["Batchers"]).unwrap();
    let plain = w.registry.profile(&profile("Staff badge", false)).unwrap();
    for i in 0..CARDS {
        let person = ok(w
            .station
            .as_operator(
                "admin",
                &["person", "add", "--given-name", &format!("Batch{i}"), "--family-name", "Holder"],
            )
            .unwrap())["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = ok(w
            .station
            .as_operator("rita", &["request", "--person", &person, "--profile", &plain])
            .unwrap());
        assert_eq!(r["request"]["state"], "approved", "{r}");
    }
    let readers: Vec<e2e::lab::LabReader> = (0..4).map(|_| lab.acquire_reader()).collect();
    let ours: Vec<String> = readers.iter().map(|r| r.name.clone()).collect();

    let app = AppWindow::open("seed003", &w.station.data, 600).unwrap();
    app.sign_in("bea", PASSWORD).unwrap();
    app.click("[data-testid=nav-batch]").unwrap();
    app.click("[data-testid=batch-new]").unwrap();
    app.wait_text("[data-testid=batch-queue-row]", "Batch0 Holder").unwrap();
    app.click("[data-testid=batch-select-all]").unwrap();
    app.screenshot("batch-new").unwrap();
    app.click("[data-testid=batch-create]").unwrap();
    let board = app.wait_for("[data-testid=batch-board]").unwrap();
    let batch = app.block(board.attr("data-batch")).unwrap().expect("the board names its batch");
    app.wait_for("[data-testid=batch-run-reader]").unwrap();
    // Only this test's four readers take part (other tests use the others).
    let untick = "const ours = arguments[0]; \
                  for (const e of document.querySelectorAll('[data-testid=batch-run-reader]')) \
                  if (e.checked !== ours.includes(e.dataset.reader)) e.click();";
    app.block(app.client.execute(untick, vec![json!(ours)])).unwrap();
    app.wait_text("[data-testid=batch-run]", "on 4 readers").unwrap();

    // The operator's hands: a blank card in each reader, taken out when the
    // board says so, the next one in when it asks. The first card on one
    // reader is pulled mid-write: it leaves the reader at its first object
    // write (after the management key, PIN and 9A key are on it) and stays
    // out until the hands put it back, when the board says it was pulled.
    type Held = (std::sync::Arc<std::sync::Mutex<vcard::Card>>, vcard::vpcd::VpcdCard);
    let mut cards: Vec<Option<Held>> = readers.iter().map(|_| None).collect();
    let mut serial = 7_400_000 + (std::process::id() % 1000) * 100;
    let torn_reader = 0usize;
    let mut torn_card: Option<std::sync::Arc<std::sync::Mutex<vcard::Card>>> = None;
    let mut insert_blank = |k: usize, tear: bool| -> Held {
        serial += 1;
        let mut config = vcard::CardConfig::new(serial);
        let options = vcard::vpcd::VpcdOptions { reconnect: !tear, ..Default::default() };
        if tear {
            // A contact card's time, so the board shows it mid-write.
            config =
                config.with_latency(vcard::Latency::contact_card()).with_faults(vcard::Faults::tear_at(0xDB));
        }
        let card = std::sync::Arc::new(std::sync::Mutex::new(vcard::Card::factory_fresh(config)));
        let plugged = readers[k].insert_with(std::sync::Arc::clone(&card), options);
        readers[k].wait_card_present(WAIT);
        (card, plugged)
    };
    for (k, slot) in cards.iter_mut().enumerate() {
        let held = insert_blank(k, k == torn_reader);
        if k == torn_reader {
            torn_card = Some(std::sync::Arc::clone(&held.0));
        }
        *slot = Some(held);
    }
    let torn_card = torn_card.unwrap();
    let is_torn_card = |held: &Held| std::sync::Arc::ptr_eq(&held.0, &torn_card);
    // The torn card back in its reader (once).
    let put_back = |cards: &mut Vec<Option<Held>>| {
        let reader = &readers[torn_reader];
        if cards[torn_reader].as_ref().is_some_and(|h| is_torn_card(h) && !h.1.is_inserted()) {
            let (card, plugged) = cards[torn_reader].take().unwrap();
            drop(plugged);
            reader.wait_card_absent(WAIT);
            let plugged = reader.insert(std::sync::Arc::clone(&card));
            reader.wait_card_present(WAIT);
            cards[torn_reader] = Some((card, plugged));
            return true;
        }
        false
    };
    app.click("[data-testid=batch-run]").unwrap();
    let mut torn_seq = String::new();
    let mut put_back_done = false;
    let mut recovered: Option<std::sync::Arc<std::sync::Mutex<vcard::Card>>> = None;
    let mut screenshot_taken = false;
    let mut resumes = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        assert!(std::time::Instant::now() < deadline, "the batch did not finish: {:?}", board_panels(&app));
        let (done, pending, encoding, failed) = board_counts(&app);
        assert_eq!(failed, 0, "no card fails");
        // Done once every card is and the run has ended (its workers wait
        // for the last finished cards to be taken out).
        let running =
            app.attr("[data-testid=batch-board]", "data-running").unwrap().as_deref() == Some("true");
        if done as usize == CARDS && pending == 0 && encoding == 0 && !running {
            break;
        }
        // The other readers took the last pending cards meanwhile: the run
        // ended with the pulled card interrupted. It goes back in its
        // reader, and Resume finishes it (the journal knows where it stopped).
        if !running && encoding > 0 {
            assert!(resumes < 2, "resume did not finish the pulled card: {:?}", board_panels(&app));
            if torn_seq.is_empty() {
                torn_seq = texts_attr(&app, "[data-testid=batch-card-row][data-state=encoding]", "seq")
                    .pop()
                    .unwrap_or_default();
            }
            put_back_done |= put_back(&mut cards);
            app.screenshot("batch-resume").unwrap();
            app.wait_text("[data-testid=batch-run]", "Resume").unwrap();
            app.click("[data-testid=batch-run]").unwrap();
            app.wait_for("[data-testid=batch-board][data-running=true], [data-testid=batch-board][data-running=false] [data-testid=batch-finished]").unwrap();
            resumes += 1;
            continue;
        }
        let panels = board_panels(&app);
        for (k, reader) in readers.iter().enumerate() {
            let Some((status, seq, step)) = panels.get(&reader.name) else { continue };
            let holds_torn_card = cards[k].as_ref().is_some_and(is_torn_card);
            match status.as_str() {
                "encoding" if holds_torn_card && torn_seq.is_empty() && *step >= 1 => {
                    torn_seq = seq.clone();
                    if !screenshot_taken {
                        app.screenshot("batch-running").unwrap();
                        screenshot_taken = true;
                    }
                }
                "torn" if holds_torn_card && !put_back_done => {
                    if torn_seq.is_empty() {
                        torn_seq = seq.clone();
                    }
                    app.screenshot("batch-torn").unwrap();
                    put_back_done = put_back(&mut cards);
                }
                "remove" if cards[k].is_some() => {
                    let held = cards[k].take().unwrap();
                    if is_torn_card(&held) && held.0.lock().unwrap().object(0x5F_C102).is_some() {
                        recovered = Some(std::sync::Arc::clone(&held.0));
                    }
                    held.1.remove();
                    reader.wait_card_absent(WAIT);
                }
                "insert" if cards[k].is_none() => {
                    cards[k] = Some(insert_blank(k, false));
                }
                _ => {}
            }
        }
        app.wait_for("[data-testid=batch-counts]").unwrap();
    }
    app.screenshot("batch-done").unwrap();
    assert!(put_back_done, "the card pulled mid-write was put back");
    assert!(!torn_seq.is_empty(), "the board showed the pulled card");
    for (k, reader) in readers.iter().enumerate() {
        if let Some(held) = cards[k].take() {
            // The last card finished may still be in its reader.
            if is_torn_card(&held)
                && recovered.is_none()
                && held.0.lock().unwrap().object(0x5F_C102).is_some()
            {
                recovered = Some(std::sync::Arc::clone(&held.0));
            }
            held.1.remove();
            reader.wait_card_absent(WAIT);
        }
    }

    // The station's record agrees: every card done, the pulled one finished by a resumed job.
    let status = ok(w.station.as_operator("bea", &["batch", "status", &batch]).unwrap());
    let items = status["items"].as_array().unwrap();
    assert_eq!(items.len(), CARDS, "{status}");
    assert!(items.iter().all(|i| i["state"] == "done"), "{status}");

    // The recovered card: back in its reader, its PIN revealed once on the
    // board, and OpenSC signs with it.
    let card = recovered.expect("the pulled card was finished and taken out");
    let reader = &readers[torn_reader];
    let _plugged = reader.insert(card);
    reader.wait_card_present(WAIT);
    let row = format!("[data-testid=batch-card-row][data-seq='{torn_seq}']");
    app.wait_for(&format!("{row}[data-state=done]")).unwrap();
    app.click(&format!("{row} [data-testid=batch-pin-show]")).unwrap();
    let pin = app.wait_for("[data-testid=pin-value]").unwrap();
    let pin: String = app.block(pin.text()).unwrap().chars().filter(char::is_ascii_digit).collect();
    app.click("[data-testid=pin-close]").unwrap();
    let read = ok(w.station.as_operator("bea", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(read["kind"], "ours", "{read}");
    assert_eq!(read["device"]["state"], "active", "{read}");
    opensc_signs(&reader.name, &pin, "9a", "01");
}

/// The `data-NAME` of every element matching `css`.
fn texts_attr(app: &AppWindow, css: &str, name: &str) -> Vec<String> {
    let script =
        "return [...document.querySelectorAll(arguments[0])].map(e => e.dataset[arguments[1]] || '')";
    serde_json::from_value(app.block(app.client.execute(script, vec![json!(css), json!(name)])).unwrap())
        .unwrap_or_default()
}

/// The text of every element matching `css`.
fn texts(app: &AppWindow, css: &str) -> Vec<String> {
    let script = "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent.replace(/\\s+/g, ' ').trim())";
    serde_json::from_value(app.block(app.client.execute(script, vec![json!(css)])).unwrap())
        .unwrap_or_default()
}

/// The PIN in the open reveal panel, then the panel closed.
fn take_pin(app: &AppWindow) -> String {
    let pin = app.wait_for("[data-testid=pin-value]").unwrap();
    let pin: String = app.block(pin.text()).unwrap().chars().filter(char::is_ascii_digit).collect();
    app.click("[data-testid=pin-close]").unwrap();
    pin
}

#[test]
fn seed_000_update_refused_with_the_reason_then_requested_and_collected_through_the_window() {
    let _one = one_window();
    let lab = Lab::from_env();
    let w = world();
    // uma files and collects her update alone: collecting resets the PIN with
    // the card's escrowed PUK, which the registry gives an operator acting
    // alone only with Unblock PIN (issue 16).
    w.registry.role("Updaters", &["can_request", "can_collect"], &["unblock_pin"]).unwrap();
    w.registry.operator("uma", "Updater", &["Updaters"]).unwrap();
    // Grace's card, issued from an approved request with a one-key profile.
    let full = profile("Badge", true);
    let one_key = &full[..full.rfind("[[slots]]").unwrap()];
    let badge = w.registry.profile(one_key).unwrap();
    let requested =
        ok(w.station.as_operator("rita", &["request", "--person", &w.grace, "--profile", &badge]).unwrap());
    let request = requested["request"]["id"].as_str().unwrap().to_owned();
    let device = requested["device"]["id"].as_str().unwrap().to_owned();
    ok(w.station.as_operator("abe", &["approve", &request]).unwrap());
    let reader = lab.acquire_reader();
    let (_card, _plugged) = reader.insert_fresh(7_600_000 + std::process::id() % 1000);
    ok(w.station.as_operator("ivy", &["issue", "--request", &request, "--reader", &reader.name]).unwrap());
    // The administrator revises the profile: version 2 adds a signature key.
    let v2 = w
        .registry
        .revise_profile(&badge, |settings| {
            let mut slot = settings["slots"][0].clone();
            slot["slot"] = json!("digital_signature");
            settings["slots"].as_array_mut().unwrap().push(slot);
        })
        .unwrap();
    assert_eq!(v2, 2);

    let app = AppWindow::open("seed000", &w.station.data, 600).unwrap();
    let chip = format!("[data-testid=reader-chip][data-reader='{}']", reader.name);
    // rita may request cards but not collect: the same profile's update is
    // refused, and the device view says why (seed 000).
    app.sign_in("rita", PASSWORD).unwrap();
    app.wait_for(&format!("{chip}[data-status=ours]")).unwrap();
    app.click(&chip).unwrap();
    app.wait_for("[data-testid=card-work-request_update]").unwrap();
    let why = app.wait_text("[data-testid=card-work-why-request_update]", "Collect").unwrap();
    assert!(!why.contains('{') && !why.contains("NotPermitted"), "operator wording: {why}");
    assert!(
        app.attr("[data-testid=card-work-request_update]", "disabled").unwrap().is_some(),
        "offered disabled"
    );
    app.screenshot("update-refused").unwrap();
    app.click("[data-testid=status-signout]").unwrap();

    // uma requests "apply latest updates": approved at once (same profile).
    app.sign_in("uma", PASSWORD).unwrap();
    app.wait_for(&format!("{chip}[data-status=ours]")).unwrap();
    app.click(&chip).unwrap();
    app.click("[data-testid=card-work-request_update]").unwrap();
    app.wait_for("[data-testid=card-work-form]").unwrap();
    app.type_into("[data-testid=card-work-notes]", "new validity").unwrap();
    app.click("[data-testid=card-work-submit]").unwrap();
    app.wait_for("[data-testid=card-work-request-created][data-state=approved]").unwrap();
    app.screenshot("update-requested").unwrap();

    // Collect: the card is brought to version 2, a new PIN revealed once.
    app.wait_for("[data-testid=card-work-collect_updates]:not([disabled])").unwrap();
    app.click("[data-testid=card-work-collect_updates]").unwrap();
    app.wait_for("[data-testid=card-outcome]").unwrap();
    let steps = texts(&app, "[data-testid=card-job-step]");
    assert!(!steps.is_empty(), "the stepper named the card's steps");
    app.screenshot("update-collected").unwrap();
    let state = app.attr("[data-testid=card-outcome]", "data-state").unwrap();
    assert_eq!(state.as_deref(), Some("active"));
    let pin = if app.attr("[data-testid=card-outcome]", "data-reveal").unwrap().as_deref() == Some("open") {
        Some(take_pin(&app))
    } else {
        None
    };

    // The registry has the card at version 2 with nothing left to collect; the card signs.
    let read = ok(w.station.as_operator("ivy", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(read["device"]["id"], device.as_str(), "{read}");
    assert_eq!(read["device"]["profile"]["version"], 2, "{read}");
    assert!(read["pending_updates"].as_array().unwrap().is_empty(), "{read}");
    let pin = pin.expect("collecting sets a new PIN and reveals it once");
    opensc_signs(&reader.name, &pin, "9c", "02");
}

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

#[test]
fn seed_001_temporary_card_initialized_assigned_and_returned_through_the_window() {
    let _one = one_window();
    let lab = Lab::from_env();
    let w = world();
    w.registry.role("Temporary cards", &[], &["manage_temporary_cards"]).unwrap();
    w.registry.operator("tom", "Temp", &["Temporary cards"]).unwrap();
    let temporary = w.registry.profile(TEMP_PROFILE).unwrap();
    w.registry.use_case("temp_initialize", true).unwrap();
    let ordered = ok(w.station.as_operator("tom", &["temp", "order", "--profile", &temporary]).unwrap());
    let card = ordered["id"].as_str().unwrap().to_owned();
    ok(w.station.as_operator("tom", &["temp", "produced", &card, "--serial", "TMP-0042"]).unwrap());
    let reader = lab.acquire_reader();
    let (_vcard, _plugged) = reader.insert_fresh(7_700_000 + std::process::id() % 1000);

    let app = AppWindow::open("seed001", &w.station.data, 600).unwrap();
    app.sign_in("tom", PASSWORD).unwrap();
    app.click("[data-testid=nav-temporary]").unwrap();
    let row = format!("[data-testid=temp-row][data-id='{card}']");
    app.wait_text(&format!("{row}[data-state=produced]"), "TMP-0042").unwrap();
    app.screenshot("temporary-list").unwrap();
    app.click(&format!("{row} [data-testid=temp-initialize]")).unwrap();
    app.wait_for("[data-testid=card-outcome]").unwrap();
    assert_eq!(app.attr("[data-testid=card-outcome]", "data-state").unwrap().as_deref(), Some("unassigned"));
    app.screenshot("temporary-initialized").unwrap();
    let pin = take_pin(&app);
    assert_eq!(pin.len(), 6, "the profile's PIN length");

    // The card holds the temporary card's identity, and the PIN verifies.
    let read = ok(w.station.as_operator("tom", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(read["kind"], "temporary", "{read}");
    let verify = tools::yubico_piv_tool(&reader.name, &["-a", "verify-pin", "-P", &pin]).unwrap();
    assert!(verify.ok, "the revealed PIN is the card's: {}", verify.stderr);

    // Assigned to Grace through the window, then returned.
    app.click("[data-testid=card-job-finish]").unwrap();
    app.click("[data-testid=temp-filter-all]").unwrap();
    app.click(&format!("{row} [data-testid=temp-assign]")).unwrap();
    app.type_into("[data-testid=temp-assign-person-search]", "Grace").unwrap();
    app.click("[data-testid=temp-assign-person-option]").unwrap();
    app.click("[data-testid=temp-assign-submit]").unwrap();
    app.wait_text(&format!("{row}[data-state=assigned]"), "Grace Hopper").unwrap();
    app.screenshot("temporary-assigned").unwrap();
    let listed = ok(w.station.as_operator("tom", &["temp", "list", "--state", "assigned"]).unwrap());
    assert!(listed.to_string().contains(&card), "{listed}");
    app.click(&format!("{row} [data-testid=temp-return]")).unwrap();
    app.wait_for("[data-testid=temp-return-reason]").unwrap();
    let choose = "const s = document.querySelector('[data-testid=temp-return-reason]'); \
                  s.value = arguments[0]; s.dispatchEvent(new Event('change', { bubbles: true }));";
    app.block(app.client.execute(choose, vec![json!("no_longer_needed")])).unwrap();
    app.click("[data-testid=temp-return-submit]").unwrap();
    app.wait_for(&format!("{row}[data-state=unassigned]")).unwrap();
}

#[test]
fn a_card_pulled_during_issue_is_offered_for_resume_in_the_device_view_and_resuming_makes_a_working_card() {
    let _one = one_window();
    let lab = Lab::from_env();
    let w = world();
    let requested = ok(w
        .station
        .as_operator("rita", &["request", "--person", &w.grace, "--profile", &w.employee])
        .unwrap());
    let request = requested["request"]["id"].as_str().unwrap().to_owned();
    ok(w.station.as_operator("abe", &["approve", &request]).unwrap());
    let reader = lab.acquire_reader();
    // A contact card's timing, so the hand pulls it mid-write.
    let config = vcard::CardConfig::new(7_800_000 + std::process::id() % 1000)
        .with_latency(vcard::Latency::contact_card());
    let card = std::sync::Arc::new(std::sync::Mutex::new(vcard::Card::factory_fresh(config)));
    let plugged = reader.insert(std::sync::Arc::clone(&card));
    reader.wait_card_present(WAIT);

    let app = AppWindow::open("torn-issue", &w.station.data, 600).unwrap();
    app.sign_in("ivy", PASSWORD).unwrap();
    let chip = format!("[data-testid=reader-chip][data-reader='{}']", reader.name);
    app.wait_for(&format!("{chip}[data-status=blank]")).unwrap();
    app.click(&chip).unwrap();
    app.wait_text("[data-testid=request-row]", "Grace Hopper").unwrap();
    app.click("[data-testid=request-row] [data-testid=issue-start]").unwrap();
    app.click("[data-testid=issue-confirm]").unwrap();
    // Pulled once the card's keys are being written.
    app.wait_for("[data-testid=job-step]:nth-of-type(5)").unwrap();
    plugged.remove();
    reader.wait_card_absent(WAIT);
    let said =
        app.wait_text("[data-testid=issue-flow][data-phase=failed] [data-testid=issue-error]", "").unwrap();
    assert!(!said.contains('{') && !said.contains("Error {"), "operator wording: {said}");
    app.screenshot("pulled").unwrap();
    let open = ok(w.station.as_operator("ivy", &["jobs", "list"]).unwrap());
    assert!(open.to_string().contains("issue"), "the job stays open: {open}");

    // The operator leaves the flow; the card back in, its device view offers resume.
    app.click("[data-testid=nav-cards]").unwrap();
    let _back = reader.insert(std::sync::Arc::clone(&card));
    reader.wait_card_present(WAIT);
    app.click(&chip).unwrap();
    app.wait_for("[data-testid=device-open-job]").unwrap();
    app.screenshot("resume-offered").unwrap();
    app.click("[data-testid=job-resume]").unwrap();
    app.click("[data-testid=issue-confirm]").unwrap();
    app.wait_for("[data-testid=issued-done][data-resumed=true]").unwrap();
    let pin = take_pin(&app);

    // The registry has Grace's card active, no job open, and OpenSC signs with it.
    let read = ok(w.station.as_operator("ivy", &["read", "--reader", &reader.name]).unwrap());
    assert_eq!(read["kind"], "ours", "{read}");
    assert_eq!(read["device"]["state"], "active", "{read}");
    assert!(read["open_job"].is_null(), "{read}");
    opensc_signs(&reader.name, &pin, "9a", "01");
}

#[test]
fn the_registry_killed_mid_session_queues_the_work_and_the_sync_after_its_restart_delivers_it() {
    let _one = one_window();
    let World { registry, station, grace, _work, .. } = world();
    let app = AppWindow::open("offline", &station.data, 600).unwrap();
    app.sign_in("rita", PASSWORD).unwrap();
    app.wait_for("[data-testid=status-online][data-online=true]").unwrap();

    // The registry dies under the open session.
    let (data, listen) = (registry.data.clone(), registry.url.trim_start_matches("https://").to_owned());
    drop(registry);

    // rita requests a card for Grace all the same: kept in the queue, said so.
    app.click("[data-testid=nav-new-request]").unwrap();
    app.type_into("[data-testid=request-person-search]", "Grace").unwrap();
    app.click("[data-testid=request-person-option]").unwrap();
    app.type_into("[data-testid=request-notes]", "while the registry is away").unwrap();
    app.click("[data-testid=request-submit]").unwrap();
    let said = app.wait_text("[data-testid=request-queued]", "Grace Hopper").unwrap();
    assert!(said.contains("sent when the registry is back"), "{said}");
    assert!(
        texts(&app, "[data-testid=request-submit]").is_empty(),
        "the queued request is not offered twice"
    );
    app.wait_for("[data-testid=status-online][data-online=false]").unwrap();
    app.wait_text("[data-testid=status-queue]", "1 queued").unwrap();
    app.screenshot("queued").unwrap();

    // The registry is back on the same address: Sync now delivers the queue.
    let registry = TestRegistry::serve_again(&data, &listen).unwrap();
    app.click("[data-testid=status-queue]").unwrap();
    app.click("[data-testid=sync-retry]").unwrap();
    app.wait_for("[data-testid=status-online][data-online=true]").unwrap();
    app.wait_text("[data-testid=status-queue]", "0 queued").unwrap();
    app.screenshot("synced").unwrap();

    // Nothing lost: the registry holds the request, awaiting approval.
    let listed = ok(station.as_operator("abe", &["requests", "--state", "pending_approval"]).unwrap());
    assert!(listed.to_string().contains(&grace), "the queued request reached the registry: {listed}");
    drop(registry);
}

/// Clicks the first element matching `css` whose text contains `text`.
fn click_text(app: &AppWindow, css: &str, text: &str) {
    app.wait_text(css, text).unwrap();
    let script = "const [css, text] = arguments; \
                  const e = [...document.querySelectorAll(css)].find(e => e.textContent.includes(text)); \
                  e.click(); return null;";
    app.block(app.client.execute(script, vec![json!(css), json!(text)])).unwrap();
}

#[test]
fn an_administrator_revises_a_profile_in_the_window_and_a_crossing_edit_is_refused() {
    let _one = one_window();
    let w = world();
    let before = w.registry.latest_profile(&w.employee).unwrap();
    let app = AppWindow::open("admin", &w.station.data, 300).unwrap();
    app.sign_in("admin", PASSWORD).unwrap();
    app.wait_for("[data-testid=status-operator]").unwrap();
    app.click("[data-testid=nav-admin]").unwrap();
    click_text(&app, "[data-testid=admin-profile-row]", "Employee");
    app.wait_text("[data-testid=admin-profile-facts]", "Requests need approval").unwrap();

    app.click("[data-testid=admin-edit]").unwrap();
    app.type_into("[data-testid=admin-form-pin_retries]", "5").unwrap();
    app.click("[data-testid=admin-form-validate_issuance]").unwrap();
    app.click("[data-testid=admin-save]").unwrap();
    app.wait_text("[data-testid=admin-saved]", "version 2").unwrap();
    let versions = app.wait_text("[data-testid=admin-versions]", "5 tries").unwrap();
    assert!(versions.contains("Requests need approval → No approval"), "{versions}");
    app.screenshot("admin-saved").unwrap();

    // The registry holds version 2 with exactly those changes.
    let after = w.registry.latest_profile(&w.employee).unwrap();
    assert_eq!(after["version"], 2, "{after}");
    assert_eq!(after["settings"]["pin"]["retries"], 5);
    assert_eq!(after["settings"]["validate_issuance"], false);
    let mut expected = before["settings"].clone();
    expected["pin"]["retries"] = json!(5);
    expected["validate_issuance"] = json!(false);
    assert_eq!(after["settings"], expected, "nothing else changed");

    // Another administrator saves version 3 at the registry meanwhile: the
    // window's edit from version 2 is refused, and nothing of it is kept.
    w.registry.revise_profile(&w.employee, |s| s["card_validity_days"] = json!(700)).unwrap();
    app.click("[data-testid=admin-edit]").unwrap();
    app.type_into("[data-testid=admin-form-pin_retries]", "4").unwrap();
    app.click("[data-testid=admin-save]").unwrap();
    app.wait_for("[data-testid=admin-save-error][data-code=version-conflict]").unwrap();
    let shown = app.wait_text("[data-testid=admin-save-error]", "Someone else saved").unwrap();
    assert!(!shown.contains("version_conflict") && !shown.contains('{'), "operator wording: {shown}");
    app.screenshot("admin-conflict").unwrap();
    let latest = w.registry.latest_profile(&w.employee).unwrap();
    assert_eq!((latest["version"].as_u64(), &latest["settings"]["pin"]["retries"]), (Some(3), &json!(5)));
}

/// The registry's directory of roles, operators and use cases, as its administrator reads it.
fn access_directory(w: &World) -> Value {
    w.registry.get_json("admin", "/v1/admin/access").unwrap()
}

#[test]
fn an_administrator_grants_a_new_role_and_switches_a_use_case_off_in_the_window_and_cannot_lock_everyone_out()
{
    let _one = one_window();
    let w = world();
    let app = AppWindow::open("access", &w.station.data, 300).unwrap();
    app.sign_in("admin", PASSWORD).unwrap();
    app.wait_for("[data-testid=status-operator]").unwrap();
    app.click("[data-testid=nav-admin]").unwrap();
    app.click("[data-testid=admin-tab-access]").unwrap();
    app.wait_for("[data-testid=access-view] [data-testid=access-role-row][data-role-name=Issuers]").unwrap();

    // A new role: Unblock PIN everywhere, Can Request on Employee only.
    app.click("[data-testid=access-role-new]").unwrap();
    app.type_into("[data-testid=access-role-name]", "Unblockers").unwrap();
    app.click("[data-testid=access-global][data-key=unblock_pin]").unwrap();
    app.click("[data-testid=access-grant-scope][data-key=can_request][data-scope=only]").unwrap();
    app.click("[data-testid=access-grant-profile][data-key=can_request][data-profile-name=Employee]")
        .unwrap();
    app.click("[data-testid=access-role-save]").unwrap();
    app.wait_text("[data-testid=access-saved]", "Unblockers").unwrap();
    let row =
        app.wait_text("[data-testid=access-role-row][data-role-name=Unblockers]", "Unblock PIN").unwrap();
    assert!(row.contains("Can Request: Employee"), "grants in words, profiles by name: {row}");
    app.screenshot("admin-access-role").unwrap();

    // Given to rita, beside the role she has.
    app.click("[data-testid=access-operator-edit][data-username=rita]").unwrap();
    app.click("[data-testid=access-operator-role][data-role-name=Unblockers]").unwrap();
    app.click("[data-testid=access-operator-save]").unwrap();
    app.wait_text("[data-testid=access-saved]", "rita").unwrap();
    app.wait_text(
        "[data-testid=access-operator-row][data-username=rita] [data-testid=access-operator-roles]",
        "Unblockers",
    )
    .unwrap();
    app.screenshot("admin-access").unwrap();

    // The registry holds exactly that.
    let directory = access_directory(&w);
    let role =
        directory["roles"].as_array().unwrap().iter().find(|r| r["name"] == "Unblockers").unwrap().clone();
    assert_eq!(role["global"], json!(["unblock_pin"]), "{role}");
    assert_eq!(role["per_profile"], json!({ "can_request": { "kind": "only", "profiles": [w.employee] } }));
    let rita =
        directory["operators"].as_array().unwrap().iter().find(|o| o["username"] == "rita").unwrap().clone();
    assert_eq!(rita["roles"].as_array().unwrap().len(), 2, "{rita}");
    assert!(rita["roles"].as_array().unwrap().contains(&role["id"]), "{rita}");

    // The administrator cannot take the last Administer away: refused in
    // words, and the registry keeps it.
    app.click("[data-testid=access-operator-edit][data-username=admin]").unwrap();
    app.click("[data-testid=access-operator-role][data-role-name=Administrators]").unwrap();
    app.click("[data-testid=access-operator-save]").unwrap();
    app.wait_for("[data-testid=access-error][data-code=last-administrator]").unwrap();
    let shown = app.wait_text("[data-testid=access-error]", "Administer").unwrap();
    assert!(!shown.contains("last_administrator") && !shown.contains('{'), "operator wording: {shown}");
    app.screenshot("admin-access-refused").unwrap();
    app.click("[data-testid=access-operator-cancel]").unwrap();
    let admin = access_directory(&w)["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["username"] == "admin")
        .unwrap()["roles"]
        .clone();
    assert_eq!(admin.as_array().map(Vec::len), Some(1), "the administrator keeps their role: {admin}");

    // Use cases: sign-in cannot be switched off; audit can, and is at once.
    let locked = app.attr("[data-testid=access-use-case][data-key=sign_in]", "disabled").unwrap();
    assert!(locked.is_some(), "sign-in is always on");
    app.click("[data-testid=access-use-case][data-key=audit]").unwrap();
    app.click("[data-testid=access-use-cases-save]").unwrap();
    app.wait_text("[data-testid=access-saved]", "Use cases").unwrap();
    let on = access_directory(&w)["use_cases"].clone();
    assert!(
        !on.as_array().unwrap().contains(&json!("audit")) && on.as_array().unwrap().contains(&json!("issue")),
        "{on}"
    );
}

#[test]
fn at_sign_in_the_window_shows_the_operators_refused_actions_and_the_sync_view_whose_each_queued_action_is() {
    let _one = one_window();
    let World { registry, station, grace, employee, _work, .. } = world();
    let first =
        ok(station.as_operator("rita", &["request", "--person", &grace, "--profile", &employee]).unwrap());
    let r1 = first["request"]["id"].as_str().unwrap().to_owned();
    ok(station.as_operator("abe", &["signin"]).unwrap());

    // The registry away: abe approves R1 and rita requests another card,
    // both at this station, both queued.
    let (data, listen) = (registry.data.clone(), registry.url.trim_start_matches("https://").to_owned());
    drop(registry);
    assert_eq!(station.as_operator("abe", &["approve", &r1]).unwrap().code, Some(4));
    let queued =
        station.as_operator("rita", &["request", "--person", &grace, "--profile", &employee]).unwrap();
    assert_eq!(queued.code, Some(4), "{}", queued.stdout);

    // Back, with Request card switched off meanwhile: rita's queued request
    // will be refused when she signs in; abe's approval is not hers to send.
    let registry = TestRegistry::serve_again(&data, &listen).unwrap();
    registry.use_case("request", false).unwrap();
    let app = AppWindow::open("refused", &station.data, 300).unwrap();
    app.sign_in("rita", PASSWORD).unwrap();
    let notice = app.wait_text("[data-testid=refused-notice]", "Request card").unwrap();
    assert!(notice.contains("disabled"), "the registry's reason, in words: {notice}");
    app.screenshot("refused-at-sign-in").unwrap();

    app.click("[data-testid=refused-open-sync]").unwrap();
    let waiting = app.wait_text("[data-testid=sync-waiting-other]", "abe").unwrap();
    assert!(waiting.contains("Approver"), "by name: {waiting}");
    app.wait_for("[data-testid=sync-accepted] [data-testid=sync-accepted-row]").unwrap();
    app.screenshot("sync-by-operator").unwrap();
    app.click("[data-testid=refused-dismiss]").unwrap();
    assert!(texts(&app, "[data-testid=refused-notice]").is_empty(), "dismissed");

    // At the registry: R1 still waits for an approver (nothing went under
    // rita's name), and rita's refused request does not exist.
    let r1_now = registry.get_json("admin", "/v1/changes?limit=1000").unwrap();
    let states: Vec<&Value> = r1_now["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["record"]["type"] == "request")
        .map(|c| &c["record"]["record"])
        .collect();
    assert_eq!(states.len(), 1, "only R1 was ever recorded: {states:?}");
    assert_eq!(states[0]["state"], "pending_approval");
}

/// The kiosk's text on screen now.
fn kiosk_text(app: &AppWindow) -> String {
    app.block(app.client.execute("return document.querySelector('[data-testid=kiosk]').innerText", vec![]))
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// UC-WALKUP through the real window in kiosk mode: an account without the
/// walk-up permission is refused; the kiosk account signs in; a blank card
/// goes in; a wrong code says how many attempts are left; the right code
/// greets the cardholder; PINs that differ are explained; the card is
/// encoded with progress; the PIN is verified on it; done — the registry
/// has the enrollment completed with the card's serial and OpenSC signs
/// with the cardholder's PIN. The window cannot be closed without the exit
/// gesture.
#[test]
fn a_cardholder_enrolls_their_card_at_the_kiosk_window() {
    let _one = one_window();
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&work.path().join("registry")).unwrap();
    registry.walkup_accounts().unwrap();
    let profile = registry.profile(e2e::station::WALKUP_PROFILE).unwrap();
    let office = TestStation::enroll(&work.path().join("office"), &registry).unwrap();
    let station = TestStation::enroll(&work.path().join("kiosk"), &registry).unwrap();

    // Pat provisions Ada; her code arrives by email.
    let args =
        ["person", "add", "--given-name", "Ada", "--family-name", "Kiosk", "--email", "ada@example.org"];
    let person = ok(office.as_operator("admin", &args).unwrap())["id"].as_str().unwrap().to_owned();
    let task = ok(office
        .as_operator("pat", &["provision", "create", "--profile", &profile, "--person", &person])
        .unwrap());
    let number = task["number"].as_u64().unwrap();
    let code = registry.code_mailed_to("ada@example.org").unwrap();

    let app = AppWindow::open_kiosk("kiosk", &station.data).unwrap();
    app.screenshot("1-signin").unwrap();

    // An account without the walk-up permission cannot start the kiosk.
    app.type_into("[data-testid=kiosk-username]", "pat").unwrap();
    app.type_into("[data-testid=kiosk-password]", PASSWORD).unwrap();
    app.click("[data-testid=kiosk-signin-submit]").unwrap();
    app.wait_text("[data-testid=kiosk-message]", "This account cannot run the kiosk").unwrap();
    app.screenshot("1b-signin-refused").unwrap();

    app.type_into("[data-testid=kiosk-username]", "kiosk").unwrap();
    app.type_into("[data-testid=kiosk-password]", PASSWORD).unwrap();
    app.click("[data-testid=kiosk-signin-submit]").unwrap();
    app.wait_text("[data-testid=kiosk-attract]", "Insert your card").unwrap();
    app.screenshot("2-attract").unwrap();

    let reader = lab.acquire_reader();
    let (card, plugged) = reader.insert_fresh(7_700_000 + std::process::id() % 1000);
    reader.wait_card_present(WAIT);
    app.wait_for("[data-testid=kiosk-code-input]").unwrap();
    app.screenshot("3-code").unwrap();

    // A wrong code (the right tag, a wrong secret) counts and says what is left.
    let wrong = format!("{}-0000-0000-0000", &code[..4]);
    app.type_into("[data-testid=kiosk-code-input]", &wrong).unwrap();
    app.click("[data-testid=kiosk-code-submit]").unwrap();
    let said = app.wait_text("[data-testid=kiosk-message]", "That code is not right").unwrap();
    assert!(said.contains("attempts left"), "{said}");
    app.screenshot("3b-wrong-code").unwrap();

    // The right code, typed in lower case without hyphens.
    app.type_into("[data-testid=kiosk-code-input]", &code.replace('-', "").to_lowercase()).unwrap();
    app.click("[data-testid=kiosk-code-submit]").unwrap();
    app.wait_text("[data-testid=kiosk-hello]", "Hello, Ada Kiosk").unwrap();
    app.wait_text("[data-testid=kiosk-pin-rule]", "6 to 8 digits").unwrap();
    app.screenshot("4-pin").unwrap();

    app.type_into("[data-testid=kiosk-pin-1]", "246810").unwrap();
    app.type_into("[data-testid=kiosk-pin-2]", "246811").unwrap();
    app.click("[data-testid=kiosk-pin-submit]").unwrap();
    app.wait_text("[data-testid=kiosk-message]", "The two PINs are not the same").unwrap();
    app.screenshot("4b-pin-mismatch").unwrap();

    app.type_into("[data-testid=kiosk-pin-1]", "246810").unwrap();
    app.type_into("[data-testid=kiosk-pin-2]", "246810").unwrap();
    app.click("[data-testid=kiosk-pin-submit]").unwrap();
    app.wait_for("[data-testid=kiosk-encoding]").unwrap();
    // No wait for a step line here: the card may be done first, and a wait
    // that times out would outlast the kiosk's idle timeout.
    app.screenshot("5-encoding").unwrap();
    app.wait_for("[data-testid=kiosk-try-input]").unwrap();
    app.screenshot("6-try").unwrap();
    app.type_into("[data-testid=kiosk-try-input]", "246810").unwrap();
    app.click("[data-testid=kiosk-try-submit]").unwrap();
    app.wait_text("[data-testid=kiosk-done]", "Done. Remove your card.").unwrap();
    app.screenshot("7-done").unwrap();
    let page = app.block(app.client.source()).unwrap();
    assert!(!page.contains("246810") && !page.contains(&code), "neither PIN nor code stays in the window");

    // The registry: enrolled and authenticated once = completed, with the card's serial.
    let shown = ok(office.as_operator("pat", &["provision", "show", &number.to_string()]).unwrap());
    let row =
        shown["users"].as_array().unwrap().iter().find(|u| u["person"] == person.as_str()).unwrap().clone();
    assert_eq!(row["status"], "completed", "{row}");
    assert!(row["serial"].as_str().is_some_and(|s| !s.is_empty()), "{row}");
    assert_eq!(card.lock().unwrap().pin_tries_remaining(), 3, "the right PIN spent no try");
    opensc_signs(&reader.name, "246810", "9a", "01");

    let device = ok(office.as_operator("admin", &["read", "--reader", &reader.name]).unwrap())["device"]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The card out: back to the start, nothing of Ada's left.
    plugged.remove();
    reader.wait_card_absent(WAIT);
    app.wait_text("[data-testid=kiosk-attract]", "Insert your card").unwrap();
    assert!(!kiosk_text(&app).contains("Ada"), "{}", kiosk_text(&app));

    // UC-UPDATE: the office asks for Ada's card to be made anew; she brings it
    // back, and the kiosk greets her by her card: no code, her PIN proves it.
    registry.role("Updaters", &["can_request", "can_collect"], &[]).unwrap();
    registry.operator("uma", "Updater", &["Updaters"]).unwrap();
    let args = ["request-update", "--device", device.as_str(), "--reason", "reprovision"];
    assert_eq!(ok(office.as_operator("uma", &args).unwrap())["request"]["state"], "approved");
    let plugged = reader.insert(std::sync::Arc::clone(&card));
    reader.wait_card_present(WAIT);
    app.wait_text("[data-testid=kiosk-hello]", "Hello, Ada Kiosk").unwrap();
    app.wait_text("[data-testid=kiosk-update-what]", "set up again from the start").unwrap();
    app.type_into("[data-testid=kiosk-current-pin]", "111111").unwrap();
    app.click("[data-testid=kiosk-prove-submit]").unwrap();
    let said = app.wait_text("[data-testid=kiosk-message]", "That PIN is not right").unwrap();
    assert!(said.contains("2 tries left"), "{said}");
    app.screenshot("9-update-prove").unwrap();
    app.type_into("[data-testid=kiosk-current-pin]", "246810").unwrap();
    app.click("[data-testid=kiosk-prove-submit]").unwrap();
    app.wait_text("[data-testid=kiosk-pin]", "Choose your new PIN").unwrap();
    app.screenshot("10-update-pin").unwrap();
    app.type_into("[data-testid=kiosk-pin-1]", "975310").unwrap();
    app.type_into("[data-testid=kiosk-pin-2]", "975310").unwrap();
    app.click("[data-testid=kiosk-pin-submit]").unwrap();
    app.wait_for("[data-testid=kiosk-try-input]").unwrap();
    app.type_into("[data-testid=kiosk-try-input]", "975310").unwrap();
    app.click("[data-testid=kiosk-try-submit]").unwrap();
    app.wait_text("[data-testid=kiosk-done]", "Done. Remove your card.").unwrap();
    app.screenshot("11-update-done").unwrap();
    let page = app.block(app.client.source()).unwrap();
    assert!(!page.contains("975310") && !page.contains("246810"), "no PIN stays in the window");
    opensc_signs(&reader.name, "975310", "9a", "01");
    plugged.remove();
    reader.wait_card_absent(WAIT);
    app.wait_text("[data-testid=kiosk-attract]", "Insert your card").unwrap();

    // The exit gesture asks for the kiosk account's password (a wrong one is refused).
    app.block(app.client.execute(
        "window.dispatchEvent(new KeyboardEvent('keydown', {key: 'X', ctrlKey: true, altKey: true, shiftKey: true, bubbles: true}))",
        vec![],
    ))
    .unwrap();
    app.type_into("[data-testid=kiosk-exit-password]", "not the password").unwrap();
    app.click("[data-testid=kiosk-exit-submit]").unwrap();
    app.wait_text("[data-testid=kiosk-exit-error]", "not accepted").unwrap();
    app.screenshot("8-exit").unwrap();
}

/// UC-PROV (seed 004) through the window: an operator with Manage
/// provisioning tasks creates a task for a person (picked by search), sees it
/// in the list and its details (the user by name, active, no id), the
/// person view lists it, and an administrator reads the enrollment email in
/// Admin → Mailbox: the registry's local mailbox (its embedded default).
#[test]
fn seed_004_a_provisioning_task_made_in_the_window_and_its_email_read_in_the_mailbox() {
    let _one = one_window();
    let w = world();
    w.registry.role("Provisioners", &[], &["manage_provisioning_tasks"]).unwrap();
    w.registry.operator("pat", "Provisioner", &["Provisioners"]).unwrap();
    let app = AppWindow::open("seed004", &w.station.data, 600).unwrap();

    app.sign_in("pat", PASSWORD).unwrap();
    app.click("[data-testid=nav-provisioning]").unwrap();
    app.wait_for("[data-testid=prov-empty]").unwrap();
    app.click("[data-testid=prov-new]").unwrap();
    app.type_into("[data-testid=prov-person-search]", "Grace").unwrap();
    app.click("[data-testid=prov-person-option]").unwrap();
    app.wait_text("[data-testid=prov-chosen]", "Grace Hopper").unwrap();
    app.wait_text("[data-testid=prov-profile]", "Employee").unwrap();
    app.screenshot("provisioning-create").unwrap();
    app.click("[data-testid=prov-create-submit]").unwrap();

    // The details: every column, the user by name, active.
    app.wait_text("[data-testid=prov-task-title]", "Task 1").unwrap();
    app.wait_text("[data-testid=prov-user]", "Grace Hopper").unwrap();
    assert_eq!(app.attr("[data-testid=prov-user]", "data-status").unwrap().as_deref(), Some("active"));
    let user = texts(&app, "[data-testid=prov-user]").join(" ");
    assert!(user.contains("grace@example.test") && user.contains("Active"), "{user}");
    let facts = texts(&app, "[data-testid=prov-facts]").join(" ");
    assert!(
        facts.contains("Provisioner") && facts.contains("grace@example.test") && facts.contains("Employee"),
        "{facts}"
    );
    let page = texts(&app, "[data-testid=prov-task]").join(" ");
    assert!(!page.contains(&w.grace), "no id shown: {page}");
    app.screenshot("provisioning-details").unwrap();
    // The edit form, then back out of it (Esc) without changing anything.
    app.click("[data-testid=prov-edit]").unwrap();
    app.wait_for("[data-testid=prov-edit-form]").unwrap();
    app.screenshot("provisioning-edit").unwrap();
    app.click("[data-testid=prov-edit-cancel]").unwrap();

    // The list: the task with its columns.
    app.click("[data-testid=prov-back]").unwrap();
    app.wait_text("[data-testid=prov-row][data-number='1']", "grace@example.test").unwrap();
    let row = texts(&app, "[data-testid=prov-row]").join(" ");
    assert!(row.contains("Task 1") && row.contains("Provisioner") && row.contains("1 to enroll"), "{row}");
    app.screenshot("provisioning-list").unwrap();
    // The registry agrees.
    let listed = ok(w.station.as_operator("pat", &["provision", "list"]).unwrap());
    assert!(listed.to_string().contains("grace@example.test"), "{listed}");

    // The person view lists the outstanding task.
    app.click("[data-testid=nav-search]").unwrap();
    app.type_into("[data-testid=search-input]", "Grace").unwrap();
    app.click("[data-testid=search-row][data-kind=person]").unwrap();
    app.wait_text("[data-testid=person-task]", "Task 1").unwrap();
    app.screenshot("person-tasks").unwrap();
    app.click("[data-testid=status-signout]").unwrap();

    // An administrator reads the enrollment email in the mailbox.
    app.sign_in("admin", PASSWORD).unwrap();
    app.click("[data-testid=nav-admin]").unwrap();
    app.click("[data-testid=admin-tab-mailbox]").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while texts(&app, "[data-testid=mail-to]").iter().all(|t| t != "grace@example.test") {
        assert!(std::time::Instant::now() < deadline, "the enrollment email reached the mailbox");
        std::thread::sleep(std::time::Duration::from_millis(500));
        app.click("[data-testid=mail-refresh]").unwrap();
    }
    app.click("[data-testid=mail-row] button").unwrap();
    app.wait_text("[data-testid=mail-message-to]", "grace@example.test").unwrap();
    let body = app.wait_text("[data-testid=mail-body]", "enrollment code").unwrap();
    app.screenshot("mailbox").unwrap();
    // The message is the one in the registry's data directory.
    let files: Vec<_> = std::fs::read_dir(w.registry.data.join("mailbox"))
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().ends_with(".eml"))
        .collect();
    assert_eq!(files.len(), 1, "one message delivered");
    let stored = std::fs::read_to_string(files[0].path()).unwrap();
    let code = body
        .lines()
        .find_map(|l| l.split_once("enrollment code:").map(|(_, c)| c.trim().to_owned()))
        .expect("the code is in the text");
    assert!(!code.is_empty() && stored.contains(&code), "the code shown is the one mailed");
}
