//! The PIV card application commands (SP 800-73-4 Part 2 §3).

use apdu::tlv;
use apdu::StatusWord;
use piv::types::{object, pin_ref, PinPolicy};
use piv::{KeyAlgorithm, ManagementKeyAlgorithm, Slot};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::card::{PendingAuth, Request};
use crate::keys::PrivateKey;
use crate::state::{pad, KeyOrigin, StoredKey};
use crate::{Card, Flavour};

type Reply = Result<Vec<u8>, StatusWord>;

/// The full PIV AID with version (SP 800-73-4 Part 1 §2.2).
const PIV_AID_FULL: [u8; 11] = [0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00];

/// Largest data object the card stores (the value inside `53`); a YubiKey's
/// per-object limit, tighter than SP 800-73-4's container sizes allow for
/// nothing but which real cards impose.
pub(crate) const MAX_OBJECT_LEN: usize = 3052;

/// Application label in the SELECT answer.
const LABEL: &[u8] = b"Cardstation virtual PIV";

/// Algorithms advertised in the SELECT cryptographic-algorithms template
/// (`AC`): management keys 3DES/AES-128/192/256, RSA-2048, P-256, P-384.
/// No secure-messaging suites (27/2E): this card does not implement SM.
const ADVERTISED_ALGORITHMS: [u8; 7] = [0x03, 0x08, 0x0A, 0x0C, 0x07, 0x11, 0x14];

fn require_p1p2(req: &Request, p1: u8, p2: u8) -> Result<(), StatusWord> {
    if (req.p1, req.p2) == (p1, p2) {
        Ok(())
    } else {
        Err(StatusWord::INCORRECT_P1P2)
    }
}

fn random_block(len: usize) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(vec![0u8; len]);
    rand::rngs::OsRng.fill_bytes(&mut v);
    v
}

/// A new PIN or PUK is 6 to 8 bytes, padded with FF to 8, no FF inside
/// (SP 800-73-4 Part 2 §2.4.3; the digits-only rule is left to hosts, as
/// YubiKeys do).
fn valid_new_reference(padded: &[u8]) -> bool {
    if padded.len() != 8 {
        return false;
    }
    let len = padded.iter().position(|b| *b == 0xFF).unwrap_or(8);
    len >= 6 && padded[len..].iter().all(|b| *b == 0xFF)
}

/// Data object tags the card accepts in PUT DATA (SP 800-73-4 Part 1
/// Table 3, plus the YubiKey vendor range 5FFF00–5FFF15).
fn is_known_object(tag: u32, flavour: Flavour) -> bool {
    matches!(tag, 0x5FC101..=0x5FC123 | object::DISCOVERY | object::BIT_GROUP)
        || (flavour == Flavour::YubiKey && (0x5FFF00..=0x5FFF15).contains(&tag))
}

fn tag_from_bytes(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 3 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

impl Card {
    /// SELECT (§3.1.1): the PIV AID matched by prefix (the 5-byte RID that
    /// yubico-piv-tool sends, OpenSC's 9 bytes, or the full 11). The answer
    /// is the application property template. Any other AID or selection
    /// method → `6A82`, so other drivers' probes do not claim the card.
    pub(crate) fn select(&mut self, req: &Request) -> Reply {
        let aid = req.data.as_slice();
        let is_piv = req.p1 == 0x04 && aid.len() >= 5 && PIV_AID_FULL.starts_with(aid);
        if !is_piv {
            return Err(StatusWord::NOT_FOUND);
        }
        self.volatile.selected = true;
        if req.p2 & 0x0C == 0x0C {
            return Ok(Vec::new()); // "no response data" requested
        }
        let mut body = Vec::new();
        tlv::write(&mut body, 0x4F, &PIV_AID_FULL[5..]);
        tlv::write(&mut body, 0x79, &tlv::encode(0x4F, &PIV_AID_FULL[..5]));
        tlv::write(&mut body, 0x50, LABEL);
        let mut algs = Vec::new();
        for id in ADVERTISED_ALGORITHMS {
            tlv::write(&mut algs, 0x80, &[id]);
        }
        tlv::write(&mut algs, 0x06, &[0x00]);
        tlv::write(&mut body, 0xAC, &algs);
        Ok(tlv::encode(0x61, &body))
    }

    /// GET DATA (§3.1.2): `5C tag` → the object, `6A82` when absent; the
    /// biometric and printed-information objects need the PIN (Part 1 Table 3).
    pub(crate) fn get_data(&mut self, req: &Request) -> Reply {
        require_p1p2(req, 0x3F, 0xFF)?;
        let (tag_list, rest) = tlv::parse_one(&req.data).map_err(|_| StatusWord::INCORRECT_DATA)?;
        if tag_list.tag != 0x5C || !rest.is_empty() {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let tag = tag_from_bytes(tag_list.value).ok_or(StatusWord::INCORRECT_DATA)?;
        if object::needs_pin_to_read(tag) && !self.volatile.pin_verified {
            return Err(StatusWord::SECURITY_NOT_SATISFIED);
        }
        self.state.objects.get(&tag).cloned().ok_or(StatusWord::NOT_FOUND)
    }

    /// PUT DATA (§3.3.1): needs the management key. `5C tag 53 L value`
    /// stores (an empty `53` deletes); the discovery object and the BIT group
    /// template are sent as themselves (`7E …`, `7F61 …`).
    pub(crate) fn put_data(&mut self, req: &Request) -> Reply {
        require_p1p2(req, 0x3F, 0xFF)?;
        if !self.volatile.management_authenticated {
            return Err(StatusWord::SECURITY_NOT_SATISFIED);
        }
        let (first, rest) = tlv::parse_one(&req.data).map_err(|_| StatusWord::INCORRECT_DATA)?;
        let (tag, value, stored) = match first.tag {
            0x5C => {
                let tag = tag_from_bytes(first.value).ok_or(StatusWord::INCORRECT_DATA)?;
                let (content, tail) = tlv::parse_one(rest).map_err(|_| StatusWord::INCORRECT_DATA)?;
                if content.tag != 0x53 || !tail.is_empty() {
                    return Err(StatusWord::INCORRECT_DATA);
                }
                (tag, content.value, tlv::encode(0x53, content.value))
            }
            t @ (object::DISCOVERY | object::BIT_GROUP) if rest.is_empty() => {
                (t, first.value, tlv::encode(t, first.value))
            }
            _ => return Err(StatusWord::INCORRECT_DATA),
        };
        if !is_known_object(tag, self.state.flavour) {
            return Err(StatusWord::INCORRECT_DATA);
        }
        if value.len() > MAX_OBJECT_LEN {
            return Err(StatusWord::NO_MEMORY);
        }
        let kib = u32::try_from(stored.len()).unwrap_or(u32::MAX);
        self.cost(|l| l.put_data_per_kb.saturating_mul(kib) / 1024);
        if value.is_empty() {
            self.state.objects.remove(&tag);
        } else {
            self.state.objects.insert(tag, stored);
        }
        self.dirty = true;
        Ok(Vec::new())
    }

    /// VERIFY (§3.2.1): with data, checks the PIV PIN (8 bytes, FF padded);
    /// a wrong PIN costs exactly one try (`63Cx`), a blocked one answers
    /// `6983`, success restores the counter. Without data it reports the
    /// status (`9000` verified, else `63Cx`); P1 = FF logs out.
    pub(crate) fn verify(&mut self, req: &Request) -> Reply {
        match req.p2 {
            pin_ref::PIV_PIN => {}
            pin_ref::GLOBAL | pin_ref::PUK => return Err(StatusWord::REFERENCE_NOT_FOUND),
            _ => return Err(StatusWord::INCORRECT_P1P2),
        }
        match (req.p1, req.data.is_empty()) {
            (0xFF, true) => {
                self.volatile.pin_verified = false;
                self.volatile.pin_fresh = false;
                return Ok(Vec::new());
            }
            (0x00, true) => {
                return if self.state.pin.is_blocked() {
                    Err(StatusWord::BLOCKED)
                } else if self.volatile.pin_verified {
                    Ok(Vec::new())
                } else {
                    Err(StatusWord::verification_failed(self.state.pin.remaining))
                };
            }
            (0x00, false) => {}
            _ => return Err(StatusWord::INCORRECT_P1P2),
        }
        if req.data.len() != 8 {
            return Err(StatusWord::INCORRECT_DATA);
        }
        if self.state.pin.is_blocked() {
            return Err(StatusWord::BLOCKED);
        }
        if self.state.pin.is(&req.data) {
            if self.state.pin.remaining != self.state.pin.total {
                self.state.pin.remaining = self.state.pin.total;
                self.dirty = true;
            }
            self.volatile.pin_verified = true;
            self.volatile.pin_fresh = true;
            Ok(Vec::new())
        } else {
            self.state.pin.remaining = self.state.pin.remaining.saturating_sub(1);
            self.dirty = true;
            self.volatile.pin_verified = false;
            self.volatile.pin_fresh = false;
            Err(StatusWord::verification_failed(self.state.pin.remaining))
        }
    }

    /// CHANGE REFERENCE DATA (§3.2.2) for the PIN (80) or PUK (81):
    /// `old(8) ‖ new(8)`; a wrong old value costs one try.
    pub(crate) fn change_reference_data(&mut self, req: &Request) -> Reply {
        if req.p1 != 0x00 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let is_pin = match req.p2 {
            pin_ref::PIV_PIN => true,
            pin_ref::PUK => false,
            pin_ref::GLOBAL => return Err(StatusWord::REFERENCE_NOT_FOUND),
            _ => return Err(StatusWord::INCORRECT_P1P2),
        };
        if req.data.len() != 16 {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let (old, new) = req.data.split_at(8);
        let reference = if is_pin { &mut self.state.pin } else { &mut self.state.puk };
        if reference.is_blocked() {
            return Err(StatusWord::BLOCKED);
        }
        if !valid_new_reference(new) {
            return Err(StatusWord::INCORRECT_DATA);
        }
        self.dirty = true;
        if !reference.is(old) {
            reference.remaining = reference.remaining.saturating_sub(1);
            let left = reference.remaining;
            if is_pin {
                self.volatile.pin_verified = false;
                self.volatile.pin_fresh = false;
            }
            return Err(StatusWord::verification_failed(left));
        }
        reference.value = Zeroizing::new(new.to_vec());
        reference.remaining = reference.total;
        Ok(Vec::new())
    }

    /// RESET RETRY COUNTER (§3.2.3): `PUK(8) ‖ new PIN(8)` unblocks and
    /// sets the PIN; a wrong PUK costs one PUK try.
    pub(crate) fn reset_retry_counter(&mut self, req: &Request) -> Reply {
        if req.p1 != 0x00 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        if req.p2 != pin_ref::PIV_PIN {
            return Err(if req.p2 == pin_ref::GLOBAL {
                StatusWord::REFERENCE_NOT_FOUND
            } else {
                StatusWord::INCORRECT_P1P2
            });
        }
        if req.data.len() != 16 {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let (puk, new_pin) = req.data.split_at(8);
        if self.state.puk.is_blocked() {
            return Err(StatusWord::BLOCKED);
        }
        if !valid_new_reference(new_pin) {
            return Err(StatusWord::INCORRECT_DATA);
        }
        self.dirty = true;
        if !self.state.puk.is(puk) {
            self.state.puk.remaining = self.state.puk.remaining.saturating_sub(1);
            return Err(StatusWord::verification_failed(self.state.puk.remaining));
        }
        self.state.puk.remaining = self.state.puk.total;
        self.state.pin.value = Zeroizing::new(new_pin.to_vec());
        self.state.pin.remaining = self.state.pin.total;
        self.volatile.pin_verified = false;
        self.volatile.pin_fresh = false;
        Ok(Vec::new())
    }

    /// GENERAL AUTHENTICATE (§3.2.4): management-key authentication for
    /// 9B, private-key operations for the key slots.
    pub(crate) fn general_authenticate(&mut self, req: &Request) -> Reply {
        let (outer, rest) = tlv::parse_one(&req.data).map_err(|_| StatusWord::INCORRECT_DATA)?;
        if outer.tag != 0x7C || !rest.is_empty() {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let items = outer.children().map_err(|_| StatusWord::INCORRECT_DATA)?;
        let item = |tag: u32| items.iter().find(|t| t.tag == tag).map(|t| t.value);
        let (witness, challenge, response, exponentiation) = (item(0x80), item(0x81), item(0x82), item(0x85));
        if req.p2 == pin_ref::MANAGEMENT {
            return self.authenticate_management(req.p1, witness, challenge, response);
        }
        let slot = Slot::from_key_ref(req.p2).ok_or(StatusWord::INCORRECT_P1P2)?;
        self.private_key_operation(req.p1, slot, challenge, response, exponentiation)
    }

    /// Management key authentication (SP 800-73-4 Part 2 Appendix A): mutual
    /// (witness `80`, then `80 W 81 C` → `82 E(C)`) or external (`81` empty →
    /// challenge, then `82 E(C)`). P1 must name the key's algorithm; OpenSC's
    /// random-number request (`81` empty with P1 = 00) is answered whatever
    /// the algorithm.
    fn authenticate_management(
        &mut self,
        p1: u8,
        witness: Option<&[u8]>,
        challenge: Option<&[u8]>,
        response: Option<&[u8]>,
    ) -> Reply {
        self.cost(|l| l.management_auth);
        let key = self.state.management.key().ok_or(StatusWord(0x6F00))?;
        let algorithm = key.algorithm();
        let block = algorithm.block_len();
        let algorithm_matches = ManagementKeyAlgorithm::from_id(p1) == Some(algorithm);
        let pending = self.volatile.pending_auth.take();
        match (witness, challenge, response) {
            (Some([]), None, None) => {
                if !algorithm_matches {
                    return Err(StatusWord::INCORRECT_DATA);
                }
                self.volatile.management_authenticated = false;
                let w = random_block(block);
                let encrypted = key.encrypt_block(&w);
                self.volatile.pending_auth = Some(PendingAuth::Witness(w));
                Ok(tlv::encode(0x7C, &tlv::encode(0x80, &encrypted)))
            }
            (Some(w), Some(c), None) if !w.is_empty() => {
                if !algorithm_matches || c.len() != block {
                    return Err(StatusWord::INCORRECT_DATA);
                }
                match pending {
                    Some(PendingAuth::Witness(expected)) if crate::state::constant_time_eq(&expected, w) => {
                        self.volatile.management_authenticated = true;
                        let answer = key.encrypt_block(c);
                        Ok(tlv::encode(0x7C, &tlv::encode(0x82, &answer)))
                    }
                    _ => Err(StatusWord::SECURITY_NOT_SATISFIED),
                }
            }
            (None, Some([]), None) => {
                if !(algorithm_matches || p1 == 0x00) {
                    return Err(StatusWord::INCORRECT_DATA);
                }
                self.volatile.management_authenticated = false;
                let c = random_block(block);
                let answer = tlv::encode(0x7C, &tlv::encode(0x81, &c));
                self.volatile.pending_auth = Some(PendingAuth::Challenge(c));
                Ok(answer)
            }
            (None, None, Some(r)) if !r.is_empty() => {
                if !algorithm_matches {
                    return Err(StatusWord::INCORRECT_DATA);
                }
                match pending {
                    Some(PendingAuth::Challenge(c))
                        if crate::state::constant_time_eq(&key.encrypt_block(&c), r) =>
                    {
                        self.volatile.management_authenticated = true;
                        Ok(Vec::new())
                    }
                    _ => Err(StatusWord::SECURITY_NOT_SATISFIED),
                }
            }
            _ => Err(StatusWord::INCORRECT_DATA),
        }
    }

    /// Sign / decrypt (`82` empty, `81` input) or ECDH (`82` empty, `85`
    /// peer point) with a slot key, enforcing its PIN policy: PIN-always
    /// (9C by default) consumes the verification, PIN-once needs it, never
    /// (9E by default) needs nothing.
    fn private_key_operation(
        &mut self,
        p1: u8,
        slot: Slot,
        input: Option<&[u8]>,
        response: Option<&[u8]>,
        peer: Option<&[u8]>,
    ) -> Reply {
        let stored = self.state.keys.get(&slot.key_ref()).ok_or(StatusWord::REFERENCE_NOT_FOUND)?;
        if stored.algorithm.id() != p1 {
            return Err(StatusWord::INCORRECT_DATA);
        }
        if response != Some(&[]) {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let (algorithm, policy) = (stored.algorithm, stored.pin_policy);
        let key = PrivateKey::from_pkcs8(algorithm, &stored.pkcs8).ok_or(StatusWord(0x6F00))?;
        match policy {
            PinPolicy::Never => {}
            PinPolicy::Once if self.volatile.pin_verified => {}
            PinPolicy::Always if self.volatile.pin_verified && self.volatile.pin_fresh => {
                self.volatile.pin_fresh = false;
            }
            _ => return Err(StatusWord::SECURITY_NOT_SATISFIED),
        }
        let result = match (input, peer) {
            (Some(data), None) => key.sign(data)?,
            (None, Some(point)) => key.agree(point)?,
            _ => return Err(StatusWord::INCORRECT_DATA),
        };
        match algorithm {
            KeyAlgorithm::Rsa2048 => self.cost(|l| l.sign_rsa2048),
            _ => self.cost(|l| l.sign_ecc),
        }
        Ok(tlv::encode(0x7C, &tlv::encode(0x82, &result)))
    }

    /// GENERATE ASYMMETRIC KEY PAIR (§3.3.2): needs the management key;
    /// `AC {80 alg [AA pin-policy] [AB touch-policy]}` → `7F49 {public key}`.
    /// The YubiKey policy tags are honoured by the YubiKey flavour only.
    pub(crate) fn generate(&mut self, req: &Request) -> Reply {
        if req.p1 != 0x00 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let slot = Slot::from_key_ref(req.p2).ok_or(StatusWord::INCORRECT_P1P2)?;
        if !self.volatile.management_authenticated {
            return Err(StatusWord::SECURITY_NOT_SATISFIED);
        }
        let (template, rest) = tlv::parse_one(&req.data).map_err(|_| StatusWord::INCORRECT_DATA)?;
        if template.tag != 0xAC || !rest.is_empty() {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let items = template.children().map_err(|_| StatusWord::INCORRECT_DATA)?;
        let one_byte = |tag: u32| -> Result<Option<u8>, StatusWord> {
            match items.iter().find(|t| t.tag == tag).map(|t| t.value) {
                None => Ok(None),
                Some([b]) => Ok(Some(*b)),
                Some(_) => Err(StatusWord::INCORRECT_DATA),
            }
        };
        let algorithm = one_byte(0x80)?.and_then(KeyAlgorithm::from_id).ok_or(StatusWord::INCORRECT_DATA)?;
        let (pin_policy, touch_policy) = if self.state.flavour == Flavour::YubiKey {
            policies(slot, one_byte(0xAA)?, one_byte(0xAB)?)?
        } else {
            (slot.default_pin_policy(), 1)
        };
        let key = PrivateKey::generate(algorithm)?;
        match algorithm {
            KeyAlgorithm::Rsa2048 => self.cost(|l| l.generate_rsa2048),
            KeyAlgorithm::EccP256 => self.cost(|l| l.generate_p256),
            KeyAlgorithm::EccP384 => self.cost(|l| l.generate_p384),
        }
        self.store_key(slot, key, pin_policy, touch_policy, KeyOrigin::Generated)
            .map(|public| tlv::encode(0x7F49, &public))
    }

    /// Stores a key in a slot; returns its public-key template.
    pub(crate) fn store_key(
        &mut self,
        slot: Slot,
        key: PrivateKey,
        pin_policy: PinPolicy,
        touch_policy: u8,
        origin: KeyOrigin,
    ) -> Result<Vec<u8>, StatusWord> {
        let pkcs8 = key.to_pkcs8().ok_or(StatusWord(0x6F00))?;
        let public = key.public_key_template();
        let stored = StoredKey { algorithm: key.algorithm(), pin_policy, touch_policy, origin, pkcs8 };
        self.state.keys.insert(slot.key_ref(), stored);
        self.dirty = true;
        Ok(public)
    }

    /// True when `padded` (already 8 bytes) equals the PIN.
    pub(crate) fn pin_is_default(&self) -> bool {
        self.state.pin.is(&pad(piv::types::DEFAULT_PIN))
    }

    /// True when the PUK is the factory value.
    pub(crate) fn puk_is_default(&self) -> bool {
        self.state.puk.is(&pad(piv::types::DEFAULT_PUK))
    }
}

/// Resolves YubiKey policy bytes (0 or absent = the slot's default).
pub(crate) fn policies(
    slot: Slot,
    pin: Option<u8>,
    touch: Option<u8>,
) -> Result<(PinPolicy, u8), StatusWord> {
    let pin_policy = match pin.unwrap_or(0) {
        0 => slot.default_pin_policy(),
        1 => PinPolicy::Never,
        2 => PinPolicy::Once,
        3 => PinPolicy::Always,
        _ => return Err(StatusWord::INCORRECT_DATA),
    };
    let touch_policy = match touch.unwrap_or(0) {
        0 => 1,
        t @ 1..=3 => t,
        _ => return Err(StatusWord::INCORRECT_DATA),
    };
    Ok((pin_policy, touch_policy))
}
