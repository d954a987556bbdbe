//! UC-PIN offline unblock by challenge–response, for a card that is not at
//! a station (the protocol and its security argument: `piv::offline_unblock`).
//!
//! * The cardholder runs [`unblock_offline`] with their card in a reader
//!   and no registry connection: the card gives a management-key witness,
//!   shown as a challenge code; the tool **keeps the card session open**
//!   (the card forgets its witness when powered down or reset) and asks for
//!   the response code.
//! * The helpdesk operator (Unblock PIN) submits the code with
//!   [`Session::respond_offline_unblock`], noting how the cardholder was
//!   identified; the registry answers with the response code (and moves
//!   the escrowed PUK to the one the card will get).
//! * The tool proves the response to the card (a wrong or replayed code
//!   fails there and changes nothing), changes the card's PUK to the new
//!   escrowed one, then unblocks the PIN with it and the PIN the cardholder
//!   chose, and verifies that PIN.
//!
//! When the station's data directory is enrolled, every card write is
//! journaled (job kind `unblock`, detail `offline`) before and after. A card
//! pulled at any APDU is recovered by running the unblock again: the
//! registry's next answer names both PUKs the card can hold then (the old
//! one if the PUK change never ran, the new one if it did), and the re-run
//! ends with card and escrow agreeing.

use std::path::Path;

use domain::DeviceId;
use piv::offline_unblock::{Challenge, Response};
use piv::{Pin, PivCard, Puk};
use proto::{OfflineUnblockChallenge, OfflineUnblockResponse};
use serde::Serialize;
use store::{Job, JobKind, JobState, StepPhase, Store};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::card::{with_card, CardFacts};
use crate::error::{Error, Result};
use crate::issue::Progress;
use crate::pin::journal_step;
use crate::session::Session;
use crate::DB_FILE;

/// Shows the challenge code (and why the last typed response was not
/// accepted) and returns the response code typed in.
pub type AskResponse<'a> = dyn FnMut(&str, Option<&str>) -> Result<Zeroizing<String>> + 'a;

/// How many times a mistyped response code is asked for again before giving up.
pub const RESPONSE_ATTEMPTS: usize = 3;

/// The result of an offline unblock at the cardholder's side.
#[derive(Debug, Clone, Serialize)]
pub struct OfflineUnblocked {
    /// The device (the card's CHUID GUID).
    pub device: DeviceId,
    /// The journal job, when the data directory is an enrolled station.
    pub job: Option<Uuid>,
    /// Whether this finished an interrupted offline unblock of the card.
    pub resumed: bool,
    /// PUK tries the card spent on a PUK that was not its own (0 normally;
    /// 1 after a torn earlier completion), restored by the right one.
    pub puk_tries_spent: u8,
}

fn declined(code: crate::ErrorCode, message: impl Into<String>) -> Error {
    Error::Declined { code, message: message.into() }
}

/// The cardholder's side: runs the whole offline unblock on the card in
/// `reader`. `ask(challenge_code, previous_problem)` shows the challenge
/// code and returns the response code the helpdesk read back (it is asked
/// again, up to [`RESPONSE_ATTEMPTS`] times, when a typed code does not
/// check out; the card is untouched meanwhile). `new_pin` is the
/// cardholder's choice. `data_dir`, when it holds an enrolled station's
/// database, gets the journal.
pub fn unblock_offline(
    data_dir: Option<&Path>,
    reader: &str,
    new_pin: &Pin,
    ask: &mut AskResponse<'_>,
    progress: &mut dyn Progress,
) -> Result<OfflineUnblocked> {
    let mut store = match data_dir.map(|d| d.join(DB_FILE)) {
        Some(db) if db.exists() => Some(Store::open(db)?),
        _ => None,
    };
    let mut job: Option<(Uuid, bool)> = None;
    let outcome = with_card(reader, |atr, card| {
        let info = piv::read_info(card)?;
        let facts = CardFacts::of(reader, atr, &info);
        let device = facts.device_id().ok_or_else(|| {
            Error::WrongCard(format!("the card in {reader} has no CHUID of this deployment"))
        })?;
        let id = *device.uuid().as_bytes();
        if let Some(store) = store.as_mut() {
            job = Some(open_job(store, device, &facts)?);
        }
        progress.step(1, 5, &crate::CardStep::AskChallenge);
        card.select()?;
        let challenge = card.offline_unblock_challenge(&id)?;
        let code = challenge.code();
        let response = read_response(&challenge, &code, ask)?;
        let job_id = job.map(|(j, _)| j);
        let step = |store: &mut Option<Store>, phase, name: &str| -> Result<()> {
            match (store.as_mut(), job_id) {
                (Some(s), Some(j)) => journal_step(s, j, phase, name),
                _ => Ok(()),
            }
        };
        progress.step(2, 5, &crate::CardStep::ProveResponse);
        let unmasked =
            card.offline_unblock_prove(challenge.algorithm, &id, &response).map_err(|e| match e {
                piv::Error::AuthenticationFailed => declined(
                    crate::ErrorCode::WrongResponse,
                    "the card refused the response code: it is wrong, or it answers an earlier challenge; \
                 nothing was changed on the card. Read the new challenge to the helpdesk",
                ),
                piv::Error::BadSignature(m) => declined(crate::ErrorCode::WrongCard, m),
                other => Error::Card(other),
            })?;
        progress.step(3, 5, &crate::CardStep::ChangePuk);
        let spent = change_puk(card, &unmasked.candidates, &unmasked.next, &mut |phase| {
            step(&mut store, phase, "change_puk")
        })?;
        progress.step(4, 5, &crate::CardStep::UnblockPin);
        step(&mut store, StepPhase::Before, "unblock_pin")?;
        card.unblock_pin(&unmasked.next, new_pin)?;
        step(&mut store, StepPhase::After, "unblock_pin")?;
        progress.step(5, 5, &crate::CardStep::VerifyPin);
        card.verify_pin(new_pin)?;
        Ok((device, spent))
    });
    let now = OffsetDateTime::now_utc();
    match (outcome, store.as_mut(), job) {
        (Ok((device, spent)), store, job) => {
            if let (Some(store), Some((j, _))) = (store, job) {
                store.update_job(j, JobState::Completed, None, None, now)?;
            }
            Ok(OfflineUnblocked {
                device,
                job: job.map(|(j, _)| j),
                resumed: job.is_some_and(|(_, r)| r),
                puk_tries_spent: spent,
            })
        }
        (Err(e), Some(store), Some((j, _))) => {
            // Torn or refused: the job stays open (a re-run finishes it); a card write
            // that may have happened is recovered by the registry's two-PUK answer.
            let _ = store.update_job(j, JobState::Writing, None, Some(&e.to_string()), now);
            Err(e)
        }
        (Err(e), _, _) => Err(e),
    }
}

fn read_response(challenge: &Challenge, code: &str, ask: &mut AskResponse<'_>) -> Result<Response> {
    let mut problem: Option<String> = None;
    for _ in 0..RESPONSE_ATTEMPTS {
        let typed = ask(code, problem.as_deref())?;
        match Response::parse(&typed, challenge.algorithm) {
            Ok(r) => return Ok(r),
            Err(e) => problem = Some(e.to_string()),
        }
    }
    Err(declined(
        crate::ErrorCode::BadCode,
        format!(
            "the response code does not check out ({}); nothing was changed",
            problem.unwrap_or_default()
        ),
    ))
}

/// Finds the device's interrupted offline unblock job, or starts one.
fn open_job(store: &mut Store, device: DeviceId, facts: &CardFacts) -> Result<(Uuid, bool)> {
    let open = store
        .jobs_of_device(&device.to_string())?
        .into_iter()
        .find(|j| j.kind == JobKind::Unblock && j.state.is_open() && j.detail.get("offline").is_some());
    if let Some(job) = open {
        return Ok((job.id, true));
    }
    let id = Uuid::now_v7();
    let now = OffsetDateTime::now_utc();
    store.create_job(&Job::new(
        id,
        JobKind::Unblock,
        device.to_string(),
        JobState::Writing,
        serde_json::to_value(facts).map_err(store::Error::from)?,
        serde_json::json!({ "offline": true }),
        now,
    ))?;
    Ok((id, false))
}

/// CHANGE REFERENCE DATA of the PUK (Part 2 §3.2.2) from each candidate in
/// turn to `next`; a wrong candidate costs one PUK try, which the right one
/// restores. Returns the tries spent.
fn change_puk<T: apdu::Transport>(
    card: &mut PivCard<T>,
    candidates: &[Puk],
    next: &Puk,
    journal: &mut dyn FnMut(StepPhase) -> Result<()>,
) -> Result<u8> {
    let mut spent = 0u8;
    for candidate in candidates {
        journal(StepPhase::Before)?;
        match card.change_puk(candidate, next) {
            Ok(()) => {
                journal(StepPhase::After)?;
                return Ok(spent);
            }
            Err(piv::Error::WrongPuk { .. }) => spent = spent.saturating_add(1),
            Err(e) => return Err(e.into()),
        }
    }
    Err(declined(
        crate::ErrorCode::PukUnknown,
        "none of the PUKs the registry named works on this card; ask for an unblock at a station",
    ))
}

impl Session {
    /// The helpdesk's side: the response code for the challenge the
    /// cardholder of `device` read out (Unblock PIN), with how their
    /// identity was checked (audited at the registry).
    pub fn respond_offline_unblock(
        &mut self,
        device: DeviceId,
        challenge: &str,
        identity_check: &str,
    ) -> Result<OfflineUnblockResponse> {
        let identity_check = identity_check.trim();
        if identity_check.is_empty() {
            return Err(Error::Invalid(
                "say how the cardholder's identity was checked (e.g. \"video call, badge photo\")".into(),
            ));
        }
        let parsed = Challenge::parse(challenge)
            .map_err(|e| declined(crate::ErrorCode::BadCode, format!("the challenge code: {e}")))?;
        parsed
            .check_device(device.uuid().as_bytes())
            .map_err(|e| declined(crate::ErrorCode::ChallengeMismatch, e.to_string()))?;
        let _ = self.sync();
        if let Ok(record) = self.device(device) {
            domain::rules::check_pin_unblock(&record, &self.actor())?;
        }
        let request = OfflineUnblockChallenge {
            challenge: challenge.to_owned(),
            identity_check: identity_check.to_owned(),
        };
        self.runtime.block_on(self.remote.offline_unblock(&self.grant.token, device, &request))
    }
}
