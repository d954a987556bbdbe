//! `bench`: what personalizing a card costs, ours against an operator's
//! `yubico-piv-tool` script, on the same virtual card and reader type.
//!
//! For each profile it puts a factory-fresh virtual card (YubiKey flavour,
//! 3DES default management key, [`vcard::Latency::contact_card`] timing
//! unless `--no-latency`) into a lab reader and personalizes it the way
//! `cardstation card personalize` does (one PC/SC transaction: `read_info`,
//! `plan`, `Personalizer::run` with a local CA). Then it puts a second fresh
//! card into the same reader and runs the equivalent `yubico-piv-tool`
//! sequence, one process per command as a shell script would, with openssl
//! signing the certificates (yubico-piv-tool 2.2 cannot self-sign under
//! OpenSSL 3; see LAB.md).
//!
//! What is measured, and where it comes from:
//! - APDUs, bytes and card time: the virtual card's own counters
//!   ([`vcard::Card::stats`]) before and after, so both sides are counted
//!   by the same, independent meter. Card time is what the card's timing
//!   model says a real card would take (or its real compute time when that
//!   is longer).
//! - Wall time: the host clock around the whole job.
//! - Host overhead = wall time − card time. The card is served by a vpcd
//!   loop with a stopwatch around each command ([`MeteredCard`]), so the
//!   time the card thread really spent inside the card is known: the part
//!   beyond the modelled card time is simulator slack (`thread::sleep`
//!   waking up late), shown apart because a real card does not add it. For
//!   our run a timing transport around the PC/SC transaction splits the
//!   rest: time inside `SCardTransmit` beyond the card thread's time is the
//!   PC/SC path (our process → pcscd → vpcd driver → loopback TCP → card
//!   thread and back); establishing, connecting and the transaction's
//!   begin/end are PC/SC setup; the remainder is our own code, whose CPU
//!   time (this thread's, from `/proc/thread-self/schedstat`) is shown too.
//! - The script's wall time includes its openssl runs (the equivalent of
//!   our CA step), also shown apart; its CA key and extension files are
//!   made before timing, as our CA exists before ours is timed.
//!
//! Usage: `bench [--profile NAME]... [--runs N] [--no-latency] [--json] [--trace]`
//! (needs the card lab: `scripts/lab up`; `scripts/bench` does it).

use anyhow::{bail, ensure, Context, Result};
use apdu::{Transport, TransportError};
use e2e::lab::{Lab, LabReader, WAIT};
use piv::personalize::{plan, NoObserver, PlanOptions, Secrets};
use piv::profile::{KeyUsage, SubjectValues};
use piv::{KeyAlgorithm, LocalCa, Personalizer, PinPolicy, PivCard, Profile, Slot};
use rand::RngCore;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The cardholder name in every certificate subject.
const HOLDER: &str = "Cardstation Demo";

/// Command line options.
#[derive(Debug)]
struct Options {
    profiles: Vec<String>,
    runs: usize,
    latency: bool,
    json: bool,
}

const USAGE: &str = "usage: bench [--profile NAME|PATH]... [--runs N] [--no-latency] [--json] [--trace]
  --profile NAME  profile under assets/profiles (piv-p256, piv-rsa2048) or a TOML path;
                  repeatable; default: piv-p256 and piv-rsa2048
  --runs N        runs per side and profile; shows the median run by wall time (default 1)
  --no-latency    the virtual card answers as fast as it computes (no timing model)
  --json          print the figures as JSON instead of tables
  --trace         print every APDU the card sees (header, sizes, status, card time) to stderr";

fn parse_options() -> Result<Options> {
    let mut options = Options { profiles: Vec::new(), runs: 1, latency: true, json: false };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String> {
            inline.clone().or_else(|| args.next()).with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--profile" => options.profiles.push(value("--profile")?),
            "--runs" => {
                let v = value("--runs")?;
                options.runs = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("--runs takes a positive number, not {v:?}"))?;
            }
            "--no-latency" => options.latency = false,
            "--json" => options.json = true,
            "--trace" => TRACE.store(true, Ordering::Relaxed),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if options.profiles.is_empty() {
        options.profiles = vec!["piv-p256".into(), "piv-rsa2048".into()];
    }
    Ok(options)
}

/// A profile name or path resolved to its file.
fn profile_path(name: &str) -> Result<PathBuf> {
    let direct = PathBuf::from(name);
    if direct.is_file() {
        return Ok(direct);
    }
    let shipped =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/profiles").join(format!("{name}.toml"));
    ensure!(shipped.is_file(), "no profile {name:?} (neither a file nor {})", shipped.display());
    Ok(shipped)
}

/// One run's (or a median's) figures by name: counts, or milliseconds
/// for times (`*_ms`), or percentages of card time (`*_percent`).
type Metrics = BTreeMap<&'static str, f64>;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percent(part_ms: f64, whole_ms: f64) -> f64 {
    if whole_ms == 0.0 {
        f64::NAN
    } else {
        100.0 * part_ms / whole_ms
    }
}

/// The figures both sides have: the card's counters and the host's clock.
///
/// - `card_ms`: the card's modelled time (what a real card would take).
/// - `sim_slack_ms`: how much longer the card thread was inside the virtual
///   card than that (`thread::sleep` waking up late): an artefact of
///   simulating a card, which a real card does not add.
/// - `host_overhead_ms` = wall − card time, everything included;
///   `host_overhead_net_ms` = the same without the simulation slack.
fn common_metrics(share: &CardShare, wall: Duration) -> Metrics {
    let (wall, card, inside) = (ms(wall), ms(share.busy), ms(share.inside));
    let mut m = Metrics::new();
    m.insert("apdus", share.apdus as f64);
    m.insert("bytes_sent", share.bytes_sent as f64);
    m.insert("bytes_received", share.bytes_received as f64);
    m.insert("wall_ms", wall);
    m.insert("card_ms", card);
    m.insert("sim_slack_ms", inside - card);
    m.insert("host_overhead_ms", wall - card);
    m.insert("host_overhead_percent", percent(wall - card, card));
    m.insert("host_overhead_net_ms", wall - inside);
    m.insert("host_overhead_net_percent", percent(wall - inside, card));
    m
}

/// What the card and its thread counted up to a moment.
#[derive(Debug, Clone, Copy)]
struct Counters {
    stats: vcard::Stats,
    thread: CardThread,
}

/// The card's share of a run, between two [`Counters`].
#[derive(Debug, Clone, Copy, Default)]
struct CardShare {
    apdus: u64,
    bytes_sent: u64,
    bytes_received: u64,
    /// Modelled card time ([`vcard::Stats::busy`]).
    busy: Duration,
    /// Wall time the card thread spent inside the card (busy + simulation slack).
    inside: Duration,
}

fn delta(before: Counters, after: Counters) -> CardShare {
    CardShare {
        apdus: after.stats.apdus - before.stats.apdus,
        bytes_sent: after.stats.bytes_in - before.stats.bytes_in,
        bytes_received: after.stats.bytes_out - before.stats.bytes_out,
        busy: after.stats.busy.saturating_sub(before.stats.busy),
        inside: after.thread.inside.saturating_sub(before.thread.inside),
    }
}

/// CPU time this thread has used so far (`/proc/thread-self/schedstat`,
/// nanoseconds), or `None` where the kernel does not provide it.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// A transport that times every `transmit` of the one below it.
#[derive(Debug)]
struct Timed<T> {
    inner: T,
    transmits: u64,
    in_transmit: Duration,
}

impl<T: Transport> Transport for Timed<T> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let started = Instant::now();
        let result = self.inner.transmit(command);
        self.in_transmit += started.elapsed();
        self.transmits += 1;
        result
    }
}

/// A fresh virtual card for one run.
fn fresh_card(serial: u32, latency: bool) -> Arc<Mutex<vcard::Card>> {
    let mut config = vcard::CardConfig::new(serial);
    if latency {
        config = config.with_latency(vcard::Latency::contact_card());
    }
    Arc::new(Mutex::new(vcard::Card::factory_fresh(config)))
}

/// Time the card thread spent inside the virtual card: the modelled card
/// time plus whatever the simulation adds on top (the card models latency
/// with `thread::sleep`, which wakes up late by the timer slack and the
/// scheduler's wake-up latency).
#[derive(Debug, Clone, Copy, Default)]
struct CardThread {
    commands: u64,
    inside: Duration,
}

/// Inserts `card` into the reader (see [`MeteredCard`]), runs `work`,
/// removes the card, and returns what the card counted before and after.
fn with_inserted_card<R>(
    reader: &LabReader,
    card: &Arc<Mutex<vcard::Card>>,
    work: impl FnOnce() -> Result<R>,
) -> Result<(R, Counters, Counters)> {
    let meter = Arc::new(Mutex::new(CardThread::default()));
    let plugged = MeteredCard::insert(reader.addr(), Arc::clone(card), Arc::clone(&meter))
        .with_context(|| format!("cannot insert a card into {}", reader.name))?;
    reader.wait_card_present(WAIT);
    let counters =
        || Counters { stats: lock(card).stats(), thread: *meter.lock().unwrap_or_else(|p| p.into_inner()) };
    let before = counters();
    let result = work();
    let after = counters();
    plugged.remove();
    reader.wait_card_absent(WAIT);
    Ok((result?, before, after))
}

fn lock(card: &Mutex<vcard::Card>) -> std::sync::MutexGuard<'_, vcard::Card> {
    card.lock().unwrap_or_else(|p| p.into_inner())
}

/// A virtual card in a vpcd reader, served like `vcard::vpcd::VpcdCard`
/// (same wire protocol, power handling and quick ACKs; LAB.md "The vpcd
/// wire protocol") but with a stopwatch around each command, so the time
/// the card thread spends inside the card is known exactly and the rest of
/// a transmit is the PC/SC path.
#[derive(Debug)]
struct MeteredCard {
    stream: TcpStream,
    thread: Option<JoinHandle<()>>,
}

impl MeteredCard {
    fn insert(
        addr: SocketAddr,
        card: Arc<Mutex<vcard::Card>>,
        meter: Arc<Mutex<CardThread>>,
    ) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_nodelay(true)?;
        lock(&card).insert();
        let mut link = stream.try_clone()?;
        let thread = std::thread::spawn(move || {
            while let Ok(message) = vcard::vpcd::read_frame(&mut link) {
                let reply = match message.as_slice() {
                    [] => continue,
                    [control] => {
                        let mut c = lock(&card);
                        match *control {
                            e2e::lab::control::POWER_OFF => c.power_off(),
                            e2e::lab::control::POWER_ON | e2e::lab::control::RESET => c.reset(),
                            e2e::lab::control::GET_ATR => {
                                let atr = c.atr();
                                drop(c);
                                if vcard::vpcd::write_frame(&mut link, &atr).is_err() {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        continue;
                    }
                    apdu => {
                        let started = Instant::now();
                        let mut c = lock(&card);
                        let busy_before = c.stats().busy;
                        let delivery = c.deliver(apdu);
                        let busy = c.stats().busy.saturating_sub(busy_before);
                        drop(c);
                        let took = started.elapsed();
                        if TRACE.load(Ordering::Relaxed) {
                            trace_apdu(apdu, &delivery, busy);
                        }
                        let mut m = meter.lock().unwrap_or_else(|p| p.into_inner());
                        m.commands += 1;
                        m.inside += took;
                        delivery
                    }
                };
                match reply {
                    vcard::Delivery::Response(r) => {
                        if vcard::vpcd::write_frame(&mut link, &r).is_err() {
                            break;
                        }
                    }
                    // No faults are armed; a tear would close the link.
                    vcard::Delivery::Torn { .. } => break,
                }
            }
            lock(&card).power_off();
        });
        Ok(MeteredCard { stream, thread: Some(thread) })
    }

    /// Pulls the card out.
    fn remove(mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `--trace`: print every APDU the card sees.
static TRACE: AtomicBool = AtomicBool::new(false);

fn trace_apdu(apdu: &[u8], delivery: &vcard::Delivery, busy: Duration) {
    let header: String = apdu.iter().take(4).map(|b| format!("{b:02X}")).collect();
    match delivery {
        vcard::Delivery::Response(r) => {
            let sw: String = r.iter().rev().take(2).rev().map(|b| format!("{b:02X}")).collect();
            eprintln!(
                "  apdu {header} in {:>4} B  out {:>4} B  SW {sw}  card {:>8.1} ms",
                apdu.len(),
                r.len(),
                ms(busy)
            );
        }
        vcard::Delivery::Torn { .. } => eprintln!("  apdu {header} in {:>4} B  torn", apdu.len()),
    }
}

/// Our personalization, as `cardstation card personalize` does it.
fn run_ours(
    reader: &LabReader,
    profile_file: &Path,
    ca_dir: &Path,
    card: &Arc<Mutex<vcard::Card>>,
) -> Result<Metrics> {
    let (measured, before, after) = with_inserted_card(reader, card, || {
        let cpu_before = thread_cpu();
        let started = Instant::now();
        let profile = Profile::load(profile_file)?;
        let secrets = Secrets::generate(&profile, &mut rand::rngs::OsRng)?;
        let ca = LocalCa::open_or_create(ca_dir, "Cardstation Local CA")?;
        let options = PlanOptions::for_holder(HOLDER);

        let setup_started = Instant::now();
        let readers = reader::Readers::establish()?;
        let mut connection = readers.connect(&reader.name)?;
        let mut tx = connection.transaction()?;
        let mut pcsc_setup = setup_started.elapsed();

        let mut card = PivCard::new(Timed { inner: &mut tx, transmits: 0, in_transmit: Duration::ZERO });
        let outcome = (|| -> piv::Result<_> {
            let info = piv::read_info(&mut card)?;
            let plan = plan(&profile, &info, &options)?;
            Personalizer::run(&mut card, &plan, &secrets, &ca, &mut NoObserver)
        })();
        let timed = card.into_inner();
        let (transmits, in_transmit) = (timed.transmits, timed.in_transmit);

        let teardown_started = Instant::now();
        tx.end()?;
        connection.disconnect()?;
        drop(readers);
        pcsc_setup += teardown_started.elapsed();
        let wall = started.elapsed();
        let cpu = thread_cpu().zip(cpu_before).map(|(a, b)| a.saturating_sub(b));

        let outcome = outcome.context("our personalization failed")?;
        ensure!(
            outcome.certificates.len() == profile.slots.len(),
            "personalization issued {} certificates for {} slots",
            outcome.certificates.len(),
            profile.slots.len()
        );
        Ok((wall, transmits, in_transmit, pcsc_setup, cpu))
    })?;
    let (wall, transmits, in_transmit, pcsc_setup, cpu) = measured;
    let share = delta(before, after);
    let mut m = common_metrics(&share, wall);
    let card_ms = ms(share.busy);
    // Inside transmit: the card thread's time plus the PC/SC path around it.
    let round_trips = ms(in_transmit) - ms(share.inside);
    let own = ms(wall) - ms(in_transmit) - ms(pcsc_setup);
    m.insert("transmits", transmits as f64);
    m.insert("pcsc_round_trips_ms", round_trips);
    m.insert("pcsc_round_trip_each_ms", round_trips / (transmits.max(1) as f64));
    m.insert("pcsc_round_trips_percent", percent(round_trips, card_ms));
    m.insert("pcsc_setup_ms", ms(pcsc_setup));
    m.insert("pcsc_setup_percent", percent(ms(pcsc_setup), card_ms));
    m.insert("own_code_ms", own);
    m.insert("own_code_percent", percent(own, card_ms));
    if let Some(cpu) = cpu {
        m.insert("thread_cpu_ms", ms(cpu));
    }
    Ok(m)
}

/// The operator-script equivalent, prepared before timing starts.
#[derive(Debug)]
struct Script {
    /// Each step: program and arguments.
    steps: Vec<(String, Vec<String>)>,
}

fn openssl_key_usage(k: &KeyUsage) -> &'static str {
    match k {
        KeyUsage::DigitalSignature => "digitalSignature",
        KeyUsage::NonRepudiation => "nonRepudiation",
        KeyUsage::KeyEncipherment => "keyEncipherment",
        KeyUsage::DataEncipherment => "dataEncipherment",
        KeyUsage::KeyAgreement => "keyAgreement",
    }
}

/// `CN=a,OU=b` (RFC 4514, no escaped commas in our profiles) as openssl's `/CN=a/OU=b`.
fn openssl_subject(rfc4514: &str) -> String {
    rfc4514.split(',').map(|rdn| format!("/{}", rdn.trim())).collect()
}

fn slot_hex(slot: Slot) -> String {
    format!("{:02x}", slot.key_ref())
}

/// Writes the CA and extension files and lists the commands of the
/// yubico-piv-tool personalization for `profile` on the card in `reader`.
fn prepare_script(profile: &Profile, reader: &str, dir: &Path) -> Result<Script> {
    let ca_key = dir.join("ca.key");
    let ca_crt = dir.join("ca.crt");
    let p = |p: &Path| p.to_string_lossy().into_owned();
    run_checked("openssl", &["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", &p(&ca_key)])?;
    run_checked(
        "openssl",
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &p(&ca_key),
            "-subj",
            "/CN=Operator CA",
            "-days",
            "3650",
            "-out",
            &p(&ca_crt),
        ],
    )?;

    let secrets = Secrets::generate(profile, &mut rand::rngs::OsRng)?;
    let mut mgm = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut mgm);
    let tool = |args: &[&str]| -> (String, Vec<String>) {
        let mut all = vec!["-r".to_owned(), reader.to_owned()];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        ("yubico-piv-tool".to_owned(), all)
    };

    let mut steps = Vec::new();
    let values = SubjectValues { name: HOLDER.to_owned(), ..SubjectValues::default() };
    for sp in &profile.slots {
        let s = slot_hex(sp.slot);
        let algorithm = match sp.algorithm {
            KeyAlgorithm::Rsa2048 => "RSA2048",
            KeyAlgorithm::EccP256 => "ECCP256",
            KeyAlgorithm::EccP384 => "ECCP384",
        };
        let public = dir.join(format!("{s}.pub"));
        let crt = dir.join(format!("{s}.crt"));
        let ext = dir.join(format!("{s}.ext"));
        let mut ext_text = format!(
            "keyUsage = critical, {}\n",
            sp.certificate.key_usage.iter().map(openssl_key_usage).collect::<Vec<_>>().join(", ")
        );
        let eku = sp.certificate.extended_key_usage_oids()?;
        if !eku.is_empty() {
            ext_text.push_str(&format!("extendedKeyUsage = {}\n", eku.join(", ")));
        }
        std::fs::write(&ext, ext_text)?;

        let mut generate = vec!["-a", "generate", "-s", &s, "-A", algorithm];
        let policy = sp.pin_policy.map(|pp| match pp {
            PinPolicy::Never => "--pin-policy=never",
            PinPolicy::Once => "--pin-policy=once",
            PinPolicy::Always => "--pin-policy=always",
        });
        generate.extend(policy);
        let public_s = p(&public);
        generate.extend(["-o", &public_s]);
        steps.push(tool(&generate));

        let subject = openssl_subject(&sp.certificate.render_subject(&values)?);
        let days = sp.certificate.validity_days.to_string();
        steps.push((
            "openssl".to_owned(),
            [
                "x509",
                "-new",
                "-CA",
                &p(&ca_crt),
                "-CAkey",
                &p(&ca_key),
                "-force_pubkey",
                &public_s,
                "-subj",
                &subject,
                "-days",
                &days,
                "-extfile",
                &p(&ext),
                "-out",
                &p(&crt),
            ]
            .iter()
            .map(|a| (*a).to_owned())
            .collect(),
        ));
        steps.push(tool(&["-a", "import-certificate", "-s", &s, "-i", &p(&crt)]));
    }
    steps.push(tool(&["-a", "set-chuid"]));
    steps.push(tool(&["-a", "set-ccc"]));
    steps.push(tool(&["-a", "change-pin", "-P", "123456", "-N", secrets.pin.expose_secret()]));
    steps.push(tool(&["-a", "change-puk", "-P", "12345678", "-N", secrets.puk.expose_secret()]));
    steps.push(tool(&[
        "-a",
        "set-mgm-key",
        "-n",
        &mgm.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ]));
    Ok(Script { steps })
}

/// Runs a program to completion; fails with its output unless it succeeded.
fn run_checked(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {program}"))?;
    if !out.status.success() {
        bail!(
            "`{program} {}` failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The yubico-piv-tool sequence on a fresh card.
fn run_theirs(reader: &LabReader, profile: &Profile, card: &Arc<Mutex<vcard::Card>>) -> Result<Metrics> {
    let dir = tempfile::tempdir()?;
    let script = prepare_script(profile, &reader.name, dir.path())?;
    let (measured, before, after) = with_inserted_card(reader, card, || {
        let (mut tool_processes, mut openssl_processes) = (0u32, 0u32);
        let (mut in_tool, mut in_openssl) = (Duration::ZERO, Duration::ZERO);
        let started = Instant::now();
        for (program, args) in &script.steps {
            let t = Instant::now();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_checked(program, &args)?;
            if program == "openssl" {
                openssl_processes += 1;
                in_openssl += t.elapsed();
            } else {
                tool_processes += 1;
                in_tool += t.elapsed();
            }
        }
        let wall = started.elapsed();
        Ok((wall, tool_processes, in_tool, openssl_processes, in_openssl))
    })?;
    // The script must really have personalized the card.
    {
        let card = card.lock().unwrap_or_else(|p| p.into_inner());
        for sp in &profile.slots {
            ensure!(card.key_info(sp.slot).is_some(), "yubico-piv-tool left no key in {}", sp.slot);
            ensure!(
                card.object(sp.slot.certificate_object()).is_some(),
                "yubico-piv-tool left no certificate in {}",
                sp.slot
            );
        }
    }
    let (wall, tool_processes, in_tool, openssl_processes, in_openssl) = measured;
    let mut m = common_metrics(&delta(before, after), wall);
    m.insert("yubico_piv_tool_processes", f64::from(tool_processes));
    m.insert("yubico_piv_tool_ms", ms(in_tool));
    m.insert("openssl_processes", f64::from(openssl_processes));
    m.insert("openssl_ms", ms(in_openssl));
    m.insert("script_glue_ms", ms(wall) - ms(in_tool) - ms(in_openssl));
    Ok(m)
}
/// The figures of the median run by wall time (the lower middle one for an
/// even count), so that its parts add up; with the fastest and slowest
/// wall time of all runs.
fn summarize(runs: &[Metrics]) -> Metrics {
    let mut by_wall: Vec<&Metrics> = runs.iter().collect();
    by_wall.sort_by(|a, b| get(a, "wall_ms").total_cmp(&get(b, "wall_ms")));
    let Some(median) = by_wall.get(by_wall.len().saturating_sub(1) / 2) else { return Metrics::new() };
    let mut out = (*median).clone();
    out.insert("wall_min_ms", by_wall.first().map_or(f64::NAN, |m| get(m, "wall_ms")));
    out.insert("wall_max_ms", by_wall.last().map_or(f64::NAN, |m| get(m, "wall_ms")));
    out.insert("runs", runs.len() as f64);
    out
}

fn get(m: &Metrics, key: &str) -> f64 {
    m.get(key).copied().unwrap_or(f64::NAN)
}

fn fmt_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.3} s", v / 1000.0)
    } else {
        format!("{v:.1} ms")
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "-".into()
    } else {
        format!("{:.2}", a / b)
    }
}

fn print_table(profile: &str, reader: &str, latency: bool, ours: &Metrics, theirs: &Metrics) {
    let model = if latency { "contact-card latency model" } else { "no latency model" };
    println!();
    println!(
        "== {profile}  ({model}, reader {reader:?}; median of {} run(s) per side, by wall time) ==",
        get(ours, "runs")
    );
    println!("{:<30}{:>16}{:>18}{:>13}", "", "cardstation", "yubico-piv-tool", "ours/theirs");
    let row = |name: &str, a: String, b: String, r: String| println!("{name:<30}{a:>16}{b:>18}{r:>13}");
    for (name, key) in
        [("APDUs", "apdus"), ("bytes sent", "bytes_sent"), ("bytes received", "bytes_received")]
    {
        let (a, b) = (get(ours, key), get(theirs, key));
        row(name, format!("{a:.0}"), format!("{b:.0}"), ratio(a, b));
    }
    for (name, key) in [("wall time", "wall_ms"), ("card time", "card_ms")] {
        let (a, b) = (get(ours, key), get(theirs, key));
        row(name, fmt_ms(a), fmt_ms(b), ratio(a, b));
    }
    let both = |name: &str, key: &str, pct: &str| {
        row(name, fmt_ms(get(ours, key)), fmt_ms(get(theirs, key)), String::new());
        row(
            "  % of card time",
            format!("{:.2} %", get(ours, pct)),
            format!("{:.2} %", get(theirs, pct)),
            String::new(),
        );
    };
    both("host overhead (wall - card)", "host_overhead_ms", "host_overhead_percent");
    if latency {
        row(
            "  of it: simulator sleep slack",
            fmt_ms(get(ours, "sim_slack_ms")),
            fmt_ms(get(theirs, "sim_slack_ms")),
            String::new(),
        );
        both("host overhead w/o sim slack", "host_overhead_net_ms", "host_overhead_net_percent");
    }
    if get(ours, "runs") > 1.0 {
        row(
            "wall time min..max",
            format!("{:.0}..{:.0} ms", get(ours, "wall_min_ms"), get(ours, "wall_max_ms")),
            format!("{:.0}..{:.0} ms", get(theirs, "wall_min_ms"), get(theirs, "wall_max_ms")),
            String::new(),
        );
    }
    println!();
    println!("  where cardstation's host overhead goes:");
    let transmits = get(ours, "transmits");
    println!(
        "    PC/SC round trips   {:>10}  {:>6.2} %  ({transmits:.0} transmits, {:.3} ms each: our process -> pcscd -> vpcd \
         driver -> loopback TCP -> card thread and back)",
        fmt_ms(get(ours, "pcsc_round_trips_ms")),
        get(ours, "pcsc_round_trips_percent"),
        get(ours, "pcsc_round_trip_each_ms"),
    );
    println!(
        "    PC/SC setup         {:>10}  {:>6.2} %  (establish context, connect, begin/end transaction, disconnect)",
        fmt_ms(get(ours, "pcsc_setup_ms")),
        get(ours, "pcsc_setup_percent"),
    );
    let cpu =
        ours.get("thread_cpu_ms").map(|c| format!("; CPU of this thread over the whole run: {}", fmt_ms(*c)));
    println!(
        "    our own code        {:>10}  {:>6.2} %  (profile, secrets, CA signing, plan, checks{})",
        fmt_ms(get(ours, "own_code_ms")),
        get(ours, "own_code_percent"),
        cpu.unwrap_or_default()
    );
    if latency {
        println!(
            "    simulator slack     {:>10}  {:>6.2} %  (virtual card woke up late from its latency sleeps; not host cost)",
            fmt_ms(get(ours, "sim_slack_ms")),
            percent(get(ours, "sim_slack_ms"), get(ours, "card_ms")),
        );
    }
    println!(
        "  yubico-piv-tool script: {:.0} yubico-piv-tool processes {}, {:.0} openssl processes {}, glue {}",
        get(theirs, "yubico_piv_tool_processes"),
        fmt_ms(get(theirs, "yubico_piv_tool_ms")),
        get(theirs, "openssl_processes"),
        fmt_ms(get(theirs, "openssl_ms")),
        fmt_ms(get(theirs, "script_glue_ms")),
    );
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let (o_pct, o_net) = (get(ours, "host_overhead_percent"), get(ours, "host_overhead_net_percent"));
    println!(
        "  targets: host overhead < 1 % of card time: {} ({o_pct:.2} %; {o_net:.2} % without simulator slack; \
         our code alone {:.2} %)",
        verdict(o_pct < 1.0),
        get(ours, "own_code_percent"),
    );
    println!(
        "           fewer APDUs: {} ({:.0} vs {:.0});  less wall time: {} ({} vs {})",
        verdict(get(ours, "apdus") < get(theirs, "apdus")),
        get(ours, "apdus"),
        get(theirs, "apdus"),
        verdict(get(ours, "wall_ms") < get(theirs, "wall_ms")),
        fmt_ms(get(ours, "wall_ms")),
        fmt_ms(get(theirs, "wall_ms")),
    );
}

fn metrics_json(m: &Metrics) -> Value {
    let number = |v: f64| {
        // Counts print as integers.
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
            json!(v as i64)
        } else {
            json!(v)
        }
    };
    Value::Object(m.iter().map(|(k, v)| ((*k).to_owned(), number(*v))).collect())
}

fn main() -> Result<()> {
    let options = parse_options()?;
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    eprintln!("bench: using lab reader {:?}", reader.name);
    let ca_dir = tempfile::tempdir()?;
    // Created once, as the CLI does on first use; every run loads it.
    LocalCa::open_or_create(ca_dir.path(), "Cardstation Local CA")?;

    let mut serial = 7_000_000u32 + (std::process::id() % 100_000) * 10;
    let mut reports = Vec::new();
    for name in &options.profiles {
        let file = profile_path(name)?;
        let profile = Profile::load(&file)?;
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for run in 1..=options.runs {
            eprintln!("bench: {} run {run}/{}: cardstation", profile.name, options.runs);
            serial += 1;
            ours.push(run_ours(&reader, &file, ca_dir.path(), &fresh_card(serial, options.latency))?);
            eprintln!("bench: {} run {run}/{}: yubico-piv-tool", profile.name, options.runs);
            serial += 1;
            theirs.push(run_theirs(&reader, &profile, &fresh_card(serial, options.latency))?);
        }
        let (o, t) = (summarize(&ours), summarize(&theirs));
        if !options.json {
            print_table(&profile.name, &reader.name, options.latency, &o, &t);
        }
        reports.push(json!({
            "profile": profile.name,
            "latency_model": if options.latency { "contact-card" } else { "none" },
            "reader": reader.name,
            "cardstation": metrics_json(&o),
            "yubico_piv_tool": metrics_json(&t),
            "ratio_apdus": get(&o, "apdus") / get(&t, "apdus"),
            "ratio_wall": get(&o, "wall_ms") / get(&t, "wall_ms"),
            "targets": {
                "host_overhead_under_1_percent": get(&o, "host_overhead_percent") < 1.0,
                "fewer_apdus": get(&o, "apdus") < get(&t, "apdus"),
                "less_wall_time": get(&o, "wall_ms") < get(&t, "wall_ms"),
            },
            "runs": {
                "cardstation": ours.iter().map(metrics_json).collect::<Vec<_>>(),
                "yubico_piv_tool": theirs.iter().map(metrics_json).collect::<Vec<_>>(),
            },
        }));
    }
    if options.json {
        println!("{}", serde_json::to_string_pretty(&Value::Array(reports))?);
    }
    Ok(())
}
