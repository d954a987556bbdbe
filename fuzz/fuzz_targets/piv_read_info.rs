//! The PIV client end to end on a card that says whatever the fuzzer wants:
//! `piv::read_info` (SELECT, version, serial, every object, certificates,
//! PIN counter, metadata) and then a management key authentication, over a
//! transport that replays the length-prefixed answers of the input (see
//! `cardstation_fuzz::split`). Every answer, however wrong, must end in a
//! value or a typed error.
#![no_main]

use cardstation_fuzz::{split, ReplayCard};
use libfuzzer_sys::fuzz_target;
use piv::{ManagementKey, ManagementKeyAlgorithm, PivCard};

fuzz_target!(|data: &[u8]| {
    let answers = split(data);
    let mut card = PivCard::new(ReplayCard::new(answers.iter().copied()));
    if let Ok(info) = piv::read_info(&mut card) {
        let _ = format!("{info:?}");
    }
    let _ = card.authenticate(&ManagementKey::factory_default(ManagementKeyAlgorithm::TripleDes));
    assert!(card.into_inner().sent.len() <= answers.len() + 2);
});
