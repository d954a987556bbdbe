//! `apdu::exchange` against a card whose answers the fuzzer writes: chaining,
//! `61xx` GET RESPONSE loops and `6Cxx` retries must end in a value or a
//! typed error, never a panic, a hang or an unbounded buffer.
//!
//! Input: length-prefixed chunks (see `cardstation_fuzz::split`); the first
//! is the command (parsed as an APDU, else used as the data of a GET DATA),
//! the rest are the card's answers, in order.
#![no_main]

use cardstation_fuzz::{split, ReplayCard};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let chunks = split(data);
    let Some((first, answers)) = chunks.split_first() else { return };
    let command = apdu::Command::parse(first)
        .unwrap_or_else(|_| apdu::Command::new(0x00, 0xCB, 0x3F, 0xFF).with_data(*first).with_le(256));
    let mut card = ReplayCard::new(answers.iter().copied());
    let result = apdu::exchange(&mut card, &command);
    assert!(card.sent.len() <= answers.len() + 1, "sent more APDUs than there were answers");
    if let Ok(response) = result {
        assert!(response.data.len() <= apdu::MAX_RESPONSE_LEN);
    }
});
