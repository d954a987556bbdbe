//! The one reveal of a generated PIN (and PUK): a client that receives a
//! finished card job keeps its secrets here and hands the window a ticket;
//! the reveal panel takes them once, and closing it wipes what is left.
//! Nothing here is ever serialized but the [`Revealed`] given to that panel.

use std::collections::HashMap;
use std::sync::Mutex;

use piv::{Pin, Puk};
use serde::Serialize;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::ErrorCode;

/// A claim on secrets kept for one reveal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, specta::Type)]
pub struct RevealTicket {
    /// Random, not guessable: knowing it is the right to see the secrets once.
    pub id: Uuid,
}

/// The secrets as the reveal panel shows them (wiped when dropped).
#[derive(Serialize, specta::Type)]
pub struct Revealed {
    /// The new PIN.
    #[serde(serialize_with = "expose")]
    #[specta(type = String)]
    pub pin: Zeroizing<String>,
    /// The new PUK, when the job gives it to the cardholder.
    #[serde(serialize_with = "expose_option")]
    #[specta(type = Option<String>)]
    pub puk: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Revealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Revealed { .. }")
    }
}

fn expose<S: serde::Serializer>(secret: &Zeroizing<String>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(secret)
}

fn expose_option<S: serde::Serializer>(
    secret: &Option<Zeroizing<String>>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match secret {
        Some(secret) => s.serialize_str(secret),
        None => s.serialize_none(),
    }
}

/// Secrets waiting for their one reveal.
#[derive(Default)]
pub struct Reveals {
    waiting: Mutex<HashMap<Uuid, Revealed>>,
}

impl std::fmt::Debug for Reveals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reveals").field("waiting", &self.len()).finish()
    }
}

impl Reveals {
    /// Keeps `pin` (and `puk`) for one reveal.
    pub fn keep(&self, pin: &Pin, puk: Option<&Puk>) -> RevealTicket {
        let id = Uuid::new_v4();
        let secrets = Revealed {
            pin: Zeroizing::new(pin.expose_secret().to_owned()),
            puk: puk.map(|p| Zeroizing::new(p.expose_secret().to_owned())),
        };
        self.lock().insert(id, secrets);
        RevealTicket { id }
    }

    /// The secrets of `ticket`, once: a second call finds nothing.
    pub fn take(&self, ticket: RevealTicket) -> Result<Revealed> {
        self.lock().remove(&ticket.id).ok_or_else(|| Error::Declined {
            code: ErrorCode::SecretGone,
            message: "this PIN was shown already (or its panel was closed); it is not kept anywhere".into(),
        })
    }

    /// Forgets the secrets of `ticket`, shown or not (the panel closed).
    pub fn discard(&self, ticket: RevealTicket) {
        self.lock().remove(&ticket.id);
    }

    /// Forgets every secret (sign-out).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Secrets waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Revealed>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_revealed_once_and_a_closed_panel_forgets_it() {
        let reveals = Reveals::default();
        let pin = Pin::new("482913").unwrap();
        let ticket = reveals.keep(&pin, None);
        assert!(!format!("{reveals:?}").contains("482913"), "Debug never shows a secret");
        let shown = reveals.take(ticket).unwrap();
        assert_eq!(serde_json::to_value(&shown).unwrap()["pin"], "482913");
        assert_eq!(reveals.take(ticket).unwrap_err().code(), ErrorCode::SecretGone);
        let other = reveals.keep(&pin, None);
        reveals.discard(other);
        assert!(reveals.take(other).is_err() && reveals.is_empty());
    }
}
