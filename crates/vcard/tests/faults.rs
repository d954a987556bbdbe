//! Faults and latency through the in-process Session.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use apdu::{tlv, Command, Transport, TransportError};
use common::*;
use piv::ManagementKey;
use vcard::{Card, CardConfig, Corruption, Faults, Latency, Session};

fn session(faults: Faults) -> Session {
    Session::with_card(Card::factory_fresh(CardConfig::new(42).with_faults(faults)))
}

fn tx(s: &mut Session, hex_apdu: &str) -> Result<(Vec<u8>, u16), TransportError> {
    s.transmit(&hex::decode(hex_apdu).unwrap()).map(split)
}

/// Selects and authenticates through a session (5 APDUs: select + 2 auth steps).
fn prepare(s: &mut Session) {
    assert_eq!(tx(s, "00A4040005A000000308").unwrap().1, 0x9000);
    let key: ManagementKey = default_key();
    let (r, _) = tx(s, "0087039B047C028000").unwrap();
    let w = key.decrypt_block(tlv::require(tlv::require(&r, 0x7C, "").unwrap(), 0x80, "").unwrap());
    let mut body = tlv::encode(0x80, &w);
    body.extend(tlv::encode(0x81, &[1; 8]));
    let cmd = Command::new(0, 0x87, 3, 0x9B).with_data(tlv::encode(0x7C, &body));
    assert_eq!(split(s.transmit(&cmd.to_bytes().unwrap()).unwrap()).1, 0x9000);
}

const PUT_CHUID: &str = "00DB3FFF0A5C035FC102530334017F";

#[test]
fn tear_before_execution_leaves_the_card_unchanged() {
    let mut s = session(Faults::tear_at(0xDB));
    prepare(&mut s);
    assert_eq!(tx(&mut s, PUT_CHUID), Err(TransportError::CardRemoved));
    assert_eq!(tx(&mut s, "00FD0000"), Err(TransportError::CardRemoved), "stays out until reinserted");
    s.reinsert();
    assert!(s.card().lock().unwrap().object(0x5FC102).is_none(), "not applied");
    // The card came back powered-up fresh: authentication is gone, and the fault fired once.
    assert_eq!(tx(&mut s, "00A4040005A000000308").unwrap().1, 0x9000);
    assert_eq!(tx(&mut s, PUT_CHUID).unwrap().1, 0x6982);
    prepare(&mut s);
    assert_eq!(tx(&mut s, PUT_CHUID).unwrap().1, 0x9000);
}

#[test]
fn tear_after_execution_applies_the_command_but_loses_the_answer() {
    let mut s = session(Faults::tear_at(0xDB).after_execution());
    prepare(&mut s);
    assert_eq!(tx(&mut s, PUT_CHUID), Err(TransportError::CardRemoved));
    s.reinsert();
    assert_eq!(s.card().lock().unwrap().object(0x5FC102), Some(&[0x53, 0x03, 0x34, 0x01, 0x7F][..]));
}

#[test]
fn tear_after_n_apdus_counts_from_insertion() {
    let mut s = session(Faults { tear_after_apdus: Some(2), repeat: true, ..Faults::default() });
    assert!(tx(&mut s, "00A4040005A000000308").is_ok());
    assert!(tx(&mut s, "00FD0000").is_ok());
    assert_eq!(tx(&mut s, "00F80000"), Err(TransportError::CardRemoved));
    s.reinsert();
    assert!(tx(&mut s, "00A4040005A000000308").is_ok());
    assert!(tx(&mut s, "00FD0000").is_ok());
    assert_eq!(tx(&mut s, "00F80000"), Err(TransportError::CardRemoved), "repeat re-arms per insertion");
}

#[test]
fn exchange_reports_a_tear_as_card_removed() {
    let card = Card::factory_fresh(CardConfig::new(1).with_faults(Faults::tear_after(1)));
    let mut s = Session::with_card(card);
    assert!(apdu::exchange(&mut s, &Command::new(0, 0xA4, 4, 0).with_data(piv::types::PIV_RID)).is_ok());
    let r = apdu::exchange(&mut s, &Command::new(0, 0xFD, 0, 0));
    assert_eq!(r, Err(apdu::Error::Transport(TransportError::CardRemoved)));
}

#[test]
fn corrupted_and_truncated_responses() {
    let mut s = session(Faults { corrupt_response_at: Some(1), ..Faults::default() });
    tx(&mut s, "00A4040005A000000308").unwrap();
    assert_eq!(tx(&mut s, "00FD0000").unwrap(), (vec![!5, !4, !3], 0x9000));
    assert_eq!(tx(&mut s, "00FD0000").unwrap(), (vec![5, 4, 3], 0x9000), "fires once");

    let mut s = session(Faults {
        corrupt_response_at: Some(1),
        corruption: Corruption::Truncate(1),
        ..Faults::default()
    });
    tx(&mut s, "00A4040005A000000308").unwrap();
    assert_eq!(s.transmit(&[0, 0xFD, 0, 0]).unwrap().len(), 1);
    assert!(apdu::exchange(&mut s, &Command::new(0, 0xFD, 0, 0)).is_ok());
}

#[test]
fn latency_model_is_accounted_in_busy_time() {
    let latency = Latency {
        per_apdu: Duration::from_millis(3),
        sign_ecc: Duration::from_millis(20),
        ..Latency::zero()
    };
    let mut c = Card::factory_fresh(CardConfig::new(3).with_latency(latency));
    select(&mut c);
    assert_eq!(c.stats().apdus, 1);
    assert!(c.stats().busy >= Duration::from_millis(3));
    assert_eq!(authenticate(&mut c, &default_key()), 0x9000);
    generate(&mut c, 0x9E, 0x11, &[]);
    let before = c.stats();
    sign(&mut c, 0x9E, 0x11, &sha256(b"t"));
    let after = c.stats();
    assert_eq!(after.apdus, before.apdus + 1);
    assert!(after.busy - before.busy >= Duration::from_millis(23), "per-APDU plus signing cost");
    assert!(after.bytes_in > before.bytes_in && after.bytes_out > before.bytes_out);
    let contact = Latency::contact_card();
    assert!(contact.generate_rsa2048 > contact.generate_p256 && contact.sign_rsa2048 > contact.sign_ecc);
}
