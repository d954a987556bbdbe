//! `cardstation temp …`: temporary cards (UC-TEMP, seed 001) through the
//! `station` crate — order, produced, init, assign, withdraw, lock, expire,
//! list. `init` shows a progress bar and prints the PIN once.

use domain::{DeviceId, PersonId, ProfileId, TemporaryCard, TemporaryCardState, TemporaryReturnReason};
use uuid::Uuid;

use crate::failure::Failure;
use crate::station::{bar, reader_name, sign_in, to_json, DataDir};
use crate::{CommandResult, Output};

/// `temp …`.
#[derive(Debug, clap::Subcommand)]
pub enum TempCommand {
    /// Order a temporary card from external production (state `ordered`).
    Order {
        /// A temporary-card credential profile (id).
        #[arg(long)]
        profile: Uuid,
        /// Serial printed on the card, if known.
        #[arg(long)]
        serial: Option<String>,
    },
    /// External production delivered the card (state `produced`).
    Produced {
        /// The temporary card.
        card: Uuid,
        /// Serial printed on the card.
        #[arg(long)]
        serial: Option<String>,
    },
    /// Initialize a produced card in a reader: profile, PIN, PUK (state `unassigned`).
    /// Resumes an interrupted initialization of the card.
    Init {
        /// The temporary card.
        card: Uuid,
        /// Reader name (exact or a unique part); default: the only reader with a card.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Lend the card to a person; their active permanent card becomes temporarily inactive.
    Assign {
        /// The temporary card.
        card: Uuid,
        /// The holder (person id).
        #[arg(long)]
        person: Uuid,
        /// End of the assignment: 2026-12-01 (midnight UTC) or RFC 3339.
        #[arg(long)]
        until: Option<String>,
    },
    /// Take the card back (a return) with the reason that decides the permanent card's fate.
    Withdraw {
        /// The temporary card.
        card: Uuid,
        /// no-longer-needed (the permanent card is reactivated) or lost (it stays inactive).
        #[arg(long)]
        reason: String,
    },
    /// Lock the card for good.
    Lock {
        /// The temporary card.
        card: Uuid,
    },
    /// Expire every assigned card whose assignment period has passed.
    Expire,
    /// List temporary cards, e.g. the produced ones to initialize (`--state produced`).
    List {
        /// ordered, produced, unassigned, assigned, expired or locked; default: all.
        #[arg(long)]
        state: Option<String>,
    },
}

fn parse_state(text: &str) -> Result<TemporaryCardState, Failure> {
    let wanted = text.replace('-', "_");
    TemporaryCardState::ALL.into_iter().find(|s| s.name() == wanted).ok_or_else(|| {
        Failure::new(
            "bad-input",
            format!("{text:?} is not a state: ordered, produced, unassigned, assigned, expired or locked"),
        )
    })
}

fn parse_reason(text: &str) -> Result<TemporaryReturnReason, Failure> {
    match text.replace('_', "-").as_str() {
        "no-longer-needed" => Ok(TemporaryReturnReason::NoLongerNeeded),
        "lost" => Ok(TemporaryReturnReason::Lost),
        _ => Err(Failure::new(
            "bad-input",
            format!("{text:?} is not a return reason: no-longer-needed or lost"),
        )),
    }
}

fn card_text(card: &TemporaryCard) -> String {
    let mut text = format!(
        "temporary card {} ({}): {}",
        card.id,
        card.serial.as_deref().unwrap_or("no serial"),
        card.state.name()
    );
    if let Some(holder) = card.holder {
        text.push_str(&format!(", held by {holder}"));
    }
    if let Some(until) = card.assigned_until {
        text.push_str(&format!(" until {until}"));
    }
    text.push('\n');
    text
}

fn one(card: &TemporaryCard) -> Output {
    Output { text: card_text(card), json: to_json(card) }
}

/// Runs one `temp` command.
pub fn run(command: TempCommand, data: &DataDir, json_output: bool) -> CommandResult {
    let mut session = sign_in(data)?;
    match command {
        TempCommand::Order { profile, serial } => {
            Ok(one(&session.order_temporary_card(ProfileId::new(profile), serial)?))
        }
        TempCommand::Produced { card, serial } => {
            Ok(one(&session.mark_temporary_card_produced(DeviceId::new(card), serial)?))
        }
        TempCommand::Init { card, reader } => {
            let reader = reader_name(reader.as_deref())?;
            let mut progress = bar(json_output);
            let done = session.initialize_temporary_card(DeviceId::new(card), &reader, &mut progress);
            progress.0.finish_and_clear();
            let done = done?;
            let mut text = card_text(&done.card);
            match &done.pin {
                Some(pin) => text.push_str(&format!("PIN (shown once): {}\n", pin.expose_secret())),
                None => text.push_str("no PIN could be set\n"),
            }
            for w in &done.warnings {
                text.push_str(&format!("warning: {w}\n"));
            }
            let json = crate::station::with_pin(&done, done.pin.as_ref());
            Ok(Output { text, json })
        }
        TempCommand::Assign { card, person, until } => {
            let until = until.as_deref().map(station::parse_time).transpose()?;
            Ok(one(&session.assign_temporary_card(DeviceId::new(card), PersonId::new(person), until)?))
        }
        TempCommand::Withdraw { card, reason } => {
            let reason = parse_reason(&reason)?;
            Ok(one(&session.withdraw_temporary_card(DeviceId::new(card), reason)?))
        }
        TempCommand::Lock { card } => Ok(one(&session.lock_temporary_card(DeviceId::new(card))?)),
        TempCommand::Expire => {
            let expired = session.expire_temporary_cards()?;
            let mut text = format!("{} temporary card(s) expired\n", expired.len());
            for c in &expired {
                text.push_str(&card_text(c));
            }
            Ok(Output { text, json: to_json(&expired) })
        }
        TempCommand::List { state } => {
            let state = state.as_deref().map(parse_state).transpose()?;
            let cards = session.temporary_cards(state)?;
            let text: String = cards.iter().map(|c| card_text(&c.card)).collect();
            Ok(Output { text, json: to_json(&cards) })
        }
    }
}
