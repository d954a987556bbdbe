//! An in-process PIV card for this crate's unit tests: YubiKey-like (FD, F8,
//! F7, FF, FA) or plain PIV, with real keys, PIN-always on 9C, chaining,
//! 61xx, and tearing after a chosen number of APDUs. The product's virtual
//! card is the `vcard` crate; this one only keeps `piv`'s tests self-contained.

use crate::types::{KeyAlgorithm, ManagementKey, ManagementKeyAlgorithm, PinPolicy, PIV_RID};
use apdu::{tlv, Command, Response, StatusWord, Transport, TransportError};
use std::collections::HashMap;

enum Key {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

struct SlotKey {
    algorithm: KeyAlgorithm,
    key: Key,
    pin_policy: PinPolicy,
}

impl SlotKey {
    fn public_template(&self) -> Vec<u8> {
        match &self.key {
            Key::P256(k) => tlv::encode(0x86, k.verifying_key().to_encoded_point(false).as_bytes()),
            Key::P384(k) => tlv::encode(0x86, k.verifying_key().to_encoded_point(false).as_bytes()),
            Key::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                [tlv::encode(0x81, &k.n().to_bytes_be()), tlv::encode(0x82, &k.e().to_bytes_be())].concat()
            }
        }
    }
}

/// The fake card.
pub struct FakeCard {
    pub yubikey: bool,
    pub objects: HashMap<u32, Vec<u8>>,
    pin: Vec<u8>,
    puk: Vec<u8>,
    pin_tries: u8,
    puk_tries: u8,
    pin_max: u8,
    puk_max: u8,
    mgmt: ManagementKey,
    keys: HashMap<u8, SlotKey>,
    // Session state (lost on tear / reset).
    authenticated: bool,
    pin_verified: bool,
    pin_always_armed: bool,
    witness: Option<Vec<u8>>,
    chain: Vec<u8>,
    pending: Vec<u8>,
    /// Raw APDUs received.
    pub apdus: usize,
    /// Tear (CardRemoved) when `apdus` reaches this; the APDU is not processed
    /// unless `tear_after_processing`.
    pub tear_at: Option<usize>,
    pub tear_after_processing: bool,
}

fn pad(v: &[u8]) -> Vec<u8> {
    let mut out = v.to_vec();
    out.resize(8, 0xFF);
    out
}

fn ok(data: Vec<u8>) -> Response {
    Response::new(data, 0x9000u16)
}

fn sw(v: u16) -> Response {
    Response::new(Vec::new(), v)
}

impl FakeCard {
    pub fn yubikey() -> FakeCard {
        FakeCard::new(true)
    }

    pub fn plain_piv() -> FakeCard {
        FakeCard::new(false)
    }

    fn new(yubikey: bool) -> FakeCard {
        let mut objects = HashMap::new();
        if yubikey {
            objects.insert(0x7E, crate::objects::Discovery::piv_pin_only().to_bytes());
        }
        FakeCard {
            yubikey,
            objects,
            pin: pad(b"123456"),
            puk: pad(b"12345678"),
            pin_tries: 3,
            puk_tries: 3,
            pin_max: 3,
            puk_max: 3,
            mgmt: ManagementKey::factory_default(ManagementKeyAlgorithm::TripleDes),
            keys: HashMap::new(),
            authenticated: false,
            pin_verified: false,
            pin_always_armed: false,
            witness: None,
            chain: Vec::new(),
            pending: Vec::new(),
            apdus: 0,
            tear_at: None,
            tear_after_processing: false,
        }
    }

    /// Reinsertion after a tear: session state is gone, stored state stays.
    pub fn reinsert(&mut self) {
        self.authenticated = false;
        self.pin_verified = false;
        self.pin_always_armed = false;
        self.witness = None;
        self.chain.clear();
        self.pending.clear();
        self.tear_at = None;
    }

    pub fn management_key(&self) -> &ManagementKey {
        &self.mgmt
    }

    pub fn pin_matches(&self, pin: &str) -> bool {
        self.pin == pad(pin.as_bytes())
    }

    pub fn puk_matches(&self, puk: &str) -> bool {
        self.puk == pad(puk.as_bytes())
    }

    fn respond(&mut self, data: Vec<u8>) -> Response {
        if data.len() <= 256 {
            return ok(data);
        }
        let (first, rest) = data.split_at(256);
        self.pending = rest.to_vec();
        Response::new(first.to_vec(), StatusWord::more_data(self.pending.len()))
    }

    fn process(&mut self, cmd: Command) -> Response {
        if cmd.cla & 0x10 != 0 {
            self.chain.extend_from_slice(&cmd.data);
            return sw(0x9000);
        }
        let mut data = std::mem::take(&mut self.chain);
        data.extend_from_slice(&cmd.data);
        if cmd.ins != 0xC0 {
            self.pending.clear();
        }
        match cmd.ins {
            0xA4 => {
                if data.starts_with(&PIV_RID) {
                    let mut t = tlv::encode(0x4F, &[0, 0, 0x10, 0, 1, 0]);
                    t.extend(tlv::encode(0x79, &tlv::encode(0x4F, &PIV_RID)));
                    t.extend(tlv::encode(0xAC, &[0x80, 1, 0x11, 0x80, 1, 0x14, 0x06, 0]));
                    ok(tlv::encode(0x61, &t))
                } else {
                    sw(0x6A82)
                }
            }
            0xC0 => {
                let n = self.pending.len().min(256);
                let chunk: Vec<u8> = self.pending.drain(..n).collect();
                if self.pending.is_empty() {
                    ok(chunk)
                } else {
                    Response::new(chunk, StatusWord::more_data(self.pending.len()))
                }
            }
            0xCB => {
                let Ok(Some(tag)) = tlv::find(&data, 0x5C) else { return sw(0x6A80) };
                let tag = tag.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b));
                match self.objects.get(&tag) {
                    Some(v) => {
                        let outer = if crate::commands::is_self_tagged(tag) { tag } else { 0x53 };
                        let body = tlv::encode(outer, v);
                        self.respond(body)
                    }
                    None => sw(0x6A82),
                }
            }
            0xDB => {
                if !self.authenticated {
                    return sw(0x6982);
                }
                let Ok((first, rest)) = tlv::parse_one(&data) else { return sw(0x6A80) };
                let (tag, content) = if first.tag == 0x5C {
                    let tag = first.value.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b));
                    match tlv::find(rest, 0x53) {
                        Ok(Some(c)) => (tag, c.to_vec()),
                        _ => return sw(0x6A80),
                    }
                } else {
                    (first.tag, first.value.to_vec())
                };
                if content.is_empty() {
                    self.objects.remove(&tag);
                } else {
                    self.objects.insert(tag, content);
                }
                sw(0x9000)
            }
            0x20 => {
                if cmd.p2 != 0x80 {
                    return sw(0x6A88);
                }
                if self.pin_tries == 0 {
                    return sw(0x6983);
                }
                if data.is_empty() {
                    return if self.pin_verified {
                        sw(0x9000)
                    } else {
                        sw(0x63C0 | u16::from(self.pin_tries))
                    };
                }
                if data == self.pin {
                    self.pin_tries = self.pin_max;
                    self.pin_verified = true;
                    self.pin_always_armed = true;
                    sw(0x9000)
                } else {
                    self.pin_tries -= 1;
                    self.pin_verified = false;
                    if self.pin_tries == 0 {
                        sw(0x6983)
                    } else {
                        sw(0x63C0 | u16::from(self.pin_tries))
                    }
                }
            }
            0x24 | 0x2C => {
                if data.len() != 16 {
                    return sw(0x6A80);
                }
                let (old, new) = data.split_at(8);
                let use_puk = cmd.ins == 0x2C || cmd.p2 == 0x81;
                let (tries, max) =
                    if use_puk { (self.puk_tries, self.puk_max) } else { (self.pin_tries, self.pin_max) };
                if tries == 0 {
                    return sw(0x6983);
                }
                let reference = if use_puk { &self.puk } else { &self.pin };
                if old != reference.as_slice() {
                    let left = tries - 1;
                    if use_puk {
                        self.puk_tries = left;
                    } else {
                        self.pin_tries = left;
                    }
                    return if left == 0 { sw(0x6983) } else { sw(0x63C0 | u16::from(left)) };
                }
                match (cmd.ins, use_puk) {
                    (0x2C, _) => {
                        self.puk_tries = max;
                        self.pin = new.to_vec();
                        self.pin_tries = self.pin_max;
                    }
                    (_, true) => {
                        self.puk = new.to_vec();
                        self.puk_tries = max;
                    }
                    (_, false) => {
                        self.pin = new.to_vec();
                        self.pin_tries = max;
                    }
                }
                sw(0x9000)
            }
            0x87 => self.general_authenticate(&cmd, &data),
            0x47 => {
                if !self.authenticated {
                    return sw(0x6982);
                }
                let Ok(Some(ac)) = tlv::find(&data, 0xAC) else { return sw(0x6A80) };
                let Ok(Some([alg])) = tlv::find(ac, 0x80) else { return sw(0x6A80) };
                let Some(algorithm) = KeyAlgorithm::from_id(*alg) else { return sw(0x6A80) };
                let pin_policy = match tlv::find(ac, 0xAA) {
                    Ok(Some([1])) => PinPolicy::Never,
                    Ok(Some([3])) => PinPolicy::Always,
                    Ok(Some([2])) => PinPolicy::Once,
                    _ => crate::types::Slot::from_key_ref(cmd.p2)
                        .map_or(PinPolicy::Once, crate::types::Slot::default_pin_policy),
                };
                let mut rng = rand::thread_rng();
                let key = match algorithm {
                    KeyAlgorithm::EccP256 => Key::P256(p256::ecdsa::SigningKey::random(&mut rng)),
                    KeyAlgorithm::EccP384 => Key::P384(p384::ecdsa::SigningKey::random(&mut rng)),
                    KeyAlgorithm::Rsa2048 => {
                        Key::Rsa(Box::new(rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap()))
                    }
                };
                let slot_key = SlotKey { algorithm, key, pin_policy };
                let body = tlv::encode(0x7F49, &slot_key.public_template());
                self.keys.insert(cmd.p2, slot_key);
                self.respond(body)
            }
            0xFD if self.yubikey => ok(vec![5, 4, 3]),
            0xF8 if self.yubikey => ok(12345678u32.to_be_bytes().to_vec()),
            0xF7 if self.yubikey => self.metadata(cmd.p2),
            0xFF if self.yubikey => {
                if !self.authenticated {
                    return sw(0x6982);
                }
                let [alg, 0x9B, len, key @ ..] = &data[..] else { return sw(0x6A80) };
                let Some(algorithm) = ManagementKeyAlgorithm::from_id(*alg) else { return sw(0x6A80) };
                if usize::from(*len) != key.len() {
                    return sw(0x6A80);
                }
                match ManagementKey::new(algorithm, key) {
                    Ok(k) => {
                        self.mgmt = k;
                        sw(0x9000)
                    }
                    Err(_) => sw(0x6A80),
                }
            }
            0xFA if self.yubikey => {
                if !self.authenticated || !self.pin_verified {
                    return sw(0x6982);
                }
                self.pin_max = cmd.p1;
                self.puk_max = cmd.p2;
                self.pin_tries = cmd.p1;
                self.puk_tries = cmd.p2;
                self.pin = pad(b"123456");
                self.puk = pad(b"12345678");
                self.pin_verified = false;
                sw(0x9000)
            }
            _ => sw(0x6D00),
        }
    }

    fn metadata(&self, key_ref: u8) -> Response {
        let mut out = Vec::new();
        match key_ref {
            0x80 | 0x81 => {
                let (value, tries, max) = if key_ref == 0x80 {
                    (&self.pin, self.pin_tries, self.pin_max)
                } else {
                    (&self.puk, self.puk_tries, self.puk_max)
                };
                let default = if key_ref == 0x80 { pad(b"123456") } else { pad(b"12345678") };
                out.extend(tlv::encode(0x01, &[0xFF]));
                out.extend(tlv::encode(0x05, &[u8::from(*value == default)]));
                out.extend(tlv::encode(0x06, &[max, tries]));
            }
            0x9B => {
                let default = ManagementKey::factory_default(self.mgmt.algorithm());
                out.extend(tlv::encode(0x01, &[self.mgmt.algorithm().id()]));
                out.extend(tlv::encode(0x02, &[1, 1]));
                out.extend(tlv::encode(0x05, &[u8::from(self.mgmt == default)]));
            }
            r => match self.keys.get(&r) {
                Some(k) => {
                    out.extend(tlv::encode(0x01, &[k.algorithm.id()]));
                    out.extend(tlv::encode(0x02, &[k.pin_policy as u8, 1]));
                    out.extend(tlv::encode(0x03, &[1]));
                    out.extend(tlv::encode(0x04, &k.public_template()));
                }
                None => return sw(0x6A88),
            },
        }
        ok(out)
    }

    fn general_authenticate(&mut self, cmd: &Command, data: &[u8]) -> Response {
        let Ok(Some(t)) = tlv::find(data, 0x7C) else { return sw(0x6A80) };
        if cmd.p2 == 0x9B {
            if cmd.p1 != self.mgmt.algorithm().id() {
                return sw(0x6A80);
            }
            let witness = tlv::find(t, 0x80).ok().flatten();
            let challenge = tlv::find(t, 0x81).ok().flatten();
            return match (witness, challenge) {
                (Some([]), None) => {
                    let mut w = vec![0u8; self.mgmt.algorithm().block_len()];
                    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut w);
                    let enc = self.mgmt.encrypt_block(&w);
                    self.witness = Some(w);
                    ok(tlv::encode(0x7C, &tlv::encode(0x80, &enc)))
                }
                (Some(w), Some(c)) => {
                    let expected = self.witness.take();
                    if expected.as_deref() != Some(w) {
                        self.authenticated = false;
                        return sw(0x6982);
                    }
                    self.authenticated = true;
                    let enc = self.mgmt.encrypt_block(c);
                    ok(tlv::encode(0x7C, &tlv::encode(0x82, &enc)))
                }
                _ => sw(0x6A80),
            };
        }
        let Some(key) = self.keys.get(&cmd.p2) else { return sw(0x6A88) };
        if cmd.p1 != key.algorithm.id() {
            return sw(0x6A80);
        }
        let allowed = match key.pin_policy {
            PinPolicy::Never => true,
            PinPolicy::Once => self.pin_verified,
            PinPolicy::Always => self.pin_verified && self.pin_always_armed,
        };
        if !allowed {
            return sw(0x6982);
        }
        if key.pin_policy == PinPolicy::Always {
            self.pin_always_armed = false;
        }
        let Ok(Some(input)) = tlv::find(t, 0x81) else { return sw(0x6A80) };
        use signature::hazmat::PrehashSigner;
        let sig = match &key.key {
            Key::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign_prehash(input).unwrap();
                s.to_der().as_bytes().to_vec()
            }
            Key::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign_prehash(input).unwrap();
                s.to_der().as_bytes().to_vec()
            }
            Key::Rsa(k) => {
                use rsa::traits::{PrivateKeyParts, PublicKeyParts};
                let m = rsa::BigUint::from_bytes_be(input).modpow(k.d(), k.n());
                let mut s = m.to_bytes_be();
                while s.len() < 256 {
                    s.insert(0, 0);
                }
                s
            }
        };
        let body = tlv::encode(0x7C, &tlv::encode(0x82, &sig));
        self.respond(body)
    }
}

impl Transport for FakeCard {
    fn transmit(&mut self, raw: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.apdus += 1;
        let tear = self.tear_at.is_some_and(|n| self.apdus >= n);
        if tear && !self.tear_after_processing {
            return Err(TransportError::CardRemoved);
        }
        let response = match Command::parse(raw) {
            Ok(cmd) => self.process(cmd),
            Err(_) => sw(0x6700),
        };
        if tear {
            return Err(TransportError::CardRemoved);
        }
        Ok(response.to_bytes())
    }
}
