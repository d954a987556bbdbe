//! An in-process reader holding a virtual card.

use std::sync::{Arc, Mutex};

use apdu::{Transport, TransportError};

use crate::{Card, Delivery};

/// An [`apdu::Transport`] straight to a shared [`Card`], with the card's
/// [`crate::Faults`] applied: a tear answers `Err(CardRemoved)` (and keeps
/// answering it) until [`Session::reinsert`], as a PC/SC handle does after
/// the card left the reader.
#[derive(Debug)]
pub struct Session {
    card: Arc<Mutex<Card>>,
    present: bool,
}

impl Session {
    /// Inserts the shared card into a new in-process reader.
    pub fn new(card: Arc<Mutex<Card>>) -> Session {
        let mut session = Session { card, present: false };
        session.reinsert();
        session
    }

    /// Inserts a card the session will own (shared handle via [`Session::card`]).
    pub fn with_card(card: Card) -> Session {
        Session::new(Arc::new(Mutex::new(card)))
    }

    /// The card, for inspection or to change its faults.
    pub fn card(&self) -> Arc<Mutex<Card>> {
        Arc::clone(&self.card)
    }

    /// Puts the card back: it powers up fresh (no PIN or management
    /// authentication, nothing selected) and fault counters restart.
    pub fn reinsert(&mut self) {
        if let Ok(mut card) = self.card.lock() {
            card.insert();
        }
        self.present = true;
    }

    /// Pulls the card out.
    pub fn remove(&mut self) {
        if let Ok(mut card) = self.card.lock() {
            card.power_off();
        }
        self.present = false;
    }

    /// True while the card is in the reader.
    pub fn is_present(&self) -> bool {
        self.present
    }
}

impl Transport for Session {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        if !self.present {
            return Err(TransportError::CardRemoved);
        }
        let mut card =
            self.card.lock().map_err(|_| TransportError::Other("virtual card lock poisoned".into()))?;
        match card.deliver(command) {
            Delivery::Response(r) => Ok(r),
            Delivery::Torn { .. } => {
                self.present = false;
                Err(TransportError::CardRemoved)
            }
        }
    }
}
