//! A subscription to readers and cards (UC-READ's "the view follows the
//! card"): reader added or gone, card inserted or removed, pushed by the
//! PC/SC service through `reader::Watcher` (no polling), until cancelled.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use reader::{ReaderEvent, WatchCancel, Watcher};
use serde::Serialize;

/// A reader and whether it holds a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct ReaderInfo {
    /// The reader's PC/SC name.
    pub name: String,
    /// A card is in it.
    pub card_present: bool,
}

/// A change of readers or cards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReaderChange {
    /// Every reader as it is now: the first event, and again after the
    /// PC/SC service came back.
    Readers {
        /// The readers.
        readers: Vec<ReaderInfo>,
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
    /// A card was put in.
    CardInserted {
        /// The reader.
        reader: String,
    },
    /// A card was taken out.
    CardRemoved {
        /// The reader.
        reader: String,
    },
    /// The PC/SC service is not running; the watch waits for it.
    ServiceDown,
}

impl From<ReaderEvent> for ReaderChange {
    fn from(e: ReaderEvent) -> Self {
        match e {
            ReaderEvent::ReaderAdded { reader } => ReaderChange::ReaderAdded { reader },
            ReaderEvent::ReaderRemoved { reader } => ReaderChange::ReaderRemoved { reader },
            ReaderEvent::CardInserted { reader, .. } => ReaderChange::CardInserted { reader },
            ReaderEvent::CardRemoved { reader } => ReaderChange::CardRemoved { reader },
        }
    }
}

/// A running subscription; [`CardWatch::stop`] (or dropping it) ends it.
#[derive(Debug)]
pub struct CardWatch {
    stopped: Arc<AtomicBool>,
    cancel: Arc<Mutex<Option<WatchCancel>>>,
    thread: Option<JoinHandle<()>>,
}

/// How long the watch waits before trying a PC/SC service that was down again.
const SERVICE_RETRY: Duration = Duration::from_secs(1);

/// Starts watching readers and cards on a thread of its own; `sink` gets
/// every change, first the readers as they are.
pub fn watch_readers(sink: impl FnMut(ReaderChange) + Send + 'static) -> CardWatch {
    let stopped = Arc::new(AtomicBool::new(false));
    let cancel: Arc<Mutex<Option<WatchCancel>>> = Arc::default();
    let thread = {
        let (stopped, cancel) = (Arc::clone(&stopped), Arc::clone(&cancel));
        std::thread::Builder::new()
            .name("card-watch".into())
            .spawn(move || run(sink, &stopped, &cancel))
            .map_err(|e| tracing::error!(error = %e, "cannot start the card watch"))
            .ok()
    };
    CardWatch { stopped, cancel, thread }
}

fn run(mut sink: impl FnMut(ReaderChange), stopped: &AtomicBool, cancel: &Mutex<Option<WatchCancel>>) {
    let mut down_reported = false;
    while !stopped.load(Ordering::SeqCst) {
        let mut watcher = match Watcher::new() {
            Ok(w) => w,
            Err(e) => {
                tracing::debug!(error = %e, "PC/SC service not available");
                if !down_reported {
                    sink(ReaderChange::ServiceDown);
                    down_reported = true;
                }
                std::thread::sleep(SERVICE_RETRY);
                continue;
            }
        };
        down_reported = false;
        *cancel.lock().unwrap_or_else(|p| p.into_inner()) = Some(watcher.cancel_handle());
        if stopped.load(Ordering::SeqCst) {
            return;
        }
        let readers =
            watcher.readers().into_iter().map(|r| ReaderInfo { name: r.name, card_present: r.card_present });
        sink(ReaderChange::Readers { readers: readers.collect() });
        loop {
            match watcher.wait_for_change(None) {
                Ok(events) => events.into_iter().for_each(|e| sink(e.into())),
                Err(reader::Error::Cancelled) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "the card watch lost the PC/SC service");
                    break;
                }
            }
        }
    }
}

impl CardWatch {
    /// Ends the subscription and waits for its thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(cancel) = self.cancel.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = cancel.cancel();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for CardWatch {
    fn drop(&mut self) {
        self.halt();
    }
}
