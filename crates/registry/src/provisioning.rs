//! Provisioning tasks at the registry (UC-PROV, UC-WALKUP; seed 004).
//!
//! The operations (create, edit, remove, resend, and the kiosk's enrollment
//! and first authentication) are decided here with the domain's task rules
//! and enrollment machine; [`Writes`] holds what an accepted one writes in
//! the operation's transaction: the task, enrollment codes and outgoing mail.
//!
//! Enrollment codes: `TTTT-SSSS-SSSS-SSSS` in Crockford base 32 (no I, L,
//! O, U). The first group is a tag that finds the enrollment (not secret:
//! a wrong code with a right tag counts against that enrollment); the other
//! twelve characters are 60 random bits, kept only as a verifier: HMAC-SHA256
//! under a key derived from the key-encryption key, over the enrollment, the
//! tag and the secret. A stolen database alone cannot be searched for a code
//! (each guess needs the KEK), and whoever holds the KEK could read the codes
//! from the sealed mail bodies anyway, so a slow hash would add nothing but
//! its cost: a kiosk checks the code three times per card (the check, the
//! card's start and its record), each inside a write transaction, and an
//! Argon2id verification (37 ms here) there held every writer and was most
//! of a walk-up's host time. Verifiers made by earlier versions (Argon2id,
//! `$argon2id$…`) still verify. Online guessing stops at the policy's
//! wrong-code limit (locked). A code
//! is never answered, fed, audited or logged: its plaintext goes only into
//! the mail body, which is sealed under the key-encryption key.

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use domain::{
    machines, Actor, EnrollmentCommand, EnrollmentEffect, EnrollmentId, EnrollmentState, GlobalPermission,
    Invitee, Permission, PersonStatus, ProvisioningTask, Refusal, SelfEnrollmentPolicy, TaskId, UseCase,
};
use proto::{
    CreateProvisioningTask, EditProvisioningTask, RecordWalkupAuthentication, RecordWalkupEnrollment,
    RemoveProvisioningTask, ResendEnrollment, StartWalkupCard,
};
use rand::RngCore;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::caller::{cardholder, require_kiosk, Caller};
use crate::decline::{check_text, not_found, refuse, Decline};
use crate::error::{Error, Result};
use crate::escrow::EscrowSeal;
use crate::storage::{EnrollmentCodeRecord, MailRecord, Tx};

/// Crockford's base 32: unambiguous when read aloud or from paper.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of the tag (20 bits) and of the secret part (60 bits).
const TAG_LEN: usize = 4;
const SECRET_LEN: usize = 12;
/// Users in one task, at most.
const MAX_INVITEES: usize = 1000;

/// What an accepted provisioning operation writes, after the decision.
#[derive(Default)]
pub(crate) struct Writes {
    task: Option<ProvisioningTask>,
    codes: Vec<EnrollmentCodeRecord>,
    drop_codes: Vec<EnrollmentId>,
    mail: Vec<MailRecord>,
}

impl Writes {
    /// Writes the task, the codes and the queued mail in `tx`.
    pub(crate) fn apply(&self, tx: &mut dyn Tx) -> Result<()> {
        if let Some(task) = &self.task {
            tx.put_provisioning_task(task)?;
        }
        for enrollment in &self.drop_codes {
            tx.delete_enrollment_code(*enrollment)?;
        }
        for code in &self.codes {
            tx.put_enrollment_code(code)?;
        }
        for mail in &self.mail {
            tx.insert_mail(mail)?;
        }
        Ok(())
    }
}

/// An enrollment code as made: its tag and the code to mail.
struct NewCode {
    record: EnrollmentCodeRecord,
    display: Zeroizing<String>,
}

fn random_chars(n: usize) -> Zeroizing<String> {
    let mut bytes = Zeroizing::new(vec![0u8; n]);
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // 256 is a multiple of 32: the low five bits are uniform.
    Zeroizing::new(bytes.iter().map(|b| char::from(ALPHABET[usize::from(b & 31)])).collect())
}

/// The code as typed, normalised (upper case, no separators, Crockford's
/// O→0 and I/L→1), split into tag and secret; `None` if it cannot be a code.
fn parse_code(typed: &str) -> Option<(String, Zeroizing<String>)> {
    let mut clean = Zeroizing::new(String::with_capacity(TAG_LEN + SECRET_LEN));
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || clean.len() >= TAG_LEN + SECRET_LEN {
            return None;
        }
        clean.push(c);
    }
    if clean.len() != TAG_LEN + SECRET_LEN {
        return None;
    }
    let (tag, secret) = clean.split_at(TAG_LEN);
    Some((tag.to_owned(), Zeroizing::new(secret.to_owned())))
}

/// Makes a code for `enrollment` with a tag no live code has.
fn new_code(
    tx: &mut dyn Tx,
    seal: &dyn EscrowSeal,
    task: TaskId,
    enrollment: EnrollmentId,
    now: OffsetDateTime,
) -> Result<NewCode> {
    for _ in 0..16 {
        let tag = random_chars(TAG_LEN).to_string();
        if tx.enrollment_code(&tag)?.is_some() {
            continue;
        }
        let secret = random_chars(SECRET_LEN);
        let verifier = format!("{MAC_PREFIX}{}", hex::encode(code_mac(seal, enrollment, &tag, &secret)?));
        let mut display = Zeroizing::new(tag.clone());
        for group in secret.as_bytes().chunks(4) {
            display.push('-');
            display.push_str(std::str::from_utf8(group).map_err(|_| Error::Task("code alphabet".into()))?);
        }
        let record = EnrollmentCodeRecord { enrollment, task, tag, verifier, created_at: now };
        return Ok(NewCode { record, display });
    }
    Err(Error::Task("no free enrollment code tag after 16 tries".into()))
}

/// How a keyed verifier starts (see the module documentation).
const MAC_PREFIX: &str = "hmac-sha256:";

/// The MAC of the code `tag`-`secret` of `enrollment`.
fn code_mac(seal: &dyn EscrowSeal, enrollment: EnrollmentId, tag: &str, secret: &str) -> Result<[u8; 32]> {
    let message = Zeroizing::new(
        [enrollment.0.as_bytes().as_slice(), tag.as_bytes(), b"\0", secret.as_bytes()].concat(),
    );
    seal.code_mac(&message)
}

/// Whether `secret` under `tag` is the code `verifier` was made for, in
/// constant time (an earlier version's Argon2id verifier too).
fn verifies(seal: Option<&dyn EscrowSeal>, code: &EnrollmentCodeRecord, secret: &str) -> Result<bool> {
    match code.verifier.strip_prefix(MAC_PREFIX) {
        Some(expected) => {
            let Ok(expected) = hex::decode(expected) else { return Ok(false) };
            let seal =
                seal.ok_or_else(|| Error::Escrow("no key-encryption key to check codes with".into()))?;
            let mac = code_mac(seal, code.enrollment, &code.tag, secret)?;
            Ok(bool::from(mac.as_slice().ct_eq(&expected)))
        }
        None => Ok(PasswordHash::new(&code.verifier)
            .is_ok_and(|hash| Argon2::default().verify_password(secret.as_bytes(), &hash).is_ok())),
    }
}

fn date(at: OffsetDateTime) -> String {
    format!("{} {:02}:{:02} UTC", at.date(), at.hour(), at.minute())
}

/// Who the users may ask: the operator who created the task.
/// The name of the operator who created `task`, as the views show it (their
/// person's name; the username only if that record is gone).
fn operator_name(tx: &mut dyn Tx, task: &ProvisioningTask) -> Result<String> {
    let Some(account) = tx.operator(task.operator)? else { return Ok(String::new()) };
    Ok(match tx.person(account.operator.person)? {
        Some(p) => p.display_name(),
        None => account.operator.username,
    })
}

fn contact(tx: &mut dyn Tx, task: &ProvisioningTask) -> Result<String> {
    let Some(account) = tx.operator(task.operator)? else { return Ok("your card administrator".into()) };
    let person = tx.person(account.operator.person)?;
    Ok(match person {
        Some(p) => match &p.email {
            Some(email) => format!("{} <{email}>", p.display_name()),
            None => p.display_name(),
        },
        None => account.operator.username,
    })
}

/// Seals a message into the outbox form.
fn queue(
    seal: &dyn EscrowSeal,
    to: &str,
    subject: &str,
    body: &str,
    now: OffsetDateTime,
) -> Result<MailRecord> {
    let id = Uuid::now_v7();
    Ok(MailRecord {
        id,
        recipient: to.to_owned(),
        subject: subject.to_owned(),
        body: seal.seal_message(id, body.as_bytes())?,
        created_at: now,
        sent_at: None,
        attempts: 0,
        last_error: None,
        next_attempt_at: now,
    })
}

/// The enrollment email: what to do, until when, whom to ask.
fn enrollment_mail(
    seal: &dyn EscrowSeal,
    to: &str,
    name: &str,
    code: &str,
    enrollment: &domain::Enrollment,
    contact: &str,
    now: OffsetDateTime,
) -> Result<MailRecord> {
    let body = Zeroizing::new(format!(
        "Hello {name},\n\n\
         a smart card has been prepared for you to set up yourself.\n\n\
         1. Go to a Cardstation kiosk.\n\
         2. Insert a blank card, or the card you were given.\n\
         3. Enter this enrollment code: {code}\n\
         4. Choose your PIN and keep it to yourself.\n\n\
         The code works once, until {stop}. After {attempts} wrong entries it stops working.\n\
         If the card is pulled out before it is finished, insert it again and enter the same code.\n\n\
         Questions, or you did not expect this message: contact {contact}.\n",
        stop = date(enrollment.stop_date),
        attempts = enrollment.max_attempts,
    ));
    queue(seal, to, "Set up your smart card at a Cardstation kiosk", &body, now)
}

fn removal_mail(
    seal: &dyn EscrowSeal,
    to: &str,
    stop: &str,
    contact: &str,
    now: OffsetDateTime,
) -> Result<MailRecord> {
    let body = format!(
        "Hello,\n\n\
         your smart card enrollment ({stop}) has been cancelled: the enrollment code you received no longer \
         works. You do not need to do anything.\n\n\
         Questions: contact {contact}.\n"
    );
    queue(seal, to, "Your smart card enrollment was cancelled", &body, now)
}

fn need_seal(seal: Option<&dyn EscrowSeal>) -> Result<&dyn EscrowSeal, Decline> {
    seal.map_or_else(
        || {
            refuse(
                "no_escrow",
                "the registry has no key-encryption key: enrollment emails cannot be sealed in the outbox",
            )
        },
        Ok,
    )
}

fn load(tx: &mut dyn Tx, id: TaskId) -> Result<ProvisioningTask, Decline> {
    match tx.provisioning_task(id)? {
        Some(task) => Ok(task),
        None => not_found("provisioning task", id),
    }
}

/// Creates a task: one code and one enrollment email per user.
pub(crate) fn create(
    tx: &mut dyn Tx,
    actor: &Actor,
    op: &CreateProvisioningTask,
    now: OffsetDateTime,
    seal: Option<&dyn EscrowSeal>,
) -> Result<Writes, Decline> {
    actor.require_use_case(UseCase::Prov)?;
    actor.require(Permission::global(GlobalPermission::ManageProvisioningTasks))?;
    if op.invitees.len() > MAX_INVITEES {
        return refuse("invalid_task", format!("at most {MAX_INVITEES} users per task"));
    }
    if tx.provisioning_task(op.task)?.is_some() {
        return refuse("already_exists", format!("provisioning task {} already exists", op.task));
    }
    let Some(profile) = tx.latest_profile(op.profile)? else {
        return not_found("credential profile", op.profile);
    };
    let policy: SelfEnrollmentPolicy = tx.settings()?.self_enrollment;
    let mut invitees = Vec::with_capacity(op.invitees.len());
    let mut names = Vec::with_capacity(op.invitees.len());
    for invitee in &op.invitees {
        let Some(person) = tx.person(invitee.person)? else {
            return not_found("person", invitee.person);
        };
        if person.status != PersonStatus::Active {
            return refuse("person_inactive", format!("{} is not an active person", person.display_name()));
        }
        let Some(email) = person.email.clone() else {
            return refuse(
                "invalid_task",
                format!("{} has no email address to send the enrollment code to", person.display_name()),
            );
        };
        invitees.push(Invitee { enrollment: invitee.enrollment, person: person.id, email });
        names.push(person.display_name());
    }
    let stop_date = op.stop_date.unwrap_or_else(|| policy.stop_date_from(now));
    let number = tx.next_task_number()?;
    let mut task =
        ProvisioningTask::create(op.task, number, &invitees, stop_date, policy.max_attempts, actor, now)?;
    task.profile = Some(profile.reference());
    let seal = need_seal(seal)?;
    let contact = contact(tx, &task)?;
    let mut writes = Writes::default();
    for (e, name) in task.enrollments.iter().zip(&names) {
        let code = new_code(tx, seal, task.id, e.id, now)?;
        // Two users of one task cannot share a tag either.
        if writes.codes.iter().any(|c| c.tag == code.record.tag) {
            return Err(Error::Task("enrollment code tag drawn twice".into()).into());
        }
        writes.mail.push(enrollment_mail(seal, &e.email, name, &code.display, e, &contact, now)?);
        writes.codes.push(code.record);
    }
    writes.task = Some(task);
    Ok(writes)
}

/// Edits a task: removes users (codes deleted at once; notices if asked)
/// and/or moves the stop date.
pub(crate) fn edit(
    tx: &mut dyn Tx,
    actor: &Actor,
    op: &EditProvisioningTask,
    now: OffsetDateTime,
    seal: Option<&dyn EscrowSeal>,
) -> Result<Writes, Decline> {
    let mut task = load(tx, op.task)?;
    let effects = task.edit(&op.remove, op.notify_removed, op.stop_date, actor, now)?;
    let mut writes = Writes { drop_codes: op.remove.clone(), ..Writes::default() };
    if !effects.is_empty() {
        let seal = need_seal(seal)?;
        let contact = contact(tx, &task)?;
        for effect in effects {
            if let EnrollmentEffect::SendRemovalNotice { to } = effect {
                writes.mail.push(removal_mail(seal, &to, &format!("task {}", task.number), &contact, now)?);
            }
        }
    }
    writes.task = Some(task);
    Ok(writes)
}

/// Removes a task: every unfinished user is removed and their code deleted.
pub(crate) fn remove(
    tx: &mut dyn Tx,
    actor: &Actor,
    op: &RemoveProvisioningTask,
    now: OffsetDateTime,
    seal: Option<&dyn EscrowSeal>,
) -> Result<Writes, Decline> {
    actor.require_use_case(UseCase::Prov)?;
    let mut task = load(tx, op.task)?;
    let outcomes = task.remove(op.notify_removed, actor, now)?;
    let mut writes = Writes::default();
    let mut notices = Vec::new();
    for (id, outcome) in outcomes {
        if let Some(e) = task.enrollments.iter_mut().find(|e| e.id == id) {
            e.state = outcome.to;
        }
        writes.drop_codes.push(id);
        for effect in outcome.effects {
            if let EnrollmentEffect::SendRemovalNotice { to } = effect {
                notices.push(to);
            }
        }
    }
    if !notices.is_empty() {
        let seal = need_seal(seal)?;
        let contact = contact(tx, &task)?;
        for to in notices {
            writes.mail.push(removal_mail(seal, &to, &format!("task {}", task.number), &contact, now)?);
        }
    }
    task.removed = true;
    writes.task = Some(task);
    Ok(writes)
}

/// Resends an active user's enrollment email with a fresh code.
pub(crate) fn resend(
    tx: &mut dyn Tx,
    actor: &Actor,
    op: &ResendEnrollment,
    now: OffsetDateTime,
    seal: Option<&dyn EscrowSeal>,
) -> Result<Writes, Decline> {
    if let Some(address) = &op.alternate_email {
        check_text("alternate_email", address, true)?;
    }
    let mut task = load(tx, op.task)?;
    let policy = tx.settings()?.self_enrollment;
    let effects = task.resend(op.enrollment, op.alternate_email.clone(), &policy, actor, now)?;
    let e = task.enrollment(op.enrollment)?.clone();
    let name = match tx.person(e.person)? {
        Some(p) => p.display_name(),
        None => "there".into(),
    };
    let seal = need_seal(seal)?;
    let contact = contact(tx, &task)?;
    let code = new_code(tx, seal, task.id, e.id, now)?;
    let mut writes = Writes::default();
    for effect in effects {
        if let EnrollmentEffect::SendEnrollmentEmail { to, .. } = effect {
            writes.mail.push(enrollment_mail(seal, &to, &name, &code.display, &e, &contact, now)?);
        }
    }
    writes.codes.push(code.record);
    writes.task = Some(task);
    Ok(writes)
}

/// Refuses unless `code` is the live code of enrollment `e` of `task` (a
/// kiosk's operations after the code check carry it again).
fn require_code(
    tx: &mut dyn Tx,
    seal: Option<&dyn EscrowSeal>,
    task: &ProvisioningTask,
    e: &domain::Enrollment,
    code: &proto::EnrollmentCode,
) -> Result<(), Decline> {
    if task.removed {
        return Err(Refusal::TaskRemoved.into());
    }
    let live = match parse_code(code.expose()) {
        Some((tag, secret)) => match tx.enrollment_code(&tag)? {
            Some(c) if c.enrollment == e.id && c.task == task.id => verifies(seal, &c, &secret)?,
            _ => false,
        },
        None => false,
    };
    if !live {
        return refuse("wrong_enrollment_code", "the enrollment code is not right for this enrollment");
    }
    Ok(())
}

/// A kiosk starts the user's card: the card record and its card request,
/// approved by the task that invited them, under the task's profile (its
/// latest version), owned and requested by the user.
pub(crate) fn start_card(
    tx: &mut dyn Tx,
    caller: &Caller,
    op: &StartWalkupCard,
    now: OffsetDateTime,
    seal: Option<&dyn EscrowSeal>,
) -> Result<(Writes, Vec<proto::Record>), Decline> {
    require_kiosk(&caller.actor)?;
    let mut task = load(tx, op.task)?;
    let e = task.enrollment(op.enrollment)?.clone();
    require_code(tx, seal, &task, &e, &op.code)?;
    let state = e.state_at(now);
    if state != EnrollmentState::Active || e.serial.is_some() {
        return Err(Refusal::StateNotAllowed {
            from: domain::AnyState::Enrollment(state),
            command: "start_walkup_card".into(),
        }
        .into());
    }
    if let Some(started) = e.walkup_device {
        if tx.device(started)?.is_some_and(|d| !d.state.is_final()) {
            return refuse(
                "already_exists",
                format!("this enrollment's card {started} is started already: resume it"),
            );
        }
    }
    let Some(reference) = task.profile else {
        return refuse("invalid", format!("provisioning task {} names no credential profile", task.number));
    };
    let Some(profile) = tx.latest_profile(reference.id)? else {
        return not_found("credential profile", reference.id);
    };
    if profile.settings.is_temporary {
        return Err(Refusal::ProfileIsTemporary { profile: profile.id }.into());
    }
    let Some(person) = tx.person(e.person)? else {
        return not_found("person", e.person);
    };
    if person.status != PersonStatus::Active {
        return refuse("person_inactive", format!("{} is not an active person", person.display_name()));
    }
    if tx.device(op.device)?.is_some() {
        return refuse("already_exists", format!("device {} already exists", op.device));
    }
    if tx.request(op.request)?.is_some() {
        return refuse("already_exists", format!("request {} already exists", op.request));
    }
    let device = domain::Device::requested(
        op.device,
        e.person,
        profile.reference(),
        domain::CardState::Approved,
        e.person,
    );
    let request = domain::Request {
        id: op.request,
        kind: domain::RequestKind::Issue,
        state: domain::RequestState::Approved,
        device: Some(op.device),
        person: Some(e.person),
        profile: profile.id,
        requester: e.person,
        approver: None,
        reason: None,
        notes: Some(format!("walk-up enrollment, provisioning task {}", task.number)),
        created_at: now,
        updated_at: now,
    };
    if let Some(entry) = task.enrollments.iter_mut().find(|x| x.id == e.id) {
        entry.walkup_device = Some(op.device);
    }
    let records = vec![proto::Record::Device(device), proto::Record::Request(request)];
    Ok((Writes { task: Some(task), ..Writes::default() }, records))
}

/// The cardholder a kiosk acts for on `device` (UC-WALKUP): the holder it
/// proved for the card's update (see [`crate::walkup_update`]), or the user
/// of the live enrollment whose started card it is. `None` when the caller is no
/// kiosk or `device` is no walk-up card in progress: the caller acts as itself.
pub(crate) fn walkup_actor(
    tx: &mut dyn Tx,
    caller: &Caller,
    device: domain::DeviceId,
    now: OffsetDateTime,
) -> Result<Option<Actor>> {
    if require_kiosk(&caller.actor).is_err() {
        return Ok(None);
    }
    if let Some(actor) = crate::walkup_update::granted_actor(tx, caller, device, now)? {
        return Ok(Some(actor));
    }
    for task in tx.provisioning_tasks()? {
        if task.removed {
            continue;
        }
        let live = task
            .enrollments
            .iter()
            .find(|e| e.walkup_device == Some(device) && e.state_at(now) == EnrollmentState::Active);
        if let Some(e) = live {
            return Ok(Some(cardholder(caller, e.person)));
        }
    }
    Ok(None)
}

/// `caller`, or the cardholder it acts for when it is a kiosk working on
/// that user's started card (see [`walkup_actor`]).
pub(crate) fn acting_on<'c>(
    tx: &mut dyn Tx,
    caller: &'c Caller,
    device: domain::DeviceId,
    now: OffsetDateTime,
) -> Result<std::borrow::Cow<'c, Caller>> {
    Ok(match walkup_actor(tx, caller, device, now)? {
        Some(actor) => std::borrow::Cow::Owned(Caller { actor, ..caller.clone() }),
        None => std::borrow::Cow::Borrowed(caller),
    })
}

/// The kiosk finished the user's card: checks the code again, records the
/// card and uses the code up.
pub(crate) fn record_enrollment(
    tx: &mut dyn Tx,
    caller: &Caller,
    op: &RecordWalkupEnrollment,
    now: OffsetDateTime,
    seal: Option<&dyn EscrowSeal>,
) -> Result<Writes, Decline> {
    require_kiosk(&caller.actor)?;
    let mut task = load(tx, op.task)?;
    let e = task.enrollment(op.enrollment)?.clone();
    require_code(tx, seal, &task, &e, &op.code)?;
    let Some(device) = tx.device(op.device)? else {
        return not_found("device", op.device);
    };
    if device.owner != Some(e.person) {
        return refuse("invalid", format!("device {} is not this user's card", device.id));
    }
    if !device.state.is_issued() {
        // Not complete yet: the code keeps working, so the card resumes when reinserted.
        return refuse(
            "card_not_complete",
            format!("device {} is {}: the card is not finished", device.id, device.state.name()),
        );
    }
    let Some(serial) = device.serial.clone() else {
        return refuse("invalid", format!("device {} has no serial number recorded", device.id));
    };
    let actor = cardholder(caller, e.person);
    let outcome =
        machines::enrollment::apply(&e, &EnrollmentCommand::Enroll { serial: serial.clone() }, &actor, now)?;
    if let Some(entry) = task.enrollments.iter_mut().find(|x| x.id == e.id) {
        entry.state = outcome.to;
        entry.serial = Some(serial);
        entry.device = Some(device.id);
        entry.walkup_device = None;
    }
    Ok(Writes { task: Some(task), drop_codes: vec![e.id], ..Writes::default() })
}

/// The user authenticated with the enrolled card: the enrollment is completed.
pub(crate) fn record_authentication(
    tx: &mut dyn Tx,
    caller: &Caller,
    op: &RecordWalkupAuthentication,
    now: OffsetDateTime,
) -> Result<Writes, Decline> {
    require_kiosk(&caller.actor)?;
    let mut task = load(tx, op.task)?;
    let e = task.enrollment(op.enrollment)?.clone();
    if e.device != Some(op.device) {
        return Err(Refusal::NotEnrolledYet.into());
    }
    let serial = e.serial.clone().unwrap_or_default();
    let actor = cardholder(caller, e.person);
    let outcome = machines::enrollment::apply(&e, &EnrollmentCommand::Complete { serial }, &actor, now)?;
    if let Some(entry) = task.enrollments.iter_mut().find(|x| x.id == e.id) {
        entry.state = outcome.to;
    }
    Ok(Writes { task: Some(task), ..Writes::default() })
}

/// What checking a code found (before any answer is shaped).
pub(crate) enum CodeCheck {
    /// A live code: the task and the enrollment it opens.
    Right(ProvisioningTask, EnrollmentId),
    /// Refused; the task to write back if the refusal changed it
    /// (a wrong code counted, a lock, an expiry recorded).
    Refused(Refusal, Option<ProvisioningTask>),
}

/// Checks a code typed at a kiosk at `now`. A wrong secret under a known
/// tag counts against that enrollment; at the limit it locks and its code
/// is deleted. An active enrollment past its stop date is recorded expired.
pub(crate) fn check_code(
    tx: &mut dyn Tx,
    caller: &Caller,
    seal: Option<&dyn EscrowSeal>,
    typed: &str,
    now: OffsetDateTime,
) -> Result<CodeCheck> {
    let wrong = || Refusal::WrongEnrollmentCode { attempts_left: 0 };
    let Some((tag, secret)) = parse_code(typed) else { return Ok(CodeCheck::Refused(wrong(), None)) };
    let Some(code) = tx.enrollment_code(&tag)? else { return Ok(CodeCheck::Refused(wrong(), None)) };
    let Some(mut task) = tx.provisioning_task(code.task)? else {
        return Ok(CodeCheck::Refused(wrong(), None));
    };
    let Ok(e) = task.enrollment(code.enrollment).cloned() else {
        return Ok(CodeCheck::Refused(wrong(), None));
    };
    if task.removed || e.state == EnrollmentState::Removed {
        tx.delete_enrollment_code(e.id)?;
        return Ok(CodeCheck::Refused(Refusal::TaskRemoved, None));
    }
    let actor = cardholder(caller, e.person);
    if e.state_at(now) == EnrollmentState::Expired {
        let outcome = machines::enrollment::apply(&e, &EnrollmentCommand::Expire, &Actor::system(), now);
        if let (Ok(outcome), Some(entry)) = (outcome, task.enrollments.iter_mut().find(|x| x.id == e.id)) {
            entry.state = outcome.to;
        }
        tx.delete_enrollment_code(e.id)?;
        return Ok(CodeCheck::Refused(Refusal::StopDatePassed { stop_date: e.stop_date }, Some(task)));
    }
    if verifies(seal, &code, &secret)? {
        // Right, and still usable: active (a card already enrolled waits
        // for its first authentication, so the kiosk can finish it).
        return Ok(if e.state == EnrollmentState::Active {
            CodeCheck::Right(task, e.id)
        } else {
            let from = domain::AnyState::Enrollment(e.state);
            CodeCheck::Refused(Refusal::StateNotAllowed { from, command: "enroll".into() }, None)
        });
    }
    let outcome = match machines::enrollment::apply(&e, &EnrollmentCommand::FailAttempt, &actor, now) {
        Ok(outcome) => outcome,
        Err(refusal) => return Ok(CodeCheck::Refused(refusal, None)),
    };
    let mut attempts_left = 0;
    if let Some(entry) = task.enrollments.iter_mut().find(|x| x.id == e.id) {
        entry.state = outcome.to;
        entry.failed_attempts = entry.failed_attempts.saturating_add(1);
        attempts_left = entry.max_attempts.saturating_sub(entry.failed_attempts);
    }
    let refusal = if outcome.to == EnrollmentState::Locked {
        tx.delete_enrollment_code(e.id)?;
        Refusal::StateNotAllowed {
            from: domain::AnyState::Enrollment(EnrollmentState::Locked),
            command: "enroll".into(),
        }
    } else {
        Refusal::WrongEnrollmentCode { attempts_left }
    };
    Ok(CodeCheck::Refused(refusal, Some(task)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_as_typed_and_refuse_anything_else() {
        let (tag, secret) = parse_code("ab1o-ilxz-0000-9999").unwrap();
        assert_eq!((tag.as_str(), secret.as_str()), ("AB10", "11XZ00009999"));
        assert!(parse_code("AB10-11XZ-0000-999").is_none(), "too short");
        assert!(parse_code("AB10-11XZ-0000-99999").is_none(), "too long");
        assert!(parse_code("AB10-11XZ-0000-999U").is_none(), "U is not in the alphabet");
        assert!(parse_code("AB10-11XZ-0000-999é").is_none());
    }

    #[test]
    fn random_characters_are_from_the_alphabet() {
        let chars = random_chars(64);
        assert!(chars.bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(random_chars(12).as_str(), random_chars(12).as_str());
    }

    fn record(
        seal: &dyn EscrowSeal,
        enrollment: EnrollmentId,
        tag: &str,
        secret: &str,
    ) -> EnrollmentCodeRecord {
        let verifier =
            format!("{MAC_PREFIX}{}", hex::encode(code_mac(seal, enrollment, tag, secret).unwrap()));
        let task = TaskId::from_u128(9);
        EnrollmentCodeRecord {
            enrollment,
            task,
            tag: tag.into(),
            verifier,
            created_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_code_verifies_only_under_its_key_enrollment_and_tag() {
        let dir = tempfile::tempdir().unwrap();
        let seal = crate::escrow::AuthoritySeal::with_key_file(&dir.path().join("kek")).unwrap();
        let other = crate::escrow::AuthoritySeal::with_key_file(&dir.path().join("other")).unwrap();
        let e = EnrollmentId::from_u128(1);
        let code = record(&seal, e, "AB12", "CDEFGHJKMNPQ");
        assert!(!code.verifier.contains("CDEFGHJKMNPQ"));
        assert!(verifies(Some(&seal), &code, "CDEFGHJKMNPQ").unwrap());
        assert!(!verifies(Some(&seal), &code, "CDEFGHJKMNPR").unwrap(), "another secret");
        assert!(!verifies(Some(&other), &code, "CDEFGHJKMNPQ").unwrap(), "another key-encryption key");
        let moved = EnrollmentCodeRecord { enrollment: EnrollmentId::from_u128(2), ..code.clone() };
        assert!(!verifies(Some(&seal), &moved, "CDEFGHJKMNPQ").unwrap(), "another enrollment");
        let retagged = EnrollmentCodeRecord { tag: "AB13".into(), ..code.clone() };
        assert!(!verifies(Some(&seal), &retagged, "CDEFGHJKMNPQ").unwrap(), "another tag");
        let mut flipped = code.clone();
        flipped.verifier.replace_range(MAC_PREFIX.len()..MAC_PREFIX.len() + 1, "x");
        assert!(!verifies(Some(&seal), &flipped, "CDEFGHJKMNPQ").unwrap(), "a damaged verifier");
        assert!(verifies(None, &code, "CDEFGHJKMNPQ").is_err(), "no key: an error, not a refusal");
    }

    #[test]
    fn an_earlier_versions_argon2id_verifier_still_verifies() {
        let e = EnrollmentId::from_u128(1);
        let verifier = crate::password::hash_password("CDEFGHJKMNPQ").unwrap();
        let task = TaskId::from_u128(9);
        let code = EnrollmentCodeRecord {
            enrollment: e,
            task,
            tag: "AB12".into(),
            verifier,
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        assert!(verifies(None, &code, "CDEFGHJKMNPQ").unwrap());
        assert!(!verifies(None, &code, "CDEFGHJKMNPR").unwrap());
    }
}

/// The views of seed 004 (task list, details, report, person view) and the
/// kiosk's code check, as [`crate::Registry`] use cases.
mod views {
    use domain::{AuditObject, AuditOutcome, Permission, PersonId};
    use proto::{
        EnrollmentCode, EnrollmentView, PersonProvisioning, PersonProvisioningRow, ProvisioningTaskList,
        ProvisioningTaskView, WalkupInvitation,
    };

    use super::*;
    use crate::audit_trail::{append_audit, audit_draft};
    use crate::fault::{Fault, Served};
    use crate::service::Registry;
    use crate::storage;

    fn require_manager(caller: &Caller) -> Served<()> {
        caller.actor.require_use_case(UseCase::Prov).map_err(Fault::Forbidden)?;
        caller
            .actor
            .require(Permission::global(GlobalPermission::ManageProvisioningTasks))
            .map_err(Fault::Forbidden)
    }

    fn view(tx: &mut dyn Tx, task: &ProvisioningTask, now: OffsetDateTime) -> Result<ProvisioningTaskView> {
        let operator = operator_name(tx, task)?;
        let authentication_type = match &task.profile {
            Some(p) => tx.profile_version(p.id, p.version)?.map(|p| p.settings.name),
            None => None,
        };
        let mut users = Vec::with_capacity(task.enrollments.len());
        for e in &task.enrollments {
            let person_name = tx.person(e.person)?.map(|p| p.display_name()).unwrap_or_default();
            users.push(EnrollmentView {
                enrollment: e.id,
                person: e.person,
                person_name,
                email: e.email.clone(),
                status: e.state_at(now),
                stop_date: e.stop_date,
                failed_attempts: e.failed_attempts,
                serial: e.serial.clone(),
            });
        }
        Ok(ProvisioningTaskView {
            id: task.id,
            number: task.number,
            operator,
            emailed_to: task.emailed_to.clone(),
            start_date: task.start_date,
            stop_date: task.stop_date,
            count: u64::try_from(task.count()).unwrap_or(u64::MAX),
            authentication_type,
            removed: task.removed,
            completed: task.is_completed(),
            users,
        })
    }

    impl Registry {
        /// The task list (seed 004: completed and removed tasks are not
        /// shown), or with `report` every task (completed ones are kept for
        /// reporting). Manage provisioning tasks; the report also View audit.
        pub fn provisioning_tasks(&self, caller: &Caller, report: bool) -> Served<ProvisioningTaskList> {
            let audit = caller.actor.require(Permission::global(GlobalPermission::ViewAudit)).is_ok();
            if !(report && audit) {
                require_manager(caller)?;
            }
            let now = self.clock.now();
            Ok(storage::read(self.storage(), |tx| {
                let mut tasks = Vec::new();
                for task in tx.provisioning_tasks()? {
                    if report || task.is_listed() {
                        tasks.push(view(tx, &task, now)?);
                    }
                }
                Ok(ProvisioningTaskList { tasks })
            })?)
        }

        /// One task with every column, by number or id (Manage provisioning tasks).
        pub fn provisioning_task(&self, caller: &Caller, key: &str) -> Served<ProvisioningTaskView> {
            require_manager(caller)?;
            let number = key.parse::<u64>().ok();
            let id = Uuid::parse_str(key).ok().map(TaskId::new);
            if number.is_none() && id.is_none() {
                return Err(Fault::Invalid(format!("{:?} is neither a task number nor a task id", key)));
            }
            let now = self.clock.now();
            let found = storage::read(self.storage(), |tx| {
                let task = match id {
                    Some(id) => tx.provisioning_task(id)?,
                    None => tx.provisioning_tasks()?.into_iter().find(|t| Some(t.number) == number),
                };
                task.map(|t| view(tx, &t, now)).transpose()
            })?;
            found.ok_or_else(|| Fault::NotFound(format!("provisioning task {key} does not exist")))
        }

        /// A person's outstanding tasks (seed 004 "View provisioning tasks
        /// for a user"): any operator with a role, not a kiosk.
        pub fn person_provisioning(&self, caller: &Caller, person: PersonId) -> Served<PersonProvisioning> {
            let held = &caller.actor.permissions;
            if !held.grants_anything() || held.is_kiosk_only() {
                return Err(Fault::Denied(
                    "only an operator with a role sees a person's provisioning tasks".into(),
                ));
            }
            let now = self.clock.now();
            let rows = storage::read(self.storage(), |tx| {
                if tx.person(person)?.is_none() {
                    return Ok(None);
                }
                let mut rows = Vec::new();
                for task in tx.provisioning_tasks()? {
                    if task.removed {
                        continue;
                    }
                    for e in task.enrollments.iter().filter(|e| e.person == person) {
                        if e.state_at(now) != EnrollmentState::Active {
                            continue;
                        }
                        let requester = operator_name(tx, &task)?;
                        let authentication_type = match &task.profile {
                            Some(p) => tx.profile_version(p.id, p.version)?.map(|p| p.settings.name),
                            None => None,
                        };
                        rows.push(PersonProvisioningRow {
                            task: task.number,
                            task_id: task.id,
                            enrollment: e.id,
                            requester,
                            provisioned_to: e.email.clone(),
                            start_date: task.start_date,
                            stop_date: e.stop_date,
                            status: e.state_at(now),
                            authentication_type,
                        });
                    }
                }
                Ok(Some(rows))
            })?;
            match rows {
                Some(tasks) => Ok(PersonProvisioning { tasks }),
                None => Err(Fault::NotFound(format!("person {person} does not exist"))),
            }
        }

        /// Checks a code typed at a kiosk (Walk-up): whom it names, or why
        /// not. A wrong code counts toward the enrollment's lock-out; the
        /// check is audited without the code.
        pub fn check_enrollment_code(
            &self,
            caller: &Caller,
            code: &EnrollmentCode,
        ) -> Served<WalkupInvitation> {
            require_kiosk(&caller.actor).map_err(Fault::Forbidden)?;
            let now = self.clock.now();
            let served = storage::write(self.storage(), |tx| {
                let checked = check_code(tx, caller, self.seal.as_deref(), code.expose(), now)?;
                let (served, object, outcome) = match checked {
                    CodeCheck::Right(task, enrollment) => {
                        let e = task.enrollment(enrollment).map_err(|r| Error::Task(r.to_string()))?;
                        let holder = tx.person(e.person)?;
                        let person_name = holder.as_ref().map(|p| p.display_name()).unwrap_or_default();
                        let policy = tx.settings()?.self_enrollment;
                        let invitation = WalkupInvitation {
                            task: task.id,
                            task_number: task.number,
                            enrollment: e.id,
                            person: e.person,
                            person_name,
                            profile: task.profile.as_ref().map(|p| p.id),
                            profile_version: task.profile.as_ref().map(|p| p.version),
                            holder,
                            credential_profile: match &task.profile {
                                Some(p) => tx.latest_profile(p.id)?,
                                None => None,
                            },
                            stop_date: e.stop_date,
                            serial: e.serial.clone(),
                            walkup_device: match e.walkup_device {
                                Some(d) if tx.device(d)?.is_some_and(|d| !d.state.is_final()) => Some(d),
                                _ => None,
                            },
                            kiosk_idle_timeout_secs: policy.kiosk_idle_timeout_secs,
                        };
                        (Ok(invitation), AuditObject::Enrollment(e.id), AuditOutcome::Success)
                    }
                    CodeCheck::Refused(refusal, changed) => {
                        let object = match &changed {
                            Some(task) => {
                                tx.put_provisioning_task(task)?;
                                AuditObject::Task(task.id)
                            }
                            None => AuditObject::None,
                        };
                        let outcome = AuditOutcome::Refused {
                            code: refusal.code().to_owned(),
                            message: refusal.to_string(),
                        };
                        let fault =
                            Fault::Unprocessable { code: refusal.code(), message: refusal.to_string() };
                        (Err(fault), object, outcome)
                    }
                };
                let mut draft = audit_draft(
                    now,
                    Some(caller.operator),
                    "walkup.check_enrollment_code",
                    object,
                    outcome,
                    None,
                );
                draft.workstation = caller.actor.workstation;
                append_audit(tx, draft)?;
                Ok(served)
            })?;
            served
        }

        /// The body of a queued message, opened only to send it (the mail transport).
        pub fn open_mail_body(&self, mail: &crate::storage::MailRecord) -> Result<Zeroizing<Vec<u8>>> {
            let seal = self.seal.as_deref().ok_or_else(|| Error::Escrow("no key-encryption key".into()))?;
            seal.open_message(mail.id, &mail.body)
        }
    }
}
