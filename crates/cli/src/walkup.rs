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
    let code = proto::EnrollmentCode::new(secrets::required(ENROLLMENT_CODE, "enrollment code")?.as_str());
    let walkup = session.walkup_check(&code)?;
    eprintln!(
        "Hello, {}. Choose a PIN of {} characters{}.",
        walkup.person_name,
        lengths(&walkup.pin),
        if walkup.pin.numeric { ", digits only" } else { "" }
    );
    let pin = secrets::required(secrets::NEW_PIN, "new PIN")?;
    let again = match secrets::optional(secrets::NEW_PIN) {
        Some(same) => same,
        None => secrets::required(secrets::NEW_PIN, "new PIN again")?,
    };
    station::check_walkup_pin(&walkup.pin, &pin, &again)?;
    let pin = piv::Pin::new(&pin).map_err(station::Error::from)?;
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

fn lengths(rules: &station::PinRules) -> String {
    if rules.min_length == rules.max_length {
        rules.min_length.to_string()
    } else {
        format!("{} to {}", rules.min_length, rules.max_length)
    }
}
