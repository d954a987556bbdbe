//! `bench_batch`: UC-BATCH throughput — cards per hour on 1, 2 and 4
//! readers, the speed-up, and the host's overhead against card time.
//!
//! A real registry (`cardstation-registry serve` over TLS, next to this
//! binary) and a station in a temporary directory; the station's own batch
//! API (`Session::create_batch` / `run_batch`, one worker per reader) as
//! `cardstation batch start` runs it; virtual cards on the
//! [`vcard::Latency::contact_card`] model in lab readers, a feeder thread
//! per reader playing the operator (takes a finished card out, puts a blank
//! one in).
//!
//! What is measured:
//! - Cards per hour: cards / wall time of the whole batch (card swaps
//!   included, as an operator's batch has them).
//! - Per card, from the moment PC/SC reports it in the reader to the
//!   worker asking for it to be taken out: wall time, and card time = the
//!   virtual card's busy time ([`vcard::Card::stats`]: the latency model,
//!   or its real compute time when longer). Host overhead = wall − card, as
//!   % of card time: the time the card sits in the reader waiting for the
//!   host — our code, the registry round trips made then, SQLite commits,
//!   and the PC/SC path (pcscd, vpcd's socket). Work done while the reader
//!   is empty (the operator's hand swapping cards) is not overhead.
//!
//! Usage: `bench_batch [--cards N] [--readers 1,2,4] [--json]` (needs the card
//! lab with 4 free readers; `scripts/bench-batch` builds and runs it).
//! Prints figures; asserts no timing.

use anyhow::{bail, Context, Result};
use e2e::lab::{contact_card, Lab, LabReader, WAIT};
use e2e::station::{TestRegistry, PASSWORD};
use serde_json::json;
use station::{BatchEvent, BatchProgress, Session, Station};
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PROFILE: &str = r#"
name = "Bench badge"
capabilities = "contact"
management_key = "aes256"
validate_issuance = false
card_end_state = "active"
certificate_end_state = "valid"
is_temporary = false
card_validity_days = 1825
pin = { min_length = 6, max_length = 8, numeric = true, retries = 3 }
puk = { length = 8, numeric = true, retries = 3 }

[[slots]]
slot = "piv_authentication"
algorithm = "ecc_p256"
certificate = { subject = "CN={name},OU=PIV Authentication,O=Example", validity_days = 365, ekus = ["client_auth"] }

[[slots]]
slot = "digital_signature"
algorithm = "ecc_p256"
certificate = { subject = "CN={name},OU=Digital Signature,O=Example", validity_days = 365, ekus = ["email_protection"] }
"#;

struct Options {
    cards: usize,
    readers: Vec<usize>,
    json: bool,
}

fn options() -> Result<Options> {
    let mut o = Options { cards: 40, readers: vec![1, 2, 4], json: false };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--cards" => o.cards = args.next().context("--cards N")?.parse()?,
            "--readers" => {
                o.readers = args
                    .next()
                    .context("--readers 1,2,4")?
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<_, _>>()?
            }
            "--json" => o.json = true,
            "-h" | "--help" => {
                println!("usage: bench_batch [--cards N] [--readers 1,2,4] [--json]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(o)
}

/// One card's encoding as measured.
#[derive(Debug, Clone, Copy)]
struct CardTiming {
    wall: Duration,
    card: Duration,
}

/// A card in a reader: the card, its vpcd link, and when PC/SC saw it arrive.
type Plugged = (Arc<Mutex<vcard::Card>>, vcard::vpcd::VpcdCard, Instant);

/// The operator at one reader, and the meter.
struct Hand {
    current: Arc<Mutex<Option<Plugged>>>,
    tx: Sender<()>,
}

struct Meter {
    hands: BTreeMap<String, Hand>,
    /// When the batch started: the first cards went in before it.
    started: Mutex<Option<Instant>>,
    timings: Mutex<Vec<CardTiming>>,
    failures: Mutex<Vec<String>>,
}

impl BatchProgress for Meter {
    fn event(&self, event: BatchEvent) {
        match event {
            BatchEvent::Failed { reader, error, .. } | BatchEvent::Torn { reader, error, .. } => {
                self.failures
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(format!("{reader}: {}", error.message));
            }
            BatchEvent::RemoveCard { reader, .. } => {
                let end = Instant::now();
                if let Some(h) = self.hands.get(&reader) {
                    {
                        let guard = h.current.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some((card, _, inserted)) = guard.as_ref() {
                            let busy = card.lock().unwrap_or_else(|p| p.into_inner()).stats().busy;
                            let started = *self.started.lock().unwrap_or_else(|p| p.into_inner());
                            let from = started.map_or(*inserted, |s| s.max(*inserted));
                            self.timings
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push(CardTiming { wall: end - from, card: busy });
                        }
                    }
                    let _ = h.tx.send(());
                }
            }
            _ => {}
        }
    }
}

/// Puts `card` into `reader` and returns its link and the moment PC/SC
/// reported it present, seen by a watcher that was already waiting (as the
/// batch worker's is), so the stamp is not late.
fn plug(reader: &LabReader, card: &Arc<Mutex<vcard::Card>>) -> (vcard::vpcd::VpcdCard, Instant) {
    let present = |w: &reader::Watcher| w.readers().iter().any(|r| r.name == reader.name && r.card_present);
    let mut watcher = reader::Watcher::new().ok();
    let plugged = reader.insert(Arc::clone(card));
    let deadline = Instant::now() + WAIT;
    let seen = loop {
        match watcher.as_mut() {
            Some(w) if present(w) => break Instant::now(),
            Some(w) if Instant::now() < deadline => {
                if w.wait_for_change(Some(deadline - Instant::now())).is_err() {
                    watcher = None;
                }
            }
            _ => {
                reader.wait_card_present(WAIT);
                break Instant::now();
            }
        }
    };
    (plugged, seen)
}

/// A feeder thread: on each request, the card out, a blank one in.
/// Every card put into a reader during a run, whether or not it was encoded
/// (a worker also reads the blank card it finds after the batch's last one).
type Inserted = Arc<Mutex<Vec<Arc<Mutex<vcard::Card>>>>>;

fn feeder(
    reader: Arc<LabReader>,
    current: Arc<Mutex<Option<Plugged>>>,
    serial0: u32,
    inserted: Inserted,
) -> Sender<()> {
    let (tx, rx) = channel::<()>();
    let latency_card = move |serial| {
        let card = contact_card(serial);
        inserted.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::clone(&card));
        card
    };
    {
        let card = latency_card(serial0);
        let (plugged, seen) = plug(&reader, &card);
        *current.lock().unwrap_or_else(|p| p.into_inner()) = Some((card, plugged, seen));
    }
    std::thread::spawn(move || {
        let mut serial = serial0;
        for () in rx {
            let old = current.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some((_, plugged, _)) = old {
                plugged.remove();
                reader.wait_card_absent(WAIT);
            }
            // A hand needs a moment between two cards; the worker sees the reader empty.
            std::thread::sleep(Duration::from_millis(100));
            serial += 1;
            let card = contact_card(serial);
            let (plugged, seen) = plug(&reader, &card);
            *current.lock().unwrap_or_else(|p| p.into_inner()) = Some((card, plugged, seen));
        }
        if let Some((_, plugged, _)) = current.lock().unwrap_or_else(|p| p.into_inner()).take() {
            plugged.remove();
        }
    });
    tx
}

struct Run {
    /// Where the host's time went ([`station::host_time`], all workers).
    tally: Vec<(station::host_time::Activity, u64, Duration)>,
    /// APDUs sent and the time spent inside `SCardTransmit` ([`reader::tally`]).
    transmit: (u64, Duration),
    /// The busy time of every card inserted (the cards those APDUs reached).
    all_cards_busy: Duration,
    readers: usize,
    cards: usize,
    wall: Duration,
    timings: Vec<CardTiming>,
    failures: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
fn run(
    session: &mut Session,
    admin: &mut Session,
    requester: &mut Session,
    profile: domain::ProfileId,
    lab_readers: &[Arc<LabReader>],
    count: usize,
    cards: usize,
    serial0: u32,
) -> Result<Run> {
    // The approved requests of this run.
    let mut requests = Vec::new();
    for i in 0..cards {
        let person = admin.create_person(station::NewPerson {
            given_name: format!("Bench{count}x{i}"),
            family_name: "Holder".into(),
            email: None,
            employee_id: None,
        })?;
        let view = requester.request_card(person.id, profile, None, None)?;
        requests.push(view.request.id);
    }
    let readers: Vec<Arc<LabReader>> = lab_readers.iter().take(count).cloned().collect();
    let inserted: Inserted = Arc::default();
    let mut hands = BTreeMap::new();
    for (i, r) in readers.iter().enumerate() {
        let current = Arc::new(Mutex::new(None));
        let tx =
            feeder(Arc::clone(r), Arc::clone(&current), serial0 + (i as u32) * 1000, Arc::clone(&inserted));
        hands.insert(r.name.clone(), Hand { current, tx });
    }
    let meter = Meter {
        hands,
        started: Mutex::new(None),
        timings: Mutex::new(Vec::new()),
        failures: Mutex::new(Vec::new()),
    };
    session.sync()?;
    let batch = session.create_batch(&requests, domain::BatchOptions::default())?;
    let names: Vec<String> = readers.iter().map(|r| r.name.clone()).collect();
    let stop = AtomicBool::new(false);
    station::host_time::reset();
    reader::tally::reset();
    let t0 = Instant::now();
    *meter.started.lock().unwrap_or_else(|p| p.into_inner()) = Some(t0);
    let view = session.run_batch(batch.id, &names, &stop, &meter)?;
    let wall = t0.elapsed();
    let tally = station::host_time::snapshot();
    let transmit = reader::tally::snapshot();
    let all_cards_busy = inserted
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|c| c.lock().unwrap_or_else(|p| p.into_inner()).stats().busy)
        .sum();
    if view.counts.done != cards {
        bail!(
            "the batch on {count} reader(s) finished {} of {cards} cards: {:?}",
            view.counts.done,
            view.counts
        );
    }
    let Meter { hands, timings, failures, .. } = meter;
    drop(hands);
    Ok(Run {
        tally,
        transmit,
        all_cards_busy,
        readers: count,
        cards,
        wall,
        timings: timings.into_inner().unwrap_or_default(),
        failures: failures.into_inner().unwrap_or_default(),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Per card: each tallied activity (how often, ms), then the card's
/// reader time split: the PC/SC path beyond card time (time inside
/// `SCardTransmit` less the cards' busy time, both over every APDU), our
/// code in card reads and sessions (their time less the transmits and the
/// CA round trips and journal commits made inside), and the rest (wall less
/// card time and everything named).
fn breakdown(r: &Run, wall_ms: f64) -> Vec<serde_json::Value> {
    use station::host_time::Activity;
    let n = r.timings.len().max(1) as f64;
    let of =
        |a: Activity| r.tally.iter().find(|(x, ..)| *x == a).map(|(_, _, d)| ms(*d) / n).unwrap_or_default();
    let in_sessions = [Activity::Journal, Activity::Challenge, Activity::Issue];
    // Not in the card's time: after it is asked out, or on a thread the card
    // does not wait for (a late escrow shows as the first journal commit's wait).
    let off_path = [Activity::CatchUp, Activity::Recording, Activity::EscrowPush];
    let mut rows = Vec::new();
    let mut outside = 0.0;
    for (a, count, d) in &r.tally {
        if *a == Activity::CardSession || *a == Activity::CardRead {
            continue;
        }
        let per = ms(*d) / n;
        if !in_sessions.contains(a) && !off_path.contains(a) {
            outside += per;
        }
        rows.push(json!({"what": a.name(), "per_card": *count as f64 / n, "ms_per_card": per}));
    }
    let sessions = of(Activity::CardSession) + of(Activity::CardRead);
    let inside: f64 = in_sessions.iter().map(|a| of(*a)).sum();
    let (apdus, in_transmit) = r.transmit;
    let in_transmit = ms(in_transmit) / n;
    rows.push(json!({
        "what": "PC/SC path beyond card time (pcscd, vpcd socket)",
        "per_card": apdus as f64 / n,
        "ms_per_card": in_transmit - ms(r.all_cards_busy) / n,
    }));
    rows.push(json!({
        "what": "our code in card sessions (+ connect, begin/end)",
        "per_card": 1.0,
        "ms_per_card": sessions - inside - in_transmit,
    }));
    rows.push(json!({
        "what": "other (waking on the card, batch bookkeeping)",
        "per_card": 1.0,
        "ms_per_card": wall_ms - sessions - outside,
    }));
    rows
}

fn main() -> Result<()> {
    let o = options()?;
    let lab = Lab::from_env();
    let most = o.readers.iter().copied().max().unwrap_or(1);
    let lab_readers: Vec<Arc<LabReader>> = (0..most).map(|_| Arc::new(lab.acquire_reader())).collect();
    let work = tempfile::tempdir()?;
    let registry = TestRegistry::start(&work.path().join("registry"))?;
    registry.use_case("request", true)?;
    registry.role("Requesters", &["can_request"], &[])?;
    registry.role("Batchers", &["can_collect"], &["manage_batches", "unblock_pin", "cancel_revoke"])?;
    registry.operator("rita", "Requester", &["Requesters"])?;
    registry.operator("bea", "Batcher", &["Batchers"])?;
    let profile: domain::ProfileId =
        domain::ProfileId::new(registry.profile(PROFILE)?.parse::<uuid::Uuid>()?);
    let data = work.path().join("station");
    Station::enroll(&data, &registry.url, &registry.fingerprint)?;
    let mut admin = Station::open(&data)?.sign_in("admin", PASSWORD)?;
    let mut requester = Station::open(&data)?.sign_in("rita", PASSWORD)?;
    let mut session = Station::open(&data)?.sign_in("bea", PASSWORD)?;

    let mut runs = Vec::new();
    for (k, count) in o.readers.iter().enumerate() {
        if !o.json {
            eprintln!("batch of {} cards on {count} reader(s)…", o.cards);
        }
        let serial0 = 5_000_000 + (std::process::id() % 100) * 20_000 + (k as u32) * 5000;
        runs.push(run(
            &mut session,
            &mut admin,
            &mut requester,
            profile,
            &lab_readers,
            *count,
            o.cards,
            serial0,
        )?);
    }

    let per_hour = |r: &Run| r.cards as f64 * 3600.0 / r.wall.as_secs_f64();
    let base = runs.iter().find(|r| r.readers == 1).map(per_hour);
    let mut out = Vec::new();
    for r in &runs {
        let wall: Duration = r.timings.iter().map(|t| t.wall).sum();
        let card: Duration = r.timings.iter().map(|t| t.card).sum();
        let overhead = ms(wall) - ms(card);
        let n = r.timings.len().max(1) as f64;
        // The PC/SC path: time inside SCardTransmit beyond the cards' own time.
        let pcsc = (ms(r.transmit.1) - ms(r.all_cards_busy)) / n;
        let ours = overhead / n - pcsc;
        out.push(json!({
            "breakdown": breakdown(r, ms(wall) / n),
            "readers": r.readers,
            "cards": r.cards,
            "batch_wall_s": r.wall.as_secs_f64(),
            "cards_per_hour": per_hour(r),
            "speed_up": base.map(|b| per_hour(r) / b),
            "per_card_wall_ms": ms(wall) / n,
            "per_card_card_ms": ms(card) / n,
            "per_card_host_ms": overhead / n,
            "host_overhead_percent": if card.is_zero() { 0.0 } else { 100.0 * overhead / ms(card) },
            "per_card_pcsc_path_ms": pcsc,
            "per_card_ours_ms": ours,
            "ours_percent": if card.is_zero() { 0.0 } else { 100.0 * ours * n / ms(card) },
            "failures": r.failures,
        }));
    }
    if o.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{:>7} {:>5} {:>9} {:>10} {:>8} {:>12} {:>12} {:>12} {:>9} {:>10} {:>10} {:>9}",
        "readers",
        "cards",
        "wall s",
        "cards/h",
        "speed-up",
        "card ms/card",
        "wall ms/card",
        "host ms/card",
        "host %",
        "PC/SC ms",
        "ours ms",
        "ours %"
    );
    for v in &out {
        println!(
            "{:>7} {:>5} {:>9.1} {:>10.0} {:>8} {:>12.0} {:>12.0} {:>12.1} {:>8.2}% {:>10.1} {:>10.1} {:>8.2}%",
            v["readers"],
            v["cards"],
            v["batch_wall_s"].as_f64().unwrap_or_default(),
            v["cards_per_hour"].as_f64().unwrap_or_default(),
            v["speed_up"].as_f64().map(|s| format!("{s:.2}x")).unwrap_or_else(|| "-".into()),
            v["per_card_card_ms"].as_f64().unwrap_or_default(),
            v["per_card_wall_ms"].as_f64().unwrap_or_default(),
            v["per_card_host_ms"].as_f64().unwrap_or_default(),
            v["host_overhead_percent"].as_f64().unwrap_or_default(),
            v["per_card_pcsc_path_ms"].as_f64().unwrap_or_default(),
            v["per_card_ours_ms"].as_f64().unwrap_or_default(),
            v["ours_percent"].as_f64().unwrap_or_default(),
        );
        if let Some(b) = v["breakdown"].as_array() {
            for row in b {
                println!(
                    "        {:<38} {:>6.2}/card {:>8.1} ms/card",
                    row["what"].as_str().unwrap_or_default(),
                    row["per_card"].as_f64().unwrap_or_default(),
                    row["ms_per_card"].as_f64().unwrap_or_default(),
                );
            }
        }
        if let Some(f) = v["failures"].as_array().filter(|f| !f.is_empty()) {
            println!("        failures: {f:?}");
        }
    }
    println!(
        "host = PC/SC path (pcscd and the virtual reader's socket, beyond the card's modelled time) + ours"
    );
    println!("targets: 4 readers ≥ 3.8× one reader; host overhead < 1% of card time (printed, not asserted)");
    Ok(())
}
