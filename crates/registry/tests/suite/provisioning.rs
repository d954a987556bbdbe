//! Provisioning tasks and walk-up enrollment (UC-PROV, UC-WALKUP; seed 004),
//! one test per paragraph of the seed, on every storage.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use domain::{EnrollmentId, GlobalPermission, PersonId, Role, RoleId, TaskId};
use proto::{Answer, OperationKind};
use registry::{admin, storage::MailRecord, Clock};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{password, Factory, Fixture};

/// Adds the provisioning manager and the kiosk accounts and signs them in.
async fn with_provisioning(factory: Factory) -> Fixture {
    let mut f = Fixture::new(factory).await;
    let now = OffsetDateTime::now_utc();
    let storage = f.registry.storage();
    for (name, permission) in
        [("provisioner", GlobalPermission::ManageProvisioningTasks), ("kiosk", GlobalPermission::Walkup)]
    {
        let role = Role::new(RoleId::new(Uuid::now_v7()), name).with_global(permission);
        admin::add_role(storage, &role, now).unwrap();
        let new = admin::NewOperator {
            username: name.into(),
            given_name: "Op".into(),
            family_name: name.into(),
            email: Some(format!("{name}@example.org")),
            roles: vec![name.to_owned()],
        };
        let (_, person) = admin::add_operator(storage, &new, &password(name), now).unwrap();
        f.people.insert(name, person);
    }
    for name in ["provisioner", "kiosk"] {
        sign_in(&mut f, name).await;
    }
    f
}

async fn sign_in(f: &mut Fixture, name: &'static str) {
    let (status, body) = f
        .call(Method::POST, "/v1/sessions", None, Some(json!({"username": name, "password": password(name)})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{name} signs in: {body}");
    f.tokens.insert(name, body["token"].as_str().unwrap().to_owned());
}

/// A person with an address, created by the administrator.
async fn person(f: &Fixture, given: &str, email: &str) -> PersonId {
    let id = PersonId::new(Uuid::now_v7());
    let answer = f
        .op(
            "admin",
            OperationKind::CreatePerson(proto::CreatePerson {
                id,
                given_name: given.into(),
                family_name: "User".into(),
                email: Some(email.into()),
                employee_id: None,
            }),
        )
        .await;
    assert!(answer.is_accepted(), "{answer:?}");
    id
}

struct Task {
    id: TaskId,
    enrollments: Vec<EnrollmentId>,
}

async fn create(
    f: &Fixture,
    role: &str,
    people: &[PersonId],
    stop: Option<OffsetDateTime>,
) -> (Task, Answer) {
    let id = TaskId::new(Uuid::now_v7());
    let invitees: Vec<_> = people
        .iter()
        .map(|p| proto::ProvisioningInvitee { enrollment: EnrollmentId::new(Uuid::now_v7()), person: *p })
        .collect();
    let enrollments = invitees.iter().map(|i| i.enrollment).collect();
    let answer = f
        .op(
            role,
            OperationKind::CreateProvisioningTask(proto::CreateProvisioningTask {
                task: id,
                profile: f.profile,
                invitees,
                stop_date: stop,
            }),
        )
        .await;
    (Task { id, enrollments }, answer)
}

/// Every message queued so far, oldest first.
fn outbox(f: &Fixture) -> Vec<MailRecord> {
    let far = OffsetDateTime::now_utc() + Duration::days(3650);
    registry::storage::read(f.registry.storage(), |tx| tx.pending_mail(1000, far)).unwrap()
}

fn body(f: &Fixture, mail: &MailRecord) -> String {
    String::from_utf8(f.registry.open_mail_body(mail).unwrap().to_vec()).unwrap()
}

/// The code in an enrollment email.
fn code_in(text: &str) -> String {
    let line = text.lines().find(|l| l.contains("enrollment code:")).expect("the mail names a code");
    line.rsplit(' ').next().unwrap().to_owned()
}

/// The newest enrollment email to `to` and its code.
fn code_for(f: &Fixture, to: &str) -> String {
    let mail = outbox(f).into_iter().rev().find(|m| m.recipient == to).expect("a mail to the address");
    code_in(&body(f, &mail))
}

async fn get(f: &Fixture, role: &str, uri: &str) -> (StatusCode, Value) {
    f.call(Method::GET, uri, Some(f.token(role)), None).await
}

async fn check(f: &Fixture, code: &str) -> (StatusCode, Value) {
    f.call(Method::POST, "/v1/walkup/code", Some(f.token("kiosk")), Some(json!({ "code": code }))).await
}

fn user(task: &Value, enrollment: EnrollmentId) -> &Value {
    task["users"].as_array().unwrap().iter().find(|u| u["enrollment"] == enrollment.to_string()).unwrap()
}

/// Seed 004 "View all provisioning tasks" and "Task … Serial Number": a
/// task is numbered by the server and shows every column; each user gets an
/// enrollment email whose code is readable only after decryption and
/// appears in no answer, record, feed or audit event.
pub async fn provisioning_create_list_and_details(factory: Factory) {
    let f = with_provisioning(factory).await;
    let ann = person(&f, "Ann", "ann@example.org").await;
    let bob = person(&f, "Bob", "bob@example.org").await;
    let stop = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() + Duration::days(10);
    let (first, answer) = create(&f, "provisioner", &[ann, bob], Some(stop)).await;
    assert!(answer.is_accepted(), "{answer:?}");
    let (second, answer) = create(&f, "provisioner", &[ann], None).await;
    assert!(answer.is_accepted(), "the policy's default period applies: {answer:?}");

    let (status, list) = get(&f, "provisioner", "/v1/provisioning/tasks").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let tasks = list["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    let t = &tasks[0];
    assert_eq!(t["number"], 1, "the server numbers tasks");
    assert_eq!(tasks[1]["number"], 2);
    assert_eq!(t["id"], first.id.to_string());
    assert_eq!(t["operator"], "Op provisioner", "the operator by name");
    assert_eq!(t["emailed_to"], "bob@example.org", "the last address emailed");
    assert!(t["start_date"].is_string());
    assert_eq!(
        OffsetDateTime::parse(
            t["stop_date"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .unwrap(),
        stop
    );
    assert_eq!(t["count"], 2);
    assert_eq!(t["authentication_type"], "Employee");
    assert_eq!(user(t, first.enrollments[0])["status"], "active");
    assert!(user(t, first.enrollments[0])["serial"].is_null());
    let default_stop = OffsetDateTime::parse(
        tasks[1]["stop_date"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let period = default_stop - OffsetDateTime::now_utc();
    assert!(period > Duration::days(13) && period <= Duration::days(14), "default period 14 days: {period}");

    let (status, by_number) = get(&f, "provisioner", "/v1/provisioning/tasks/1").await;
    assert_eq!((status, &by_number), (StatusCode::OK, t), "details by number");
    let (status, by_id) = get(&f, "provisioner", &format!("/v1/provisioning/tasks/{}", second.id)).await;
    assert_eq!((status, by_id["number"].clone()), (StatusCode::OK, json!(2)), "details by id");
    let (status, _) = get(&f, "provisioner", "/v1/provisioning/tasks/99").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The outbox: one sealed enrollment email per user, in the same transaction.
    let mails = outbox(&f);
    assert_eq!(
        mails.iter().map(|m| m.recipient.as_str()).collect::<Vec<_>>(),
        ["ann@example.org", "bob@example.org", "ann@example.org"]
    );
    let text = body(&f, &mails[0]);
    assert_eq!(mails[0].subject, "Set up your smart card at a Cardstation kiosk");
    assert!(text.contains("Cardstation kiosk") && text.contains("PIN"), "{text}");
    assert!(text.contains(&stop.date().to_string()), "the stop date is in the body: {text}");
    assert!(text.contains("provisioner@example.org"), "whom to contact: {text}");
    let code = code_in(&text);
    assert_eq!(code.len(), 19, "four groups of four: {code}");
    assert_ne!(code, code_in(&body(&f, &mails[2])), "a code per enrollment");
    let dump = f.dump();
    assert!(!dump.contains(&code) && !dump.contains(&code.replace('-', "")), "no code in plaintext on disk");
    assert!(!dump.contains("Choose your PIN"), "the mail body is sealed");
    assert!(!format!("{answer:?}").contains(&code), "no code in the answer");
    let (_, feed) = get(&f, "admin", "/v1/changes").await;
    assert!(!feed.to_string().contains(&code));

    // Refusals: no user, an unknown person, a past stop date.
    let (_, empty) = create(&f, "provisioner", &[], None).await;
    assert_eq!(empty.rejection_code(), Some("invalid_task"));
    let (_, unknown) = create(&f, "provisioner", &[PersonId::new(Uuid::now_v7())], None).await;
    assert_eq!(unknown.rejection_code(), Some("not_found"));
    let (_, past) =
        create(&f, "provisioner", &[ann], Some(OffsetDateTime::now_utc() - Duration::days(1))).await;
    assert_eq!(past.rejection_code(), Some("date_not_in_future"));
}

/// Seed 004 "Status": locked after the policy's wrong attempts; completed
/// once the card is enrolled and used to authenticate; the code is used up
/// only when the card is complete. A completed task leaves the list and
/// stays in the report.
pub async fn provisioning_codes_lock_and_complete(factory: Factory) {
    let f = with_provisioning(factory).await;
    let carla = f.cardholder;
    let dan = person(&f, "Dan", "dan@example.org").await;
    let (task, answer) = create(&f, "provisioner", &[carla, dan], None).await;
    assert!(answer.is_accepted(), "{answer:?}");
    let carla_code = code_for(&f, "carla@example.org");
    let dan_code = code_for(&f, "dan@example.org");

    // The kiosk checks the right code: whom it names, never the code.
    let (status, invitation) = check(&f, &carla_code.to_lowercase()).await;
    assert_eq!(status, StatusCode::OK, "{invitation}");
    assert_eq!(invitation["person"], carla.to_string());
    assert_eq!(invitation["enrollment"], task.enrollments[0].to_string());
    assert_eq!(invitation["profile"], f.profile.to_string());
    assert_eq!(invitation["kiosk_idle_timeout_secs"], 60);
    assert!(!invitation.to_string().contains(&carla_code));

    // Wrong codes count against Dan's enrollment (same tag, wrong secret): locked at 5.
    let tag = &dan_code[..4];
    for left in (1..5).rev() {
        let (status, problem) = check(&f, &format!("{tag}-0000-0000-0000")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem["code"], "wrong_enrollment_code");
        assert!(problem["message"].as_str().unwrap().contains(&format!("{left} attempts left")), "{problem}");
    }
    let (_, problem) = check(&f, &format!("{tag}-0000-0000-0000")).await;
    assert_eq!(problem["code"], "state_not_allowed", "the fifth wrong code locks: {problem}");
    let (_, problem) = check(&f, &dan_code).await;
    assert_eq!(problem["code"], "wrong_enrollment_code", "a locked enrollment's code is gone: {problem}");
    let (_, details) = get(&f, "provisioner", &format!("/v1/provisioning/tasks/{}", task.id)).await;
    assert_eq!(user(&details, task.enrollments[1])["status"], "locked");
    assert_eq!(user(&details, task.enrollments[1])["failed_attempts"], 5);
    let audit = registry::storage::read(f.registry.storage(), |tx| tx.audit_from(0, 1000)).unwrap();
    let audit_text = serde_json::to_string(&audit).unwrap();
    assert!(audit_text.contains("walkup.check_enrollment_code"));
    assert!(!audit_text.contains(&carla_code) && !audit_text.contains(&dan_code), "no code in the audit");

    // A card not yet complete does not use up the code (pulled mid-encode: resume).
    let (request, device) = f.approved_card().await;
    let enroll = |code: &str| {
        OperationKind::RecordWalkupEnrollment(proto::RecordWalkupEnrollment {
            task: task.id,
            enrollment: task.enrollments[0],
            code: proto::EnrollmentCode::new(code),
            device,
        })
    };
    let early = f.op("kiosk", enroll(&carla_code)).await;
    assert_eq!(early.rejection_code(), Some("card_not_complete"), "{early:?}");
    let (status, _) = check(&f, &carla_code).await;
    assert_eq!(status, StatusCode::OK, "the code still works for the reinserted card");
    let issued = f.op("issuer", super::issuance(device, Some(request))).await;
    assert!(issued.is_accepted(), "{issued:?}");
    let wrong = f.op("kiosk", enroll(&dan_code)).await;
    assert_eq!(wrong.rejection_code(), Some("wrong_enrollment_code"), "another user's code");
    let auth = OperationKind::RecordWalkupAuthentication(proto::RecordWalkupAuthentication {
        task: task.id,
        enrollment: task.enrollments[0],
        device,
    });
    assert_eq!(f.op("kiosk", auth.clone()).await.rejection_code(), Some("not_enrolled_yet"));
    let enrolled = f.op("kiosk", enroll(&carla_code)).await;
    assert!(enrolled.is_accepted(), "{enrolled:?}");
    let (status, problem) = check(&f, &carla_code).await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("wrong_enrollment_code"))
    );
    let (_, details) = get(&f, "provisioner", &format!("/v1/provisioning/tasks/{}", task.id)).await;
    assert_eq!(user(&details, task.enrollments[0])["serial"], "SN-1", "the enrolled card's serial");
    assert_eq!(
        user(&details, task.enrollments[0])["status"],
        "active",
        "not completed before authentication"
    );
    let done = f.op("kiosk", auth).await;
    assert!(done.is_accepted(), "{done:?}");
    let (_, details) = get(&f, "provisioner", &format!("/v1/provisioning/tasks/{}", task.id)).await;
    assert_eq!(user(&details, task.enrollments[0])["status"], "completed");

    // Dan was locked: the task stays listed until he is removed; then every
    // remaining user completed: the task leaves the list, stays in the report.
    let (_, list) = get(&f, "provisioner", "/v1/provisioning/tasks").await;
    assert_eq!(list["tasks"].as_array().unwrap().len(), 1);
    let edit = OperationKind::EditProvisioningTask(proto::EditProvisioningTask {
        task: task.id,
        remove: vec![task.enrollments[1]],
        notify_removed: false,
        stop_date: None,
    });
    assert!(f.op("provisioner", edit).await.is_accepted());
    let (_, list) = get(&f, "provisioner", "/v1/provisioning/tasks").await;
    assert_eq!(list["tasks"], json!([]), "a completed task is not listed");
    let (_, report) = get(&f, "provisioner", "/v1/provisioning/report").await;
    assert_eq!(report["tasks"][0]["completed"], true, "kept for reporting: {report}");
    let (status, report) = get(&f, "auditor", "/v1/provisioning/report").await;
    assert_eq!(
        (status, report["tasks"].as_array().unwrap().len()),
        (StatusCode::OK, 1),
        "auditors read reports"
    );
}

/// Seed 004 "Edit a provisioning task" (remove with and without email,
/// irreversible, codes stop at once; new stop date both ways), "Remove"
/// (unfinished users can no longer enroll), "View provisioning tasks for a
/// user" and "Resend" (only active; alternate address used once and not
/// kept; the stop date moves per the policy).
pub async fn provisioning_edit_remove_and_resend(factory: Factory) {
    let f = with_provisioning(factory).await;
    let ann = person(&f, "Ann", "ann@example.org").await;
    let bob = person(&f, "Bob", "bob@example.org").await;
    let cid = person(&f, "Cid", "cid@example.org").await;
    let (task, answer) = create(&f, "provisioner", &[ann, bob, cid], None).await;
    assert!(answer.is_accepted(), "{answer:?}");
    let ann_code = code_for(&f, "ann@example.org");
    let bob_code = code_for(&f, "bob@example.org");
    let queued = outbox(&f).len();

    // Person view: the outstanding task with the seed's columns.
    let (status, view) = get(&f, "requester", &format!("/v1/people/{ann}/provisioning")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let row = &view["tasks"][0];
    assert_eq!(row["task"], 1);
    assert_eq!(row["requester"], "Op provisioner", "the requester by name");
    assert_eq!(row["provisioned_to"], "ann@example.org");
    assert!(row["start_date"].is_string() && row["stop_date"].is_string());
    assert_eq!(row["status"], "active");
    assert_eq!(row["authentication_type"], "Employee");
    let (status, _) = get(&f, "kiosk", &format!("/v1/people/{ann}/provisioning")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a kiosk reads no person");

    let edit = |remove: Vec<EnrollmentId>, notify: bool, stop: Option<OffsetDateTime>| {
        OperationKind::EditProvisioningTask(proto::EditProvisioningTask {
            task: task.id,
            remove,
            notify_removed: notify,
            stop_date: stop,
        })
    };
    // Remove Ann with a notice, Bob without: irreversible, codes stop at once.
    assert!(f.op("provisioner", edit(vec![task.enrollments[0]], true, None)).await.is_accepted());
    let mails = outbox(&f);
    assert_eq!(mails.len(), queued + 1, "one removal notice");
    let notice = mails.last().unwrap();
    assert_eq!(notice.recipient, "ann@example.org");
    assert_eq!(notice.subject, "Your smart card enrollment was cancelled");
    assert!(body(&f, notice).contains("no longer"));
    assert!(f.op("provisioner", edit(vec![task.enrollments[1]], false, None)).await.is_accepted());
    assert_eq!(outbox(&f).len(), queued + 1, "no notice without the email option");
    let (_, problem) = check(&f, &ann_code).await;
    assert_eq!(problem["code"], "wrong_enrollment_code", "a removed user's code stops at once");
    let (_, problem) = check(&f, &bob_code).await;
    assert_eq!(problem["code"], "wrong_enrollment_code");
    let again = f.op("provisioner", edit(vec![task.enrollments[0]], false, None)).await;
    assert_eq!(again.rejection_code(), Some("state_not_allowed"), "removal cannot be reversed or repeated");
    let (_, details) = get(&f, "provisioner", "/v1/provisioning/tasks/1").await;
    assert_eq!(user(&details, task.enrollments[0])["status"], "removed");
    let (_, view) = get(&f, "requester", &format!("/v1/people/{ann}/provisioning")).await;
    assert_eq!(view["tasks"], json!([]), "no outstanding task: the table is not shown");

    // New stop date: shorten, then extend; never in the past.
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    for stop in [now + Duration::days(2), now + Duration::days(40)] {
        assert!(f.op("provisioner", edit(vec![], false, Some(stop))).await.is_accepted());
        let (_, details) = get(&f, "provisioner", "/v1/provisioning/tasks/1").await;
        assert_eq!(
            details["stop_date"],
            json!(stop.format(&time::format_description::well_known::Rfc3339).unwrap())
        );
        assert_eq!(user(&details, task.enrollments[2])["stop_date"], details["stop_date"]);
    }
    let past = f.op("provisioner", edit(vec![], false, Some(now - Duration::hours(1)))).await;
    assert_eq!(past.rejection_code(), Some("date_not_in_future"));

    // Resend: only active users; an alternate address once, not kept; stop date per policy.
    let resend = |enrollment, alternate: Option<&str>| {
        OperationKind::ResendEnrollment(proto::ResendEnrollment {
            task: task.id,
            enrollment,
            alternate_email: alternate.map(str::to_owned),
        })
    };
    let removed = f.op("provisioner", resend(task.enrollments[0], None)).await;
    assert_eq!(removed.rejection_code(), Some("state_not_allowed"), "only active users: {removed:?}");
    let cid_code = code_for(&f, "cid@example.org");
    let sent = f.op("provisioner", resend(task.enrollments[2], Some("cid.private@example.net"))).await;
    assert!(sent.is_accepted(), "{sent:?}");
    let mail = outbox(&f).pop().unwrap();
    assert_eq!(mail.recipient, "cid.private@example.net", "the alternate address, for this message");
    let new_code = code_in(&body(&f, &mail));
    assert_ne!(new_code, cid_code);
    let (_, problem) = check(&f, &cid_code).await;
    assert_eq!(problem["code"], "wrong_enrollment_code", "the earlier code stops working");
    let (status, _) = check(&f, &new_code).await;
    assert_eq!(status, StatusCode::OK);
    let (_, details) = get(&f, "provisioner", "/v1/provisioning/tasks/1").await;
    let cid_user = user(&details, task.enrollments[2]);
    assert_eq!(cid_user["email"], "cid@example.org", "the stored address is unchanged");
    assert_ne!(details["emailed_to"], "cid.private@example.net", "the alternate address is not kept");
    let dump = f.dump();
    let (before_outbox, outbox_and_after) = dump.split_once("## mail_outbox").unwrap();
    assert!(!before_outbox.contains("cid.private@example.net"), "kept nowhere but the outbox row");
    assert_eq!(outbox_and_after.matches("cid.private@example.net").count(), 1, "one message to it");
    let stop = OffsetDateTime::parse(
        cid_user["stop_date"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let moved = stop - OffsetDateTime::now_utc();
    assert!(moved > Duration::days(13) && moved <= Duration::days(14), "moved per the policy: {moved}");
    assert!(f.op("provisioner", resend(task.enrollments[2], None)).await.is_accepted());
    let (_, details) = get(&f, "provisioner", "/v1/provisioning/tasks/1").await;
    assert_eq!(details["emailed_to"], "cid@example.org");

    // Remove the task: the unfinished user can no longer enroll.
    let cid_code = code_for(&f, "cid@example.org");
    let remove = OperationKind::RemoveProvisioningTask(proto::RemoveProvisioningTask {
        task: task.id,
        notify_removed: true,
    });
    assert!(f.op("provisioner", remove.clone()).await.is_accepted());
    let (status, problem) = check(&f, &cid_code).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(outbox(&f).pop().unwrap().subject, "Your smart card enrollment was cancelled");
    assert_eq!(f.op("provisioner", remove).await.rejection_code(), Some("task_removed"));
    let (_, list) = get(&f, "provisioner", "/v1/provisioning/tasks").await;
    assert_eq!(list["tasks"], json!([]), "a removed task leaves the list");
    let (_, report) = get(&f, "provisioner", "/v1/provisioning/report").await;
    assert_eq!(report["tasks"][0]["removed"], true);
}

/// Seed 004 "Expired—User did not enroll token before the stop date",
/// with an injected clock.
pub async fn provisioning_expiry_by_clock(factory: Factory) {
    let mut f = with_provisioning(factory).await;
    let offset = Arc::new(AtomicI64::new(0));
    let moved = offset.clone();
    f.registry = f.registry.clone().with_clock(Clock::from_fn(move || {
        OffsetDateTime::now_utc() + Duration::seconds(moved.load(Ordering::SeqCst))
    }));
    f.app = registry::app(f.registry.clone());
    let (task, answer) =
        create(&f, "provisioner", &[f.cardholder], Some(OffsetDateTime::now_utc() + Duration::days(3))).await;
    assert!(answer.is_accepted(), "{answer:?}");
    let code = code_for(&f, "carla@example.org");
    offset.store(Duration::days(4).whole_seconds(), Ordering::SeqCst);
    for name in ["provisioner", "kiosk"] {
        sign_in(&mut f, name).await;
    }
    let (_, details) = get(&f, "provisioner", &format!("/v1/provisioning/tasks/{}", task.id)).await;
    assert_eq!(user(&details, task.enrollments[0])["status"], "expired", "shown expired past the stop date");
    let (status, problem) = check(&f, &code).await;
    assert_eq!(
        (status, problem["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("stop_date_passed"))
    );
    let (_, problem) = check(&f, &code).await;
    assert_eq!(problem["code"], "wrong_enrollment_code", "the expired code is gone");
    let resend = OperationKind::ResendEnrollment(proto::ResendEnrollment {
        task: task.id,
        enrollment: task.enrollments[0],
        alternate_email: None,
    });
    assert_eq!(f.op("provisioner", resend).await.rejection_code(), Some("state_not_allowed"));
}

/// The permission matrix's provisioning rows: only Manage provisioning
/// tasks creates, edits, removes and resends; a kiosk credential does
/// nothing but walk-up; nobody else checks codes.
pub async fn provisioning_permission_matrix(factory: Factory) {
    let f = with_provisioning(factory).await;
    let (task, answer) = create(&f, "provisioner", &[f.cardholder], None).await;
    assert!(answer.is_accepted(), "{answer:?}");
    let code = code_for(&f, "carla@example.org");
    let roles = ["nobody", "requester", "approver", "issuer", "retirer", "auditor", "kiosk"];
    let people = [f.cardholder];
    for role in roles {
        let before = super::records_only(&f.dump());
        let (_, create_answer) = create(&f, role, &people, None).await;
        assert_eq!(create_answer.rejection_code(), Some("not_permitted"), "{role} may not create");
        let ops = [
            OperationKind::EditProvisioningTask(proto::EditProvisioningTask {
                task: task.id,
                remove: vec![task.enrollments[0]],
                notify_removed: true,
                stop_date: None,
            }),
            OperationKind::RemoveProvisioningTask(proto::RemoveProvisioningTask {
                task: task.id,
                notify_removed: false,
            }),
            OperationKind::ResendEnrollment(proto::ResendEnrollment {
                task: task.id,
                enrollment: task.enrollments[0],
                alternate_email: None,
            }),
        ];
        for op in ops {
            let answer = f.op(role, op).await;
            assert!(
                matches!(answer.rejection_code(), Some("not_permitted" | "operator_required")),
                "{role} may not change a task: {answer:?}"
            );
        }
        assert_eq!(before, super::records_only(&f.dump()), "{role}'s refused provisioning changed a record");
        for uri in ["/v1/provisioning/tasks", "/v1/provisioning/tasks/1"] {
            let (status, body) = get(&f, role, uri).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} may not GET {uri}: {body}");
        }
        if role != "kiosk" {
            let (status, _) = check(&f, &code).await;
            assert_eq!(status, StatusCode::OK);
            let (status, body) = f
                .call(Method::POST, "/v1/walkup/code", Some(f.token(role)), Some(json!({ "code": code })))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} is not a kiosk: {body}");
        }
    }
    // The kiosk: no feed, no person, no other operation.
    let (status, _) = get(&f, "kiosk", "/v1/changes").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a kiosk replicates nothing");
    let (status, _) = get(&f, "kiosk", "/v1/provisioning/report").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, device) = f.approved_card().await;
    for op in [
        OperationKind::CreatePerson(proto::CreatePerson {
            id: PersonId::new(Uuid::now_v7()),
            given_name: "K".into(),
            family_name: "K".into(),
            email: None,
            employee_id: None,
        }),
        OperationKind::ChangeDevice(proto::ChangeDevice {
            device,
            change: proto::DeviceChange::Deactivate,
            notes: None,
        }),
        super::issuance(device, None),
    ] {
        let answer = f.op("kiosk", op).await;
        assert!(answer.rejection_code().is_some(), "a kiosk may not: {answer:?}");
    }
    let (status, _) = get(&f, "provisioner", "/v1/provisioning/tasks").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&f, "admin", "/v1/provisioning/tasks").await;
    assert_eq!(status, StatusCode::OK, "the administrator holds every permission");
}

/// The mail outbox the transport drains: pending until due, retried after
/// a failure at the time given, never again once sent.
pub async fn provisioning_mail_outbox(factory: Factory) {
    let f = with_provisioning(factory).await;
    let (_, answer) = create(&f, "provisioner", &[f.cardholder], None).await;
    assert!(answer.is_accepted(), "{answer:?}");
    let storage = f.registry.storage();
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let pending = |at| registry::storage::read(storage, |tx| tx.pending_mail(10, at)).unwrap();
    let mail = pending(now).pop().expect("the enrollment email is due at once");
    assert_eq!((mail.attempts, mail.sent_at, mail.last_error.clone()), (0, None, None));
    let retry = now + Duration::minutes(5);
    registry::storage::write(storage, |tx| tx.mark_mail_failed(mail.id, "connection refused", retry))
        .unwrap();
    assert!(pending(now).is_empty(), "not before the retry time");
    let again = pending(retry).pop().expect("due again at the retry time");
    assert_eq!((again.attempts, again.last_error.as_deref()), (1, Some("connection refused")));
    assert_eq!(again.next_attempt_at, retry);
    registry::storage::write(storage, |tx| tx.mark_mail_sent(mail.id, retry)).unwrap();
    assert!(pending(retry + Duration::days(1)).is_empty(), "sent once");
    assert!(body(&f, &again).contains("enrollment code:"), "opened only to send");
}

/// The outbox drained by the `mail` crate's dispatcher, as `serve` runs it,
/// into the embedded default (the local mailbox): delivered once, with the
/// code readable by the recipient, and marked sent.
pub async fn provisioning_mail_reaches_the_mailbox(factory: Factory) {
    let f = with_provisioning(factory).await;
    let (_, answer) = create(&f, "provisioner", &[f.cardholder], None).await;
    assert!(answer.is_accepted(), "{answer:?}");
    let queued = outbox(&f);
    assert_eq!(queued.len(), 1);
    let code = code_in(&body(&f, &queued[0]));
    let dir = tempfile::tempdir().unwrap();
    let config = mail::MailConfig::embedded_default(dir.path());
    let transport = mail::Transport::new(&config).unwrap();
    let outbox_of = std::sync::Arc::new(registry::mail_outbox::RegistryOutbox(f.registry.clone()));
    let dispatcher = mail::Dispatcher::new(outbox_of, transport, mail::DispatcherConfig::default());
    let first = dispatcher.run_once().await.unwrap();
    assert_eq!(first.sent, 1, "{first:?}");
    let again = dispatcher.run_once().await.unwrap();
    assert_eq!(again.sent, 0, "sent once: {again:?}");
    let mailbox = dispatcher.transport().mailbox().expect("the embedded default is the mailbox");
    let entries = mailbox.list().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].to, queued[0].recipient);
    let message = mailbox.read(entries[0].id).unwrap().expect("readable");
    assert!(message.body.expose().contains(&code), "the recipient reads the code");
    assert!(outbox(&f).is_empty(), "marked sent in the database");
}

/// Two registry instances on one database each run a dispatcher: every
/// message goes out once (a claim leases it to one sender), and a message
/// whose sender died after claiming it is due again when the lease ends.
pub async fn provisioning_mail_goes_out_once_from_two_instances(factory: Factory) {
    let f = with_provisioning(factory).await;
    let mut people = vec![f.cardholder];
    for (i, name) in ["Ada", "Bo", "Cy", "Di", "Ed"].iter().enumerate() {
        people.push(person(&f, name, &format!("user{i}@example.org")).await);
    }
    let (_, answer) = create(&f, "provisioner", &people, None).await;
    assert!(answer.is_accepted(), "{answer:?}");
    assert_eq!(outbox(&f).len(), people.len());

    // A sender that claims and dies: its messages wait for the lease.
    let storage = f.registry.storage();
    let now = OffsetDateTime::now_utc();
    let lease = registry::mail_outbox::LEASE;
    let claim =
        |at: OffsetDateTime, n| registry::storage::write(storage, |tx| tx.claim_mail(n, at, at + lease));
    let dead = claim(now, 2).unwrap();
    assert_eq!(dead.len(), 2, "the oldest two");
    assert_eq!(claim(now, 10).unwrap().len(), people.len() - 2, "the claimed two are skipped");
    assert!(claim(now, 10).unwrap().is_empty(), "all leased");
    let later = now + lease + Duration::seconds(1);

    // Two instances' dispatchers, one message per claim, at once.
    let dir = tempfile::tempdir().unwrap();
    let dispatcher = || {
        let transport = mail::Transport::new(&mail::MailConfig::embedded_default(dir.path())).unwrap();
        let outbox_of = std::sync::Arc::new(LaterOutbox(
            registry::mail_outbox::RegistryOutbox(f.registry.clone()),
            later,
        ));
        mail::Dispatcher::new(outbox_of, transport, mail::DispatcherConfig { batch: 1, ..Default::default() })
    };
    let (one, two) = (dispatcher(), dispatcher());
    let (a, b) = tokio::join!(one.run_once(), two.run_once());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.sent + b.sent, people.len(), "each message once: {a:?} {b:?}");
    let mailbox = one.transport().mailbox().expect("the embedded default is the mailbox");
    let mut to: Vec<String> = mailbox.list().unwrap().into_iter().map(|m| m.to).collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), people.len(), "one message per user");
    assert!(outbox(&f).is_empty(), "all marked sent");
}

/// The registry's outbox as seen at `.1`: the dispatcher runs past the leases.
struct LaterOutbox(registry::mail_outbox::RegistryOutbox, OffsetDateTime);

impl mail::Outbox for LaterOutbox {
    fn due(&self, limit: usize, _: OffsetDateTime) -> Result<Vec<mail::Outgoing>, mail::OutboxError> {
        self.0.due(limit, self.1)
    }
    fn next_attempt(&self) -> Result<Option<OffsetDateTime>, mail::OutboxError> {
        self.0.next_attempt()
    }
    fn sent(&self, id: Uuid, at: OffsetDateTime) -> Result<(), mail::OutboxError> {
        self.0.sent(id, at)
    }
    fn failed(
        &self,
        id: Uuid,
        error: &str,
        permanent: bool,
        next_attempt_at: OffsetDateTime,
    ) -> Result<(), mail::OutboxError> {
        self.0.failed(id, error, permanent, next_attempt_at)
    }
}

/// The local mailbox in the app (UC-PROV: "the embedded default keeps it in
/// a local mailbox viewable in the app"): `GET /v1/admin/mailbox` lists the
/// delivered messages, newest first, with their text, to an administrator
/// only (audited); when mail goes to SMTP there is no mailbox to read (404).
pub async fn provisioning_mailbox_for_administrators(factory: Factory) {
    let f = with_provisioning(factory).await;
    let erin = person(&f, "Erin", "erin@example.org").await;
    for people in [&[f.cardholder][..], &[erin][..]] {
        let (_, answer) = create(&f, "provisioner", people, None).await;
        assert!(answer.is_accepted(), "{answer:?}");
    }
    let erin_code = code_for(&f, "erin@example.org");

    // Mail goes to SMTP (no mailbox set): nothing to read, said so.
    let (status, body) = f.call(Method::GET, "/v1/admin/mailbox", Some(f.token("admin")), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found", "{body}");
    assert!(body["message"].as_str().unwrap().contains("SMTP"), "a clear reason: {body}");

    // The embedded default: the dispatcher delivers to the mailbox.
    let dir = tempfile::tempdir().unwrap();
    let transport = mail::Transport::new(&mail::MailConfig::embedded_default(dir.path())).unwrap();
    let mailbox = transport.mailbox().expect("the embedded default is the mailbox").clone();
    f.registry.read_mail_from(mailbox);
    let outbox_of = std::sync::Arc::new(registry::mail_outbox::RegistryOutbox(f.registry.clone()));
    let dispatcher = mail::Dispatcher::new(outbox_of, transport, mail::DispatcherConfig::default());
    assert_eq!(dispatcher.run_once().await.unwrap().sent, 2);

    let events_before = super::audit_events(&f).len();
    let (status, body) = f.call(Method::GET, "/v1/admin/mailbox", Some(f.token("admin")), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{body}");
    // Newest first: Erin's task was created second.
    assert_eq!(messages[0]["to"], "erin@example.org", "{body}");
    assert_eq!(messages[0]["subject"], "Set up your smart card at a Cardstation kiosk");
    assert!(messages[0]["body"].as_str().unwrap().contains(&erin_code), "the text, with the code");
    let dates: Vec<OffsetDateTime> = messages
        .iter()
        .map(|m| {
            OffsetDateTime::parse(m["date"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
                .unwrap()
        })
        .collect();
    assert!(dates[0] >= dates[1], "newest first: {dates:?}");
    assert_ne!(messages[1]["to"], "erin@example.org");
    let events = super::audit_events(&f);
    assert_eq!(events.len(), events_before + 1, "reading the codes is audited");
    assert_eq!(events.last().unwrap().draft.action, "mailbox.read");

    // Nobody else reads it: not the provisioning manager, not a kiosk, not an auditor.
    for role in ["provisioner", "kiosk", "auditor", "issuer", "nobody"] {
        let (status, body) = f.call(Method::GET, "/v1/admin/mailbox", Some(f.token(role)), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {body}");
        assert!(body.get("messages").is_none(), "{role} sees no message: {body}");
    }
    let (status, _) = f.call(Method::GET, "/v1/admin/mailbox", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A kiosk's walk-up card (UC-WALKUP): the code starts one card record for
/// the cardholder, approved by the task under its profile; the kiosk acts
/// for the cardholder on that card only (escrow, recording), and no more
/// once the enrollment is gone; the code is used up only when the card is
/// enrolled.
pub async fn provisioning_walkup_card_is_the_cardholders_own(factory: Factory) {
    let f = with_provisioning(factory).await;
    let erin = person(&f, "Erin", "erin@example.org").await;
    let (task, answer) = create(&f, "provisioner", &[erin], None).await;
    assert!(answer.is_accepted(), "{answer:?}");
    let code = code_for(&f, "erin@example.org");
    let start = |code: &str, device: domain::DeviceId| {
        OperationKind::StartWalkupCard(proto::StartWalkupCard {
            task: task.id,
            enrollment: task.enrollments[0],
            code: proto::EnrollmentCode::new(code),
            request: domain::RequestId::new(Uuid::now_v7()),
            device,
        })
    };
    let device = domain::DeviceId::new(Uuid::now_v7());
    let tag = &code[..4];
    let before = super::records_only(&f.dump());
    let wrong = f.op("kiosk", start(&format!("{tag}-0000-0000-0000"), device)).await;
    assert_eq!(wrong.rejection_code(), Some("wrong_enrollment_code"), "{wrong:?}");
    let operator = f.op("issuer", start(&code, device)).await;
    assert_eq!(operator.rejection_code(), Some("not_permitted"), "only a kiosk starts one: {operator:?}");
    assert_eq!(before, super::records_only(&f.dump()), "a refused start changes nothing");

    let started = f.op("kiosk", start(&code, device)).await;
    let Answer::Accepted { result, .. } = &started else { panic!("{started:?}") };
    let record = result.records.iter().find_map(|r| match r {
        proto::Record::Device(d) => Some(d.clone()),
        _ => None,
    });
    let record = record.expect("the card record");
    assert_eq!(record.owner, Some(erin), "the cardholder's own card");
    assert_eq!(record.state, domain::CardState::Approved, "approved by the task");
    assert_eq!(record.profile.id, f.profile);
    let again = f.op("kiosk", start(&code, domain::DeviceId::new(Uuid::now_v7()))).await;
    assert_eq!(again.rejection_code(), Some("already_exists"), "one card per enrollment: {again:?}");
    let (_, invitation) = check(&f, &code).await;
    assert_eq!(invitation["walkup_device"], device.to_string(), "the code resumes it");
    assert_eq!(invitation["holder"]["id"], erin.to_string(), "the holder's record, for the subjects");

    // The kiosk escrows for its walk-up card, and for no other card.
    let store = |device| {
        OperationKind::StoreEscrow(proto::StoreEscrow {
            device,
            secret_kind: proto::EscrowKind::Puk,
            secret: proto::EscrowSecret::new("3132333435363737"),
        })
    };
    let stored = f.op("kiosk", store(device)).await;
    assert!(stored.is_accepted(), "{stored:?}");
    let (status, body) = get(&f, "kiosk", &format!("/v1/devices/{device}/escrow/puk")).await;
    assert_eq!(status, StatusCode::OK, "its own job's PUK back: {body}");
    let (_, other) = f.approved_card().await;
    assert!(f.op("issuer", store(other)).await.is_accepted(), "the other card's issue job escrows");
    let refused = f.op("kiosk", store(other)).await;
    assert!(refused.rejection_code().is_some(), "not another card: {refused:?}");
    let (status, _) = get(&f, "kiosk", &format!("/v1/devices/{other}/escrow/puk")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "nor another card's secrets");
    let mut walkup_issuance = super::issuance(other, None);
    if let OperationKind::RecordIssuance(r) = &mut walkup_issuance {
        r.route = domain::IssueRoute::Walkup;
    }
    let refused = f.op("kiosk", walkup_issuance).await;
    assert!(refused.rejection_code().is_some(), "nor record another card: {refused:?}");

    // Recording its card issued completes the card request for the cardholder.
    let mut issued = super::issuance(device, None);
    if let OperationKind::RecordIssuance(r) = &mut issued {
        r.route = domain::IssueRoute::Walkup;
    }
    let recorded = f.op("kiosk", issued).await;
    assert!(recorded.is_accepted(), "{recorded:?}");

    // Removed from the task: the kiosk no longer acts for them.
    let removed = f
        .op(
            "provisioner",
            OperationKind::EditProvisioningTask(proto::EditProvisioningTask {
                task: task.id,
                remove: vec![task.enrollments[0]],
                notify_removed: false,
                stop_date: None,
            }),
        )
        .await;
    assert!(removed.is_accepted(), "{removed:?}");
    let (status, _) = get(&f, "kiosk", &format!("/v1/devices/{device}/escrow/puk")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a removed enrollment opens nothing");
}

/// Seed 004's "Self-Enrollment Policy": only an administrator sets it, each
/// value within bounds; a new task's default stop date and lock-out follow.
pub async fn provisioning_self_enrollment_policy(factory: Factory) {
    let f = with_provisioning(factory).await;
    let set = |period_days, max_attempts, kiosk_idle_timeout_secs| {
        OperationKind::SetSelfEnrollmentPolicy(proto::SetSelfEnrollmentPolicy {
            period_days,
            max_attempts,
            kiosk_idle_timeout_secs,
        })
    };
    for role in ["provisioner", "issuer", "kiosk"] {
        let answer = f.op(role, set(3, 2, 30)).await;
        assert_eq!(answer.rejection_code(), Some("not_permitted"), "{role}: {answer:?}");
    }
    for (period, attempts, idle) in [(0, 2, 30), (400, 2, 30), (3, 0, 30), (3, 2, 5), (3, 2, 7200)] {
        let answer = f.op("admin", set(period, attempts, idle)).await;
        assert_eq!(answer.rejection_code(), Some("invalid"), "({period}, {attempts}, {idle}): {answer:?}");
    }
    assert!(f.op("admin", set(3, 2, 30)).await.is_accepted());
    assert_eq!(f.op("admin", set(3, 2, 30)).await.rejection_code(), Some("unchanged"));
    let (status, directory) = get(&f, "admin", "/v1/admin/access").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        directory["self_enrollment"],
        json!({ "period_days": 3, "max_attempts": 2, "kiosk_idle_timeout_secs": 30 })
    );

    let gus = person(&f, "Gus", "gus@example.org").await;
    let (task, answer) = create(&f, "provisioner", &[gus], None).await;
    assert!(answer.is_accepted(), "{answer:?}");
    let (_, details) = get(&f, "provisioner", &format!("/v1/provisioning/tasks/{}", task.id)).await;
    let stop = OffsetDateTime::parse(
        details["stop_date"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (stop - OffsetDateTime::now_utc()).whole_hours();
    assert!((71..=72).contains(&days), "three days to enroll: {details}");
    let code = code_for(&f, "gus@example.org");
    let (_, invitation) = check(&f, &code).await;
    assert_eq!(invitation["kiosk_idle_timeout_secs"], 30, "the kiosk's timeout follows");
    let tag = &code[..4];
    let (_, first) = check(&f, &format!("{tag}-0000-0000-0000")).await;
    assert!(first["message"].as_str().unwrap().contains("1 attempts left"), "{first}");
    let (_, second) = check(&f, &format!("{tag}-0000-0000-0000")).await;
    assert_eq!(second["code"], "state_not_allowed", "locked after two: {second}");
}

/// UC-WALKUP with UC-UPDATE: a kiosk recognises a card with an approved
/// update. Only the card's PIV Authentication key (its certificate issued by
/// this CA) signing this kiosk's challenge lets the kiosk act as the
/// cardholder on that card, for that update only, until it is recorded.
pub async fn walkup_update_proved_by_the_card(factory: Factory) {
    use p256::ecdsa::signature::Signer;
    let f = with_provisioning(factory).await;
    let (request, device) = f.approved_card().await;
    let key = super::card_key();
    let challenge = f.challenge("issuer").await;
    let (status, issued) =
        f.issue("issuer", super::issue_body(Uuid::now_v7(), device, &key, &challenge, &challenge)).await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert!(f.op("issuer", super::issuance_of(device, Some(request), &issued)).await.is_accepted());
    let offer_uri = format!("/v1/walkup/cards/{device}/update");
    let (status, body) = f.call(Method::POST, &offer_uri, Some(f.token("kiosk")), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no update waiting yet: {body}");

    let update = domain::RequestId::new(Uuid::now_v7());
    let requested = f
        .op(
            "issuer",
            OperationKind::RequestUpdate(proto::RequestUpdate {
                request: update,
                device,
                profile: f.profile,
                reason: domain::UpdateReason::ApplyLatestUpdates,
                notes: None,
            }),
        )
        .await;
    assert!(requested.is_accepted(), "{requested:?}");
    let (status, _) = f.call(Method::POST, &offer_uri, Some(f.token("issuer")), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only a kiosk is offered a walk-up update");
    let (status, offer) = f.call(Method::POST, &offer_uri, Some(f.token("kiosk")), None).await;
    assert_eq!(status, StatusCode::OK, "{offer}");
    assert_eq!(offer["request"], json!(update));
    assert_eq!(offer["kind"], "update");
    assert_eq!(offer["person_name"], "Carla Holder");
    assert_eq!(offer["granted_until"], Value::Null);
    let challenge = hex::decode(offer["challenge"].as_str().unwrap()).unwrap();
    let sign = |key: &p256::ecdsa::SigningKey, challenge: &[u8]| {
        let signature: p256::ecdsa::DerSignature =
            key.sign(&proto::cardholder_proof_message(device, challenge));
        hex::encode(signature.as_bytes())
    };
    let start = |challenge: &[u8], signature: String| {
        OperationKind::StartWalkupUpdate(proto::StartWalkupUpdate {
            device,
            request: update,
            challenge: hex::encode(challenge),
            signature,
        })
    };
    let escrow = || {
        OperationKind::StoreEscrow(proto::StoreEscrow {
            device,
            secret_kind: proto::EscrowKind::ManagementKey,
            secret: proto::EscrowSecret::new("00112233445566778899aabbccddeeff"),
        })
    };

    // Before any proof the kiosk is no one on this card.
    assert!(f.op("kiosk", escrow()).await.rejection_code().is_some(), "no proof, no escrow");
    // Another key, or the card's key over another card's message, proves nothing.
    let stranger = super::card_key();
    assert_eq!(
        f.op("kiosk", start(&challenge, sign(&stranger, &challenge))).await.rejection_code(),
        Some("proof_failed")
    );
    let (_, other_device) = f.approved_card().await;
    let elsewhere: p256::ecdsa::DerSignature =
        key.sign(&proto::cardholder_proof_message(other_device, &challenge));
    assert_eq!(
        f.op("kiosk", start(&challenge, hex::encode(elsewhere.as_bytes()))).await.rejection_code(),
        Some("proof_failed")
    );
    // A challenge handed to someone else is refused even with the right signature.
    let theirs = f.challenge("issuer").await;
    assert_eq!(
        f.op("kiosk", start(&theirs, sign(&key, &theirs))).await.rejection_code(),
        Some("unknown_challenge")
    );
    // Only a kiosk proves a cardholder.
    assert!(f.op("issuer", start(&challenge, sign(&key, &challenge))).await.rejection_code().is_some());

    let proved = f.op("kiosk", start(&challenge, sign(&key, &challenge))).await;
    let Answer::Accepted { result, .. } = &proved else { panic!("the card's own proof: {proved:?}") };
    let kinds: Vec<&str> = result
        .records
        .iter()
        .map(|r| match r {
            proto::Record::Device(_) => "device",
            proto::Record::Request(_) => "request",
            proto::Record::Person(_) => "person",
            proto::Record::Profile(_) => "profile",
            proto::Record::Certificate(_) => "certificate",
            _ => "other",
        })
        .collect();
    for kind in ["device", "request", "person", "profile", "certificate"] {
        assert!(kinds.contains(&kind), "the job's records are answered: {kinds:?}");
    }
    assert_eq!(
        f.op("kiosk", start(&challenge, sign(&key, &challenge))).await.rejection_code(),
        Some("unknown_challenge"),
        "a challenge is used once"
    );
    let (_, again) = f.call(Method::POST, &offer_uri, Some(f.token("kiosk")), None).await;
    assert!(again["granted_until"].is_string(), "the kiosk holds a grant now: {again}");

    // The grant is this kiosk's: the same account signed in at another workstation is no one here.
    let (status, other) = f
        .call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({
                "username": "kiosk",
                "password": password("kiosk"),
                "workstation": Uuid::now_v7(),
                "workstation_key": "cd".repeat(32),
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let elsewhere_kiosk = other["token"].as_str().unwrap().to_owned();
    let (status, body) = f
        .call(
            Method::POST,
            "/v1/operations",
            Some(&elsewhere_kiosk),
            Some(json!({ "operations": [super::operation(escrow())] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["answers"][0]["status"], "rejected", "another workstation rides no grant: {body}");

    // Now the kiosk acts as the cardholder on this card: escrow, a certificate, the record.
    assert!(f.op("kiosk", escrow()).await.is_accepted(), "the update's new secrets are escrowed");
    let (status, body) = f
        .call(
            Method::GET,
            &format!("/v1/devices/{device}/escrow/management_key"),
            Some(f.token("kiosk")),
            None,
        )
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, Some("00112233445566778899aabbccddeeff")));
    let new_key = super::card_key();
    let pop = f.challenge("kiosk").await;
    let (status, certified) =
        f.issue("kiosk", super::issue_body(Uuid::now_v7(), device, &new_key, &pop, &pop)).await;
    assert_eq!(status, StatusCode::OK, "{certified}");
    let OperationKind::RecordIssuance(mut record) = super::issuance_of(device, Some(update), &certified)
    else {
        unreachable!()
    };
    record.route = domain::IssueRoute::Walkup;
    // Not on another card of the same holder.
    let mut elsewhere_record = record.clone();
    elsewhere_record.device = other_device;
    elsewhere_record.request = None;
    assert!(f.op("kiosk", OperationKind::RecordIssuance(elsewhere_record)).await.rejection_code().is_some());
    let recorded = f.op("kiosk", OperationKind::RecordIssuance(record)).await;
    assert!(recorded.is_accepted(), "{recorded:?}");
    let (_, audit) = get(&f, "auditor", "/v1/audit?limit=1000").await;
    let audit_text = audit.to_string();
    assert!(audit_text.contains("op.start_walkup_update"), "the proof is audited");
    // Recorded: the request is completed, so the grant opens nothing any more.
    assert!(f.op("kiosk", escrow()).await.rejection_code().is_some(), "the grant ended with the update");
    let (status, _) = f.call(Method::POST, &offer_uri, Some(f.token("kiosk")), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing waiting any more");
}
