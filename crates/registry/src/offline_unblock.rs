//! The helpdesk's side of the offline PIN unblock (UC-PIN; the protocol is
//! described in `piv::offline_unblock`): an operator with Unblock PIN
//! submits the challenge code the cardholder read out, with a note of how
//! the cardholder was identified, and gets the response code to read back.
//!
//! The escrowed PUK moves with the answer, in the same transaction:
//!
//! * no answer in the last [`ROTATION_WINDOW`]: a new random PUK becomes
//!   the escrowed one, the card's current PUK is kept (sealed) in
//!   `offline_unblocks`, and the response tells the card to change to the
//!   new one. A completed unblock leaves card and escrow agreeing, with the
//!   PUK that travelled (masked) replaced.
//! * an answer in the window (a completion was torn, or the code was
//!   mistyped on the card's side and a new challenge read): the target is
//!   the PUK already escrowed, and the response names both PUKs the card
//!   can hold: the escrowed one and the one it replaced. The cardholder's
//!   tool tries them in that order; the wrong one costs one PUK try, which
//!   the right one restores.
//!
//! Every answer is audited with the operator, the workstation and the
//! identity-check note.

use domain::{AuditObject, AuditOutcome, DeviceId};
use piv::offline_unblock::{self, Challenge, CodeError, PukPlan};
use piv::{ManagementKey, Puk};
use proto::{EscrowKind, OfflineUnblockChallenge, OfflineUnblockResponse};
use time::Duration;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::audit_trail::{append_audit, audit_draft};
use crate::fault::{Fault, Served};
use crate::service::Registry;
use crate::storage::{self, OfflineUnblockRecord};
use crate::Caller;

/// How long after an answer that moved the PUK a new answer for the same
/// card keeps the same target PUK (and offers the replaced one too).
pub const ROTATION_WINDOW: Duration = Duration::hours(24);

fn unprocessable(code: &'static str, e: impl std::fmt::Display) -> Fault {
    Fault::Unprocessable { code, message: e.to_string() }
}

fn code_fault(e: CodeError) -> Fault {
    match e {
        CodeError::OtherCard(_) => unprocessable("challenge_mismatch", e),
        CodeError::PukNotNumeric => unprocessable("unsupported", e),
        other => unprocessable("bad_code", other),
    }
}

fn puk_of(bytes: &[u8]) -> Result<Puk, crate::Error> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| crate::Error::Escrow("the escrowed PUK is not text".into()))?;
    Puk::new(text).map_err(|e| crate::Error::Escrow(format!("the escrowed PUK: {e}")))
}

impl Registry {
    /// Answers an offline unblock challenge for `device` (Unblock PIN, the
    /// PIN use case on, not the caller's own card). Audited.
    pub fn offline_unblock(
        &self,
        caller: &Caller,
        device: DeviceId,
        request: &OfflineUnblockChallenge,
    ) -> Served<OfflineUnblockResponse> {
        let note = request.identity_check.trim();
        if note.is_empty() {
            return Err(Fault::Invalid(
                "say how the cardholder's identity was checked (identity_check)".into(),
            ));
        }
        if note.len() > proto::MAX_IDENTITY_CHECK {
            return Err(Fault::Invalid(format!(
                "identity_check is longer than {} bytes",
                proto::MAX_IDENTITY_CHECK
            )));
        }
        if request.challenge.len() > 200 {
            return Err(Fault::Invalid("the challenge code is too long".into()));
        }
        let Some(seal) = self.seal.clone() else {
            return Err(Fault::NotFound("this registry has no escrow key configured".into()));
        };
        let now = self.clock.now();
        let actor = caller.actor.clone();
        let outcome = storage::write(self.storage(), |tx| {
            let Some(record) = tx.device(device)? else {
                return Ok(Err(Fault::NotFound(format!("device {device} does not exist"))));
            };
            if let Err(refusal) = domain::rules::check_pin_unblock(&record, &actor) {
                return Ok(Err(Fault::Forbidden(refusal)));
            }
            let challenge = match Challenge::parse(&request.challenge) {
                Ok(c) => c,
                Err(e) => return Ok(Err(code_fault(e))),
            };
            let id_bytes = *device.uuid().as_bytes();
            if let Err(e) = challenge.check_device(&id_bytes) {
                return Ok(Err(code_fault(e)));
            }
            let (Some(sealed_key), Some(sealed_puk)) = (
                crate::escrow::current_sealed(tx, device, EscrowKind::ManagementKey)?,
                crate::escrow::current_sealed(tx, device, EscrowKind::Puk)?,
            ) else {
                return Ok(Err(Fault::NotFound(format!(
                    "device {device} has no escrowed management key and PUK"
                ))));
            };
            let key_bytes = seal.open(device, EscrowKind::ManagementKey, &sealed_key)?;
            let key = match ManagementKey::new(challenge.algorithm, &key_bytes) {
                Ok(k) => k,
                Err(_) => {
                    return Ok(Err(unprocessable(
                        "challenge_mismatch",
                        "the challenge names another management key algorithm than this card's",
                    )))
                }
            };
            let current = puk_of(&seal.open(device, EscrowKind::Puk, &sealed_puk)?)?;
            let latest = tx.latest_offline_unblock(device)?;
            let previous = match &latest {
                Some(row) => Some(puk_of(&seal.open(device, EscrowKind::Puk, &row.previous_puk)?)?),
                None => None,
            };
            let recent = latest.as_ref().is_some_and(|row| now - row.created_at < ROTATION_WINDOW);
            let length = current.expose_secret().len();
            let (next, previous) = if recent {
                (current.clone(), previous.filter(|p| p != &current))
            } else {
                let next = Puk::random(length.clamp(6, 8), &mut rand::rngs::OsRng)
                    .map_err(|e| crate::Error::Escrow(e.to_string()))?;
                (next, previous.filter(|p| p != &current))
            };
            let plan = PukPlan { current: &current, previous: previous.as_ref(), next: &next };
            let response = match offline_unblock::respond(&key, &id_bytes, &challenge, &plan) {
                Ok(r) => r,
                Err(e) => return Ok(Err(code_fault(e))),
            };
            let moved = !recent;
            if moved {
                tx.insert_offline_unblock(&OfflineUnblockRecord {
                    id: Uuid::now_v7(),
                    device,
                    operator: caller.operator,
                    previous_puk: sealed_puk.clone(),
                    created_at: now,
                })?;
                let sealed_next = seal.seal(device, EscrowKind::Puk, next.expose_secret().as_bytes())?;
                // The card takes the new PUK from the response: it is the current one.
                tx.put_escrow(&crate::storage::NewEscrow {
                    device,
                    kind: EscrowKind::Puk,
                    sealed: &sealed_next,
                    stored_by: Some(caller.operator),
                    workstation: caller.actor.workstation,
                    written: true,
                    at: now,
                })?;
            }
            let mut draft = audit_draft(
                now,
                Some(caller.operator),
                "escrow.offline_unblock",
                AuditObject::Device(device),
                AuditOutcome::Success,
                Some(format!(
                    "identity check: {note}; {}",
                    if moved { "escrowed PUK replaced" } else { "repeat within the window: same target PUK" }
                )),
            );
            draft.workstation = caller.actor.workstation;
            append_audit(tx, draft)?;
            Ok(Ok(OfflineUnblockResponse { device, response: Zeroizing::new(response.to_string()) }))
        })?;
        outcome
    }
}
