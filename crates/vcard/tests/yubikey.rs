//! YubiKey vendor extensions and the generic flavour.
#![allow(clippy::unwrap_used)]

mod common;

use apdu::{tlv, Command};
use common::*;
use piv::{ManagementKey, ManagementKeyAlgorithm};
use vcard::{Card, CardConfig, Flavour};

#[test]
fn version_and_serial() {
    let mut c = Card::factory_fresh(CardConfig::new(0x01020304));
    select(&mut c);
    assert_eq!(raw(&mut c, "00FD0000"), (vec![5, 4, 3], 0x9000));
    assert_eq!(raw(&mut c, "00F8000000"), (vec![1, 2, 3, 4], 0x9000));
}

#[test]
fn generic_flavour_refuses_every_vendor_instruction() {
    let mut c = Card::factory_fresh(CardConfig::new(5).with_flavour(Flavour::Generic));
    select(&mut c);
    for apdu in ["00FD0000", "00F80000", "00F7009B", "00FB0000", "00FA0303", "00FFFFFF03039B18"] {
        assert_eq!(raw(&mut c, apdu).1, 0x6D00, "{apdu}");
    }
    // Standard commands still work, and AA is not a generic card's business.
    assert_eq!(authenticate(&mut c, &default_key()), 0x9000);
    assert!(generate(&mut c, 0x9C, 0x11, &[0xAA, 0x01, 0x01]).is_ok());
    assert_eq!(sign(&mut c, 0x9C, 0x11, &sha256(b"x")).sw.0, 0x6982, "9C stays PIN-always");
}

#[test]
fn metadata_reports_keys_pins_and_defaults() {
    let mut c = admin_card();
    let (m, sw) = raw(&mut c, "00F7009B");
    assert_eq!(sw, 0x9000);
    assert_eq!(tlv::find(&m, 0x01).unwrap(), Some(&[0x03][..]));
    assert_eq!(tlv::find(&m, 0x05).unwrap(), Some(&[0x01][..]), "default key");
    let (m, _) = raw(&mut c, "00F70080");
    assert_eq!(tlv::find(&m, 0x01).unwrap(), Some(&[0xFF][..]));
    assert_eq!(tlv::find(&m, 0x05).unwrap(), Some(&[0x01][..]));
    assert_eq!(tlv::find(&m, 0x06).unwrap(), Some(&[3, 3][..]));
    verify(&mut c, b"000000");
    let (m, _) = raw(&mut c, "00F70080");
    assert_eq!(tlv::find(&m, 0x06).unwrap(), Some(&[3, 2][..]));
    assert_eq!(raw(&mut c, "00F7009A").1, 0x6A88, "empty slot");
    let point = public_point(&generate(&mut c, 0x9A, 0x11, &[]));
    let (m, sw) = raw(&mut c, "00F7009A");
    assert_eq!(sw, 0x9000);
    assert_eq!(tlv::find(&m, 0x01).unwrap(), Some(&[0x11][..]));
    assert_eq!(tlv::find(&m, 0x02).unwrap(), Some(&[0x02, 0x01][..]), "PIN once, touch never");
    assert_eq!(tlv::find(&m, 0x03).unwrap(), Some(&[0x01][..]), "generated");
    let public = tlv::find(&m, 0x04).unwrap().unwrap();
    assert_eq!(tlv::find(public, 0x86).unwrap(), Some(point.as_slice()));
}

#[test]
fn set_management_key_changes_the_key_and_algorithm() {
    let mut c = card();
    select(&mut c);
    let new = ManagementKey::new(ManagementKeyAlgorithm::Aes128, &[0x42; 16]).unwrap();
    let mut data = vec![0x08, 0x9B, 0x10];
    data.extend([0x42; 16]);
    assert_eq!(run(&mut c, &Command::new(0, 0xFF, 0xFF, 0xFF).with_data(data.clone())).sw.0, 0x6982);
    assert_eq!(authenticate(&mut c, &default_key()), 0x9000);
    let mut bad = data.clone();
    bad[2] = 0x18;
    assert_eq!(run(&mut c, &Command::new(0, 0xFF, 0xFF, 0xFF).with_data(bad)).sw.0, 0x6A80);
    assert_eq!(run(&mut c, &Command::new(0, 0xFF, 0xFF, 0xFF).with_data(data)).sw.0, 0x9000);
    assert_eq!(c.management_key_algorithm(), ManagementKeyAlgorithm::Aes128);
    c.reset();
    select(&mut c);
    assert_eq!(authenticate(&mut c, &default_key()), 0x6A80);
    assert_eq!(authenticate(&mut c, &new), 0x9000);
    let (m, _) = raw(&mut c, "00F7009B");
    assert_eq!(tlv::find(&m, 0x05).unwrap(), Some(&[0x00][..]), "no longer the default");
}

#[test]
fn set_pin_retries_needs_key_and_pin_and_resets_both() {
    let mut c = admin_card();
    assert_eq!(raw(&mut c, "00FA0505").1, 0x6982, "PIN not verified");
    let mut d = padded(b"123456");
    d.extend(padded(b"654321"));
    assert!(run(&mut c, &Command::new(0, 0x24, 0, 0x80).with_data(d)).is_ok());
    assert_eq!(verify(&mut c, b"654321"), 0x9000);
    assert_eq!(raw(&mut c, "00FA0506").1, 0x9000);
    assert_eq!((c.pin_tries_remaining(), c.puk_tries_remaining()), (5, 6));
    assert_eq!(verify(&mut c, b"654321"), 0x63C4);
    assert_eq!(verify(&mut c, b"123456"), 0x9000, "PIN back to the default");
}

#[test]
fn reset_only_when_pin_and_puk_are_blocked() {
    let mut c = admin_card();
    assert!(generate(&mut c, 0x9A, 0x11, &[]).is_ok());
    assert_eq!(raw(&mut c, "00FB0000").1, 0x6985);
    for _ in 0..3 {
        verify(&mut c, b"000000");
    }
    assert_eq!(raw(&mut c, "00FB0000").1, 0x6985, "PUK still usable");
    for _ in 0..3 {
        let mut d = padded(b"00000000");
        d.extend(padded(b"111111"));
        run(&mut c, &Command::new(0, 0x2C, 0, 0x80).with_data(d));
    }
    assert_eq!(c.puk_tries_remaining(), 0);
    assert_eq!(raw(&mut c, "00FB0000").1, 0x9000);
    assert_eq!(c.serial(), 12_345_678);
    assert_eq!(c.key_info(piv::Slot::Authentication), None);
    assert_eq!(verify(&mut c, b"123456"), 0x9000);
    assert_eq!(raw(&mut c, "00F7009A").1, 0x6A88);
}

#[test]
fn import_ec_key_then_sign() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let mut c = admin_card();
    let sk = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let mut data = tlv::encode(0x06, &sk.to_bytes());
    data.extend([0xAA, 0x01, 0x01]);
    assert!(run(&mut c, &Command::new(0, 0xFE, 0x11, 0x9D).with_data(data)).is_ok());
    let (m, _) = raw(&mut c, "00F7009D");
    assert_eq!(tlv::find(&m, 0x03).unwrap(), Some(&[0x02][..]), "imported");
    let digest = sha256(b"imported");
    let r = sign(&mut c, 0x9D, 0x11, &digest);
    let sig = p256::ecdsa::Signature::from_der(&signature_of(&r)).unwrap();
    p256::ecdsa::VerifyingKey::from(sk.public_key()).verify_prehash(&digest, &sig).unwrap();
}
