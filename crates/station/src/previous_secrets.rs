//! The previous management key and PUK of a card an update job re-keys,
//! kept in the job's journal while the card may still hold them (a torn
//! update must be able to open the card with either). Sealed with
//! AES-256-GCM under a key derived (HKDF-SHA256) from the job's new
//! escrowed management key and bound to the card: useless without the
//! escrow, and any change to the stored bytes is refused, not mistaken for a key.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use domain::DeviceId;
use hkdf::Hkdf;
use piv::{ManagementKey, ManagementKeyAlgorithm, Puk};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Names the derivation and the associated data: a sealed value of another
/// purpose or version never opens as this one.
const CONTEXT: &[u8] = b"cardstation update: previous secrets v1";
const NONCE_LEN: usize = 12;

/// The previous secrets, sealed. A journal written by the masked format of
/// earlier versions parses with empty fields and opens as nothing known.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct WrappedPrevious {
    /// Algorithm id of the previous management key.
    #[serde(default)]
    algorithm: u8,
    /// The nonce (hex).
    #[serde(default)]
    nonce: String,
    /// Ciphertext and tag (hex) of: key length ‖ key ‖ PUK.
    #[serde(default)]
    sealed: String,
}

impl std::fmt::Debug for WrappedPrevious {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WrappedPrevious(..)")
    }
}

fn cipher(new_key: &ManagementKey, device: DeviceId) -> Option<Aes256Gcm> {
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(device.uuid().as_bytes()), new_key.expose_secret())
        .expand(CONTEXT, key.as_mut())
        .ok()?;
    Aes256Gcm::new_from_slice(key.as_ref()).ok()
}

fn aad(device: DeviceId, algorithm: u8) -> Vec<u8> {
    let mut aad = CONTEXT.to_vec();
    aad.extend_from_slice(device.uuid().as_bytes());
    aad.push(algorithm);
    aad
}

impl WrappedPrevious {
    /// Seals `old_key` and `old_puk` of `device` under `new_key`.
    pub(crate) fn wrap(
        device: DeviceId,
        new_key: &ManagementKey,
        old_key: &ManagementKey,
        old_puk: &Puk,
    ) -> Option<Self> {
        let algorithm = old_key.algorithm().id();
        let key = old_key.expose_secret();
        let mut plain = Zeroizing::new(Vec::with_capacity(1 + key.len() + 8));
        plain.push(u8::try_from(key.len()).ok()?);
        plain.extend_from_slice(key);
        plain.extend_from_slice(old_puk.expose_secret().as_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = cipher(new_key, device)?
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plain, aad: &aad(device, algorithm) })
            .ok()?;
        Some(WrappedPrevious { algorithm, nonce: hex::encode(nonce), sealed: hex::encode(sealed) })
    }

    /// The previous secrets, if `new_key` is the key they were sealed under
    /// and nothing was changed; otherwise nothing (no guess reaches a card).
    pub(crate) fn unwrap(
        &self,
        device: DeviceId,
        new_key: &ManagementKey,
    ) -> (Option<ManagementKey>, Option<Puk>) {
        self.open(device, new_key).unwrap_or((None, None))
    }

    fn open(
        &self,
        device: DeviceId,
        new_key: &ManagementKey,
    ) -> Option<(Option<ManagementKey>, Option<Puk>)> {
        let nonce = hex::decode(&self.nonce).ok().filter(|n| n.len() == NONCE_LEN)?;
        let sealed = hex::decode(&self.sealed).ok()?;
        let plain = Zeroizing::new(
            cipher(new_key, device)?
                .decrypt(
                    Nonce::from_slice(&nonce),
                    Payload { msg: &sealed, aad: &aad(device, self.algorithm) },
                )
                .ok()?,
        );
        let (&length, rest) = plain.split_first()?;
        let (key, puk) = rest.split_at_checked(usize::from(length))?;
        let key =
            ManagementKeyAlgorithm::from_id(self.algorithm).and_then(|a| ManagementKey::new(a, key).ok());
        let puk = std::str::from_utf8(puk).ok().and_then(|p| Puk::new(p).ok());
        Some((key, puk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (ManagementKey, ManagementKey, Puk) {
        let mut rng = rand::rngs::OsRng;
        let old = ManagementKey::random(ManagementKeyAlgorithm::Aes192, &mut rng);
        let new = ManagementKey::random(ManagementKeyAlgorithm::Aes256, &mut rng);
        (old, new, Puk::new("12345679").unwrap())
    }

    #[test]
    fn previous_secrets_open_only_with_the_new_key_of_the_same_card() {
        let (old, new, puk) = keys();
        let device = DeviceId::from_u128(7);
        let wrapped = WrappedPrevious::wrap(device, &new, &old, &puk).unwrap();
        let text = serde_json::to_string(&wrapped).unwrap();
        assert!(!text.contains(&hex::encode(old.expose_secret())), "no key in the clear");
        assert!(
            !text.contains("12345679") && !text.contains(&hex::encode("12345679")),
            "no PUK in the clear"
        );
        assert_eq!(wrapped.unwrap(device, &new), (Some(old.clone()), Some(puk.clone())));
        assert_eq!(wrapped.unwrap(device, &old), (None, None), "another key opens nothing");
        assert_eq!(wrapped.unwrap(DeviceId::from_u128(8), &new), (None, None), "another card opens nothing");
        assert_eq!(format!("{wrapped:?}"), "WrappedPrevious(..)");
    }

    #[test]
    fn a_flipped_bit_is_refused() {
        let (old, new, puk) = keys();
        let device = DeviceId::from_u128(7);
        let wrapped = WrappedPrevious::wrap(device, &new, &old, &puk).unwrap();
        let sealed = hex::decode(&wrapped.sealed).unwrap();
        for bit in 0..sealed.len() * 8 {
            let mut flipped = sealed.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let tampered = WrappedPrevious { sealed: hex::encode(flipped), ..wrapped.clone() };
            assert_eq!(tampered.unwrap(device, &new), (None, None), "bit {bit}");
        }
        let other_algorithm =
            WrappedPrevious { algorithm: ManagementKeyAlgorithm::Aes256.id(), ..wrapped.clone() };
        assert_eq!(other_algorithm.unwrap(device, &new), (None, None), "the algorithm is authenticated too");
    }

    #[test]
    fn a_journal_in_the_old_masked_format_opens_as_nothing_known() {
        let old: WrappedPrevious =
            serde_json::from_str(r#"{"algorithm":12,"management_key":"00ff","puk":"0102"}"#).unwrap();
        let (_, new, _) = keys();
        assert_eq!(old.unwrap(DeviceId::from_u128(7), &new), (None, None));
    }
}
