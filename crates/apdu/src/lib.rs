//! ISO/IEC 7816-4 building blocks for talking to smart cards.
//!
//! Pure: no I/O. A [`Transport`] moves raw bytes; [`exchange`] adds the
//! protocol rules every client needs on top of it (command chaining,
//! `61xx` GET RESPONSE, `6Cxx` retry with the right Le).
#![forbid(unsafe_code)]

mod command;
mod error;
mod exchange;
mod response;
mod status;
pub mod tlv;

pub use command::Command;
pub use error::{Error, Result, TransportError};
pub use exchange::{exchange, Transport, MAX_RESPONSE_LEN};
pub use response::Response;
pub use status::{StatusWord, SwKind};
