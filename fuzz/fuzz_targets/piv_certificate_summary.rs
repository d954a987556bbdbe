//! `piv::fuzz_entry::parse_certificate_summary`: a DER X.509 certificate read from a slot.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = piv::fuzz_entry::parse_certificate_summary(data) {
        let _ = format!("{parsed:?}");
    }
});
