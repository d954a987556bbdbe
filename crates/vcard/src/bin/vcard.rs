//! `vcard`: serve virtual PIV cards into pcscd's vpcd reader slots.
//!
//! `vcard serve --port 40000 --state card.json` loads (or creates) a card,
//! inserts it into the vpcd slot listening on that port, re-inserts it when
//! the driver goes away and comes back, and exits cleanly on SIGTERM/Ctrl-C.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use piv::ManagementKeyAlgorithm;
use vcard::vpcd::{VpcdCard, VpcdOptions};
use vcard::{Card, CardConfig, Faults, Flavour, Latency};

#[derive(Parser, Debug)]
#[command(name = "vcard", version, about = "Virtual PIV cards for pcscd (vsmartcard vpcd)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve one card into one vpcd slot.
    Serve(ServeArgs),
    /// Serve several cards, one per port, with state files in a directory.
    ServeMany(ServeManyArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// vpcd slot port (CHANNELID + slot index).
    #[arg(long, default_value_t = 40000)]
    port: u16,
    /// Host where pcscd's vpcd driver listens.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// State file; created factory-fresh if missing.
    #[arg(long)]
    state: PathBuf,
    /// Serial number of a new card (default: random 8 digits).
    #[arg(long)]
    serial: Option<u32>,
    #[command(flatten)]
    card: CardArgs,
}

#[derive(Args, Debug)]
struct ServeManyArgs {
    /// First port; cards go to base-port, base-port+1, …
    #[arg(long, default_value_t = 40000, conflicts_with = "ports")]
    base_port: u16,
    /// Number of cards (with --base-port).
    #[arg(long, default_value_t = 2)]
    count: u16,
    /// Explicit ports instead of a range, e.g. 40000,40001,40010,40011.
    #[arg(long, value_delimiter = ',')]
    ports: Vec<u16>,
    /// Host where pcscd's vpcd driver listens.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Directory of state files (card-PORT.json), created if missing.
    #[arg(long)]
    state_dir: PathBuf,
    /// Serial of the first new card; the next cards count up from it.
    #[arg(long)]
    base_serial: Option<u32>,
    #[command(flatten)]
    card: CardArgs,
}

#[derive(Args, Debug)]
struct CardArgs {
    /// Vendor extensions of new cards (an existing state keeps its own unless given).
    #[arg(long, value_enum)]
    flavour: Option<FlavourArg>,
    /// Factory management key algorithm of new cards.
    #[arg(long, value_enum, default_value_t = MgmtAlg::TripleDes)]
    management_key_algorithm: MgmtAlg,
    /// Timing model.
    #[arg(long, value_enum, default_value_t = LatencyArg::None)]
    latency: LatencyArg,
    /// Tear the card out at the APDU with this index after each insertion.
    #[arg(long)]
    tear_after: Option<u64>,
    /// Tear the card out at the first command with this INS (hex, e.g. DB).
    #[arg(long, value_parser = parse_hex_u8)]
    tear_at_ins: Option<u8>,
    /// Execute the torn command before the card is pulled (its answer is lost).
    #[arg(long)]
    tear_after_execution: bool,
    /// Re-arm faults after every re-insertion (default: fire once).
    #[arg(long)]
    repeat_faults: bool,
    /// Milliseconds a torn card stays out before it is re-inserted.
    #[arg(long, default_value_t = 1500)]
    reinsert_delay_ms: u64,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FlavourArg {
    Yubikey,
    Generic,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum MgmtAlg {
    #[value(name = "3des")]
    TripleDes,
    Aes128,
    Aes192,
    Aes256,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LatencyArg {
    None,
    Contact,
}

fn parse_hex_u8(s: &str) -> Result<u8, String> {
    u8::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("not a hex byte: {e}"))
}

impl CardArgs {
    fn config(&self, serial: u32) -> CardConfig {
        let mut config =
            CardConfig::new(serial).with_management_key_algorithm(match self.management_key_algorithm {
                MgmtAlg::TripleDes => ManagementKeyAlgorithm::TripleDes,
                MgmtAlg::Aes128 => ManagementKeyAlgorithm::Aes128,
                MgmtAlg::Aes192 => ManagementKeyAlgorithm::Aes192,
                MgmtAlg::Aes256 => ManagementKeyAlgorithm::Aes256,
            });
        if let Some(f) = self.flavour() {
            config = config.with_flavour(f);
        }
        if let LatencyArg::Contact = self.latency {
            config = config.with_latency(Latency::contact_card());
        }
        config.with_faults(Faults {
            tear_after_apdus: self.tear_after,
            tear_at_ins: self.tear_at_ins,
            tear_after_execution: self.tear_after_execution,
            repeat: self.repeat_faults,
            ..Faults::default()
        })
    }

    fn flavour(&self) -> Option<Flavour> {
        self.flavour.map(|f| match f {
            FlavourArg::Yubikey => Flavour::YubiKey,
            FlavourArg::Generic => Flavour::Generic,
        })
    }

    fn vpcd_options(&self) -> VpcdOptions {
        VpcdOptions {
            reinsert_delay: Duration::from_millis(self.reinsert_delay_ms),
            ..VpcdOptions::default()
        }
    }
}

/// One card waiting for, or plugged into, its slot.
struct Slot {
    addr: SocketAddr,
    card: Arc<Mutex<Card>>,
    options: VpcdOptions,
    plugged: Option<VpcdCard>,
}

fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}:{port}"))?
        .next()
        .with_context(|| format!("no address for {host}:{port}"))
}

fn open_card(path: &PathBuf, serial: u32, args: &CardArgs) -> anyhow::Result<Card> {
    let mut card = Card::open(path, args.config(serial))
        .with_context(|| format!("opening card state {}", path.display()))?;
    if let Some(f) = args.flavour() {
        card.set_flavour(f);
    }
    Ok(card)
}

fn random_serial() -> u32 {
    use rand::Rng;
    rand::thread_rng().gen_range(10_000_000..100_000_000)
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VCARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let mut slots = Vec::new();
    match cli.command {
        Cmd::Serve(a) => {
            let card = open_card(&a.state, a.serial.unwrap_or_else(random_serial), &a.card)?;
            slots.push(Slot {
                addr: resolve(&a.host, a.port)?,
                card: Arc::new(Mutex::new(card)),
                options: a.card.vpcd_options(),
                plugged: None,
            });
        }
        Cmd::ServeMany(a) => {
            let ports: Vec<u16> = if a.ports.is_empty() {
                (0..a.count).map(|i| a.base_port.saturating_add(i)).collect()
            } else {
                a.ports.clone()
            };
            if ports.is_empty() {
                bail!("no ports to serve");
            }
            std::fs::create_dir_all(&a.state_dir)
                .with_context(|| format!("creating {}", a.state_dir.display()))?;
            let base_serial = a.base_serial.unwrap_or_else(random_serial);
            for (i, port) in ports.iter().enumerate() {
                let path = a.state_dir.join(format!("card-{port}.json"));
                let serial = base_serial.wrapping_add(i as u32);
                let card = open_card(&path, serial, &a.card)?;
                slots.push(Slot {
                    addr: resolve(&a.host, *port)?,
                    card: Arc::new(Mutex::new(card)),
                    options: a.card.vpcd_options(),
                    plugged: None,
                });
            }
        }
    }

    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("installing the SIGTERM/Ctrl-C handler")?;

    // Plug every card in, retrying while pcscd (and its vpcd ports) is not up yet.
    let mut warned = false;
    loop {
        for slot in slots.iter_mut().filter(|s| s.plugged.is_none()) {
            match VpcdCard::insert_with(slot.addr, Arc::clone(&slot.card), slot.options) {
                Ok(v) => {
                    let serial = slot.card.lock().map(|c| c.serial()).unwrap_or_default();
                    println!("inserted serial {serial} at {}", slot.addr);
                    slot.plugged = Some(v);
                }
                Err(e) if !warned => {
                    eprintln!("vcard: waiting for vpcd at {} ({e}); is pcscd running?", slot.addr);
                }
                Err(_) => {}
            }
        }
        if slots.iter().any(|s| s.plugged.is_none()) {
            warned = true;
        }
        let all_plugged = slots.iter().all(|s| s.plugged.is_some());
        let wait = if all_plugged { Duration::from_secs(3600) } else { Duration::from_millis(500) };
        match stop_rx.recv_timeout(wait) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    for slot in slots {
        if let Some(v) = slot.plugged {
            v.remove();
        }
    }
    Ok(())
}
