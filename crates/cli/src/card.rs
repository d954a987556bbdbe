//! `cardstation card …`: the card engine's commands.

use crate::connect::{choose_reader, with_card, with_card_unselected};
use crate::failure::Failure;
use crate::{secrets, CommandResult, Output};
use clap::Subcommand;
use piv::{CardInfo, Pin, PinStatus, Puk, PukStatus};
use reader::Readers;
use serde_json::json;
use std::fmt::Write as _;

/// Card commands.
#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// List readers and whether each holds a card.
    Readers,
    /// Print cards and readers as they come and go (one line, or one JSON
    /// object, per event) until `--count` events or `--timeout` seconds.
    Watch {
        /// Only events of this reader (exact name, or a unique part of it).
        #[arg(long)]
        reader: Option<String>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<usize>,
        /// Stop after this many seconds.
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Show everything the card tells without a PIN.
    Info {
        /// Reader name (exact, or a unique part of it); default: the only reader with a card.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Personalize a card from a credential profile (keys, certificates, CHUID, CCC, PIN, PUK).
    Personalize(crate::personalize::PersonalizeArgs),
    /// Change the PIN (CARDSTATION_PIN → CARDSTATION_NEW_PIN, or prompts).
    ChangePin {
        /// Reader.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Change the PUK (CARDSTATION_PUK → CARDSTATION_NEW_PUK, or prompts).
    ChangePuk {
        /// Reader.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Set a new PIN with the PUK (CARDSTATION_PUK, CARDSTATION_NEW_PIN, or prompts).
    UnblockPin {
        /// Reader.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Check a PIN once (CARDSTATION_PIN); a wrong PIN spends exactly one try.
    VerifyPin {
        /// Reader.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Return a YubiKey-compatible card to factory state. The card allows it
    /// only once PIN and PUK are both blocked; nothing is blocked for you.
    Reset {
        /// Reader.
        #[arg(long)]
        reader: Option<String>,
        /// Confirm that everything on the card is to be destroyed.
        #[arg(long)]
        yes: bool,
    },
}

/// Runs one card command.
pub fn run(command: CardCommand, json_output: bool) -> CommandResult {
    match command {
        CardCommand::Readers => readers(),
        CardCommand::Watch { reader, count, timeout } => {
            watch(reader.as_deref(), count, timeout, json_output)
        }
        CardCommand::Info { reader } => info(reader.as_deref()),
        CardCommand::Personalize(args) => crate::personalize::run(args, json_output),
        CardCommand::ChangePin { reader } => change_pin(reader.as_deref()),
        CardCommand::ChangePuk { reader } => change_puk(reader.as_deref()),
        CardCommand::UnblockPin { reader } => unblock_pin(reader.as_deref()),
        CardCommand::VerifyPin { reader } => verify_pin(reader.as_deref()),
        CardCommand::Reset { reader, yes } => reset(reader.as_deref(), yes),
    }
}

fn readers() -> CommandResult {
    let readers = Readers::establish()?;
    let list = readers.list()?;
    let mut table = crate::text::Table::new();
    for r in &list {
        table.row([
            r.name.clone(),
            match &r.atr {
                Some(atr) => format!("card present, ATR {}", hex::encode_upper(atr)),
                None if r.card_present => "card present".to_owned(),
                None => "empty".to_owned(),
            },
        ]);
    }
    let text = if list.is_empty() { "no readers\n".to_owned() } else { table.render() };
    let json = json!(list
        .iter()
        .map(|r| json!({"name": r.name, "card_present": r.card_present, "atr": r.atr.as_ref().map(hex::encode_upper)}))
        .collect::<Vec<_>>());
    Ok(Output { text, json })
}

fn watch(
    reader: Option<&str>,
    count: Option<usize>,
    timeout: Option<u64>,
    json_output: bool,
) -> CommandResult {
    use reader::ReaderEvent as E;
    use std::io::Write as _;
    let only = match reader {
        Some(wanted) => Some(choose_reader(&Readers::establish()?, Some(wanted))?),
        None => None,
    };
    let mut watcher = reader::Watcher::new()?;
    let deadline = timeout.map(|s| std::time::Instant::now() + std::time::Duration::from_secs(s));
    // The cards already in readers come first, as `card-present`: a script
    // then knows the watch is running and what it starts from.
    let mut pending: Vec<(&'static str, String, Option<String>)> = watcher
        .readers()
        .into_iter()
        .filter(|r| r.card_present)
        .map(|r| ("card-present", r.name, r.atr.map(hex::encode_upper)))
        .collect();
    let mut seen = 0usize;
    loop {
        for (kind, name, atr) in pending.drain(..) {
            if only.as_ref().is_some_and(|o| *o != name) || count.is_some_and(|c| seen >= c) {
                continue;
            }
            seen += 1;
            let line = if json_output {
                json!({ "event": kind, "reader": name, "atr": atr }).to_string()
            } else {
                format!("{kind}\t{name}{}", atr.map(|a| format!("\tATR {a}")).unwrap_or_default())
            };
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) ends the watch like Ctrl-C would.
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                return Ok(Output { text: String::new(), json: serde_json::Value::Null });
            }
        }
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if count.is_some_and(|c| seen >= c) || left.is_some_and(|l| l.is_zero()) {
            break;
        }
        pending = watcher
            .wait_for_change(left)?
            .into_iter()
            .map(|event| match event {
                E::CardInserted { reader, atr } => ("card-inserted", reader, Some(hex::encode_upper(atr))),
                E::CardRemoved { reader } => ("card-removed", reader, None),
                E::ReaderAdded { reader } => ("reader-added", reader, None),
                E::ReaderRemoved { reader } => ("reader-removed", reader, None),
            })
            .collect();
    }
    Ok(Output { text: String::new(), json: serde_json::Value::Null })
}

fn info(reader: Option<&str>) -> CommandResult {
    let (name, info) =
        with_card_unselected(reader, |name, card| Ok((name.to_owned(), piv::read_info(card)?)))?;
    let mut json = serde_json::to_value(&info).map_err(|e| Failure::new("internal", e.to_string()))?;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("reader".into(), json!(name));
    }
    Ok(Output { text: describe(&name, &info), json })
}

/// The operator's view of a card.
fn describe(reader: &str, info: &CardInfo) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "Reader:          {reader}");
    if let Some(v) = info.version {
        let _ = writeln!(t, "Version:         {v}");
    }
    if let Some(s) = info.serial {
        let _ = writeln!(t, "Serial:          {s}");
    }
    match &info.chuid {
        Some(c) => {
            let _ = writeln!(
                t,
                "CHUID:           GUID {} expires {}",
                hex::encode_upper(&c.guid),
                c.expiry.as_deref().map(chuid_date).unwrap_or_else(|| "?".into())
            );
        }
        None => t.push_str("CHUID:           none\n"),
    }
    let _ = writeln!(t, "CCC:             {}", if info.ccc.is_some() { "present" } else { "none" });
    let _ = writeln!(t, "PIN:             {}", pin_text(info.pin));
    let _ = writeln!(t, "PUK:             {}", puk_text(info.puk));
    if let Some(alg) = info.management_key_algorithm {
        let default = match info.management_key_is_default {
            Some(true) => " (factory default!)",
            _ => "",
        };
        let _ = writeln!(t, "Management key:  {}{default}", algorithm_name(alg));
    }
    if info.looks_blank() {
        t.push_str("State:           blank (no CHUID, no certificates)\n");
    }
    for c in &info.certificates {
        match &c.summary {
            Some(s) => {
                let _ = writeln!(
                    t,
                    "Slot {}:         {}\n                 issuer {}\n                 {} valid {} .. {}{}",
                    c.slot,
                    s.subject,
                    s.issuer,
                    s.key_description,
                    crate::text::time_text(&s.not_before),
                    crate::text::time_text(&s.not_after),
                    match c.key_matches {
                        Some(false) =>
                            "\n                 WARNING: the card's key does not match this certificate",
                        _ => "",
                    }
                );
            }
            None => {
                let _ =
                    writeln!(t, "Slot {}:         unreadable: {}", c.slot, c.error.as_deref().unwrap_or("?"));
            }
        }
    }
    for p in &info.problems {
        let _ = writeln!(t, "Problem:         {p}");
    }
    t
}

/// `AES-256`, `3DES`: the management key's algorithm as people write it.
pub(crate) fn algorithm_name(a: piv::ManagementKeyAlgorithm) -> String {
    piv::profile::names::management_algorithm_name(a).to_uppercase()
}

/// The CHUID's `YYYYMMDD` expiry as `YYYY-MM-DD`, like every other date shown.
fn chuid_date(yyyymmdd: &str) -> String {
    match (yyyymmdd.get(0..4), yyyymmdd.get(4..6), yyyymmdd.get(6..8)) {
        (Some(y), Some(m), Some(d)) if yyyymmdd.len() == 8 => format!("{y}-{m}-{d}"),
        _ => yyyymmdd.to_owned(),
    }
}

fn pin_text(p: PinStatus) -> String {
    match p {
        PinStatus::Verified => "verified".into(),
        PinStatus::Tries(n) => format!("{n} tries left"),
        PinStatus::Blocked => "BLOCKED".into(),
    }
}

fn puk_text(p: PukStatus) -> String {
    match p {
        PukStatus::Tries(n) => format!("{n} tries left"),
        PukStatus::Blocked => "BLOCKED".into(),
        PukStatus::Unknown => "unknown (the card does not tell without a try)".into(),
    }
}

fn pin_from(var: &str, prompt: &str) -> Result<Pin, Failure> {
    Ok(Pin::new(&secrets::required(var, prompt)?)?)
}

fn puk_from(var: &str, prompt: &str) -> Result<Puk, Failure> {
    Ok(Puk::new(&secrets::required(var, prompt)?)?)
}

/// Reports the PIN state after a refused attempt, so the operator sees the count.
fn done(message: &str, status: &str) -> CommandResult {
    Ok(Output { text: format!("{message}\n"), json: json!({ "result": status }) })
}

fn change_pin(reader: Option<&str>) -> CommandResult {
    let old = pin_from(secrets::PIN, "Current PIN")?;
    let new = pin_from(secrets::NEW_PIN, "New PIN")?;
    with_card(reader, |_, card| Ok(card.change_pin(&old, &new)?))?;
    done("PIN changed.", "pin-changed")
}

fn change_puk(reader: Option<&str>) -> CommandResult {
    let old = puk_from(secrets::PUK, "Current PUK")?;
    let new = puk_from(secrets::NEW_PUK, "New PUK")?;
    with_card(reader, |_, card| Ok(card.change_puk(&old, &new)?))?;
    done("PUK changed.", "puk-changed")
}

fn unblock_pin(reader: Option<&str>) -> CommandResult {
    let puk = puk_from(secrets::PUK, "PUK")?;
    let new = pin_from(secrets::NEW_PIN, "New PIN")?;
    with_card(reader, |_, card| Ok(card.unblock_pin(&puk, &new)?))?;
    done("PIN unblocked and set.", "pin-unblocked")
}

fn verify_pin(reader: Option<&str>) -> CommandResult {
    let pin = pin_from(secrets::PIN, "PIN")?;
    with_card(reader, |_, card| Ok(card.verify_pin(&pin)?))?;
    done("PIN correct.", "pin-verified")
}

fn reset(reader: Option<&str>, yes: bool) -> CommandResult {
    if !yes {
        return Err(Failure::new("bad-input", "reset destroys every key and object on the card: add --yes"));
    }
    with_card(reader, |_, card| {
        match (card.pin_status()?, card.puk_status()?) {
            (PinStatus::Blocked, PukStatus::Blocked) => {}
            (pin, puk) => {
                return Err(Failure::new(
                    "reset-refused",
                    format!(
                        "the card resets only when PIN and PUK are both blocked (PIN: {}, PUK: {}); \
                         Cardstation does not block them for you",
                        pin_text(pin),
                        puk_text(puk)
                    ),
                ))
            }
        }
        Ok(card.reset()?)
    })?;
    done("Card reset to factory state.", "reset")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_chuid_expiry_reads_as_a_date() {
        assert_eq!(super::chuid_date("20311207"), "2031-12-07");
        assert_eq!(super::chuid_date("2031"), "2031", "anything else as the card has it");
    }
}
