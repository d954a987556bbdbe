//! Escrow of per-card secrets (SPEC §2 steps 2 and 5, §7): the registry
//! stores only what an [`EscrowSeal`] returns. The key-encryption key lives
//! behind the trait (crate `authority`: a file by default, room for PKCS#11).

use domain::DeviceId;
use proto::EscrowKind;
use zeroize::Zeroizing;

use crate::error::Result;

/// Seals and opens escrowed card secrets, bound to the card and the kind of
/// secret, so a sealed PUK cannot be opened as another card's key.
pub trait EscrowSeal: Send + Sync + 'static {
    /// Encrypts `secret` for `device` and `kind`.
    fn seal(&self, device: DeviceId, kind: EscrowKind, secret: &[u8]) -> Result<Vec<u8>>;
    /// Decrypts what [`EscrowSeal::seal`] returned for the same `device` and `kind`.
    fn open(&self, device: DeviceId, kind: EscrowKind, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}
