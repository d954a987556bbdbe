//! Seed 004 (UC-PROV) through the real `cardstation` binary and a real
//! `cardstation-registry serve` over pinned TLS, whose mail dispatcher
//! delivers the enrollment emails to its embedded default, the local
//! mailbox in its data directory: a task created, listed and shown; the
//! email with its code; a resend to an alternate address (the stored one
//! kept); a user removed with notice; a person's outstanding tasks; and an
//! operator without the permission refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use e2e::station::{profile, TestRegistry, TestStation};
use e2e::tools;
use serde_json::Value;

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

/// The messages in the registry's mailbox once there are `count` of them
/// (the dispatcher polls every few seconds; bounded so a hang fails).
fn mailbox(registry: &TestRegistry, count: usize) -> Vec<mail::MailboxMessage> {
    let mailbox = mail::Mailbox::open(registry.data.join("mailbox")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let entries = mailbox.list().unwrap();
        if entries.len() >= count {
            return entries.iter().map(|e| mailbox.read(e.id).unwrap().unwrap()).collect();
        }
        assert!(Instant::now() < deadline, "{} of {count} messages reached the mailbox", entries.len());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn code_in(body: &str) -> String {
    let line = body.lines().find(|l| l.contains("enrollment code:")).expect("the mail names a code");
    line.rsplit(' ').next().unwrap().trim().to_owned()
}

#[test]
fn seed_004_provisioning_tasks_from_the_command_line_with_mail() {
    let work = tempfile::tempdir().unwrap();
    let registry = TestRegistry::start(&work.path().join("registry")).unwrap();
    registry.role("Provisioners", &[], &["manage_provisioning_tasks"]).unwrap();
    registry.role("Requesters", &["can_request"], &[]).unwrap();
    registry.operator("pat", "Provisioner", &["Provisioners"]).unwrap();
    registry.operator("rita", "Requester", &["Requesters"]).unwrap();
    let employee = registry.profile(&profile("Employee", false)).unwrap();
    let station = TestStation::enroll(&work.path().join("station"), &registry).unwrap();
    let person = |given: &str, email: &str| {
        let args = ["person", "add", "--given-name", given, "--family-name", "Walker", "--email", email];
        ok(station.as_operator("admin", &args).unwrap())["id"].as_str().unwrap().to_owned()
    };
    let grace = person("Grace", "grace@example.org");
    let alan = person("Alan", "alan@example.org");

    // The self-enrollment policy (Administer): the default period of a new task.
    let policy =
        ok(station.as_operator("admin", &["admin", "self-enrollment", "--period-days", "10"]).unwrap());
    assert_eq!(policy["self_enrollment"]["period_days"], 10, "{policy}");
    let (code, _) =
        error_of(&station.as_operator("pat", &["admin", "self-enrollment", "--max-attempts", "3"]).unwrap());
    assert_eq!(code, "not-permitted", "only an administrator sets it");

    // Without the permission: refused in words.
    let (code, message) = error_of(&station.as_operator("rita", &["provision", "list"]).unwrap());
    assert_eq!(code, "not-permitted", "{message}");
    assert!(message.contains("Manage provisioning tasks"), "{message}");

    // Create: numbered by the registry, every column, one email per user.
    let created = ok(station
        .as_operator(
            "pat",
            &["provision", "create", "--profile", &employee, "--person", &grace, "--person", &alan],
        )
        .unwrap());
    assert_eq!(created["number"], 1, "{created}");
    assert_eq!(created["operator"], "Provisioner", "the operator by name: {created}");
    assert_eq!(created["count"], 2, "{created}");
    assert_eq!(created["authentication_type"], "Employee", "{created}");
    let stop = time::OffsetDateTime::parse(
        created["stop_date"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let hours = (stop - time::OffsetDateTime::now_utc()).whole_hours();
    assert!((239..=240).contains(&hours), "ten days, the policy's period: {created}");
    let statuses: Vec<&str> =
        created["users"].as_array().unwrap().iter().map(|u| u["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["active", "active"], "{created}");
    let mails = mailbox(&registry, 2);
    let to_grace = mails.iter().find(|m| m.to == "grace@example.org").expect("grace's email");
    let first_code = code_in(to_grace.body.expose());
    assert!(to_grace.body.expose().contains(&created["stop_date"].as_str().unwrap()[..10]), "until when");
    assert!(!created.to_string().contains(&first_code), "the code is never shown to the operator");

    let listed = ok(station.as_operator("pat", &["provision", "list"]).unwrap());
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 1, "{listed}");
    let outstanding = ok(station.as_operator("pat", &["provision", "person", &grace]).unwrap());
    assert_eq!(outstanding["tasks"][0]["task"], 1, "{outstanding}");

    // Resend to an alternate address: a new code there, the stored address kept.
    let resent = ok(station
        .as_operator(
            "pat",
            &["provision", "resend", "1", "--person", &grace, "--to", "grace.home@example.net"],
        )
        .unwrap());
    let grace_row =
        resent["users"].as_array().unwrap().iter().find(|u| u["person"] == grace.as_str()).unwrap();
    assert_eq!(grace_row["email"], "grace@example.org", "{resent}");
    let mails = mailbox(&registry, 3);
    let alternate = mails.iter().find(|m| m.to == "grace.home@example.net").expect("the alternate address");
    assert_ne!(code_in(alternate.body.expose()), first_code, "a new code");

    // Edit: Alan removed with notice; irreversible.
    let edited =
        ok(station.as_operator("pat", &["provision", "edit", "1", "--remove", &alan, "--notify"]).unwrap());
    let alan_row = edited["users"].as_array().unwrap().iter().find(|u| u["person"] == alan.as_str()).unwrap();
    assert_eq!(alan_row["status"], "removed", "{edited}");
    let mails = mailbox(&registry, 4);
    assert_eq!(mails.iter().filter(|m| m.to == "alan@example.org").count(), 2, "the removal notice");
    let (code, message) =
        error_of(&station.as_operator("pat", &["provision", "resend", "1", "--person", &alan]).unwrap());
    assert_eq!(code, "state-not-allowed", "a removed user gets no new code: {message}");
    assert!(message.contains("removed"), "{message}");

    // Remove the task: it leaves the list, stays in the report.
    ok(station.as_operator("pat", &["provision", "remove", "1"]).unwrap());
    let listed = ok(station.as_operator("pat", &["provision", "list"]).unwrap());
    assert!(listed["tasks"].as_array().unwrap().is_empty(), "{listed}");
    let report = ok(station.as_operator("pat", &["provision", "list", "--all"]).unwrap());
    assert_eq!(report["tasks"][0]["removed"], true, "{report}");
}
