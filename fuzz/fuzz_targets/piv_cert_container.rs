//! `piv::fuzz_entry::parse_cert_container`: a certificate container (70 cert, 71 CertInfo, gzip capped).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = piv::fuzz_entry::parse_cert_container(data) {
        let _ = format!("{parsed:?}");
    }
});
