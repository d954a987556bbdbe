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

/// The app's state.
pub struct App {
    desk: Arc<Desk>,
    watch: Mutex<Option<CardWatch>>,
    sync: Mutex<Option<Channel<SyncStatus>>>,
    /// The stop flag of each batch running in this window.
    batches: Mutex<HashMap<Uuid, Arc<AtomicBool>>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("desk", &self.desk).finish_non_exhaustive()
    }
}

impl App {
    /// The station in `data_dir`, its session locking after `idle_lock`.
    pub fn open(data_dir: &Path, idle_lock: Duration) -> Result<App, ErrorView> {
        let desk = Desk::open(data_dir, idle_lock)?;
        Ok(App {
            desk: Arc::new(desk),
            watch: Mutex::new(None),
            sync: Mutex::new(None),
            batches: Mutex::default(),
        })
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
