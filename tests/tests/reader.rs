//! The reader crate against the real lab: pcscd, vpcd readers, and a stub
//! card on the vpcd wire protocol (no PIV needed here).
#![allow(clippy::unwrap_used)]

use std::process::Command as Process;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use apdu::{Transport, TransportError};
use e2e::lab::{control, Lab, LabReader, StubCard, WAIT};
use reader::{Error, ReaderEvent, Readers, Watcher};

/// Answers `90 00` to everything and echoes the command's data first, so a
/// test can tell the card really saw the command.
fn echo(apdu: &[u8]) -> Vec<u8> {
    let mut r = apdu.get(5..).unwrap_or_default().to_vec();
    r.extend_from_slice(&[0x90, 0x00]);
    r
}

/// A card with one PIN-verified flag, like a PIV PIN: `00 20 00 80 08 …`
/// verifies, `00 20 00 80 00` asks (9000 verified, 63C3 not). Power-off and
/// reset from the driver clear it, as on a real card.
fn pin_card(reader: &LabReader) -> StubCard {
    let verified = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&verified);
    let on_power = move |_control: u8| verified.store(false, Ordering::SeqCst);
    let respond = move |apdu: &[u8]| match apdu {
        [0x00, 0x20, 0x00, 0x80, 0x08, ..] => {
            flag.store(true, Ordering::SeqCst);
            vec![0x90, 0x00]
        }
        [0x00, 0x20, 0x00, 0x80] | [0x00, 0x20, 0x00, 0x80, 0x00] => {
            if flag.load(Ordering::SeqCst) {
                vec![0x90, 0x00]
            } else {
                vec![0x63, 0xC3]
            }
        }
        _ => vec![0x6D, 0x00],
    };
    let card = reader.insert_stub_with_power(StubCard::DEFAULT_ATR, respond, on_power);
    reader.wait_card_present(WAIT);
    card
}

const VERIFY_123456: &[u8] = &[0x00, 0x20, 0x00, 0x80, 0x08, b'1', b'2', b'3', b'4', b'5', b'6', 0xFF, 0xFF];
const VERIFY_STATUS: &[u8] = &[0x00, 0x20, 0x00, 0x80, 0x00];

/// Waits for the next events that concern `reader` (other tests use other
/// readers at the same time, so their events are skipped).
fn next_events_for(watcher: &mut Watcher, reader: &str) -> Vec<ReaderEvent> {
    let deadline = Instant::now() + WAIT;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        assert!(!remaining.is_zero(), "no event for {reader} within {WAIT:?}");
        let events: Vec<ReaderEvent> = watcher
            .wait_for_change(Some(remaining))
            .unwrap()
            .into_iter()
            .filter(|e| match e {
                ReaderEvent::CardInserted { reader: r, .. }
                | ReaderEvent::CardRemoved { reader: r }
                | ReaderEvent::ReaderAdded { reader: r }
                | ReaderEvent::ReaderRemoved { reader: r } => r == reader,
            })
            .collect();
        if !events.is_empty() {
            return events;
        }
    }
}

#[test]
fn listing_shows_every_lab_reader_in_opensc_order() {
    let lab = Lab::from_env();
    let listed = Readers::establish().unwrap().list().unwrap();
    let names = lab.reader_names();
    assert_eq!(names.len(), 8, "the lab has eight readers: {names:?}");
    for name in &names {
        assert!(listed.iter().any(|s| &s.name == name), "PC/SC list {listed:?} lacks lab reader {name}");
        // yubico-piv-tool -r takes the first reader whose name contains the text.
        for other in &names {
            assert!(name == other || !other.contains(name.as_str()), "{name:?} is inside {other:?}");
        }
    }

    let reader = lab.acquire_reader();
    let opensc = Process::new("opensc-tool").arg("-l").output().expect("opensc-tool runs");
    let opensc = String::from_utf8_lossy(&opensc.stdout);
    let line = opensc
        .lines()
        .find(|l| l.starts_with(&format!("{} ", reader.index_for_opensc)))
        .unwrap_or_else(|| panic!("opensc-tool -l has no reader {}:\n{opensc}", reader.index_for_opensc));
    assert!(line.trim_end().ends_with(&reader.name), "opensc-tool numbers {} as {line:?}", reader.name);
}

#[test]
fn insert_and_remove_are_reported_with_the_atr() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let mut watcher = Readers::establish().unwrap().watch().unwrap();
    let before = watcher.readers().into_iter().find(|r| r.name == reader.name).unwrap();
    assert!(!before.card_present, "the pool hands out empty readers");

    let card = reader.insert_stub(StubCard::DEFAULT_ATR, echo);
    assert_eq!(
        next_events_for(&mut watcher, &reader.name),
        vec![ReaderEvent::CardInserted { reader: reader.name.clone(), atr: StubCard::DEFAULT_ATR.to_vec() }]
    );
    let state = watcher.readers().into_iter().find(|r| r.name == reader.name).unwrap();
    assert_eq!(state.atr.as_deref(), Some(StubCard::DEFAULT_ATR), "the snapshot follows the events");

    card.remove();
    assert_eq!(
        next_events_for(&mut watcher, &reader.name),
        vec![ReaderEvent::CardRemoved { reader: reader.name.clone() }]
    );
}

#[test]
fn list_reports_the_card_and_its_atr() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let _card = reader.insert_stub(StubCard::DEFAULT_ATR, echo);
    reader.wait_card_present(WAIT);
    let state =
        Readers::establish().unwrap().list().unwrap().into_iter().find(|r| r.name == reader.name).unwrap();
    assert!(state.card_present);
    assert_eq!(state.atr.as_deref(), Some(StubCard::DEFAULT_ATR));
}

#[test]
fn a_cancel_from_another_thread_ends_a_blocking_wait() {
    let _lab = Lab::from_env();
    let mut watcher = Watcher::new().unwrap();
    let cancel = watcher.cancel_handle();
    let (tx, rx) = mpsc::channel();
    let waiting = thread::spawn(move || {
        // Other tests' cards may come and go meanwhile: wait until cancelled.
        loop {
            match watcher.wait_for_change(None) {
                Ok(_) => continue,
                Err(e) => {
                    tx.send(e).unwrap();
                    return;
                }
            }
        }
    });
    cancel.cancel().unwrap();
    let outcome = rx.recv_timeout(WAIT).expect("the wait ended after cancel");
    assert_eq!(outcome, Error::Cancelled);
    waiting.join().unwrap();
}

#[test]
fn a_cancel_before_the_wait_is_not_lost() {
    let _lab = Lab::from_env();
    let mut watcher = Watcher::new().unwrap();
    watcher.cancel_handle().cancel().unwrap();
    assert_eq!(watcher.wait_for_change(None), Err(Error::Cancelled));
    // Consumed: the next wait runs normally (and times out here).
    let outcome = watcher.wait_for_change(Some(Duration::ZERO));
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[test]
fn commands_reach_the_card_inside_and_outside_transactions() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let _card = reader.insert_stub(StubCard::DEFAULT_ATR, echo);
    reader.wait_card_present(WAIT);
    let mut conn = reader.connect();
    assert_eq!(conn.atr().unwrap(), StubCard::DEFAULT_ATR);
    assert_eq!(conn.transmit(&[0x00, 0xCA, 0x00, 0x00, 0x02, 0xAB, 0xCD]).unwrap(), [0xAB, 0xCD, 0x90, 0x00]);

    let mut tx = conn.transaction().unwrap();
    assert!(!tx.was_reset());
    let response =
        apdu::exchange(&mut tx, &apdu::Command::new(0x00, 0xCA, 0x01, 0x02).with_data(vec![7; 300])).unwrap();
    assert!(response.is_ok(), "a chained command goes through: {response:?}");
    tx.end().unwrap();
}

#[test]
fn transmit_after_removal_is_a_typed_card_removed() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let card = reader.insert_stub(StubCard::DEFAULT_ATR, echo);
    reader.wait_card_present(WAIT);
    let mut conn = reader.connect();
    conn.transmit(&[0x00, 0xCA, 0x00, 0x00]).unwrap();

    card.remove();
    reader.wait_card_absent(WAIT);
    assert_eq!(conn.transmit(&[0x00, 0xCA, 0x00, 0x00]), Err(TransportError::CardRemoved));
    assert_eq!(conn.transaction().err(), Some(Error::CardRemoved));
    // A fresh connection to the empty reader says there is no card.
    let fresh = Readers::establish().unwrap().connect(&reader.name);
    assert_eq!(fresh.err(), Some(Error::NoCard));
}

#[test]
fn reconnect_reaches_the_card_put_back_after_a_removal() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let first = reader.insert_stub(StubCard::DEFAULT_ATR, |_| vec![0x90, 0x00]);
    reader.wait_card_present(WAIT);
    let mut conn = reader.connect();
    first.remove();
    reader.wait_card_absent(WAIT);
    assert_eq!(conn.reconnect(), Err(Error::NoCard), "nothing to reconnect to yet");

    let _second = reader.insert_stub(StubCard::DEFAULT_ATR, |_| vec![0x90, 0x01]);
    reader.wait_card_present(WAIT);
    assert_eq!(conn.transmit(&[0x00, 0xCA, 0x00, 0x00]), Err(TransportError::CardRemoved), "old handle");
    conn.reconnect().unwrap();
    assert_eq!(conn.transmit(&[0x00, 0xCA, 0x00, 0x00]).unwrap(), [0x90, 0x01], "the second card answers");
}

#[test]
fn a_verified_pin_survives_disconnect_and_reconnect() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let card = pin_card(&reader);

    let mut conn = reader.connect();
    assert_eq!(conn.transmit(VERIFY_STATUS).unwrap(), [0x63, 0xC3], "not verified at first");
    assert_eq!(conn.transmit(VERIFY_123456).unwrap(), [0x90, 0x00]);
    drop(conn);

    let mut conn = reader.connect();
    assert_eq!(
        conn.transmit(VERIFY_STATUS).unwrap(),
        [0x90, 0x00],
        "dropping the connection must leave the card (no reset): driver sent {:?}",
        card.controls()
    );
    conn.disconnect().unwrap();
    assert!(!card.controls().contains(&control::RESET), "no reset reached the card: {:?}", card.controls());
}

#[test]
fn a_reset_by_another_application_is_reported_then_recovered() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let card = pin_card(&reader);
    let mut conn = reader.connect();
    assert_eq!(conn.transmit(VERIFY_123456).unwrap(), [0x90, 0x00]);

    // Another application resets the card.
    let reset = Process::new("opensc-tool")
        .args(["-r", &reader.index_for_opensc.to_string(), "--reset", "warm"])
        .output()
        .expect("opensc-tool runs");
    assert!(reset.status.success(), "opensc-tool --reset: {}", String::from_utf8_lossy(&reset.stderr));

    assert_eq!(conn.transmit(VERIFY_STATUS), Err(TransportError::CardReset));
    let mut tx = conn.transaction().unwrap();
    assert!(tx.was_reset(), "the transaction says the card state was lost");
    assert_eq!(
        tx.transmit(VERIFY_STATUS).unwrap(),
        [0x63, 0xC3],
        "the reset cleared the PIN (driver sent {:?})",
        card.controls()
    );
    drop(tx);
    assert!(
        card.controls().iter().any(|c| [control::RESET, control::POWER_OFF].contains(c)),
        "{:?}",
        card.controls()
    );
}

/// A stub card in `reader` answering `90 00`, and the INS of every command it got.
fn logging_stub(reader: &LabReader) -> (StubCard, Arc<std::sync::Mutex<Vec<u8>>>) {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&log);
    let card = reader.insert_stub(StubCard::DEFAULT_ATR, move |apdu| {
        seen.lock().unwrap().push(apdu[1]);
        vec![0x90, 0x00]
    });
    reader.wait_card_present(WAIT);
    (card, log)
}

#[test]
fn a_held_transaction_makes_other_connections_wait_their_turn() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let (_card, log) = logging_stub(&reader);
    let mut holder = reader.connect();
    // Connected before the transaction: pcsc-lite makes SCardConnect itself
    // wait while another handle holds a transaction.
    let mut other = reader.connect();
    let mut tx = holder.transaction().unwrap();
    tx.transmit(&[0x00, 0x01, 0x00, 0x00]).unwrap();

    let other_done = thread::spawn(move || other.transmit(&[0x00, 0x0B, 0x00, 0x00]));
    // Give the other connection every chance to cut in (it must not).
    thread::sleep(Duration::from_millis(500));
    tx.transmit(&[0x00, 0x02, 0x00, 0x00]).unwrap();
    tx.end().unwrap();

    assert_eq!(other_done.join().unwrap(), Ok(vec![0x90, 0x00]), "pcsc-lite waits, it does not fail");
    // Another process probing every reader (OpenSC does) may reach the card
    // before or after the transaction, never inside it.
    let log = log.lock().unwrap().clone();
    let at = |ins: u8| log.iter().position(|&i| i == ins).unwrap_or_else(|| panic!("{ins:#04x} in {log:?}"));
    assert_eq!(at(0x02), at(0x01) + 1, "nothing interleaves with a transaction: {log:?}");
    assert!(at(0x0B) > at(0x02), "the other connection waited for the end: {log:?}");
}

#[test]
fn a_released_transaction_lets_others_in_before_its_owner_ends_it() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let (_card, log) = logging_stub(&reader);
    let mut holder = reader.connect();
    let mut other = reader.connect();
    let mut tx = holder.transaction().unwrap();
    tx.transmit(&[0x00, 0x01, 0x00, 0x00]).unwrap();
    tx.release().unwrap();
    // Released: the other connection gets through while `tx` is still alive.
    assert_eq!(other.transmit(&[0x00, 0x0B, 0x00, 0x00]), Ok(vec![0x90, 0x00]));
    assert_eq!(
        tx.transmit(&[0x00, 0x02, 0x00, 0x00]),
        Err(TransportError::Other(Error::Closed.to_string())),
        "nothing goes through a released transaction"
    );
    tx.release().unwrap();
    tx.end().unwrap();
    // Another process probing every reader (OpenSC does) may reach the card
    // meanwhile: only this test's own commands count.
    let ours: Vec<u8> =
        log.lock().unwrap().iter().copied().filter(|i| [0x01, 0x02, 0x0B].contains(i)).collect();
    assert_eq!(ours, [0x01, 0x0B], "the released transaction sent nothing more");
}

#[test]
fn an_exclusive_connection_elsewhere_is_a_sharing_violation() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let _card = reader.insert_stub(StubCard::DEFAULT_ATR, echo);
    reader.wait_card_present(WAIT);
    let readers = Readers::establish().unwrap();

    let holder = readers.connect_exclusive(&reader.name).unwrap();
    assert_eq!(readers.connect(&reader.name).err(), Some(Error::SharingViolation));
    assert_eq!(
        TransportError::from(Error::SharingViolation),
        TransportError::SharingViolation,
        "and the PIV layer sees it typed"
    );
    holder.disconnect().unwrap();

    let shared = readers.connect(&reader.name).unwrap();
    assert_eq!(readers.connect_exclusive(&reader.name).err(), Some(Error::SharingViolation));
    drop(shared);
}

/// SP 800-73-4 Part 2 §3.1.1 SELECT of the PIV application.
fn select_piv() -> apdu::Command {
    piv::commands::select()
}

#[test]
fn a_virtual_piv_card_is_seen_and_answers_select() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let mut watcher = Watcher::new().unwrap();
    let card = Arc::new(std::sync::Mutex::new(vcard::Card::factory_fresh(vcard::CardConfig::new(4242))));
    let expected_atr = card.lock().unwrap().atr();
    let _plugged = reader.insert(Arc::clone(&card));
    assert_eq!(
        next_events_for(&mut watcher, &reader.name),
        vec![ReaderEvent::CardInserted { reader: reader.name.clone(), atr: expected_atr }]
    );

    let mut conn = reader.connect();
    let mut tx = conn.transaction().unwrap();
    let response = apdu::exchange(&mut tx, &select_piv()).unwrap();
    assert!(response.is_ok(), "SELECT PIV: {response:?}");
    assert!(
        apdu::tlv::find(&response.data, 0x61).unwrap().is_some(),
        "application property template: {response:?}"
    );
}

#[test]
fn a_virtual_card_keeps_its_verified_pin_across_connections() {
    let lab = Lab::from_env();
    let reader = lab.acquire_reader();
    let (_card, _plugged) = reader.insert_fresh(4343);
    let verify_default: Vec<u8> = [&[0x00, 0x20, 0x00, 0x80, 0x08][..], b"123456", &[0xFF, 0xFF]].concat();

    let mut conn = reader.connect();
    let mut tx = conn.transaction().unwrap();
    assert!(apdu::exchange(&mut tx, &select_piv()).unwrap().is_ok());
    assert_eq!(tx.transmit(&verify_default).unwrap(), [0x90, 0x00], "default PIN");
    tx.end().unwrap();
    conn.disconnect().unwrap();

    let mut conn = reader.connect();
    let mut tx = conn.transaction().unwrap();
    assert!(apdu::exchange(&mut tx, &select_piv()).unwrap().is_ok());
    assert_eq!(tx.transmit(VERIFY_STATUS).unwrap(), [0x90, 0x00], "still verified: nobody reset the card");
}
