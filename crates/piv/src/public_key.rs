//! Public keys of slot keys: parsed from GENERATE ASYMMETRIC KEY PAIR
//! (`7F49`, SP 800-73-4 Part 2 §3.3.2, Table 10) and YubiKey metadata,
//! converted to SubjectPublicKeyInfo, and used to check signatures host-side
//! (proof of possession, certificate/key match).

use crate::types::KeyAlgorithm;
use crate::{Error, Result};
use apdu::tlv;
use sha2::{Digest, Sha256, Sha384};
use spki::{DecodePublicKey, EncodePublicKey};

/// A slot's public key.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA: big-endian modulus and public exponent, without leading zeros.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// P-256 uncompressed point (`04 X Y`, 65 bytes).
    P256(Vec<u8>),
    /// P-384 uncompressed point (97 bytes).
    P384(Vec<u8>),
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublicKey::Rsa { n, .. } => write!(f, "PublicKey::Rsa({} bits)", n.len() * 8),
            PublicKey::P256(p) => write!(f, "PublicKey::P256({})", hex::encode(p)),
            PublicKey::P384(p) => write!(f, "PublicKey::P384({})", hex::encode(p)),
        }
    }
}

/// Largest RSA modulus accepted (4096 bits).
const MAX_RSA_BYTES: usize = 512;

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[start..]
}

impl PublicKey {
    /// Parses the card's public key data object: `7F49 {81 n, 82 e}` or
    /// `7F49 {86 point}`; also accepts the bare inner TLVs (YubiKey metadata tag 04).
    pub fn parse(data: &[u8]) -> Result<PublicKey> {
        let inner = match tlv::parse_one(data).map_err(crate::error::tlv)? {
            (t, rest) if t.tag == 0x7F49 => {
                if !rest.is_empty() {
                    return Err(Error::Malformed { what: "bytes after the public key template" });
                }
                t.value
            }
            _ => data,
        };
        if let Some(point) = tlv::find(inner, 0x86).map_err(crate::error::tlv)? {
            return PublicKey::from_point(point);
        }
        let n = tlv::find(inner, 0x81).map_err(crate::error::tlv)?;
        let e = tlv::find(inner, 0x82).map_err(crate::error::tlv)?;
        match (n, e) {
            (Some(n), Some(e)) => PublicKey::rsa(n, e),
            _ => Err(Error::Malformed { what: "public key template has neither 86 nor 81/82" }),
        }
    }

    /// Parses and checks that the key is of the algorithm that was asked for.
    pub fn parse_for(algorithm: KeyAlgorithm, data: &[u8]) -> Result<PublicKey> {
        let key = PublicKey::parse(data)?;
        if key.algorithm() != Some(algorithm) {
            return Err(Error::Malformed { what: "public key of another algorithm than generated" });
        }
        Ok(key)
    }

    fn from_point(point: &[u8]) -> Result<PublicKey> {
        match point.len() {
            65 => {
                p256::PublicKey::from_sec1_bytes(point)
                    .map_err(|_| Error::Malformed { what: "P-256 point not on the curve" })?;
                Ok(PublicKey::P256(point.to_vec()))
            }
            97 => {
                p384::PublicKey::from_sec1_bytes(point)
                    .map_err(|_| Error::Malformed { what: "P-384 point not on the curve" })?;
                Ok(PublicKey::P384(point.to_vec()))
            }
            _ => Err(Error::Malformed { what: "EC point of unexpected length" }),
        }
    }

    fn rsa(n: &[u8], e: &[u8]) -> Result<PublicKey> {
        let (n, e) = (strip_zeros(n), strip_zeros(e));
        if n.len() < 128 || n.len() > MAX_RSA_BYTES || e.is_empty() || e.len() > 8 {
            return Err(Error::Malformed { what: "RSA modulus or exponent of unexpected size" });
        }
        let key = PublicKey::Rsa { n: n.to_vec(), e: e.to_vec() };
        key.rsa_key()?;
        Ok(key)
    }

    fn rsa_key(&self) -> Result<rsa::RsaPublicKey> {
        let PublicKey::Rsa { n, e } = self else {
            return Err(Error::BadInput("not an RSA key".into()));
        };
        rsa::RsaPublicKey::new_with_max_size(
            rsa::BigUint::from_bytes_be(n),
            rsa::BigUint::from_bytes_be(e),
            MAX_RSA_BYTES * 8,
        )
        .map_err(|_| Error::Malformed { what: "invalid RSA public key" })
    }

    /// The slot algorithm of this key (None for RSA sizes other than 2048).
    pub fn algorithm(&self) -> Option<KeyAlgorithm> {
        match self {
            PublicKey::Rsa { n, .. } if n.len() == 256 => Some(KeyAlgorithm::Rsa2048),
            PublicKey::Rsa { .. } => None,
            PublicKey::P256(_) => Some(KeyAlgorithm::EccP256),
            PublicKey::P384(_) => Some(KeyAlgorithm::EccP384),
        }
    }

    /// Short description such as "RSA-2048" or "ECC P-256".
    pub fn describe(&self) -> String {
        match self {
            PublicKey::Rsa { n, .. } => format!("RSA-{}", n.len() * 8),
            PublicKey::P256(_) => "ECC P-256".into(),
            PublicKey::P384(_) => "ECC P-384".into(),
        }
    }

    /// DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), as certificates carry it.
    pub fn to_spki_der(&self) -> Result<Vec<u8>> {
        let doc = match self {
            PublicKey::Rsa { .. } => self.rsa_key()?.to_public_key_der(),
            PublicKey::P256(p) => p256::PublicKey::from_sec1_bytes(p)
                .map_err(|_| Error::Malformed { what: "P-256 point" })?
                .to_public_key_der(),
            PublicKey::P384(p) => p384::PublicKey::from_sec1_bytes(p)
                .map_err(|_| Error::Malformed { what: "P-384 point" })?
                .to_public_key_der(),
        };
        doc.map(|d| d.as_bytes().to_vec()).map_err(|e| Error::Certificate(format!("encoding SPKI: {e}")))
    }

    /// Reads a DER SubjectPublicKeyInfo (RSA, P-256 or P-384).
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey> {
        use rsa::traits::PublicKeyParts;
        if let Ok(k) = p256::PublicKey::from_public_key_der(der) {
            return Ok(PublicKey::P256(k.to_sec1_bytes().to_vec()));
        }
        if let Ok(k) = p384::PublicKey::from_public_key_der(der) {
            return Ok(PublicKey::P384(k.to_sec1_bytes().to_vec()));
        }
        if let Ok(k) = rsa::RsaPublicKey::from_public_key_der(der) {
            return Ok(PublicKey::Rsa { n: k.n().to_bytes_be(), e: k.e().to_bytes_be() });
        }
        Err(Error::Certificate("public key is not RSA, P-256 or P-384".into()))
    }

    /// What a PIV card signs for `message` with this key: the SHA-256 hash
    /// (P-256), SHA-384 hash (P-384), or for RSA the full PKCS#1 v1.5 block
    /// `00 01 FF… 00 DigestInfo(SHA-256)` of the modulus length, because the
    /// card's RSA operation is raw (SP 800-73-4 Part 2 §3.2.4; SP 800-78-4).
    pub fn card_input(&self, message: &[u8]) -> Result<Vec<u8>> {
        match self {
            PublicKey::P256(_) => Ok(Sha256::digest(message).to_vec()),
            PublicKey::P384(_) => Ok(Sha384::digest(message).to_vec()),
            PublicKey::Rsa { n, .. } => pkcs1_v15_sha256_block(message, n.len()),
        }
    }

    /// Verifies `signature` over `message`: ECDSA (DER) with SHA-256 / SHA-384,
    /// or RSA PKCS#1 v1.5 with SHA-256.
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        use signature::Verifier;
        let bad = || Error::BadSignature("the signature does not match the public key");
        match self {
            PublicKey::P256(p) => {
                let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(p).map_err(|_| bad())?;
                let sig = p256::ecdsa::DerSignature::try_from(signature).map_err(|_| bad())?;
                vk.verify(message, &sig).map_err(|_| bad())
            }
            PublicKey::P384(p) => {
                let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(p).map_err(|_| bad())?;
                let sig = p384::ecdsa::DerSignature::try_from(signature).map_err(|_| bad())?;
                vk.verify(message, &sig).map_err(|_| bad())
            }
            PublicKey::Rsa { .. } => {
                let vk = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(self.rsa_key()?);
                let sig = rsa::pkcs1v15::Signature::try_from(signature).map_err(|_| bad())?;
                vk.verify(message, &sig).map_err(|_| bad())
            }
        }
    }
}

/// DigestInfo prefix of SHA-256 (RFC 8017 §9.2 note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0x04, 0x20,
];

/// EMSA-PKCS1-v1_5 encoding of SHA-256(`message`) to `len` bytes (RFC 8017 §9.2).
pub fn pkcs1_v15_sha256_block(message: &[u8], len: usize) -> Result<Vec<u8>> {
    let t_len = SHA256_DIGEST_INFO.len() + 32;
    if len < t_len + 11 {
        return Err(Error::BadInput("RSA modulus too short for PKCS#1 v1.5 with SHA-256".into()));
    }
    let mut block = vec![0xFF; len];
    block[0] = 0x00;
    block[1] = 0x01;
    block[len - t_len - 1] = 0x00;
    block[len - t_len..len - 32].copy_from_slice(&SHA256_DIGEST_INFO);
    block[len - 32..].copy_from_slice(&Sha256::digest(message));
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signature::Signer;

    fn p256_template(point: &[u8]) -> Vec<u8> {
        tlv::encode(0x7F49, &tlv::encode(0x86, point))
    }

    #[test]
    fn p256_key_parses_round_trips_spki_and_verifies() {
        let sk = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let point = sk.verifying_key().to_encoded_point(false).as_bytes().to_vec();
        let key = PublicKey::parse_for(KeyAlgorithm::EccP256, &p256_template(&point)).unwrap();
        assert_eq!(key, PublicKey::P256(point.clone()));
        assert_eq!(PublicKey::from_spki_der(&key.to_spki_der().unwrap()).unwrap(), key);
        let sig: p256::ecdsa::DerSignature = sk.sign(b"hello");
        key.verify_signature(b"hello", sig.as_bytes()).unwrap();
        assert!(key.verify_signature(b"other", sig.as_bytes()).is_err());
        assert!(PublicKey::parse_for(KeyAlgorithm::EccP384, &p256_template(&point)).is_err());
        let mut off_curve = point.clone();
        off_curve[64] ^= 1;
        assert!(PublicKey::parse(&p256_template(&off_curve)).is_err());
    }

    #[test]
    fn rsa_block_matches_rsa_crate_signature() {
        use rsa::traits::PublicKeyParts;
        let sk = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let pk = sk.to_public_key();
        let template = tlv::encode(
            0x7F49,
            &[tlv::encode(0x81, &pk.n().to_bytes_be()), tlv::encode(0x82, &pk.e().to_bytes_be())].concat(),
        );
        let key = PublicKey::parse_for(KeyAlgorithm::Rsa2048, &template).unwrap();
        // What a card computes: raw RSA over our padded block.
        let block = key.card_input(b"msg").unwrap();
        use rsa::traits::PrivateKeyParts;
        let raw = rsa::BigUint::from_bytes_be(&block).modpow(sk.d(), sk.n());
        let mut sig = raw.to_bytes_be();
        while sig.len() < 256 {
            sig.insert(0, 0);
        }
        key.verify_signature(b"msg", &sig).unwrap();
        assert!(key.verify_signature(b"msh", &sig).is_err());
        assert_eq!(PublicKey::from_spki_der(&key.to_spki_der().unwrap()).unwrap(), key);
    }

    #[test]
    fn malformed_templates_are_errors() {
        for bad in [&[][..], &[0x7F, 0x49, 0x00], &[0x7F, 0x49, 0x03, 0x86, 0x01, 0x04], &[0x81, 0x01, 0x01]]
        {
            assert!(PublicKey::parse(bad).is_err());
        }
    }
}
