//! The CLI's text output (issue 14 item 8) as a new operator meets it,
//! through the real `cardstation` binary without `--json`, a real registry
//! over pinned TLS (behind a proxy that can refuse connections) and a torn
//! virtual card: people by name, times to the minute in UTC, lists in
//! columns, a queued action said once and not as an error, and a pulled
//! card pointing at `jobs resume` with its job id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::lab::{Lab, WAIT};
use e2e::proxy::{Fault, FaultProxy};
use e2e::station::{profile, TestRegistry, TestStation, PASSWORD};
use e2e::tools;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// `cardstation --data DIR ARGS` as `operator`: the text people read.
fn text(station: &TestStation, operator: &str, args: &[&str]) -> tools::Run {
    let mut all = vec!["--data", station.data.to_str().unwrap()];
    all.extend_from_slice(args);
    tools::cardstation(&all, &[("CARDSTATION_OPERATOR", operator), ("CARDSTATION_PASSWORD", PASSWORD)])
        .unwrap()
}

fn ok(run: tools::Run) -> String {
    assert!(run.ok, "`{}` failed:\n{}\n{}", run.command, run.stdout, run.stderr);
    run.stdout
}

fn json_ok(run: tools::Run) -> Value {
    assert!(run.ok, "`{}` failed:\n{}\n{}", run.command, run.stdout, run.stderr);
    run.json()
}

/// No Rust `Debug` spelling, nanoseconds or `+00:00:00` offsets in text for people.
fn reads_as_words(what: &str, out: &str) {
    for bad in ["+00:00:00", "Some(", "PivAuthentication", "PendingApproval", "\"state\""] {
        assert!(!out.contains(bad), "{what}: {bad:?} is not for people:\n{out}");
    }
    let nanoseconds = out.split_whitespace().any(|w| {
        w.split_once('.')
            .is_some_and(|(a, b)| a.contains(':') && b.len() >= 6 && b.bytes().all(|c| c.is_ascii_digit()))
    });
    assert!(!nanoseconds, "{what}: times to the minute or second, never nanoseconds:\n{out}");
}

#[test]
fn the_text_output_names_people_says_queued_once_and_points_a_torn_issue_at_jobs_resume() {
    let lab = Lab::from_env();
    let work = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&work.path().join("registry")).unwrap();
    registry.role("Requesters", &["can_request"], &[]).unwrap();
    registry.role("Approvers", &["can_request", "can_approve"], &[]).unwrap();
    registry.role("Issuers", &["can_collect"], &[]).unwrap();
    registry.operator("rita", "Requester", &["Requesters"]).unwrap();
    registry.operator("abe", "Approver", &["Approvers"]).unwrap();
    registry.operator("ivy", "Issuer", &["Issuers"]).unwrap();
    registry.use_case("request", true).unwrap();
    let employee = registry.profile(&profile("Employee", true)).unwrap();
    let visitor = registry.profile(&profile("Visitor", false)).unwrap();
    let proxy = FaultProxy::start(registry.url.trim_start_matches("https://")).unwrap();
    let station = TestStation::enroll_at(&work.path().join("station"), &registry, &proxy.url).unwrap();

    // Sign-in names the operator, not their id; the session's end to the minute.
    let who = json_ok(station.as_operator("rita", &["signin"]).unwrap());
    let signin = ok(text(&station, "rita", &["signin"]));
    assert!(signin.contains("(rita)"), "named by their sign-in name:\n{signin}");
    assert!(!signin.contains(who["operator"].as_str().unwrap()), "not by id:\n{signin}");
    assert!(signin.contains(" UTC\n"), "the session's end in UTC:\n{signin}");
    reads_as_words("signin", &signin);

    let added =
        ok(text(&station, "admin", &["person", "add", "--given-name", "Ada", "--family-name", "Lovelace"]));
    assert!(added.contains("Ada Lovelace") && added.contains("next: `cardstation request"), "{added}");
    let grace = json_ok(
        station
            .as_operator("admin", &["person", "add", "--given-name", "Grace", "--family-name", "Hopper"])
            .unwrap(),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A request: for whom, the profile, its state in words, the next command.
    let requested = ok(text(&station, "rita", &["request", "--person", &grace, "--profile", &employee]));
    assert!(requested.contains("for Grace Hopper, profile Employee: pending approval"), "{requested}");
    assert!(requested.contains("next: an approver runs `cardstation approve "), "{requested}");
    reads_as_words("request", &requested);
    let listed = ok(text(&station, "abe", &["requests", "--state", "pending_approval"]));
    let header = listed.lines().next().unwrap_or_default();
    assert!(header.starts_with("REQUEST") && header.contains("STATE"), "a table with a header:\n{listed}");
    assert!(listed.contains("Grace Hopper"), "{listed}");
    reads_as_words("requests", &listed);

    // Search in text mode is a table of names, not JSON.
    let found = ok(text(&station, "rita", &["search", "Hopper"]));
    assert!(!found.trim_start().starts_with('{'), "not raw JSON:\n{found}");
    assert!(found.lines().any(|l| l.starts_with("person") && l.contains("Grace Hopper")), "{found}");

    // The registry unreachable: the approval is queued, said once, not as an error; exit 4 as before.
    let request = json_ok(station.as_operator("abe", &["requests", "--state", "pending_approval"]).unwrap())
        ["requests"][0]["request"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    proxy.set(Fault::Refuse);
    let queued = text(&station, "abe", &["approve", &request]);
    assert_eq!(queued.code, Some(4), "{}", queued.stderr);
    assert!(!queued.stderr.contains("error:"), "an action kept in the queue is no error:\n{}", queued.stderr);
    assert!(queued.stderr.contains("queued"), "{}", queued.stderr);
    let said = |s: &str| queued.stderr.matches(s).count();
    assert!(said("unreachable") <= 1 && said("queued") == 1, "said once:\n{}", queued.stderr);
    assert!(queued.stderr.contains("`cardstation sync`"), "what sends it: {}", queued.stderr);
    proxy.set(Fault::Pass);
    let synced = ok(text(&station, "abe", &["sync"]));
    reads_as_words("sync", &synced);

    // A card pulled mid-issue: the error names the job left open and `jobs resume`.
    let visitor_request = json_ok(
        station.as_operator("rita", &["request", "--person", &grace, "--profile", &visitor]).unwrap(),
    );
    let (visitor_request, device) = (
        visitor_request["request"]["id"].as_str().unwrap().to_owned(),
        visitor_request["device"]["id"].as_str().unwrap().to_owned(),
    );
    let reader = lab.acquire_reader();
    let faults = vcard::Faults::tear_after(40);
    let card = Arc::new(Mutex::new(vcard::Card::factory_fresh(
        vcard::CardConfig::new(7_700_001).with_faults(faults),
    )));
    let _plugged = reader.insert(Arc::clone(&card));
    reader.wait_card_present(WAIT);
    let torn = text(&station, "ivy", &["issue", "--request", &visitor_request, "--reader", &reader.name]);
    assert!(!torn.ok, "the card was pulled: {}", torn.stdout);
    let jobs = json_ok(station.as_operator("ivy", &["jobs"]).unwrap());
    let job = jobs["jobs"].as_array().unwrap().iter().find(|j| j["device"] == device.as_str()).cloned();
    match &job {
        Some(job) => {
            let id = job["id"].as_str().unwrap();
            assert!(
                torn.stderr.contains(&format!("`cardstation jobs resume {id}`")),
                "the torn issue names its job and the command that finishes it:\n{}",
                torn.stderr
            );
            let listed = ok(text(&station, "ivy", &["jobs", "list"]));
            assert!(listed.starts_with("JOB"), "a table with a header:\n{listed}");
            let row = listed.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{listed}"));
            assert!(row.contains("Grace Hopper") && row.contains(" UTC"), "the card's holder by name: {row}");
            assert!(listed.contains("cardstation jobs resume"), "{listed}");
            reads_as_words("jobs list", &listed);
        }
        None => assert!(torn.stderr.contains("no card job was left open"), "{}", torn.stderr),
    }
    reader.wait_card_absent(WAIT);
    reader.wait_card_present(WAIT);
    let finished = if job.is_some() {
        ok(text(&station, "ivy", &["jobs", "resume", "--reader", &reader.name]))
    } else {
        ok(text(&station, "ivy", &["issue", "--request", &visitor_request, "--reader", &reader.name]))
    };
    assert!(finished.contains("for Grace Hopper"), "{finished}");
    assert!(finished.contains("PIV Authentication (9A) certificate"), "slots by name: {finished}");
    reads_as_words("issue", &finished);

    // The audit trail: aligned columns, times to the second in UTC.
    let audit = text(&station, "admin", &["audit"]);
    if audit.ok {
        assert!(audit.stdout.starts_with("SEQ"), "a table with a header:\n{}", audit.stdout);
        assert!(audit.stdout.contains(" UTC "), "{}", audit.stdout);
        // (The NOTES column is what the registry recorded, kept as recorded.)
        assert!(!audit.stdout.contains("(PivAuthentication"), "slots by name:\n{}", audit.stdout);
        assert!(!audit.stdout.contains("+00:00:00"), "{}", audit.stdout);
    }
}
