//! The card lab as the tests see it: pcscd with eight virtual readers
//! (started by `scripts/lab up`; `scripts/test` does it), a pool that hands
//! each test a reader of its own, and virtual cards to put in them.
//!
//! ```no_run
//! let lab = e2e::lab::Lab::from_env();
//! let reader = lab.acquire_reader(); // exclusive across threads and processes
//! let (card, plugged) = reader.insert_fresh(1001); // a factory-fresh virtual PIV card
//! let mut conn = reader.connect();
//! let mut tx = conn.transaction().unwrap(); // implements apdu::Transport
//! # drop((card, plugged));
//! ```
//!
//! A test that panics still releases its reader: the lock is a file lock
//! (`flock`), released when the `LabReader` is dropped or the process dies.

use std::fs::{File, OpenOptions};
use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long the helpers wait for pcscd to notice a card coming or going
/// before declaring the lab broken. pcscd polls vpcd readers every 0.4 s, so
/// this is a hang guard, not a performance expectation.
pub const WAIT: Duration = Duration::from_secs(15);

/// How long [`Lab::acquire_reader`] lets a previous user's card disappear
/// (pcscd notices a removal within one 0.4 s poll) before it takes the
/// reader for occupied by a card outside the pool.
const STALE_CARD_WAIT: Duration = Duration::from_secs(2);

/// How long [`Lab::acquire_reader`] waits for a free reader before giving up.
pub const ACQUIRE_WAIT: Duration = Duration::from_secs(300);

/// A factory-fresh virtual PIV card with `serial` on the contact-card
/// latency model ([`vcard::Latency::contact_card`]), as the benchmarks use.
pub fn contact_card(serial: u32) -> Arc<Mutex<vcard::Card>> {
    Arc::new(Mutex::new(vcard::Card::factory_fresh(
        vcard::CardConfig::new(serial).with_latency(vcard::Latency::contact_card()),
    )))
}

/// The lab: where it lives and which readers it has.
#[derive(Debug, Clone)]
pub struct Lab {
    dir: PathBuf,
    readers: Vec<LabReaderInfo>,
}

/// One line of `.lab/readers.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LabReaderInfo {
    port: u16,
    name: String,
}

const NOT_UP: &str = "the card lab is not up: run `scripts/lab up` (scripts/test does it)";

impl Lab {
    /// Finds the lab: `$CARDSTATION_LAB`, else the repository's `.lab`.
    ///
    /// # Panics
    /// When the lab is not up (no `readers.tsv`, or pcscd does not list the
    /// lab's readers), with a message saying how to start it.
    pub fn from_env() -> Lab {
        let dir = std::env::var_os("CARDSTATION_LAB")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.lab"));
        let tsv = dir.join("readers.tsv");
        let text =
            std::fs::read_to_string(&tsv).unwrap_or_else(|e| panic!("{NOT_UP} ({}: {e})", tsv.display()));
        let readers = parse_tsv(&text).unwrap_or_else(|e| panic!("{}: {e}", tsv.display()));
        assert!(!readers.is_empty(), "{NOT_UP} ({} lists no readers)", tsv.display());
        let live = reader::Readers::establish()
            .and_then(|r| r.names())
            .unwrap_or_else(|e| panic!("{NOT_UP} (PC/SC: {e})"));
        for r in &readers {
            assert!(live.contains(&r.name), "{NOT_UP} (pcscd does not list {:?}; it lists {live:?})", r.name);
        }
        Lab { dir, readers }
    }

    /// The lab directory (`.lab`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of readers in the pool.
    pub fn reader_count(&self) -> usize {
        self.readers.len()
    }

    /// The PC/SC names of all lab readers (held or not), in port order.
    pub fn reader_names(&self) -> Vec<String> {
        self.readers.iter().map(|r| r.name.clone()).collect()
    }

    /// Takes a free reader for this test alone, waiting while all are in use
    /// (by other threads or other test processes), and waits until it holds
    /// no card (a previous user's card may take a poll cycle to disappear).
    /// Readers holding a card that does not go away (`scripts/run` leaves its
    /// demo cards in) are skipped.
    ///
    /// # Panics
    /// After [`ACQUIRE_WAIT`] without a free reader.
    pub fn acquire_reader(&self) -> LabReader {
        let locks = self.dir.join("locks");
        std::fs::create_dir_all(&locks).unwrap_or_else(|e| panic!("{}: {e}", locks.display()));
        // Start at a different reader per call so parallel tests spread out.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let start = NEXT.fetch_add(1, Ordering::Relaxed) + std::process::id() as usize;
        let deadline = Instant::now() + ACQUIRE_WAIT;
        loop {
            for k in 0..self.readers.len() {
                let info = &self.readers[(start + k) % self.readers.len()];
                let path = locks.join(format!("{}.lock", info.port));
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if file.try_lock().is_ok() {
                    let reader = LabReader {
                        name: info.name.clone(),
                        port: info.port,
                        index_for_opensc: self.index_of(&info.name),
                        _lock: file,
                    };
                    // A card left by the previous user is gone within a poll
                    // (0.4 s); one that stays belongs to something outside the
                    // pool (e.g. the demo's cards): skip that reader.
                    if reader.card_gone_within(STALE_CARD_WAIT) {
                        return reader;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no lab reader became free within {ACQUIRE_WAIT:?}: all held by other tests, or holding \
                 cards from outside the pool (scripts/run stop removes the demo cards)"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The reader's position in the PC/SC list, which is the number
    /// `opensc-tool -l` prints and `pkcs15-tool --reader` takes.
    fn index_of(&self, name: &str) -> usize {
        let names =
            reader::Readers::establish().and_then(|r| r.names()).unwrap_or_else(|e| panic!("PC/SC: {e}"));
        names.iter().position(|n| n == name).unwrap_or_else(|| panic!("{NOT_UP} ({name:?} is gone)"))
    }
}

fn parse_tsv(text: &str) -> Result<Vec<LabReaderInfo>, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut cols = line.split('\t');
            let port = cols.next().and_then(|p| p.parse().ok()).ok_or(format!("bad line {line:?}"))?;
            let name = cols.next().ok_or(format!("bad line {line:?}"))?.to_owned();
            Ok(LabReaderInfo { port, name })
        })
        .collect()
}

/// A lab reader held exclusively by one test until dropped.
#[derive(Debug)]
pub struct LabReader {
    /// The PC/SC reader name (`Virtual PCD B 00 01`); pass it to
    /// `yubico-piv-tool -r` and `pkcs11-tool --slot-description`.
    pub name: String,
    /// The vpcd port a virtual card connects to.
    pub port: u16,
    /// The reader's number in `opensc-tool -l` (for `opensc-tool -r`,
    /// `pkcs15-tool --reader`).
    pub index_for_opensc: usize,
    _lock: File,
}

impl LabReader {
    /// Where a virtual card connects to put itself into this reader.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Puts a virtual PIV card into the reader (default [`vcard::vpcd::VpcdOptions`]:
    /// a card torn out by a fault comes back after 1.5 s). Pair with
    /// [`LabReader::wait_card_present`] before connecting.
    pub fn insert(&self, card: Arc<Mutex<vcard::Card>>) -> vcard::vpcd::VpcdCard {
        vcard::vpcd::VpcdCard::insert(self.addr(), card)
            .unwrap_or_else(|e| panic!("insert into {}: {e}", self.name))
    }

    /// Like [`LabReader::insert`] with explicit options (e.g. no re-insertion after a tear).
    pub fn insert_with(
        &self,
        card: Arc<Mutex<vcard::Card>>,
        options: vcard::vpcd::VpcdOptions,
    ) -> vcard::vpcd::VpcdCard {
        vcard::vpcd::VpcdCard::insert_with(self.addr(), card, options)
            .unwrap_or_else(|e| panic!("insert into {}: {e}", self.name))
    }

    /// A factory-fresh virtual PIV card with `serial`, inserted, and seen by
    /// pcscd; returns the card and its handle.
    pub fn insert_fresh(&self, serial: u32) -> (Arc<Mutex<vcard::Card>>, vcard::vpcd::VpcdCard) {
        let card = Arc::new(Mutex::new(vcard::Card::factory_fresh(vcard::CardConfig::new(serial))));
        let plugged = self.insert(Arc::clone(&card));
        self.wait_card_present(WAIT);
        (card, plugged)
    }

    /// A factory-fresh virtual PIV card on the contact-card latency model
    /// ([`vcard::Latency::contact_card`]: the benchmarks' card), inserted
    /// and seen by pcscd; returns the card and its handle.
    pub fn insert_contact_card(&self, serial: u32) -> (Arc<Mutex<vcard::Card>>, vcard::vpcd::VpcdCard) {
        let card = contact_card(serial);
        let plugged = self.insert(Arc::clone(&card));
        self.wait_card_present(WAIT);
        (card, plugged)
    }

    /// Puts a simple scripted card into the reader; see [`StubCard`].
    pub fn insert_stub<F>(&self, atr: &[u8], respond: F) -> StubCard
    where
        F: FnMut(&[u8]) -> Vec<u8> + Send + 'static,
    {
        self.insert_stub_with_power(atr, respond, |_| {})
    }

    /// Like [`LabReader::insert_stub`], and `on_control` sees every power
    /// off / power on / reset the driver sends (to drop card state as a
    /// real card does).
    pub fn insert_stub_with_power<F, P>(&self, atr: &[u8], respond: F, on_control: P) -> StubCard
    where
        F: FnMut(&[u8]) -> Vec<u8> + Send + 'static,
        P: FnMut(u8) + Send + 'static,
    {
        StubCard::insert(self.addr(), atr, respond, on_control)
            .unwrap_or_else(|e| panic!("insert into {}: {e}", self.name))
    }

    /// Opens a shared connection to the card in this reader.
    pub fn connect(&self) -> reader::CardConnection {
        reader::Readers::establish()
            .and_then(|r| r.connect(&self.name))
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name))
    }

    /// Waits until pcscd reports a card in this reader and returns its ATR.
    ///
    /// # Panics
    /// When no card shows up within `timeout`.
    pub fn wait_card_present(&self, timeout: Duration) -> Vec<u8> {
        let mut atr = None;
        self.wait_until(timeout, "a card", |state| {
            if state.card_present && state.atr.is_some() {
                atr = state.atr.clone();
                true
            } else {
                false
            }
        });
        atr.unwrap_or_default()
    }

    /// Waits until pcscd reports this reader empty.
    ///
    /// # Panics
    /// When the card is still there after `timeout`.
    pub fn wait_card_absent(&self, timeout: Duration) {
        self.wait_until(timeout, "no card", |state| !state.card_present);
    }

    /// True once the reader is empty, false if a card is still in it after `timeout`.
    fn card_gone_within(&self, timeout: Duration) -> bool {
        self.try_wait_until(timeout, |state| !state.card_present)
    }

    /// Blocks in the reader crate's watcher until this reader's state
    /// satisfies `done`; panics after `timeout`.
    fn wait_until(&self, timeout: Duration, what: &str, done: impl FnMut(&reader::ReaderState) -> bool) {
        assert!(
            self.try_wait_until(timeout, done),
            "{} still not showing {what} after {timeout:?}",
            self.name
        );
    }

    /// Blocks in the reader crate's watcher until this reader's state
    /// satisfies `done` (true) or `timeout` passes (false).
    fn try_wait_until(&self, timeout: Duration, mut done: impl FnMut(&reader::ReaderState) -> bool) -> bool {
        let mut watcher = reader::Watcher::new().unwrap_or_else(|e| panic!("PC/SC watcher: {e}"));
        let deadline = Instant::now() + timeout;
        loop {
            let state = watcher.readers().into_iter().find(|r| r.name == self.name);
            let state = state.unwrap_or_else(|| panic!("{NOT_UP} (reader {:?} is gone)", self.name));
            if done(&state) {
                return true;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return false;
            }
            watcher.wait_for_change(Some(remaining)).unwrap_or_else(|e| panic!("PC/SC watcher: {e}"));
        }
    }
}

/// A minimal card on the vpcd wire protocol: answers the ATR request and
/// hands every command APDU to a closure. For tests of the reader layer
/// that need no PIV card (the virtual PIV card is `vcard`).
///
/// It records the control bytes the driver sent (power off/on, reset), so a
/// test can tell whether anyone reset the card.
#[derive(Debug)]
pub struct StubCard {
    stream: TcpStream,
    controls: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

/// vpcd control bytes (see LAB.md "The vpcd wire protocol").
pub mod control {
    /// Power the card off.
    pub const POWER_OFF: u8 = 0x00;
    /// Power the card on.
    pub const POWER_ON: u8 = 0x01;
    /// Warm reset.
    pub const RESET: u8 = 0x02;
    /// Send the ATR.
    pub const GET_ATR: u8 = 0x04;
}

impl StubCard {
    /// A T=1 ATR with historical bytes "CSLABSTB" (no known-card pattern;
    /// PIV-NOTES §3 on ATRs).
    pub const DEFAULT_ATR: &'static [u8] = &[
        0x3B, 0xF8, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, b'C', b'S', b'L', b'A', b'B', b'S', b'T', b'B',
        0xAA,
    ];

    /// Connects to a vpcd port (= inserts the card). `respond` answers
    /// command APDUs; `on_control` sees power off / on / reset.
    pub fn insert<F, P>(
        addr: SocketAddr,
        atr: &[u8],
        mut respond: F,
        mut on_control: P,
    ) -> io::Result<StubCard>
    where
        F: FnMut(&[u8]) -> Vec<u8> + Send + 'static,
        P: FnMut(u8) + Send + 'static,
    {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let mut reader = stream.try_clone()?;
        let controls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&controls);
        let atr = atr.to_vec();
        let thread = thread::spawn(move || {
            let mut writer = match reader.try_clone() {
                Ok(w) => w,
                Err(_) => return,
            };
            while let Ok(msg) = vcard::vpcd::read_frame(&mut reader) {
                let reply = match msg.as_slice() {
                    [control::GET_ATR] => Some(atr.clone()),
                    [byte] => {
                        seen.lock().unwrap_or_else(|p| p.into_inner()).push(*byte);
                        on_control(*byte);
                        None
                    }
                    apdu => Some(respond(apdu)),
                };
                if let Some(reply) = reply {
                    if vcard::vpcd::write_frame(&mut writer, &reply).is_err() {
                        return;
                    }
                }
            }
        });
        Ok(StubCard { stream, controls, thread: Some(thread) })
    }

    /// Control bytes received so far, excluding ATR requests.
    pub fn controls(&self) -> Vec<u8> {
        self.controls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Pulls the card out (closes the connection).
    pub fn remove(mut self) {
        self.close();
    }

    fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StubCard {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_lines_become_port_and_name() {
        let readers = parse_tsv("40000\tVirtual PCD 00 00\t0\n40011\tVirtual PCD B 00 01\t3\n").unwrap();
        assert_eq!(
            readers,
            vec![
                LabReaderInfo { port: 40000, name: "Virtual PCD 00 00".into() },
                LabReaderInfo { port: 40011, name: "Virtual PCD B 00 01".into() },
            ]
        );
        assert!(parse_tsv("notaport\tX\n").is_err(), "a non-numeric port is rejected");
    }
}
