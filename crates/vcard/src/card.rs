//! The card: transport-level behaviour (ISO/IEC 7816-4 command chaining and
//! GET RESPONSE), volatile security state, persistence, timing and faults.
//! The PIV application itself is in `application.rs`, vendor extensions in
//! `yubico.rs`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use apdu::{Command, Response, StatusWord};
use piv::types::PinPolicy;
use piv::{KeyAlgorithm, ManagementKeyAlgorithm, Slot};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::state::{PersistentState, FORMAT};
use crate::{CardConfig, Corruption, Error, Faults, Flavour, Latency, Result};

/// The most data a chained command may accumulate (well above the largest
/// PIV object plus its tags); more is refused with `6A84`.
const MAX_CHAIN: usize = 16 * 1024;

/// Our own T=1 answer-to-reset (ISO/IEC 7816-3 §8): TS 3B, T0 F8 (TA1..TD1
/// and 8 historical bytes), TA1 13, TB1 00, TC1 00, TD1 81 (T=1 follows),
/// TD2 31 (TA3/TB3 for T=1), TA3 FE (IFSC 254), TB3 15 (BWI 1, CWI 5), the
/// historical bytes "CardStat", then TCK. Deliberately not a YubiKey ATR and
/// not the `3B 8x 80 01` pattern OpenSC ≥0.24 treats as contactless.
const ATR_PREFIX: [u8; 9] = [0x3B, 0xF8, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15];
const ATR_HISTORICAL: &[u8; 8] = b"CardStat";

/// Counters of what the card did, for benchmarks and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Command APDUs received (each chained block counts).
    pub apdus: u64,
    /// Command bytes received.
    pub bytes_in: u64,
    /// Response bytes sent.
    pub bytes_out: u64,
    /// Time the card was busy: real processing, or the latency model when it
    /// is longer, as the card's thread actually held the command.
    pub busy: Duration,
}

/// What reaches the host for one command once faults are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The response APDU (possibly corrupted by a fault).
    Response(Vec<u8>),
    /// The card was pulled out; no response. `applied` tells whether the
    /// command was executed before the contacts broke.
    Torn {
        /// The command took effect.
        applied: bool,
    },
}

/// A pending management-key authentication (SP 800-73-4 Part 2 Appendix A.1/A.2).
pub(crate) enum PendingAuth {
    /// Mutual authentication: the plain witness the card encrypted.
    Witness(Zeroizing<Vec<u8>>),
    /// External authentication: the challenge the card issued.
    Challenge(Zeroizing<Vec<u8>>),
}

struct Chain {
    ins: u8,
    p1: u8,
    p2: u8,
    data: Zeroizing<Vec<u8>>,
}

/// Security state and buffers that a power cycle or reset clears.
#[derive(Default)]
pub(crate) struct Volatile {
    pub selected: bool,
    pub pin_verified: bool,
    /// Set by a successful VERIFY, consumed by one PIN-always private-key op.
    pub pin_fresh: bool,
    pub management_authenticated: bool,
    pub pending_auth: Option<PendingAuth>,
    chain: Option<Chain>,
    response: Zeroizing<Vec<u8>>,
}

/// One command after chaining was resolved.
pub(crate) struct Request {
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: Zeroizing<Vec<u8>>,
}

/// A virtual PIV card: all card logic, no I/O except the optional state file.
///
/// Drive it with raw APDUs through [`Card::process`] (no faults) or
/// [`Card::deliver`] (faults applied), directly, through [`crate::Session`]
/// or over vpcd with [`crate::vpcd::VpcdCard`].
pub struct Card {
    pub(crate) state: PersistentState,
    pub(crate) volatile: Volatile,
    pub(crate) dirty: bool,
    /// Simulated cost of the current command's operation (keygen, signing…).
    pub(crate) op_cost: Duration,
    latency: Option<Latency>,
    faults: Faults,
    state_file: Option<PathBuf>,
    stats: Stats,
    apdus_since_insertion: u64,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("serial", &self.state.serial)
            .field("flavour", &self.state.flavour)
            .field("keys", &self.state.keys.len())
            .field("objects", &self.state.objects.len())
            .field("state_file", &self.state_file)
            .finish_non_exhaustive()
    }
}

impl Card {
    /// A card as it leaves the factory: PIN 123456, PUK 12345678 (3 tries
    /// each), the default management key, no keys, no CHUID; only the
    /// discovery object. Its serial makes it distinguishable.
    pub fn factory_fresh(config: CardConfig) -> Card {
        let state = PersistentState::factory(config.serial, config.flavour, config.management_key_algorithm);
        Card::from_state(state, config.latency, config.faults)
    }

    fn from_state(state: PersistentState, latency: Option<Latency>, faults: Faults) -> Card {
        Card {
            state,
            volatile: Volatile::default(),
            dirty: false,
            op_cost: Duration::ZERO,
            latency,
            faults,
            state_file: None,
            stats: Stats::default(),
            apdus_since_insertion: 0,
        }
    }

    /// Loads a card's persistent state. The card has no latency and no
    /// faults, and does not write back to `path` unless
    /// [`Card::with_state_file`] is called.
    pub fn load(path: impl AsRef<Path>) -> Result<Card> {
        let path = path.as_ref();
        let text = std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let state: PersistentState = serde_json::from_slice(&text)
            .map_err(|e| Error::BadState { path: path.display().to_string(), reason: e.to_string() })?;
        if state.format != FORMAT {
            return Err(Error::BadState {
                path: path.display().to_string(),
                reason: format!("format {} (this version reads {FORMAT})", state.format),
            });
        }
        Ok(Card::from_state(state, None, Faults::default()))
    }

    /// Loads the card in `path` if it exists, else makes a factory-fresh one
    /// from `config` and saves it there; either way the card then persists
    /// to `path`. Latency and faults come from `config` in both cases.
    pub fn open(path: impl AsRef<Path>, config: CardConfig) -> Result<Card> {
        let path = path.as_ref();
        let card = if path.exists() {
            let mut card = Card::load(path)?;
            card.latency = config.latency;
            card.faults = config.faults;
            card
        } else {
            let card = Card::factory_fresh(config);
            card.save(path)?;
            card
        };
        Ok(card.with_state_file(path))
    }

    /// Writes the whole persistent state to `path` atomically (temporary
    /// file, fsync, rename, fsync of the directory), so a crash leaves
    /// either the old or the new state, like a card's transactional memory.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        use std::io::Write;
        let path = path.as_ref();
        let json = Zeroizing::new(
            serde_json::to_vec_pretty(&self.state)
                .map_err(|e| Error::BadState { path: path.display().to_string(), reason: e.to_string() })?,
        );
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        let ctx = |what: &str| format!("{what} {}", tmp.display());
        let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(ctx("creating"), e))?;
        file.write_all(&json).map_err(|e| Error::io(ctx("writing"), e))?;
        file.sync_all().map_err(|e| Error::io(ctx("syncing"), e))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("renaming to {}", path.display()), e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Best effort: makes the rename itself durable on POSIX filesystems.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    /// Makes the card save its state to `path` after every command that
    /// changed it.
    pub fn with_state_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_file = Some(path.into());
        self
    }

    /// The state file, if any.
    pub fn state_file(&self) -> Option<&Path> {
        self.state_file.as_deref()
    }

    /// Replaces the fault model (e.g. to disarm faults before recovery).
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// The fault model.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replaces the timing model.
    pub fn set_latency(&mut self, latency: Option<Latency>) {
        self.latency = latency;
    }

    /// Changes which vendor extensions the card answers (persistent).
    pub fn set_flavour(&mut self, flavour: Flavour) {
        if self.state.flavour != flavour {
            self.state.flavour = flavour;
            self.dirty = true;
            self.persist();
        }
    }

    /// The serial number.
    pub fn serial(&self) -> u32 {
        self.state.serial
    }

    /// The flavour.
    pub fn flavour(&self) -> Flavour {
        self.state.flavour
    }

    /// The current management key algorithm.
    pub fn management_key_algorithm(&self) -> ManagementKeyAlgorithm {
        self.state.management.algorithm
    }

    /// The stored data object `tag` exactly as GET DATA returns it.
    pub fn object(&self, tag: u32) -> Option<&[u8]> {
        self.state.objects.get(&tag).map(Vec::as_slice)
    }

    /// The algorithm and PIN policy of the key in `slot`, if one is there.
    pub fn key_info(&self, slot: Slot) -> Option<(KeyAlgorithm, PinPolicy)> {
        self.state.keys.get(&slot.key_ref()).map(|k| (k.algorithm, k.pin_policy))
    }

    /// PIN tries left.
    pub fn pin_tries_remaining(&self) -> u8 {
        self.state.pin.remaining
    }

    /// PUK tries left.
    pub fn puk_tries_remaining(&self) -> u8 {
        self.state.puk.remaining
    }

    /// The answer-to-reset.
    pub fn atr(&self) -> Vec<u8> {
        let mut atr = ATR_PREFIX.to_vec();
        atr.extend_from_slice(ATR_HISTORICAL);
        let tck = atr[1..].iter().fold(0u8, |acc, b| acc ^ b);
        atr.push(tck);
        atr
    }

    /// What the card has done so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Power removed (vpcd `00`): all volatile state is lost.
    pub fn power_off(&mut self) {
        self.volatile = Volatile::default();
    }

    /// Warm reset (vpcd `02`, PC/SC SCARD_RESET_CARD) or power on (`01`):
    /// the same loss of volatile state.
    pub fn reset(&mut self) {
        self.volatile = Volatile::default();
    }

    /// The card enters a reader: fault counters start again, no state survives.
    pub fn insert(&mut self) {
        self.apdus_since_insertion = 0;
        self.volatile = Volatile::default();
    }

    /// Processes one command APDU and returns the response APDU; never
    /// panics, whatever the bytes. Faults are not applied here (see
    /// [`Card::deliver`]); latency is.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let started = Instant::now();
        self.op_cost = Duration::ZERO;
        let mut response = self.handle(apdu);
        if !self.persist() {
            // The change is in memory but not in the "EEPROM": report a memory failure.
            response = Response::from(StatusWord(0x6581));
        }
        let out = response.to_bytes();
        tracing::debug!(
            ins = apdu.get(1).copied().unwrap_or(0),
            len = apdu.len(),
            sw = %response.sw,
            resp_len = out.len(),
            "apdu"
        );
        self.stats.apdus += 1;
        self.stats.bytes_in += apdu.len() as u64;
        self.stats.bytes_out += out.len() as u64;
        let real = started.elapsed();
        let busy = match self.latency {
            Some(l) => {
                let bytes = u32::try_from(apdu.len() + out.len()).unwrap_or(u32::MAX);
                let modeled = l.per_apdu + l.per_byte.saturating_mul(bytes) + self.op_cost;
                if modeled > real {
                    std::thread::sleep(modeled - real);
                }
                // The card answers when its thread wakes: the sleep's
                // overshoot (timer slack, scheduling) is the card's time,
                // not the host's.
                started.elapsed()
            }
            None => real,
        };
        self.stats.busy += busy;
        out
    }

    /// Processes one command as it travels over a faulty link: may tear the
    /// card out (before or after executing) or damage the response,
    /// according to [`Faults`]. A tear powers the card off.
    pub fn deliver(&mut self, apdu: &[u8]) -> Delivery {
        let index = self.apdus_since_insertion;
        self.apdus_since_insertion += 1;
        let f = &self.faults;
        let tear = (f.tear_after_apdus.is_some() || f.tear_at_ins.is_some())
            && f.tear_after_apdus.is_none_or(|n| index >= n)
            && f.tear_at_ins.is_none_or(|ins| apdu.get(1) == Some(&ins));
        if tear {
            let applied = f.tear_after_execution;
            if !f.repeat {
                self.faults.tear_after_apdus = None;
                self.faults.tear_at_ins = None;
            }
            if applied {
                let _ = self.process(apdu);
            } else {
                self.stats.apdus += 1;
                self.stats.bytes_in += apdu.len() as u64;
            }
            tracing::info!(index, applied, "fault: card torn out");
            self.power_off();
            return Delivery::Torn { applied };
        }
        let mut response = self.process(apdu);
        if self.faults.corrupt_response_at == Some(index) {
            if !self.faults.repeat {
                self.faults.corrupt_response_at = None;
            }
            tracing::info!(index, "fault: response corrupted");
            match self.faults.corruption {
                Corruption::FlipData => {
                    let data_len = response.len().saturating_sub(2);
                    if data_len == 0 {
                        if let Some(b) = response.first_mut() {
                            *b ^= 0xFF;
                        }
                    } else {
                        response[..data_len].iter_mut().for_each(|b| *b ^= 0xFF);
                    }
                }
                Corruption::Truncate(n) => response.truncate(n),
            }
        }
        Delivery::Response(response)
    }

    /// Saves when the last command changed persistent state; false on failure.
    fn persist(&mut self) -> bool {
        if !self.dirty {
            return true;
        }
        self.dirty = false;
        let Some(path) = self.state_file.clone() else { return true };
        match self.save(&path) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "saving the card state failed");
                false
            }
        }
    }

    /// Chaining, GET RESPONSE and dispatch (ISO/IEC 7816-4 §5.1.1, §7.6.1).
    fn handle(&mut self, raw: &[u8]) -> Response {
        let Ok(mut cmd) = Command::parse(raw) else {
            self.volatile.chain = None;
            self.volatile.response = Zeroizing::default();
            return StatusWord::WRONG_LENGTH.into();
        };
        if cmd.cla & !0x10 != 0 {
            self.volatile.chain = None;
            return StatusWord::CLA_NOT_SUPPORTED.into();
        }
        if cmd.ins == 0xC0 {
            return self.get_response(cmd.le);
        }
        self.volatile.response = Zeroizing::default();
        let data = Zeroizing::new(std::mem::take(&mut cmd.data));
        if cmd.cla & 0x10 != 0 {
            let same = self
                .volatile
                .chain
                .as_ref()
                .is_some_and(|c| (c.ins, c.p1, c.p2) == (cmd.ins, cmd.p1, cmd.p2));
            if !same {
                self.volatile.chain =
                    Some(Chain { ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, data: Zeroizing::default() });
            }
            let Some(chain) = self.volatile.chain.as_mut() else { return StatusWord(0x6F00).into() };
            if chain.data.len() + data.len() > MAX_CHAIN {
                self.volatile.chain = None;
                return StatusWord::NO_MEMORY.into();
            }
            chain.data.extend_from_slice(&data);
            return StatusWord::SUCCESS.into();
        }
        let data = match self.volatile.chain.take() {
            Some(mut c) if (c.ins, c.p1, c.p2) == (cmd.ins, cmd.p1, cmd.p2) => {
                c.data.extend_from_slice(&data);
                std::mem::take(&mut c.data)
            }
            _ => data,
        };
        let request = Request { ins: cmd.ins, p1: cmd.p1, p2: cmd.p2, data };
        match self.execute(&request) {
            Ok(body) => self.respond(body, cmd.le),
            Err(sw) => sw.into(),
        }
    }

    /// Sends up to 256 bytes (or an extended Le) now and keeps the rest for
    /// GET RESPONSE, announced with `61xx`.
    fn respond(&mut self, mut body: Vec<u8>, le: Option<usize>) -> Response {
        let max = match le {
            Some(n) if n > 256 => n,
            _ => 256,
        };
        if body.len() <= max {
            return Response::new(body, StatusWord::SUCCESS);
        }
        let rest = body.split_off(max);
        let sw = StatusWord::more_data(rest.len());
        self.volatile.response = Zeroizing::new(rest);
        Response::new(body, sw)
    }

    fn get_response(&mut self, le: Option<usize>) -> Response {
        if self.volatile.response.is_empty() {
            return StatusWord::CONDITIONS_NOT_SATISFIED.into();
        }
        let n = le.unwrap_or(256).min(self.volatile.response.len());
        let rest = Zeroizing::new(self.volatile.response.split_off(n));
        let now = std::mem::replace(&mut self.volatile.response, rest);
        let sw = if self.volatile.response.is_empty() {
            StatusWord::SUCCESS
        } else {
            StatusWord::more_data(self.volatile.response.len())
        };
        Response::new(now.to_vec(), sw)
    }

    fn execute(&mut self, req: &Request) -> Result<Vec<u8>, StatusWord> {
        const PIV_INS: [u8; 7] = [0xCB, 0xDB, 0x20, 0x24, 0x2C, 0x87, 0x47];
        let vendor = crate::yubico::is_vendor_ins(req.ins);
        if req.ins == 0xA4 {
            return self.select(req);
        }
        if vendor && self.state.flavour == Flavour::Generic {
            return Err(StatusWord::INS_NOT_SUPPORTED);
        }
        if !self.volatile.selected {
            return Err(match req.ins {
                0xCB | 0xDB => StatusWord::NOT_FOUND,
                ins if PIV_INS.contains(&ins) || vendor => StatusWord::CONDITIONS_NOT_SATISFIED,
                _ => StatusWord::INS_NOT_SUPPORTED,
            });
        }
        if vendor {
            return self.vendor(req);
        }
        match req.ins {
            0xCB => self.get_data(req),
            0xDB => self.put_data(req),
            0x20 => self.verify(req),
            0x24 => self.change_reference_data(req),
            0x2C => self.reset_retry_counter(req),
            0x87 => self.general_authenticate(req),
            0x47 => self.generate(req),
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
    }

    /// The configured latency, for operation costs.
    pub(crate) fn latency(&self) -> Option<&Latency> {
        self.latency.as_ref()
    }

    /// Adds the simulated cost of an operation to the current command.
    pub(crate) fn cost(&mut self, pick: impl Fn(&Latency) -> Duration) {
        if let Some(l) = self.latency() {
            self.op_cost += pick(l);
        }
    }
}
