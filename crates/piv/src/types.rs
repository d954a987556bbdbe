//! Identifiers shared by the PIV client and the virtual card: key slots,
//! algorithms, data object tags, factory defaults, and the management-key
//! block cipher.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The PIV application identifier (SP 800-73-4 Part 1 §2.2), without version.
pub const PIV_AID: [u8; 9] = [0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00];
/// The registered application provider id (RID); yubico-piv-tool selects with only this.
pub const PIV_RID: [u8; 5] = [0xA0, 0x00, 0x00, 0x03, 0x08];

/// Factory-default PIN of PIV stock and YubiKeys.
pub const DEFAULT_PIN: &[u8] = b"123456";
/// Factory-default PUK.
pub const DEFAULT_PUK: &[u8] = b"12345678";
/// Factory-default management key (24 bytes; 3DES before YubiKey 5.7, AES-192 after).
pub const DEFAULT_MANAGEMENT_KEY: [u8; 24] =
    [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8];

/// Key references of PINs (SP 800-73-4 Part 1 Table 4a).
pub mod pin_ref {
    /// Global PIN.
    pub const GLOBAL: u8 = 0x00;
    /// PIV Card Application PIN.
    pub const PIV_PIN: u8 = 0x80;
    /// PIN Unblocking Key.
    pub const PUK: u8 = 0x81;
    /// Card management key (9B).
    pub const MANAGEMENT: u8 = 0x9B;
}

/// Data object tags (SP 800-73-4 Part 1 Table 3), as the 3-byte `5C` value.
pub mod object {
    /// Card Capability Container.
    pub const CCC: u32 = 0x5FC107;
    /// Card Holder Unique Identifier.
    pub const CHUID: u32 = 0x5FC102;
    /// X.509 certificate for PIV Authentication (9A).
    pub const CERT_9A: u32 = 0x5FC105;
    /// X.509 certificate for Digital Signature (9C).
    pub const CERT_9C: u32 = 0x5FC10A;
    /// X.509 certificate for Key Management (9D).
    pub const CERT_9D: u32 = 0x5FC10B;
    /// X.509 certificate for Card Authentication (9E).
    pub const CERT_9E: u32 = 0x5FC101;
    /// Cardholder fingerprints (PIN to read).
    pub const FINGERPRINTS: u32 = 0x5FC103;
    /// Security object.
    pub const SECURITY_OBJECT: u32 = 0x5FC106;
    /// Cardholder facial image (PIN to read).
    pub const FACIAL_IMAGE: u32 = 0x5FC108;
    /// Printed information (PIN to read).
    pub const PRINTED_INFO: u32 = 0x5FC109;
    /// Key history object.
    pub const KEY_HISTORY: u32 = 0x5FC10C;
    /// First retired-key certificate (82); the 20 follow contiguously to 5FC120.
    pub const RETIRED_CERT_FIRST: u32 = 0x5FC10D;
    /// Discovery object (one-byte tag).
    pub const DISCOVERY: u32 = 0x7E;
    /// Biometric information templates group template.
    pub const BIT_GROUP: u32 = 0x7F61;
    /// YubiKey admin data (vendor).
    pub const YUBICO_ADMIN_DATA: u32 = 0x5FFF00;
    /// YubiKey attestation certificate (vendor).
    pub const YUBICO_ATTESTATION: u32 = 0x5FFF01;

    /// True when reading the object needs the PIN (SP 800-73-4 Part 1 Table 3).
    pub fn needs_pin_to_read(tag: u32) -> bool {
        matches!(tag, FINGERPRINTS | FACIAL_IMAGE | PRINTED_INFO | 0x5FC121)
    }
}

/// A PIV key slot (SP 800-73-4 Part 1 §3.1, Table 4b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Slot {
    /// 9A PIV Authentication (PIN once per session).
    #[serde(rename = "9a")]
    Authentication,
    /// 9C Digital Signature (PIN before every use).
    #[serde(rename = "9c")]
    Signature,
    /// 9D Key Management (PIN once per session).
    #[serde(rename = "9d")]
    KeyManagement,
    /// 9E Card Authentication (no PIN).
    #[serde(rename = "9e")]
    CardAuthentication,
    /// 82–95 retired key management keys (1–20).
    #[serde(rename = "retired")]
    Retired(u8),
}

impl Slot {
    /// The four primary slots, in the order cards are usually encoded.
    pub const PRIMARY: [Slot; 4] =
        [Slot::Authentication, Slot::Signature, Slot::KeyManagement, Slot::CardAuthentication];

    /// The key reference byte.
    pub fn key_ref(self) -> u8 {
        match self {
            Slot::Authentication => 0x9A,
            Slot::Signature => 0x9C,
            Slot::KeyManagement => 0x9D,
            Slot::CardAuthentication => 0x9E,
            Slot::Retired(n) => 0x81 + n.clamp(1, 20),
        }
    }

    /// The slot of a key reference byte.
    pub fn from_key_ref(r: u8) -> Option<Slot> {
        match r {
            0x9A => Some(Slot::Authentication),
            0x9C => Some(Slot::Signature),
            0x9D => Some(Slot::KeyManagement),
            0x9E => Some(Slot::CardAuthentication),
            0x82..=0x95 => Some(Slot::Retired(r - 0x81)),
            _ => None,
        }
    }

    /// The data object holding this slot's certificate.
    pub fn certificate_object(self) -> u32 {
        match self {
            Slot::Authentication => object::CERT_9A,
            Slot::Signature => object::CERT_9C,
            Slot::KeyManagement => object::CERT_9D,
            Slot::CardAuthentication => object::CERT_9E,
            Slot::Retired(n) => object::RETIRED_CERT_FIRST + u32::from(n.clamp(1, 20)) - 1,
        }
    }

    /// The slot whose certificate lives in `tag`.
    pub fn from_certificate_object(tag: u32) -> Option<Slot> {
        match tag {
            object::CERT_9A => Some(Slot::Authentication),
            object::CERT_9C => Some(Slot::Signature),
            object::CERT_9D => Some(Slot::KeyManagement),
            object::CERT_9E => Some(Slot::CardAuthentication),
            t if (object::RETIRED_CERT_FIRST..object::RETIRED_CERT_FIRST + 20).contains(&t) => {
                Some(Slot::Retired((t - object::RETIRED_CERT_FIRST + 1) as u8))
            }
            _ => None,
        }
    }

    /// The PIN rule SP 800-73-4 sets for the slot by default.
    pub fn default_pin_policy(self) -> PinPolicy {
        match self {
            Slot::Signature => PinPolicy::Always,
            Slot::CardAuthentication => PinPolicy::Never,
            _ => PinPolicy::Once,
        }
    }
}

impl std::fmt::Display for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02x}", self.key_ref())
    }
}

impl std::str::FromStr for Slot {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u8::from_str_radix(s.trim_start_matches("0x"), 16)
            .ok()
            .and_then(Slot::from_key_ref)
            .ok_or_else(|| format!("unknown PIV slot {s:?} (expected 9a, 9c, 9d, 9e or 82–95)"))
    }
}

/// When a slot's private key needs the PIN (YubiKey policy values, tag `AA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinPolicy {
    /// No PIN needed.
    Never = 1,
    /// PIN once per session.
    Once = 2,
    /// PIN before every private-key operation.
    Always = 3,
}

/// Asymmetric algorithms of slot keys (SP 800-78-4 Table 6-2 identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    /// RSA 2048-bit, id 07.
    Rsa2048,
    /// ECC curve P-256, id 11.
    EccP256,
    /// ECC curve P-384, id 14.
    EccP384,
}

impl KeyAlgorithm {
    /// The algorithm identifier byte.
    pub fn id(self) -> u8 {
        match self {
            KeyAlgorithm::Rsa2048 => 0x07,
            KeyAlgorithm::EccP256 => 0x11,
            KeyAlgorithm::EccP384 => 0x14,
        }
    }

    /// The algorithm of an identifier byte.
    pub fn from_id(id: u8) -> Option<KeyAlgorithm> {
        match id {
            0x07 => Some(KeyAlgorithm::Rsa2048),
            0x11 => Some(KeyAlgorithm::EccP256),
            0x14 => Some(KeyAlgorithm::EccP384),
            _ => None,
        }
    }
}

/// Management key (9B) algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManagementKeyAlgorithm {
    /// Triple DES (EDE, three keys), id 03.
    TripleDes,
    /// AES-128, id 08.
    Aes128,
    /// AES-192, id 0A.
    Aes192,
    /// AES-256, id 0C.
    Aes256,
}

impl ManagementKeyAlgorithm {
    /// The algorithm identifier byte (P1 of GENERAL AUTHENTICATE).
    pub fn id(self) -> u8 {
        match self {
            ManagementKeyAlgorithm::TripleDes => 0x03,
            ManagementKeyAlgorithm::Aes128 => 0x08,
            ManagementKeyAlgorithm::Aes192 => 0x0A,
            ManagementKeyAlgorithm::Aes256 => 0x0C,
        }
    }

    /// The algorithm of an identifier byte (00 is the legacy 3DES id).
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            0x00 | 0x03 => Some(ManagementKeyAlgorithm::TripleDes),
            0x08 => Some(ManagementKeyAlgorithm::Aes128),
            0x0A => Some(ManagementKeyAlgorithm::Aes192),
            0x0C => Some(ManagementKeyAlgorithm::Aes256),
            _ => None,
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            ManagementKeyAlgorithm::TripleDes | ManagementKeyAlgorithm::Aes192 => 24,
            ManagementKeyAlgorithm::Aes128 => 16,
            ManagementKeyAlgorithm::Aes256 => 32,
        }
    }

    /// Challenge (block) length in bytes: 8 for 3DES, 16 for AES.
    pub fn block_len(self) -> usize {
        match self {
            ManagementKeyAlgorithm::TripleDes => 8,
            _ => 16,
        }
    }
}

/// A card management key (9B). Zeroized on drop; never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ManagementKey {
    #[zeroize(skip)]
    algorithm: ManagementKeyAlgorithm,
    key: Vec<u8>,
}

impl std::fmt::Debug for ManagementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ManagementKey({:?}, <redacted>)", self.algorithm)
    }
}

/// A management key of the wrong length for its algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {algorithm:?} management key is {expected} bytes, not {actual}")]
pub struct BadKeyLength {
    /// The algorithm.
    pub algorithm: ManagementKeyAlgorithm,
    /// Bytes it needs.
    pub expected: usize,
    /// Bytes given.
    pub actual: usize,
}

impl ManagementKey {
    /// A key of `algorithm` from raw bytes.
    pub fn new(algorithm: ManagementKeyAlgorithm, key: &[u8]) -> Result<Self, BadKeyLength> {
        if key.len() != algorithm.key_len() {
            return Err(BadKeyLength { algorithm, expected: algorithm.key_len(), actual: key.len() });
        }
        Ok(ManagementKey { algorithm, key: key.to_vec() })
    }

    /// The factory default key, under the algorithm the card uses for it.
    pub fn factory_default(algorithm: ManagementKeyAlgorithm) -> Self {
        let key = match algorithm {
            ManagementKeyAlgorithm::Aes128 => DEFAULT_MANAGEMENT_KEY[..16].to_vec(),
            ManagementKeyAlgorithm::Aes256 => {
                [DEFAULT_MANAGEMENT_KEY.as_slice(), &DEFAULT_MANAGEMENT_KEY[..8]].concat()
            }
            _ => DEFAULT_MANAGEMENT_KEY.to_vec(),
        };
        ManagementKey { algorithm, key }
    }

    /// A fresh random key (the per-card key SPEC §2 step 2 requires).
    pub fn random(algorithm: ManagementKeyAlgorithm, rng: &mut impl rand::RngCore) -> Self {
        let mut key = vec![0u8; algorithm.key_len()];
        rng.fill_bytes(&mut key);
        ManagementKey { algorithm, key }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> ManagementKeyAlgorithm {
        self.algorithm
    }

    /// The raw key bytes (for escrow and for writing to the card only).
    pub fn expose_secret(&self) -> &[u8] {
        &self.key
    }

    /// Encrypts one block (ECB, as GENERAL AUTHENTICATE uses it).
    pub fn encrypt_block(&self, block: &[u8]) -> Vec<u8> {
        self.crypt_block(block, true)
    }

    /// Decrypts one block.
    pub fn decrypt_block(&self, block: &[u8]) -> Vec<u8> {
        self.crypt_block(block, false)
    }

    fn crypt_block(&self, block: &[u8], encrypt: bool) -> Vec<u8> {
        use cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
        fn run<C: BlockEncrypt + BlockDecrypt + KeyInit>(key: &[u8], block: &[u8], encrypt: bool) -> Vec<u8> {
            // Key lengths are checked at construction, so new_from_slice cannot fail here.
            let Ok(c) = C::new_from_slice(key) else { return Vec::new() };
            let mut b = cipher::generic_array::GenericArray::clone_from_slice(block);
            if encrypt {
                c.encrypt_block(&mut b)
            } else {
                c.decrypt_block(&mut b)
            }
            b.to_vec()
        }
        let n = self.algorithm.block_len();
        if block.len() != n {
            return Vec::new();
        }
        match self.algorithm {
            ManagementKeyAlgorithm::TripleDes => run::<des::TdesEde3>(&self.key, block, encrypt),
            ManagementKeyAlgorithm::Aes128 => run::<aes::Aes128>(&self.key, block, encrypt),
            ManagementKeyAlgorithm::Aes192 => run::<aes::Aes192>(&self.key, block, encrypt),
            ManagementKeyAlgorithm::Aes256 => run::<aes::Aes256>(&self.key, block, encrypt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_map_to_key_refs_and_objects() {
        for slot in Slot::PRIMARY.into_iter().chain((1..=20).map(Slot::Retired)) {
            assert_eq!(Slot::from_key_ref(slot.key_ref()), Some(slot));
            assert_eq!(Slot::from_certificate_object(slot.certificate_object()), Some(slot));
        }
        assert_eq!(Slot::Retired(20).certificate_object(), 0x5FC120);
        assert_eq!("9c".parse::<Slot>(), Ok(Slot::Signature));
    }

    #[test]
    fn management_key_block_cipher_round_trips_and_matches_3des_vector() {
        let key = ManagementKey::factory_default(ManagementKeyAlgorithm::TripleDes);
        let ct = key.encrypt_block(&[0u8; 8]);
        assert_eq!(ct.len(), 8);
        // With K1 = K2 = K3 3DES-EDE degenerates to single DES; FIPS 81 style check that
        // the three-key schedule is used: a changed third key changes the output.
        let mut other = DEFAULT_MANAGEMENT_KEY;
        other[23] ^= 0x10;
        let other = ManagementKey::new(ManagementKeyAlgorithm::TripleDes, &other).unwrap();
        assert_ne!(other.encrypt_block(&[0u8; 8]), ct);
        assert_eq!(key.decrypt_block(&ct), [0u8; 8]);
        for alg in
            [ManagementKeyAlgorithm::Aes128, ManagementKeyAlgorithm::Aes192, ManagementKeyAlgorithm::Aes256]
        {
            let k = ManagementKey::random(alg, &mut rand::thread_rng());
            let block = [7u8; 16];
            assert_eq!(k.decrypt_block(&k.encrypt_block(&block)), block);
        }
    }

    #[test]
    fn bad_lengths_are_refused_and_keys_are_not_printed() {
        assert!(ManagementKey::new(ManagementKeyAlgorithm::Aes128, &[0; 24]).is_err());
        let k = ManagementKey::factory_default(ManagementKeyAlgorithm::Aes192);
        assert!(!format!("{k:?}").contains("1, 2"));
    }
}
