//! `cardstation card personalize`: runs the PIV personalization plan on the
//! card in a reader, with certificates from the local file CA.
//!
//! Secrets: the new PIN, PUK and management key come from
//! `CARDSTATION_NEW_PIN`, `CARDSTATION_NEW_PUK` and
//! `CARDSTATION_MANAGEMENT_KEY` (hex) when set, otherwise they are generated
//! per card. Generated ones are shown exactly once: in the result, or, when
//! the run stops after the card was written (card pulled), in the error, so
//! the operator can re-run with them and the plan resumes where the card is.
//! The registry's escrow takes this over in a later stage.

use crate::connect::with_card_unselected;
use crate::failure::Failure;
use crate::{secrets, CommandResult, Output};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use piv::personalize::{plan, PersonalizationObserver, PlanOptions, Secrets, Step};
use piv::{LocalCa, ManagementKey, Personalizer, Pin, Profile, Puk};
use serde_json::json;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Arguments of `card personalize`.
#[derive(Debug, clap::Args)]
pub struct PersonalizeArgs {
    /// Reader name (exact, or a unique part of it); default: the only reader with a card.
    #[arg(long)]
    pub reader: Option<String>,
    /// Credential profile (TOML), e.g. assets/profiles/piv-p256.toml.
    #[arg(long)]
    pub profile: PathBuf,
    /// The cardholder's name, for the certificate subjects (`{name}`).
    #[arg(long, default_value = "Cardstation Demo")]
    pub name: String,
    /// Directory of the local certificate authority (created on first use).
    #[arg(long, env = "CARDSTATION_CA_DIR")]
    pub ca_dir: Option<PathBuf>,
    /// Regenerate every key even where the card's certificate already matches.
    #[arg(long)]
    pub force_regenerate: bool,
}

/// Where the local CA lives unless told otherwise.
fn default_ca_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("cardstation/ca")
}

/// Which secrets the caller gave and which we made (only those are shown).
struct ChosenSecrets {
    secrets: Secrets,
    generated_pin: bool,
    generated_puk: bool,
    generated_key: bool,
}

fn choose_secrets(profile: &Profile) -> Result<ChosenSecrets, Failure> {
    let mut rng = rand::rngs::OsRng;
    let generated = Secrets::generate(profile, &mut rng)?;
    let pin = secrets::optional(secrets::NEW_PIN).map(|p| Pin::new(&p)).transpose()?;
    let puk = secrets::optional(secrets::NEW_PUK).map(|p| Puk::new(&p)).transpose()?;
    let key = match secrets::optional(secrets::MANAGEMENT_KEY) {
        Some(hex_key) => {
            let bytes = zeroize::Zeroizing::new(
                hex::decode(hex_key.trim())
                    .map_err(|_| Failure::new("bad-input", "CARDSTATION_MANAGEMENT_KEY is not hex"))?,
            );
            Some(
                ManagementKey::new(profile.management_key_algorithm, &bytes)
                    .map_err(|e| Failure::new("bad-input", e.to_string()))?,
            )
        }
        None => None,
    };
    Ok(ChosenSecrets {
        generated_pin: pin.is_none(),
        generated_puk: puk.is_none(),
        generated_key: key.is_none(),
        secrets: Secrets {
            pin: pin.unwrap_or(generated.pin),
            puk: puk.unwrap_or(generated.puk),
            management_key: key.unwrap_or(generated.management_key),
        },
    })
}

impl ChosenSecrets {
    /// The generated secrets as JSON (first and only display).
    fn shown(&self) -> serde_json::Value {
        let mut v = serde_json::Map::new();
        if self.generated_pin {
            v.insert("pin".into(), json!(self.secrets.pin.expose_secret()));
        }
        if self.generated_puk {
            v.insert("puk".into(), json!(self.secrets.puk.expose_secret()));
        }
        if self.generated_key {
            v.insert(
                "management_key".into(),
                json!({
                    "algorithm": piv::profile::names::management_algorithm_name(self.secrets.management_key.algorithm()),
                    "hex": hex::encode(self.secrets.management_key.expose_secret()),
                }),
            );
        }
        serde_json::Value::Object(v)
    }
}

/// Drives the progress bar and notes whether the card was written.
struct Progress {
    bar: ProgressBar,
    wrote: bool,
}

impl PersonalizationObserver for Progress {
    fn progress(&mut self, index: usize, total: usize, step: &Step) {
        self.bar.set_length(total as u64);
        self.bar.set_position(index as u64);
        self.bar.set_message(step.describe());
    }

    fn before_write(&mut self, _step: &Step) -> piv::Result<()> {
        self.wrote = true;
        Ok(())
    }
}

/// Runs personalization.
pub fn run(args: PersonalizeArgs, json_output: bool) -> CommandResult {
    let profile = Profile::load(&args.profile)?;
    let chosen = choose_secrets(&profile)?;
    let ca_dir = args.ca_dir.clone().unwrap_or_else(default_ca_dir);
    std::fs::create_dir_all(&ca_dir)
        .map_err(|e| Failure::new("io", format!("cannot create CA directory {}: {e}", ca_dir.display())))?;
    let ca = LocalCa::open_or_create(&ca_dir, "Cardstation Local CA")?;

    let bar = if json_output || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}") {
            bar.set_style(style);
        }
        bar
    };
    let mut progress = Progress { bar, wrote: false };
    let mut options = PlanOptions::for_holder(&args.name);
    options.force_regenerate = args.force_regenerate;

    let result = with_card_unselected(args.reader.as_deref(), |reader, card| {
        let info = piv::read_info(card)?;
        let plan = plan(&profile, &info, &options)?;
        let outcome = Personalizer::run(card, &plan, &chosen.secrets, &ca, &mut progress)?;
        Ok((reader.to_owned(), outcome))
    });
    progress.bar.finish_and_clear();

    let (reader, outcome) = match result {
        Ok(v) => v,
        Err(mut failure) => {
            if progress.wrote {
                // The card holds some of the new secrets now: show them this once,
                // so a re-run (with them in the environment) can finish the card.
                let shown = chosen.shown();
                if shown.as_object().is_some_and(|o| !o.is_empty()) {
                    failure.message = format!(
                        "{}\nThe card was partly personalized. To finish it, re-run with these in the environment \
                         (CARDSTATION_NEW_PIN, CARDSTATION_NEW_PUK, CARDSTATION_MANAGEMENT_KEY): {}",
                        failure.message, shown
                    );
                }
            }
            return Err(failure);
        }
    };

    let certificates: Vec<_> = outcome
        .certificates
        .iter()
        .map(|c| {
            json!({
                "slot": c.slot,
                "subject": c.summary.subject,
                "serial": c.summary.serial_hex,
                "not_after": c.summary.not_after,
                "sha256_fingerprint": c.summary.sha256_fingerprint,
                "pem": pem(&c.der),
            })
        })
        .collect();
    let shown = chosen.shown();
    let json = json!({
        "reader": reader,
        "profile": profile.name,
        "profile_version": profile.version,
        "guid": outcome.guid,
        "certificates": certificates,
        "kept_slots": outcome.kept_slots,
        "management_key_is_new": outcome.management_key_is_new,
        "steps": outcome.steps_run,
        "secrets": shown,
        "ca_certificate": ca.certificate_path(),
        "warnings": outcome.warnings,
    });

    let mut text = String::new();
    let _ = writeln!(
        text,
        "Personalized the card in {reader} with profile {} v{}",
        profile.name, profile.version
    );
    let _ = writeln!(text, "CHUID GUID: {}", outcome.guid);
    for c in &outcome.certificates {
        let _ = writeln!(
            text,
            "  {}  {}  (until {})",
            c.slot,
            c.summary.subject,
            crate::text::time_text(&c.summary.not_after)
        );
    }
    for s in &outcome.kept_slots {
        let _ = writeln!(text, "  {s}  kept (certificate already matches the card's key)");
    }
    if chosen.generated_pin {
        let _ = writeln!(
            text,
            "PIN: {}   (shown once: hand it to the cardholder)",
            chosen.secrets.pin.expose_secret()
        );
    }
    if chosen.generated_puk {
        let _ = writeln!(text, "PUK: {}   (shown once)", chosen.secrets.puk.expose_secret());
    }
    if chosen.generated_key {
        let _ = writeln!(
            text,
            "Management key ({}): {}   (shown once: store it securely)",
            crate::card::algorithm_name(chosen.secrets.management_key.algorithm()),
            hex::encode(chosen.secrets.management_key.expose_secret())
        );
    }
    for w in &outcome.warnings {
        let _ = writeln!(text, "warning: {w}");
    }
    Ok(Output { text, json })
}

fn pem(der: &[u8]) -> String {
    pem_rfc7468::encode_string("CERTIFICATE", pem_rfc7468::LineEnding::LF, der).unwrap_or_default()
}
