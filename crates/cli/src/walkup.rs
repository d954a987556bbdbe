//! `cardstation walkup --reader R`: the walk-up kiosk in a terminal
//! (UC-WALKUP), for scripts and tests. Signed in with the kiosk account
//! (`CARDSTATION_OPERATOR`, `CARDSTATION_PASSWORD`), it asks for the
//! enrollment code and a new PIN twice (hidden prompts, or
//! `CARDSTATION_ENROLLMENT_CODE` and `CARDSTATION_NEW_PIN`), encodes the
//! card, then verifies the PIN on it (`CARDSTATION_PIN`, default the new
//! one) as the cardholder's first authentication.

use crate::failure::Failure;
use crate::secrets;
use crate::station::{bar, reader_name, sign_in, to_json, DataDir};
use crate::{CommandResult, Output};

/// Environment variable for the enrollment code.
pub const ENROLLMENT_CODE: &str = "CARDSTATION_ENROLLMENT_CODE";

/// `walkup` options.
#[derive(Debug, clap::Args)]
pub struct WalkupArgs {
    /// Reader name (exact or a unique part); default: the only reader with a card.
    #[arg(long)]
    reader: Option<String>,
}

/// Runs one walk-up session on the card in the reader.
pub fn run(args: WalkupArgs, data: &DataDir, json_output: bool) -> CommandResult {
    let mut session = sign_in(data)?;
    if !session.may_walkup() {
        return Err(Failure::new(
            "not-permitted",
            "this account may not run the walk-up kiosk: sign in with a kiosk account",
        ));
    }
    let reader = reader_name(args.reader.as_deref())?;
    if secrets::optional(ENROLLMENT_CODE).is_none() {
        if let Some(update) = session.walkup_recognise(&reader)? {
            return run_update(&mut session, &update, &reader, json_output);
        }
    }
    let code = proto::EnrollmentCode::new(secrets::required(ENROLLMENT_CODE, "enrollment code")?.as_str());
    let walkup = session.walkup_check(&code)?;
    eprintln!(
        "Hello, {}. Choose a PIN of {} characters{}.",
        walkup.person_name,
        lengths(&walkup.pin),
        if walkup.pin.numeric { ", digits only" } else { "" }
    );
    let pin = chosen_pin(&walkup.pin)?;
    let mut progress = bar(json_output);
    let encoded = session.walkup_encode(&walkup, &code, &pin, &reader, &mut progress);
    progress.0.finish_and_clear();
    let encoded = encoded?;
    let tried = match secrets::optional(secrets::PIN) {
        Some(typed) => piv::Pin::new(&typed).map_err(station::Error::from)?,
        None => pin,
    };
    session.walkup_authenticate(&walkup, &code, &tried, &reader)?;
    let mut text = format!(
        "Card {} is yours, {}{}: your PIN works. Remove your card.\n",
        encoded.serial,
        walkup.person_name,
        if encoded.resumed { " (finished after an interruption)" } else { "" }
    );
    for w in &encoded.warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    let json = serde_json::json!({ "walkup": to_json(&walkup), "encoded": to_json(&encoded), "authenticated": true });
    Ok(Output { text, json })
}

/// The card's holder proves card and PIN, chooses a new PIN, and the card
/// takes its update.
fn run_update(
    session: &mut station::Session,
    update: &station::WalkupUpdate,
    reader: &str,
    json_output: bool,
) -> CommandResult {
    eprintln!("Hello, {}. Your card has an update waiting ({}).", update.person_name, update.profile_name);
    if update.resuming {
        eprintln!("Your card's update was interrupted: it is finished now.");
    } else {
        let current = secrets::required(secrets::PIN, "your current PIN")?;
        let current = piv::Pin::new(&current).map_err(station::Error::from)?;
        session.walkup_prove(update, &current, reader)?;
    }
    eprintln!(
        "Choose a new PIN of {} characters{}.",
        lengths(&update.pin),
        if update.pin.numeric { ", digits only" } else { "" }
    );
    let pin = chosen_pin(&update.pin)?;
    let mut progress = bar(json_output);
    let updated = session.walkup_update(update, &pin, reader, &mut progress);
    progress.0.finish_and_clear();
    let updated = updated?;
    session.walkup_try_new_pin(update, &pin, reader)?;
    let mut text = format!(
        "Card {} is up to date, {}{}: your new PIN works. Remove your card.\n",
        updated.serial,
        update.person_name,
        if updated.resumed { " (finished after an interruption)" } else { "" }
    );
    for w in &updated.warnings {
        text.push_str(&format!("warning: {w}\n"));
    }
    let json =
        serde_json::json!({ "update": to_json(update), "encoded": to_json(&updated), "authenticated": true });
    Ok(Output { text, json })
}

/// The new PIN, typed twice, under the profile's rules.
fn chosen_pin(rules: &station::PinRules) -> Result<piv::Pin, Failure> {
    let pin = secrets::required(secrets::NEW_PIN, "new PIN")?;
    let again = match secrets::optional(secrets::NEW_PIN) {
        Some(same) => same,
        None => secrets::required(secrets::NEW_PIN, "new PIN again")?,
    };
    station::check_walkup_pin(rules, &pin, &again)?;
    Ok(piv::Pin::new(&pin).map_err(station::Error::from)?)
}

fn lengths(rules: &station::PinRules) -> String {
    if rules.min_length == rules.max_length {
        rules.min_length.to_string()
    } else {
        format!("{} to {}", rules.min_length, rules.max_length)
    }
}
