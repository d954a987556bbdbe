//! What the app keeps between commands: the station's desk, the card
//! watch feeding the window, and the window's sync channel.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use station::{CardWatch, Desk, ErrorView, SyncStatus};
use tauri::ipc::Channel;

/// The session locked itself after idle time: the window shows the lock
/// screen (its state underneath is kept).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct SessionLocked;

/// The app's state.
pub struct App {
    desk: Arc<Desk>,
    watch: Mutex<Option<CardWatch>>,
    sync: Mutex<Option<Channel<SyncStatus>>>,
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
        Ok(App { desk: Arc::new(desk), watch: Mutex::new(None), sync: Mutex::new(None) })
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

    /// The window's sync channel.
    pub fn set_sync_channel(&self, channel: Channel<SyncStatus>) {
        *lock(&self.sync) = Some(channel);
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
