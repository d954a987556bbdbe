//! The registry's certificate authority (SPEC §2 step 3, §4 Certificate,
//! §7): single-use challenges, issuance after proof of possession, the CRL.
//!
//! The workstation sends only the slot, the card's public key and the
//! card's signature over a challenge the registry handed out; the subject,
//! validity and extensions come from the device's credential profile and its
//! owner here. A certificate is recorded **on hold** until `RecordIssuance`
//! names it (the card is then known to hold it) and moves it to the
//! profile's certificate end state; one whose card job fails is revoked
//! (`RecordProductionFailure`, or `ChangeCertificate`). Issuance is applied
//! exactly once per client `op_id`: a retry gets the same certificate.

use authority::{CertificateRequest, Holder, OcspAnswer, ProofOfPossession, RevokedEntry, SerialStatus};
use domain::{
    machines, AuditObject, AuditOutcome, CardCommand, CertificateId, CertificateState, CredentialProfile,
    IssueRoute, Permission, ProfilePermission, Refusal, RequestKind, RequestState,
};
use proto::{CertificateChallenge, CertificateIssued, IssueCertificate, Record, CHALLENGE_LIFETIME_SECONDS};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::audit_trail::{append_audit, audit_draft};
use crate::caller::Caller;
use crate::error::Error;
use crate::fault::{Fault, Served};
use crate::service::Registry;
use crate::storage::{self, CaCertificateRecord, ChallengeRecord, Tx};

/// How long a CRL is announced to stay current (`nextUpdate`).
pub const CRL_LIFETIME: Duration = Duration::days(1);

/// How long an OCSP answer is announced to stay current (`nextUpdate`):
/// short, so relying parties that cache answers learn of a revocation soon.
pub const OCSP_LIFETIME: Duration = Duration::minutes(10);

/// Bytes in a challenge handed out.
pub const CHALLENGE_LEN: usize = 32;

const MAX_PUBLIC_KEY: usize = 2048;
const MAX_SIGNATURE: usize = 1024;

fn unprocessable(code: &'static str, message: impl Into<String>) -> Fault {
    Fault::Unprocessable { code, message: message.into() }
}

fn hex_field(name: &str, text: &str, min: usize, max: usize) -> Served<Vec<u8>> {
    if text.len() > max * 2 {
        return Err(Fault::Invalid(format!("{name} is longer than {max} bytes")));
    }
    let bytes = hex::decode(text).map_err(|_| Fault::Invalid(format!("{name} is not hexadecimal")))?;
    if bytes.len() < min {
        return Err(Fault::Invalid(format!("{name} is shorter than {min} bytes")));
    }
    Ok(bytes)
}

/// A domain refusal as the HTTP layer shows it: a state conflict is 409,
/// anything about the caller 403.
fn refused(refusal: Refusal) -> Fault {
    match refusal {
        Refusal::StateNotAllowed { .. } => {
            Fault::Conflict { code: "state_not_allowed", message: refusal.to_string() }
        }
        other => Fault::Forbidden(other),
    }
}

/// An authority error on a request the registry assembled: the card's
/// input is refused (422), the rest is the registry's failure.
fn authority_fault(error: authority::Error) -> Fault {
    use authority::Error as E;
    let code = match &error {
        E::BadPublicKey(_) => "bad_public_key",
        E::KeyAlgorithm { .. } => "key_algorithm",
        E::ChallengeMismatch | E::ChallengeTooShort(_) => "unknown_challenge",
        E::ProofOfPossession => "proof_of_possession",
        E::Template(_) => "template",
        E::SlotNotInProfile(_) => "slot_not_in_profile",
        _ => return Fault::Internal(Error::Authority(error.to_string())),
    };
    unprocessable(code, error.to_string())
}

fn issued_answer(tx: &mut dyn Tx, issued: &CaCertificateRecord) -> Result<CertificateIssued, Error> {
    let certificate = tx
        .certificate(issued.certificate)?
        .ok_or_else(|| Error::Corrupt(format!("issued certificate {} has no record", issued.certificate)))?;
    Ok(CertificateIssued { serial: certificate.serial.clone(), der: hex::encode(&issued.der), certificate })
}

/// The credential profile version whose template applies to a key for
/// `device` now: the target of an approved update of an issued card, or the
/// device's own version for its first issuance (checked by the card machine:
/// state, use case, Can Collect, not one's own card).
fn issuing_profile(
    tx: &mut dyn Tx,
    caller: &Caller,
    device: &domain::Device,
    route: IssueRoute,
    now: OffsetDateTime,
) -> Served<CredentialProfile> {
    let actor = &caller.actor;
    // Permission first: a caller who may collect nothing on this card
    // learns nothing of its state.
    let on_card = Permission::on(ProfilePermission::CanCollect, device.profile.id);
    let walkup = matches!(actor.kind, domain::ActorKind::Cardholder { .. })
        && domain::rules::walkup_cardholder(actor, device.owner).is_ok();
    let collectable = walkup
        || actor.require(on_card).is_ok()
        || tx.requests_of(device.id)?.iter().any(|r| {
            matches!(r.kind, RequestKind::Update | RequestKind::Reprovision)
                && actor.require(Permission::on(ProfilePermission::CanCollect, r.profile)).is_ok()
        });
    if !collectable {
        return Err(refused(domain::Refusal::NotPermitted { permission: on_card }));
    }
    if device.state.is_issued() {
        let update = tx.requests_of(device.id)?.into_iter().find(|r| {
            matches!(r.kind, RequestKind::Update | RequestKind::Reprovision)
                && r.state == RequestState::Approved
        });
        let Some(update) = update else {
            return Err(Fault::Conflict {
                code: "state_not_allowed",
                message: format!(
                    "device {} is {} and has no approved update request: nothing to issue",
                    device.id,
                    device.state.name()
                ),
            });
        };
        if !walkup {
            // A kiosk's cardholder was proved for this update (crate::walkup_update).
            actor.require(Permission::on(ProfilePermission::CanCollect, update.profile)).map_err(refused)?;
            domain::rules::not_own_device(actor, device.id, device.owner).map_err(refused)?;
        }
        return tx.latest_profile(update.profile)?.ok_or_else(|| Fault::Conflict {
            code: "not_found",
            message: format!("credential profile {} does not exist", update.profile),
        });
    }
    let profile =
        tx.profile_version(device.profile.id, device.profile.version)?.ok_or_else(|| Fault::Conflict {
            code: "not_found",
            message: format!(
                "credential profile {} version {} does not exist",
                device.profile.id, device.profile.version
            ),
        })?;
    let command = CardCommand::Issue {
        route,
        end_state: profile.settings.card_end_state,
        certificate_end_state: profile.settings.certificate_end_state,
    };
    machines::card::apply(device, &command, actor, now).map_err(refused)?;
    Ok(profile)
}

impl Registry {
    fn ca(&self) -> Served<&authority::CertificateAuthority> {
        self.authority().ok_or_else(|| Fault::NotFound("this registry has no certificate authority".into()))
    }

    /// `POST /v1/certificates/challenges`: a fresh challenge for a card to
    /// sign, kept for [`CHALLENGE_LIFETIME_SECONDS`] and usable once, by this
    /// operator only. Needs Can Collect on some profile.
    pub fn challenge(&self, caller: &Caller) -> Served<CertificateChallenge> {
        self.ca()?;
        // A kiosk signs its walk-up cards' keys too (UC-WALKUP); the
        // issuance itself is checked for the cardholder it acts for.
        let kiosk = crate::caller::require_kiosk(&caller.actor).is_ok();
        if !kiosk && !caller.actor.permissions.permits_on_some_profile(ProfilePermission::CanCollect) {
            return Err(Fault::Denied(
                "issuing certificates needs Can Collect on a credential profile".into(),
            ));
        }
        let now = self.clock.now();
        let record = ChallengeRecord {
            challenge: authority::new_challenge(),
            operator: caller.operator,
            created_at: now,
            expires_at: now + Duration::seconds(CHALLENGE_LIFETIME_SECONDS),
        };
        storage::write(&*self.storage, |tx| {
            tx.purge_challenges(now)?;
            tx.insert_challenge(&record)
        })?;
        Ok(CertificateChallenge { challenge: hex::encode(&record.challenge), expires_at: record.expires_at })
    }

    /// `POST /v1/certificates`: certifies a card key after checking its proof
    /// of possession over a challenge this operator was handed; records the
    /// certificate on hold, audits, and feeds it. Exactly once per `op_id`.
    /// A refusal changes nothing (the challenge stays usable until it expires).
    pub fn issue_certificate(&self, caller: &Caller, issue: &IssueCertificate) -> Served<CertificateIssued> {
        let ca = self.ca()?;
        let public_key = hex_field("public_key", &issue.public_key, 1, MAX_PUBLIC_KEY)?;
        let challenge = hex_field("challenge", &issue.challenge, 1, CHALLENGE_LEN * 2)?;
        let signature = hex_field("signature", &issue.signature, 1, MAX_SIGNATURE)?;
        let route = issue.route.unwrap_or(IssueRoute::Single);
        let now = self.clock.now();
        let material = (public_key, challenge, signature);
        storage::write(&*self.storage, move |tx| {
            if let Some(first) = tx.ca_certificate_by_op(issue.op_id)? {
                if first.operator != caller.operator {
                    return Ok(Err(Fault::Conflict {
                        code: "duplicate_op_id",
                        message: "this operation id was already used by another operator".into(),
                    }));
                }
                return issued_answer(tx, &first).map(Ok);
            }
            Ok(self.issue_in(tx, ca, caller, issue, material.clone(), route, now))
        })?
    }

    #[allow(clippy::too_many_arguments)]
    fn issue_in(
        &self,
        tx: &mut dyn Tx,
        ca: &authority::CertificateAuthority,
        caller: &Caller,
        issue: &IssueCertificate,
        (public_key, challenge, signature): (Vec<u8>, Vec<u8>, Vec<u8>),
        route: IssueRoute,
        now: OffsetDateTime,
    ) -> Served<CertificateIssued> {
        let Some(device) = tx.device(issue.device)? else {
            return Err(Fault::NotFound(format!("device {} does not exist", issue.device)));
        };
        let caller = &*crate::provisioning::acting_on(tx, caller, device.id, now)?;
        let profile = issuing_profile(tx, caller, &device, route, now)?;
        let Some(spec) = profile.settings.slot(issue.slot) else {
            return Err(unprocessable(
                "slot_not_in_profile",
                format!("credential profile {:?} has no {:?} slot", profile.settings.name, issue.slot),
            ));
        };
        match tx.challenge(&challenge)? {
            Some(c) if c.operator == caller.operator && c.expires_at > now => {}
            Some(c) if c.operator == caller.operator => {
                return Err(unprocessable(
                    "challenge_expired",
                    "the challenge has expired; ask for a new one",
                ))
            }
            _ => {
                return Err(unprocessable(
                    "unknown_challenge",
                    "the challenge was not handed to this session's operator, or was used already",
                ))
            }
        }
        let holder = match device.owner {
            Some(owner) => match tx.person(owner)? {
                Some(person) => Holder {
                    name: person.display_name(),
                    // No separate UPN is kept: the sign-in name is the email address.
                    upn: person.email.clone(),
                    email: person.email,
                    employee_id: person.employee_id,
                },
                None => return Err(Fault::Internal(Error::Corrupt(format!("owner {owner} does not exist")))),
            },
            None => {
                return Err(Fault::Conflict {
                    code: "no_owner",
                    message: format!("device {} has no owner to certify", device.id),
                })
            }
        };
        let request = CertificateRequest {
            spec: spec.clone(),
            holder,
            card_uuid: Some(device.id.0),
            public_key_spki: public_key,
            proof: ProofOfPossession { challenge: challenge.clone(), signature },
        };
        let issued = ca.issue(&request, Some(&challenge), now).map_err(authority_fault)?;
        if tx.certificate_serial_taken(&issued.serial)? {
            return Err(Fault::Internal(Error::Authority(format!("serial {} is taken", issued.serial))));
        }
        let id = CertificateId::new(Uuid::now_v7());
        let certificate = issued.record(id, device.id, CertificateState::OnHold);
        let record = Record::Certificate(certificate.clone());
        tx.put_record(&record)?;
        tx.append_change(now, &record)?;
        let ca_record = CaCertificateRecord {
            certificate: id,
            op_id: issue.op_id,
            operator: caller.operator,
            der: issued.der,
            issued_at: now,
        };
        tx.insert_ca_certificate(&ca_record, certificate.state)?;
        tx.delete_challenge(&challenge)?;
        let mut draft = audit_draft(
            now,
            Some(caller.operator),
            "certificate.issue",
            AuditObject::Certificate(id),
            AuditOutcome::Success,
            Some(format!("serial {} for device {} slot {:?}", issued.serial, device.id, issue.slot)),
        );
        draft.workstation = caller.actor.workstation;
        append_audit(tx, draft)?;
        Ok(CertificateIssued { serial: issued.serial, der: hex::encode(&ca_record.der), certificate })
    }

    /// `GET /v1/crl`: a CRL (DER) of every certificate the CA issued that is
    /// revoked (with its reason) or on hold (certificateHold), current for
    /// [`CRL_LIFETIME`].
    pub fn crl(&self) -> Served<Vec<u8>> {
        let ca = self.ca()?;
        let now = self.clock.now();
        let entries = storage::read(&*self.storage, |tx| tx.crl_entries())?;
        let revoked: Vec<RevokedEntry> = entries
            .iter()
            .filter_map(|(c, since)| RevokedEntry::for_state(&c.serial, c.state, *since))
            .collect();
        ca.crl(&revoked, now, now + CRL_LIFETIME)
            .map_err(|e| Fault::Internal(Error::Authority(e.to_string())))
    }

    /// `POST /ocsp`, `GET /ocsp/{request}`: the OCSP answer (RFC 6960) to
    /// `request` (DER), each serial's status read from the records, current
    /// for [`OCSP_LIFETIME`]. Malformed requests get an unsigned
    /// malformedRequest answer, a failing database tryLater.
    pub fn ocsp(&self, request: &[u8]) -> Served<OcspAnswer> {
        let ca = self.ca()?;
        let now = self.clock.now();
        let lookup = |serial: &str| -> Result<SerialStatus, String> {
            let found = storage::read(&*self.storage, |tx| tx.ca_certificate_by_serial(serial))
                .map_err(|e| e.to_string())?;
            Ok(match found {
                Some((certificate, since)) => SerialStatus::for_state(certificate.state, since),
                None => SerialStatus::Unknown,
            })
        };
        Ok(ca.ocsp_answer(request, now, now + OCSP_LIFETIME, &lookup))
    }

    /// `GET /ca.crt`: the CA certificate, DER (what AIA caIssuers points at).
    pub fn ca_certificate_der(&self) -> Served<Vec<u8>> {
        Ok(self.ca()?.certificate_der().to_vec())
    }

    /// `GET /v1/ca`: the CA certificate, PEM (the trust anchor for the cards' certificates).
    pub fn ca_certificate_pem(&self) -> Served<String> {
        self.ca()?.certificate_pem().map_err(|e| Fault::Internal(Error::Authority(e.to_string())))
    }
}
