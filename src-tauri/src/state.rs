//! What the app keeps between commands: the station's desk, the card
//! watch feeding the window, and the window's sync channel.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use station::{CardWatch, Desk, ErrorView, Reveals, Session, SyncStatus};
use tauri::ipc::Channel;
use uuid::Uuid;

/// The session locked itself after idle time: the window shows the lock
/// screen (its state underneath is kept).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct SessionLocked;

/// A kiosk's own session never idle-locks (ten years).
const KIOSK_NO_LOCK: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The app's state.
pub struct App {
    desk: Arc<Desk>,
    watch: Mutex<Option<CardWatch>>,
    sync: Mutex<Option<Channel<SyncStatus>>>,
    /// The stop flag of each batch running in this window.
    batches: Mutex<HashMap<Uuid, Arc<AtomicBool>>>,
    /// Started as a walk-up kiosk (`--kiosk`, `CARDSTATION_KIOSK=1`).
    kiosk: bool,
    /// The kiosk's current cardholder: whom their code invites, and the code
    /// (zeroized when dropped: card pulled, idle timeout, done).
    walkup: Mutex<Option<(station::Walkup, proto::EnrollmentCode)>>,
    /// Or the card with an update the kiosk recognised (UC-UPDATE).
    walkup_update: Mutex<Option<station::WalkupUpdate>>,
    /// The exit gesture's password was right: the window may close.
    exit_allowed: AtomicBool,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("desk", &self.desk).finish_non_exhaustive()
    }
}

impl App {
    /// The station in `data_dir`, its session locking after `idle_lock`.
    pub fn open(data_dir: &Path, idle_lock: Duration) -> Result<App, ErrorView> {
        App::open_as(data_dir, idle_lock, false)
    }

    /// [`App::open`], as a walk-up kiosk when `kiosk` (its session never
    /// idle-locks: each cardholder's session has its own idle timeout).
    pub fn open_as(data_dir: &Path, idle_lock: Duration, kiosk: bool) -> Result<App, ErrorView> {
        let idle_lock = if kiosk { KIOSK_NO_LOCK } else { idle_lock };
        let desk = Desk::open(data_dir, idle_lock)?;
        Ok(App {
            desk: Arc::new(desk),
            watch: Mutex::new(None),
            sync: Mutex::new(None),
            batches: Mutex::default(),
            kiosk,
            walkup: Mutex::new(None),
            walkup_update: Mutex::new(None),
            exit_allowed: AtomicBool::new(false),
        })
    }

    /// Whether this app is a walk-up kiosk.
    pub fn is_kiosk(&self) -> bool {
        self.kiosk
    }

    /// Keeps the kiosk cardholder's invitation and code.
    pub fn kiosk_keep(&self, walkup: station::Walkup, code: proto::EnrollmentCode) {
        *lock(&self.walkup) = Some((walkup, code));
    }

    /// The kiosk cardholder's invitation and code, or why there is none.
    pub fn kiosk_current(&self) -> Result<(station::Walkup, proto::EnrollmentCode), ErrorView> {
        lock(&self.walkup)
            .clone()
            .ok_or_else(|| ErrorView::new(station::ErrorCode::BadInput, "enter your enrollment code first"))
    }

    /// Keeps the card with an update the kiosk recognised.
    pub fn kiosk_keep_update(&self, update: Option<station::WalkupUpdate>) {
        *lock(&self.walkup_update) = update;
    }

    /// The recognised card's update, if the kiosk is updating a card.
    pub fn kiosk_update(&self) -> Option<station::WalkupUpdate> {
        lock(&self.walkup_update).clone()
    }

    /// The recognised card's update, or why there is none.
    pub fn kiosk_update_current(&self) -> Result<station::WalkupUpdate, ErrorView> {
        self.kiosk_update()
            .ok_or_else(|| ErrorView::new(station::ErrorCode::BadInput, "insert your card first"))
    }

    /// Forgets the kiosk cardholder's invitation and code, or their card's update.
    pub fn kiosk_forget(&self) {
        let old = lock(&self.walkup).take();
        drop(old);
        let old = lock(&self.walkup_update).take();
        drop(old);
    }

    /// The kiosk's exit gesture was confirmed: the window may close.
    pub fn allow_exit(&self) {
        self.exit_allowed.store(true, Ordering::SeqCst);
    }

    /// Whether a close request is to be honoured (always, outside a kiosk).
    pub fn may_close(&self) -> bool {
        !self.kiosk || self.exit_allowed.load(Ordering::SeqCst)
    }

    /// The desk.
    pub fn desk(&self) -> &Arc<Desk> {
        &self.desk
    }

    /// Replaces the card watch (one window, one watch).
    pub fn set_watch(&self, watch: CardWatch) {
        let old = lock(&self.watch).replace(watch);
        drop(old);
    }

    /// A stop flag for a run of batch `id` (cleared: the run starts).
    pub fn batch_stop(&self, id: Uuid) -> Arc<AtomicBool> {
        let flag = Arc::new(AtomicBool::new(false));
        lock(&self.batches).insert(id, Arc::clone(&flag));
        flag
    }

    /// The run of batch `id` ended.
    pub fn batch_done(&self, id: Uuid) {
        lock(&self.batches).remove(&id);
    }

    /// Asks a running batch `id` to start no new card.
    pub fn cancel_batch(&self, id: Uuid) {
        if let Some(flag) = lock(&self.batches).get(&id) {
            flag.store(true, Ordering::SeqCst);
        }
    }

    /// The window's sync channel.
    pub fn set_sync_channel(&self, channel: Channel<SyncStatus>) {
        *lock(&self.sync) = Some(channel);
    }

    /// Card work on `reader` (a worker of its own, one job per reader),
    /// given where a new PIN is kept for its reveal; where sync stands is
    /// pushed to the window afterwards (the work recorded operations).
    pub async fn card_work<R: Send + 'static>(
        &self,
        reader: &str,
        work: impl FnOnce(&mut Session, &Reveals) -> station::Result<R> + Send + 'static,
    ) -> Result<R, ErrorView> {
        let desk = Arc::clone(&self.desk);
        let outcome = self.desk.card_job(reader, move |s| work(s, desk.reveals())).await;
        self.push_sync_status().await;
        Ok(outcome?)
    }

    /// An operator action on records (no card) through the session; where
    /// sync stands is pushed to the window afterwards.
    pub async fn act<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Session, &Reveals) -> station::Result<R> + Send + 'static,
    ) -> Result<R, ErrorView> {
        let desk = Arc::clone(&self.desk);
        let outcome = self.desk.with_session(move |s| work(s, desk.reveals())).await;
        self.push_sync_status().await;
        Ok(outcome?)
    }

    /// Pushes where sync stands to the window, after anything that may have changed it.
    pub async fn push_sync_status(&self) {
        let Some(channel) = lock(&self.sync).clone() else { return };
        if let Ok(status) = self.desk.with_session(|s| s.sync_status()).await {
            let _ = channel.send(status);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
