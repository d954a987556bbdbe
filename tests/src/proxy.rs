//! A fault-injecting TCP proxy between a station and the registry: the
//! network as it fails in the field. It sees only TLS bytes (the station
//! pins the registry's certificate end to end), so its faults are at the
//! connection level: refuse, delay requests or answers, and cut every
//! connection with what it holds still in flight.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// What the proxy does to new connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways at once.
    Pass,
    /// Close each connection as it is accepted (the registry unreachable).
    Refuse,
    /// Forward, holding each chunk of the registry's answers this long.
    SlowAnswers(Duration),
    /// Forward, holding each chunk of the station's requests this long.
    SlowRequests(Duration),
}

/// The proxy; dropping it stops it and cuts its connections.
#[derive(Debug)]
pub struct FaultProxy {
    /// `https://127.0.0.1:PORT`: where a station enrolls.
    pub url: String,
    addr: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    live: Arc<Mutex<Vec<Link>>>,
    stop: Arc<AtomicBool>,
}

/// One proxied connection: both sockets, and whether it was cut.
#[derive(Debug)]
struct Link {
    client: TcpStream,
    server: TcpStream,
    cut: Arc<AtomicBool>,
}

impl Link {
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of `upstream` (`host:port`).
    pub fn start(upstream: &str) -> Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the proxy")?;
        let addr = listener.local_addr()?;
        let upstream: SocketAddr = upstream.parse().with_context(|| format!("upstream {upstream:?}"))?;
        let fault = Arc::new(Mutex::new(Fault::Pass));
        let live = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, l, s) = (Arc::clone(&fault), Arc::clone(&live), Arc::clone(&stop));
        thread::spawn(move || accept_loop(&listener, upstream, &f, &l, &s));
        Ok(FaultProxy { url: format!("https://{addr}"), addr, fault, live, stop })
    }

    /// Applies `fault` to connections accepted from now on.
    pub fn set(&self, fault: Fault) {
        *lock(&self.fault) = fault;
    }

    /// Refuses from now on and cuts every open connection: whatever the
    /// registry answered and is still held here never arrives.
    pub fn cut_all(&self) {
        self.set(Fault::Refuse);
        for link in lock(&self.live).drain(..) {
            link.cut();
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut_all();
        // Wakes the accept loop so it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn accept_loop(
    listener: &TcpListener,
    upstream: SocketAddr,
    fault: &Mutex<Fault>,
    live: &Mutex<Vec<Link>>,
    stop: &AtomicBool,
) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let now = *lock(fault);
        if now == Fault::Refuse {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect(upstream) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let (up, down) = match now {
            Fault::SlowAnswers(d) => (Duration::ZERO, d),
            Fault::SlowRequests(d) => (d, Duration::ZERO),
            _ => (Duration::ZERO, Duration::ZERO),
        };
        let cut = Arc::new(AtomicBool::new(false));
        let (Ok(c1), Ok(c2), Ok(s1), Ok(s2)) =
            (client.try_clone(), client.try_clone(), server.try_clone(), server.try_clone())
        else {
            continue;
        };
        lock(live).push(Link { client, server, cut: Arc::clone(&cut) });
        let cut_up = Arc::clone(&cut);
        thread::spawn(move || pump(c1, s1, up, &cut_up));
        thread::spawn(move || pump(s2, c2, down, &cut));
    }
}

/// Copies `from` to `to`, each chunk held `delay` (none once cut).
fn pump(mut from: TcpStream, to: TcpStream, delay: Duration, cut: &AtomicBool) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = {
        let mut to = to;
        // Once the link is cut, both sockets are shut down: a held chunk's
        // write fails, so it never arrives.
        thread::spawn(move || {
            for (due, bytes) in rx {
                let wait = due.saturating_duration_since(Instant::now());
                // The simulated network's latency, not a test waiting.
                thread::sleep(wait);
                if to.write_all(&bytes).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })
    };
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if cut.load(Ordering::SeqCst)
                    || tx.send((Instant::now() + delay, buffer[..n].to_vec())).is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
}
