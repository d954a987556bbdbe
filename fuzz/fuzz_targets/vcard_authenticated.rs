//! The virtual card's APDU processor past the doors a fuzzer cannot open by
//! itself: the PIV application is selected, the default management key is
//! authenticated (a challenge-response a mutator never guesses) and the
//! default PIN verified, so key generation, import, PUT DATA and the
//! YubiKey administrative commands are reachable. Then, as in
//! `vcard_process`, every length-prefixed chunk is one command APDU.
#![no_main]

use cardstation_fuzz::split;
use libfuzzer_sys::fuzz_target;
use piv::{ManagementKey, ManagementKeyAlgorithm, Pin, PivCard};

fuzz_target!(|data: &[u8]| {
    let card = vcard::Card::factory_fresh(vcard::CardConfig::new(1));
    let mut piv = PivCard::new(vcard::Session::with_card(card));
    piv.select().expect("a fresh virtual card selects PIV");
    piv.authenticate(&ManagementKey::factory_default(ManagementKeyAlgorithm::TripleDes))
        .expect("the default management key authenticates");
    piv.verify_pin(&Pin::factory_default()).expect("the default PIN verifies");
    let shared = piv.into_inner().card();
    let mut card = shared.lock().expect("card lock");
    for apdu in split(data) {
        let answer = card.process(apdu);
        assert!(answer.len() >= 2, "answer without a status word");
    }
});
