//! `piv::fuzz_entry::parse_ccc`: the Card Capability Container object.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = piv::fuzz_entry::parse_ccc(data) {
        let _ = format!("{parsed:?}");
    }
});
