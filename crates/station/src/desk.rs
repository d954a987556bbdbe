//! The station as a window holds it: one [`Session`] on a thread of its
//! own, reached by async calls that never block the caller's runtime (the
//! session blocks on a runtime of its own, which must never run inside
//! another), card jobs on worker threads of their own so the window stays
//! free during card work, the one reveal of each generated PIN, and the
//! idle lock (SPEC §7: password again, work in progress kept).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::reveal::Reveals;
use crate::{ErrorCode, Session, Station};

/// Default idle time before the session locks (SPEC §7).
pub const DEFAULT_IDLE_LOCK: Duration = Duration::from_secs(5 * 60);
/// Wrong passwords at the lock screen before the session is signed out.
pub const UNLOCK_ATTEMPTS: u32 = 5;

/// What the desk's thread owns: the data directory and, once signed in, the session.
#[derive(Debug)]
pub struct Seat {
    data_dir: PathBuf,
    session: Option<Session>,
    username: Option<String>,
}

impl Seat {
    /// The signed-in session.
    pub fn session(&mut self) -> Result<&mut Session> {
        self.session.as_mut().ok_or_else(|| Error::SignIn("nobody is signed in at this station".into()))
    }

    /// The signed-in operator's user name.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

type Call = Box<dyn FnOnce(&mut Seat) + Send>;

/// Called (on the desk's watchdog thread) when the session locks itself.
pub type OnLock = Box<dyn Fn() + Send + Sync>;

struct Shared {
    reveals: Reveals,
    idle_lock: Duration,
    last_activity: Mutex<Instant>,
    signed_in: AtomicBool,
    locked: AtomicBool,
    /// Argon2id verifier of the signed-in password, for the lock screen.
    unlock: Mutex<Option<(String, u32)>>,
    busy_readers: Mutex<HashSet<String>>,
    on_lock: Mutex<Option<OnLock>>,
}

/// A station held by a window. Dropping it ends the session's thread
/// (where the session is dropped, outside any async runtime).
pub struct Desk {
    calls: mpsc::Sender<Call>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk")
            .field("signed_in", &self.shared.signed_in.load(Ordering::SeqCst))
            .field("locked", &self.shared.locked.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Desk {
    /// Opens the station in `data_dir` on a thread of its own; the session
    /// locks after `idle_lock` without [`Desk::touch`] or a call.
    pub fn open(data_dir: &Path, idle_lock: Duration) -> Result<Desk> {
        let (calls, inbox) = mpsc::channel::<Call>();
        let mut seat = Seat { data_dir: data_dir.to_owned(), session: None, username: None };
        std::thread::Builder::new()
            .name("station-session".into())
            .spawn(move || {
                for call in inbox {
                    call(&mut seat);
                }
            })
            .map_err(|e| Error::Invalid(format!("cannot start the session thread: {e}")))?;
        let shared = Arc::new(Shared {
            reveals: Reveals::default(),
            idle_lock,
            last_activity: Mutex::new(Instant::now()),
            signed_in: AtomicBool::new(false),
            locked: AtomicBool::new(false),
            unlock: Mutex::new(None),
            busy_readers: Mutex::default(),
            on_lock: Mutex::new(None),
        });
        start_watchdog(Arc::downgrade(&shared));
        Ok(Desk { calls, shared })
    }

    /// Whom to tell when the session locks itself.
    pub fn on_lock(&self, notify: OnLock) {
        *lock(&self.shared.on_lock) = Some(notify);
    }

    /// The secrets waiting for their one reveal.
    pub fn reveals(&self) -> &Reveals {
        &self.shared.reveals
    }

    /// Whether an operator is signed in.
    pub fn is_signed_in(&self) -> bool {
        self.shared.signed_in.load(Ordering::SeqCst)
    }

    /// Whether the session is locked (idle).
    pub fn is_locked(&self) -> bool {
        self.shared.locked.load(Ordering::SeqCst)
    }

    /// The idle time before the lock.
    pub fn idle_lock(&self) -> Duration {
        self.shared.idle_lock
    }

    /// The operator is active: the idle timer starts again.
    pub fn touch(&self) {
        *lock(&self.shared.last_activity) = Instant::now();
    }

    /// Runs `work` on the session's thread and waits for it without
    /// blocking the caller's async runtime. Refused while locked.
    pub async fn call<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Seat) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.check_unlocked()?;
        self.touch();
        self.run(work).await
    }

    /// Runs `work` on the session's thread even while locked, without
    /// counting as activity: for what the lock screen itself needs to know.
    pub async fn peek<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Seat) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.run(work).await
    }

    /// [`Desk::call`] with the signed-in session.
    pub async fn with_session<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Session) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.call(move |seat| work(seat.session()?)).await
    }

    /// [`Desk::call`] for a caller that may block (the CLI, tests).
    pub fn call_blocking<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Seat) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.check_unlocked()?;
        self.touch();
        let (tx, rx) = mpsc::channel();
        self.send(Box::new(move |seat| {
            let _ = tx.send(work(seat));
        }))?;
        rx.recv().map_err(|_| gone())?
    }

    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Seat) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Box::new(move |seat| {
            let _ = tx.send(work(seat));
        }))?;
        rx.await.map_err(|_| gone())?
    }

    fn send(&self, call: Call) -> Result<()> {
        self.calls.send(call).map_err(|_| gone())
    }

    fn check_unlocked(&self) -> Result<()> {
        if self.is_locked() {
            return Err(Error::Declined {
                code: ErrorCode::Locked,
                message: "the session is locked after a while without activity: enter your password".into(),
            });
        }
        Ok(())
    }

    /// Runs card work on `reader` on a worker thread with a worker session
    /// of its own (same operator, own store connection and runtime), so the
    /// session stays free for the window meanwhile. One job per reader.
    pub async fn card_job<R: Send + 'static>(
        &self,
        reader: &str,
        work: impl FnOnce(&mut Session) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        self.readers_job(&[reader.to_owned()], work).await
    }

    /// [`Desk::card_job`] holding several readers (a batch run).
    pub async fn readers_job<R: Send + 'static>(
        &self,
        readers: &[String],
        work: impl FnOnce(&mut Session) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let claim = ReaderClaim::take(&self.shared, readers)?;
        let mut worker = self.with_session(|s| s.worker()).await?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("card-job".into())
            .spawn(move || {
                let _claim = claim;
                let outcome = work(&mut worker);
                drop(worker);
                let _ = tx.send(outcome);
            })
            .map_err(|e| Error::Invalid(format!("cannot start the card job: {e}")))?;
        let outcome = rx.await.map_err(|_| gone())?;
        self.touch();
        outcome
    }

    /// Whether a card job holds `reader` now.
    pub fn is_busy(&self, reader: &str) -> bool {
        lock(&self.shared.busy_readers).contains(reader)
    }

    /// Signs in (online, else offline; UC-SIGNIN) and keeps the session.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<()> {
        let (user, secret) = (username.to_owned(), Zeroizing::new(password.to_owned()));
        self.run(move |seat| {
            seat.session = None;
            let session = Station::open(&seat.data_dir)?.sign_in(&user, &secret)?;
            seat.session = Some(session);
            seat.username = Some(user);
            Ok(())
        })
        .await?;
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let verifier = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| Error::Invalid(format!("cannot keep the lock screen's verifier: {e}")))?
            .to_string();
        *lock(&self.shared.unlock) = Some((verifier, 0));
        self.shared.locked.store(false, Ordering::SeqCst);
        self.shared.signed_in.store(true, Ordering::SeqCst);
        self.touch();
        Ok(())
    }

    /// Signs out: the session ends, every unrevealed secret is forgotten.
    pub async fn sign_out(&self) -> Result<()> {
        self.shared.signed_in.store(false, Ordering::SeqCst);
        self.shared.locked.store(false, Ordering::SeqCst);
        *lock(&self.shared.unlock) = None;
        self.shared.reveals.clear();
        self.run(|seat| {
            seat.session = None;
            seat.username = None;
            Ok(())
        })
        .await
    }

    /// Locks the session now (as the idle timer does).
    pub fn lock(&self) {
        if self.is_signed_in() {
            self.shared.locked.store(true, Ordering::SeqCst);
        }
    }

    /// Unlocks with the signed-in operator's password. After
    /// [`UNLOCK_ATTEMPTS`] wrong ones the session is signed out.
    pub async fn unlock(&self, password: &str) -> Result<()> {
        let outcome = {
            let mut guard = lock(&self.shared.unlock);
            let Some((verifier, failures)) = guard.as_mut() else {
                return Err(Error::SignIn("nobody is signed in at this station".into()));
            };
            let good = PasswordHash::new(verifier)
                .is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
            if good {
                *failures = 0;
                Ok(())
            } else {
                *failures += 1;
                Err(*failures)
            }
        };
        match outcome {
            Ok(()) => {
                self.shared.locked.store(false, Ordering::SeqCst);
                self.touch();
                Ok(())
            }
            Err(failures) if failures >= UNLOCK_ATTEMPTS => {
                self.sign_out().await?;
                Err(Error::SignIn(format!("{failures} wrong passwords: you were signed out; sign in again")))
            }
            Err(failures) => Err(Error::SignIn(format!(
                "wrong password ({} tries left before you are signed out)",
                UNLOCK_ATTEMPTS - failures
            ))),
        }
    }
}

/// A reader or card event for a window, with the inserted card read.
#[derive(Debug, Clone, serde::Serialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CardEvent {
    /// Every reader as it is now (first, and after the PC/SC service returned).
    Readers {
        /// The readers.
        readers: Vec<crate::ReaderInfo>,
    },
    /// A reader appeared.
    ReaderAdded {
        /// Its name.
        reader: String,
    },
    /// A reader went away.
    ReaderRemoved {
        /// Its name.
        reader: String,
    },
    /// A card was put in (its reading follows).
    CardInserted {
        /// The reader.
        reader: String,
    },
    /// The card just inserted, as the device view shows it.
    CardRead {
        /// The reader.
        reader: String,
        /// What it is.
        view: Box<crate::DeviceView>,
    },
    /// The card just inserted could not be read.
    CardUnreadable {
        /// The reader.
        reader: String,
        /// Why.
        error: crate::ErrorView,
    },
    /// The card just inserted is in a reader a card job holds (a batch):
    /// it is that job's, and is not read for the window.
    CardInUse {
        /// The reader.
        reader: String,
    },
    /// A card was taken out.
    CardRemoved {
        /// The reader.
        reader: String,
    },
    /// The PC/SC service is not running; readers come back when it does.
    ServiceDown,
}

impl From<crate::ReaderChange> for CardEvent {
    fn from(change: crate::ReaderChange) -> Self {
        use crate::ReaderChange as C;
        match change {
            C::Readers { readers } => CardEvent::Readers { readers },
            C::ReaderAdded { reader } => CardEvent::ReaderAdded { reader },
            C::ReaderRemoved { reader } => CardEvent::ReaderRemoved { reader },
            C::CardInserted { reader } => CardEvent::CardInserted { reader },
            C::CardRemoved { reader } => CardEvent::CardRemoved { reader },
            C::ServiceDown => CardEvent::ServiceDown,
        }
    }
}

impl Desk {
    /// Watches readers and cards for the window: every change, and each
    /// inserted card read through the session (UC-READ) while signed in
    /// and unlocked. Ends when the returned watch is stopped or dropped.
    pub fn watch_cards(
        self: &Arc<Self>,
        mut sink: impl FnMut(CardEvent) + Send + 'static,
    ) -> crate::CardWatch {
        let desk = Arc::downgrade(self);
        crate::watch_readers(move |change| {
            // Cards to read: one just put in, or every card already in a
            // reader when the watch starts (at sign-in, after a PC/SC restart).
            let to_read: Vec<String> = match &change {
                crate::ReaderChange::CardInserted { reader } => vec![reader.clone()],
                crate::ReaderChange::Readers { readers } => {
                    readers.iter().filter(|r| r.card_present).map(|r| r.name.clone()).collect()
                }
                _ => Vec::new(),
            };
            sink(change.into());
            let Some(desk) = desk.upgrade() else { return };
            if !desk.is_signed_in() || desk.is_locked() {
                return;
            }
            for reader in to_read {
                // A card in a reader a job holds is that job's: reading it
                // too would only slow the job down.
                if desk.is_busy(&reader) {
                    sink(CardEvent::CardInUse { reader });
                    continue;
                }
                let name = reader.clone();
                let read = desk.call_blocking(move |seat| seat.session()?.device_view(&name));
                sink(match read {
                    Ok(view) => CardEvent::CardRead { reader, view: Box::new(view) },
                    Err(e) => CardEvent::CardUnreadable { reader, error: e.view() },
                });
            }
        })
    }
}

/// Readers taken by a card job until the claim is dropped.
struct ReaderClaim {
    shared: Arc<Shared>,
    readers: Vec<String>,
}

impl ReaderClaim {
    fn take(shared: &Arc<Shared>, readers: &[String]) -> Result<ReaderClaim> {
        let mut busy = lock(&shared.busy_readers);
        if let Some(taken) = readers.iter().find(|r| busy.contains(*r)) {
            return Err(Error::Declined {
                code: ErrorCode::Busy,
                message: format!("a card job is already running on {taken}: wait for it to finish"),
            });
        }
        busy.extend(readers.iter().cloned());
        Ok(ReaderClaim { shared: Arc::clone(shared), readers: readers.to_vec() })
    }
}

impl Drop for ReaderClaim {
    fn drop(&mut self) {
        let mut busy = lock(&self.shared.busy_readers);
        for reader in &self.readers {
            busy.remove(reader);
        }
    }
}

/// Locks the session once it has been idle for its idle time, and tells
/// the window. Ends when the desk is dropped.
fn start_watchdog(shared: Weak<Shared>) {
    let spawned = std::thread::Builder::new().name("idle-lock".into()).spawn(move || loop {
        let Some(shared) = shared.upgrade() else { return };
        let idle = lock(&shared.last_activity).elapsed();
        let wait = if shared.signed_in.load(Ordering::SeqCst) && !shared.locked.load(Ordering::SeqCst) {
            if idle >= shared.idle_lock && !shared.busy() {
                shared.locked.store(true, Ordering::SeqCst);
                if let Some(notify) = lock(&shared.on_lock).as_ref() {
                    notify();
                }
                Duration::from_secs(1)
            } else {
                shared
                    .idle_lock
                    .saturating_sub(idle)
                    .clamp(Duration::from_millis(100), Duration::from_secs(1))
            }
        } else {
            Duration::from_secs(1)
        };
        drop(shared);
        std::thread::sleep(wait);
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the idle lock; the session will not lock by itself");
    }
}

impl Shared {
    /// Card work in progress keeps the session from locking under it.
    fn busy(&self) -> bool {
        !lock(&self.busy_readers).is_empty()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn gone() -> Error {
    Error::Invalid("the station's session thread stopped".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_desk_is_called_from_an_async_runtime_and_dropped_there() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let desk = Desk::open(dir.path(), DEFAULT_IDLE_LOCK).unwrap();
            let data_dir = desk.call(|seat| Ok(seat.data_dir().to_owned())).await.unwrap();
            assert_eq!(data_dir, dir.path());
            let refused = desk.with_session(|s| Ok(s.is_offline())).await.unwrap_err();
            assert_eq!(refused.code(), ErrorCode::SignIn, "no session before sign-in");
            let not_enrolled = desk.sign_in("ann", "pw").await.unwrap_err();
            assert_eq!(not_enrolled.code(), ErrorCode::NotEnrolled);
            drop(desk);
        });
    }

    #[test]
    fn one_card_job_per_reader() {
        let shared = Arc::new(Shared {
            reveals: Reveals::default(),
            idle_lock: DEFAULT_IDLE_LOCK,
            last_activity: Mutex::new(Instant::now()),
            signed_in: AtomicBool::new(true),
            locked: AtomicBool::new(false),
            unlock: Mutex::new(None),
            busy_readers: Mutex::default(),
            on_lock: Mutex::new(None),
        });
        let names = |list: &[&str]| list.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>();
        let first = ReaderClaim::take(&shared, &names(&["Virtual PCD 00 00"])).unwrap();
        assert_eq!(
            ReaderClaim::take(&shared, &names(&["Virtual PCD 00 00"])).err().map(|e| e.code()),
            Some(ErrorCode::Busy)
        );
        assert!(shared.busy(), "card work keeps the session from locking");
        let batch = ReaderClaim::take(&shared, &names(&["Virtual PCD 00 01", "Virtual PCD 00 00"]));
        assert!(batch.is_err(), "a batch cannot take a reader a job holds");
        assert!(!lock(&shared.busy_readers).contains("Virtual PCD 00 01"), "a refused claim takes nothing");
        let other = ReaderClaim::take(&shared, &names(&["Virtual PCD 00 01", "Virtual PCD 00 02"]));
        assert!(other.is_ok(), "other readers are free");
        drop(first);
        assert!(ReaderClaim::take(&shared, &names(&["Virtual PCD 00 00"])).is_ok());
        drop(other);
        assert!(!shared.busy(), "every claim released");
    }
}
