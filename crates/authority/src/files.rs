//! Private files: created new, mode 0600, synced before use.

use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `contents` to a new file readable only by its owner.
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(|e| Error::io(path, e))?;
    f.write_all(contents).and_then(|_| f.sync_all()).map_err(|e| Error::io(path, e))
}

/// Publishes a new private file at `path` all at once: written and synced
/// aside, then hard-linked into place, so a concurrent reader never sees it
/// half-written. Fails with `AlreadyExists` when someone else published first.
pub(crate) fn publish_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut suffix = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut suffix);
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}.{}.tmp", std::process::id(), hex::encode(suffix)));
    let aside = path.with_file_name(name);
    write_private(&aside, contents)?;
    let linked = std::fs::hard_link(&aside, path).map_err(|e| Error::io(path, e));
    let removed = std::fs::remove_file(&aside).map_err(|e| Error::io(&aside, e));
    linked.and(removed)
}

/// Hex (de)serialization of byte fields in records the registry stores.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}
