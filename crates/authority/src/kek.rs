//! Key-encryption keys (KEK): the one secret that protects everything the
//! authority keeps at rest (escrowed management keys and PUKs, the CA's
//! private key). Items are never encrypted with the KEK directly: each gets a
//! fresh [`DataKey`] that the KEK wraps (envelope encryption), so the KEK only
//! ever sees 32-byte keys and can live somewhere that does nothing else.
//!
//! [`FileKek`] keeps the KEK in a file (mode 0600). The [`KeyEncryptionKey`]
//! trait is deliberately small — wrap and unwrap a 32-byte data key, a keyed MAC, plus a
//! stable id — so that a PKCS#11 HSM implementation can be added later
//! without touching callers: `wrap`/`unwrap` map onto `C_WrapKey`/`C_UnwrapKey`
//! (or `C_Encrypt`/`C_Decrypt` with CKM_AES_GCM) with the KEK as a
//! non-extractable token object, and `id` onto the object's CKA_ID/label.

use crate::{Error, Result};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Length of data keys and of the file KEK (AES-256).
pub const KEY_LEN: usize = 32;
/// AES-GCM nonce length.
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;

/// A per-item AES-256 data key; zeroized on drop, never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> DataKey {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        DataKey(key)
    }

    /// Wraps key bytes (e.g. what an HSM unwrapped); must be 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<DataKey> {
        let array: [u8; KEY_LEN] =
            bytes.try_into().map_err(|_| Error::Malformed { what: "data key is not 32 bytes" })?;
        Ok(DataKey(Zeroizing::new(array)))
    }

    /// The key bytes, for the cipher only.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// Wraps and unwraps data keys. Implementations: [`FileKek`]; a PKCS#11 HSM
/// can implement the same methods (see the module documentation).
pub trait KeyEncryptionKey: Send + Sync {
    /// A stable, non-secret identifier stored next to each wrapped key, so a
    /// record made under another (e.g. rotated-out) KEK is recognised as such
    /// instead of failing as "tampered".
    fn id(&self) -> &str;

    /// Encrypts `key` so only this KEK can recover it.
    fn wrap(&self, key: &DataKey) -> Result<Vec<u8>>;

    /// Recovers a key made by [`KeyEncryptionKey::wrap`]; an altered or
    /// foreign `wrapped` value is [`Error::Integrity`].
    fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey>;

    /// HMAC-SHA256 of `message` under a key derived from the KEK for
    /// `purpose`: a verifier of a short-lived secret (an enrollment code)
    /// that a stolen database cannot be searched against without the KEK.
    /// (PKCS#11: `CKM_SHA256_HMAC` with a key derived on the token.)
    fn mac(&self, purpose: &str, message: &[u8]) -> Result<[u8; 32]>;
}

/// Associated data of a wrapped data key: only a data key wrapped by this
/// scheme unwraps, never some other AES-GCM ciphertext under the same KEK.
const WRAP_AAD: &[u8] = b"cardstation data key v1";

/// A KEK kept in a file: 32 random bytes, created on first use with mode 0600.
/// Refused when the file is readable by group or others.
pub struct FileKek {
    path: PathBuf,
    id: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for FileKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKek").field("path", &self.path).field("id", &self.id).finish_non_exhaustive()
    }
}

impl FileKek {
    /// Opens the KEK at `path`, creating it (and its directory) on first use.
    pub fn open_or_create(path: &Path) -> Result<FileKek> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                check_private(path)?;
                let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| Error::BadKekFile {
                    path: path.to_owned(),
                    reason: "not 32 bytes long".into(),
                })?;
                Ok(FileKek::from_key(path, Zeroizing::new(key)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                let mut key = Zeroizing::new([0u8; KEY_LEN]);
                rand::rngs::OsRng.fill_bytes(key.as_mut());
                match crate::files::publish_private(path, key.as_ref()) {
                    Ok(()) => Ok(FileKek::from_key(path, key)),
                    // Another process created it first: use theirs.
                    Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
                        FileKek::open_or_create(path)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn from_key(path: &Path, key: Zeroizing<[u8; KEY_LEN]>) -> FileKek {
        let mut h = Sha256::new();
        h.update(b"cardstation kek id v1\0");
        h.update(key.as_ref());
        let id = format!("file:{}", hex::encode(&h.finalize()[..8]));
        FileKek { path: path.to_owned(), id, key }
    }

    /// Where the key lives.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(Error::BadKekFile {
            path: path.to_owned(),
            reason: format!("mode {:o} lets others read it; expected 600", mode & 0o777),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> Result<()> {
    Ok(())
}

impl KeyEncryptionKey for FileKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, key: &DataKey) -> Result<Vec<u8>> {
        let cipher = Aes256Gcm::new_from_slice(self.key.as_ref()).map_err(|_| Error::Crypto("KEK length"))?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: key.expose_secret(), aad: WRAP_AAD })
            .map_err(|_| Error::Crypto("wrapping a data key"))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<DataKey> {
        if wrapped.len() != NONCE_LEN + KEY_LEN + TAG_LEN {
            return Err(Error::Malformed { what: "wrapped data key has the wrong length" });
        }
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new_from_slice(self.key.as_ref()).map_err(|_| Error::Crypto("KEK length"))?;
        let key = Zeroizing::new(
            cipher
                .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: WRAP_AAD })
                .map_err(|_| Error::Integrity)?,
        );
        DataKey::from_bytes(&key)
    }

    fn mac(&self, purpose: &str, message: &[u8]) -> Result<[u8; 32]> {
        // A key per purpose, so a MAC made for one use is never valid for another.
        let derived = Zeroizing::new(hmac_sha256(self.key.as_ref(), &[MAC_KEY_LABEL, purpose.as_bytes()])?);
        hmac_sha256(derived.as_ref(), &[message])
    }
}

/// What a purpose's MAC key is derived under (HMAC as the PRF, as HKDF-Expand).
const MAC_KEY_LABEL: &[u8] = b"cardstation kek mac key v1\0";

pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32]> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| Error::Crypto("HMAC key length"))?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// An item sealed under a data key that the KEK wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub kek_id: String,
    pub wrapped_key: Vec<u8>,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl Envelope {
    /// Encrypts `plaintext` with a fresh data key, binding `aad`.
    pub fn seal(kek: &dyn KeyEncryptionKey, aad: &[u8], plaintext: &[u8]) -> Result<Envelope> {
        let data_key = DataKey::generate();
        let cipher = Aes256Gcm::new_from_slice(data_key.expose_secret())
            .map_err(|_| Error::Crypto("data key length"))?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| Error::Crypto("sealing an item"))?;
        Ok(Envelope {
            kek_id: kek.id().to_owned(),
            wrapped_key: kek.wrap(&data_key)?,
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Decrypts, checking that the same `aad` was bound at sealing.
    pub fn open(&self, kek: &dyn KeyEncryptionKey, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if self.kek_id != kek.id() {
            return Err(Error::UnknownKek { record: self.kek_id.clone(), available: kek.id().to_owned() });
        }
        if self.nonce.len() != NONCE_LEN {
            return Err(Error::Malformed { what: "nonce is not 12 bytes" });
        }
        let data_key = kek.unwrap(&self.wrapped_key)?;
        let cipher = Aes256Gcm::new_from_slice(data_key.expose_secret())
            .map_err(|_| Error::Crypto("data key length"))?;
        cipher
            .decrypt(Nonce::from_slice(&self.nonce), Payload { msg: &self.ciphertext, aad })
            .map(Zeroizing::new)
            .map_err(|_| Error::Integrity)
    }

    /// The same item under another KEK (rotation): only the data key is re-wrapped.
    pub fn rewrap(&self, from: &dyn KeyEncryptionKey, to: &dyn KeyEncryptionKey) -> Result<Envelope> {
        if self.kek_id != from.id() {
            return Err(Error::UnknownKek { record: self.kek_id.clone(), available: from.id().to_owned() });
        }
        let data_key = from.unwrap(&self.wrapped_key)?;
        Ok(Envelope { kek_id: to.id().to_owned(), wrapped_key: to.wrap(&data_key)?, ..self.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_depends_on_the_kek_the_purpose_and_the_message() {
        let dir = tempfile::tempdir().unwrap();
        let kek = FileKek::open_or_create(&dir.path().join("a")).unwrap();
        let again = FileKek::open_or_create(&dir.path().join("a")).unwrap();
        let other = FileKek::open_or_create(&dir.path().join("b")).unwrap();
        let mac = kek.mac("code", b"ABCD").unwrap();
        assert_eq!(again.mac("code", b"ABCD").unwrap(), mac);
        assert_ne!(kek.mac("code", b"ABCE").unwrap(), mac);
        assert_ne!(kek.mac("other", b"ABCD").unwrap(), mac);
        assert_ne!(other.mac("code", b"ABCD").unwrap(), mac);
    }

    #[test]
    fn file_kek_is_created_private_and_reopens_to_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/kek.bin");
        let kek = FileKek::open_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(std::fs::read(&path).unwrap().len(), KEY_LEN);
        let data_key = DataKey::generate();
        let wrapped = kek.wrap(&data_key).unwrap();
        let again = FileKek::open_or_create(&path).unwrap();
        assert_eq!(again.id(), kek.id());
        // Many starting at once agree on one key.
        let racing = dir.path().join("race/kek.bin");
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| FileKek::open_or_create(&racing).map(|k| k.id().to_owned())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
        });
        assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
        assert_eq!(again.unwrap(&wrapped).unwrap().expose_secret(), data_key.expose_secret());
        assert!(!format!("{again:?}").contains(&hex::encode(std::fs::read(&path).unwrap())));
        // Another KEK cannot unwrap it.
        let other = FileKek::open_or_create(&dir.path().join("other.bin")).unwrap();
        assert_ne!(other.id(), kek.id());
        assert!(matches!(other.unwrap(&wrapped), Err(Error::Integrity)));
        let mut flipped = wrapped.clone();
        flipped[20] ^= 1;
        assert!(matches!(kek.unwrap(&flipped), Err(Error::Integrity)));
        assert!(matches!(kek.unwrap(&wrapped[1..]), Err(Error::Malformed { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn a_kek_file_others_can_read_or_of_the_wrong_size_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek.bin");
        FileKek::open_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(FileKek::open_or_create(&path), Err(Error::BadKekFile { .. })));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, [1u8; 31]).unwrap();
        assert!(matches!(FileKek::open_or_create(&path), Err(Error::BadKekFile { .. })));
    }

    #[test]
    fn envelopes_bind_their_associated_data_and_survive_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let old = FileKek::open_or_create(&dir.path().join("old")).unwrap();
        let new = FileKek::open_or_create(&dir.path().join("new")).unwrap();
        let env = Envelope::seal(&old, b"context", b"secret bytes").unwrap();
        assert_eq!(env.open(&old, b"context").unwrap().as_slice(), b"secret bytes");
        assert!(matches!(env.open(&old, b"other context"), Err(Error::Integrity)));
        assert!(matches!(env.open(&new, b"context"), Err(Error::UnknownKek { .. })));
        let rotated = env.rewrap(&old, &new).unwrap();
        assert_eq!(rotated.ciphertext, env.ciphertext);
        assert_eq!(rotated.open(&new, b"context").unwrap().as_slice(), b"secret bytes");
        // Two seals of the same item use different data keys and nonces.
        let twice = Envelope::seal(&old, b"context", b"secret bytes").unwrap();
        assert_ne!(twice.ciphertext, env.ciphertext);
        assert_ne!(twice.wrapped_key, env.wrapped_key);
    }
}
