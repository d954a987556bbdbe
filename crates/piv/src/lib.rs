//! The PIV card application (NIST SP 800-73-4) over an [`apdu::Transport`].
//!
//! - [`PivCard`]: one method per card command (SELECT, GET/PUT DATA, VERIFY,
//!   CHANGE REFERENCE DATA, RESET RETRY COUNTER, GENERAL AUTHENTICATE,
//!   GENERATE ASYMMETRIC KEY PAIR) plus the YubiKey extensions, used only
//!   when the card answers them. The APDUs themselves are built by the pure
//!   functions of [`commands`].
//! - [`objects`]: CHUID, CCC, discovery, key history and certificate
//!   containers, built and parsed with typed errors.
//! - [`read_info`]: everything readable without a PIN as one [`CardInfo`].
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod ca;
pub mod card;
pub mod certificate;
pub mod commands;
mod error;
#[cfg(test)]
mod fake_card;
pub mod fuzz_entry;
pub mod info;
pub mod metadata;
pub mod objects;
pub mod offline_unblock;
pub mod personalize;
pub mod profile;
pub mod public_key;
pub mod secret;
pub mod types;

pub use ca::{CertificateIssuer, IssueRequest, LocalCa, ProofOfPossession};
pub use card::{CountingTransport, PinStatus, PivCard, PukStatus};
pub use certificate::{certificate_public_key, CertificateSummary};
pub use error::{Error, Result};
pub use info::{read_info, CardInfo, SlotCertificate};
pub use metadata::{KeyOrigin, Metadata, Retries, Version};
pub use objects::{Application, Ccc, CertificateContainer, Chuid, Discovery, KeyHistory};
pub use personalize::{
    plan, IssuedCertificate, KnownSecrets, NoObserver, Outcome, PersonalizationObserver, Personalizer, Plan,
    PlanOptions, Secrets, Step,
};
pub use profile::{CertificateTemplate, KeyUsage, Profile, SecretPolicy, SlotProfile, SubjectValues};
pub use public_key::PublicKey;
pub use secret::{Pin, Puk};
pub use types::{KeyAlgorithm, ManagementKey, ManagementKeyAlgorithm, PinPolicy, Slot};
