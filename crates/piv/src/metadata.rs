//! YubiKey PIV extensions' answers: firmware version (`FD`) and key metadata
//! (`F7`, firmware 5.3+). Other PIV cards do not have these; the client uses
//! them only when the card answers.

use crate::objects::hex_bytes;
use crate::public_key::PublicKey;
use crate::{Error, Result};
use apdu::tlv;
use serde::{Deserialize, Serialize};

/// Firmware version from GET VERSION.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    /// Major.
    pub major: u8,
    /// Minor.
    pub minor: u8,
    /// Patch.
    pub patch: u8,
}

impl Version {
    /// Parses the 3-byte answer.
    pub fn parse(data: &[u8]) -> Result<Version> {
        match data {
            [major, minor, patch] => Ok(Version { major: *major, minor: *minor, patch: *patch }),
            _ => Err(Error::Malformed { what: "version is not 3 bytes" }),
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Where a slot key came from (metadata tag 03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyOrigin {
    /// Generated on the card.
    Generated,
    /// Imported.
    Imported,
    /// Another value.
    Other(u8),
}

/// Retry counter of a PIN or PUK (metadata tag 06).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retries {
    /// The configured number of tries.
    pub total: u8,
    /// Tries left now.
    pub remaining: u8,
}

/// Metadata of one key reference (YubiKey GET METADATA `F7`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// `01` algorithm id (FF for PINs, 03/08/0A/0C for 9B, 07/11/14… for slots).
    pub algorithm: Option<u8>,
    /// `02` PIN policy byte.
    pub pin_policy: Option<u8>,
    /// `02` touch policy byte.
    pub touch_policy: Option<u8>,
    /// `03` key origin.
    pub origin: Option<KeyOrigin>,
    /// `04` public key, as the card's raw template.
    #[serde(with = "hex_bytes")]
    pub public_key: Vec<u8>,
    /// `05` true while the PIN, PUK or management key is the factory default.
    pub is_default: Option<bool>,
    /// `06` retry counters of a PIN or PUK.
    pub retries: Option<Retries>,
}

impl Metadata {
    /// Parses the flat TLV list of the answer.
    pub fn parse(data: &[u8]) -> Result<Metadata> {
        if data.len() > crate::objects::MAX_OBJECT_LEN {
            return Err(Error::Malformed { what: "metadata too large" });
        }
        let items = tlv::parse_all(data).map_err(crate::error::tlv)?;
        let mut m = Metadata {
            algorithm: None,
            pin_policy: None,
            touch_policy: None,
            origin: None,
            public_key: Vec::new(),
            is_default: None,
            retries: None,
        };
        for item in items {
            match (item.tag, item.value) {
                (0x01, [a]) => m.algorithm = Some(*a),
                (0x02, [p, t]) => {
                    m.pin_policy = Some(*p);
                    m.touch_policy = Some(*t);
                }
                (0x03, [1]) => m.origin = Some(KeyOrigin::Generated),
                (0x03, [2]) => m.origin = Some(KeyOrigin::Imported),
                (0x03, [o]) => m.origin = Some(KeyOrigin::Other(*o)),
                (0x04, v) => m.public_key = v.to_vec(),
                (0x05, [d]) => m.is_default = Some(*d != 0),
                (0x06, [total, remaining]) => {
                    m.retries = Some(Retries { total: *total, remaining: *remaining })
                }
                (0x01..=0x06, _) => {
                    return Err(Error::Malformed { what: "metadata item of unexpected length" })
                }
                _ => {}
            }
        }
        Ok(m)
    }

    /// The slot key's public key, when the metadata carries one.
    pub fn parsed_public_key(&self) -> Option<Result<PublicKey>> {
        (!self.public_key.is_empty()).then(|| PublicKey::parse(&self.public_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pin_and_management_key_metadata_parse() {
        let pin = Metadata::parse(&hex::decode("0101FF050101060203 03".replace(' ', "")).unwrap()).unwrap();
        assert_eq!(pin.algorithm, Some(0xFF));
        assert_eq!(pin.is_default, Some(true));
        assert_eq!(pin.retries, Some(Retries { total: 3, remaining: 3 }));
        let mk = Metadata::parse(&hex::decode("0101030202010105 0100".replace(' ', "")).unwrap()).unwrap();
        assert_eq!(mk.algorithm, Some(3));
        assert_eq!((mk.pin_policy, mk.touch_policy), (Some(1), Some(1)));
        assert_eq!(mk.is_default, Some(false));
        assert!(Metadata::parse(&[0x06, 0x01, 0x03]).is_err());
        assert_eq!(Version::parse(&[5, 4, 3]).unwrap().to_string(), "5.4.3");
    }

    proptest! {
        #[test]
        fn metadata_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(m) = Metadata::parse(&bytes) {
                let _ = m.parsed_public_key();
            }
            let _ = Version::parse(&bytes);
        }
    }
}
