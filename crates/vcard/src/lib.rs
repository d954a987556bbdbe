//! A virtual PIV card for tests and the lab.
//!
//! It behaves like factory-fresh PIV stock (NIST SP 800-73-4) with the
//! YubiKey 5 extensions that management tools rely on, using real crypto,
//! and can be driven three ways:
//!
//! - [`Card::process`]: raw command APDU in, raw response APDU out;
//! - [`Session`]: an in-process [`apdu::Transport`] honouring [`Faults`];
//! - [`vpcd::VpcdCard`]: plugged into the real `pcscd` through
//!   vsmartcard's vpcd driver, so OpenSC and yubico-piv-tool see a card.
//!
//! Persistent state (keys, objects, PINs) can live in a JSON state file that
//! is rewritten atomically after every command that changes it.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod application;
mod card;
mod config;
mod error;
mod keys;
mod session;
mod state;
pub mod vpcd;
mod yubico;

pub use card::{Card, Delivery, Stats};
pub use config::{CardConfig, Corruption, Faults, Flavour, Latency};
pub use error::{Error, Result};
pub use session::Session;
pub use yubico::FIRMWARE_VERSION;
