//! Credential profiles: what a personalized card holds (SPEC §3 "Credential
//! profile"): slots, key algorithms, certificate templates, PIN/PUK policy and
//! the management key algorithm. Read from TOML; see `assets/profiles/`.

use crate::types::{KeyAlgorithm, ManagementKeyAlgorithm, PinPolicy, Slot};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Friendly names for algorithm fields ("ecc-p256", "rsa-2048", "aes-256", "3des").
pub mod names {
    use super::*;
    use serde::{Deserializer, Serializer};

    /// Canonical name of a slot key algorithm.
    pub fn key_algorithm_name(a: KeyAlgorithm) -> &'static str {
        match a {
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::EccP256 => "ecc-p256",
            KeyAlgorithm::EccP384 => "ecc-p384",
        }
    }

    /// Parses a slot key algorithm name.
    pub fn parse_key_algorithm(s: &str) -> Option<KeyAlgorithm> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "rsa-2048" | "rsa2048" => Some(KeyAlgorithm::Rsa2048),
            "ecc-p256" | "p256" | "p-256" | "eccp256" => Some(KeyAlgorithm::EccP256),
            "ecc-p384" | "p384" | "p-384" | "eccp384" => Some(KeyAlgorithm::EccP384),
            _ => None,
        }
    }

    /// Canonical name of a management key algorithm.
    pub fn management_algorithm_name(a: ManagementKeyAlgorithm) -> &'static str {
        match a {
            ManagementKeyAlgorithm::TripleDes => "3des",
            ManagementKeyAlgorithm::Aes128 => "aes-128",
            ManagementKeyAlgorithm::Aes192 => "aes-192",
            ManagementKeyAlgorithm::Aes256 => "aes-256",
        }
    }

    /// Parses a management key algorithm name.
    pub fn parse_management_algorithm(s: &str) -> Option<ManagementKeyAlgorithm> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "3des" | "tdes" | "triple-des" => Some(ManagementKeyAlgorithm::TripleDes),
            "aes-128" | "aes128" => Some(ManagementKeyAlgorithm::Aes128),
            "aes-192" | "aes192" => Some(ManagementKeyAlgorithm::Aes192),
            "aes-256" | "aes256" => Some(ManagementKeyAlgorithm::Aes256),
            _ => None,
        }
    }

    /// Serde adapter for [`KeyAlgorithm`] fields.
    pub mod key_algorithm {
        use super::*;
        /// Serializes the canonical name.
        pub fn serialize<S: Serializer>(a: &KeyAlgorithm, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(key_algorithm_name(*a))
        }
        /// Accepts any known spelling.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KeyAlgorithm, D::Error> {
            let s = String::deserialize(d)?;
            parse_key_algorithm(&s).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown key algorithm {s:?} (rsa-2048, ecc-p256, ecc-p384)"
                ))
            })
        }
    }

    /// Serde adapter for [`ManagementKeyAlgorithm`] fields.
    pub mod management_algorithm {
        use super::*;
        /// Serializes the canonical name.
        pub fn serialize<S: Serializer>(a: &ManagementKeyAlgorithm, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(management_algorithm_name(*a))
        }
        /// Accepts any known spelling.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ManagementKeyAlgorithm, D::Error> {
            let s = String::deserialize(d)?;
            parse_management_algorithm(&s).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown management key algorithm {s:?} (3des, aes-128, aes-192, aes-256)"
                ))
            })
        }
    }
}

/// Length and retry counter of the PIN or PUK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretPolicy {
    /// Digits of generated values (6–8).
    pub length: u8,
    /// Tries before blocking (1–15).
    pub retries: u8,
}

/// X.509 keyUsage bits a template may ask for (RFC 5280 §4.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyUsage {
    /// digitalSignature: needed for PKCS#11 signing with OpenSC.
    DigitalSignature,
    /// nonRepudiation (contentCommitment).
    NonRepudiation,
    /// keyEncipherment (RSA key transport).
    KeyEncipherment,
    /// dataEncipherment.
    DataEncipherment,
    /// keyAgreement (ECDH).
    KeyAgreement,
}

/// Well-known extended key usage names and their OIDs.
pub const EKU_NAMES: [(&str, &str); 5] = [
    ("client-auth", "1.3.6.1.5.5.7.3.2"),
    ("email-protection", "1.3.6.1.5.5.7.3.4"),
    ("code-signing", "1.3.6.1.5.5.7.3.3"),
    ("smartcard-logon", "1.3.6.1.4.1.311.20.2.2"),
    ("document-signing", "1.3.6.1.4.1.311.10.3.12"),
];

/// How a slot's certificate is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateTemplate {
    /// Subject DN pattern (RFC 4514) with `{name}`, `{guid}`, `{slot}` placeholders.
    pub subject: String,
    /// Days of validity from issuance.
    pub validity_days: u32,
    /// keyUsage bits.
    #[serde(default = "default_key_usage")]
    pub key_usage: Vec<KeyUsage>,
    /// extendedKeyUsage, as dotted OIDs or names from [`EKU_NAMES`].
    #[serde(default)]
    pub extended_key_usage: Vec<String>,
}

fn default_key_usage() -> Vec<KeyUsage> {
    vec![KeyUsage::DigitalSignature]
}

/// One slot a profile fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotProfile {
    /// The slot.
    pub slot: Slot,
    /// Its key algorithm.
    #[serde(with = "names::key_algorithm")]
    pub algorithm: KeyAlgorithm,
    /// PIN policy (YubiKey extension; the PIV default of the slot otherwise).
    #[serde(default)]
    pub pin_policy: Option<PinPolicy>,
    /// Touch policy byte (YubiKey: 1 never, 2 always, 3 cached).
    #[serde(default)]
    pub touch_policy: Option<u8>,
    /// Certificate template.
    pub certificate: CertificateTemplate,
}

/// A credential profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// Profile version (editing creates a new one; SPEC §3).
    #[serde(default = "one")]
    pub version: u32,
    /// Algorithm of the per-card management key.
    #[serde(with = "names::management_algorithm", default = "default_mgmt")]
    pub management_key_algorithm: ManagementKeyAlgorithm,
    /// Years until the CHUID expires.
    #[serde(default = "default_expiry_years")]
    pub chuid_expiry_years: u8,
    /// gzip certificates on the card (CertInfo 01).
    #[serde(default)]
    pub compress_certificates: bool,
    /// PIN policy.
    pub pin: SecretPolicy,
    /// PUK policy.
    pub puk: SecretPolicy,
    /// Slots to fill, in order.
    pub slots: Vec<SlotProfile>,
}

fn one() -> u32 {
    1
}
fn default_mgmt() -> ManagementKeyAlgorithm {
    ManagementKeyAlgorithm::Aes256
}
fn default_expiry_years() -> u8 {
    5
}

impl Profile {
    /// Parses and validates a TOML profile.
    pub fn from_toml(text: &str) -> Result<Profile> {
        let p: Profile = toml::from_str(text).map_err(|e| Error::Profile(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// Reads a TOML profile file.
    pub fn load(path: &std::path::Path) -> Result<Profile> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Profile::from_toml(&text).map_err(|e| match e {
            Error::Profile(m) => Error::Profile(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// TOML text of the profile.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Profile(e.to_string()))
    }

    /// Checks ranges and consistency.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Profile(m));
        if self.name.trim().is_empty() {
            return bad("name is empty".into());
        }
        for (what, p) in [("pin", self.pin), ("puk", self.puk)] {
            if !(6..=8).contains(&p.length) {
                return bad(format!("{what}.length must be 6 to 8"));
            }
            if !(1..=15).contains(&p.retries) {
                return bad(format!("{what}.retries must be 1 to 15"));
            }
        }
        if !(1..=30).contains(&self.chuid_expiry_years) {
            return bad("chuid_expiry_years must be 1 to 30".into());
        }
        // No slot is allowed: a card with CHUID, management key, PIN and
        // PUK only (temporary cards, UC-TEMP).
        let mut seen = std::collections::HashSet::new();
        for s in &self.slots {
            if !seen.insert(s.slot) {
                return bad(format!("slot {} appears twice", s.slot));
            }
            if let Slot::Retired(_) = s.slot {
                return bad(format!("slot {}: retired slots are not personalized", s.slot));
            }
            if matches!(s.touch_policy, Some(t) if !(1..=3).contains(&t)) {
                return bad(format!("slot {}: touch_policy must be 1, 2 or 3", s.slot));
            }
            let c = &s.certificate;
            if !(1..=3650).contains(&c.validity_days) {
                return bad(format!("slot {}: validity_days must be 1 to 3650", s.slot));
            }
            if c.key_usage.is_empty() {
                return bad(format!("slot {}: key_usage is empty", s.slot));
            }
            let probe = c.render_subject(&SubjectValues::example(s.slot))?;
            if probe.parse::<x509_cert::name::Name>().is_err() {
                return bad(format!("slot {}: subject {:?} is not an RFC 4514 name", s.slot, c.subject));
            }
            c.extended_key_usage_oids().map_err(|e| Error::Profile(format!("slot {}: {e}", s.slot)))?;
        }
        Ok(())
    }

    /// The profile's entry for `slot`.
    pub fn slot(&self, slot: Slot) -> Option<&SlotProfile> {
        self.slots.iter().find(|s| s.slot == slot)
    }
}

/// Values substituted into subject patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectValues {
    /// `{name}`: the cardholder's name.
    pub name: String,
    /// `{guid}`: the card's CHUID GUID (hex).
    pub guid: String,
    /// `{slot}`: the slot (e.g. "9a").
    pub slot: String,
    /// Further `{key}` values (e.g. email, employee id).
    pub extra: BTreeMap<String, String>,
}

impl SubjectValues {
    fn example(slot: Slot) -> SubjectValues {
        SubjectValues {
            name: "Example Name".into(),
            guid: "00".repeat(16),
            slot: slot.to_string(),
            ..Default::default()
        }
    }
}

/// Escapes an attribute value for an RFC 4514 string (§2.4).
pub fn escape_dn_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, ch) in v.chars().enumerate() {
        let special = matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && matches!(ch, '#' | ' '))
            || (i + 1 == v.chars().count() && ch == ' ');
        if special {
            out.push('\\');
        }
        if ch.is_control() {
            continue;
        }
        out.push(ch);
    }
    out
}

impl CertificateTemplate {
    /// The subject with placeholders replaced by escaped values.
    pub fn render_subject(&self, values: &SubjectValues) -> Result<String> {
        let mut out = String::new();
        let mut rest = self.subject.as_str();
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| Error::Profile(format!("unclosed placeholder in {:?}", self.subject)))?;
            let key = &rest[start + 1..start + end];
            let value = match key {
                "name" => values.name.as_str(),
                "guid" => values.guid.as_str(),
                "slot" => values.slot.as_str(),
                other => values
                    .extra
                    .get(other)
                    .map(String::as_str)
                    .ok_or_else(|| Error::Profile(format!("no value for placeholder {{{other}}}")))?,
            };
            out.push_str(&escape_dn_value(value));
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The extended key usages as dotted OIDs (names resolved).
    pub fn extended_key_usage_oids(&self) -> Result<Vec<String>> {
        self.extended_key_usage
            .iter()
            .map(|e| {
                let oid = EKU_NAMES.iter().find(|(n, _)| n == e).map_or(e.as_str(), |(_, o)| o);
                der::asn1::ObjectIdentifier::new(oid).map(|_| oid.to_owned()).map_err(|_| {
                    Error::Profile(format!("extended key usage {e:?} is neither a name nor an OID"))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256: &str = include_str!("../../../assets/profiles/piv-p256.toml");
    const RSA: &str = include_str!("../../../assets/profiles/piv-rsa2048.toml");

    #[test]
    fn shipped_profiles_parse_and_validate() {
        let p = Profile::from_toml(P256).unwrap();
        assert_eq!(p.management_key_algorithm, ManagementKeyAlgorithm::Aes256);
        assert_eq!(
            p.slots.iter().map(|s| s.slot).collect::<Vec<_>>(),
            [Slot::Authentication, Slot::Signature, Slot::KeyManagement]
        );
        assert!(p.slots.iter().all(|s| s.algorithm == KeyAlgorithm::EccP256));
        let r = Profile::from_toml(RSA).unwrap();
        assert!(r.slots.iter().all(|s| s.algorithm == KeyAlgorithm::Rsa2048));
        // Round trip through TOML.
        assert_eq!(Profile::from_toml(&p.to_toml().unwrap()).unwrap(), p);
    }

    #[test]
    fn invalid_profiles_are_refused_with_a_reason() {
        let cases = [
            ("length = 6", "length = 5"),
            ("retries = 3", "retries = 0"),
            ("algorithm = \"ecc-p256\"", "algorithm = \"ecc-p521\""),
            ("validity_days = 365", "validity_days = 0"),
            ("\"client-auth\"", "\"not an oid\""),
            ("management_key_algorithm = \"aes-256\"", "management_key_algorithm = \"rc4\""),
        ];
        for (from, to) in cases {
            assert!(P256.contains(from), "{from}");
            let text = P256.replacen(from, to, 1);
            assert!(matches!(Profile::from_toml(&text), Err(Error::Profile(_))), "{to} must be refused");
        }
    }

    #[test]
    fn subjects_are_rendered_with_escaping() {
        let t = CertificateTemplate {
            subject: "CN={name},OU={slot},serialNumber={guid}".into(),
            validity_days: 1,
            key_usage: default_key_usage(),
            extended_key_usage: vec![],
        };
        let v = SubjectValues {
            name: "Doe, John+".into(),
            guid: "AB".into(),
            slot: "9a".into(),
            ..Default::default()
        };
        let s = t.render_subject(&v).unwrap();
        assert_eq!(s, "CN=Doe\\, John\\+,OU=9a,serialNumber=AB");
        let name: x509_cert::name::Name = s.parse().unwrap();
        assert!(name.to_string().contains("Doe"));
        let bad = CertificateTemplate { subject: "CN={unknown}".into(), ..t };
        assert!(bad.render_subject(&v).is_err());
    }
}
