//! Deciding operations (SPEC §4, §6): each operation is looked up by its id
//! (a replay gets the first answer), decided by the `domain` machines and
//! rules for the signed-in operator, and only then written: records, change
//! feed entries, the audit event and the answer, all in the caller's one
//! transaction. Deciding reads only; nothing is written before the decision
//! is complete, so a refusal changes no record.

use domain::{
    machines, Actor, AuditObject, AuditOutcome, Capabilities, CardCommand, CardEndState, CardState,
    Certificate, CertificateCommand, CertificateEndState, CertificateState, DeviceId, GlobalPermission,
    IssueRoute, Permission, Person, PersonStatus, ProfilePermission, Refusal, Request, RequestCommand,
    RequestEffect, RequestKind, RequestState, RevocationReason, UseCase,
};
use proto::{
    Answer, CertificateChange, DeviceChange, EscrowKind, Operation, OperationKind, OperationResult, Record,
};
use time::OffsetDateTime;

pub use crate::audit_trail::{append_audit, audit_draft};
pub use crate::caller::Caller;
use crate::decline::{check_name, check_text, not_found, refuse, Decline};
use crate::error::Result;
use crate::escrow::EscrowSeal;
use crate::storage::{NewEscrow, Tx};

/// What an accepted operation writes.
#[derive(Default)]
struct Plan {
    records: Vec<Record>,
    escrow: Option<(DeviceId, EscrowKind, Vec<u8>)>,
    discard_escrow: Option<DeviceId>,
    /// A recorded issuance or update: the card holds its newest escrowed versions.
    escrow_written: Option<DeviceId>,
    access: Option<crate::access::AccessChange>,
    /// A provisioning task, its codes and its outgoing mail.
    provisioning: Option<crate::provisioning::Writes>,
    /// A kiosk's grant on a cardholder's card (UC-WALKUP, UC-UPDATE).
    walkup_grant: Option<crate::walkup_update::GrantWrites>,
    /// Records answered as they are, not written (a kiosk's job needs them).
    shown: Vec<Record>,
}

/// Applies `op` exactly once for `caller` at `now` inside `tx`.
pub fn apply_operation(
    tx: &mut dyn Tx,
    caller: &Caller,
    op: &Operation,
    now: OffsetDateTime,
    seal: Option<&dyn EscrowSeal>,
) -> Result<Answer> {
    if op.op_id.is_nil() {
        // Not recorded: every client's first bug would collide on it.
        return Ok(Answer::Rejected {
            op_id: op.op_id,
            code: "invalid_op_id".into(),
            message: "the operation id is the nil UUID; make a fresh UUIDv7 for each operation".into(),
        });
    }
    let digest = content_digest(&op.op);
    if let Some(applied) = tx.answer_of(op.op_id)? {
        if applied.operator == caller.operator {
            if applied.digest.as_ref().is_some_and(|d| *d != digest) {
                // Not recorded either: the id stays bound to its first operation.
                return Ok(Answer::Rejected {
                    op_id: op.op_id,
                    code: "op_id_reused".into(),
                    message: "this operation id was already used for a different operation".into(),
                });
            }
            return Ok(applied.answer);
        }
        // Not recorded: the id stays bound to its first sender.
        return Ok(Answer::Rejected {
            op_id: op.op_id,
            code: "duplicate_op_id".into(),
            message: "this operation id was already used by another operator".into(),
        });
    }
    let decided = match op.actor {
        Some(actor) if actor != caller.operator => refuse(
            "actor_mismatch",
            "the operation was made by another operator; it must be sent in their session",
        ),
        _ => plan(tx, caller, &op.op, now, seal),
    };
    let (answer, outcome) = match decided {
        Ok(plan) => {
            for record in &plan.records {
                tx.put_record(record)?;
                tx.append_change(now, record)?;
                if let Record::Certificate(certificate) = record {
                    tx.note_certificate_state(certificate, now)?;
                }
            }
            if let Some(device) = plan.discard_escrow {
                tx.discard_escrow(device)?;
            }
            if let Some((device, kind, sealed)) = &plan.escrow {
                tx.put_escrow(&NewEscrow {
                    device: *device,
                    kind: *kind,
                    sealed,
                    stored_by: Some(caller.operator),
                    workstation: caller.actor.workstation,
                    written: false,
                    at: now,
                })?;
            }
            if let Some(device) = plan.escrow_written {
                tx.mark_escrow_written(device)?;
            }
            if let Some(change) = &plan.access {
                change.apply(tx)?;
            }
            if let Some(writes) = &plan.provisioning {
                writes.apply(tx)?;
            }
            if let Some(grant) = &plan.walkup_grant {
                grant.apply(tx)?;
            }
            let mut records = plan.records;
            records.extend(plan.shown);
            let answer = Answer::Accepted { op_id: op.op_id, result: OperationResult { records } };
            (answer, AuditOutcome::Success)
        }
        Err(Decline::Refused { code, message }) => (
            Answer::Rejected { op_id: op.op_id, code: code.clone(), message: message.clone() },
            AuditOutcome::Refused { code, message },
        ),
        Err(Decline::Failed(e)) => return Err(e),
    };
    let mut draft = audit_draft(
        now,
        Some(caller.operator),
        format!("op.{}", op.op.name()),
        object_of(&op.op),
        outcome,
        notes_of(&op.op),
    );
    // The session's workstation, never the one the operation claims.
    draft.workstation = caller.actor.workstation;
    append_audit(tx, draft)?;
    tx.record_answer(op.op_id, caller.operator, &answer, now, &digest)?;
    Ok(answer)
}

/// SHA-256 of an operation's content (its kind and parameters), without
/// an enrollment code: the digest is stored, and a code is kept nowhere.
fn content_digest(op: &OperationKind) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let redacted;
    let op = match op {
        OperationKind::RecordWalkupEnrollment(r) => {
            let code = proto::EnrollmentCode::new("");
            redacted =
                OperationKind::RecordWalkupEnrollment(proto::RecordWalkupEnrollment { code, ..r.clone() });
            &redacted
        }
        OperationKind::StartWalkupCard(r) => {
            let code = proto::EnrollmentCode::new("");
            redacted = OperationKind::StartWalkupCard(proto::StartWalkupCard { code, ..r.clone() });
            &redacted
        }
        other => other,
    };
    Sha256::digest(serde_json::to_vec(op).unwrap_or_default()).to_vec()
}

fn object_of(op: &OperationKind) -> AuditObject {
    match op {
        OperationKind::CreatePerson(p) => AuditObject::Person(p.id),
        OperationKind::CreateProfile(p) => AuditObject::Profile(p.id),
        OperationKind::ReviseProfile(p) => AuditObject::Profile(p.id),
        OperationKind::RequestCard(r) => AuditObject::Request(r.request),
        OperationKind::RequestUpdate(r) => AuditObject::Request(r.request),
        OperationKind::ApproveRequest(r) => AuditObject::Request(r.request),
        OperationKind::RejectRequest(r) => AuditObject::Request(r.request),
        OperationKind::CancelRequest(r) => AuditObject::Request(r.request),
        OperationKind::RecordIssuance(r) => AuditObject::Device(r.device),
        OperationKind::RecordProductionFailure(r) => AuditObject::Device(r.device),
        OperationKind::ChangeDevice(c) => AuditObject::Device(c.device),
        OperationKind::StoreEscrow(e) => AuditObject::Device(e.device),
        OperationKind::ChangeCertificate(c) => AuditObject::Certificate(c.certificate),
        OperationKind::OrderTemporaryCard(o) => AuditObject::Device(o.card),
        OperationKind::ChangeTemporaryCard(c) => AuditObject::Device(c.card),
        OperationKind::RetryIssuance(r) => AuditObject::Device(r.device),
        OperationKind::SaveRole(r) => AuditObject::Role(r.role.id),
        OperationKind::SetOperatorRoles(r) => AuditObject::Operator(r.operator),
        OperationKind::SetUseCases(_) | OperationKind::SetSelfEnrollmentPolicy(_) => AuditObject::None,
        OperationKind::CreateProvisioningTask(c) => AuditObject::Task(c.task),
        OperationKind::EditProvisioningTask(e) => AuditObject::Task(e.task),
        OperationKind::RemoveProvisioningTask(r) => AuditObject::Task(r.task),
        OperationKind::ResendEnrollment(r) => AuditObject::Enrollment(r.enrollment),
        OperationKind::StartWalkupCard(r) => AuditObject::Enrollment(r.enrollment),
        OperationKind::RecordWalkupEnrollment(r) => AuditObject::Enrollment(r.enrollment),
        OperationKind::RecordWalkupAuthentication(r) => AuditObject::Enrollment(r.enrollment),
        OperationKind::StartWalkupUpdate(r) => AuditObject::Device(r.device),
    }
}

fn notes_of(op: &OperationKind) -> Option<String> {
    match op {
        OperationKind::RequestCard(r) => r.notes.clone(),
        OperationKind::RequestUpdate(r) => r.notes.clone(),
        OperationKind::ApproveRequest(r) => r.notes.clone(),
        OperationKind::RejectRequest(r) => r.notes.clone(),
        OperationKind::CancelRequest(r) => r.notes.clone(),
        OperationKind::RecordProductionFailure(r) => Some(r.message.clone()),
        OperationKind::ChangeDevice(c) => c.notes.clone(),
        OperationKind::ChangeCertificate(c) => c.notes.clone(),
        // The command (assign to whom, withdraw why, …) goes into the audit record.
        OperationKind::ChangeTemporaryCard(c) => {
            let command = serde_json::to_string(&c.command).unwrap_or_else(|_| c.command.name().to_owned());
            Some(match &c.notes {
                Some(notes) => format!("{command}: {notes}"),
                None => command,
            })
        }
        OperationKind::SaveRole(r) => Some(crate::access::role_note(&r.role)),
        OperationKind::SetOperatorRoles(r) => Some(format!(
            "roles: {}",
            r.roles
                .iter()
                .take(crate::access::MAX_ROLES_PER_OPERATOR)
                .map(|id| id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        OperationKind::SetUseCases(u) => Some(format!(
            "on: {}; approval step {}",
            u.enabled.iter().map(|c| c.spec_id()).collect::<Vec<_>>().join(", "),
            if u.approval_step { "on" } else { "off" }
        )),
        // Who and what, never a code; an alternate address is noted as
        // used (it is kept nowhere else).
        OperationKind::CreateProvisioningTask(c) => Some(format!(
            "{} users: {}",
            c.invitees.len(),
            c.invitees.iter().take(50).map(|i| i.person.to_string()).collect::<Vec<_>>().join(", ")
        )),
        OperationKind::EditProvisioningTask(e) => Some(format!(
            "removed: {}{}; stop date: {}",
            e.remove.iter().take(50).map(|id| id.to_string()).collect::<Vec<_>>().join(", "),
            if e.notify_removed { " (notified)" } else { "" },
            e.stop_date.map_or_else(|| "unchanged".to_owned(), |d| d.to_string())
        )),
        OperationKind::ResendEnrollment(r) => Some(
            if r.alternate_email.is_some() { "to an alternate address" } else { "to their address" }.into(),
        ),
        OperationKind::StartWalkupCard(r) => Some(format!("device {}", r.device)),
        OperationKind::SetSelfEnrollmentPolicy(p) => Some(format!(
            "enrollment period {} days, {} wrong codes allowed, kiosk idle timeout {} s",
            p.period_days, p.max_attempts, p.kiosk_idle_timeout_secs
        )),
        OperationKind::RecordWalkupEnrollment(r) => Some(format!("device {}", r.device)),
        OperationKind::StartWalkupUpdate(r) => Some(format!("cardholder proved for request {}", r.request)),
        _ => None,
    }
}

/// The card a card job's operation acts on, for the walk-up actor.
fn walkup_device(op: &OperationKind) -> Option<DeviceId> {
    match op {
        OperationKind::StoreEscrow(e) => Some(e.device),
        OperationKind::RecordIssuance(r) => Some(r.device),
        OperationKind::RecordProductionFailure(r) => Some(r.device),
        _ => None,
    }
}

fn plan(
    tx: &mut dyn Tx,
    caller: &Caller,
    op: &OperationKind,
    now: OffsetDateTime,
    seal: Option<&dyn EscrowSeal>,
) -> Result<Plan, Decline> {
    if let Some(notes) = notes_of(op) {
        check_text("notes", &notes, false)?;
    }
    // A kiosk acts as the cardholder on the card it started for them (UC-WALKUP).
    let walkup = match walkup_device(op) {
        Some(device) => crate::provisioning::walkup_actor(tx, caller, device, now)?,
        None => None,
    };
    let actor = walkup.as_ref().unwrap_or(&caller.actor);
    let mut plan = Plan::default();
    match op {
        OperationKind::CreatePerson(p) => {
            actor.require(Permission::global(GlobalPermission::Administer))?;
            check_text("given_name", &p.given_name, false)?;
            check_text("family_name", &p.family_name, true)?;
            check_name("given_name", &p.given_name)?;
            check_name("family_name", &p.family_name)?;
            if let Some(email) = &p.email {
                check_text("email", email, true)?;
                domain::rules::check_email(email)?;
            }
            if let Some(employee_id) = &p.employee_id {
                check_text("employee_id", employee_id, true)?;
            }
            if tx.person(p.id)?.is_some() {
                return refuse("already_exists", format!("person {} already exists", p.id));
            }
            plan.records.push(Record::Person(Person {
                id: p.id,
                given_name: p.given_name.clone(),
                family_name: p.family_name.clone(),
                email: p.email.clone(),
                employee_id: p.employee_id.clone(),
                photo: None,
                status: PersonStatus::Active,
            }));
        }
        OperationKind::CreateProfile(p) => {
            actor.require_use_case(UseCase::Admin)?;
            actor.require(Permission::global(GlobalPermission::Administer))?;
            if tx.latest_profile(p.id)?.is_some() {
                return refuse("already_exists", format!("credential profile {} already exists", p.id));
            }
            let profile = domain::CredentialProfile::create(p.id, p.settings.clone())
                .or_else(|e| refuse("invalid_profile", e.to_string()))?;
            plan.records.push(Record::Profile(profile));
        }
        OperationKind::ReviseProfile(p) => {
            actor.require_use_case(UseCase::Admin)?;
            actor.require(Permission::global(GlobalPermission::Administer))?;
            let Some(latest) = tx.latest_profile(p.id)? else {
                return not_found("credential profile", p.id);
            };
            if latest.version != p.expected_version {
                return refuse(
                    "version_conflict",
                    format!(
                        "credential profile {} is at version {}, not {}: reload and edit again",
                        p.id, latest.version, p.expected_version
                    ),
                );
            }
            let revised =
                latest.revise(p.settings.clone()).or_else(|e| refuse("invalid_profile", e.to_string()))?;
            plan.records.push(Record::Profile(revised));
        }
        OperationKind::SaveRole(r) => plan.access = Some(crate::access::save_role(tx, actor, r)?),
        OperationKind::SetOperatorRoles(r) => {
            plan.access = Some(crate::access::set_operator_roles(tx, actor, r)?);
        }
        OperationKind::SetUseCases(u) => plan.access = Some(crate::access::set_use_cases(tx, actor, u)?),
        OperationKind::SetSelfEnrollmentPolicy(p) => {
            plan.access = Some(crate::access::set_self_enrollment_policy(tx, actor, p)?);
        }
        OperationKind::CreateProvisioningTask(c) => {
            plan.provisioning = Some(crate::provisioning::create(tx, actor, c, now, seal)?);
        }
        OperationKind::EditProvisioningTask(e) => {
            plan.provisioning = Some(crate::provisioning::edit(tx, actor, e, now, seal)?);
        }
        OperationKind::RemoveProvisioningTask(r) => {
            plan.provisioning = Some(crate::provisioning::remove(tx, actor, r, now, seal)?);
        }
        OperationKind::ResendEnrollment(r) => {
            plan.provisioning = Some(crate::provisioning::resend(tx, actor, r, now, seal)?);
        }
        OperationKind::StartWalkupCard(r) => {
            let (writes, records) = crate::provisioning::start_card(tx, caller, r, now, seal)?;
            plan.provisioning = Some(writes);
            plan.records = records;
        }
        OperationKind::RecordWalkupEnrollment(r) => {
            plan.provisioning = Some(crate::provisioning::record_enrollment(tx, caller, r, now, seal)?);
        }
        OperationKind::RecordWalkupAuthentication(r) => {
            plan.provisioning = Some(crate::provisioning::record_authentication(tx, caller, r, now)?);
        }
        OperationKind::StartWalkupUpdate(r) => {
            let (grant, shown) = crate::walkup_update::start(tx, caller, r, now)?;
            plan.walkup_grant = Some(grant);
            plan.shown = shown;
        }
        OperationKind::RequestCard(r) => {
            if let Some(notes) = &r.notes {
                check_text("notes", notes, false)?;
            }
            if let Some(reason) = &r.reason {
                check_text("reason", reason, false)?;
            }
            let Some(profile) = tx.latest_profile(r.profile)? else {
                return not_found("credential profile", r.profile);
            };
            let Some(person) = tx.person(r.person)? else {
                return not_found("person", r.person);
            };
            let settings = tx.settings()?;
            let request_plan = match r.route {
                None => domain::rules::plan_card_request(&profile, person.id, actor, settings.approval_step)?,
                // "Issue card" (seed 002): no approval step, the issuing
                // operator starts the card approved and encodes it at once.
                Some(IssueRoute::Direct) => {
                    domain::rules::check_direct_issue(&profile, person.id, actor)?;
                    if settings.approval_step {
                        return Err(Refusal::ApprovalRequired { profile: profile.id }.into());
                    }
                    domain::rules::CardRequestPlan {
                        card_state: CardState::Approved,
                        request_state: RequestState::Approved,
                        needs_approval: false,
                        profile: profile.reference(),
                    }
                }
                Some(other) => {
                    return refuse(
                        "invalid",
                        format!("a card request's route is direct or absent, not {other:?}"),
                    )
                }
            };
            if person.status != PersonStatus::Active {
                return refuse(
                    "person_inactive",
                    format!("{} is not an active person", person.display_name()),
                );
            }
            if tx.device(r.device)?.is_some() {
                return refuse("already_exists", format!("device {} already exists", r.device));
            }
            if tx.request(r.request)?.is_some() {
                return refuse("already_exists", format!("request {} already exists", r.request));
            }
            let device = domain::Device::requested(
                r.device,
                person.id,
                request_plan.profile,
                request_plan.card_state,
                caller.person,
            );
            let request = Request {
                id: r.request,
                kind: RequestKind::Issue,
                state: request_plan.request_state,
                device: Some(r.device),
                person: Some(person.id),
                profile: profile.id,
                requester: caller.person,
                // A direct issue is decided by the operator who issues it.
                approver: (r.route == Some(IssueRoute::Direct)).then_some(caller.person),
                reason: r.reason.clone(),
                notes: r.notes.clone(),
                created_at: now,
                updated_at: now,
            };
            plan.records.push(Record::Device(device));
            plan.records.push(Record::Request(request));
        }
        OperationKind::RequestUpdate(r) => {
            let Some(device) = tx.device(r.device)? else {
                return not_found("device", r.device);
            };
            let Some(target) = tx.latest_profile(r.profile)? else {
                return not_found("credential profile", r.profile);
            };
            if tx.request(r.request)?.is_some() {
                return refuse("already_exists", format!("request {} already exists", r.request));
            }
            let existing = tx.requests_of(device.id)?;
            let update = domain::rules::plan_update(&device, &target, r.reason, actor, &existing)?;
            for id in &update.supersedes {
                let Some(old) = existing.iter().find(|e| e.id == *id) else { continue };
                let outcome =
                    machines::request::apply(old, &RequestCommand::Supersede { by: r.request }, actor, now)?;
                let mut old = old.clone();
                old.state = outcome.to;
                old.updated_at = now;
                plan.records.push(Record::Request(old));
            }
            plan.records.push(Record::Request(Request {
                id: r.request,
                kind: update.kind,
                state: update.request_state,
                device: Some(device.id),
                person: device.owner,
                profile: target.id,
                requester: caller.person,
                approver: None,
                reason: Some(format!("{:?}", r.reason)),
                notes: r.notes.clone(),
                created_at: now,
                updated_at: now,
            }));
        }
        OperationKind::ApproveRequest(r) => {
            decide_request(tx, actor, r.request, RequestCommand::Approve, now, &mut plan)?;
        }
        OperationKind::RejectRequest(r) => {
            decide_request(tx, actor, r.request, RequestCommand::Reject, now, &mut plan)?;
        }
        OperationKind::CancelRequest(r) => {
            decide_request(tx, actor, r.request, RequestCommand::Cancel, now, &mut plan)?;
        }
        OperationKind::RecordIssuance(i) => record_issuance(tx, actor, i, now, &mut plan)?,
        OperationKind::RecordProductionFailure(f) => {
            check_text("message", &f.message, false)?;
            let Some(mut device) = tx.device(f.device)? else {
                return not_found("device", f.device);
            };
            let request = match f.request {
                Some(id) => Some(request_of_device(tx, id, device.id)?),
                None => None,
            };
            let outcome =
                machines::card::apply(&device, &CardCommand::FailProduction { route: f.route }, actor, now)?;
            device.state = outcome.to;
            // Certificates issued for the failed job never reached a card: revoked.
            let pending = pending_certificates(&device, tx.certificates_of(device.id)?);
            plan.records.push(Record::Device(device));
            revoke_pending(pending, &mut plan);
            if let Some(mut request) = request {
                if request.state == RequestState::Approved {
                    request.state = follow_card(&request, &RequestCommand::Fail, f.route, actor, now)?;
                    request.updated_at = now;
                    plan.records.push(Record::Request(request));
                }
            }
        }
        OperationKind::RetryIssuance(r) => retry_issuance(tx, actor, r, now, &mut plan)?,
        OperationKind::ChangeDevice(c) => {
            let Some(mut device) = tx.device(c.device)? else {
                return not_found("device", c.device);
            };
            let command = match c.change {
                DeviceChange::Activate => CardCommand::Activate,
                DeviceChange::Deactivate => CardCommand::Deactivate,
                DeviceChange::Reactivate => CardCommand::Reactivate,
                DeviceChange::Cancel { reason } => CardCommand::Cancel { reason },
                DeviceChange::Erase => CardCommand::Erase,
            };
            let outcome = machines::card::apply(&device, &command, actor, now)?;
            device.state = outcome.to;
            // Certificates issued for a job not yet recorded on the card
            // (pending) stay on hold whatever the card does, and are revoked
            // with it (or when it goes back to stock).
            let mut certificates = tx.certificates_of(device.id)?;
            for effect in &outcome.effects {
                if matches!(effect, domain::CardEffect::ReturnToStock) {
                    plan.discard_escrow = Some(device.id);
                    continue;
                }
                let revoking = matches!(effect, domain::CardEffect::RevokeCertificates { .. });
                for cert in &mut certificates {
                    if !revoking && !device.certificates.contains(&cert.id) {
                        continue;
                    }
                    if let Some(state) = machines::certificate::follow_card(cert.state, *effect) {
                        cert.state = state;
                        plan.records.push(Record::Certificate(cert.clone()));
                    }
                }
            }
            let returned = outcome.effects.iter().any(|e| matches!(e, domain::CardEffect::ReturnToStock));
            let pending = if returned { pending_certificates(&device, certificates) } else { Vec::new() };
            plan.records.insert(0, Record::Device(device));
            revoke_pending(pending, &mut plan);
        }
        OperationKind::ChangeCertificate(c) => {
            let Some(mut certificate) = tx.certificate(c.certificate)? else {
                return not_found("certificate", c.certificate);
            };
            let Some(device) = tx.device(certificate.device)? else {
                return not_found("device", certificate.device);
            };
            let command = match c.change {
                CertificateChange::Hold => CertificateCommand::Hold,
                CertificateChange::Release => CertificateCommand::Release,
                CertificateChange::Revoke { reason } => CertificateCommand::Revoke { reason },
            };
            let outcome = machines::certificate::apply(&certificate, device.owner, command, actor, now)?;
            if command == CertificateCommand::Release {
                if !device.certificates.contains(&certificate.id) {
                    return refuse(
                        "state_not_allowed",
                        format!(
                            "certificate {} is not recorded on its card yet: it stays on hold until the card is",
                            certificate.id
                        ),
                    );
                }
                if !matches!(device.state, CardState::Issued | CardState::Active) {
                    return refuse(
                        "state_not_allowed",
                        format!(
                            "device {} is {}: its certificates stay on hold",
                            device.id,
                            device.state.name()
                        ),
                    );
                }
            }
            certificate.state = outcome.to;
            plan.records.push(Record::Certificate(certificate));
        }
        OperationKind::OrderTemporaryCard(o) => crate::temporary::order(tx, actor, o, &mut plan.records)?,
        OperationKind::ChangeTemporaryCard(c) => {
            crate::temporary::change(tx, actor, c, now, &mut plan.records)?;
        }
        OperationKind::StoreEscrow(e) => {
            match tx.device(e.device)? {
                Some(device) => check_escrow_store(tx, actor, &device)?,
                // A temporary card's secrets, escrowed before initialization writes it.
                None => {
                    crate::temporary::check_escrow(tx, actor, e.device)?;
                }
            }
            plan.escrow = Some((e.device, e.secret_kind, sealed_secret(e, seal)?));
        }
    }
    Ok(plan)
}

/// The secret of `store`, checked (hex, 1 to 64 bytes) and sealed.
fn sealed_secret(store: &proto::StoreEscrow, seal: Option<&dyn EscrowSeal>) -> Result<Vec<u8>, Decline> {
    let secret = store.secret.to_bytes().or_else(|_| refuse("invalid", "the secret is not hexadecimal"))?;
    if secret.is_empty() || secret.len() > 64 {
        return refuse("invalid", "the secret must be 1 to 64 bytes");
    }
    let Some(seal) = seal else {
        return refuse("unsupported", "this registry has no escrow key configured");
    };
    Ok(seal.seal(store.device, store.secret_kind, &secret)?)
}

/// Whether `actor` may escrow a new secret for `device`: only inside a job
/// that generates one (issue 16). An issue job (a card approved or failed in
/// production, Can Collect on its profile) or the collect job of an approved
/// update or reprovision request; never on one's own card, never silently
/// over the secrets of a card in service (a store adds a version; the card's
/// current one stays until a recorded issuance or update writes the new one).
fn check_escrow_store(tx: &mut dyn Tx, actor: &Actor, device: &domain::Device) -> Result<(), Decline> {
    if matches!(device.state, CardState::Approved | CardState::ProductionFailed) {
        domain::rules::may_collect(actor, device)?;
        return Ok(());
    }
    // A kiosk acts as the cardholder only on their own card, with a grant
    // for its approved update (crate::walkup_update).
    let walkup = matches!(actor.kind, domain::ActorKind::Cardholder { .. });
    if walkup {
        domain::rules::walkup_cardholder(actor, device.owner)?;
    } else {
        domain::rules::not_own_device(actor, device.id, device.owner)?;
    }
    if device.state.is_issued() {
        actor.require_use_case(domain::UseCase::Update)?;
        let requests = tx.requests_of(device.id)?;
        let collectable = requests.iter().any(|r| {
            matches!(r.kind, domain::RequestKind::Update | domain::RequestKind::Reprovision)
                && r.state == domain::RequestState::Approved
                && (walkup || actor.require(Permission::on(ProfilePermission::CanCollect, r.profile)).is_ok())
        });
        if collectable {
            return Ok(());
        }
    }
    refuse(
        "state_not_allowed",
        format!(
            "device {} is {} and no issue or collect job of yours needs new secrets for it: the escrowed ones stay",
            device.id,
            device.state.name()
        ),
    )
}

/// Certificates issued for `device` that no recorded issuance has put on
/// the card yet, and that are still on hold.
fn pending_certificates(device: &domain::Device, certificates: Vec<Certificate>) -> Vec<Certificate> {
    certificates
        .into_iter()
        .filter(|c| !device.certificates.contains(&c.id) && c.state == CertificateState::OnHold)
        .collect()
}

fn revoke_pending(pending: Vec<Certificate>, plan: &mut Plan) {
    for cert in pending {
        let reason = RevocationReason::CessationOfOperation;
        plan.records
            .push(Record::Certificate(Certificate { state: CertificateState::Revoked { reason }, ..cert }));
    }
}

/// The state a card job's request moves to when the job completes or
/// fails. The request of a direct issue follows its card: the card machine
/// has just checked the issuing use case and the operator, and "Request
/// card" (the use case of ordinary issue requests) may be off. A direct
/// request is the only one its requester decided (an approver never may).
fn follow_card(
    request: &Request,
    command: &RequestCommand,
    route: IssueRoute,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<RequestState, Decline> {
    let direct = route == IssueRoute::Direct || request.approver == Some(request.requester);
    if direct && request.kind == RequestKind::Issue {
        return Ok(machines::request::next_state(request.state, command)?);
    }
    Ok(machines::request::apply(request, command, actor, now)?.to)
}

fn request_of_device(tx: &mut dyn Tx, id: domain::RequestId, device: DeviceId) -> Result<Request, Decline> {
    let Some(request) = tx.request(id)? else {
        return not_found("request", id);
    };
    if request.device != Some(device) {
        return refuse("invalid", format!("request {id} is not for device {device}"));
    }
    Ok(request)
}

/// Approve, reject or cancel a request; an issue request's card follows.
fn decide_request(
    tx: &mut dyn Tx,
    actor: &Actor,
    id: domain::RequestId,
    command: RequestCommand,
    now: OffsetDateTime,
    plan: &mut Plan,
) -> Result<(), Decline> {
    let Some(mut request) = tx.request(id)? else {
        return not_found("request", id);
    };
    let outcome = machines::request::apply(&request, &command, actor, now)?;
    request.state = outcome.to;
    request.updated_at = now;
    for effect in &outcome.effects {
        let RequestEffect::Decided { by } = effect;
        request.approver = Some(*by);
    }
    let device = match (request.kind, request.device) {
        (RequestKind::Issue, Some(device)) => tx.device(device)?,
        _ => None,
    };
    plan.records.push(Record::Request(request));
    if let Some(mut device) = device.filter(|d| d.state == CardState::Requested) {
        device.state = match command {
            RequestCommand::Approve => machines::card::apply(&device, &CardCommand::Approve, actor, now)?.to,
            RequestCommand::Reject => machines::card::apply(&device, &CardCommand::Reject, actor, now)?.to,
            // The request decision above already checked who may cancel: the
            // requester aborts the card, anyone else who may cancel rejects it.
            _ => {
                let is_requester = actor.person().is_some() && actor.person() == device.requested_by;
                let card = if is_requester { CardCommand::Abort } else { CardCommand::Reject };
                machines::card::next_state(device.state, &card)?
            }
        };
        plan.records.push(Record::Device(device));
    }
    Ok(())
}

/// The registry-issued certificate `named` refers to, if it is one issued
/// for `device`, with the same serial, not yet on the card and still on hold.
fn issued_here(
    tx: &mut dyn Tx,
    device: &domain::Device,
    named: &proto::IssuedCertificate,
) -> Result<Option<Certificate>, Decline> {
    let Some(existing) = tx.certificate(named.id)? else { return Ok(None) };
    let pending = existing.device == device.id
        && existing.serial == named.serial
        && existing.state == CertificateState::OnHold
        && !device.certificates.contains(&existing.id)
        && tx.ca_certificate(existing.id)?.is_some();
    Ok(pending.then_some(existing))
}

/// A card whose production failed is approved again for another attempt
/// (SPEC §4: `production failed` is retryable), its failed request with it.
fn retry_issuance(
    tx: &mut dyn Tx,
    actor: &Actor,
    retry: &proto::RetryIssuance,
    now: OffsetDateTime,
    plan: &mut Plan,
) -> Result<(), Decline> {
    let Some(mut device) = tx.device(retry.device)? else {
        return not_found("device", retry.device);
    };
    let request = match retry.request {
        Some(id) => Some(request_of_device(tx, id, device.id)?),
        None => None,
    };
    device.state = machines::card::apply(&device, &CardCommand::Retry { route: retry.route }, actor, now)?.to;
    plan.records.push(Record::Device(device));
    if let Some(mut request) = request {
        if request.state == RequestState::Failed {
            request.state = follow_card(&request, &RequestCommand::Retry, retry.route, actor, now)?;
            request.updated_at = now;
            plan.records.push(Record::Request(request));
        }
    }
    Ok(())
}

fn record_issuance(
    tx: &mut dyn Tx,
    actor: &Actor,
    issuance: &proto::RecordIssuance,
    now: OffsetDateTime,
    plan: &mut Plan,
) -> Result<(), Decline> {
    let Some(mut device) = tx.device(issuance.device)? else {
        return not_found("device", issuance.device);
    };
    let request = match issuance.request {
        Some(id) => Some(request_of_device(tx, id, device.id)?),
        None => None,
    };
    let Some(profile) = tx.latest_profile(device.profile.id)? else {
        return not_found("credential profile", device.profile.id);
    };
    let facts = &issuance.card;
    if let Some(serial) = &facts.serial {
        check_text("serial", serial, true)?;
    }
    let atr = match &facts.atr {
        Some(atr) if atr.len() <= 66 => {
            Some(hex::decode(atr).or_else(|_| refuse("invalid", "the ATR is not hexadecimal"))?)
        }
        Some(_) => return refuse("invalid", "the ATR is longer than 33 bytes"),
        None => None,
    };
    if issuance.certificates.len() > 4 {
        return refuse("invalid", "a PIV card holds at most 4 certificates here");
    }
    // End states other than the profile's are a batch option (UC-BATCH, seed 003) only.
    let overridden = issuance.card_end_state.is_some() || issuance.certificate_end_state.is_some();
    if overridden && issuance.route != IssueRoute::Batch {
        return refuse("invalid", "card and certificate end states can be chosen only for a batch");
    }
    // Certificates named must be of the profile's slots (a batch may issue a subset).
    if let Some(c) = issuance.certificates.iter().find(|c| profile.settings.slot(c.slot).is_none()) {
        return refuse(
            "invalid",
            format!("credential profile {:?} has no {:?} slot", profile.settings.name, c.slot),
        );
    }
    let updating =
        request.as_ref().is_some_and(|r| matches!(r.kind, RequestKind::Update | RequestKind::Reprovision));
    let (cert_state, old_certificates) = if updating {
        // Collecting an update (UC-UPDATE): the card stays in its state and
        // moves to the request's profile, at its latest version.
        let Some(request) = &request else { return refuse("invalid", "no request") };
        let Some(target) = tx.latest_profile(request.profile)? else {
            return not_found("credential profile", request.profile);
        };
        if !device.state.is_issued() {
            return Err(Refusal::StateNotAllowed {
                from: domain::AnyState::Card(device.state),
                command: "collect_update".into(),
            }
            .into());
        }
        device.profile = target.reference();
        let state = match target.settings.certificate_end_state {
            CertificateEndState::OnHold => CertificateState::OnHold,
            CertificateEndState::Valid => CertificateState::Valid,
        };
        // The card's certificates the issuance no longer names were replaced
        // (every one for a reprovision; the slots re-keyed by an update):
        // their keys are gone from the card, so they are superseded.
        let named: Vec<_> = issuance.certificates.iter().map(|c| c.id).collect();
        let old = tx
            .certificates_of(device.id)?
            .into_iter()
            .filter(|c| device.certificates.contains(&c.id) && !named.contains(&c.id))
            .collect();
        (state, old)
    } else {
        let (end_state, certificate_end_state): (CardEndState, CertificateEndState) = (
            issuance.card_end_state.unwrap_or(profile.settings.card_end_state),
            issuance.certificate_end_state.unwrap_or(profile.settings.certificate_end_state),
        );
        let command = CardCommand::Issue { route: issuance.route, end_state, certificate_end_state };
        let outcome = machines::card::apply(&device, &command, actor, now)?;
        device.state = outcome.to;
        let state = match certificate_end_state {
            CertificateEndState::OnHold => CertificateState::OnHold,
            CertificateEndState::Valid => CertificateState::Valid,
        };
        (state, Vec::new())
    };
    if let Some(mut request) = request {
        request.state = follow_card(&request, &RequestCommand::Complete, issuance.route, actor, now)?;
        request.updated_at = now;
        plan.records.push(Record::Request(request));
    }
    plan.escrow_written = Some(device.id);
    device.serial = facts.serial.clone().or(device.serial);
    device.atr = atr.or(device.atr);
    device.capabilities = Some(Capabilities { contact: facts.contact, contactless: facts.contactless });
    device.expires_at = issuance.expires_at.or(device.expires_at);
    for old in old_certificates {
        if let Some(state) = machines::certificate::follow_card(
            old.state,
            domain::CardEffect::RevokeCertificates { reason: RevocationReason::Superseded },
        ) {
            plan.records.push(Record::Certificate(Certificate { state, ..old }));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut seen_ids = std::collections::BTreeSet::new();
    let mut new_certificates = Vec::new();
    for c in &issuance.certificates {
        check_text("certificate serial", &c.serial, true)?;
        check_text("certificate subject", &c.subject, true)?;
        if updating && device.certificates.contains(&c.id) {
            // Collecting an update: a certificate the card already held and keeps.
            let kept = tx
                .certificate(c.id)?
                .filter(|k| k.serial == c.serial && !matches!(k.state, CertificateState::Revoked { .. }));
            if kept.is_none() || !seen_ids.insert(c.id) {
                return refuse("invalid", format!("certificate {} is not one the card keeps", c.id));
            }
            continue;
        }
        if let Some(issued) = issued_here(tx, &device, c)? {
            // Issued by the registry's CA for this card: the card now holds it.
            if !seen.insert(c.serial.clone()) || !seen_ids.insert(c.id) {
                return refuse("already_exists", format!("certificate {} is named twice", c.id));
            }
            device.certificates.push(c.id);
            new_certificates.push(Record::Certificate(Certificate { state: cert_state, ..issued }));
            continue;
        }
        if !seen.insert(c.serial.clone()) || tx.certificate_serial_taken(&c.serial)? {
            return refuse(
                "already_exists",
                format!("a certificate with serial {} already exists", c.serial),
            );
        }
        if !seen_ids.insert(c.id) || tx.certificate(c.id)?.is_some() {
            return refuse("already_exists", format!("certificate {} already exists", c.id));
        }
        if c.not_after <= c.not_before {
            return refuse("invalid", format!("certificate {} ends before it starts", c.serial));
        }
        device.certificates.push(c.id);
        new_certificates.push(Record::Certificate(Certificate {
            id: c.id,
            serial: c.serial.clone(),
            slot: c.slot,
            subject: c.subject.clone(),
            not_before: c.not_before,
            not_after: c.not_after,
            state: cert_state,
            device: device.id,
        }));
    }
    // Certificates the CA issued for this card that the issuance does not
    // name never reached it (an earlier attempt, a torn job): their keys are
    // on no card, so they are revoked here rather than left for an operator
    // who may not hold Cancel/Revoke.
    let planned: Vec<_> = plan
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Certificate(c) => Some(c.id),
            _ => None,
        })
        .collect();
    let mut pending = Vec::new();
    for cert in pending_certificates(&device, tx.certificates_of(device.id)?) {
        if !planned.contains(&cert.id) && tx.ca_certificate(cert.id)?.is_some() {
            pending.push(cert);
        }
    }
    // The device first: certificates reference it.
    plan.records.insert(0, Record::Device(device));
    plan.records.extend(new_certificates);
    revoke_pending(pending, plan);
    Ok(())
}
