//! `piv::fuzz_entry::parse_chuid`: the Card Holder Unique Identifier object (SP 800-73-4 Part 1 Appendix A).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = piv::fuzz_entry::parse_chuid(data) {
        let _ = format!("{parsed:?}");
    }
});
