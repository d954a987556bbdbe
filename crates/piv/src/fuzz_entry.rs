//! Thin entry points for fuzzers: every parser of card-supplied bytes.
//! Each returns a typed result and must never panic.

use crate::Result;

/// SELECT answer.
pub fn parse_select(data: &[u8]) -> Result<crate::Application> {
    crate::Application::parse(data)
}

/// CHUID content.
pub fn parse_chuid(data: &[u8]) -> Result<crate::Chuid> {
    crate::Chuid::parse(data)
}

/// CCC content.
pub fn parse_ccc(data: &[u8]) -> Result<crate::Ccc> {
    crate::Ccc::parse(data)
}

/// Key history content.
pub fn parse_key_history(data: &[u8]) -> Result<crate::KeyHistory> {
    crate::KeyHistory::parse(data)
}

/// Discovery content.
pub fn parse_discovery(data: &[u8]) -> Result<crate::Discovery> {
    crate::Discovery::parse(data)
}

/// Certificate container content (decompressing with a cap).
pub fn parse_cert_container(data: &[u8]) -> Result<crate::CertificateContainer> {
    crate::CertificateContainer::parse(data)
}

/// Public key template (`7F49`) or its inner TLVs.
pub fn parse_public_key(data: &[u8]) -> Result<crate::PublicKey> {
    crate::PublicKey::parse(data)
}

/// YubiKey metadata answer.
pub fn parse_metadata(data: &[u8]) -> Result<crate::Metadata> {
    crate::Metadata::parse(data)
}

/// A GET DATA answer for `tag`.
pub fn parse_get_data(tag: u32, data: &[u8]) -> Result<Vec<u8>> {
    crate::card::parse_get_data(tag, data)
}

/// A GENERAL AUTHENTICATE answer, item `tag` of `7C`.
pub fn parse_authentication_template(data: &[u8], tag: u32) -> Result<Vec<u8>> {
    crate::card::parse_authentication_template(data, tag)
}

/// A DER certificate into its summary.
pub fn parse_certificate_summary(data: &[u8]) -> Result<crate::CertificateSummary> {
    crate::CertificateSummary::from_der(crate::Slot::Authentication, data)
}
