//! Shared helpers: drive a card with raw APDUs and with the apdu crate's exchange.
#![allow(dead_code, clippy::unwrap_used)]

use apdu::{tlv, Command, Response, Transport, TransportError};
use piv::{ManagementKey, ManagementKeyAlgorithm};
use vcard::{Card, CardConfig};

/// A transport straight into a card (no faults).
pub struct Direct<'a>(pub &'a mut Card);

impl Transport for Direct<'_> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.0.process(command))
    }
}

pub fn card() -> Card {
    Card::factory_fresh(CardConfig::new(12_345_678))
}

/// Sends raw hex; returns (data, SW).
pub fn raw(card: &mut Card, hex_apdu: &str) -> (Vec<u8>, u16) {
    let bytes = hex::decode(hex_apdu.replace(' ', "")).unwrap();
    split(card.process(&bytes))
}

pub fn split(mut r: Vec<u8>) -> (Vec<u8>, u16) {
    assert!(r.len() >= 2, "response shorter than a status word");
    let sw = u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]]);
    r.truncate(r.len() - 2);
    (r, sw)
}

/// Full exchange with chaining and GET RESPONSE.
pub fn run(card: &mut Card, cmd: &Command) -> Response {
    apdu::exchange(&mut Direct(card), cmd).unwrap()
}

pub fn select(card: &mut Card) {
    let (_, sw) = raw(card, "00A4040005A000000308");
    assert_eq!(sw, 0x9000);
}

pub fn padded(pin: &[u8]) -> Vec<u8> {
    let mut v = pin.to_vec();
    v.resize(8, 0xFF);
    v
}

pub fn verify(card: &mut Card, pin: &[u8]) -> u16 {
    run(card, &Command::new(0, 0x20, 0, 0x80).with_data(padded(pin))).sw.0
}

/// Mutual authentication with the management key (as yubico-piv-tool does).
pub fn authenticate(card: &mut Card, key: &ManagementKey) -> u16 {
    let p1 = key.algorithm().id();
    let r = run(card, &Command::new(0, 0x87, p1, 0x9B).with_data(tlv::encode(0x7C, &[0x80, 0x00])));
    if !r.is_ok() {
        return r.sw.0;
    }
    let inner = tlv::require(&r.data, 0x7C, "7C").unwrap();
    let encrypted_witness = tlv::require(inner, 0x80, "80").unwrap();
    let witness = key.decrypt_block(encrypted_witness);
    let challenge = vec![0x5A; key.algorithm().block_len()];
    let mut body = tlv::encode(0x80, &witness);
    body.extend(tlv::encode(0x81, &challenge));
    let r = run(card, &Command::new(0, 0x87, p1, 0x9B).with_data(tlv::encode(0x7C, &body)));
    if r.is_ok() {
        let inner = tlv::require(&r.data, 0x7C, "7C").unwrap();
        assert_eq!(tlv::require(inner, 0x82, "82").unwrap(), key.encrypt_block(&challenge).as_slice());
    }
    r.sw.0
}

pub fn default_key() -> ManagementKey {
    ManagementKey::factory_default(ManagementKeyAlgorithm::TripleDes)
}

/// Generates a key; returns the 7F49 content.
pub fn generate(card: &mut Card, slot: u8, alg: u8, extra: &[u8]) -> Response {
    let mut ac = vec![0x80, 0x01, alg];
    ac.extend_from_slice(extra);
    run(card, &Command::new(0, 0x47, 0, slot).with_data(tlv::encode(0xAC, &ac)))
}

/// GENERAL AUTHENTICATE sign: returns the response.
pub fn sign(card: &mut Card, slot: u8, alg: u8, input: &[u8]) -> Response {
    let mut body = vec![0x82, 0x00];
    body.extend(tlv::encode(0x81, input));
    run(card, &Command::new(0, 0x87, alg, slot).with_data(tlv::encode(0x7C, &body)))
}

pub fn signature_of(r: &Response) -> Vec<u8> {
    let inner = tlv::require(&r.data, 0x7C, "7C").unwrap();
    tlv::require(inner, 0x82, "82").unwrap().to_vec()
}

pub fn public_point(r: &Response) -> Vec<u8> {
    let inner = tlv::require(&r.data, 0x7F49, "7F49").unwrap();
    tlv::require(inner, 0x86, "86").unwrap().to_vec()
}

pub fn put_object(card: &mut Card, tag: u32, value: &[u8]) -> u16 {
    let mut data = tlv::encode(0x5C, &tag.to_be_bytes()[1..]);
    data.extend(tlv::encode(0x53, value));
    run(card, &Command::new(0, 0xDB, 0x3F, 0xFF).with_data(data)).sw.0
}

pub fn get_object(card: &mut Card, tag: u32) -> Response {
    let t = tag.to_be_bytes();
    let start = t.iter().position(|b| *b != 0).unwrap();
    run(card, &Command::new(0, 0xCB, 0x3F, 0xFF).with_data(tlv::encode(0x5C, &t[start..])).with_le(256))
}

/// A ready card: selected, management key authenticated.
pub fn admin_card() -> Card {
    let mut c = card();
    select(&mut c);
    assert_eq!(authenticate(&mut c, &default_key()), 0x9000);
    c
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}
