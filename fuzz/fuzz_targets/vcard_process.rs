//! The virtual card's APDU processor on a factory-fresh card: a sequence of
//! arbitrary command APDUs (length-prefixed chunks, see
//! `cardstation_fuzz::split`) must each get an answer with a status word,
//! never a panic.
#![no_main]

use cardstation_fuzz::split;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut card = vcard::Card::factory_fresh(vcard::CardConfig::new(1));
    for apdu in split(data) {
        let answer = card.process(apdu);
        assert!(answer.len() >= 2, "answer without a status word");
    }
});
