//! `piv::fuzz_entry::parse_discovery`: the Discovery object (PIN usage policy).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = piv::fuzz_entry::parse_discovery(data) {
        let _ = format!("{parsed:?}");
    }
});
