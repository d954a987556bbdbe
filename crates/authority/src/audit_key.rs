//! The audit trail's key (issue 16): what tells the registry's own audit
//! events and checkpoints from ones written by someone who can write to the
//! database but not read the registry's data directory. The hash chain alone
//! cannot: anyone who knows the (public) algorithm can recompute it.
//!
//! A random 32-byte [`DataKey`], generated once and kept in a file wrapped
//! by the KEK (like the CA key), never in the database. Two keys are derived
//! from it by HMAC-SHA256 under distinct labels (a one-block KDF, as in
//! NIST SP 800-108), so an event MAC can never pass for a checkpoint MAC.
//!
//! The key file also records where sealing began ([`SealStart`]: events
//! then, head hash, time), MAC'd: events written before the registry had a
//! key carry no MAC, and this record says which may lack one. It is written
//! once, in the same file as the key, so it cannot be lost or reset apart
//! from the key (which would make every MAC unverifiable anyway).

use crate::files::hex_bytes;
use crate::kek::{DataKey, KeyEncryptionKey};
use crate::{Error, Result};
use domain::ChainHash;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::path::Path;
use time::OffsetDateTime;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// File of the audit key (wrapped under the KEK; JSON, mode 0600).
pub const KEY_FILE: &str = "audit-key.sealed.json";

/// Label of the per-event MAC key.
const EVENT_LABEL: &[u8] = b"cardstation audit event mac v1";
/// Label of the checkpoint MAC key.
const CHECKPOINT_LABEL: &[u8] = b"cardstation audit checkpoint mac v1";
/// Kinds of checkpoint record, MAC'd with it: the seal start is not a checkpoint line.
const KIND_SEAL_START: u8 = 0;
const KIND_CHECKPOINT: u8 = 1;

/// Where sealing began: the chain had `count` events ending in `head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealStart {
    /// Events in the database when the key was made; those from here on carry a MAC.
    pub count: u64,
    /// Hash of event `count - 1` ([`ChainHash::GENESIS`] when empty): anchors the unsealed ones.
    pub head: ChainHash,
    /// When.
    pub at: OffsetDateTime,
}

/// The audit key: MACs events and checkpoints; zeroized on drop, never printed.
pub struct AuditKey {
    event: Zeroizing<[u8; 32]>,
    checkpoint: Zeroizing<[u8; 32]>,
    start: SealStart,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey").field("start", &self.start).finish_non_exhaustive()
    }
}

/// The key file: the data key wrapped by the KEK, and the MAC'd seal start.
#[derive(Serialize, Deserialize)]
struct AuditKeyFile {
    kek_id: String,
    #[serde(with = "hex_bytes")]
    wrapped_key: Vec<u8>,
    sealed_from: u64,
    sealed_head: ChainHash,
    #[serde(with = "time::serde::rfc3339")]
    sealed_at: OffsetDateTime,
    #[serde(with = "hex_bytes")]
    mac: Vec<u8>,
}

use crate::kek::hmac_sha256 as hmac;

fn matches(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else { return false };
    for part in parts {
        mac.update(part);
    }
    // Constant time.
    mac.verify_slice(tag).is_ok()
}

/// The fields a checkpoint MAC covers, fixed-length so no two records share bytes.
fn checkpoint_message(kind: u8, count: u64, head: &ChainHash, at: OffsetDateTime) -> [u8; 57] {
    let mut out = [0u8; 57];
    out[0] = kind;
    out[1..9].copy_from_slice(&count.to_be_bytes());
    out[9..41].copy_from_slice(&head.0);
    out[41..57].copy_from_slice(&at.unix_timestamp_nanos().to_be_bytes());
    out
}

impl AuditKey {
    fn derive(key: &DataKey, start: SealStart) -> Result<AuditKey> {
        let event = Zeroizing::new(hmac(key.expose_secret(), &[EVENT_LABEL])?);
        let checkpoint = Zeroizing::new(hmac(key.expose_secret(), &[CHECKPOINT_LABEL])?);
        Ok(AuditKey { event, checkpoint, start })
    }

    /// A fresh key held in memory only (tests; nothing can verify it after a restart).
    pub fn generate(start: SealStart) -> Result<AuditKey> {
        AuditKey::derive(&DataKey::generate(), start)
    }

    /// Opens the key file at `path`; `None` when there is none yet.
    pub fn open(path: &Path, kek: &dyn KeyEncryptionKey) -> Result<Option<AuditKey>> {
        let json = match std::fs::read(path) {
            Ok(json) => json,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let bad = |reason: String| Error::BadAuditKeyFile { path: path.to_owned(), reason };
        let file: AuditKeyFile = serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))?;
        if file.kek_id != kek.id() {
            return Err(Error::UnknownKek { record: file.kek_id, available: kek.id().to_owned() });
        }
        let start = SealStart { count: file.sealed_from, head: file.sealed_head, at: file.sealed_at };
        let key = AuditKey::derive(&kek.unwrap(&file.wrapped_key)?, start)?;
        if !key.start_mac_matches(&file.mac) {
            return Err(bad("the seal start does not match its MAC (altered)".into()));
        }
        Ok(Some(key))
    }

    /// Makes a new key sealing from `start` and publishes it at `path` (mode
    /// 0600). When another process published one first, that one is opened.
    pub fn create(path: &Path, kek: &dyn KeyEncryptionKey, start: SealStart) -> Result<AuditKey> {
        let data_key = DataKey::generate();
        let key = AuditKey::derive(&data_key, start)?;
        let file = AuditKeyFile {
            kek_id: kek.id().to_owned(),
            wrapped_key: kek.wrap(&data_key)?,
            sealed_from: start.count,
            sealed_head: start.head,
            sealed_at: start.at,
            mac: key.start_mac()?.to_vec(),
        };
        let json =
            serde_json::to_vec_pretty(&file).map_err(|_| Error::Crypto("encoding the audit key file"))?;
        match crate::files::publish_private(path, &json) {
            Ok(()) => Ok(key),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
                AuditKey::open(path, kek)?.ok_or_else(|| Error::BadAuditKeyFile {
                    path: path.to_owned(),
                    reason: "published by another process, then removed".into(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Moves the key file at `path` from KEK `from` to KEK `to` (KEK
    /// rotation): the same key, re-wrapped; replaced atomically.
    pub fn rewrap_file(path: &Path, from: &dyn KeyEncryptionKey, to: &dyn KeyEncryptionKey) -> Result<()> {
        let bad = |reason: String| Error::BadAuditKeyFile { path: path.to_owned(), reason };
        // Proves the file opens (and its seal start is intact) before anything is replaced.
        AuditKey::open(path, from)?.ok_or_else(|| bad("there is no audit key file".into()))?;
        let json = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let mut file: AuditKeyFile = serde_json::from_slice(&json).map_err(|e| bad(e.to_string()))?;
        file.wrapped_key = to.wrap(&from.unwrap(&file.wrapped_key)?)?;
        file.kek_id = to.id().to_owned();
        let json =
            serde_json::to_vec_pretty(&file).map_err(|_| Error::Crypto("encoding the audit key file"))?;
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(".new");
        let aside = path.with_file_name(name);
        match std::fs::remove_file(&aside) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&aside, e)),
        }
        crate::files::write_private(&aside, &json)?;
        std::fs::rename(&aside, path).map_err(|e| Error::io(path, e))
    }

    /// Where sealing began.
    pub fn seal_start(&self) -> SealStart {
        self.start
    }

    fn start_mac(&self) -> Result<[u8; 32]> {
        let s = &self.start;
        hmac(self.checkpoint.as_ref(), &[&checkpoint_message(KIND_SEAL_START, s.count, &s.head, s.at)])
    }

    fn start_mac_matches(&self, tag: &[u8]) -> bool {
        let s = &self.start;
        matches(
            self.checkpoint.as_ref(),
            &[&checkpoint_message(KIND_SEAL_START, s.count, &s.head, s.at)],
            tag,
        )
    }

    /// The MAC of event `seq` with chain hash `hash` (the hash covers every field and the previous hash).
    pub fn event_mac(&self, seq: u64, hash: &ChainHash) -> Result<[u8; 32]> {
        hmac(self.event.as_ref(), &[&seq.to_be_bytes(), &hash.0])
    }

    /// Whether `tag` is the MAC of event `seq` with hash `hash`.
    pub fn event_mac_matches(&self, seq: u64, hash: &ChainHash, tag: &[u8]) -> bool {
        matches(self.event.as_ref(), &[&seq.to_be_bytes(), &hash.0], tag)
    }

    /// The MAC of a checkpoint: the chain had `count` events ending in `head` at `at`.
    pub fn checkpoint_mac(&self, count: u64, head: &ChainHash, at: OffsetDateTime) -> Result<[u8; 32]> {
        hmac(self.checkpoint.as_ref(), &[&checkpoint_message(KIND_CHECKPOINT, count, head, at)])
    }

    /// Whether `tag` is the MAC of that checkpoint.
    pub fn checkpoint_mac_matches(
        &self,
        count: u64,
        head: &ChainHash,
        at: OffsetDateTime,
        tag: &[u8],
    ) -> bool {
        matches(self.checkpoint.as_ref(), &[&checkpoint_message(KIND_CHECKPOINT, count, head, at)], tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileKek;

    fn start() -> SealStart {
        SealStart {
            count: 3,
            head: ChainHash([7; 32]),
            at: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        }
    }

    #[test]
    fn a_wrong_key_fails_every_mac() {
        let key = AuditKey::generate(start()).unwrap();
        let other = AuditKey::generate(start()).unwrap();
        let hash = ChainHash([9; 32]);
        let mac = key.event_mac(5, &hash).unwrap();
        assert!(key.event_mac_matches(5, &hash, &mac));
        assert!(!other.event_mac_matches(5, &hash, &mac), "another key");
        assert!(!key.event_mac_matches(6, &hash, &mac), "another position");
        assert!(!key.event_mac_matches(5, &ChainHash([8; 32]), &mac), "another hash");
        assert!(!key.event_mac_matches(5, &hash, &mac[..31]), "truncated");
        let at = start().at;
        let cp = key.checkpoint_mac(5, &hash, at).unwrap();
        assert!(key.checkpoint_mac_matches(5, &hash, at, &cp));
        assert!(!other.checkpoint_mac_matches(5, &hash, at, &cp));
        assert!(!key.checkpoint_mac_matches(4, &hash, at, &cp));
        assert!(!key.checkpoint_mac_matches(5, &hash, at + time::Duration::SECOND, &cp));
        // The two derived keys differ: an event MAC is no checkpoint MAC.
        assert!(!key.event_mac_matches(5, &hash, &cp));
    }

    #[test]
    fn the_key_file_is_private_reopens_and_refuses_an_altered_seal_start() {
        let dir = tempfile::tempdir().unwrap();
        let kek = FileKek::open_or_create(&dir.path().join("kek")).unwrap();
        let path = dir.path().join(KEY_FILE);
        assert!(AuditKey::open(&path, &kek).unwrap().is_none());
        let key = AuditKey::create(&path, &kek, start()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let hash = ChainHash([1; 32]);
        let mac = key.event_mac(0, &hash).unwrap();
        let again = AuditKey::open(&path, &kek).unwrap().unwrap();
        assert!(again.event_mac_matches(0, &hash, &mac));
        assert_eq!(again.seal_start(), start());
        // A second create keeps the first key.
        let raced = AuditKey::create(&path, &kek, SealStart { count: 9, ..start() }).unwrap();
        assert_eq!(raced.seal_start(), start());
        // Another KEK cannot open it, until the file is moved to it (rotation).
        let other = FileKek::open_or_create(&dir.path().join("other")).unwrap();
        assert!(matches!(AuditKey::open(&path, &other), Err(Error::UnknownKek { .. })));
        AuditKey::rewrap_file(&path, &kek, &other).unwrap();
        let rotated = AuditKey::open(&path, &other).unwrap().unwrap();
        assert!(rotated.event_mac_matches(0, &hash, &mac), "the same key under the new KEK");
        AuditKey::rewrap_file(&path, &other, &kek).unwrap();
        // Moving the seal start (to make events before it look unsealed) is refused.
        let text =
            std::fs::read_to_string(&path).unwrap().replace("\"sealed_from\": 3", "\"sealed_from\": 300");
        std::fs::write(&path, text).unwrap();
        assert!(matches!(AuditKey::open(&path, &kek), Err(Error::BadAuditKeyFile { .. })));
        assert!(!format!("{again:?}").contains(&hex::encode(mac)));
    }
}
