//! The rules of SPEC §5 as pure functions: who may act on what, which
//! earlier requests a new one cancels, and how a new request starts.

use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::entities::device::Device;
use crate::entities::profile::{CredentialProfile, ProfileRef};
use crate::entities::request::{Request, RequestKind};
use crate::ids::{DeviceId, PersonId, RequestId};
use crate::machines::card::CardState;
use crate::machines::request::RequestState;
use crate::machines::AnyState;
use crate::permissions::{GlobalPermission, Permission, ProfilePermission};
use crate::refusal::Refusal;
use crate::use_case::UseCase;

/// Nobody acts on their own device: neither the device they signed in with
/// nor a card they hold (SPEC §5 UC-UPDATE, UC-RETIRE).
pub fn not_own_device(actor: &Actor, device: DeviceId, owner: Option<PersonId>) -> Result<(), Refusal> {
    let signed_in_with = actor.signed_in_with == Some(device);
    let holds_it = owner.is_some() && owner == actor.person();
    if signed_in_with || holds_it {
        Err(Refusal::OwnDevice { device })
    } else {
        Ok(())
    }
}

/// An approver can be neither the requester nor the recipient (UC-APPROVE).
pub fn check_approver(
    actor: &Actor,
    requester: Option<PersonId>,
    recipient: Option<PersonId>,
) -> Result<(), Refusal> {
    let Some(me) = actor.person() else {
        return Err(Refusal::OperatorRequired);
    };
    if requester == Some(me) {
        return Err(Refusal::ApproverIsRequester);
    }
    if recipient == Some(me) {
        return Err(Refusal::ApproverIsRecipient);
    }
    Ok(())
}

/// A requester cannot be the recipient (SPEC §5: approver ≠ requester ≠ recipient).
pub fn check_requester(actor: &Actor, recipient: PersonId) -> Result<(), Refusal> {
    if actor.person() == Some(recipient) {
        Err(Refusal::RequesterIsRecipient)
    } else {
        Ok(())
    }
}

/// A plausible email address: one `@`, something either side, a dot in the
/// domain, no whitespace. Delivery is the proof; this catches typing slips.
pub fn check_email(address: &str) -> Result<(), Refusal> {
    let bad = || Refusal::InvalidEmail(address.to_owned());
    if address.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (local, domain) = address.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.contains('@') {
        return Err(bad());
    }
    let (host, tld) = domain.rsplit_once('.').ok_or_else(bad)?;
    if host.is_empty() || tld.is_empty() {
        return Err(bad());
    }
    Ok(())
}

/// A new request of `kind` on `device` cancels the earlier open requests of
/// the same kind on that device (SPEC §4 Request; seed 000: an update request
/// cancels earlier update requests, a reprovision request earlier
/// reprovision requests). Returns the ids to supersede, in input order.
pub fn superseded_by_new<'a>(
    kind: RequestKind,
    device: DeviceId,
    existing: impl IntoIterator<Item = &'a Request>,
) -> Vec<RequestId> {
    existing
        .into_iter()
        .filter(|r| r.kind == kind && r.device == Some(device) && r.is_open())
        .map(|r| r.id)
        .collect()
}

/// How a new card request starts (UC-REQUEST, seed 002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRequestPlan {
    /// The card's first state: `requested` with an approval step, else `approved`.
    pub card_state: CardState,
    /// The request's first state.
    pub request_state: RequestState,
    /// Whether an approver must decide before issuance.
    pub needs_approval: bool,
    /// The profile version the card will be encoded with.
    pub profile: ProfileRef,
}

/// Plans a card request for `recipient` with `profile` (UC-REQUEST, seed 002).
///
/// An approval step is needed when the profile has Validate Issuance or the
/// deployment's "add an approval step" option (`approval_step`) is on.
pub fn plan_card_request(
    profile: &CredentialProfile,
    recipient: PersonId,
    actor: &Actor,
    approval_step: bool,
) -> Result<CardRequestPlan, Refusal> {
    actor.require_use_case(UseCase::Request)?;
    actor.require(Permission::on(ProfilePermission::CanRequest, profile.id))?;
    check_requester(actor, recipient)?;
    if profile.settings.is_temporary {
        return Err(Refusal::ProfileIsTemporary { profile: profile.id });
    }
    let needs_approval = approval_step || profile.settings.validate_issuance;
    Ok(CardRequestPlan {
        card_state: if needs_approval { CardState::Requested } else { CardState::Approved },
        request_state: if needs_approval { RequestState::PendingApproval } else { RequestState::Approved },
        needs_approval,
        profile: profile.reference(),
    })
}

/// Checks a direct issuance ("Issue card", no request, seed 002): the use
/// case is on, the operator may both request and collect with the profile,
/// the profile does not demand approval, and the card is not for themselves.
/// The card then starts `approved` and is issued at once (UC-ISSUE).
pub fn check_direct_issue(
    profile: &CredentialProfile,
    recipient: PersonId,
    actor: &Actor,
) -> Result<(), Refusal> {
    actor.require_use_case(UseCase::DirectIssue)?;
    actor.require(Permission::on(ProfilePermission::CanRequest, profile.id))?;
    actor.require(Permission::on(ProfilePermission::CanCollect, profile.id))?;
    if actor.person() == Some(recipient) {
        return Err(Refusal::ActorIsRecipient);
    }
    if profile.settings.is_temporary {
        return Err(Refusal::ProfileIsTemporary { profile: profile.id });
    }
    if profile.settings.validate_issuance {
        return Err(Refusal::ApprovalRequired { profile: profile.id });
    }
    Ok(())
}

/// Checks an order for temporary cards with `profile` (UC-TEMP).
pub fn check_temporary_order(profile: &CredentialProfile, actor: &Actor) -> Result<(), Refusal> {
    actor.require_use_case(UseCase::Temp)?;
    actor.require(Permission::global(GlobalPermission::ManageTemporaryCards))?;
    if !profile.settings.is_temporary {
        return Err(Refusal::ProfileNotTemporary { profile: profile.id });
    }
    Ok(())
}

/// The reason chosen when requesting an update (seed 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateReason {
    /// Bring the card to the profile's latest version, keeping what is valid.
    ApplyLatestUpdates,
    /// Erase and re-encode the card completely.
    ReprovisionAllContent,
}

impl UpdateReason {
    /// The request kind this reason creates.
    pub const fn kind(self) -> RequestKind {
        match self {
            UpdateReason::ApplyLatestUpdates => RequestKind::Update,
            UpdateReason::ReprovisionAllContent => RequestKind::Reprovision,
        }
    }
}

/// How a new update request starts (UC-UPDATE, seed 000).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatePlan {
    /// Update or reprovision.
    pub kind: RequestKind,
    /// The request's first state.
    pub request_state: RequestState,
    /// Whether it must be approved before it can be collected.
    pub needs_approval: bool,
    /// Whether the card stays with the profile it was issued with.
    pub same_profile: bool,
    /// The profile version the card will be brought to.
    pub target: ProfileRef,
    /// Earlier open requests of the same kind on the device, to supersede.
    pub supersedes: Vec<RequestId>,
}

/// Plans an update request for `device` to `target` (the latest version of
/// the chosen profile) with `reason` (UC-UPDATE, seed 000). `existing`: the
/// device's requests, to find those the new one cancels.
///
/// Rules: updates are for issued contact smart cards; the same profile needs
/// Can Collect, another profile Can Request; nobody requests an update for
/// their own device; the profile must fit the card's interfaces; approval is
/// needed only when switching to another profile that has Validate Issuance.
pub fn plan_update<'a>(
    device: &Device,
    target: &CredentialProfile,
    reason: UpdateReason,
    actor: &Actor,
    existing: impl IntoIterator<Item = &'a Request>,
) -> Result<UpdatePlan, Refusal> {
    actor.require_use_case(UseCase::Update)?;
    if !device.state.is_issued() {
        return Err(Refusal::StateNotAllowed {
            from: AnyState::Card(device.state),
            command: "request_update".to_owned(),
        });
    }
    let same_profile = target.id == device.profile.id;
    let needed = if same_profile { ProfilePermission::CanCollect } else { ProfilePermission::CanRequest };
    actor.require(Permission::on(needed, target.id))?;
    not_own_device(actor, device.id, device.owner)?;
    let card = device.capabilities.ok_or(Refusal::CapabilitiesUnknown)?;
    if !card.contact {
        return Err(Refusal::ContactInterfaceRequired);
    }
    if !target.fits(card) {
        return Err(Refusal::CapabilityMismatch { required: target.settings.capabilities, card });
    }
    if target.settings.is_temporary {
        return Err(Refusal::ProfileIsTemporary { profile: target.id });
    }
    let needs_approval = !same_profile && target.settings.validate_issuance;
    let kind = reason.kind();
    Ok(UpdatePlan {
        kind,
        request_state: if needs_approval { RequestState::PendingApproval } else { RequestState::Approved },
        needs_approval,
        same_profile,
        target: target.reference(),
        supersedes: superseded_by_new(kind, device.id, existing),
    })
}

/// Whether a card lags behind its profile's latest version (UC-UPDATE
/// "Apply latest updates", UC-WALKUP "a card with pending updates").
pub fn has_newer_version(device: &Device, latest: &CredentialProfile) -> bool {
    latest.id == device.profile.id && latest.version > device.profile.version
}

/// The approved update and reprovision requests "Collect updates" applies to
/// `device` with the card inserted (UC-UPDATE): reprovisioning first (it
/// re-encodes everything), then updates.
pub fn updates_to_collect<'a>(
    device: DeviceId,
    requests: impl IntoIterator<Item = &'a Request>,
) -> Vec<RequestId> {
    let approved: Vec<&Request> = requests
        .into_iter()
        .filter(|r| r.device == Some(device) && r.state == RequestState::Approved)
        .collect();
    let of = |kind: RequestKind| approved.iter().filter(move |r| r.kind == kind).map(|r| r.id);
    of(RequestKind::Reprovision).chain(of(RequestKind::Update)).collect()
}

/// Checks a PIN unblock for `device` (UC-PIN): the use case is on, the
/// operator holds Unblock PIN, the card is issued, and it is not their own.
pub fn check_pin_unblock(device: &Device, actor: &Actor) -> Result<(), Refusal> {
    actor.require_use_case(UseCase::Pin)?;
    if !matches!(device.state, CardState::Issued | CardState::Active | CardState::Inactive) {
        return Err(Refusal::StateNotAllowed {
            from: AnyState::Card(device.state),
            command: "unblock_pin".to_owned(),
        });
    }
    actor.require(Permission::global(GlobalPermission::UnblockPin))?;
    not_own_device(actor, device.id, device.owner)
}

/// A walk-up job (UC-WALKUP) is the cardholder's own: the kiosk acts as the
/// cardholder of the enrollment, and only on that person's card.
pub fn walkup_cardholder(actor: &Actor, owner: Option<PersonId>) -> Result<(), Refusal> {
    actor.require_use_case(UseCase::Walkup)?;
    match actor.kind {
        crate::actor::ActorKind::Cardholder { person } if owner == Some(person) => Ok(()),
        crate::actor::ActorKind::Cardholder { .. } => Err(Refusal::NotTheCardholder),
        _ => Err(Refusal::NotTheCardholder),
    }
}

/// Whether `actor` may do a card job on `device`'s card: an operator with
/// Can Collect on its profile, not on their own card; or the cardholder at
/// a walk-up kiosk, on their own.
pub fn may_collect(actor: &Actor, device: &Device) -> Result<(), Refusal> {
    if matches!(actor.kind, crate::actor::ActorKind::Cardholder { .. }) {
        return walkup_cardholder(actor, device.owner);
    }
    actor.require(Permission::on(ProfilePermission::CanCollect, device.profile.id))?;
    not_own_device(actor, device.id, device.owner)
}

/// A PIN the cardholder chose (UC-WALKUP), typed twice, under the
/// credential profile's policy; the refusal says which rule it breaks.
pub fn check_chosen_pin(
    policy: &crate::entities::profile::PinPolicy,
    pin: &str,
    again: &str,
) -> Result<(), Refusal> {
    let length = pin.chars().count();
    let (min, max) = (usize::from(policy.min_length), usize::from(policy.max_length));
    if length < min || length > max {
        let allowed = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        return Err(Refusal::PinNotAllowed(format!("the PIN must be {allowed} characters long")));
    }
    if policy.numeric && !pin.chars().all(|c| c.is_ascii_digit()) {
        return Err(Refusal::PinNotAllowed("the PIN must be digits only".into()));
    }
    if !pin.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Refusal::PinNotAllowed(
            "the PIN must be letters, digits or symbols, without spaces".into(),
        ));
    }
    if pin != again {
        return Err(Refusal::PinsDiffer);
    }
    Ok(())
}
