//! PIN and PUK values: validated on construction, zeroized on drop, never printed.

use crate::{Error, Result};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A PIV Card Application PIN: 6–8 ASCII digits (SP 800-73-4 Part 2 §3.1.2;
/// OpenSC refuses non-numeric PINs), sent padded with `FF` to 8 bytes.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Pin(Vec<u8>);

/// A PIN Unblocking Key: 6–8 ASCII letters or digits (SP 800-73-4 Part 2
/// §3.1.2 leaves its value space open; factory PUKs are 8 digits), padded with `FF`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Puk(Vec<u8>);

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

impl std::fmt::Debug for Puk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Puk(<redacted>)")
    }
}

fn padded(value: &[u8]) -> Zeroizing<[u8; 8]> {
    let mut out = Zeroizing::new([0xFF; 8]);
    out[..value.len()].copy_from_slice(value);
    out
}

impl Pin {
    /// Validates and wraps a PIN.
    pub fn new(pin: &str) -> Result<Pin> {
        let bytes = pin.as_bytes();
        if !(6..=8).contains(&bytes.len()) || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(Error::BadInput("a PIN is 6 to 8 digits".into()));
        }
        Ok(Pin(bytes.to_vec()))
    }

    /// The factory default PIN, 123456.
    pub fn factory_default() -> Pin {
        Pin(crate::types::DEFAULT_PIN.to_vec())
    }

    /// A random PIN of `len` digits (6–8).
    pub fn random(len: usize, rng: &mut impl rand::Rng) -> Result<Pin> {
        if !(6..=8).contains(&len) {
            return Err(Error::BadInput("a PIN is 6 to 8 digits".into()));
        }
        Ok(Pin((0..len).map(|_| b'0' + rng.gen_range(0..10u8)).collect()))
    }

    /// The 8-byte reference data as VERIFY sends it.
    pub fn padded(&self) -> Zeroizing<[u8; 8]> {
        padded(&self.0)
    }

    /// The PIN characters (to show once to the cardholder, never to log).
    pub fn expose_secret(&self) -> &str {
        // Constructed from ASCII digits only.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Number of digits.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl Puk {
    /// Validates and wraps a PUK.
    pub fn new(puk: &str) -> Result<Puk> {
        let bytes = puk.as_bytes();
        if !(6..=8).contains(&bytes.len()) || !bytes.iter().all(u8::is_ascii_alphanumeric) {
            return Err(Error::BadInput("a PUK is 6 to 8 letters or digits".into()));
        }
        Ok(Puk(bytes.to_vec()))
    }

    /// The factory default PUK, 12345678.
    pub fn factory_default() -> Puk {
        Puk(crate::types::DEFAULT_PUK.to_vec())
    }

    /// A random PUK of `len` digits (6–8).
    pub fn random(len: usize, rng: &mut impl rand::Rng) -> Result<Puk> {
        if !(6..=8).contains(&len) {
            return Err(Error::BadInput("a PUK is 6 to 8 characters".into()));
        }
        Ok(Puk((0..len).map(|_| b'0' + rng.gen_range(0..10u8)).collect()))
    }

    /// The 8-byte reference data.
    pub fn padded(&self) -> Zeroizing<[u8; 8]> {
        padded(&self.0)
    }

    /// The PUK characters (for escrow only).
    pub fn expose_secret(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// True for the factory default 12345678.
    pub fn is_factory_default(&self) -> bool {
        self.0 == crate::types::DEFAULT_PUK
    }
}

impl std::str::FromStr for Pin {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Pin::new(s)
    }
}

impl std::str::FromStr for Puk {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Puk::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_validated_padded_and_redacted() {
        assert_eq!(&*Pin::new("123456").unwrap().padded(), b"123456\xFF\xFF");
        assert_eq!(&*Pin::new("12345678").unwrap().padded(), b"12345678");
        for bad in ["12345", "123456789", "12a456", "", "１２３４５６"] {
            assert!(Pin::new(bad).is_err(), "{bad}");
        }
        assert!(Puk::new("abcD1234").is_ok());
        assert!(Puk::new("abc-1234").is_err());
        assert_eq!(format!("{:?}", Pin::new("987654").unwrap()), "Pin(<redacted>)");
        assert!(Puk::factory_default().is_factory_default());
    }

    #[test]
    fn random_pins_have_the_requested_length_and_digits_only() {
        let mut rng = rand::thread_rng();
        for len in 6..=8 {
            let pin = Pin::random(len, &mut rng).unwrap();
            assert_eq!(pin.len(), len);
            assert!(Pin::new(pin.expose_secret()).is_ok());
        }
        assert!(Pin::random(5, &mut rng).is_err());
    }
}
