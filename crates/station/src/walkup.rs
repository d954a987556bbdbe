//! Walk-up initialization at a kiosk (UC-WALKUP, seed 004): a cardholder
//! with an enrollment code encodes their own card, with a PIN they choose.
//!
//! The kiosk is signed in with an account whose role allows walk-up only:
//! the registry refuses it the feed, so it keeps in its replica only what
//! its jobs need (the task's credential profile, the card record and its
//! request, from the registry's answers). The card job is the issue job,
//! on the walk-up route: the registry decides each of its steps for the
//! cardholder, on their own card only. The code travels only to the
//! registry, never to the outbox or the journal; it is used up when the
//! card is recorded enrolled, so a card pulled mid-encode resumes with the
//! same code (the journal knows the job).

use domain::{DeviceId, EnrollmentId, PinPolicy, RequestId, TaskId};
use piv::Pin;
use proto::{
    EnrollmentCode, OperationKind, RecordWalkupAuthentication, RecordWalkupEnrollment, StartWalkupCard,
};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::card::with_card;
use crate::error::{Error, Result};
use crate::issue::IssueTarget;
use crate::progress::Progress;
use crate::session::Session;

/// Who a code invites, as the kiosk greets them; the ids stay inside.
#[derive(Debug, Clone, Serialize)]
pub struct Walkup {
    /// The cardholder's name.
    pub person_name: String,
    /// The provisioning task's number.
    pub task_number: u64,
    /// The credential profile the card gets.
    pub profile_name: String,
    /// Enroll before this.
    #[serde(with = "time::serde::rfc3339")]
    pub stop_date: OffsetDateTime,
    /// Seconds of inactivity after which the kiosk ends the session.
    pub idle_timeout_secs: u32,
    /// The rules the cardholder's PIN must follow.
    pub pin: PinRules,
    /// A card was started with this code and not finished: put it back.
    pub resuming: bool,
    #[serde(skip)]
    task: TaskId,
    #[serde(skip)]
    enrollment: EnrollmentId,
    #[serde(skip)]
    device: Option<DeviceId>,
    #[serde(skip)]
    policy: PinPolicy,
}

/// The credential profile's PIN policy, as the cardholder is told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PinRules {
    /// Shortest PIN.
    pub min_length: u8,
    /// Longest PIN.
    pub max_length: u8,
    /// Digits only.
    pub numeric: bool,
}

/// A walk-up card encoded (recorded enrolled once its PIN is tried).
#[derive(Debug, Clone, Serialize)]
pub struct WalkupEncoded {
    /// The card's serial number.
    pub serial: String,
    /// Whether this finished a card pulled earlier.
    pub resumed: bool,
    /// Things the cardholder's help desk should know.
    pub warnings: Vec<String>,
}

/// Checks a PIN the cardholder typed twice against `rules` (the same
/// rule the card job applies), before any card work starts.
pub fn check_walkup_pin(rules: &PinRules, pin: &str, again: &str) -> Result<()> {
    let policy = PinPolicy {
        min_length: rules.min_length,
        max_length: rules.max_length,
        numeric: rules.numeric,
        retries: 0,
    };
    Ok(domain::rules::check_chosen_pin(&policy, pin, again)?)
}

impl Session {
    /// Whether this session is a walk-up kiosk's (the Walk-up permission, UC-WALKUP on).
    pub fn may_walkup(&self) -> bool {
        let actor = self.actor();
        actor.require_use_case(domain::UseCase::Walkup).is_ok()
            && actor.require(domain::Permission::global(domain::GlobalPermission::Walkup)).is_ok()
    }

    /// Checks a code typed at the kiosk: whom it invites, with the card's
    /// PIN rules. A wrong code counts toward the enrollment's lock-out.
    pub fn walkup_check(&mut self, code: &EnrollmentCode) -> Result<Walkup> {
        let token = self.grant.token.clone();
        let invitation = self.runtime.block_on(self.remote.check_enrollment_code(&token, code))?;
        let profile = invitation.credential_profile.ok_or_else(|| {
            Error::Invalid(format!(
                "provisioning task {} names no credential profile: ask the help desk",
                invitation.task_number
            ))
        })?;
        let policy = profile.settings.pin;
        let profile_name = profile.settings.name.clone();
        let mut records = vec![proto::Record::Profile(profile)];
        records.extend(invitation.holder.map(proto::Record::Person));
        self.keep_records(&records)?;
        Ok(Walkup {
            person_name: invitation.person_name,
            task_number: invitation.task_number,
            profile_name,
            stop_date: invitation.stop_date,
            idle_timeout_secs: invitation.kiosk_idle_timeout_secs,
            pin: PinRules {
                min_length: policy.min_length,
                max_length: policy.max_length,
                numeric: policy.numeric,
            },
            resuming: invitation.walkup_device.is_some(),
            task: invitation.task,
            enrollment: invitation.enrollment,
            device: invitation.walkup_device,
            policy,
        })
    }

    /// Encodes the card in `reader` for the cardholder `walkup` names, with
    /// the PIN they chose (see [`Session::walkup_authenticate`] for the rest).
    /// A card started earlier with this code is resumed, or, if it was
    /// finished but not recorded enrolled, given the new PIN.
    pub fn walkup_encode(
        &mut self,
        walkup: &Walkup,
        code: &EnrollmentCode,
        pin: &Pin,
        reader: &str,
        progress: &mut dyn Progress,
    ) -> Result<WalkupEncoded> {
        domain::rules::check_chosen_pin(&walkup.policy, pin.expose_secret(), pin.expose_secret())?;
        let device = match walkup.device {
            Some(device) => device,
            None => self.start_walkup_card(walkup, code)?,
        };
        self.chosen_pin = Some(pin.clone());
        let encoded = self.walkup_card(device, reader, progress);
        self.chosen_pin = None;
        encoded
    }

    /// The cardholder's first authentication with the new card: `pin`
    /// verified on the card in `reader`; then the card is recorded enrolled
    /// and the enrollment completed, which uses the code up. Until then the
    /// code still opens the card (a card pulled now is finished next time).
    pub fn walkup_authenticate(
        &mut self,
        walkup: &Walkup,
        code: &EnrollmentCode,
        pin: &Pin,
        reader: &str,
    ) -> Result<()> {
        let (facts, _) = crate::card::read(reader)?;
        let device = facts.device_id().ok_or_else(|| {
            Error::WrongCard(format!("the card in {reader} is not a card issued here: insert your new card"))
        })?;
        with_card(reader, |_, card| {
            card.select()?;
            card.verify_pin(pin)?;
            Ok(())
        })?;
        let (task, enrollment) = (walkup.task, walkup.enrollment);
        self.push_direct(vec![
            OperationKind::RecordWalkupEnrollment(RecordWalkupEnrollment {
                task,
                enrollment,
                code: code.clone(),
                device,
            }),
            OperationKind::RecordWalkupAuthentication(RecordWalkupAuthentication {
                task,
                enrollment,
                device,
            }),
        ])
    }

    /// The card record and request the registry makes for the cardholder,
    /// kept in the replica for the job.
    fn start_walkup_card(&mut self, walkup: &Walkup, code: &EnrollmentCode) -> Result<DeviceId> {
        let device = DeviceId::new(Uuid::now_v7());
        let op = OperationKind::StartWalkupCard(StartWalkupCard {
            task: walkup.task,
            enrollment: walkup.enrollment,
            code: code.clone(),
            request: RequestId::new(Uuid::now_v7()),
            device,
        });
        let push = self.push_later(vec![op]);
        let records = push.records(self.runtime.handle())?;
        self.keep_records(&records)?;
        Ok(device)
    }

    /// The issue job on the walk-up route, or, for a card the job finished
    /// whose enrollment was not recorded, the chosen PIN set on it.
    fn walkup_card(
        &mut self,
        device: DeviceId,
        reader: &str,
        progress: &mut dyn Progress,
    ) -> Result<WalkupEncoded> {
        let record = self.device(device)?;
        let open_job = self.store.jobs_of_device(&device.to_string())?.into_iter().any(|j| j.state.is_open());
        if record.state.is_issued() && !open_job {
            return self.walkup_new_pin(&record, reader);
        }
        let issued = self.issue(IssueTarget::Walkup(device), reader, progress)?;
        let serial = issued.device.serial.clone().unwrap_or_default();
        Ok(WalkupEncoded { serial, resumed: issued.resumed, warnings: issued.warnings })
    }

    /// A card already issued to the cardholder: the PIN they chose now
    /// replaces the one of the earlier visit (reset with the PUK this
    /// kiosk's job escrowed).
    fn walkup_new_pin(&mut self, record: &domain::Device, reader: &str) -> Result<WalkupEncoded> {
        let (facts, _) = crate::card::read(reader)?;
        if facts.device_id() != Some(record.id) {
            return Err(Error::WrongCard(
                "this is not the card you started: insert the card you used before".into(),
            ));
        }
        let puk = self.job_escrowed_puk(record.id)?;
        let pin = self.chosen_pin.clone().ok_or_else(|| Error::Invalid("no PIN chosen".into()))?;
        with_card(reader, |_, card| {
            card.select()?;
            card.unblock_pin(&puk, &pin)?;
            Ok(())
        })?;
        Ok(WalkupEncoded {
            serial: record.serial.clone().unwrap_or_default(),
            resumed: true,
            warnings: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_rules_are_the_profiles() {
        let rules = PinRules { min_length: 6, max_length: 8, numeric: true };
        assert!(check_walkup_pin(&rules, "135790", "135790").is_ok());
        let differ = check_walkup_pin(&rules, "135790", "135791").unwrap_err();
        assert_eq!(differ.to_string(), "the two PINs are not the same");
        let short = check_walkup_pin(&rules, "1357", "1357").unwrap_err();
        assert_eq!(short.to_string(), "the PIN must be 6 to 8 characters long");
    }
}
