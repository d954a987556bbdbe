//! The SP 800-73-4 command set, driven with raw APDUs.
#![allow(clippy::unwrap_used)]

mod common;

use apdu::{tlv, Command};
use common::*;
use piv::{ManagementKey, ManagementKeyAlgorithm};
use vcard::{Card, CardConfig};

#[test]
fn select_matches_the_piv_aid_by_prefix_and_refuses_others() {
    let mut c = card();
    for aid in ["A000000308", "A00000030800001000", "A0000003080000100001 00"] {
        let aid = aid.replace(' ', "");
        let (data, sw) = raw(&mut c, &format!("00A40400{:02X}{aid}00", aid.len() / 2));
        assert_eq!(sw, 0x9000, "AID {aid}");
        let (tmpl, rest) = tlv::parse_one(&data).unwrap();
        assert!(rest.is_empty());
        assert_eq!(tmpl.tag, 0x61);
        assert_eq!(tlv::find(tmpl.value, 0x4F).unwrap(), Some(&[0, 0, 0x10, 0, 1, 0][..]));
        let alloc = tlv::find(tmpl.value, 0x79).unwrap().unwrap();
        assert_eq!(tlv::find(alloc, 0x4F).unwrap(), Some(&[0xA0, 0, 0, 3, 8][..]));
        let algs = tlv::find(tmpl.value, 0xAC).unwrap().unwrap();
        let ids: Vec<u8> =
            tlv::parse_all(algs).unwrap().iter().filter(|t| t.tag == 0x80).map(|t| t.value[0]).collect();
        assert_eq!(ids, [0x03, 0x08, 0x0A, 0x0C, 0x07, 0x11, 0x14]);
        assert!(!ids.contains(&0x27) && !ids.contains(&0x2E), "no secure messaging suites");
    }
    for other in
        ["00A4040007A0000000030000", "00A4040008A000000063504B43", "00A4040004A0000003", "00A40000023F00"]
    {
        assert_eq!(raw(&mut c, other).1, 0x6A82, "{other}");
    }
}

#[test]
fn commands_before_select_are_refused() {
    let mut c = card();
    assert_eq!(raw(&mut c, "00CB3FFF055C035FC102").1, 0x6A82);
    assert_eq!(raw(&mut c, "0020008008313233343536FFFF").1, 0x6985);
    assert_eq!(raw(&mut c, "00FD0000").1, 0x6985);
    assert_eq!(c.pin_tries_remaining(), 3, "a refused VERIFY costs nothing");
}

#[test]
fn factory_stock_has_discovery_but_no_chuid_or_certificates() {
    let mut c = card();
    select(&mut c);
    let (data, sw) = raw(&mut c, "00CB3FFF035C017E00");
    assert_eq!(sw, 0x9000);
    assert_eq!(hex::encode_upper(data), "7E124F0BA0000003080000100001005F2F024000");
    for tag in ["5FC102", "5FC107", "5FC105", "5FC10A", "5FC10B", "5FC101", "5FC10C"] {
        assert_eq!(raw(&mut c, &format!("00CB3FFF055C03{tag}")).1, 0x6A82, "{tag}");
    }
    assert_eq!(raw(&mut c, "00CB3FFF045C027F61").1, 0x6A82);
    assert_eq!(raw(&mut c, "00CB3FFF").1, 0x6A80, "no tag list");
    assert_eq!(raw(&mut c, "00CB3FFE055C035FC102").1, 0x6A86);
}

#[test]
fn cla_and_unknown_instructions() {
    let mut c = card();
    select(&mut c);
    assert_eq!(raw(&mut c, "80CB3FFF055C035FC102").1, 0x6E00);
    assert_eq!(raw(&mut c, "00840000").1, 0x6D00);
    assert_eq!(raw(&mut c, "00CB3F").1, 0x6700, "malformed APDU");
    assert_eq!(raw(&mut c, "00C00000").1, 0x6985, "nothing to GET RESPONSE");
}

#[test]
fn wrong_pin_counts_down_by_one_and_blocks() {
    let mut c = card();
    select(&mut c);
    assert_eq!(raw(&mut c, "0020008000").1, 0x63C3, "status query (ykpiv form, Lc=0)");
    assert_eq!(raw(&mut c, "00200080").1, 0x63C3, "status query without Lc");
    assert_eq!(verify(&mut c, b"654321"), 0x63C2);
    assert_eq!(raw(&mut c, "00200080").1, 0x63C2, "status does not cost a try");
    assert_eq!(verify(&mut c, b"123456"), 0x9000);
    assert_eq!(raw(&mut c, "00200080").1, 0x9000, "verified");
    assert_eq!(c.pin_tries_remaining(), 3, "success restores the counter");
    assert_eq!(raw(&mut c, "0020FF80").1, 0x9000, "log out");
    assert_eq!(raw(&mut c, "00200080").1, 0x63C3);
    assert_eq!(verify(&mut c, b"000000"), 0x63C2);
    assert_eq!(verify(&mut c, b"000000"), 0x63C1);
    assert_eq!(verify(&mut c, b"000000"), 0x63C0);
    assert_eq!(verify(&mut c, b"123456"), 0x6983, "blocked even for the right PIN");
    assert_eq!(raw(&mut c, "00200080").1, 0x6983);
    assert_eq!(c.pin_tries_remaining(), 0);
    assert_eq!(raw(&mut c, "0020008006313233343536").1, 0x6A80, "unpadded PIN is malformed");
    assert_eq!(raw(&mut c, "0020000008313233343536FFFF").1, 0x6A88, "global PIN not supported");
}

#[test]
fn puk_unblocks_and_references_can_be_changed() {
    let mut c = card();
    select(&mut c);
    for _ in 0..3 {
        verify(&mut c, b"999999");
    }
    assert_eq!(verify(&mut c, b"123456"), 0x6983);
    let mut data = padded(b"11111111");
    data.extend(padded(b"24680135"));
    assert_eq!(run(&mut c, &Command::new(0, 0x2C, 0, 0x80).with_data(data)).sw.0, 0x63C2, "wrong PUK");
    let mut data = padded(b"12345678");
    data.extend(padded(b"123"));
    assert_eq!(run(&mut c, &Command::new(0, 0x2C, 0, 0x80).with_data(data)).sw.0, 0x6A80, "too short");
    assert_eq!(c.puk_tries_remaining(), 2, "a malformed new PIN costs no try");
    let mut data = padded(b"12345678");
    data.extend(padded(b"24680135"));
    assert_eq!(run(&mut c, &Command::new(0, 0x2C, 0, 0x80).with_data(data)).sw.0, 0x9000);
    assert_eq!((c.pin_tries_remaining(), c.puk_tries_remaining()), (3, 3));
    assert_eq!(verify(&mut c, b"24680135"), 0x9000);

    let change = |c: &mut Card, p2: u8, old: &[u8], new: &[u8]| {
        let mut d = padded(old);
        d.extend(padded(new));
        run(c, &Command::new(0, 0x24, 0, p2).with_data(d)).sw.0
    };
    assert_eq!(change(&mut c, 0x80, b"000000", b"777777"), 0x63C2);
    assert_eq!(change(&mut c, 0x80, b"24680135", b"777777"), 0x9000);
    assert_eq!(c.pin_tries_remaining(), 3);
    assert_eq!(verify(&mut c, b"777777"), 0x9000);
    assert_eq!(change(&mut c, 0x81, b"12345678", b"87654321"), 0x9000);
    assert_eq!(change(&mut c, 0x81, b"12345678", b"87654321"), 0x63C2, "old PUK no longer valid");
}

#[test]
fn management_key_mutual_and_external_authentication() {
    let mut c = card();
    select(&mut c);
    assert_eq!(authenticate(&mut c, &default_key()), 0x9000);

    // External (one-way): 81 empty → challenge, 82 E(C) → 9000.
    let mut c = card();
    select(&mut c);
    let key = default_key();
    let r = run(&mut c, &Command::new(0, 0x87, 0x03, 0x9B).with_data([0x7C, 0x02, 0x81, 0x00]));
    assert!(r.is_ok());
    let challenge = tlv::require(tlv::require(&r.data, 0x7C, "").unwrap(), 0x81, "").unwrap().to_vec();
    assert_eq!(challenge.len(), 8);
    let answer = tlv::encode(0x7C, &tlv::encode(0x82, &key.encrypt_block(&challenge)));
    assert_eq!(run(&mut c, &Command::new(0, 0x87, 0x03, 0x9B).with_data(answer.clone())).sw.0, 0x9000);
    assert_eq!(put_object(&mut c, 0x5FC102, &[0x34, 0x01, 0x00]), 0x9000, "authenticated");
    assert_eq!(
        run(&mut c, &Command::new(0, 0x87, 0x03, 0x9B).with_data(answer)).sw.0,
        0x6982,
        "a challenge answers once"
    );

    // Wrong key.
    let mut c = card();
    select(&mut c);
    let wrong = ManagementKey::new(ManagementKeyAlgorithm::TripleDes, &[9u8; 24]).unwrap();
    assert_eq!(authenticate(&mut c, &wrong), 0x6982);
    assert_eq!(put_object(&mut c, 0x5FC102, &[0x34, 0x01, 0x00]), 0x6982);

    // P1 must match the key's algorithm.
    let aes = ManagementKey::factory_default(ManagementKeyAlgorithm::Aes192);
    assert_eq!(authenticate(&mut c, &aes), 0x6A80);
}

#[test]
fn opensc_random_request_with_p1_00_gets_a_challenge() {
    for alg in [ManagementKeyAlgorithm::TripleDes, ManagementKeyAlgorithm::Aes192] {
        let mut c = Card::factory_fresh(CardConfig::new(1).with_management_key_algorithm(alg));
        select(&mut c);
        let (data, sw) = raw(&mut c, "0087009B047C028100");
        assert_eq!(sw, 0x9000);
        let inner = tlv::require(&data, 0x7C, "").unwrap();
        assert_eq!(tlv::require(inner, 0x81, "").unwrap().len(), alg.block_len());
    }
}

#[test]
fn aes_management_keys_authenticate() {
    for alg in
        [ManagementKeyAlgorithm::Aes128, ManagementKeyAlgorithm::Aes192, ManagementKeyAlgorithm::Aes256]
    {
        let mut c = Card::factory_fresh(CardConfig::new(7).with_management_key_algorithm(alg));
        select(&mut c);
        assert_eq!(authenticate(&mut c, &default_key()), 0x6A80, "3DES P1 refused for {alg:?}");
        assert_eq!(authenticate(&mut c, &ManagementKey::factory_default(alg)), 0x9000, "{alg:?}");
    }
}

#[test]
fn put_data_needs_authentication_and_round_trips() {
    let mut c = card();
    select(&mut c);
    let chuid = [0x30, 0x02, 0xD4, 0xE7, 0x34, 0x01, 0x55, 0xFE, 0x00];
    assert_eq!(put_object(&mut c, 0x5FC102, &chuid), 0x6982);
    assert_eq!(authenticate(&mut c, &default_key()), 0x9000);
    assert_eq!(put_object(&mut c, 0x5FC102, &chuid), 0x9000);
    let r = get_object(&mut c, 0x5FC102);
    assert!(r.is_ok());
    assert_eq!(r.data, tlv::encode(0x53, &chuid));
    assert_eq!(put_object(&mut c, 0x5FC102, &[]), 0x9000, "53 00 deletes");
    assert_eq!(get_object(&mut c, 0x5FC102).sw.0, 0x6A82);
    assert_eq!(put_object(&mut c, 0x123456, &[1]), 0x6A80, "unknown object");
    // Discovery is written as itself.
    let disc = hex::decode("7E124F0BA0000003080000100001005F2F024010").unwrap();
    assert_eq!(run(&mut c, &Command::new(0, 0xDB, 0x3F, 0xFF).with_data(disc.clone())).sw.0, 0x9000);
    assert_eq!(get_object(&mut c, 0x7E).data, disc);
}

#[test]
fn large_objects_use_chaining_and_get_response_and_have_a_limit() {
    let mut c = admin_card();
    let cert: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
    let mut value = tlv::encode(0x70, &cert);
    value.extend([0x71, 0x01, 0x00, 0xFE, 0x00]);
    assert_eq!(put_object(&mut c, 0x5FC105, &value), 0x9000);
    // Raw view: the first block announces the rest with 61xx.
    let (first, sw) = raw(&mut c, "00CB3FFF055C035FC10500");
    assert_eq!(first.len(), 256);
    assert_eq!(sw, 0x6100);
    let (second, sw) = raw(&mut c, "00C0000000");
    assert_eq!((second.len(), sw), (256, 0x6100));
    assert_eq!(get_object(&mut c, 0x5FC105).data, tlv::encode(0x53, &value));
    // Over the limit: refused, old value kept.
    assert_eq!(put_object(&mut c, 0x5FC105, &vec![0xAB; 3053]), 0x6A84);
    assert_eq!(get_object(&mut c, 0x5FC105).data, tlv::encode(0x53, &value));
    assert_eq!(put_object(&mut c, 0x5FC105, &vec![0xAB; 3052]), 0x9000);
}

#[test]
fn an_interrupted_chain_is_discarded() {
    let mut c = admin_card();
    // First block of a PUT DATA chain, then an unrelated command: the chain is dropped.
    let (_, sw) = raw(&mut c, "10DB3FFF055C035FC102");
    assert_eq!(sw, 0x9000);
    assert_eq!(raw(&mut c, "00FD0000").1, 0x9000);
    assert_eq!(raw(&mut c, "00DB3FFF0553033401AA").1, 0x6A80, "the tail alone is not a PUT DATA");
}

#[test]
fn pin_protected_objects_need_the_pin_to_read() {
    let mut c = admin_card();
    assert_eq!(put_object(&mut c, 0x5FC109, &[0x01, 0x01, 0x41]), 0x9000);
    assert_eq!(get_object(&mut c, 0x5FC109).sw.0, 0x6982);
    assert_eq!(get_object(&mut c, 0x5FC108).sw.0, 0x6982, "even when absent");
    assert_eq!(verify(&mut c, b"123456"), 0x9000);
    assert!(get_object(&mut c, 0x5FC109).is_ok());
    assert_eq!(get_object(&mut c, 0x5FC108).sw.0, 0x6A82);
}

#[test]
fn generate_needs_authentication() {
    let mut c = card();
    select(&mut c);
    assert_eq!(generate(&mut c, 0x9A, 0x11, &[]).sw.0, 0x6982);
    assert_eq!(authenticate(&mut c, &default_key()), 0x9000);
    assert_eq!(generate(&mut c, 0x9A, 0x06, &[]).sw.0, 0x6A80, "RSA-1024 not offered");
    assert_eq!(generate(&mut c, 0x9B, 0x11, &[]).sw.0, 0x6A86, "9B is not a key slot");
}

#[test]
fn p256_keygen_and_ecdsa_verify_with_the_returned_public_key() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let mut c = admin_card();
    let r = generate(&mut c, 0x9A, 0x11, &[]);
    assert!(r.is_ok());
    let point = public_point(&r);
    assert_eq!((point.len(), point[0]), (65, 0x04));
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    let digest = sha256(b"hello card");
    assert_eq!(sign(&mut c, 0x9A, 0x11, &digest).sw.0, 0x6982, "9A needs the PIN");
    assert_eq!(verify(&mut c, b"123456"), 0x9000);
    let r = sign(&mut c, 0x9A, 0x11, &digest);
    assert!(r.is_ok());
    let sig = p256::ecdsa::Signature::from_der(&signature_of(&r)).unwrap();
    vk.verify_prehash(&digest, &sig).unwrap();
    // PIN-once: a second signature needs no new VERIFY.
    assert!(sign(&mut c, 0x9A, 0x11, &digest).is_ok());
    assert_eq!(sign(&mut c, 0x9A, 0x14, &digest).sw.0, 0x6A80, "P1 must be the key's algorithm");
    assert_eq!(sign(&mut c, 0x9D, 0x11, &digest).sw.0, 0x6A88, "empty slot");
}

#[test]
fn p384_keygen_and_ecdsa_verify() {
    use p384::ecdsa::signature::hazmat::PrehashVerifier;
    let mut c = admin_card();
    let r = generate(&mut c, 0x9E, 0x14, &[]);
    let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(&public_point(&r)).unwrap();
    let digest = {
        use sha2::Digest;
        sha2::Sha384::digest(b"x").to_vec()
    };
    // 9E: no PIN needed.
    let r = sign(&mut c, 0x9E, 0x14, &digest);
    assert!(r.is_ok());
    let sig = p384::ecdsa::Signature::from_der(&signature_of(&r)).unwrap();
    vk.verify_prehash(&digest, &sig).unwrap();
}

#[test]
fn ecdh_agrees_with_the_host() {
    let mut c = admin_card();
    let card_point = public_point(&generate(&mut c, 0x9D, 0x11, &[]));
    let host = p256::SecretKey::random(&mut rand::rngs::OsRng);
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let host_point = host.public_key().to_encoded_point(false);
    verify(&mut c, b"123456");
    let mut body = vec![0x82, 0x00];
    body.extend(tlv::encode(0x85, host_point.as_bytes()));
    let r = run(&mut c, &Command::new(0, 0x87, 0x11, 0x9D).with_data(tlv::encode(0x7C, &body)));
    assert!(r.is_ok());
    let card_pk = p256::PublicKey::from_sec1_bytes(&card_point).unwrap();
    let expected = p256::ecdh::diffie_hellman(host.to_nonzero_scalar(), card_pk.as_affine());
    assert_eq!(signature_of(&r), expected.raw_secret_bytes().to_vec());
}

#[test]
fn pin_always_on_9c_is_consumed_by_one_operation() {
    let mut c = admin_card();
    generate(&mut c, 0x9C, 0x11, &[]);
    let digest = sha256(b"m");
    assert_eq!(sign(&mut c, 0x9C, 0x11, &digest).sw.0, 0x6982);
    assert_eq!(verify(&mut c, b"123456"), 0x9000);
    assert!(sign(&mut c, 0x9C, 0x11, &digest).is_ok());
    assert_eq!(sign(&mut c, 0x9C, 0x11, &digest).sw.0, 0x6982, "second use needs a new VERIFY");
    assert_eq!(raw(&mut c, "00200080").1, 0x9000, "the session login itself remains");
    assert_eq!(verify(&mut c, b"123456"), 0x9000);
    assert!(sign(&mut c, 0x9C, 0x11, &digest).is_ok());
}

#[test]
fn pin_policy_from_generation_overrides_the_slot_default() {
    let mut c = admin_card();
    // 9A with PIN-always (AA 03) and 9C with PIN-never (AA 01).
    assert!(generate(&mut c, 0x9A, 0x11, &[0xAA, 0x01, 0x03]).is_ok());
    assert!(generate(&mut c, 0x9C, 0x11, &[0xAA, 0x01, 0x01, 0xAB, 0x01, 0x01]).is_ok());
    let digest = sha256(b"m");
    assert!(sign(&mut c, 0x9C, 0x11, &digest).is_ok(), "PIN-never");
    verify(&mut c, b"123456");
    assert!(sign(&mut c, 0x9A, 0x11, &digest).is_ok());
    assert_eq!(sign(&mut c, 0x9A, 0x11, &digest).sw.0, 0x6982, "PIN-always");
}

#[test]
fn rsa2048_keygen_via_get_response_and_raw_private_operation() {
    use rsa::traits::PublicKeyParts;
    let mut c = admin_card();
    // Raw: the 7F49 answer (> 256 bytes) comes back through 61xx.
    let (first, sw) = raw(&mut c, "0047009A05AC03800107");
    assert_eq!(first.len(), 256);
    assert_eq!(sw >> 8, 0x61);
    let (rest, sw) = raw(&mut c, &format!("00C00000{:02X}", sw & 0xFF));
    assert_eq!(sw, 0x9000);
    let full = [first, rest].concat();
    let inner = tlv::require(&full, 0x7F49, "").unwrap();
    let n = rsa::BigUint::from_bytes_be(tlv::require(inner, 0x81, "").unwrap());
    let e = rsa::BigUint::from_bytes_be(tlv::require(inner, 0x82, "").unwrap());
    assert_eq!(e, rsa::BigUint::from(65537u32));
    let public = rsa::RsaPublicKey::new(n, e).unwrap();
    assert_eq!(public.size(), 256);

    // A PKCS#1 v1.5 block padded on the host, sent with chaining (OpenSC style).
    let mut block = vec![0x00, 0x01];
    block.resize(256 - 36, 0xFF);
    block.push(0x00);
    block.extend_from_slice(&[0x42; 35]);
    verify(&mut c, b"123456");
    let r = sign(&mut c, 0x9A, 0x07, &block);
    assert!(r.is_ok(), "{:?}", r.sw);
    let sig = signature_of(&r);
    assert_eq!(sig.len(), 256);
    let m = rsa::hazmat::rsa_encrypt(&public, &rsa::BigUint::from_bytes_be(&sig)).unwrap();
    let mut recovered = m.to_bytes_be();
    recovered.insert(0, 0);
    assert_eq!(recovered, block, "s^e mod n gives back the block");
    assert_eq!(sign(&mut c, 0x9A, 0x07, &[1; 255]).sw.0, 0x6A80, "input must be the modulus size");
}

#[test]
fn power_cycle_clears_security_state_and_selection() {
    let mut c = admin_card();
    verify(&mut c, b"123456");
    c.reset();
    assert_eq!(raw(&mut c, "00200080").1, 0x6985, "not selected after reset");
    select(&mut c);
    assert_eq!(raw(&mut c, "00200080").1, 0x63C3);
    assert_eq!(put_object(&mut c, 0x5FC102, &[0x34, 0x01, 0x00]), 0x6982);
    c.power_off();
    assert_eq!(raw(&mut c, "00FD0000").1, 0x6985);
}

#[test]
fn atr_is_t1_with_a_correct_checksum() {
    let c = card();
    let atr = c.atr();
    assert_eq!(&atr[..9], &[0x3B, 0xF8, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15]);
    assert_eq!(&atr[9..17], b"CardStat");
    assert_eq!(atr[1..].iter().fold(0u8, |a, b| a ^ b), 0, "TCK makes the XOR of T0..TCK zero");
    assert_ne!(atr[1] & 0xF0, 0x80, "not the 3B 8x pattern");
}
