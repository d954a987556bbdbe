//! Offline PIN unblock by challenge–response (UC-PIN): the cardholder is
//! away with their card and a station tool without a registry connection;
//! the helpdesk is online. Only phone-readable codes travel.
//!
//! The protocol rides on the card's own mutual authentication with the
//! management key (9B; SP 800-73-4 Part 2 §3.2.4 and Appendix A.3), whose
//! per-card key only the card and the registry's escrow hold:
//!
//! 1. **Challenge** (cardholder's tool): GENERAL AUTHENTICATE `7C{80 00}`
//!    → the card answers `E_K(W)` for a fresh random witness `W`, which it
//!    keeps in volatile memory (lost on power-off or reset, or consumed by
//!    the next GENERAL AUTHENTICATE). The code is
//!    `version ‖ algorithm ‖ device tag ‖ E_K(W)`. The tool keeps the card
//!    session open until the response is typed in (the witness would not
//!    survive the card being powered down).
//! 2. **Response** (registry, helpdesk operator with Unblock PIN): decrypts
//!    `W = D_K(E_K(W))` with the escrowed key, sets `C = H(device ‖ W)` and
//!    `X = E_K(C)`, and answers `version ‖ W ‖ (PUK candidates ‖ next PUK)
//!    ⊕ H(X) ‖ tag(X, W)`. `X` never travels: only the holder of `K` — the
//!    registry, or the genuine card after accepting `W` — can compute it.
//! 3. **Completion** (tool): sends `7C{80 W, 81 C}`; the card checks `W`
//!    against its pending witness (a replayed or wrong response fails here
//!    and changes nothing: no PIN or PUK try is spent) and returns `X`; the
//!    tool checks the tag (the card is genuine), unmasks the PUKs, changes
//!    the PUK to the next one (CHANGE REFERENCE DATA), then unblocks the PIN
//!    with it (RESET RETRY COUNTER) and a PIN the cardholder chose.
//!
//! Someone who overhears both codes learns `W` and `E_K(W)`, but not `X`,
//! so neither the PUK that travelled (masked) nor the next one; and the
//! PUK that travelled is replaced on the card anyway. The registry escrows
//! the next PUK when it answers and keeps the one it replaced: a
//! completion torn before the PUK change leaves the card with the old
//! PUK, so the next response carries both candidates (see the registry).
//!
//! Codes are Crockford base32 (no I, L, O, U; those are read as 1, 1, 0)
//! in groups of four, ending in two check characters (10 bits of SHA-256):
//! a mistyped code is refused before the card is touched.

use apdu::{tlv, SwKind, Transport};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::card::PivCard;
use crate::error::{Error, Result};
use crate::secret::Puk;
use crate::types::{pin_ref, ManagementKey, ManagementKeyAlgorithm};

/// The protocol version carried in every code.
pub const VERSION: u8 = 1;
const KIND_CHALLENGE: u8 = 0x10 | 1;
const KIND_RESPONSE: u8 = 0x10 | 2;
/// The masked PUK block: two candidates and the next PUK, 4 bytes each.
const PUKS_LEN: usize = 12;
const TAG_LEN: usize = 2;
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const LABEL: &[u8] = b"cardstation/offline-unblock/v1/";

/// What is wrong with a typed code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// A character outside the code alphabet.
    #[error("the code has a character that is not in the code alphabet: {0:?}")]
    BadCharacter(char),
    /// The check characters do not match: a typo.
    #[error("the code's check characters do not match: a character was mistyped")]
    Check,
    /// Too short, too long, or the wrong kind of code.
    #[error("this is not a {0} code (wrong length or kind)")]
    Shape(&'static str),
    /// The challenge is from another card than the device named.
    #[error("the challenge comes from another card than device {0}")]
    OtherCard(String),
    /// The PUK cannot travel in a code (only numeric PUKs of up to 8 digits can).
    #[error("only numeric PUKs can be sent in a code")]
    PukNotNumeric,
}

/// A challenge read from the card (step 1).
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The card's management key algorithm.
    pub algorithm: ManagementKeyAlgorithm,
    /// Two bytes of SHA-256 of the device id: catches a challenge read to the wrong helpdesk record.
    pub device_tag: [u8; 2],
    /// `E_K(W)` as the card sent it.
    pub encrypted_witness: Vec<u8>,
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Challenge({:?}, {})", self.algorithm, hex::encode(self.device_tag))
    }
}

/// The device tag of a device id (its 16 UUID bytes).
pub fn device_tag(device: &[u8; 16]) -> [u8; 2] {
    let h = Sha256::digest(device);
    [h[0], h[1]]
}

impl Challenge {
    /// The phone-readable code.
    pub fn code(&self) -> String {
        let mut payload = vec![KIND_CHALLENGE, self.algorithm.id()];
        payload.extend_from_slice(&self.device_tag);
        payload.extend_from_slice(&self.encrypted_witness);
        encode(&payload)
    }

    /// Parses a typed challenge code.
    pub fn parse(code: &str) -> Result<Challenge, CodeError> {
        let payload = decode(code)?;
        let shape = CodeError::Shape("challenge");
        let (&kind, rest) = payload.split_first().ok_or(shape.clone())?;
        let (&alg, rest) = rest.split_first().ok_or(shape.clone())?;
        let algorithm = ManagementKeyAlgorithm::from_id(alg).ok_or(shape.clone())?;
        if kind != KIND_CHALLENGE || rest.len() != 2 + algorithm.block_len() {
            return Err(shape);
        }
        Ok(Challenge { algorithm, device_tag: [rest[0], rest[1]], encrypted_witness: rest[2..].to_vec() })
    }

    /// Checks that the challenge was read from the card of `device`.
    pub fn check_device(&self, device: &[u8; 16]) -> Result<(), CodeError> {
        if device_tag(device) == self.device_tag {
            Ok(())
        } else {
            Err(CodeError::OtherCard(hex::encode(device)))
        }
    }
}

/// The tool's challenge block `C = H(device ‖ W)`, truncated to the block size.
fn tool_challenge(device: &[u8; 16], witness: &[u8]) -> Zeroizing<Vec<u8>> {
    let h = Sha256::new().chain_update(LABEL).chain_update(b"C").chain_update(device).chain_update(witness);
    Zeroizing::new(h.finalize()[..witness.len()].to_vec())
}

fn mask(x: &[u8]) -> Zeroizing<[u8; PUKS_LEN]> {
    let h = Sha256::new().chain_update(LABEL).chain_update(b"mask").chain_update(x).finalize();
    let mut out = Zeroizing::new([0u8; PUKS_LEN]);
    out.copy_from_slice(&h[..PUKS_LEN]);
    out
}

fn tag(x: &[u8], witness: &[u8]) -> [u8; TAG_LEN] {
    let h = Sha256::new()
        .chain_update(LABEL)
        .chain_update(b"tag")
        .chain_update(x)
        .chain_update(witness)
        .finalize();
    [h[0], h[1]]
}

/// A numeric PUK as 4 bytes: its length in the top bits, its value below (0: none).
fn pack(puk: Option<&Puk>) -> Result<[u8; 4], CodeError> {
    let Some(puk) = puk else { return Ok([0; 4]) };
    let text = puk.expose_secret();
    if text.is_empty() || text.len() > 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeError::PukNotNumeric);
    }
    let value: u32 = text.parse().map_err(|_| CodeError::PukNotNumeric)?;
    let len = u32::try_from(text.len()).map_err(|_| CodeError::PukNotNumeric)?;
    Ok(((len << 27) | value).to_be_bytes())
}

fn unpack(bytes: &[u8]) -> Result<Option<Puk>, Error> {
    let word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if word == 0 {
        return Ok(None);
    }
    let len = (word >> 27) as usize;
    let value = word & ((1 << 27) - 1);
    let text = Zeroizing::new(format!("{value:0len$}"));
    if text.len() != len {
        return Err(Error::Malformed { what: "a PUK in the response does not fit its length" });
    }
    Puk::new(&text).map(Some)
}

/// What the registry puts in a response: the PUK the card may hold now
/// (one, or two after an earlier completion that may have been torn), and
/// the PUK the card is to get.
#[derive(Debug)]
pub struct PukPlan<'a> {
    /// The PUK the registry has escrowed now (tried first).
    pub current: &'a Puk,
    /// The PUK it replaced, if an earlier completion may not have changed it.
    pub previous: Option<&'a Puk>,
    /// The PUK the card is to end with (escrowed by the registry).
    pub next: &'a Puk,
}

/// Step 2, at the registry: the response code for `challenge` from the
/// card of `device`, with the escrowed management `key`.
pub fn respond(
    key: &ManagementKey,
    device: &[u8; 16],
    challenge: &Challenge,
    puks: &PukPlan<'_>,
) -> Result<Zeroizing<String>, CodeError> {
    challenge.check_device(device)?;
    if challenge.algorithm != key.algorithm() {
        return Err(CodeError::Shape("challenge for this card's management key algorithm"));
    }
    let witness = Zeroizing::new(key.decrypt_block(&challenge.encrypted_witness));
    let c = tool_challenge(device, &witness);
    let x = Zeroizing::new(key.encrypt_block(&c));
    let mut plain = Zeroizing::new([0u8; PUKS_LEN]);
    plain[..4].copy_from_slice(&pack(Some(puks.current))?);
    plain[4..8].copy_from_slice(&pack(puks.previous)?);
    plain[8..].copy_from_slice(&pack(Some(puks.next))?);
    let m = mask(&x);
    let mut payload = Zeroizing::new(vec![KIND_RESPONSE]);
    payload.extend_from_slice(&witness);
    payload.extend(plain.iter().zip(m.iter()).map(|(a, b)| a ^ b));
    payload.extend_from_slice(&tag(&x, &witness));
    Ok(Zeroizing::new(encode(&payload)))
}

/// A typed response code, parsed (the witness is secret until used).
pub struct Response {
    witness: Zeroizing<Vec<u8>>,
    masked: [u8; PUKS_LEN],
    tag: [u8; TAG_LEN],
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Response(<redacted>)")
    }
}

impl Response {
    /// Parses a typed response for a card whose key has `algorithm`.
    pub fn parse(code: &str, algorithm: ManagementKeyAlgorithm) -> Result<Response, CodeError> {
        let payload = Zeroizing::new(decode(code)?);
        let block = algorithm.block_len();
        if payload.len() != 1 + block + PUKS_LEN + TAG_LEN || payload[0] != KIND_RESPONSE {
            return Err(CodeError::Shape("response"));
        }
        let witness = Zeroizing::new(payload[1..1 + block].to_vec());
        let mut masked = [0u8; PUKS_LEN];
        masked.copy_from_slice(&payload[1 + block..1 + block + PUKS_LEN]);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&payload[1 + block + PUKS_LEN..]);
        Ok(Response { witness, masked, tag })
    }

    /// A digest naming this response (for journals: not secret).
    pub fn digest(&self) -> String {
        let h = Sha256::new().chain_update(LABEL).chain_update(b"digest").chain_update(&*self.witness);
        hex::encode(&h.finalize()[..8])
    }
}

/// What the card revealed after accepting the response: the PUKs, in memory only.
pub struct Unmasked {
    /// The PUKs the card may hold, most likely first.
    pub candidates: Vec<Puk>,
    /// The PUK the card is to get.
    pub next: Puk,
}

impl std::fmt::Debug for Unmasked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Unmasked({} candidates, <redacted>)", self.candidates.len())
    }
}

impl<T: Transport> PivCard<T> {
    /// Step 1: asks the card for a management-key witness (`7C{80 00}`)
    /// and returns it as a challenge for `device`. The algorithm is taken
    /// from the card's metadata when it has them, else each is tried (a
    /// request with the wrong algorithm is refused and changes nothing).
    pub fn offline_unblock_challenge(&mut self, device: &[u8; 16]) -> Result<Challenge> {
        let known = self.management_key_algorithm().ok().flatten();
        let order = match known {
            Some(a) => vec![a],
            None => vec![
                ManagementKeyAlgorithm::Aes256,
                ManagementKeyAlgorithm::Aes128,
                ManagementKeyAlgorithm::Aes192,
                ManagementKeyAlgorithm::TripleDes,
            ],
        };
        for algorithm in order {
            let command =
                crate::commands::general_authenticate(algorithm.id(), pin_ref::MANAGEMENT, &[0x80, 0x00]);
            let r = apdu::exchange(self.transport_mut(), &command)?;
            match r.sw.kind() {
                SwKind::Success => {
                    let encrypted = crate::card::parse_authentication_template(&r.data, 0x80)?;
                    if encrypted.len() != algorithm.block_len() {
                        return Err(Error::Malformed {
                            what: "witness length does not match the key algorithm",
                        });
                    }
                    return Ok(Challenge {
                        algorithm,
                        device_tag: device_tag(device),
                        encrypted_witness: encrypted,
                    });
                }
                SwKind::IncorrectData | SwKind::IncorrectP1P2 => continue,
                _ => return Err(Error::from_status("GENERAL AUTHENTICATE", r.sw)),
            }
        }
        Err(Error::AuthenticationFailed)
    }

    /// Step 3: proves `response` to the card (`7C{80 W, 81 C}`), checks the
    /// card's answer against the response's tag and unmasks the PUKs. A
    /// wrong or replayed response is [`Error::AuthenticationFailed`] and
    /// changed nothing on the card.
    pub fn offline_unblock_prove(
        &mut self,
        algorithm: ManagementKeyAlgorithm,
        device: &[u8; 16],
        response: &Response,
    ) -> Result<Unmasked> {
        let c = tool_challenge(device, &response.witness);
        let mut t = tlv::encode(0x80, &response.witness);
        tlv::write(&mut t, 0x81, &c);
        let command = crate::commands::general_authenticate(algorithm.id(), pin_ref::MANAGEMENT, &t);
        let r = apdu::exchange(self.transport_mut(), &command)?;
        match r.sw.kind() {
            SwKind::Success => {}
            SwKind::SecurityNotSatisfied | SwKind::IncorrectData | SwKind::Blocked => {
                return Err(Error::AuthenticationFailed)
            }
            _ => return Err(Error::from_status("GENERAL AUTHENTICATE", r.sw)),
        }
        let x = Zeroizing::new(crate::card::parse_authentication_template(&r.data, 0x82)?);
        if tag(&x, &response.witness) != response.tag {
            return Err(Error::BadSignature(
                "the card's answer does not match the response: not the card the helpdesk answered for",
            ));
        }
        let m = mask(&x);
        let plain: Zeroizing<Vec<u8>> =
            Zeroizing::new(response.masked.iter().zip(m.iter()).map(|(a, b)| a ^ b).collect());
        let mut candidates = Vec::new();
        for chunk in [&plain[..4], &plain[4..8]] {
            if let Some(p) = unpack(chunk)? {
                candidates.push(p);
            }
        }
        let next = unpack(&plain[8..])?.ok_or(Error::Malformed { what: "the response names no next PUK" })?;
        if candidates.is_empty() {
            return Err(Error::Malformed { what: "the response names no PUK" });
        }
        Ok(Unmasked { candidates, next })
    }
}

fn check(payload: &[u8]) -> [u8; 2] {
    let h = Sha256::new().chain_update(LABEL).chain_update(b"check").chain_update(payload).finalize();
    let bits = (u16::from(h[0]) << 2) | u16::from(h[1] >> 6);
    [ALPHABET[usize::from(bits >> 5)], ALPHABET[usize::from(bits & 31)]]
}

/// Crockford base32 of `payload` plus two check characters, in groups of four.
pub fn encode(payload: &[u8]) -> String {
    let mut chars = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in payload {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            chars.push(ALPHABET[((acc >> bits) & 31) as usize]);
        }
    }
    if bits > 0 {
        chars.push(ALPHABET[((acc << (5 - bits)) & 31) as usize]);
    }
    chars.extend_from_slice(&check(payload));
    chars.chunks(4).map(|g| String::from_utf8_lossy(g).into_owned()).collect::<Vec<_>>().join("-")
}

/// Parses a code as typed: case, spaces and dashes do not matter; I and L
/// read as 1, O as 0.
pub fn decode(code: &str) -> Result<Vec<u8>, CodeError> {
    let mut values = Vec::new();
    for c in code.chars() {
        if c == '-' || c.is_whitespace() {
            continue;
        }
        let c = match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            other => other,
        };
        let v = ALPHABET.iter().position(|&a| char::from(a) == c).ok_or(CodeError::BadCharacter(c))?;
        values.push(v as u32);
    }
    if values.len() < 4 {
        return Err(CodeError::Shape("typed"));
    }
    let (body, sum) = values.split_at(values.len() - 2);
    let mut out = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &v in body {
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    let expected = check(&out);
    if [ALPHABET[sum[0] as usize], ALPHABET[sum[1] as usize]] != expected {
        return Err(CodeError::Check);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ManagementKey {
        ManagementKey::new(ManagementKeyAlgorithm::Aes256, &[7u8; 32]).unwrap()
    }

    #[test]
    fn codes_round_trip_and_a_typo_is_caught() {
        let payload: Vec<u8> = (0..31u8).collect();
        let code = encode(&payload);
        assert!(code.split('-').all(|g| g.len() <= 4));
        assert_eq!(decode(&code).unwrap(), payload);
        assert_eq!(decode(&code.to_lowercase().replace('-', " ")).unwrap(), payload);
        let mut typo: Vec<char> = code.chars().collect();
        typo[2] = if typo[2] == 'A' { 'B' } else { 'A' };
        assert_eq!(decode(&typo.into_iter().collect::<String>()), Err(CodeError::Check));
        assert_eq!(decode("U000-0000"), Err(CodeError::BadCharacter('U')));
    }

    #[test]
    fn the_registry_response_unmasks_with_what_only_the_key_holder_computes() {
        let device = [3u8; 16];
        let k = key();
        let witness = [9u8; 16];
        let challenge = Challenge {
            algorithm: ManagementKeyAlgorithm::Aes256,
            device_tag: device_tag(&device),
            encrypted_witness: k.encrypt_block(&witness),
        };
        let parsed = Challenge::parse(&challenge.code()).unwrap();
        assert_eq!(parsed, challenge);
        assert!(matches!(parsed.check_device(&[4u8; 16]), Err(CodeError::OtherCard(_))));
        let current = Puk::new("12345678").unwrap();
        let next = Puk::new("00123456").unwrap();
        let code =
            respond(&k, &device, &challenge, &PukPlan { current: &current, previous: None, next: &next })
                .unwrap();
        let response = Response::parse(&code, ManagementKeyAlgorithm::Aes256).unwrap();
        assert_eq!(&*response.witness, &witness);
        // What the card returns after accepting W: E_K(C).
        let x = k.encrypt_block(&tool_challenge(&device, &witness));
        assert_eq!(tag(&x, &witness), response.tag);
        let m = mask(&x);
        let plain: Vec<u8> = response.masked.iter().zip(m.iter()).map(|(a, b)| a ^ b).collect();
        assert_eq!(unpack(&plain[..4]).unwrap().unwrap().expose_secret(), "12345678");
        assert!(unpack(&plain[4..8]).unwrap().is_none());
        assert_eq!(unpack(&plain[8..]).unwrap().unwrap().expose_secret(), "00123456");
        assert!(Response::parse(&challenge.code(), ManagementKeyAlgorithm::Aes256).is_err());
        assert_eq!(
            pack(Some(&Puk::new("ABCDEF12").unwrap())),
            Err(CodeError::PukNotNumeric),
            "letters cannot travel"
        );
    }
}
