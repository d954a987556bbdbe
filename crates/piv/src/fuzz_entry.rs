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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn no_entry_point_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1500), tag in prop_oneof![
            Just(0x5FC102u32), Just(0x7E), Just(0x7F61), Just(0x80), Just(0x82)]) {
            let _ = parse_select(&bytes);
            let _ = parse_chuid(&bytes);
            let _ = parse_ccc(&bytes);
            let _ = parse_key_history(&bytes);
            let _ = parse_discovery(&bytes);
            let _ = parse_cert_container(&bytes);
            let _ = parse_public_key(&bytes);
            let _ = parse_metadata(&bytes);
            let _ = parse_get_data(tag, &bytes);
            let _ = parse_authentication_template(&bytes, tag);
            let _ = parse_certificate_summary(&bytes);
        }

        #[test]
        fn truncated_valid_objects_are_errors_not_panics(cut in 0usize..60) {
            let chuid = crate::Chuid::new([7; 16], time::Date::from_calendar_date(2031, time::Month::May, 4).unwrap()).to_bytes();
            let cut = cut.min(chuid.len());
            // Any strict prefix that drops into the FASC-N or GUID must fail.
            if cut < 45 {
                prop_assert!(parse_chuid(&chuid[..cut]).is_err());
            }
            let ccc = crate::Ccc::new([1; 14]).to_bytes();
            if cut < 23 {
                prop_assert!(parse_ccc(&ccc[..cut.min(ccc.len())]).is_err());
            }
        }
    }

    #[test]
    fn oversized_objects_are_refused() {
        let mut big = apdu::tlv::encode(0x70, &vec![0x30; crate::objects::MAX_OBJECT_LEN]);
        big.extend(apdu::tlv::encode(0x71, &[0]));
        assert!(matches!(parse_cert_container(&big), Err(crate::Error::Malformed { .. })));
    }
}
