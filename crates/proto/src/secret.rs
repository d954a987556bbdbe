//! Secrets on the wire (SPEC §7): kept in zeroizing buffers, never shown by
//! `Debug`, so a logged request cannot leak them.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a secret.
            pub fn new(secret: impl Into<String>) -> Self {
                Self(Zeroizing::new(secret.into()))
            }

            /// The secret itself; callers keep it out of logs.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_string!(
    /// An operator's password, as typed at sign-in.
    Password
);
secret_string!(
    /// A bearer token naming a session; the registry keeps only its hash.
    SessionToken
);
secret_string!(
    /// A card secret for escrow (management key or PUK), hex-encoded.
    EscrowSecret
);
secret_string!(
    /// A workstation's credential: 32 random bytes, hex-encoded, made at
    /// enrollment; the registry keeps only its hash and binds the
    /// workstation id to it at the first sign-in.
    WorkstationKey
);

secret_string!(
    /// An enrollment code as the user types it at a kiosk (UC-WALKUP).
    EnrollmentCode
);

impl EscrowSecret {
    /// Hex-encodes `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = Zeroizing::new(String::with_capacity(bytes.len() * 2));
        for b in bytes {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
        Self(out)
    }

    /// The secret's bytes.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let text = self.0.as_bytes();
        if !text.len().is_multiple_of(2) {
            return Err(Error::InvalidHex);
        }
        let nibble = |c: u8| -> Result<u8> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                b'A'..=b'F' => Ok(c - b'A' + 10),
                _ => Err(Error::InvalidHex),
            }
        };
        let mut out = Zeroizing::new(Vec::with_capacity(text.len() / 2));
        for pair in text.chunks_exact(2) {
            out.push((nibble(pair[0])? << 4) | nibble(pair[1])?);
        }
        Ok(out)
    }
}
