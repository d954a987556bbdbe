//! `piv::fuzz_entry::parse_public_key`: the 7F49 template a GENERATE ASYMMETRIC KEY PAIR returns.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = piv::fuzz_entry::parse_public_key(data) {
        let _ = format!("{parsed:?}");
    }
});
