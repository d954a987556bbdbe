//! The card's persistent memory: everything that survives power loss.
//!
//! Serialised as JSON to the state file. Secrets (PIN, PUK, management key,
//! private keys) are stored in the clear because this is a test simulator;
//! in memory they are zeroized on drop and never printed.

use std::collections::BTreeMap;

use piv::{KeyAlgorithm, ManagementKey, ManagementKeyAlgorithm};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::Flavour;

/// State file format version.
pub(crate) const FORMAT: u32 = 1;

/// Default tries for PIN and PUK (YubiKey and most PIV stock).
pub(crate) const DEFAULT_TRIES: u8 = 3;

/// The discovery object of factory stock (SP 800-73-4 Part 1 §3.3.2):
/// the full PIV AID and a PIN usage policy of "PIV PIN only, PIV PIN primary".
pub(crate) const FACTORY_DISCOVERY: [u8; 20] = [
    0x7E, 0x12, 0x4F, 0x0B, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0x5F, 0x2F,
    0x02, 0x40, 0x00,
];

/// A PIN or PUK with its retry counter (SP 800-73-4 Part 2 §3.2.1).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Reference {
    /// The value padded with FF to 8 bytes.
    #[serde(with = "hex_secret")]
    pub value: Zeroizing<Vec<u8>>,
    /// Tries after a reset.
    pub total: u8,
    /// Tries left; 0 = blocked.
    pub remaining: u8,
}

impl std::fmt::Debug for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reference(<redacted>, {}/{})", self.remaining, self.total)
    }
}

impl Reference {
    pub fn new(value: &[u8], tries: u8) -> Self {
        Reference { value: Zeroizing::new(pad(value)), total: tries, remaining: tries }
    }

    pub fn is_blocked(&self) -> bool {
        self.remaining == 0
    }

    pub fn is(&self, padded: &[u8]) -> bool {
        constant_time_eq(&self.value, padded)
    }
}

/// Pads a PIN/PUK to 8 bytes with FF (SP 800-73-4 Part 2 §2.4.3).
pub(crate) fn pad(value: &[u8]) -> Vec<u8> {
    let mut v = value.to_vec();
    v.resize(8, 0xFF);
    v
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The card management key (9B).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredManagementKey {
    pub algorithm: ManagementKeyAlgorithm,
    #[serde(with = "hex_secret")]
    pub key: Zeroizing<Vec<u8>>,
    /// YubiKey touch policy (1 never, 2 always, 3 cached); reported, not enforced.
    pub touch_policy: u8,
}

impl std::fmt::Debug for StoredManagementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoredManagementKey({:?}, <redacted>)", self.algorithm)
    }
}

impl StoredManagementKey {
    pub fn factory(algorithm: ManagementKeyAlgorithm) -> Self {
        let key = ManagementKey::factory_default(algorithm);
        StoredManagementKey { algorithm, key: Zeroizing::new(key.expose_secret().to_vec()), touch_policy: 1 }
    }

    pub fn key(&self) -> Option<ManagementKey> {
        ManagementKey::new(self.algorithm, &self.key).ok()
    }

    pub fn is_default(&self) -> bool {
        let default = ManagementKey::factory_default(self.algorithm);
        constant_time_eq(&self.key, default.expose_secret())
    }
}

/// Where a slot's key came from (YubiKey metadata tag 03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum KeyOrigin {
    Generated,
    Imported,
}

impl KeyOrigin {
    pub fn id(self) -> u8 {
        match self {
            KeyOrigin::Generated => 1,
            KeyOrigin::Imported => 2,
        }
    }
}

/// A private key in a slot, with its policies.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredKey {
    pub algorithm: KeyAlgorithm,
    pub pin_policy: piv::types::PinPolicy,
    /// 1 never, 2 always, 3 cached; reported, not enforced (nobody touches a simulator).
    pub touch_policy: u8,
    pub origin: KeyOrigin,
    /// PKCS#8 DER of the private key.
    #[serde(with = "hex_secret")]
    pub pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoredKey({:?}, {:?}, {:?}, <redacted>)", self.algorithm, self.pin_policy, self.origin)
    }
}

/// Everything the card keeps across power cycles.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PersistentState {
    pub format: u32,
    pub serial: u32,
    pub flavour: Flavour,
    pub pin: Reference,
    pub puk: Reference,
    pub management: StoredManagementKey,
    /// The algorithm a YubiKey RESET (FB) restores.
    pub factory_management_algorithm: ManagementKeyAlgorithm,
    /// Data objects by tag, each stored exactly as GET DATA returns it
    /// (`53 L …`, or `7E …` / `7F61 …` for the two BER-tagged objects).
    #[serde(with = "hex_objects")]
    pub objects: BTreeMap<u32, Vec<u8>>,
    /// Private keys by key reference.
    #[serde(with = "hex_keys")]
    pub keys: BTreeMap<u8, StoredKey>,
}

impl PersistentState {
    /// Factory-fresh stock: default PIN/PUK with 3 tries, default management
    /// key, no keys, and only the discovery object (blank PIV stock carries
    /// no CHUID until it is personalised).
    pub fn factory(serial: u32, flavour: Flavour, management: ManagementKeyAlgorithm) -> Self {
        let mut objects = BTreeMap::new();
        objects.insert(piv::types::object::DISCOVERY, FACTORY_DISCOVERY.to_vec());
        PersistentState {
            format: FORMAT,
            serial,
            flavour,
            pin: Reference::new(piv::types::DEFAULT_PIN, DEFAULT_TRIES),
            puk: Reference::new(piv::types::DEFAULT_PUK, DEFAULT_TRIES),
            management: StoredManagementKey::factory(management),
            factory_management_algorithm: management,
            objects,
            keys: BTreeMap::new(),
        }
    }
}

mod hex_secret {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(v: &Zeroizing<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(hex::encode(v.as_slice()));
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<Vec<u8>>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        hex::decode(text.as_str()).map(Zeroizing::new).map_err(serde::de::Error::custom)
    }
}

mod hex_objects {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &BTreeMap<u32, Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<String, String> = v.iter().map(|(k, v)| (format!("{k:x}"), hex::encode(v))).collect();
        m.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u32, Vec<u8>>, D::Error> {
        let m = BTreeMap::<String, String>::deserialize(d)?;
        m.into_iter()
            .map(|(k, v)| {
                let tag = u32::from_str_radix(&k, 16).map_err(serde::de::Error::custom)?;
                let value = hex::decode(v).map_err(serde::de::Error::custom)?;
                Ok((tag, value))
            })
            .collect()
    }
}

mod hex_keys {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::StoredKey;

    pub fn serialize<S: Serializer>(v: &BTreeMap<u8, StoredKey>, s: S) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<String, &StoredKey> = v.iter().map(|(k, v)| (format!("{k:02x}"), v)).collect();
        m.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<u8, StoredKey>, D::Error> {
        let m = BTreeMap::<String, StoredKey>::deserialize(d)?;
        m.into_iter()
            .map(|(k, v)| Ok((u8::from_str_radix(&k, 16).map_err(serde::de::Error::custom)?, v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_json_and_debug_redacts() {
        let s = PersistentState::factory(5, Flavour::Generic, ManagementKeyAlgorithm::Aes192);
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert!(json.contains("\"7e\""), "{json}");
        let back: PersistentState = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.objects, s.objects);
        assert!(back.pin.is(&pad(b"123456")) && back.management.is_default());
        let debug = format!("{s:?}");
        assert!(debug.contains("<redacted>") && !debug.contains("010203"), "{debug}");
    }

    #[test]
    fn references_compare_padded_values() {
        let r = Reference::new(b"123456", 3);
        assert!(r.is(&pad(b"123456")));
        assert!(!r.is(&pad(b"1234567")));
        assert!(!r.is(b"123456"), "unpadded never matches");
    }
}
