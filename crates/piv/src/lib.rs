//! The PIV card application (NIST SP 800-73-4) over an [`apdu::Transport`].
#![forbid(unsafe_code)]

pub mod types;

pub use types::{KeyAlgorithm, ManagementKey, ManagementKeyAlgorithm, Slot};
