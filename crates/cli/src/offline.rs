//! `cardstation unblock-offline`: the offline PIN unblock by
//! challenge–response (UC-PIN; protocol in `piv::offline_unblock`).
//!
//! * `unblock-offline challenge [--reader R]` — the cardholder, no sign-in,
//!   no registry: the new PIN first (CARDSTATION_NEW_PIN or a hidden
//!   prompt), then the challenge code is shown on stderr and the response
//!   code read from stdin, while the card stays in the reader (the card
//!   forgets its challenge when the session ends). A mistyped code is asked
//!   for again; a wrong or old one is refused by the card, changing nothing.
//! * `unblock-offline respond --device D --challenge CODE --identity-check
//!   NOTE` — the helpdesk operator (signed in, Unblock PIN): prints the
//!   response code to read back. The registry audits it with the note.

use std::io::{BufRead, IsTerminal};

use serde_json::json;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::failure::Failure;
use crate::station::{bar, reader_name, sign_in, to_json, DataDir};
use crate::{secrets, CommandResult, Output};

/// The offline unblock verbs.
#[derive(Debug, clap::Subcommand)]
pub enum UnblockOfflineCommand {
    /// Cardholder: show the card's challenge code, then type the helpdesk's response code (card stays in the reader).
    Challenge {
        /// Reader name.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Helpdesk (Unblock PIN): the response code for a cardholder's challenge code.
    Respond {
        /// The cardholder's device.
        #[arg(long)]
        device: Uuid,
        /// The challenge code the cardholder read out.
        #[arg(long)]
        challenge: String,
        /// How the cardholder's identity was checked (kept in the registry's audit).
        #[arg(long)]
        identity_check: String,
    },
}

fn read_line(prompt: &str) -> station::Result<Zeroizing<String>> {
    eprint!("{prompt}");
    let mut line = Zeroizing::new(String::new());
    let n = std::io::stdin().lock().read_line(&mut line).map_err(|e| station::Error::Declined {
        code: station::ErrorCode::Cancelled,
        message: format!("cannot read the response code: {e}"),
    })?;
    if n == 0 || line.trim().is_empty() {
        return Err(station::Error::Declined {
            code: station::ErrorCode::Cancelled,
            message: "no response code was typed; nothing was changed".into(),
        });
    }
    Ok(Zeroizing::new(line.trim().to_owned()))
}

/// Runs one `unblock-offline` verb.
pub fn run(command: UnblockOfflineCommand, data: &DataDir, json_output: bool) -> CommandResult {
    match command {
        UnblockOfflineCommand::Challenge { reader } => {
            let reader = reader_name(reader.as_deref())?;
            let pin = secrets::required(secrets::NEW_PIN, "new PIN")?;
            let pin = piv::Pin::new(&pin).map_err(Failure::from)?;
            let mut shown = false;
            let mut ask = |code: &str, problem: Option<&str>| {
                if !shown {
                    eprintln!("challenge code: {code}");
                    if std::io::stderr().is_terminal() {
                        eprintln!("read it to the helpdesk and keep the card in the reader");
                    }
                    shown = true;
                }
                if let Some(problem) = problem {
                    eprintln!("{problem}; type it again");
                }
                read_line("response code: ")
            };
            let mut progress = bar(json_output);
            let path = data.path();
            let done = station::unblock_offline(Some(&path), &reader, &pin, &mut ask, &mut progress);
            progress.0.finish_and_clear();
            let done = done?;
            Ok(Output {
                text: format!("PIN of device {} unblocked; the new PIN is the one you chose\n", done.device),
                json: to_json(&done),
            })
        }
        UnblockOfflineCommand::Respond { device, challenge, identity_check } => {
            let mut session = sign_in(data)?;
            let answer = session.respond_offline_unblock(
                domain::DeviceId::new(device),
                &challenge,
                &identity_check,
            )?;
            Ok(Output {
                text: format!("response code (read it to the cardholder): {}\n", answer.response.as_str()),
                json: json!({ "device": answer.device, "response": answer.response.as_str() }),
            })
        }
    }
}
