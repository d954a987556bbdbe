//! Writes the seed corpora under `fuzz/seeds/<target>/` from real traffic
//! with the virtual card and real objects built by the `piv` crate.
//! Run from `fuzz/`: `cargo run --example make_seeds`. Key pairs and the
//! CA certificate are random, so every run gives different (equally valid)
//! seeds; the committed ones are one such run.

use std::path::Path;

use apdu::{Transport, TransportError};
use cardstation_fuzz::join;
use piv::{
    Ccc, CertificateContainer, Chuid, Discovery, KeyAlgorithm, KeyHistory, LocalCa, ManagementKey,
    ManagementKeyAlgorithm, Pin, PivCard, Slot,
};

/// Keeps every raw command and answer that crosses the session.
struct Recorder {
    inner: vcard::Session,
    log: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Transport for Recorder {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let answer = self.inner.transmit(command)?;
        self.log.push((command.to_vec(), answer.clone()));
        Ok(answer)
    }
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("seeds").join(target);
    std::fs::create_dir_all(&dir).expect("create seed dir");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn data_of(answer: &[u8]) -> &[u8] {
    &answer[..answer.len().saturating_sub(2)]
}

/// The answer to the first logged command with instruction `ins` from `from` on.
fn answer_to(log: &[(Vec<u8>, Vec<u8>)], from: usize, ins: u8) -> (Vec<u8>, Vec<u8>) {
    log[from..].iter().find(|(c, _)| c.get(1) == Some(&ins)).cloned().expect("logged command")
}

fn main() {
    let ca_dir = std::env::temp_dir().join(format!("cardstation-fuzz-seeds-{}", std::process::id()));
    let ca = LocalCa::open_or_create(&ca_dir, "Seed").expect("CA");
    let cert = ca.certificate_der().expect("CA DER");
    let _ = std::fs::remove_dir_all(&ca_dir);

    let chuid =
        Chuid::new([0x11; 16], time::Date::from_calendar_date(2030, time::Month::January, 1).expect("date"))
            .to_bytes();
    let ccc = Ccc::new([0x22; 14]).to_bytes();
    let history = KeyHistory { on_card: 1, off_card: 2, url: Some("http://x.example/k".into()) }.to_bytes();
    let discovery = Discovery::piv_pin_only().to_bytes();
    let container = CertificateContainer::encode(&cert, false).expect("container");
    let container_gz = CertificateContainer::encode(&cert, true).expect("compressed container");

    // A fresh card read by the client, then authenticated: answers only.
    let fresh = vcard::Card::factory_fresh(vcard::CardConfig::new(0x0506_0708));
    let mut reader = PivCard::new(Recorder { inner: vcard::Session::with_card(fresh), log: Vec::new() });
    piv::read_info(&mut reader).expect("read_info of a fresh card");
    reader
        .authenticate(&ManagementKey::factory_default(ManagementKeyAlgorithm::TripleDes))
        .expect("authenticate");
    let answers: Vec<&[u8]> = reader.transport_mut().log.iter().map(|(_, a)| a.as_slice()).collect();
    write("piv_read_info", "fresh-card", &join(&answers));

    let card = vcard::Card::factory_fresh(vcard::CardConfig::new(0x0102_0304));
    let mut piv = PivCard::new(Recorder { inner: vcard::Session::with_card(card), log: Vec::new() });
    piv.select().expect("select");
    let _ = piv.read_discovery().expect("discovery");
    let _ = piv.version().expect("version");
    let _ = piv.serial().expect("serial");
    let _ = piv.pin_status().expect("pin status");
    let _ = piv.metadata(0x80).expect("PIN metadata");
    let _ = piv.metadata(0x9B).expect("management key metadata");
    piv.verify_pin(&Pin::factory_default()).expect("verify");
    let unauthenticated = piv.transport_mut().log.len();
    piv.authenticate(&ManagementKey::factory_default(ManagementKeyAlgorithm::TripleDes))
        .expect("authenticate");
    let after_auth = piv.transport_mut().log.len();
    let _ = piv.generate_key(Slot::Authentication, KeyAlgorithm::EccP256, None, None);
    piv.put_data(piv::types::object::CHUID, &chuid).expect("put CHUID");
    piv.write_certificate(Slot::Authentication, &cert, false).expect("write certificate");
    let _ = piv.read_chuid().expect("read CHUID");
    let _ = piv.read_certificate(Slot::Authentication).expect("read certificate");
    let _ = piv.metadata(Slot::Authentication.key_ref()).expect("key metadata");
    piv.verify_pin(&Pin::factory_default()).expect("verify");
    let _ = piv.sign(Slot::Authentication, KeyAlgorithm::EccP256, b"seed");
    let log = std::mem::take(&mut piv.transport_mut().log);

    let info_from = piv.transport_mut().log.len();
    let _ = piv::read_info(&mut piv).expect("read_info of a personalised card");
    let info_answers: Vec<&[u8]> =
        piv.transport_mut().log[info_from..].iter().map(|(_, a)| a.as_slice()).collect();
    write("piv_read_info", "personalised-card", &join(&info_answers));

    // apdu
    for (i, (command, answer)) in log.iter().enumerate() {
        if command.len() <= 300 {
            write("apdu_command", &format!("logged-{i:02}"), command);
        }
        if answer.len() <= 300 {
            write("apdu_response", &format!("logged-{i:02}"), answer);
        }
    }
    write("apdu_command", "extended-le", &[0x00, 0xCB, 0x3F, 0xFF, 0x00, 0x00, 0x00]);
    write(
        "apdu_command",
        "extended-lc-le",
        &[0x00, 0xDB, 0x3F, 0xFF, 0x00, 0x00, 0x02, 0x5C, 0x00, 0x01, 0x00],
    );
    for (name, bytes) in [("chuid", &chuid), ("ccc", &ccc), ("history", &history), ("discovery", &discovery)]
    {
        write("apdu_tlv", name, bytes);
    }
    write("apdu_tlv", "get-data-answer", data_of(&answer_to(&log, after_auth, 0xCB).1));
    let get_chuid = piv::commands::get_data(piv::types::object::CHUID).to_bytes().expect("command");
    let chuid_answer = apdu::tlv::encode(0x53, &chuid);
    let (head, tail) = chuid_answer.split_at(20);
    write(
        "apdu_exchange",
        "get-response",
        &join(&[&get_chuid, &[head, &[0x61, tail.len() as u8]].concat(), &[tail, &[0x90, 0x00]].concat()]),
    );
    write(
        "apdu_exchange",
        "wrong-le",
        &join(&[&get_chuid, &[0x6C, 0x10], &[&[0xAA; 16][..], &[0x90, 0x00]].concat()]),
    );
    let put = piv::commands::put_data(piv::types::object::CHUID, &[0x55; 300]).to_bytes().expect("command");
    write("apdu_exchange", "chained", &join(&[&put, &[0x90, 0x00], &[0x90, 0x00]]));

    // piv objects
    write("piv_select", "vcard", data_of(&log[0].1));
    write(
        "piv_select",
        "minimal",
        &apdu::tlv::encode(0x61, &apdu::tlv::encode(0x4F, &piv::types::PIV_AID[5..])),
    );
    write("piv_chuid", "chuid", &chuid);
    write("piv_ccc", "ccc", &ccc);
    write("piv_key_history", "history", &history);
    write("piv_key_history", "empty", &KeyHistory::default().to_bytes());
    write("piv_discovery", "pin-only", &discovery);
    write("piv_cert_container", "plain", &container);
    write("piv_cert_container", "gzip", &container_gz);
    write("piv_certificate_summary", "p256-ca", &cert);
    let generated = answer_to(&log, after_auth, 0x47);
    write("piv_public_key", "p256", data_of(&generated.1));
    let mut metadata_n = 0;
    for (command, answer) in &log {
        if command.get(1) == Some(&0xF7) {
            write("piv_metadata", &format!("metadata-{:02X}", command[3]), data_of(answer));
            metadata_n += 1;
        }
    }
    assert!(metadata_n >= 3);
    for (command, answer) in &log {
        if command.get(1) == Some(&0xCB) {
            let tag = apdu::tlv::find(&command[5..], 0x5C).ok().flatten().unwrap_or(&[]);
            let index: u8 = match tag {
                [0x5F, 0xC1, 0x02] => 0,
                [0x7E] => 5,
                _ => continue,
            };
            let mut seed = vec![index];
            seed.extend_from_slice(data_of(answer));
            write("piv_get_data", &format!("tag-{}", hex::encode(tag)), &seed);
        }
    }
    // The certificate's answer came in 61xx pieces: write it whole.
    let mut seed = vec![2];
    seed.extend_from_slice(&apdu::tlv::encode(0x53, &container));
    write("piv_get_data", "tag-5fc105", &seed);
    for (command, answer) in &log {
        if command.get(1) == Some(&0x87) && answer.len() > 2 {
            let inner = apdu::tlv::find(data_of(answer), 0x7C).ok().flatten().unwrap_or(&[]);
            let item = inner.first().copied().unwrap_or(0x82);
            let mut seed = vec![item];
            seed.extend_from_slice(data_of(answer));
            write("piv_authentication_template", &format!("ga-{item:02x}-{}", answer.len()), &seed);
        }
    }

    // virtual card
    let commands: Vec<&[u8]> = log.iter().map(|(c, _)| c.as_slice()).collect();
    write("vcard_process", "session", &join(&commands[..unauthenticated]));
    write("vcard_process", "select-only", &join(&commands[..1]));
    write("vcard_authenticated", "generate", &join(&[generated.0.as_slice()]));
    let rest: Vec<&[u8]> = commands[after_auth..].iter().copied().filter(|c| c.len() <= 300).collect();
    write("vcard_authenticated", "objects", &join(&rest));
}
