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
