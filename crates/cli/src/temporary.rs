//! `cardstation temp …`: temporary cards (UC-TEMP, seed 001) through the
//! `station` crate — order, produced, init, assign, withdraw, lock, expire,
//! list. `init` shows a progress bar and prints the PIN once.

use domain::{DeviceId, PersonId, ProfileId, TemporaryCard, TemporaryCardState, TemporaryReturnReason};
use uuid::Uuid;

use crate::failure::Failure;
use crate::station::{bar, reader_name, sign_in, to_json, DataDir};
use crate::text::{self, Table};
use crate::{CommandResult, Output};
use station::Session;

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

fn card_text(session: &Session, card: &TemporaryCard) -> String {
    let mut text = format!(
        "temporary card {} ({}): {}",
        card.id,
        card.serial.as_deref().unwrap_or("no serial"),
        text::words(card.state.name())
    );
    if let Some(holder) = card.holder {
        text.push_str(&format!(", held by {}", session.person_ref(holder).name));
    }
    if let Some(until) = card.assigned_until {
        text.push_str(&format!(" until {}", text::time(until)));
    }
    text.push('\n');
    if let Some(next) = next_step(card) {
        text.push_str(&format!("next: {next}\n"));
    }
    text
}

/// The command that moves a temporary card on, where there is one.
fn next_step(card: &TemporaryCard) -> Option<String> {
    match card.state {
        TemporaryCardState::Ordered => {
            Some(format!("`cardstation temp produced {}` when it is delivered", card.id))
        }
        TemporaryCardState::Produced => {
            Some(format!("`cardstation temp init {}` with the card in a reader", card.id))
        }
        TemporaryCardState::Unassigned => {
            Some(format!("`cardstation temp assign {} --person PERSON` to lend it", card.id))
        }
        _ => None,
    }
}

/// Temporary cards as a table.
fn cards_text(session: &Session, cards: &[&TemporaryCard]) -> String {
    let mut table = Table::with_header(&["CARD", "SERIAL", "STATE", "HELD BY", "UNTIL"]);
    for card in cards {
        table.row([
            card.id.to_string(),
            card.serial.clone().unwrap_or_default(),
            text::words(card.state.name()),
            card.holder.map(|p| session.person_ref(p).name).unwrap_or_default(),
            card.assigned_until.map(text::time).unwrap_or_default(),
        ]);
    }
    table.render()
}

fn one(session: &Session, card: &TemporaryCard) -> Output {
    Output { text: card_text(session, card), json: to_json(card) }
}

/// Runs one `temp` command.
pub fn run(command: TempCommand, data: &DataDir, json_output: bool) -> CommandResult {
    let mut session = sign_in(data)?;
    match command {
        TempCommand::Order { profile, serial } => {
            let card = session.order_temporary_card(ProfileId::new(profile), serial)?;
            Ok(one(&session, &card))
        }
        TempCommand::Produced { card, serial } => {
            let card = session.mark_temporary_card_produced(DeviceId::new(card), serial)?;
            Ok(one(&session, &card))
        }
        TempCommand::Init { card, reader } => {
            let reader = reader_name(reader.as_deref())?;
            let mut progress = bar(json_output);
            let done = session.initialize_temporary_card(DeviceId::new(card), &reader, &mut progress);
            progress.0.finish_and_clear();
            let done = done?;
            let mut text = card_text(&session, &done.card);
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
            let card = session.assign_temporary_card(DeviceId::new(card), PersonId::new(person), until)?;
            Ok(one(&session, &card))
        }
        TempCommand::Withdraw { card, reason } => {
            let reason = parse_reason(&reason)?;
            let card = session.withdraw_temporary_card(DeviceId::new(card), reason)?;
            Ok(one(&session, &card))
        }
        TempCommand::Lock { card } => {
            let card = session.lock_temporary_card(DeviceId::new(card))?;
            Ok(one(&session, &card))
        }
        TempCommand::Expire => {
            let expired = session.expire_temporary_cards()?;
            let mut text =
                format!("{} expired\n", text::count(expired.len(), "temporary card", "temporary cards"));
            if !expired.is_empty() {
                text.push_str(&cards_text(&session, &expired.iter().collect::<Vec<_>>()));
            }
            Ok(Output { text, json: to_json(&expired) })
        }
        TempCommand::List { state } => {
            let state = state.as_deref().map(parse_state).transpose()?;
            let cards = session.temporary_cards(state)?;
            let text = if cards.is_empty() {
                "no temporary cards\n".to_owned()
            } else {
                cards_text(&session, &cards.iter().map(|c| &c.card).collect::<Vec<_>>())
            };
            Ok(Output { text, json: to_json(&cards) })
        }
    }
}
