//! The registry's certificate authority and key escrow (SPEC §2 steps 2, 3
//! and 5, §4 Certificate, §7).
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod error;

pub use error::{Error, Result};
