//! UC-PIN offline unblock and UC-SIGNIN offline, walked through the real
//! `cardstation` binary, a real `cardstation-registry serve` over pinned
//! TLS and the real pcscd with virtual cards:
//!
//! * a blocked PIN, the cardholder away (a tool with no enrollment): the
//!   card's challenge code → the helpdesk's `respond` (Unblock PIN, the
//!   identity check noted) → the response typed in: OpenSC signs with the
//!   PIN the cardholder chose; the registry's escrowed PUK is the card's real
//!   PUK (an online unblock works after it); a replayed response and a
//!   mistyped one are refused and change nothing; the audit has the note;
//! * the card pulled at every APDU of the offline unblock, before and after
//!   execution: running it again (a new challenge and answer) finishes it,
//!   and card and escrow agree (an online unblock works);
//! * offline sign-in: registry stopped → sign-in against the cached
//!   verifier, a card request queued, issuance refused as offline, a wrong
//!   password refused; registry back → the queued request reaches it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use e2e::lab::{Lab, LabReader, WAIT};
use e2e::station::{profile, TestRegistry, TestStation, PASSWORD};
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

struct Stack {
    registry: TestRegistry,
    station: TestStation,
    profile: String,
}

fn stack(work: &Path) -> Stack {
    let registry = TestRegistry::start(&work.join("registry")).unwrap();
    registry.role("Issuers", &["can_request", "can_collect"], &[]).unwrap();
    registry.role("Helpdesk", &[], &["unblock_pin", "view_audit"]).unwrap();
    registry.operator("ivy", "Issuer", &["Issuers"]).unwrap();
    registry.operator("hal", "Helpdesk", &["Helpdesk"]).unwrap();
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
        (device, issued["pin"].as_str().unwrap().to_owned())
    }

    /// The helpdesk's answer to `challenge`.
    fn respond(&self, device: &str, challenge: &str, note: &str) -> String {
        let r = ok(self
            .station
            .as_operator(
                "hal",
                &[
                    "unblock-offline",
                    "respond",
                    "--device",
                    device,
                    "--challenge",
                    challenge,
                    "--identity-check",
                    note,
                ],
            )
            .unwrap());
        r["response"].as_str().unwrap().to_owned()
    }

    fn online_unblock(&self, reader: &LabReader, note: &str) -> String {
        let r = ok(self
            .station
            .as_operator("hal", &["unblock", "--reader", &reader.name, "--identity-check", note])
            .unwrap());
        r["pin"].as_str().unwrap().to_owned()
    }
}

/// The cardholder's side, through `cardstation unblock-offline challenge`
/// in a data directory that is not enrolled (no registry at all): reads the
/// challenge code it shows, types what `answer` returns (each line a
/// response attempt), and returns the run and the challenge (if shown).
fn cardholder(
    holder: &Path,
    reader: &LabReader,
    new_pin: &str,
    answer: impl FnOnce(&str) -> Vec<String>,
) -> (tools::Run, Option<String>) {
    let mut child = Command::new(tools::cardstation_bin())
        .args([
            "--json",
            "--data",
            tools::path(holder),
            "unblock-offline",
            "challenge",
            "--reader",
            &reader.name,
        ])
        .env("CARDSTATION_NEW_PIN", new_pin)
        .env_remove("CARDSTATION_OPERATOR")
        .env_remove("CARDSTATION_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut challenge = None;
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
        if let Some(code) = line.strip_prefix("challenge code: ") {
            challenge = Some(code.trim().to_owned());
            break;
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    if let Some(code) = &challenge {
        for line in answer(code) {
            let _ = writeln!(stdin, "{line}");
        }
    }
    drop(stdin);
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    seen.push_str(&rest);
    let out = child.wait_with_output().unwrap();
    let run = tools::Run {
        command: "cardstation unblock-offline challenge".into(),
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: seen,
    };
    (run, challenge)
}

fn verify_pin(reader: &LabReader, pin: &str) -> tools::Run {
    tools::cardstation(
        &["--json", "card", "verify-pin", "--reader", &reader.name],
        &[("CARDSTATION_PIN", pin)],
    )
    .unwrap()
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

#[test]
fn offline_unblock_by_challenge_and_response() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let s = stack(work);
    let holder = work.join("cardholder");
    std::fs::create_dir_all(&holder).unwrap();
    let carla = s.person("Carla", "Away");
    let reader = lab.acquire_reader();
    let (card, plugged) = reader.insert_fresh(7_600_000 + std::process::id() % 1000);
    let (device, pin) = s.issue(&carla, &reader);
    for _ in 0..3 {
        assert!(!verify_pin(&reader, "00000000").ok);
    }
    assert_eq!(card.lock().unwrap().pin_tries_remaining(), 0);

    // The issuer may not answer: Unblock PIN is needed (nothing changes).
    let (run, challenge) = cardholder(&holder, &reader, "13572468", |challenge| {
        let (code, message) = refused(
            s.station
                .as_operator(
                    "ivy",
                    &[
                        "unblock-offline",
                        "respond",
                        "--device",
                        &device,
                        "--challenge",
                        challenge,
                        "--identity-check",
                        "x",
                    ],
                )
                .unwrap(),
        );
        assert_eq!(code, "not-permitted", "{message}");
        vec![]
    });
    assert!(challenge.is_some(), "{}", run.stderr);
    assert_eq!(refused(run).0, "cancelled");

    // The real thing: challenge → helpdesk → response → PIN chosen by the cardholder.
    let mut first_response = String::new();
    let (run, _) = cardholder(&holder, &reader, "13572468", |challenge| {
        assert!(challenge.split('-').all(|g| g.len() <= 4), "grouped: {challenge}");
        first_response = s.respond(&device, challenge, "video call, badge photo matched");
        vec![first_response.clone()]
    });
    let done = ok(run);
    assert_eq!(done["device"], device.as_str(), "{done}");
    assert_eq!(done["puk_tries_spent"], 0, "{done}");
    assert_eq!(card.lock().unwrap().pin_tries_remaining(), 3);
    assert_eq!(card.lock().unwrap().puk_tries_remaining(), 3);
    assert!(!verify_pin(&reader, &pin).ok, "the old PIN is gone");
    sign_with(&reader, "13572468", work, "offline");

    // The replayed response: refused by the card, nothing changed.
    let (run, _) = cardholder(&holder, &reader, "24680135", |_| vec![first_response.clone()]);
    let (code, message) = refused(run);
    assert_eq!(code, "wrong-response", "{message}");
    assert!(message.contains("nothing was changed"), "{message}");
    assert_eq!(card.lock().unwrap().puk_tries_remaining(), 3);
    assert!(verify_pin(&reader, "13572468").ok, "the PIN is unchanged");

    // A mistyped response: caught by its check characters, asked again, then refused.
    let typo = {
        let mut chars: Vec<char> = first_response.chars().collect();
        chars[1] = if chars[1] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    let (run, _) = cardholder(&holder, &reader, "24680135", |_| vec![typo.clone(); 3]);
    let (code, message) = refused(run);
    assert_eq!(code, "bad-code", "{message}");
    assert!(verify_pin(&reader, "13572468").ok, "the PIN is unchanged");
    // A challenge for another card is refused by the helpdesk's tool.
    let other = uuid_like();
    let (run, _) = cardholder(&holder, &reader, "24680135", |challenge| {
        let (code, _) = refused(
            s.station
                .as_operator(
                    "hal",
                    &[
                        "unblock-offline",
                        "respond",
                        "--device",
                        &other,
                        "--challenge",
                        challenge,
                        "--identity-check",
                        "x",
                    ],
                )
                .unwrap(),
        );
        assert_eq!(code, "challenge-mismatch");
        vec![]
    });
    assert!(!run.ok);

    // The registry's escrowed PUK is the card's: an online unblock works.
    let online = s.online_unblock(&reader, "desk visit, passport seen");
    assert!(verify_pin(&reader, &online).ok);
    assert_eq!(card.lock().unwrap().puk_tries_remaining(), 3);

    // The audit names the operator, the device and both identity checks.
    let audit = s.registry.get_json("hal", "/v1/audit?limit=1000").unwrap().to_string();
    assert!(audit.contains("escrow.offline_unblock"), "{audit}");
    assert!(audit.contains("video call, badge photo matched"), "{audit}");
    assert!(audit.contains("identity check: desk visit, passport seen"), "the online unblock's note too");
    assert!(!audit.contains("13572468"));
    drop(plugged);
}

fn uuid_like() -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let h = format!("{:032x}", n ^ 0x0123_4567_89ab_cdef_0000_1111_2222_3333);
    format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

#[test]
fn a_card_pulled_at_any_apdu_of_an_offline_unblock_is_finished_by_a_rerun() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let s = stack(work);
    let holder = work.join("cardholder");
    std::fs::create_dir_all(&holder).unwrap();
    let person = s.person("Tom", "Torn");
    let reader = lab.acquire_reader();
    let (card, mut plugged) = reader.insert_fresh(7_700_000 + std::process::id() % 1000);
    let (device, _) = s.issue(&person, &reader);
    let reinsert = |plugged: vcard::vpcd::VpcdCard, faults: vcard::Faults| {
        plugged.remove();
        reader.wait_card_absent(WAIT);
        card.lock().unwrap().set_faults(faults);
        let p = reader.insert(Arc::clone(&card));
        reader.wait_card_present(WAIT);
        p
    };
    let run = |pin: &str| {
        cardholder(&holder, &reader, pin, |challenge| vec![s.respond(&device, challenge, "known voice")]).0
    };
    plugged = reinsert(plugged, vcard::Faults::none());
    let before = card.lock().unwrap().stats().apdus;
    ok(run("11112222"));
    let total = card.lock().unwrap().stats().apdus - before;
    assert!(total > 4, "{total}");
    eprintln!("tearing each of the {total} APDUs of an offline unblock, before and after execution");
    for k in 0..total {
        for after in [false, true] {
            let case = format!("tear at APDU {k} ({})", if after { "after" } else { "before" });
            let mut faults = vcard::Faults::tear_after(k);
            if after {
                faults = faults.after_execution();
            }
            plugged = reinsert(plugged, faults);
            let start = card.lock().unwrap().stats().apdus;
            let pin = format!("{:08}", 30_000_000 + k * 2 + u64::from(after));
            let torn = run(&pin);
            if torn.ok {
                let used = card.lock().unwrap().stats().apdus - start;
                assert!(used <= k, "{case}: {used} APDUs went through a torn card: {}", torn.stdout);
                // The tear is still armed for a later APDU: disarm it so that
                // checking the PIN is not torn instead.
                card.lock().unwrap().set_faults(vcard::Faults::none());
                assert!(verify_pin(&reader, &pin).ok, "{case}");
                continue;
            }
            assert!(!torn.stderr.contains("panicked"), "{case}: {}", torn.stderr);
            let code = torn.json()["error"]["code"].as_str().unwrap_or_default().to_owned();
            assert!(
                matches!(code.as_str(), "card-removed" | "no-card" | "reader-gone" | "card-reset"),
                "{case}: a pulled card is reported as such, not {code:?}: {} {}",
                torn.stdout,
                torn.stderr
            );
            reader.wait_card_absent(WAIT);
            reader.wait_card_present(WAIT);
            let rerun = ok(run(&pin));
            assert!(rerun["puk_tries_spent"].as_u64().unwrap() <= 1, "{case}: {rerun}");
            assert!(verify_pin(&reader, &pin).ok, "{case}: the chosen PIN works");
            assert_eq!(card.lock().unwrap().pin_tries_remaining(), 3, "{case}");
            assert_eq!(card.lock().unwrap().puk_tries_remaining(), 3, "{case}");
        }
    }
    // Card and escrow agree: the online unblock with the escrowed PUK works.
    let online = s.online_unblock(&reader, "after tearing");
    assert!(verify_pin(&reader, &online).ok);
    drop(plugged);
}

#[test]
fn offline_sign_in_queues_and_the_next_online_sync_delivers() {
    let work = tempfile::tempdir().unwrap();
    let work = work.path();
    let s = stack(work);
    let person = s.person("Otto", "Offline");
    // An online sign-in caches the verifier (0600, no password in it).
    let online = ok(s.station.as_operator("ivy", &["signin"]).unwrap());
    assert_eq!(online["offline"], false);
    let cache = s.station.data.join(station_verifier_file());
    let text = std::fs::read_to_string(&cache).unwrap();
    assert!(!text.contains(PASSWORD) && text.contains("$argon2id$"));
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let changes = |s: &Stack| s.registry.get_json("ivy", "/v1/changes?limit=1000").unwrap().to_string();
    let mentions_before = changes(&s).matches(&person).count();

    // The registry goes away.
    let Stack { registry, station, profile } = s;
    let data = registry.data.clone();
    let listen = registry.url.trim_start_matches("https://").to_owned();
    drop(registry);

    let signed = ok(station.as_operator("ivy", &["signin"]).unwrap());
    assert_eq!(signed["offline"], true, "{signed}");
    let queued =
        station.as_operator("ivy", &["request", "--person", &person, "--profile", &profile]).unwrap();
    assert_eq!(queued.code, Some(4), "a queued action has its own exit status");
    let (code, message) = refused(queued);
    assert_eq!(code, "queued", "{message}");
    assert_eq!(message, "queued, will be sent when the registry is reachable", "said once, plainly");
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let (code, message) = refused(
        station.as_operator("ivy", &["issue", "--device", &uuid_like(), "--reader", &reader.name]).unwrap(),
    );
    assert_eq!(code, "offline", "{message}");
    assert!(message.contains("signed in offline"), "{message}");
    let found = ok(station.as_operator("ivy", &["search", "Otto"]).unwrap());
    assert!(found.to_string().contains(&person), "local search works offline: {found}");
    // A wrong password offline: refused and counted.
    let wrong = tools::cardstation(
        &["--json", "--data", tools::path(&station.data), "signin"],
        &[("CARDSTATION_OPERATOR", "ivy"), ("CARDSTATION_PASSWORD", "not the password")],
    )
    .unwrap();
    let (code, message) = refused(wrong);
    assert_eq!(code, "sign-in", "{message}");
    assert!(message.contains("offline"), "{message}");
    // Someone who never signed in here cannot sign in offline.
    let (code, _) = refused(station.as_operator("hal", &["signin"]).unwrap());
    assert_eq!(code, "offline");

    // The registry is back on the same address: the queued request reaches it.
    let registry = TestRegistry::serve_again(&data, &listen).unwrap();
    let back = ok(station.as_operator("ivy", &["signin"]).unwrap());
    assert_eq!(back["offline"], false, "{back}");
    let s = Stack { registry, station, profile };
    let after = changes(&s).matches(&person).count();
    assert!(after > mentions_before, "the queued request is at the registry ({mentions_before} → {after})");
    let requests = ok(s.station.as_operator("ivy", &["requests"]).unwrap());
    assert!(requests.to_string().contains(&person), "{requests}");

    // Expired and locked verifiers (registry away again).
    let listen = s.registry.url.trim_start_matches("https://").to_owned();
    let Stack { registry, station, .. } = s;
    drop(registry);
    let mut cache_json: Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    cache_json["operators"]["ivy"]["expires_at"] = Value::String("2000-01-01T00:00:00Z".into());
    std::fs::write(&cache, cache_json.to_string()).unwrap();
    let (code, _) = refused(station.as_operator("ivy", &["signin"]).unwrap());
    assert_eq!(code, "offline-expired");
    let _ = listen;
}

fn station_verifier_file() -> &'static str {
    "offline-signin.json"
}

/// The registry's latest version of every request, from its change feed.
fn registry_requests(registry: &TestRegistry) -> std::collections::BTreeMap<String, Value> {
    let mut out = std::collections::BTreeMap::new();
    let mut since = String::new();
    loop {
        let query =
            if since.is_empty() { "limit=1000".to_owned() } else { format!("since={since}&limit=1000") };
        let page = registry.get_json("admin", &format!("/v1/changes?{query}")).unwrap();
        for change in page["changes"].as_array().unwrap() {
            if change["record"]["type"] == "request" {
                let r = change["record"]["record"].clone();
                out.insert(r["id"].as_str().unwrap().to_owned(), r);
            }
        }
        since = page["next_cursor"].as_str().unwrap_or_default().to_owned();
        if page["more"] != true {
            return out;
        }
    }
}

/// The registry's audit events of `action` that succeeded, as (actor, object id).
fn audited(registry: &TestRegistry, action: &str) -> Vec<(String, String)> {
    let page = registry.get_json("admin", "/v1/audit?limit=1000").unwrap();
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action && e["outcome"]["outcome"] == "success")
        .map(|e| (e["actor"].as_str().unwrap_or_default().to_owned(), e["object"]["id"].to_string()))
        .collect()
}

/// Waits (on the registry's own state, with a deadline) until `ready` holds.
fn until_registry(
    registry: &TestRegistry,
    what: &str,
    ready: impl Fn(&std::collections::BTreeMap<String, Value>) -> bool,
) {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if ready(&registry_requests(registry)) {
            return;
        }
    }
    panic!("the registry never showed {what}");
}

/// Two operators act offline on one station behind a faulty network
/// (refused connections, answers delayed and cut after the registry applied
/// them, `kill -9` during sync): each action reaches the registry once,
/// under the operator who made it; each refusal reaches its own operator,
/// once; and the replica ends equal to the registry.
#[test]
fn two_operators_offline_on_one_station_each_action_stays_theirs_and_nothing_is_duplicated() {
    use e2e::proxy::{Fault, FaultProxy};
    let work = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&work.path().join("registry")).unwrap();
    registry.role("Requesters", &["can_request"], &[]).unwrap();
    registry.role("Approvers", &["can_request", "can_approve"], &[]).unwrap();
    registry.operator("rita", "Requester", &["Requesters"]).unwrap();
    registry.operator("abe", "Approver", &["Approvers"]).unwrap();
    registry.use_case("request", true).unwrap();
    let employee = registry.profile(&profile("Employee", true)).unwrap();
    let proxy = FaultProxy::start(registry.url.trim_start_matches("https://")).unwrap();
    let station = TestStation::enroll_at(&work.path().join("station"), &registry, &proxy.url).unwrap();
    let person = |given: &str| {
        ok(station
            .as_operator("admin", &["person", "add", "--given-name", given, "--family-name", "Doe"])
            .unwrap())["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let people: Vec<String> =
        ["Grace", "Ada", "Alan", "Barbara", "Edsger", "Frances", "Ken"].iter().map(|g| person(g)).collect();
    let request = |who: &str, p: &str| {
        station.as_operator(who, &["request", "--person", p, "--profile", &employee]).unwrap()
    };
    let rita = ok(station.as_operator("rita", &["signin"]).unwrap());
    let abe = ok(station.as_operator("abe", &["signin"]).unwrap());
    let (rita_id, abe_id) =
        (rita["operator"].as_str().unwrap().to_owned(), abe["operator"].as_str().unwrap().to_owned());
    let r1 = ok(request("rita", &people[0]))["request"]["id"].as_str().unwrap().to_owned();
    let r2 = ok(request("rita", &people[1]))["request"]["id"].as_str().unwrap().to_owned();

    // The registry unreachable: abe approves R1, rita requests a card for
    // Alan; both queued. rita's retry is not queued twice.
    proxy.set(Fault::Refuse);
    let approved = station.as_operator("abe", &["approve", &r1]).unwrap();
    assert_eq!((approved.code, refused(approved).0.as_str()), (Some(4), "queued"));
    let asked = request("rita", &people[2]);
    assert_eq!((asked.code, refused(asked).0.as_str()), (Some(4), "queued"));
    let again = request("rita", &people[2]);
    let (code, message) = refused(again);
    assert!(code == "queued" && message.contains("not queued twice"), "{code}: {message}");

    // Back: rita's sync sends rita's request only; abe's approval waits for abe.
    proxy.set(Fault::Pass);
    let synced = ok(station.as_operator("rita", &["sync"]).unwrap());
    let sent: Vec<&str> =
        synced["answers"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(sent, ["request_card"], "{synced}");
    let waiting = synced["waiting"].as_array().unwrap();
    assert!(
        waiting.len() == 1
            && waiting[0]["yours"] == false
            && waiting[0]["operator"].as_str().unwrap().contains("abe"),
        "{synced}"
    );
    let at_registry = registry_requests(&registry);
    assert_eq!(at_registry[&r1]["state"], "pending_approval", "abe's approval was not sent under rita");
    let alan: Vec<&Value> = at_registry.values().filter(|r| r["person"] == people[2].as_str()).collect();
    assert_eq!(alan.len(), 1, "one request for Alan: {alan:?}");
    assert_eq!(alan[0]["requester"], rita["person"], "made by rita");

    // abe's sync: the registry applies the approval, its answer is cut on the
    // way back; the next sync replays it and gets the first answer.
    proxy.set(Fault::SlowAnswers(Duration::from_secs(2)));
    let child = station.spawn_as("abe", &["sync"]).unwrap();
    until_registry(&registry, "R1 approved", |r| r[&r1]["state"] == "approved");
    proxy.cut_all();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the answer never arrived: {}", String::from_utf8_lossy(&out.stdout));
    proxy.set(Fault::Pass);
    let synced = ok(station.as_operator("abe", &["sync"]).unwrap());
    assert!(
        synced.to_string().contains("approve_request"),
        "the approval is sent again and answered: {synced}"
    );
    let approvals = audited(&registry, "op.approve_request");
    assert_eq!(approvals, [(abe_id.clone(), format!("\"{r1}\""))], "approved once, by abe");
    assert_eq!(registry_requests(&registry)[&r1]["approver"], abe["person"]);

    // A refusal: abe approves R2 offline while R2 is cancelled at the
    // registry. It reaches abe, once, and not rita.
    proxy.set(Fault::Refuse);
    assert_eq!(station.as_operator("abe", &["approve", &r2]).unwrap().code, Some(4));
    let cancel = serde_json::json!({ "operations": [{
        "op_id": uuid_like(), "actor": null, "workstation": null, "created_at": "2026-01-01T00:00:00Z",
        "op": { "kind": "cancel_request", "request": r2, "notes": "withdrawn" } }] });
    let answer = registry.post_json("admin", "/v1/operations", &cancel).unwrap();
    assert!(answer.to_string().contains("accepted"), "{answer}");
    proxy.set(Fault::Pass);
    assert_eq!(ok(station.as_operator("rita", &["signin"]).unwrap())["refused"], serde_json::json!([]));
    let abe_back = ok(station.as_operator("abe", &["signin"]).unwrap());
    let told = abe_back["refused"].as_array().unwrap();
    assert_eq!(told.len(), 1, "{abe_back}");
    assert!(told[0]["reason"].as_str().unwrap().contains("cancel"), "with the registry's reason: {abe_back}");
    assert_eq!(
        ok(station.as_operator("abe", &["signin"]).unwrap())["refused"],
        serde_json::json!([]),
        "once"
    );

    // A request cut on its way: held by the network, then every connection
    // is cut; the next sync sends it, and it is applied once.
    proxy.set(Fault::Refuse);
    assert_eq!(
        station
            .as_operator("abe", &["request", "--person", &people[2], "--profile", &employee])
            .unwrap()
            .code,
        Some(4)
    );
    proxy.set(Fault::SlowRequests(Duration::from_secs(2)));
    let child = station.spawn_as("abe", &["sync"]).unwrap();
    let before = registry_requests(&registry).len();
    proxy.cut_all();
    let out = child.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "the request never arrived whole: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    proxy.set(Fault::Pass);
    ok(station.as_operator("abe", &["sync"]).unwrap());
    let by_abe: Vec<Value> = registry_requests(&registry)
        .into_values()
        .filter(|r| r["person"] == people[2].as_str() && r["requester"] == abe["person"])
        .collect();
    assert_eq!(
        by_abe.len(),
        1,
        "abe's request for Alan, once ({before} requests before the cut): {by_abe:?}"
    );

    // kill -9 mid-sync with four queued requests, answers slow: whatever the
    // registry applied before the kill is not applied again.
    proxy.set(Fault::Refuse);
    for p in &people[3..7] {
        assert_eq!(request("rita", p).code, Some(4));
    }
    proxy.set(Fault::SlowAnswers(Duration::from_secs(2)));
    let mut child = station.spawn_as("rita", &["sync"]).unwrap();
    until_registry(&registry, "rita's queued requests", |r| {
        r.values().any(|r| r["person"] == people[3].as_str())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    proxy.cut_all();
    proxy.set(Fault::Pass);
    ok(station.as_operator("rita", &["sync"]).unwrap());
    let at_registry = registry_requests(&registry);
    for p in &people[3..7] {
        let mine: Vec<&Value> = at_registry.values().filter(|r| r["person"] == p.as_str()).collect();
        assert_eq!(mine.len(), 1, "one request for {p}: {mine:?}");
        assert_eq!(mine[0]["requester"], rita["person"]);
    }
    let requested = audited(&registry, "op.request_card");
    assert_eq!(requested.iter().filter(|(actor, _)| *actor == abe_id).count(), 1, "abe's one: {requested:?}");
    assert_eq!(requested.len(), 8, "nothing else: {requested:?}");
    assert_eq!(requested.iter().filter(|(actor, _)| *actor == rita_id).count(), 7, "{requested:?}");

    // The replica ends equal to the registry.
    let replica = ok(station.as_operator("admin", &["requests"]).unwrap());
    let mut here: Vec<(String, String)> = replica["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["request"]["id"].as_str().unwrap().to_owned(),
                r["request"]["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    here.sort();
    let there: Vec<(String, String)> = registry_requests(&registry)
        .into_iter()
        .map(|(id, r)| (id, r["state"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(here, there, "replica = registry");
}
