//! The virtual card's APDU processor past the doors a fuzzer cannot open by
//! itself: the card holds keys in 9A (RSA 2048), 9C (P-256), 9D (P-384) and
//! 9E (P-256), the PIV application is selected, the default management key
//! is authenticated (a challenge-response a mutator never guesses) and the
//! default PIN verified. So signing, key agreement, key generation, import,
//! PUT DATA and the YubiKey administrative commands are all reachable. Then,
//! as in `vcard_process`, every length-prefixed chunk is one command APDU.
//!
//! RSA key generation (hundreds of milliseconds, all of it in the `rsa`
//! crate) would take the fuzzer from thousands of inputs a second to a few
//! dozen, so GENERATE ASYMMETRIC KEY PAIR commands asking for RSA, and any
//! chained GENERATE block, are not sent; the RSA key the card needs is made
//! once, in the template every input starts from.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use cardstation_fuzz::split;
use libfuzzer_sys::fuzz_target;
use piv::{KeyAlgorithm, ManagementKey, ManagementKeyAlgorithm, Pin, PivCard, Slot};

/// The personalised card every input starts from, saved once per process.
fn template() -> &'static PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let card = vcard::Card::factory_fresh(vcard::CardConfig::new(1));
        let mut piv = PivCard::new(vcard::Session::with_card(card));
        piv.select().expect("select");
        piv.authenticate(&ManagementKey::factory_default(ManagementKeyAlgorithm::TripleDes))
            .expect("authenticate");
        for (slot, algorithm) in [
            (Slot::Authentication, KeyAlgorithm::Rsa2048),
            (Slot::Signature, KeyAlgorithm::EccP256),
            (Slot::KeyManagement, KeyAlgorithm::EccP384),
            (Slot::CardAuthentication, KeyAlgorithm::EccP256),
        ] {
            piv.generate_key(slot, algorithm, None, None).expect("generate");
        }
        let path = std::env::temp_dir().join(format!("cardstation-fuzz-vcard-{}.json", std::process::id()));
        let shared = piv.into_inner().card();
        shared.lock().expect("card lock").save(&path).expect("save template card");
        path
    })
}

/// True for commands that could make the card generate an RSA key
/// (algorithm `06`/`07`, SP 800-78-4 Table 6-2); malformed GENERATE
/// requests still reach the card.
fn is_slow(apdu: &[u8]) -> bool {
    let Ok(command) = apdu::Command::parse(apdu) else { return false };
    if command.ins != 0x47 {
        return false;
    }
    if command.cla & 0x10 != 0 {
        return true;
    }
    let algorithm = apdu::tlv::find(&command.data, 0xAC)
        .ok()
        .flatten()
        .and_then(|template| apdu::tlv::find(template, 0x80).ok().flatten());
    matches!(algorithm, Some([0x06] | [0x07]))
}

fuzz_target!(|data: &[u8]| {
    let card = vcard::Card::load(template()).expect("load template card");
    let mut piv = PivCard::new(vcard::Session::with_card(card));
    piv.select().expect("the card selects PIV");
    piv.authenticate(&ManagementKey::factory_default(ManagementKeyAlgorithm::TripleDes))
        .expect("the default management key authenticates");
    piv.verify_pin(&Pin::factory_default()).expect("the default PIN verifies");
    let shared = piv.into_inner().card();
    let mut card = shared.lock().expect("card lock");
    for apdu in split(data).into_iter().filter(|a| !is_slow(a)) {
        let answer = card.process(apdu);
        assert!(answer.len() >= 2, "answer without a status word");
    }
});
