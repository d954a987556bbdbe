//! The registry's certificate authority and key escrow (SPEC §2 steps 2, 3
//! and 5, §4 Certificate, §7). No HTTP and no database: the registry calls
//! these functions and stores what they return.
//!
//! - [`kek`]: the key-encryption key behind everything kept at rest
//!   ([`KeyEncryptionKey`], file implementation [`FileKek`]; room for PKCS#11).
//! - [`escrow`]: per-card management keys and PUKs as [`EscrowRecord`]s,
//!   envelope-encrypted and bound to (device, kind, version).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod error;
pub mod escrow;
mod files;
pub mod kek;

pub use error::{Error, Result};
pub use escrow::{Escrow, EscrowKind, EscrowRecord};
pub use kek::{DataKey, FileKek, KeyEncryptionKey};
