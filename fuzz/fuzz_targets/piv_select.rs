//! `piv::fuzz_entry::parse_select`: the application property template a SELECT returns (SP 800-73-4 Part 2 §3.1.1).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = piv::fuzz_entry::parse_select(data) {
        let _ = format!("{parsed:?}");
    }
});
