//! Temporary cards at the registry (SPEC §4 Temporary card; UC-TEMP, seed 001).
//!
//! `OrderTemporaryCard` makes the record (`ordered`); `ChangeTemporaryCard`
//! moves it through the domain's temporary-card machine and applies the
//! machine's effects on the holder's permanent card in the same
//! transaction: assigning suspends it (`temporarily inactive`, its
//! certificates on hold as a deactivation does), withdrawing resumes it per
//! the return reason (no longer needed → active, certificates valid; lost →
//! inactive, certificates stay on hold). Locking a lent card leaves the
//! permanent card inactive as a "lost" return does (see [`change`]).
//!
//! Temporary cards carry no keys or certificates: they pass between people,
//! and a certificate would name one of them. Their profile names no slot
//! (an order with a profile that does is refused); initialization writes
//! the CHUID (GUID = the temporary card's id), a per-card management key,
//! PIN and PUK, the latter two escrowed here like a device's.

use domain::{
    machines, Actor, CardCommand, CardEffect, CardState, Device, DeviceId, GlobalPermission, Permission,
    PersonStatus, TemporaryCard, TemporaryCardCommand, TemporaryCardEffect, TemporaryCardState, UseCase,
};
use proto::{ChangeTemporaryCard, OrderTemporaryCard, Record};
use time::OffsetDateTime;

use crate::decline::{check_text, not_found, refuse, Decline};
use crate::storage::Tx;

/// Orders a temporary card with a temporary-card profile (no slots).
pub(crate) fn order(
    tx: &mut dyn Tx,
    actor: &Actor,
    o: &OrderTemporaryCard,
    records: &mut Vec<Record>,
) -> Result<(), Decline> {
    let Some(profile) = tx.latest_profile(o.profile)? else {
        return not_found("credential profile", o.profile);
    };
    domain::rules::check_temporary_order(&profile, actor)?;
    if !profile.settings.slots.is_empty() {
        return refuse(
            "invalid_profile",
            format!(
                "credential profile {} names key slots: temporary cards carry no keys or certificates \
                 (they pass between people); use a temporary-card profile without slots",
                profile.settings.name
            ),
        );
    }
    if let Some(serial) = &o.serial {
        check_text("serial", serial, true)?;
    }
    if tx.temporary_card(o.card)?.is_some() || tx.device(o.card)?.is_some() {
        return refuse("already_exists", format!("card {} already exists", o.card));
    }
    records.push(Record::TemporaryCard(TemporaryCard {
        id: o.card,
        serial: o.serial.clone(),
        profile: profile.reference(),
        state: TemporaryCardState::Ordered,
        holder: None,
        assigned_until: None,
        permanent_card: None,
    }));
    Ok(())
}

/// Decides a command on a temporary card and applies its effects on the
/// holder's permanent card.
pub(crate) fn change(
    tx: &mut dyn Tx,
    actor: &Actor,
    c: &ChangeTemporaryCard,
    now: OffsetDateTime,
    records: &mut Vec<Record>,
) -> Result<(), Decline> {
    let Some(mut card) = tx.temporary_card(c.card)? else {
        return not_found("temporary card", c.card);
    };
    if let Some(serial) = &c.serial {
        check_text("serial", serial, true)?;
        if !matches!(c.command, TemporaryCardCommand::MarkProduced) {
            return refuse("invalid", "a serial is given only when the card is marked produced");
        }
    }
    if let TemporaryCardCommand::Assign { person, permanent_card, .. } = &c.command {
        let Some(holder) = tx.person(*person)? else {
            return not_found("person", person);
        };
        if holder.status != PersonStatus::Active {
            return refuse("person_inactive", format!("{} is not an active person", holder.display_name()));
        }
        if let Some(device) = permanent_card {
            let Some(device) = tx.device(*device)? else {
                return not_found("device", device);
            };
            if device.owner != Some(*person) {
                return refuse(
                    "invalid",
                    format!("device {} is not {}'s card", device.id, holder.display_name()),
                );
            }
        }
    }
    let outcome = machines::temporary_card::apply(&card, &c.command, actor, now)?;
    card.state = outcome.to;
    match &c.command {
        TemporaryCardCommand::MarkProduced => card.serial = c.serial.clone().or(card.serial),
        TemporaryCardCommand::Assign { person, until, permanent_card } => {
            card.holder = Some(*person);
            card.assigned_until = *until;
            card.permanent_card = *permanent_card;
        }
        _ => {}
    }
    let mut follow = Vec::new();
    // Locking a lent card (the holder lost it): nobody holds a temporary
    // card any more, so the permanent card leaves `temporarily inactive`
    // as on a return with reason lost — `inactive`, certificates on hold —
    // from where an operator reactivates it once it is back in hand,
    // instead of staying in a state only a return could end.
    if matches!(c.command, TemporaryCardCommand::Lock) {
        if let Some(device) = card.permanent_card {
            let command = CardCommand::ResumeAfterTemporary { reason: domain::TemporaryReturnReason::Lost };
            follow.extend(permanent_card_follows(tx, actor, device, &command, now, false)?);
        }
    }
    for effect in &outcome.effects {
        match effect {
            TemporaryCardEffect::SuspendPermanentCard { device } => {
                let command = CardCommand::SuspendForTemporary { temporary: card.id };
                follow.extend(permanent_card_follows(tx, actor, *device, &command, now, true)?);
            }
            TemporaryCardEffect::ResumePermanentCard { device, reason } => {
                let command = CardCommand::ResumeAfterTemporary { reason: *reason };
                follow.extend(permanent_card_follows(tx, actor, *device, &command, now, false)?);
            }
            TemporaryCardEffect::ClearHolder => {
                card.holder = None;
                card.assigned_until = None;
                card.permanent_card = None;
            }
        }
    }
    // Devices and certificates first, then the temporary card naming them.
    records.extend(follow);
    records.push(Record::TemporaryCard(card));
    Ok(())
}

/// The permanent card `device` after `command`, and its certificates that
/// follow (on hold while suspended; valid again when resumed as no longer
/// needed). Suspending a card that is not active is refused (`strict`);
/// resuming one that someone else has since changed (cancelled, expired)
/// leaves it as it is: the temporary card still comes back.
fn permanent_card_follows(
    tx: &mut dyn Tx,
    actor: &Actor,
    device: DeviceId,
    command: &CardCommand,
    now: OffsetDateTime,
    strict: bool,
) -> Result<Vec<Record>, Decline> {
    let Some(mut device): Option<Device> = tx.device(device)? else {
        return not_found("device", device);
    };
    if !strict && device.state != CardState::TemporarilyInactive {
        return Ok(Vec::new());
    }
    let outcome = machines::card::apply(&device, command, actor, now)?;
    device.state = outcome.to;
    let mut records = Vec::new();
    let mut certificates = tx.certificates_of(device.id)?;
    for effect in &outcome.effects {
        let revoking = matches!(effect, CardEffect::RevokeCertificates { .. });
        for cert in &mut certificates {
            if !revoking && !device.certificates.contains(&cert.id) {
                continue;
            }
            if let Some(state) = machines::certificate::follow_card(cert.state, *effect) {
                cert.state = state;
                records.push(Record::Certificate(cert.clone()));
            }
        }
    }
    records.insert(0, Record::Device(device));
    Ok(records)
}

/// Whether `actor` may escrow a secret of temporary card `id` (before
/// initializing it): Manage temporary cards under UC-TEMP, a card not locked.
pub(crate) fn check_escrow(tx: &mut dyn Tx, actor: &Actor, id: DeviceId) -> Result<TemporaryCard, Decline> {
    let Some(card) = tx.temporary_card(id)? else {
        return not_found("device", id);
    };
    check_secret_access(actor, &card)?;
    if card.state == TemporaryCardState::Locked {
        return refuse("state_not_allowed", format!("temporary card {id} is locked: nothing to escrow"));
    }
    Ok(card)
}

/// Who may store or read a temporary card's escrowed secrets (management
/// key, PUK): an operator with Manage temporary cards under UC-TEMP who is
/// not its current holder.
pub(crate) fn check_secret_access(actor: &Actor, card: &TemporaryCard) -> Result<(), domain::Refusal> {
    actor.require_use_case(UseCase::Temp)?;
    actor.require(Permission::global(GlobalPermission::ManageTemporaryCards))?;
    if card.holder.is_some() && actor.person() == card.holder {
        return Err(domain::Refusal::ActorIsRecipient);
    }
    Ok(())
}
