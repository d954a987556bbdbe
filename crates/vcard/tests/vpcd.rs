//! The vpcd wire protocol against a stand-in driver (no pcscd needed).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vcard::vpcd::{VpcdCard, VpcdOptions};
use vcard::{Card, CardConfig, Faults};

fn send(s: &mut TcpStream, payload: &[u8]) {
    let mut frame = (payload.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    s.write_all(&frame).unwrap();
}

fn recv(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

fn accept(l: &TcpListener) -> TcpStream {
    let (s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

fn options() -> VpcdOptions {
    VpcdOptions {
        reconnect: true,
        reinsert_delay: Duration::from_millis(100),
        retry_interval: Duration::from_millis(50),
    }
}

#[test]
fn answers_atr_polls_controls_and_apdus() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let card = Arc::new(Mutex::new(Card::factory_fresh(CardConfig::new(77))));
    let atr = card.lock().unwrap().atr();
    let plugged = VpcdCard::insert_with(listener.local_addr().unwrap(), card, options()).unwrap();
    let mut s = accept(&listener);
    send(&mut s, &[0x01]); // power on: no reply
    send(&mut s, &[0x04]);
    assert_eq!(recv(&mut s).unwrap(), atr);
    send(&mut s, &[0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08]);
    let r = recv(&mut s).unwrap();
    assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
    send(&mut s, &[0x00, 0xF8, 0x00, 0x00]);
    assert_eq!(recv(&mut s).unwrap(), [0, 0, 0, 77, 0x90, 0x00]);
    // Reset clears the selection.
    send(&mut s, &[0x02]);
    send(&mut s, &[0x00, 0xF8, 0x00, 0x00]);
    assert_eq!(recv(&mut s).unwrap(), [0x69, 0x85]);
    assert_eq!(plugged.insertions(), 1);
    plugged.remove();
    assert_eq!(recv(&mut s), None, "removal closes the socket");
}

#[test]
fn a_tear_closes_the_socket_without_answer_and_the_card_comes_back() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = CardConfig::new(78).with_faults(Faults::tear_at(0xFD));
    let card = Arc::new(Mutex::new(Card::factory_fresh(config)));
    let plugged = VpcdCard::insert_with(listener.local_addr().unwrap(), card, options()).unwrap();
    let mut s = accept(&listener);
    send(&mut s, &[0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08]);
    assert!(recv(&mut s).is_some());
    send(&mut s, &[0x00, 0xFD, 0x00, 0x00]);
    assert_eq!(recv(&mut s), None, "no response, connection closed");
    let mut s = accept(&listener);
    send(&mut s, &[0x00, 0xA4, 0x04, 0x00, 0x05, 0xA0, 0x00, 0x00, 0x03, 0x08]);
    assert!(recv(&mut s).is_some());
    assert_eq!(plugged.insertions(), 2, "counted once the card answers");
    send(&mut s, &[0x00, 0xFD, 0x00, 0x00]);
    assert_eq!(recv(&mut s).unwrap(), [5, 4, 3, 0x90, 0x00], "the fault fired once");
    // The driver going away (pcscd restart) also leads to a reconnection.
    drop(s);
    let mut s = accept(&listener);
    send(&mut s, &[0x04]);
    assert!(recv(&mut s).is_some());
    assert_eq!(plugged.insertions(), 3);
    plugged.remove();
}

#[test]
fn insert_fails_when_no_driver_listens() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let card = Arc::new(Mutex::new(Card::factory_fresh(CardConfig::new(1))));
    assert!(VpcdCard::insert(addr, card).is_err());
}
