//! `piv::fuzz_entry::parse_metadata`: a YubiKey GET METADATA (F7) answer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = piv::fuzz_entry::parse_metadata(data) {
        let _ = format!("{parsed:?}");
    }
});
