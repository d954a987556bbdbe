//! A walk-up kiosk recognising a card with an approved update (UC-WALKUP,
//! UC-UPDATE): no code; the card and its PIN say who the cardholder is.
//!
//! 1. [`Session::walkup_recognise`]: the card's device id, and the registry's
//!    offer for it (whom to greet, the new PIN's rules, a challenge).
//! 2. [`Session::walkup_prove`]: the cardholder's current PIN is verified on
//!    the card, whose PIV Authentication key then signs the challenge; the
//!    registry checks it against that key's certificate and lets this kiosk
//!    act as the cardholder on this card for the update.
//! 3. [`Session::walkup_update`]: the update job (the operator's collect
//!    job, on the walk-up route) with the PIN the cardholder chose.
//! 4. [`Session::walkup_try_new_pin`]: the new PIN, verified on the card.
//!
//! A card pulled mid-update is finished by the same kiosk while the
//! registry's grant lasts, without a new proof (its PIN and keys may be
//! half changed): the offer then says `resuming`.

use domain::{DeviceId, IssueRoute, PinPolicy, RequestId, RequestKind};
use piv::Pin;
use proto::{OperationKind, StartWalkupUpdate};
use serde::Serialize;

use crate::card::with_card;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::session::Session;
use crate::walkup::{PinRules, WalkupEncoded};

/// A card with an update waiting, as the kiosk greets its holder; the ids
/// and the challenge stay inside.
#[derive(Debug, Clone, Serialize)]
pub struct WalkupUpdate {
    /// The cardholder's name.
    pub person_name: String,
    /// The credential profile the card is brought to.
    pub profile_name: String,
    /// Everything on the card is made anew (reprovision), not only what changed.
    pub reprovision: bool,
    /// Seconds of inactivity after which the kiosk ends the session.
    pub idle_timeout_secs: u32,
    /// The rules the new PIN must follow.
    pub pin: PinRules,
    /// The card was pulled during its update here: it is finished without
    /// the current PIN (which the interrupted update may have changed).
    pub resuming: bool,
    #[serde(skip)]
    device: DeviceId,
    #[serde(skip)]
    request: RequestId,
    #[serde(skip)]
    challenge: String,
    #[serde(skip)]
    policy: PinPolicy,
}

impl Session {
    /// The card in `reader`, if it is a card of this registry with an
    /// approved update waiting: whom to greet and what PIN to ask for.
    /// `None` for a blank card, another registry's, or one with nothing to do.
    pub fn walkup_recognise(&mut self, reader: &str) -> Result<Option<WalkupUpdate>> {
        let (facts, _) = crate::card::read(reader)?;
        let Some(device) = facts.device_id() else { return Ok(None) };
        let token = self.grant.token.clone();
        let Some(offer) = self.runtime.block_on(self.remote.walkup_update_offer(&token, device))? else {
            return Ok(None);
        };
        let torn = self.store.jobs_of_device(&device.to_string())?.iter().any(|j| j.state.is_open());
        Ok(Some(WalkupUpdate {
            person_name: offer.person_name,
            profile_name: offer.profile_name,
            reprovision: offer.kind == RequestKind::Reprovision,
            idle_timeout_secs: offer.kiosk_idle_timeout_secs,
            pin: PinRules {
                min_length: offer.pin.min_length,
                max_length: offer.pin.max_length,
                numeric: offer.pin.numeric,
            },
            resuming: torn && offer.granted_until.is_some(),
            device: offer.device,
            request: offer.request,
            challenge: offer.challenge,
            policy: offer.pin,
        }))
    }

    /// The cardholder proves card and PIN: `current` is verified on the card
    /// in `reader`, whose PIV Authentication key signs the registry's
    /// challenge. A wrong PIN says how many tries are left (and counts on
    /// the card, as any wrong PIN does).
    pub fn walkup_prove(&mut self, update: &WalkupUpdate, current: &Pin, reader: &str) -> Result<()> {
        let (facts, info) = crate::card::read(reader)?;
        if facts.device_id() != Some(update.device) {
            return Err(Error::WrongCard("this is not the card you inserted first: insert it again".into()));
        }
        let algorithm = info
            .certificates
            .iter()
            .filter_map(|c| c.summary.as_ref())
            .find(|s| s.slot == piv::Slot::Authentication)
            .and_then(|s| s.key_algorithm)
            .ok_or_else(|| Error::Rejected {
                code: "no_cardholder_proof".into(),
                message: "this card holds no PIV Authentication certificate to prove it is yours: \
                          please go to the help desk"
                    .into(),
            })?;
        let challenge = hex::decode(&update.challenge)
            .map_err(|_| Error::Invalid("the registry's challenge is not hexadecimal".into()))?;
        let message = proto::cardholder_proof_message(update.device, &challenge);
        let signature = with_card(reader, |_, card| {
            card.select()?;
            card.verify_pin(current)?;
            Ok(card.sign(piv::Slot::Authentication, algorithm, &message)?)
        })?;
        let op = OperationKind::StartWalkupUpdate(StartWalkupUpdate {
            device: update.device,
            request: update.request,
            challenge: update.challenge.clone(),
            signature: hex::encode(signature),
        });
        let push = self.push_later(vec![op]);
        let records = push.records(self.runtime.handle())?;
        self.keep_records(&records)
    }

    /// Updates the card in `reader` with the PIN the cardholder chose (the
    /// registry must hold this kiosk's proof, see [`Session::walkup_prove`]);
    /// an update pulled earlier is resumed.
    pub fn walkup_update(
        &mut self,
        update: &WalkupUpdate,
        pin: &Pin,
        reader: &str,
        progress: &mut dyn Progress,
    ) -> Result<WalkupEncoded> {
        domain::rules::check_chosen_pin(&update.policy, pin.expose_secret(), pin.expose_secret())?;
        self.chosen_pin = Some(pin.clone());
        let collected = self.collect_on(IssueRoute::Walkup, Some(update.device), reader, progress);
        self.chosen_pin = None;
        let collected = collected?;
        Ok(WalkupEncoded {
            serial: collected.device.serial.clone().unwrap_or_default(),
            resumed: collected.resumed,
            warnings: collected.warnings,
        })
    }

    /// The cardholder tries their new PIN on the updated card in `reader`.
    pub fn walkup_try_new_pin(&mut self, update: &WalkupUpdate, pin: &Pin, reader: &str) -> Result<()> {
        let (facts, _) = crate::card::read(reader)?;
        if facts.device_id() != Some(update.device) {
            return Err(Error::WrongCard("this is not your updated card: insert it again".into()));
        }
        with_card(reader, |_, card| {
            card.select()?;
            card.verify_pin(pin)?;
            Ok(())
        })
    }
}
