//! PC/SC readers: which readers exist, cards coming and going, and an
//! [`apdu::Transport`] over a connection to a card.
//!
//! This is the only crate that links `pcsc` (pcsc-lite on Linux, WinSCard on
//! Windows, PCSC.framework on macOS); everything above it talks to cards
//! through [`apdu::Transport`].
//!
//! - [`Readers`]: a PC/SC context; [`Readers::list`] lists readers and cards.
//! - [`Watcher`]: blocks in `SCardGetStatusChange` until readers or cards
//!   change and reports [`ReaderEvent`]s; a [`WatchCancel`] stops it from
//!   another thread.
//! - [`CardConnection`]: a shared connection to the card in one reader, with
//!   exclusive work inside [`CardTransaction`]s. It never resets the card
//!   behind the user's back (pcsc's own `Card` does on drop).
#![forbid(unsafe_code)]

mod connection;
mod error;
mod readers;
pub mod tally;
mod watch;

pub use connection::{CardConnection, CardTransaction};
pub use error::{Error, Result};
pub use readers::{ReaderState, Readers};
pub use watch::{ReaderEvent, WatchCancel, Watcher};
