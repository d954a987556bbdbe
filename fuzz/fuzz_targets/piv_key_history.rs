//! `piv::fuzz_entry::parse_key_history`: the Key History object (retired key counts).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = piv::fuzz_entry::parse_key_history(data) {
        let _ = format!("{parsed:?}");
    }
});
