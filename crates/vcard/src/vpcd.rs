//! Plugging a virtual card into `pcscd` through vsmartcard's vpcd driver.
//!
//! The card is a TCP client of the driver's port (one port per reader
//! slot). Every message both ways is a 2-byte big-endian length and a
//! payload. A 1-byte payload from the driver is a control: `00` power off,
//! `01` power on, `02` reset (no reply to any of them), `04` "send the
//! ATR". Anything longer is a command APDU, answered with the response
//! APDU. Connecting inserts the card, closing the socket removes it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{Card, Delivery};

const CTRL_OFF: u8 = 0x00;
const CTRL_ON: u8 = 0x01;
const CTRL_RESET: u8 = 0x02;
const CTRL_ATR: u8 = 0x04;

/// How a plugged-in card behaves when its connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpcdOptions {
    /// Reconnect after a fault tore the card out, or after the driver closed
    /// the connection (pcscd restarted). Without it the card stays out.
    pub reconnect: bool,
    /// How long the card stays out after a tear before it is re-inserted.
    /// pcscd polls every 0.4 s, so anything above ~1 s is seen as a
    /// removal followed by an insertion.
    pub reinsert_delay: Duration,
    /// Pause between connection attempts while the driver is not listening.
    pub retry_interval: Duration,
}

impl Default for VpcdOptions {
    fn default() -> Self {
        VpcdOptions {
            reconnect: true,
            reinsert_delay: Duration::from_millis(1500),
            retry_interval: Duration::from_millis(500),
        }
    }
}

/// A virtual card inserted into a vpcd reader slot, served by a background thread.
#[derive(Debug)]
pub struct VpcdCard {
    card: Arc<Mutex<Card>>,
    stop: Arc<AtomicBool>,
    stream: Arc<Mutex<Option<TcpStream>>>,
    insertions: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl VpcdCard {
    /// Connects to the vpcd slot at `addr` (inserting the card) with the
    /// default [`VpcdOptions`]. Fails if the driver is not listening.
    pub fn insert(addr: SocketAddr, card: Arc<Mutex<Card>>) -> io::Result<VpcdCard> {
        VpcdCard::insert_with(addr, card, VpcdOptions::default())
    }

    /// Like [`VpcdCard::insert`] with explicit options.
    pub fn insert_with(
        addr: SocketAddr,
        card: Arc<Mutex<Card>>,
        options: VpcdOptions,
    ) -> io::Result<VpcdCard> {
        let first = connect(addr)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stream = Arc::new(Mutex::new(None));
        let insertions = Arc::new(AtomicU64::new(0));
        let worker = Worker {
            addr,
            card: Arc::clone(&card),
            stop: Arc::clone(&stop),
            stream: Arc::clone(&stream),
            insertions: Arc::clone(&insertions),
            options,
        };
        worker.plug(&first);
        let thread = std::thread::Builder::new()
            .name(format!("vpcd-{}", addr.port()))
            .spawn(move || worker.run(first))?;
        Ok(VpcdCard { card, stop, stream, insertions, thread: Some(thread) })
    }

    /// The card (to inspect it or change its faults while inserted).
    pub fn card(&self) -> Arc<Mutex<Card>> {
        Arc::clone(&self.card)
    }

    /// How many times the card has been inserted (1 after `insert`, +1 per re-insertion).
    pub fn insertions(&self) -> u64 {
        self.insertions.load(Ordering::SeqCst)
    }

    /// True while a connection to the driver is open.
    pub fn is_inserted(&self) -> bool {
        self.stream.lock().map(|s| s.is_some()).unwrap_or(false)
    }

    /// Pulls the card out: closes the socket and stops the thread.
    pub fn remove(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(mut s) = self.stream.lock() {
            if let Some(s) = s.take() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for VpcdCard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Why one connection ended.
enum End {
    /// A fault tore the card out.
    Torn,
    /// The driver closed the connection or the link failed.
    Closed,
}

struct Worker {
    addr: SocketAddr,
    card: Arc<Mutex<Card>>,
    stop: Arc<AtomicBool>,
    stream: Arc<Mutex<Option<TcpStream>>>,
    insertions: Arc<AtomicU64>,
    options: VpcdOptions,
}

impl Worker {
    /// Registers a fresh connection: the card is (re-)inserted.
    fn plug(&self, stream: &TcpStream) {
        if let Ok(mut c) = self.card.lock() {
            c.insert();
        }
        if let (Ok(mut slot), Ok(clone)) = (self.stream.lock(), stream.try_clone()) {
            *slot = Some(clone);
        }
        let n = self.insertions.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::info!(addr = %self.addr, insertion = n, "virtual card inserted");
    }

    fn unplug(&self) {
        if let Ok(mut slot) = self.stream.lock() {
            if let Some(s) = slot.take() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        if let Ok(mut c) = self.card.lock() {
            c.power_off();
        }
    }

    fn run(self, first: TcpStream) {
        let mut stream = first;
        loop {
            let end = self.serve(&mut stream);
            self.unplug();
            if self.stop.load(Ordering::SeqCst) || !self.options.reconnect {
                return;
            }
            let pause = match end {
                End::Torn => {
                    tracing::info!(addr = %self.addr, "virtual card torn out");
                    self.options.reinsert_delay
                }
                End::Closed => {
                    tracing::warn!(addr = %self.addr, "vpcd closed the connection; reconnecting");
                    self.options.retry_interval
                }
            };
            self.sleep(pause);
            stream = loop {
                if self.stop.load(Ordering::SeqCst) {
                    return;
                }
                match connect(self.addr) {
                    Ok(s) => break s,
                    Err(_) => self.sleep(self.options.retry_interval),
                }
            };
            if self.stop.load(Ordering::SeqCst) {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            self.plug(&stream);
        }
    }

    /// Sleeps in short steps so `remove` is prompt.
    fn sleep(&self, total: Duration) {
        let step = Duration::from_millis(50);
        let mut left = total;
        while !left.is_zero() && !self.stop.load(Ordering::SeqCst) {
            let d = left.min(step);
            std::thread::sleep(d);
            left -= d;
        }
    }

    fn serve(&self, stream: &mut TcpStream) -> End {
        loop {
            let Ok(message) = read_frame(stream) else { return End::Closed };
            let reply = match message.as_slice() {
                [] => continue,
                [control] => {
                    let Ok(mut card) = self.card.lock() else { return End::Closed };
                    match *control {
                        CTRL_OFF => card.power_off(),
                        CTRL_ON | CTRL_RESET => card.reset(),
                        CTRL_ATR => {
                            let atr = card.atr();
                            drop(card);
                            if write_frame(stream, &atr).is_err() {
                                return End::Closed;
                            }
                        }
                        other => tracing::debug!(control = other, "unknown vpcd control byte"),
                    }
                    continue;
                }
                apdu => {
                    let Ok(mut card) = self.card.lock() else { return End::Closed };
                    card.deliver(apdu)
                }
            };
            match reply {
                Delivery::Response(r) => {
                    if write_frame(stream, &r).is_err() {
                        return End::Closed;
                    }
                }
                Delivery::Torn { .. } => return End::Torn,
            }
        }
    }
}

/// Reads one vpcd frame (2-byte big-endian length, then the payload),
/// acknowledging each part at once (see [`quick_ack`]).
pub fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    quick_ack(stream);
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf)?;
    quick_ack(stream);
    Ok(buf)
}

/// Acknowledges received data at once. The driver writes the length and the
/// payload of a frame separately without TCP_NODELAY, so Nagle's algorithm
/// holds the payload until the length is acknowledged; with Linux's delayed
/// ACKs that costs ~40 ms per APDU (measured: 44 ms per APDU through
/// pcscd; well under 1 ms with this).
fn quick_ack(stream: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = socket2::SockRef::from(stream).set_quickack(true);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream;
}

/// Writes one vpcd frame in a single send.
pub fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len()).map_err(|_| io::Error::other("frame too long"))?;
    let mut frame = Vec::with_capacity(payload.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)?;
    stream.flush()
}
