//! A walk-up kiosk updating a cardholder's card (UC-WALKUP with UC-UPDATE):
//! the card, not a code, says who the cardholder is.
//!
//! 1. The kiosk reads the card's device id and asks for its approved update
//!    ([`Registry::walkup_update_offer`]): whom to greet, the PIN rules, and a
//!    single-use challenge handed to this kiosk only.
//! 2. The cardholder's PIN is verified on the card, and the card's PIV
//!    Authentication key (9A) signs the challenge. PIV lets that key sign
//!    only after the PIN (SP 800-73-4 §3.2; the credential profiles set no
//!    other PIN policy), so the signature proves card and PIN together.
//! 3. `StartWalkupUpdate` ([`start`]) checks the signature against the
//!    certificate the registry's CA issued for that key (valid, on the
//!    card) and keeps a [`WalkupGrant`]: for [`GRANT_LIFETIME`], this kiosk
//!    (account and workstation) acts as that cardholder on that card, for
//!    that request only ([`granted_actor`], used by the walk-up actor of
//!    every card-job call: escrow, certificates, the record). The update is
//!    still the request an operator filed and, where needed, an approver
//!    approved: the kiosk only carries it out.
//!
//! A card pulled mid-update may have a half-changed PIN and keys, so no new
//! proof is possible: the same kiosk finishes it without one while its
//! grant lasts (the offer says so). After that, an operator resumes it.

use domain::{Actor, CertificateState, RequestKind, RequestState, Slot, UseCase};
use proto::{Record, StartWalkupUpdate, WalkupUpdateOffer, CHALLENGE_LIFETIME_SECONDS};
use time::{Duration, OffsetDateTime};

use crate::caller::{cardholder, require_kiosk, Caller};
use crate::decline::{not_found, refuse, Decline};
use crate::error::Result;
use crate::fault::Fault;
use crate::fault::Served;
use crate::storage::{self, ChallengeRecord, Tx, WalkupGrant};
use crate::Registry;

/// How long a proved cardholder's kiosk may work on their card: long
/// enough to update a card and put a pulled one back, short enough that a
/// card left behind is no open door.
pub const GRANT_LIFETIME: Duration = Duration::minutes(15);

/// The cardholder `caller` acts as on `device` under a live grant of this
/// kiosk for an approved request; `None` otherwise.
pub(crate) fn granted_actor(
    tx: &mut dyn Tx,
    caller: &Caller,
    device: domain::DeviceId,
    now: OffsetDateTime,
) -> Result<Option<Actor>> {
    let Some(grant) = live_grant(tx, caller, device, now)? else { return Ok(None) };
    Ok(Some(cardholder(caller, grant.person)))
}

/// This kiosk's unexpired grant on `device`, while its request is approved.
fn live_grant(
    tx: &mut dyn Tx,
    caller: &Caller,
    device: domain::DeviceId,
    now: OffsetDateTime,
) -> Result<Option<WalkupGrant>> {
    let Some(grant) = tx.walkup_grant(device)? else { return Ok(None) };
    let mine = grant.operator == caller.operator && grant.workstation == caller.actor.workstation;
    if !mine || grant.expires_at <= now {
        return Ok(None);
    }
    let approved = tx
        .request(grant.request)?
        .is_some_and(|r| r.state == RequestState::Approved && r.device == Some(device));
    Ok(approved.then_some(grant))
}

/// The approved update or reprovision request of `device` a kiosk carries
/// out (in the order collecting applies them).
fn approved_update(tx: &mut dyn Tx, device: domain::DeviceId) -> Result<Option<domain::Request>> {
    let requests = tx.requests_of(device)?;
    let first = domain::rules::updates_to_collect(device, &requests).into_iter().next();
    Ok(first.and_then(|id| requests.into_iter().find(|r| r.id == id)))
}

/// What a `StartWalkupUpdate` writes: the grant, the challenge used up.
pub(crate) struct GrantWrites {
    grant: WalkupGrant,
    challenge: Vec<u8>,
}

impl GrantWrites {
    pub(crate) fn apply(&self, tx: &mut dyn Tx) -> Result<()> {
        tx.delete_challenge(&self.challenge)?;
        tx.put_walkup_grant(&self.grant)
    }
}

/// Decides `StartWalkupUpdate`: the signature over this kiosk's challenge
/// verifies with the card's PIV Authentication certificate. Returns what to
/// write and the records the kiosk's job needs (shown, not written: the
/// kiosk replicates no feed).
pub(crate) fn start(
    tx: &mut dyn Tx,
    caller: &Caller,
    op: &StartWalkupUpdate,
    now: OffsetDateTime,
) -> Result<(GrantWrites, Vec<Record>), Decline> {
    require_kiosk(&caller.actor)?;
    caller.actor.require_use_case(UseCase::Update)?;
    let Some(device) = tx.device(op.device)? else { return not_found("device", op.device) };
    let Some(request) = approved_update(tx, device.id)?.filter(|r| r.id == op.request) else {
        return refuse(
            "state_not_allowed",
            format!("request {} is not the approved update of device {} now", op.request, device.id),
        );
    };
    if !device.state.is_issued() {
        return refuse(
            "state_not_allowed",
            format!("device {} is {}: only an issued card is updated", device.id, device.state.name()),
        );
    }
    let Some(person) = device.owner else {
        return refuse("invalid", format!("device {} has no cardholder", device.id));
    };
    // Its length and owner are checked by looking it up.
    let challenge = match hex::decode(&op.challenge) {
        Ok(c) if !c.is_empty() && c.len() <= 64 => c,
        _ => return refuse("invalid", "the challenge is not the one handed out"),
    };
    let signature = match hex::decode(&op.signature) {
        Ok(s) if !s.is_empty() && s.len() <= 1024 => s,
        _ => return refuse("invalid", "the signature must be 1 to 1024 bytes of hex"),
    };
    match tx.challenge(&challenge)? {
        Some(c) if c.operator == caller.operator && c.expires_at > now => {}
        Some(c) if c.operator == caller.operator => {
            return refuse("challenge_expired", "the challenge has expired: insert the card again")
        }
        _ => {
            return refuse(
                "unknown_challenge",
                "the challenge was not handed to this kiosk, or was used already",
            )
        }
    }
    let certificates = tx.certificates_of(device.id)?;
    let authentication = certificates.iter().find(|c| {
        c.slot == Slot::PivAuthentication
            && device.certificates.contains(&c.id)
            && c.state == CertificateState::Valid
            && c.not_after > now
    });
    let Some(authentication) = authentication else {
        return refuse(
            "no_cardholder_proof",
            format!(
                "device {} holds no valid PIV Authentication certificate to prove its cardholder: \
                 the update is collected at the help desk",
                device.id
            ),
        );
    };
    let Some(issued) = tx.ca_certificate(authentication.id)? else {
        return refuse(
            "no_cardholder_proof",
            format!("certificate {} was not issued by this registry's CA", authentication.id),
        );
    };
    let key = piv::certificate_public_key(&issued.der)
        .or_else(|e| refuse("no_cardholder_proof", format!("certificate {}: {e}", authentication.id)))?;
    let message = proto::cardholder_proof_message(device.id, &challenge);
    if key.verify_signature(&message, &signature).is_err() {
        return refuse(
            "proof_failed",
            "the card's signature does not match its PIV Authentication certificate",
        );
    }
    let grant = WalkupGrant {
        device: device.id,
        request: request.id,
        person,
        operator: caller.operator,
        workstation: caller.actor.workstation,
        expires_at: now + GRANT_LIFETIME,
    };
    let mut shown = Vec::new();
    if let Some(holder) = tx.person(person)? {
        shown.push(Record::Person(holder));
    }
    if let Some(current) = tx.profile_version(device.profile.id, device.profile.version)? {
        shown.push(Record::Profile(current));
    }
    if let Some(target) = tx.latest_profile(request.profile)? {
        shown.push(Record::Profile(target));
    }
    shown.extend(
        certificates
            .into_iter()
            .filter(|c| !matches!(c.state, CertificateState::Revoked { .. }))
            .map(Record::Certificate),
    );
    shown.push(Record::Request(request));
    shown.insert(0, Record::Device(device));
    Ok((GrantWrites { grant, challenge }, shown))
}

impl Registry {
    /// `POST /v1/walkup/cards/{device}/update` (Walk-up, UC-UPDATE on): the
    /// card's approved update as a kiosk greets its holder, with a challenge
    /// for the card to sign. Not found when the card has none.
    pub fn walkup_update_offer(
        &self,
        caller: &Caller,
        device: domain::DeviceId,
    ) -> Served<WalkupUpdateOffer> {
        require_kiosk(&caller.actor).map_err(Fault::Forbidden)?;
        caller.actor.require_use_case(UseCase::Update).map_err(Fault::Forbidden)?;
        let now = self.clock.now();
        let nothing = || Fault::NotFound(format!("device {device} has no update waiting"));
        let served = storage::write(self.storage(), |tx| {
            let Some(record) = tx.device(device)?.filter(|d| d.state.is_issued()) else {
                return Ok(Err(nothing()));
            };
            let (Some(request), Some(person)) = (approved_update(tx, device)?, record.owner) else {
                return Ok(Err(nothing()));
            };
            let Some(target) = tx.latest_profile(request.profile)? else { return Ok(Err(nothing())) };
            let person_name = tx.person(person)?.map(|p| p.display_name()).unwrap_or_default();
            let granted_until = live_grant(tx, caller, device, now)?
                .filter(|g| g.request == request.id)
                .map(|g| g.expires_at);
            let challenge = ChallengeRecord {
                challenge: authority::new_challenge(),
                operator: caller.operator,
                created_at: now,
                expires_at: now + Duration::seconds(CHALLENGE_LIFETIME_SECONDS),
            };
            tx.purge_challenges(now)?;
            tx.insert_challenge(&challenge)?;
            Ok(Ok(WalkupUpdateOffer {
                device,
                request: request.id,
                kind: if request.kind == RequestKind::Reprovision {
                    RequestKind::Reprovision
                } else {
                    RequestKind::Update
                },
                person_name,
                profile_name: target.settings.name.clone(),
                pin: target.settings.pin,
                kiosk_idle_timeout_secs: tx.settings()?.self_enrollment.kiosk_idle_timeout_secs,
                challenge: hex::encode(&challenge.challenge),
                challenge_expires_at: challenge.expires_at,
                granted_until,
            }))
        })?;
        served
    }
}
