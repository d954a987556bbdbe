//! [`PivCard`]: the PIV card application commands (SP 800-73-4 Part 2 §3)
//! and the YubiKey extensions, over any [`apdu::Transport`].
//!
//! Every method sends the fewest APDUs it can (no implicit SELECT, no status
//! reads a caller did not ask for) and never retries a PIN or PUK.

use crate::commands;
use crate::metadata::{Metadata, Version};
use crate::objects::{Application, Ccc, CertificateContainer, Chuid, Discovery, KeyHistory};
use crate::public_key::PublicKey;
use crate::secret::{Pin, Puk};
use crate::types::{pin_ref, KeyAlgorithm, ManagementKey, ManagementKeyAlgorithm, PinPolicy, Slot};
use crate::{Error, Result};
use apdu::{tlv, Command, Response, StatusWord, SwKind, Transport};
use serde::{Deserialize, Serialize};

/// State of the PIN, read without spending a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinStatus {
    /// Verified in this session.
    Verified,
    /// Not verified; this many tries left.
    Tries(u8),
    /// Blocked.
    Blocked,
}

/// State of the PUK: known only where the card reports it without a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PukStatus {
    /// This many tries left.
    Tries(u8),
    /// Blocked.
    Blocked,
    /// The card has no way to tell without a try (plain PIV).
    Unknown,
}

/// A PIV card application on a transport.
#[derive(Debug)]
pub struct PivCard<T: Transport> {
    transport: T,
}

/// True for status words meaning "this card does not have that vendor command".
fn unsupported(sw: StatusWord) -> bool {
    matches!(
        sw.kind(),
        SwKind::InsNotSupported
            | SwKind::FunctionNotSupported
            | SwKind::IncorrectP1P2
            | SwKind::ClaNotSupported
    )
}

fn single(data: &[u8], tag: u32, what: &'static str) -> Result<Vec<u8>> {
    let (t, rest) = tlv::parse_one(data).map_err(crate::error::tlv)?;
    if t.tag != tag || !rest.is_empty() {
        return Err(Error::Malformed { what });
    }
    Ok(t.value.to_vec())
}

/// Parses `7C {… tag value …}` from a GENERAL AUTHENTICATE answer.
pub fn parse_authentication_template(data: &[u8], tag: u32) -> Result<Vec<u8>> {
    let inner = single(data, 0x7C, "GENERAL AUTHENTICATE answer is not a 7C template")?;
    tlv::find(&inner, tag)
        .map_err(crate::error::tlv)?
        .map(<[u8]>::to_vec)
        .ok_or(Error::Malformed { what: "GENERAL AUTHENTICATE answer lacks the expected item" })
}

/// Unwraps a GET DATA answer: `53 content`, or `7E`/`7F61` with their own tag.
pub fn parse_get_data(tag: u32, data: &[u8]) -> Result<Vec<u8>> {
    let outer = if commands::is_self_tagged(tag) { tag } else { 0x53 };
    single(data, outer, "GET DATA answer is not one object")
}

impl<T: Transport> PivCard<T> {
    /// Wraps a transport; sends nothing.
    pub fn new(transport: T) -> Self {
        PivCard { transport }
    }

    /// Returns the transport.
    pub fn into_inner(self) -> T {
        self.transport
    }

    /// The transport (e.g. to read APDU counters or reconnect).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    fn send(&mut self, command: &Command) -> Result<Response> {
        Ok(apdu::exchange(&mut self.transport, command)?)
    }

    /// Sends and requires `9000`.
    fn send_ok(&mut self, name: &'static str, command: &Command) -> Result<Vec<u8>> {
        let r = self.send(command)?;
        if r.is_ok() {
            Ok(r.data)
        } else {
            Err(Error::from_status(name, r.sw))
        }
    }

    /// SELECT the PIV application with its full AID (SP 800-73-4 Part 2
    /// §3.1.1) and parse the application property template. A card that
    /// answers 9000 with no data gives an empty [`Application`].
    pub fn select(&mut self) -> Result<Application> {
        let data = self.send_ok("SELECT", &commands::select())?;
        Application::parse(&data)
    }

    /// GET DATA (Part 2 §3.1.2): the object's content without the `53`
    /// wrapper (for 7E / 7F61, the value inside their own tag); `None` when
    /// the card answers 6A82.
    pub fn get_data(&mut self, tag: u32) -> Result<Option<Vec<u8>>> {
        let r = self.send(&commands::get_data(tag))?;
        match r.sw.kind() {
            SwKind::Success if r.data.is_empty() => Ok(None),
            SwKind::Success => parse_get_data(tag, &r.data).map(Some),
            SwKind::NotFound => Ok(None),
            _ => Err(Error::from_status("GET DATA", r.sw)),
        }
    }

    /// PUT DATA (Part 2 §3.2.2) of `content`, wrapped in `53` (7E and 7F61
    /// in their own tag). Needs management key authentication.
    pub fn put_data(&mut self, tag: u32, content: &[u8]) -> Result<()> {
        self.send_ok("PUT DATA", &commands::put_data(tag, content)).map(drop)
    }

    /// Deletes an object by writing it empty (`53 00`), as YubiKeys expect.
    pub fn delete_data(&mut self, tag: u32) -> Result<()> {
        self.put_data(tag, &[])
    }

    /// The PIN's state via VERIFY without data (Part 2 §3.2.1): never sends a PIN.
    pub fn pin_status(&mut self) -> Result<PinStatus> {
        let r = self.send(&commands::pin_status())?;
        match r.sw.kind() {
            SwKind::Success => Ok(PinStatus::Verified),
            SwKind::VerificationFailed { tries: 0 } | SwKind::Blocked => Ok(PinStatus::Blocked),
            SwKind::VerificationFailed { tries } => Ok(PinStatus::Tries(tries)),
            _ => Err(Error::from_status("VERIFY", r.sw)),
        }
    }

    /// The PUK's state from YubiKey metadata on key reference 81, without a
    /// try; [`PukStatus::Unknown`] on cards without GET METADATA (plain PIV
    /// has no way to ask).
    pub fn puk_status(&mut self) -> Result<PukStatus> {
        Ok(match self.metadata(pin_ref::PUK)?.and_then(|m| m.retries) {
            Some(r) if r.remaining == 0 => PukStatus::Blocked,
            Some(r) => PukStatus::Tries(r.remaining),
            None => PukStatus::Unknown,
        })
    }

    /// VERIFY the PIN (Part 2 §3.2.1). A wrong PIN is [`Error::WrongPin`]
    /// with the tries left; this never retries.
    pub fn verify_pin(&mut self, pin: &Pin) -> Result<()> {
        let r = self.send(&commands::verify_pin(pin))?;
        if r.is_ok() {
            Ok(())
        } else {
            Err(Error::from_pin_status("VERIFY", r.sw))
        }
    }

    /// CHANGE REFERENCE DATA of the PIN (Part 2 §3.2.3).
    pub fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<()> {
        let r = self.send(&commands::change_pin(old, new))?;
        if r.is_ok() {
            Ok(())
        } else {
            Err(Error::from_pin_status("CHANGE REFERENCE DATA", r.sw))
        }
    }

    /// CHANGE REFERENCE DATA of the PUK (Part 2 §3.2.3).
    pub fn change_puk(&mut self, old: &Puk, new: &Puk) -> Result<()> {
        let r = self.send(&commands::change_puk(old, new))?;
        if r.is_ok() {
            Ok(())
        } else {
            Err(Error::from_puk_status("CHANGE REFERENCE DATA", r.sw))
        }
    }

    /// RESET RETRY COUNTER (Part 2 §3.2.4): sets `new_pin` and unblocks the
    /// PIN with the PUK. Errors name the PUK (wrong / blocked).
    pub fn unblock_pin(&mut self, puk: &Puk, new_pin: &Pin) -> Result<()> {
        let r = self.send(&commands::unblock_pin(puk, new_pin))?;
        if r.is_ok() {
            Ok(())
        } else {
            Err(Error::from_puk_status("RESET RETRY COUNTER", r.sw))
        }
    }

    /// Mutual authentication with the card management key (9B) by GENERAL
    /// AUTHENTICATE (Part 2 §3.2.4, Appendix A.3): the card sends an
    /// encrypted witness; we return it decrypted with our own challenge; the
    /// card proves it knows the key by returning the challenge encrypted.
    /// P1 is the key's algorithm. A wrong key or algorithm is
    /// [`Error::AuthenticationFailed`]; two APDUs on success.
    pub fn authenticate(&mut self, key: &ManagementKey) -> Result<()> {
        let block = key.algorithm().block_len();
        let r = self.send(&commands::management_witness_request(key))?;
        match r.sw.kind() {
            SwKind::Success => {}
            SwKind::IncorrectData
            | SwKind::IncorrectP1P2
            | SwKind::SecurityNotSatisfied
            | SwKind::Blocked => return Err(Error::AuthenticationFailed),
            _ => return Err(Error::from_status("GENERAL AUTHENTICATE", r.sw)),
        }
        let encrypted = parse_authentication_template(&r.data, 0x80)?;
        if encrypted.len() != block {
            return Err(Error::Malformed { what: "witness length does not match the key algorithm" });
        }
        let witness = zeroize::Zeroizing::new(key.decrypt_block(&encrypted));
        let mut challenge = vec![0u8; block];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut challenge);
        let r = self.send(&commands::management_witness_response(key, &witness, &challenge))?;
        match r.sw.kind() {
            SwKind::Success => {}
            SwKind::SecurityNotSatisfied | SwKind::IncorrectData | SwKind::Blocked => {
                return Err(Error::AuthenticationFailed)
            }
            _ => return Err(Error::from_status("GENERAL AUTHENTICATE", r.sw)),
        }
        let response = parse_authentication_template(&r.data, 0x82)?;
        if response != key.encrypt_block(&challenge) {
            return Err(Error::AuthenticationFailed);
        }
        Ok(())
    }

    /// The management key's algorithm from YubiKey metadata on 9B; `None`
    /// when the card cannot tell (then assume 3DES, the PIV default).
    pub fn management_key_algorithm(&mut self) -> Result<Option<ManagementKeyAlgorithm>> {
        Ok(self
            .metadata(pin_ref::MANAGEMENT)?
            .and_then(|m| m.algorithm)
            .and_then(ManagementKeyAlgorithm::from_id))
    }

    /// GENERATE ASYMMETRIC KEY PAIR in `slot` (Part 2 §3.3.2); needs
    /// management key authentication. `pin_policy` / `touch` are YubiKey
    /// extensions (tags AA / AB), sent only when given.
    pub fn generate_key(
        &mut self,
        slot: Slot,
        algorithm: KeyAlgorithm,
        pin_policy: Option<PinPolicy>,
        touch: Option<u8>,
    ) -> Result<PublicKey> {
        let data = self.send_ok(
            "GENERATE ASYMMETRIC KEY PAIR",
            &commands::generate_key(slot, algorithm, pin_policy, touch),
        )?;
        PublicKey::parse_for(algorithm, &data)
    }

    /// Signs `message` with the key in `slot` (GENERAL AUTHENTICATE, Part 2
    /// §3.2.4). The host hashes: SHA-256 for P-256 and RSA, SHA-384 for P-384;
    /// for RSA it also builds the PKCS#1 v1.5 block, as the card's RSA is raw.
    /// Returns a DER ECDSA signature or the RSA signature block. The PIN
    /// must have been verified as the slot's policy requires (9C: right before).
    pub fn sign(&mut self, slot: Slot, algorithm: KeyAlgorithm, message: &[u8]) -> Result<Vec<u8>> {
        use sha2::Digest;
        let input = match algorithm {
            KeyAlgorithm::EccP256 => sha2::Sha256::digest(message).to_vec(),
            KeyAlgorithm::EccP384 => sha2::Sha384::digest(message).to_vec(),
            KeyAlgorithm::Rsa2048 => crate::public_key::pkcs1_v15_sha256_block(message, 256)?,
        };
        self.sign_prepared(slot, algorithm, &input)
    }

    /// Sends an already hashed (ECDSA) or padded (RSA) input to the slot key.
    pub fn sign_prepared(&mut self, slot: Slot, algorithm: KeyAlgorithm, input: &[u8]) -> Result<Vec<u8>> {
        let data = self.send_ok("GENERAL AUTHENTICATE", &commands::sign(slot, algorithm, input))?;
        parse_authentication_template(&data, 0x82)
    }

    /// Reads the certificate of `slot` (DER, decompressed), `None` when absent.
    pub fn read_certificate(&mut self, slot: Slot) -> Result<Option<Vec<u8>>> {
        match self.get_data(slot.certificate_object())? {
            None => Ok(None),
            Some(c) if c.is_empty() => Ok(None),
            Some(c) => Ok(Some(CertificateContainer::parse(&c)?.certificate)),
        }
    }

    /// Writes the certificate of `slot` (SP 800-73-4 Part 1 Table 10 container,
    /// gzip-compressed when asked). Needs management key authentication.
    pub fn write_certificate(&mut self, slot: Slot, der: &[u8], compress: bool) -> Result<()> {
        let content = CertificateContainer::encode(der, compress)?;
        self.put_data(slot.certificate_object(), &content)
    }

    /// Reads and parses the CHUID.
    pub fn read_chuid(&mut self) -> Result<Option<Chuid>> {
        self.get_data(crate::types::object::CHUID)?.map(|d| Chuid::parse(&d)).transpose()
    }

    /// Reads and parses the CCC.
    pub fn read_ccc(&mut self) -> Result<Option<Ccc>> {
        self.get_data(crate::types::object::CCC)?.map(|d| Ccc::parse(&d)).transpose()
    }

    /// Reads and parses the discovery object.
    pub fn read_discovery(&mut self) -> Result<Option<Discovery>> {
        self.get_data(crate::types::object::DISCOVERY)?.map(|d| Discovery::parse(&d)).transpose()
    }

    /// Reads and parses the key history object.
    pub fn read_key_history(&mut self) -> Result<Option<KeyHistory>> {
        self.get_data(crate::types::object::KEY_HISTORY)?.map(|d| KeyHistory::parse(&d)).transpose()
    }

    /// YubiKey GET VERSION; `None` on cards without it.
    pub fn version(&mut self) -> Result<Option<Version>> {
        let r = self.send(&commands::get_version())?;
        match r.sw {
            sw if sw.is_success() => Version::parse(&r.data).map(Some),
            sw if unsupported(sw) => Ok(None),
            sw => Err(Error::from_status("GET VERSION", sw)),
        }
    }

    /// YubiKey GET SERIAL (firmware 5+); `None` on cards without it.
    pub fn serial(&mut self) -> Result<Option<u32>> {
        let r = self.send(&commands::get_serial())?;
        match r.sw {
            sw if sw.is_success() => match r.data[..] {
                [a, b, c, d] => Ok(Some(u32::from_be_bytes([a, b, c, d]))),
                _ => Err(Error::Malformed { what: "serial is not 4 bytes" }),
            },
            sw if unsupported(sw) => Ok(None),
            sw => Err(Error::from_status("GET SERIAL", sw)),
        }
    }

    /// YubiKey GET METADATA of a key or PIN reference (firmware 5.3+);
    /// `None` when unsupported or the reference holds nothing.
    pub fn metadata(&mut self, key_ref: u8) -> Result<Option<Metadata>> {
        let r = self.send(&commands::get_metadata(key_ref))?;
        match r.sw {
            sw if sw.is_success() => Metadata::parse(&r.data).map(Some),
            sw if unsupported(sw) || matches!(sw.kind(), SwKind::NotFound | SwKind::ReferenceNotFound) => {
                Ok(None)
            }
            sw => Err(Error::from_status("GET METADATA", sw)),
        }
    }

    /// YubiKey SET MANAGEMENT KEY (`FF`); needs management key authentication.
    /// [`Error::NotSupported`] on cards without it.
    pub fn set_management_key(&mut self, key: &ManagementKey, require_touch: bool) -> Result<()> {
        self.vendor("SET MANAGEMENT KEY", &commands::set_management_key(key, require_touch))
    }

    /// YubiKey SET PIN RETRIES (`FA`); needs management key authentication and
    /// a verified PIN, and **resets PIN and PUK to 123456 / 12345678**.
    pub fn set_pin_retries(&mut self, pin_tries: u8, puk_tries: u8) -> Result<()> {
        if pin_tries == 0 || puk_tries == 0 {
            return Err(Error::BadInput("retry counts must be at least 1".into()));
        }
        self.vendor("SET PIN RETRIES", &commands::set_pin_retries(pin_tries, puk_tries))
    }

    /// YubiKey RESET (`FB`): wipes the PIV application; the card accepts it
    /// only when PIN and PUK are both blocked.
    pub fn reset(&mut self) -> Result<()> {
        self.vendor("RESET", &commands::reset())
    }

    fn vendor(&mut self, name: &'static str, command: &Command) -> Result<()> {
        let r = self.send(command)?;
        match r.sw {
            sw if sw.is_success() => Ok(()),
            sw if unsupported(sw) => Err(Error::NotSupported),
            sw => Err(Error::from_status(name, sw)),
        }
    }
}

/// A transport wrapper counting the raw APDUs sent (benchmarks, tests).
#[derive(Debug)]
pub struct CountingTransport<T> {
    inner: T,
    count: usize,
}

impl<T> CountingTransport<T> {
    /// Wraps `inner` with a zero count.
    pub fn new(inner: T) -> Self {
        CountingTransport { inner, count: 0 }
    }

    /// Raw APDUs sent so far (chained blocks and GET RESPONSEs included).
    pub fn count(&self) -> usize {
        self.count
    }

    /// The wrapped transport.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: Transport> Transport for CountingTransport<T> {
    fn transmit(&mut self, command: &[u8]) -> std::result::Result<Vec<u8>, apdu::TransportError> {
        self.count += 1;
        self.inner.transmit(command)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Expects exact command bytes and replays canned answers.
    #[derive(Debug, Default)]
    pub(crate) struct Script {
        steps: VecDeque<(Option<Vec<u8>>, Vec<u8>)>,
    }

    impl Script {
        /// Expect `command` (hex; "*" = anything) and answer `answer` (hex).
        pub(crate) fn then(mut self, command: &str, answer: &str) -> Self {
            let cmd = (command != "*").then(|| hex::decode(command.replace(' ', "")).unwrap());
            self.steps.push_back((cmd, hex::decode(answer.replace(' ', "")).unwrap()));
            self
        }

        pub(crate) fn done(&self) -> bool {
            self.steps.is_empty()
        }
    }

    impl Transport for Script {
        fn transmit(&mut self, command: &[u8]) -> std::result::Result<Vec<u8>, apdu::TransportError> {
            let (expected, answer) = self.steps.pop_front().ok_or(apdu::TransportError::CardRemoved)?;
            if let Some(e) = expected {
                assert_eq!(hex::encode_upper(command), hex::encode_upper(e), "unexpected command");
            }
            Ok(answer)
        }
    }

    fn card(script: Script) -> PivCard<Script> {
        PivCard::new(script)
    }

    #[test]
    fn select_parses_the_template_and_tolerates_empty_answers() {
        let mut c = card(
            Script::default()
                .then(
                    "00A4040009A0000003080000100000",
                    "611B4F0600001000010079074F05A0000003085000AC068001118001149000",
                )
                .then("00A4040009A0000003080000100000", "9000")
                .then("00A4040009A0000003080000100000", "6A82"),
        );
        assert_eq!(c.select().unwrap().algorithms, [0x11, 0x14]);
        assert_eq!(c.select().unwrap(), Application::default());
        assert!(matches!(c.select(), Err(Error::NotFound)));
    }

    #[test]
    fn get_data_unwraps_53_and_maps_absent_objects_to_none() {
        let mut c = card(
            Script::default()
                .then("00CB3FFF055C035FC10C00", "5306C10100C200009000")
                .then("00CB3FFF055C035FC10200", "6A82")
                .then("00CB3FFF035C017E00", "7E124F0BA0000003080000100001005F2F0240009000")
                .then("00CB3FFF055C035FC10700", "5405F0039000")
                .then("00CB3FFF055C035FC10800", "6982"),
        );
        assert_eq!(c.get_data(0x5FC10C).unwrap(), Some(vec![0xC1, 1, 0, 0xC2, 0, 0]));
        assert_eq!(c.get_data(0x5FC102).unwrap(), None);
        assert!(c.read_discovery().unwrap().unwrap().is_piv());
        assert!(matches!(c.get_data(0x5FC107), Err(Error::Malformed { .. })));
        assert!(matches!(c.get_data(0x5FC108), Err(Error::SecurityStatusNotSatisfied)));
    }

    #[test]
    fn pin_status_never_sends_a_pin_and_wrong_pins_are_typed() {
        let pin = Pin::new("123456").unwrap();
        let mut c = card(
            Script::default()
                .then("00200080", "63C3")
                .then("00200080", "9000")
                .then("00200080", "6983")
                .then("0020008008313233343536FFFF", "63C2")
                .then("0020008008313233343536FFFF", "6983")
                .then("*", "63C0")
                .then("*", "6983"),
        );
        assert_eq!(c.pin_status().unwrap(), PinStatus::Tries(3));
        assert_eq!(c.pin_status().unwrap(), PinStatus::Verified);
        assert_eq!(c.pin_status().unwrap(), PinStatus::Blocked);
        assert!(matches!(c.verify_pin(&pin), Err(Error::WrongPin { tries: 2 })));
        assert!(matches!(c.verify_pin(&pin), Err(Error::PinBlocked)));
        let puk = Puk::factory_default();
        assert!(matches!(c.unblock_pin(&puk, &pin), Err(Error::WrongPuk { tries: 0 })));
        assert!(matches!(c.change_puk(&puk, &puk), Err(Error::PukBlocked)));
        assert!(c.transport_mut().done());
    }

    /// Answers mutual authentication as a card holding `key` would.
    struct MgmtCard {
        key: ManagementKey,
        witness: Vec<u8>,
        corrupt: bool,
    }

    impl Transport for MgmtCard {
        fn transmit(&mut self, raw: &[u8]) -> std::result::Result<Vec<u8>, apdu::TransportError> {
            let cmd = Command::parse(raw).unwrap();
            assert_eq!((cmd.ins, cmd.p2), (0x87, 0x9B));
            if cmd.p1 != self.key.algorithm().id() {
                return Ok(vec![0x6A, 0x80]);
            }
            let t = tlv::find(&cmd.data, 0x7C).unwrap().unwrap();
            let w = tlv::find(t, 0x80).unwrap().unwrap();
            if w.is_empty() {
                let inner = tlv::encode(0x80, &self.key.encrypt_block(&self.witness));
                let mut out = tlv::encode(0x7C, &inner);
                out.extend_from_slice(&[0x90, 0]);
                return Ok(out);
            }
            if w != self.witness {
                return Ok(vec![0x69, 0x82]);
            }
            let c = tlv::find(t, 0x81).unwrap().unwrap();
            let mut e = self.key.encrypt_block(c);
            if self.corrupt {
                e[0] ^= 1;
            }
            let mut out = tlv::encode(0x7C, &tlv::encode(0x82, &e));
            out.extend_from_slice(&[0x90, 0]);
            Ok(out)
        }
    }

    #[test]
    fn mutual_authentication_succeeds_with_the_right_key_only() {
        for alg in [
            ManagementKeyAlgorithm::TripleDes,
            ManagementKeyAlgorithm::Aes128,
            ManagementKeyAlgorithm::Aes256,
        ] {
            let key = ManagementKey::random(alg, &mut rand::thread_rng());
            let witness = vec![0x5A; alg.block_len()];
            let mut c = PivCard::new(MgmtCard { key: key.clone(), witness: witness.clone(), corrupt: false });
            c.authenticate(&key).unwrap();
            let other = ManagementKey::random(alg, &mut rand::thread_rng());
            assert!(matches!(c.authenticate(&other), Err(Error::AuthenticationFailed)));
            let wrong_alg = ManagementKey::factory_default(if alg == ManagementKeyAlgorithm::TripleDes {
                ManagementKeyAlgorithm::Aes192
            } else {
                ManagementKeyAlgorithm::TripleDes
            });
            assert!(matches!(c.authenticate(&wrong_alg), Err(Error::AuthenticationFailed)));
            // A card that cannot prove knowledge of the key is refused too.
            let mut fake = PivCard::new(MgmtCard { key: key.clone(), witness, corrupt: true });
            assert!(matches!(fake.authenticate(&key), Err(Error::AuthenticationFailed)));
        }
    }

    #[test]
    fn generate_parses_the_public_key_and_sign_unwraps_82() {
        let sk = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let point = sk.verifying_key().to_encoded_point(false);
        let answer = hex::encode(tlv::encode(0x7F49, &tlv::encode(0x86, point.as_bytes()))) + "9000";
        let msg = b"challenge";
        let sig: p256::ecdsa::DerSignature = signature::Signer::sign(&sk, msg);
        let sig_answer = hex::encode(tlv::encode(0x7C, &tlv::encode(0x82, sig.as_bytes()))) + "9000";
        let mut c = card(
            Script::default()
                .then("0047009A0BAC09800111AA0102AB010100", &answer)
                .then("*", &sig_answer)
                .then("*", "6982"),
        );
        let key = c
            .generate_key(Slot::Authentication, KeyAlgorithm::EccP256, Some(PinPolicy::Once), Some(1))
            .unwrap();
        let signature = c.sign(Slot::Authentication, KeyAlgorithm::EccP256, msg).unwrap();
        key.verify_signature(msg, &signature).unwrap();
        assert!(matches!(
            c.sign(Slot::Signature, KeyAlgorithm::EccP256, msg),
            Err(Error::SecurityStatusNotSatisfied)
        ));
    }

    #[test]
    fn certificates_are_wrapped_and_chained_and_read_back() {
        let der = vec![0x30; 400];
        let container = CertificateContainer::encode(&der, false).unwrap();
        let put = commands::put_data(Slot::Signature.certificate_object(), &container);
        assert!(put.data.len() > 255);
        let mut c =
            card(Script::default().then("*", "9000").then("*", "9000").then("*", "9000").then("*", "6A84"));
        c.write_certificate(Slot::Signature, &der, false).unwrap();
        assert!(matches!(c.write_certificate(Slot::Signature, &der, false), Err(Error::NoMemory)));
        let wrapped = tlv::encode(0x53, &container);
        let (first, rest) = wrapped.split_at(200);
        let mut c = card(
            Script::default()
                .then("00CB3FFF055C035FC10A00", &(hex::encode(first) + &format!("61{:02X}", rest.len())))
                .then(&format!("00C00000{:02X}", rest.len()), &(hex::encode(rest) + "9000")),
        );
        assert_eq!(c.read_certificate(Slot::Signature).unwrap(), Some(der));
    }

    #[test]
    fn vendor_commands_report_absence_instead_of_failing() {
        let mut c = card(
            Script::default()
                .then("00FD000000", "6D00")
                .then("00F8000000", "6D00")
                .then("00F7009B00", "6A81")
                .then("00FFFFFF1B039B18010203040506070801020304050607080102030405060708", "6D00")
                .then("00FD000000", "0504039000")
                .then("00F8000000", "00BC614E9000")
                .then("00F7008100", "01 01 FF 05 01 00 06 02 03 02 9000")
                .then("00F7009B00", "01 01 0C 02 02 01 01 05 01 00 9000"),
        );
        assert_eq!(c.version().unwrap(), None);
        assert_eq!(c.serial().unwrap(), None);
        assert_eq!(c.management_key_algorithm().unwrap(), None);
        let key = ManagementKey::factory_default(ManagementKeyAlgorithm::TripleDes);
        assert!(matches!(c.set_management_key(&key, false), Err(Error::NotSupported)));
        assert_eq!(c.version().unwrap().unwrap().to_string(), "5.4.3");
        assert_eq!(c.serial().unwrap(), Some(12345678));
        assert_eq!(c.puk_status().unwrap(), PukStatus::Tries(2));
        assert_eq!(c.management_key_algorithm().unwrap(), Some(ManagementKeyAlgorithm::Aes256));
    }

    #[test]
    fn transport_failures_surface_as_transport_errors() {
        let mut c = card(Script::default());
        let e = c.select().unwrap_err();
        assert!(e.is_transport());
        assert_eq!(e.transport(), Some(&apdu::TransportError::CardRemoved));
    }
}
