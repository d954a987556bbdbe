//! Cardstation's central registry (SPEC §1, §6, §7): the authoritative
//! record, served over HTTPS by axum.
//!
//! - [`storage`]: the [`Storage`] trait (no database types in it) and its
//!   SQLite implementation, [`SqliteStorage`];
//! - [`decide`]: operations decided by the `domain` machines and rules,
//!   applied exactly once;
//! - [`service`]: the use cases behind the endpoints ([`Registry`]);
//! - [`certificates`]: the certificate authority's use cases (challenges,
//!   issuance after proof of possession, the CRL, OCSP);
//! - [`http`]: `app(registry) -> Router`, the OpenAPI document;
//!   `publication_app(registry)`, the plain-HTTP listener of the CRL, the
//!   CA certificate and OCSP;
//! - [`tls`]: the self-signed certificate made at first start, and serving over rustls;
//! - [`anchor`]: the audit trail anchored outside the database (keyed MACs, checkpoints);
//! - [`admin`]: what the `cardstation-registry` administration commands do.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod access;
pub mod admin;
pub mod anchor;
mod audit_trail;
mod caller;
pub mod certificates;
pub mod decide;
mod decline;
mod error;
pub mod escrow;
mod fault;
pub mod http;
pub mod mail_outbox;
pub mod mailbox;
pub mod offline_unblock;
mod password;
mod provisioning;
pub mod service;
pub mod storage;
mod temporary;
pub mod throttle;
pub mod tls;
mod walkup_update;
mod workstation;

pub use anchor::AuditAnchor;
pub use decide::Caller;
pub use error::{Error, Result};
pub use escrow::EscrowSeal;
pub use http::{app, publication_app, ApiDoc};
pub use service::{Clock, Fault, Registry};
pub use storage::sqlite::SqliteStorage;
pub use storage::{DeploymentSettings, Storage, Tx};
