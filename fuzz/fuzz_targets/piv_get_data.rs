//! `piv::fuzz_entry::parse_get_data`: the `53` envelope of a GET DATA answer.
//! The first byte picks the object tag (a real PIV tag, or a raw one).
#![no_main]

use libfuzzer_sys::fuzz_target;

const TAGS: [u32; 8] = [0x5FC102, 0x5FC107, 0x5FC105, 0x5FC10A, 0x5FC10C, 0x7E, 0x7F61, 0x5FC109];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let tag = TAGS.get(usize::from(pick)).copied().unwrap_or(u32::from(pick));
    if let Ok(content) = piv::fuzz_entry::parse_get_data(tag, rest) {
        assert!(content.len() <= rest.len());
    }
});
