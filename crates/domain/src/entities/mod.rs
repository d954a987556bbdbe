//! The entities of SPEC §3 as plain data.

pub mod audit;
pub mod batch;
pub mod certificate;
pub mod device;
pub mod person;
pub mod profile;
pub mod provisioning;
pub mod request;
pub mod temporary_card;
