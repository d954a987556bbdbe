//! Escrow of per-card secrets (SPEC §2 steps 2 and 5, §7): the random
//! management key that replaces the factory key, and the PUK, kept by the
//! registry encrypted at rest so an authorised operator can later manage or
//! unblock the card. Nothing here stores anything: [`Escrow::seal_management_key`]
//! and [`Escrow::seal_puk`] return an [`EscrowRecord`] the registry keeps, and
//! the `open_*` methods turn a stored record back into the secret.
//!
//! Each record is AES-256-GCM under its own data key, which the
//! [`KeyEncryptionKey`] wraps (envelope encryption). The associated data
//! binds the ciphertext to (device id, kind, version): a record copied onto
//! another device's row, relabelled as the other kind or rolled back to
//! another version does not decrypt.

use crate::files::hex_bytes;
use crate::kek::{Envelope, KeyEncryptionKey};
use crate::{Error, Result};
use domain::DeviceId;
use piv::{ManagementKey, ManagementKeyAlgorithm, Puk};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Which secret a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EscrowKind {
    /// The card's management key (9B), with its algorithm.
    ManagementKey,
    /// The PIN unblocking key.
    Puk,
    /// An outgoing message's body (the registry's mail outbox): it may hold
    /// a one-time enrollment code, so it is sealed like a card secret, bound
    /// to the message's id.
    OutgoingMail,
}

impl EscrowKind {
    fn code(self) -> u8 {
        match self {
            EscrowKind::ManagementKey => 1,
            EscrowKind::Puk => 2,
            EscrowKind::OutgoingMail => 3,
        }
    }
}

/// An escrowed secret as the registry stores it: no plaintext, only the
/// ciphertext, the wrapped data key and which KEK wrapped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowRecord {
    /// The card the secret belongs to.
    pub device: DeviceId,
    /// Management key or PUK.
    pub kind: EscrowKind,
    /// Version of this secret for the device (increases when it is replaced).
    pub version: u32,
    /// The KEK that wrapped `wrapped_key` ([`KeyEncryptionKey::id`]).
    pub kek_id: String,
    /// The per-record data key, wrapped by the KEK.
    #[serde(with = "hex_bytes")]
    pub wrapped_key: Vec<u8>,
    /// AES-GCM nonce (12 bytes).
    #[serde(with = "hex_bytes")]
    pub nonce: Vec<u8>,
    /// AES-256-GCM ciphertext and tag.
    #[serde(with = "hex_bytes")]
    pub ciphertext: Vec<u8>,
}

impl EscrowRecord {
    /// The record as bytes for a storage column (JSON; no plaintext in it).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|_| Error::Crypto("encoding an escrow record"))
    }

    /// A record read back from [`EscrowRecord::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<EscrowRecord> {
        serde_json::from_slice(bytes).map_err(|_| Error::Malformed { what: "not an escrow record" })
    }

    fn envelope(&self) -> Envelope {
        Envelope {
            kek_id: self.kek_id.clone(),
            wrapped_key: self.wrapped_key.clone(),
            nonce: self.nonce.clone(),
            ciphertext: self.ciphertext.clone(),
        }
    }
}

/// The associated data: a label, the device UUID, the kind and the version.
fn associated_data(device: DeviceId, kind: EscrowKind, version: u32) -> Vec<u8> {
    let mut aad = b"cardstation escrow v1\0".to_vec();
    aad.extend_from_slice(device.uuid().as_bytes());
    aad.push(kind.code());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

/// Seals and opens escrow records under one KEK.
#[derive(Clone)]
pub struct Escrow {
    kek: Arc<dyn KeyEncryptionKey>,
}

impl std::fmt::Debug for Escrow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Escrow").field("kek", &self.kek.id()).finish()
    }
}

impl Escrow {
    /// Escrow under `kek`.
    pub fn new(kek: Arc<dyn KeyEncryptionKey>) -> Escrow {
        Escrow { kek }
    }

    /// The KEK in use.
    pub fn kek(&self) -> &dyn KeyEncryptionKey {
        self.kek.as_ref()
    }

    /// Encrypts a raw secret for `device`.
    pub fn seal(
        &self,
        device: DeviceId,
        kind: EscrowKind,
        version: u32,
        secret: &[u8],
    ) -> Result<EscrowRecord> {
        let env = Envelope::seal(self.kek.as_ref(), &associated_data(device, kind, version), secret)?;
        Ok(EscrowRecord {
            device,
            kind,
            version,
            kek_id: env.kek_id,
            wrapped_key: env.wrapped_key,
            nonce: env.nonce,
            ciphertext: env.ciphertext,
        })
    }

    /// Decrypts a record that must belong to `device` and be of `kind`.
    pub fn open(
        &self,
        record: &EscrowRecord,
        device: DeviceId,
        kind: EscrowKind,
    ) -> Result<Zeroizing<Vec<u8>>> {
        if record.device != device {
            return Err(Error::WrongDevice { expected: device, found: record.device });
        }
        if record.kind != kind {
            return Err(Error::WrongKind { expected: kind, found: record.kind });
        }
        record
            .envelope()
            .open(self.kek.as_ref(), &associated_data(record.device, record.kind, record.version))
    }

    /// [`Escrow::open`] of a record stored as [`EscrowRecord::to_bytes`].
    pub fn open_bytes(
        &self,
        stored: &[u8],
        device: DeviceId,
        kind: EscrowKind,
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.open(&EscrowRecord::from_bytes(stored)?, device, kind)
    }

    /// Escrows a card's management key; the plaintext is the SP 800-73-4
    /// algorithm identifier (Part 1 Table 5) followed by the key.
    pub fn seal_management_key(
        &self,
        device: DeviceId,
        version: u32,
        key: &ManagementKey,
    ) -> Result<EscrowRecord> {
        let mut plain = Zeroizing::new(Vec::with_capacity(33));
        plain.push(key.algorithm().id());
        plain.extend_from_slice(key.expose_secret());
        self.seal(device, EscrowKind::ManagementKey, version, &plain)
    }

    /// Recovers the management key escrowed for `device`.
    pub fn open_management_key(&self, record: &EscrowRecord, device: DeviceId) -> Result<ManagementKey> {
        let plain = self.open(record, device, EscrowKind::ManagementKey)?;
        let (&algorithm, key) =
            plain.split_first().ok_or(Error::Malformed { what: "empty management key record" })?;
        let algorithm = ManagementKeyAlgorithm::from_id(algorithm)
            .ok_or(Error::Malformed { what: "unknown management key algorithm" })?;
        ManagementKey::new(algorithm, key)
            .map_err(|_| Error::Malformed { what: "management key of the wrong length" })
    }

    /// Escrows a card's PUK.
    pub fn seal_puk(&self, device: DeviceId, version: u32, puk: &Puk) -> Result<EscrowRecord> {
        self.seal(device, EscrowKind::Puk, version, puk.expose_secret().as_bytes())
    }

    /// Recovers the PUK escrowed for `device`.
    pub fn open_puk(&self, record: &EscrowRecord, device: DeviceId) -> Result<Puk> {
        let plain = self.open(record, device, EscrowKind::Puk)?;
        let text = std::str::from_utf8(&plain).map_err(|_| Error::Malformed { what: "PUK is not text" })?;
        Puk::new(text).map_err(|_| Error::Malformed { what: "escrowed PUK is not a valid PUK" })
    }

    /// Moves a record made under `previous` to this escrow's KEK (KEK
    /// rotation): the data key is re-wrapped, the ciphertext is unchanged.
    pub fn rewrap(&self, record: &EscrowRecord, previous: &dyn KeyEncryptionKey) -> Result<EscrowRecord> {
        let env = record.envelope().rewrap(previous, self.kek.as_ref())?;
        Ok(EscrowRecord { kek_id: env.kek_id, wrapped_key: env.wrapped_key, ..record.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kek::FileKek;

    fn escrow(dir: &std::path::Path, name: &str) -> Escrow {
        Escrow::new(Arc::new(FileKek::open_or_create(&dir.join(name)).unwrap()))
    }

    const DEVICE: DeviceId = DeviceId::from_u128(0xD1);
    const OTHER: DeviceId = DeviceId::from_u128(0xD2);

    #[test]
    fn management_keys_and_puks_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let escrow = escrow(dir.path(), "kek");
        for algorithm in [
            ManagementKeyAlgorithm::Aes128,
            ManagementKeyAlgorithm::Aes256,
            ManagementKeyAlgorithm::TripleDes,
        ] {
            let key = ManagementKey::random(algorithm, &mut rand::thread_rng());
            let record = escrow.seal_management_key(DEVICE, 3, &key).unwrap();
            assert_eq!((record.device, record.kind, record.version), (DEVICE, EscrowKind::ManagementKey, 3));
            let back = escrow.open_management_key(&record, DEVICE).unwrap();
            assert_eq!(back.algorithm(), algorithm);
            assert_eq!(back.expose_secret(), key.expose_secret());
        }
        let puk = Puk::new("84736251").unwrap();
        let record = escrow.seal_puk(DEVICE, 1, &puk).unwrap();
        // Through the registry's storage and back.
        let stored = serde_json::to_string(&record).unwrap();
        let loaded: EscrowRecord = serde_json::from_str(&stored).unwrap();
        assert_eq!(escrow.open_puk(&loaded, DEVICE).unwrap().expose_secret(), "84736251");
        // As a bytes column.
        let column = record.to_bytes().unwrap();
        assert_eq!(escrow.open_bytes(&column, DEVICE, EscrowKind::Puk).unwrap().as_slice(), b"84736251");
        assert!(matches!(
            escrow.open_bytes(&column, DEVICE, EscrowKind::ManagementKey),
            Err(Error::WrongKind { .. })
        ));
        assert!(matches!(escrow.open_bytes(b"{}", DEVICE, EscrowKind::Puk), Err(Error::Malformed { .. })));
    }

    #[test]
    fn serialized_records_never_contain_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let escrow = escrow(dir.path(), "kek");
        let key = ManagementKey::random(ManagementKeyAlgorithm::Aes256, &mut rand::thread_rng());
        let puk = Puk::new("19283746").unwrap();
        let records =
            [escrow.seal_management_key(DEVICE, 1, &key).unwrap(), escrow.seal_puk(DEVICE, 1, &puk).unwrap()];
        let kek_bytes = std::fs::read(dir.path().join("kek")).unwrap();
        for record in &records {
            let json = serde_json::to_vec(record).unwrap();
            let debug = format!("{record:?}").into_bytes();
            for haystack in [&json, &debug] {
                let text = String::from_utf8_lossy(haystack).to_lowercase();
                for needle in [
                    hex::encode(key.expose_secret()),
                    hex::encode(&key.expose_secret()[..8]),
                    "19283746".to_string(),
                    hex::encode(b"19283746"),
                    hex::encode(&kek_bytes),
                ] {
                    assert!(!text.contains(&needle), "record leaks {needle}");
                }
                assert!(!haystack.windows(8).any(|w| w == &key.expose_secret()[..8]));
                assert!(!haystack.windows(8).any(|w| w == b"19283746"));
            }
        }
        assert!(format!("{escrow:?}").contains("file:"));
    }

    #[test]
    fn tampering_swapping_and_the_wrong_kek_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let escrow = escrow(dir.path(), "kek");
        let puk = Puk::new("12345678").unwrap();
        let record = escrow.seal_puk(DEVICE, 1, &puk).unwrap();

        // Asking for another device's secret with this record.
        assert!(matches!(escrow.open_puk(&record, OTHER), Err(Error::WrongDevice { .. })));
        // The record moved to another device's row (its device field rewritten): AAD no longer matches.
        let moved = EscrowRecord { device: OTHER, ..record.clone() };
        assert!(matches!(escrow.open_puk(&moved, OTHER), Err(Error::Integrity)));
        // Relabelled as the other kind, or as another version.
        let relabelled = EscrowRecord { kind: EscrowKind::ManagementKey, ..record.clone() };
        assert!(matches!(escrow.open_management_key(&relabelled, DEVICE), Err(Error::Integrity)));
        assert!(matches!(escrow.open_puk(&relabelled, DEVICE), Err(Error::WrongKind { .. })));
        let rolled = EscrowRecord { version: 2, ..record.clone() };
        assert!(matches!(escrow.open_puk(&rolled, DEVICE), Err(Error::Integrity)));
        // Ciphertext, nonce or wrapped key altered.
        for i in 0..record.ciphertext.len() {
            let mut bad = record.clone();
            bad.ciphertext[i] ^= 0x01;
            assert!(matches!(escrow.open_puk(&bad, DEVICE), Err(Error::Integrity)), "byte {i}");
        }
        let mut bad = record.clone();
        bad.nonce[0] ^= 1;
        assert!(matches!(escrow.open_puk(&bad, DEVICE), Err(Error::Integrity)));
        let mut bad = record.clone();
        bad.wrapped_key[30] ^= 1;
        assert!(matches!(escrow.open_puk(&bad, DEVICE), Err(Error::Integrity)));
        let bad = EscrowRecord { nonce: vec![0; 11], ..record.clone() };
        assert!(matches!(escrow.open_puk(&bad, DEVICE), Err(Error::Malformed { .. })));
        // Another device's ciphertext pasted into this device's record.
        let other = escrow.seal_puk(OTHER, 1, &Puk::new("87654321").unwrap()).unwrap();
        let spliced = EscrowRecord { device: DEVICE, ..other };
        assert!(matches!(escrow.open_puk(&spliced, DEVICE), Err(Error::Integrity)));

        // A different KEK is recognised as such.
        let foreign = self::escrow(dir.path(), "other-kek");
        assert!(matches!(foreign.open_puk(&record, DEVICE), Err(Error::UnknownKek { .. })));
        // Forged kek id: the wrapped key still does not open.
        let forged = EscrowRecord { kek_id: foreign.kek().id().to_owned(), ..record.clone() };
        assert!(matches!(foreign.open_puk(&forged, DEVICE), Err(Error::Integrity)));
        // Rotation to the new KEK keeps the secret.
        let rotated = foreign.rewrap(&record, escrow.kek()).unwrap();
        assert_eq!(foreign.open_puk(&rotated, DEVICE).unwrap().expose_secret(), "12345678");
        assert!(matches!(escrow.open_puk(&rotated, DEVICE), Err(Error::UnknownKek { .. })));
    }
}

#[cfg(test)]
mod hostile_records {
    use super::*;
    use crate::kek::FileKek;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A stored record altered in any field never opens and never panics.
        #[test]
        fn altered_records_never_open(
            field in 0usize..3,
            index in any::<prop::sample::Index>(),
            flip in 1u8..=255,
            replacement in proptest::collection::vec(any::<u8>(), 0..80),
            replace in any::<bool>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let escrow = Escrow::new(Arc::new(FileKek::open_or_create(&dir.path().join("kek")).unwrap()));
            let device = DeviceId::from_u128(7);
            let record = escrow.seal_puk(device, 1, &Puk::new("11223344").unwrap()).unwrap();
            let mut bad = record.clone();
            let target = match field {
                0 => &mut bad.wrapped_key,
                1 => &mut bad.nonce,
                _ => &mut bad.ciphertext,
            };
            if replace {
                prop_assume!(*target != replacement);
                *target = replacement;
            } else {
                let i = index.index(target.len());
                target[i] ^= flip;
            }
            prop_assert!(escrow.open_puk(&bad, device).is_err());
        }
    }
}
