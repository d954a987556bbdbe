//! The state file: round trip and write-after-every-change.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use vcard::{Card, CardConfig};

#[test]
fn save_and_load_keep_keys_objects_and_counters() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.json");
    let mut c = admin_card();
    let point = public_point(&generate(&mut c, 0x9E, 0x11, &[]));
    assert_eq!(put_object(&mut c, 0x5FC102, &[0x34, 0x01, 0x77]), 0x9000);
    verify(&mut c, b"000000");
    c.save(&path).unwrap();

    let mut loaded = Card::load(&path).unwrap();
    assert_eq!(loaded.serial(), c.serial());
    assert_eq!(loaded.pin_tries_remaining(), 2);
    select(&mut loaded);
    assert_eq!(get_object(&mut loaded, 0x5FC102).data, get_object(&mut c, 0x5FC102).data);
    let digest = sha256(b"same key");
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    for card in [&mut c, &mut loaded] {
        let sig = p256::ecdsa::Signature::from_der(&signature_of(&sign(card, 0x9E, 0x11, &digest))).unwrap();
        vk.verify_prehash(&digest, &sig).unwrap();
    }
}

#[test]
fn the_state_file_follows_every_write_command() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.json");
    let mut c = Card::open(&path, CardConfig::new(99)).unwrap();
    assert!(path.exists(), "a new card is saved at once");
    select(&mut c);
    verify(&mut c, b"000001");
    assert_eq!(Card::load(&path).unwrap().pin_tries_remaining(), 2, "the failed try is persistent");
    assert_eq!(authenticate(&mut c, &default_key()), 0x9000);
    assert_eq!(put_object(&mut c, 0x5FC107, &[0xF0, 0x00]), 0x9000);
    assert!(Card::load(&path).unwrap().object(0x5FC107).is_some());
    assert!(generate(&mut c, 0x9A, 0x14, &[]).is_ok());
    let reopened = Card::open(&path, CardConfig::new(1)).unwrap();
    assert_eq!(reopened.serial(), 99, "an existing state wins over the config");
    assert!(reopened.key_info(piv::Slot::Authentication).is_some());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"5fc107\""), "objects are keyed by hex tag");
    assert!(!dir.path().join("card.json.tmp").exists(), "no temporary file left behind");
}

#[test]
fn bad_state_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(&path, b"{\"format\": 1}").unwrap();
    assert!(matches!(Card::load(&path), Err(vcard::Error::BadState { .. })));
    assert!(matches!(Card::load(dir.path().join("missing.json")), Err(vcard::Error::Io { .. })));
}

#[test]
fn debug_output_does_not_show_secrets() {
    let c = card();
    let text = format!("{c:?}");
    assert!(text.contains("12345678") && !text.contains("313233"), "{text}");
}
