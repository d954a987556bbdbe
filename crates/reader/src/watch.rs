use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pcsc::State;

use crate::readers::list_names;
use crate::{Error, ReaderState, Result};

/// A change seen by a [`Watcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// A reader appeared (plugged in, or the service started it).
    ReaderAdded {
        /// The reader's PC/SC name.
        reader: String,
    },
    /// A reader disappeared. A card that was in it is reported removed first.
    ReaderRemoved {
        /// The reader's PC/SC name.
        reader: String,
    },
    /// A card was put into a reader.
    CardInserted {
        /// The reader's PC/SC name.
        reader: String,
        /// The card's Answer To Reset (empty if the card is mute).
        atr: Vec<u8>,
    },
    /// A card was taken out of a reader.
    CardRemoved {
        /// The reader's PC/SC name.
        reader: String,
    },
}

/// Shared between a [`Watcher`] and its [`WatchCancel`] handles.
#[derive(Debug, Default)]
struct CancelState {
    /// A cancel was asked for and not yet delivered to a wait.
    requested: AtomicBool,
    /// The watcher is inside (or about to enter) `SCardGetStatusChange`.
    waiting: AtomicBool,
}

/// Waits for readers and cards to come and go, in `SCardGetStatusChange`
/// (no polling of our own): the service wakes the thread when something
/// changes. Reader arrival and departure come through the PC/SC
/// "PnP notification" pseudo-reader.
///
/// The watcher has its own PC/SC context, so [`WatchCancel::cancel`] stops
/// only this watcher's wait. Events report changes after [`Watcher::new`];
/// [`Watcher::readers`] gives the state they start from.
///
/// pcscd notices a card arriving or leaving on its next poll of the reader
/// (every 0.4 s for vpcd readers; USB CCID readers report at once). If the
/// service stops, waits fail with [`Error::NoService`]: make a new watcher
/// once it is back.
pub struct Watcher {
    ctx: pcsc::Context,
    /// Index 0 is the PnP pseudo-reader; the rest are the known readers.
    states: Vec<pcsc::ReaderState>,
    /// Card event counter per reader (upper 16 bits of the event state), to
    /// notice a card swapped between two waits.
    counts: Vec<u32>,
    cancel: Arc<CancelState>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").field("readers", &self.readers()).finish_non_exhaustive()
    }
}

/// Stops a [`Watcher`]'s wait from another thread (e.g. a UI thread closing a window).
#[derive(Clone)]
pub struct WatchCancel {
    ctx: pcsc::Context,
    cancel: Arc<CancelState>,
}

impl std::fmt::Debug for WatchCancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchCancel").finish_non_exhaustive()
    }
}

impl WatchCancel {
    /// Makes the watcher's current wait, or its next one if it is not
    /// waiting now, return [`Error::Cancelled`].
    ///
    /// pcsc-lite's `SCardCancel` only interrupts a wait already in progress,
    /// so while the watcher says it is waiting this repeats the cancel every
    /// few milliseconds until the wait has returned.
    pub fn cancel(&self) -> Result<()> {
        self.cancel.requested.store(true, Ordering::SeqCst);
        while self.cancel.waiting.load(Ordering::SeqCst) && self.cancel.requested.load(Ordering::SeqCst) {
            self.ctx.cancel()?;
            thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

fn pnp_state() -> pcsc::ReaderState {
    pcsc::ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE)
}

fn name_of(state: &pcsc::ReaderState) -> String {
    state.name().to_string_lossy().into_owned()
}

impl Watcher {
    /// Connects to the PC/SC service and learns the current readers and cards.
    pub fn new() -> Result<Self> {
        let ctx = pcsc::Context::establish(pcsc::Scope::User)?;
        let mut states = vec![pnp_state()];
        states.extend(list_names(&ctx)?.into_iter().map(|n| pcsc::ReaderState::new(n, State::UNAWARE)));
        let mut watcher = Watcher { ctx, counts: vec![0; states.len()], states, cancel: Arc::default() };
        watcher.refresh_now()?;
        for (i, state) in watcher.states.iter_mut().enumerate() {
            watcher.counts[i] = state.event_count();
            state.sync_current_state();
        }
        Ok(watcher)
    }

    /// A handle that stops this watcher's wait from another thread.
    pub fn cancel_handle(&self) -> WatchCancel {
        WatchCancel { ctx: self.ctx.clone(), cancel: Arc::clone(&self.cancel) }
    }

    /// The readers and cards as of the last wait (or creation).
    pub fn readers(&self) -> Vec<ReaderState> {
        self.states[1..].iter().map(ReaderState::from_pcsc).collect()
    }

    /// Blocks until a reader or card changes, `timeout` passes (`None`: no
    /// limit), or a [`WatchCancel`] cancels the wait.
    ///
    /// Returns the changes in the order they apply; an empty list means the
    /// timeout passed with no change. [`Error::Cancelled`] reports a cancel.
    pub fn wait_for_change(&mut self, timeout: Option<Duration>) -> Result<Vec<ReaderEvent>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            self.cancel.waiting.store(true, Ordering::SeqCst);
            if self.cancel.requested.swap(false, Ordering::SeqCst) {
                self.cancel.waiting.store(false, Ordering::SeqCst);
                return Err(Error::Cancelled);
            }
            let outcome = self.ctx.get_status_change(remaining, &mut self.states);
            self.cancel.waiting.store(false, Ordering::SeqCst);
            let mut events = Vec::new();
            match outcome {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => return Ok(events),
                Err(pcsc::Error::Cancelled) => {
                    self.cancel.requested.store(false, Ordering::SeqCst);
                    return Err(Error::Cancelled);
                }
                // A reader left between listing and waiting: relist below.
                Err(pcsc::Error::UnknownReader) | Err(pcsc::Error::ReaderUnavailable) => {
                    self.states[0].sync_current_state();
                    self.resync_readers(&mut events)?;
                    if !events.is_empty() {
                        return Ok(events);
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            self.collect_events(&mut events)?;
            if !events.is_empty() || remaining == Some(Duration::ZERO) {
                return Ok(events);
            }
        }
    }

    /// Turns the states the last wait returned into events, and makes them current.
    fn collect_events(&mut self, events: &mut Vec<ReaderEvent>) -> Result<()> {
        let pnp = &mut self.states[0];
        let mut readers_changed = pnp.event_state().contains(State::CHANGED);
        pnp.sync_current_state();
        for i in 1..self.states.len() {
            let state = &self.states[i];
            let event = state.event_state();
            if event.intersects(State::UNKNOWN | State::UNAVAILABLE | State::IGNORE) {
                // The reader went away: the reader list update reports it.
                readers_changed = true;
                continue;
            }
            self.card_events(i, events);
        }
        if readers_changed {
            self.resync_readers(events)?;
        }
        Ok(())
    }

    /// Card events of reader `i` from its last reported state.
    fn card_events(&mut self, i: usize, events: &mut Vec<ReaderEvent>) {
        let state = &mut self.states[i];
        let event = state.event_state();
        if !event.contains(State::CHANGED) {
            return;
        }
        let was_present = state.current_state().contains(State::PRESENT);
        let is_present = event.contains(State::PRESENT);
        let count = state.event_count();
        let swapped = was_present && is_present && count != self.counts[i];
        let reader = name_of(state);
        if was_present && (!is_present || swapped) {
            events.push(ReaderEvent::CardRemoved { reader: reader.clone() });
        }
        if is_present && (!was_present || swapped) {
            events.push(ReaderEvent::CardInserted { reader, atr: state.atr().to_vec() });
        }
        self.counts[i] = count;
        state.sync_current_state();
    }

    /// Relists the readers and reports those that came and went; the cards
    /// already in new readers are reported too.
    fn resync_readers(&mut self, events: &mut Vec<ReaderEvent>) -> Result<()> {
        let names = list_names(&self.ctx)?;
        let mut i = 1;
        while i < self.states.len() {
            if names.iter().any(|n| n.as_c_str() == self.states[i].name()) {
                i += 1;
                continue;
            }
            let gone = self.states.remove(i);
            self.counts.remove(i);
            let reader = name_of(&gone);
            if gone.current_state().contains(State::PRESENT) {
                events.push(ReaderEvent::CardRemoved { reader: reader.clone() });
            }
            events.push(ReaderEvent::ReaderRemoved { reader });
        }
        let known: Vec<CString> = self.states[1..].iter().map(|s| s.name().to_owned()).collect();
        let added: Vec<CString> = names.into_iter().filter(|n| !known.contains(n)).collect();
        if added.is_empty() {
            return Ok(());
        }
        let first_new = self.states.len();
        for name in added {
            events.push(ReaderEvent::ReaderAdded { reader: name.to_string_lossy().into_owned() });
            self.states.push(pcsc::ReaderState::new(name, State::UNAWARE));
            self.counts.push(0);
        }
        // The new readers' states (UNAWARE returns at once), then their cards.
        self.refresh_now()?;
        for i in first_new..self.states.len() {
            self.card_events(i, events);
        }
        Ok(())
    }

    /// One non-blocking `SCardGetStatusChange` to fill in UNAWARE states.
    fn refresh_now(&mut self) -> Result<()> {
        match self.ctx.get_status_change(Duration::ZERO, &mut self.states) {
            Ok(()) | Err(pcsc::Error::Timeout) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
