//! Credential profiles (SPEC §3 Credential profile, §2 encoding steps).
//!
//! A profile is versioned: editing creates a new version and devices keep the
//! version they were encoded with, so "apply latest updates" (UC-UPDATE) can
//! compare a card's version with the latest one. Slots and algorithms are
//! plain data here; the `piv` crate maps them to card objects.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::ProfileId;

/// Which card interfaces a profile needs (SPEC §3; seed 000: a contact-only
/// card cannot take a contact + contactless profile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityRequirement {
    /// A contact interface.
    Contact,
    /// A contactless interface.
    Contactless,
    /// Both interfaces (dual-interface card).
    Both,
}

impl CapabilityRequirement {
    /// Whether a card with `card` interfaces can carry this profile.
    pub const fn is_met_by(self, card: Capabilities) -> bool {
        match self {
            CapabilityRequirement::Contact => card.contact,
            CapabilityRequirement::Contactless => card.contactless,
            CapabilityRequirement::Both => card.contact && card.contactless,
        }
    }
}

impl fmt::Display for CapabilityRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CapabilityRequirement::Contact => "contact",
            CapabilityRequirement::Contactless => "contactless",
            CapabilityRequirement::Both => "contact and contactless",
        })
    }
}

/// The interfaces a physical card offers (read from its ATR / reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Capabilities {
    /// ISO 7816 contact interface.
    pub contact: bool,
    /// ISO 14443 contactless interface.
    pub contactless: bool,
}

impl Capabilities {
    /// A contact-only card.
    pub const CONTACT: Capabilities = Capabilities { contact: true, contactless: false };
    /// A contactless-only card.
    pub const CONTACTLESS: Capabilities = Capabilities { contact: false, contactless: true };
    /// A dual-interface card.
    pub const DUAL: Capabilities = Capabilities { contact: true, contactless: true };
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.contact, self.contactless) {
            (true, true) => "contact and contactless",
            (true, false) => "contact only",
            (false, true) => "contactless only",
            (false, false) => "no known interface",
        })
    }
}

/// PIV key slots a profile can fill (SP 800-73-4 §3.1, Table 4b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    /// 9A PIV Authentication.
    PivAuthentication,
    /// 9C Digital Signature.
    DigitalSignature,
    /// 9D Key Management.
    KeyManagement,
    /// 9E Card Authentication.
    CardAuthentication,
}

impl Slot {
    /// All four slots.
    pub const ALL: [Slot; 4] =
        [Slot::PivAuthentication, Slot::DigitalSignature, Slot::KeyManagement, Slot::CardAuthentication];

    /// The key reference byte (SP 800-73-4 Part 1 Table 4b).
    pub const fn key_reference(self) -> u8 {
        match self {
            Slot::PivAuthentication => 0x9A,
            Slot::DigitalSignature => 0x9C,
            Slot::KeyManagement => 0x9D,
            Slot::CardAuthentication => 0x9E,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Slot::PivAuthentication => "PIV Authentication",
            Slot::DigitalSignature => "Digital Signature",
            Slot::KeyManagement => "Key Management",
            Slot::CardAuthentication => "Card Authentication",
        };
        write!(f, "{name} ({:02X})", self.key_reference())
    }
}

/// Asymmetric key algorithms the profile may ask for (SP 800-78-4 Table 3-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAlgorithm {
    /// RSA 2048.
    Rsa2048,
    /// ECC P-256.
    EccP256,
    /// ECC P-384.
    EccP384,
}

/// Card management key algorithm (SPEC §2 step 2: a per-card random AES key
/// replaces the factory key, so only AES sizes are offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagementKeyAlgorithm {
    /// AES-128.
    Aes128,
    /// AES-192.
    Aes192,
    /// AES-256.
    Aes256,
}

/// Extended key usages a certificate template can request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtendedKeyUsage {
    /// TLS client authentication (1.3.6.1.5.5.7.3.2).
    ClientAuth,
    /// Microsoft smart card logon (1.3.6.1.4.1.311.20.2.2).
    SmartCardLogon,
    /// S/MIME (1.3.6.1.5.5.7.3.4).
    EmailProtection,
    /// Code signing (1.3.6.1.5.5.7.3.3).
    CodeSigning,
    /// PIV card authentication (2.16.840.1.101.3.6.8).
    PivCardAuth,
    /// Any other EKU, by dotted OID.
    Oid(String),
}

/// How the registry CA makes the certificate for one slot (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateTemplate {
    /// Subject DN pattern; `{name}`, `{email}`, `{employee_id}` are filled from the person.
    pub subject: String,
    /// Validity in days from issuance.
    pub validity_days: u32,
    /// Extended key usages.
    pub ekus: Vec<ExtendedKeyUsage>,
}

/// One slot the profile fills: key algorithm and certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotSpec {
    /// Which slot.
    pub slot: Slot,
    /// The key generated on card.
    pub algorithm: KeyAlgorithm,
    /// The certificate written for it.
    pub certificate: CertificateTemplate,
}

/// PIN policy (SPEC §2 step 5; SP 800-73-4 §2.4.3: 6–8 characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinPolicy {
    /// Shortest PIN.
    pub min_length: u8,
    /// Longest PIN.
    pub max_length: u8,
    /// Digits only.
    pub numeric: bool,
    /// Wrong tries before the PIN blocks.
    pub retries: u8,
}

/// PUK policy (SPEC §2 step 5; the PUK is escrowed encrypted for UC-PIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PukPolicy {
    /// PUK length (6–8).
    pub length: u8,
    /// Digits only.
    pub numeric: bool,
    /// Wrong tries before the PUK blocks.
    pub retries: u8,
}

/// State a card ends in after issuance (SPEC §3; seed 003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardEndState {
    /// Issued; the cardholder or an operator activates it later.
    Issued,
    /// Active at once.
    Active,
}

/// State certificates end in after issuance (SPEC §3; seed 003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateEndState {
    /// On hold until the card is activated.
    OnHold,
    /// Valid at once.
    Valid,
}

/// Everything an administrator edits in a profile; a change makes a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSettings {
    /// Display name.
    pub name: String,
    /// Card interfaces required.
    pub capabilities: CapabilityRequirement,
    /// Slots filled, each with key algorithm and certificate template.
    pub slots: Vec<SlotSpec>,
    /// PIN policy.
    pub pin: PinPolicy,
    /// PUK policy.
    pub puk: PukPolicy,
    /// Algorithm of the per-card management key.
    pub management_key: ManagementKeyAlgorithm,
    /// "Validate Issuance": requests with this profile need approval.
    pub validate_issuance: bool,
    /// Card state after issuance.
    pub card_end_state: CardEndState,
    /// Certificate state after issuance.
    pub certificate_end_state: CertificateEndState,
    /// Whether this is a temporary-card profile (UC-TEMP).
    pub is_temporary: bool,
    /// Card validity in days (CHUID expiration, SPEC §2 step 4).
    pub card_validity_days: u32,
}

impl ProfileSettings {
    /// The smallest useful profile: a contact card with one PIV
    /// authentication key (ECC P-256, client authentication, `CN={name}`),
    /// PIN of 6–8 digits and an 8-digit PUK with 3 tries each, an AES-256
    /// management key, cards and certificates ending active and valid, five
    /// years. Tests, benchmarks and demos start here and change what they
    /// care about with struct update syntax.
    pub fn contact_p256(name: &str, validate_issuance: bool) -> ProfileSettings {
        ProfileSettings {
            name: name.into(),
            capabilities: CapabilityRequirement::Contact,
            slots: vec![SlotSpec {
                slot: Slot::PivAuthentication,
                algorithm: KeyAlgorithm::EccP256,
                certificate: CertificateTemplate {
                    subject: "CN={name}".into(),
                    validity_days: 365,
                    ekus: vec![ExtendedKeyUsage::ClientAuth],
                },
            }],
            pin: PinPolicy { min_length: 6, max_length: 8, numeric: true, retries: 3 },
            puk: PukPolicy { length: 8, numeric: true, retries: 3 },
            management_key: ManagementKeyAlgorithm::Aes256,
            validate_issuance,
            card_end_state: CardEndState::Active,
            certificate_end_state: CertificateEndState::Valid,
            is_temporary: false,
            card_validity_days: 1825,
        }
    }

    /// Checks the settings are internally consistent and within PIV limits.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(Error::InvalidProfile("the name is empty".into()));
        }
        // A temporary-card profile names no slot: temporary cards pass
        // between people, so they carry no keys or certificates naming
        // anyone (UC-TEMP: CHUID, management key, PIN and PUK only).
        if self.slots.is_empty() && !self.is_temporary {
            return Err(Error::InvalidProfile("no key slot is configured".into()));
        }
        let mut seen = BTreeSet::new();
        for spec in &self.slots {
            if !seen.insert(spec.slot) {
                return Err(Error::InvalidProfile(format!("slot {} is configured twice", spec.slot)));
            }
            let t = &spec.certificate;
            if t.subject.trim().is_empty() {
                return Err(Error::InvalidProfile(format!("slot {}: empty certificate subject", spec.slot)));
            }
            if t.validity_days == 0 {
                return Err(Error::InvalidProfile(format!(
                    "slot {}: certificate validity is 0 days",
                    spec.slot
                )));
            }
            if t.subject.matches('{').count() != t.subject.matches('}').count() {
                return Err(Error::InvalidProfile(format!(
                    "slot {}: unbalanced braces in subject pattern",
                    spec.slot
                )));
            }
        }
        let pin = self.pin;
        if !(6..=8).contains(&pin.min_length) || !(6..=8).contains(&pin.max_length) {
            return Err(Error::InvalidProfile("PIN length must be 6 to 8 characters".into()));
        }
        if pin.min_length > pin.max_length {
            return Err(Error::InvalidProfile("PIN minimum length exceeds its maximum".into()));
        }
        if pin.retries == 0 {
            return Err(Error::InvalidProfile("PIN retries must be at least 1".into()));
        }
        if !(6..=8).contains(&self.puk.length) {
            return Err(Error::InvalidProfile("PUK length must be 6 to 8 characters".into()));
        }
        if self.puk.retries == 0 {
            return Err(Error::InvalidProfile("PUK retries must be at least 1".into()));
        }
        if self.card_validity_days == 0 {
            return Err(Error::InvalidProfile("card validity is 0 days".into()));
        }
        Ok(())
    }

    /// The slot spec for `slot`, if the profile fills it.
    pub fn slot(&self, slot: Slot) -> Option<&SlotSpec> {
        self.slots.iter().find(|s| s.slot == slot)
    }
}

/// Reference to one version of a profile (what a device was encoded with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProfileRef {
    /// The profile.
    pub id: ProfileId,
    /// Its version, from 1.
    pub version: u32,
}

/// One version of a credential profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialProfile {
    /// Identity shared by all versions.
    pub id: ProfileId,
    /// Version number, from 1; each edit adds one.
    pub version: u32,
    /// The settings of this version.
    pub settings: ProfileSettings,
}

impl CredentialProfile {
    /// Version 1 of a new profile.
    pub fn create(id: ProfileId, settings: ProfileSettings) -> Result<Self> {
        settings.validate()?;
        Ok(Self { id, version: 1, settings })
    }

    /// Editing creates a new version; this one stays as it is for the devices
    /// encoded with it.
    pub fn revise(&self, settings: ProfileSettings) -> Result<Self> {
        settings.validate()?;
        if settings == self.settings {
            return Err(Error::UnchangedProfile);
        }
        let version = self.version.checked_add(1).ok_or(Error::VersionOverflow)?;
        Ok(Self { id: self.id, version, settings })
    }

    /// The reference devices record.
    pub fn reference(&self) -> ProfileRef {
        ProfileRef { id: self.id, version: self.version }
    }

    /// Whether a card with `card` interfaces can carry this profile.
    pub fn fits(&self, card: Capabilities) -> bool {
        self.settings.capabilities.is_met_by(card)
    }
}
