//! `piv::fuzz_entry::parse_authentication_template`: the `7C` dynamic
//! authentication template of a GENERAL AUTHENTICATE answer (SP 800-73-4
//! Part 2 §3.2.4). The first byte is the wanted item's tag (80 witness,
//! 81 challenge, 82 response, 85 exponentiation…).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&tag, rest)) = data.split_first() else { return };
    if let Ok(item) = piv::fuzz_entry::parse_authentication_template(rest, u32::from(tag)) {
        assert!(item.len() <= rest.len());
    }
});
