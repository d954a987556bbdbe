//! The card's private-key operations (SP 800-73-4 Part 2 §3.2.4 GENERAL
//! AUTHENTICATE, §3.3.2 GENERATE ASYMMETRIC KEY PAIR) with real crypto.

use apdu::StatusWord;
use piv::KeyAlgorithm;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};
use zeroize::Zeroizing;

/// RSA public exponent of generated keys (F4, what every PIV card uses).
const RSA_EXPONENT: u32 = 65537;

/// A slot's private key, parsed.
pub(crate) enum PrivateKey {
    Rsa(Box<RsaPrivateKey>),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
}

impl PrivateKey {
    /// Generates a fresh key on "the card" (the host's OS RNG).
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey, StatusWord> {
        let mut rng = rand::rngs::OsRng;
        Ok(match algorithm {
            KeyAlgorithm::Rsa2048 => {
                let exp = BigUint::from(RSA_EXPONENT);
                let key =
                    RsaPrivateKey::new_with_exp(&mut rng, 2048, &exp).map_err(|_| StatusWord(0x6F00))?;
                PrivateKey::Rsa(Box::new(key))
            }
            KeyAlgorithm::EccP256 => PrivateKey::P256(p256::SecretKey::random(&mut rng)),
            KeyAlgorithm::EccP384 => PrivateKey::P384(p384::SecretKey::random(&mut rng)),
        })
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            PrivateKey::Rsa(_) => KeyAlgorithm::Rsa2048,
            PrivateKey::P256(_) => KeyAlgorithm::EccP256,
            PrivateKey::P384(_) => KeyAlgorithm::EccP384,
        }
    }

    /// Parses the PKCS#8 form kept in persistent memory.
    pub fn from_pkcs8(algorithm: KeyAlgorithm, der: &[u8]) -> Option<PrivateKey> {
        use p256::pkcs8::DecodePrivateKey;
        match algorithm {
            KeyAlgorithm::Rsa2048 => {
                RsaPrivateKey::from_pkcs8_der(der).ok().map(|k| PrivateKey::Rsa(Box::new(k)))
            }
            KeyAlgorithm::EccP256 => p256::SecretKey::from_pkcs8_der(der).ok().map(PrivateKey::P256),
            KeyAlgorithm::EccP384 => p384::SecretKey::from_pkcs8_der(der).ok().map(PrivateKey::P384),
        }
    }

    /// The PKCS#8 DER form for persistent memory.
    pub fn to_pkcs8(&self) -> Option<Zeroizing<Vec<u8>>> {
        use p256::pkcs8::EncodePrivateKey;
        let doc = match self {
            PrivateKey::Rsa(k) => k.to_pkcs8_der().ok()?,
            PrivateKey::P256(k) => k.to_pkcs8_der().ok()?,
            PrivateKey::P384(k) => k.to_pkcs8_der().ok()?,
        };
        Some(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// The public key as the content of `7F49` (SP 800-73-4 Part 2 §3.3.2,
    /// Table 10): `81 modulus 82 exponent`, or `86 04‖X‖Y`.
    pub fn public_key_template(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            PrivateKey::Rsa(k) => {
                apdu::tlv::write(&mut out, 0x81, &left_pad(&k.n().to_bytes_be(), 256));
                apdu::tlv::write(&mut out, 0x82, &k.e().to_bytes_be());
            }
            PrivateKey::P256(k) => {
                use p256::elliptic_curve::sec1::ToEncodedPoint;
                apdu::tlv::write(&mut out, 0x86, k.public_key().to_encoded_point(false).as_bytes());
            }
            PrivateKey::P384(k) => {
                use p384::elliptic_curve::sec1::ToEncodedPoint;
                apdu::tlv::write(&mut out, 0x86, k.public_key().to_encoded_point(false).as_bytes());
            }
        }
        out
    }

    /// The private-key operation of GENERAL AUTHENTICATE with tag `81`:
    /// raw RSA on a full modulus-length block (padding is the host's job),
    /// or ECDSA on a hash, answered as a DER `SEQUENCE { r, s }`.
    pub fn sign(&self, input: &[u8]) -> Result<Vec<u8>, StatusWord> {
        match self {
            PrivateKey::Rsa(k) => {
                let size = k.size();
                if input.len() != size {
                    return Err(StatusWord::INCORRECT_DATA);
                }
                let c = BigUint::from_bytes_be(input);
                let m = rsa::hazmat::rsa_decrypt_and_check(k.as_ref(), Some(&mut rand::rngs::OsRng), &c)
                    .map_err(|_| StatusWord::INCORRECT_DATA)?;
                Ok(left_pad(&m.to_bytes_be(), size))
            }
            PrivateKey::P256(k) => {
                use p256::ecdsa::signature::hazmat::PrehashSigner;
                let digest = fit_digest(input, 32)?;
                let signer = p256::ecdsa::SigningKey::from(k);
                let sig: p256::ecdsa::Signature =
                    signer.sign_prehash(&digest).map_err(|_| StatusWord::INCORRECT_DATA)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            PrivateKey::P384(k) => {
                use p384::ecdsa::signature::hazmat::PrehashSigner;
                let digest = fit_digest(input, 48)?;
                let signer = p384::ecdsa::SigningKey::from(k);
                let sig: p384::ecdsa::Signature =
                    signer.sign_prehash(&digest).map_err(|_| StatusWord::INCORRECT_DATA)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
        }
    }

    /// ECDH key agreement (GENERAL AUTHENTICATE tag `85`): the x-coordinate
    /// of the shared point, for an uncompressed peer point.
    pub fn agree(&self, peer: &[u8]) -> Result<Vec<u8>, StatusWord> {
        match self {
            PrivateKey::Rsa(_) => Err(StatusWord::INCORRECT_DATA),
            PrivateKey::P256(k) => {
                let peer = p256::PublicKey::from_sec1_bytes(peer).map_err(|_| StatusWord::INCORRECT_DATA)?;
                let shared = p256::ecdh::diffie_hellman(k.to_nonzero_scalar(), peer.as_affine());
                Ok(shared.raw_secret_bytes().to_vec())
            }
            PrivateKey::P384(k) => {
                let peer = p384::PublicKey::from_sec1_bytes(peer).map_err(|_| StatusWord::INCORRECT_DATA)?;
                let shared = p384::ecdh::diffie_hellman(k.to_nonzero_scalar(), peer.as_affine());
                Ok(shared.raw_secret_bytes().to_vec())
            }
        }
    }

    /// A key from the YubiKey IMPORT KEY (FE) fields: RSA `01 P, 02 Q` (the
    /// CRT values 03–05 are recomputed), EC `06 d`.
    pub fn import(algorithm: KeyAlgorithm, fields: &[apdu::tlv::Tlv<'_>]) -> Result<PrivateKey, StatusWord> {
        let field = |tag: u32| fields.iter().find(|t| t.tag == tag).map(|t| t.value);
        match algorithm {
            KeyAlgorithm::Rsa2048 => {
                let (Some(p), Some(q)) = (field(0x01), field(0x02)) else {
                    return Err(StatusWord::INCORRECT_DATA);
                };
                let key = RsaPrivateKey::from_p_q(
                    BigUint::from_bytes_be(p),
                    BigUint::from_bytes_be(q),
                    BigUint::from(RSA_EXPONENT),
                )
                .map_err(|_| StatusWord::INCORRECT_DATA)?;
                if key.size() != 256 {
                    return Err(StatusWord::INCORRECT_DATA);
                }
                Ok(PrivateKey::Rsa(Box::new(key)))
            }
            KeyAlgorithm::EccP256 => {
                let d = field(0x06).ok_or(StatusWord::INCORRECT_DATA)?;
                p256::SecretKey::from_slice(d).map(PrivateKey::P256).map_err(|_| StatusWord::INCORRECT_DATA)
            }
            KeyAlgorithm::EccP384 => {
                let d = field(0x06).ok_or(StatusWord::INCORRECT_DATA)?;
                p384::SecretKey::from_slice(d).map(PrivateKey::P384).map_err(|_| StatusWord::INCORRECT_DATA)
            }
        }
    }
}

/// Left-pads a big-endian integer to `len` bytes.
fn left_pad(bytes: &[u8], len: usize) -> Vec<u8> {
    if bytes.len() >= len {
        return bytes.to_vec();
    }
    let mut out = vec![0u8; len - bytes.len()];
    out.extend_from_slice(bytes);
    out
}

/// Brings a hash to the curve's field size as ECDSA's bits2int does: a
/// longer hash keeps its leftmost bytes, a shorter one is zero-extended on
/// the left (hosts differ in whether they pre-truncate or pad).
fn fit_digest(input: &[u8], field_len: usize) -> Result<Vec<u8>, StatusWord> {
    if input.is_empty() || input.len() > 64 {
        return Err(StatusWord::INCORRECT_DATA);
    }
    if input.len() >= field_len {
        Ok(input[..field_len].to_vec())
    } else {
        Ok(left_pad(input, field_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_fitted_to_the_field_like_bits2int() {
        assert_eq!(fit_digest(&[1, 2], 4).unwrap(), [0, 0, 1, 2]);
        assert_eq!(fit_digest(&[1, 2, 3, 4, 5, 6], 4).unwrap(), [1, 2, 3, 4]);
        assert_eq!(fit_digest(&[], 32), Err(StatusWord::INCORRECT_DATA));
        assert_eq!(fit_digest(&[0; 65], 32), Err(StatusWord::INCORRECT_DATA));
    }

    #[test]
    fn keys_survive_pkcs8_and_rsa_rejects_out_of_range_input() {
        for alg in [KeyAlgorithm::EccP256, KeyAlgorithm::EccP384] {
            let k = PrivateKey::generate(alg).unwrap_or_else(|_| panic!("keygen"));
            let der = k.to_pkcs8().unwrap_or_default();
            let back = PrivateKey::from_pkcs8(alg, &der).map(|b| b.public_key_template());
            assert_eq!(back, Some(k.public_key_template()));
            assert!(PrivateKey::from_pkcs8(KeyAlgorithm::Rsa2048, &der).is_none(), "wrong algorithm");
        }
        let rsa = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap_or_else(|_| panic!("keygen"));
        assert_eq!(rsa.sign(&[0xFF; 256]), Err(StatusWord::INCORRECT_DATA), "input ≥ n");
        assert_eq!(rsa.agree(&[4; 65]), Err(StatusWord::INCORRECT_DATA));
    }
}
