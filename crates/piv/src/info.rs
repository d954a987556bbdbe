//! [`read_info`]: everything a PIV card tells without a PIN, in one
//! serializable [`CardInfo`] (UC-READ; SPEC §2 step 1).

use crate::card::{PinStatus, PivCard, PukStatus};
use crate::certificate::{certificate_public_key, CertificateSummary};
use crate::metadata::{Metadata, Retries, Version};
use crate::objects::{Application, Ccc, Chuid, Discovery, KeyHistory};
use crate::types::{object, pin_ref, ManagementKeyAlgorithm, Slot};
use crate::{Error, Result};
use apdu::Transport;
use serde::{Deserialize, Serialize};

/// A certificate found in a slot's data object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotCertificate {
    /// The slot.
    pub slot: Slot,
    /// The parsed summary; `None` when the object did not parse (see `error`).
    pub summary: Option<CertificateSummary>,
    /// Why the object or certificate did not parse.
    pub error: Option<String>,
    /// Whether the card's key in the slot (YubiKey metadata) is the
    /// certificate's key; `None` when the card cannot tell.
    pub key_matches: Option<bool>,
    /// The DER certificate (not serialized).
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// What a PIV card shows without a PIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardInfo {
    /// The SELECT answer.
    pub application: Application,
    /// YubiKey firmware version.
    pub version: Option<Version>,
    /// YubiKey serial number.
    pub serial: Option<u32>,
    /// CHUID.
    pub chuid: Option<Chuid>,
    /// CCC.
    pub ccc: Option<Ccc>,
    /// Discovery object.
    pub discovery: Option<Discovery>,
    /// Key history object.
    pub key_history: Option<KeyHistory>,
    /// Certificates present, primary slots first, then retired ones per key history.
    pub certificates: Vec<SlotCertificate>,
    /// PIN state (VERIFY without data).
    pub pin: PinStatus,
    /// PIN retry counters (YubiKey metadata).
    pub pin_retries: Option<Retries>,
    /// Whether the PIN is still 123456 (YubiKey metadata).
    pub pin_is_default: Option<bool>,
    /// PUK state (YubiKey metadata; otherwise unknown).
    pub puk: PukStatus,
    /// PUK retry counters.
    pub puk_retries: Option<Retries>,
    /// Whether the PUK is still 12345678.
    pub puk_is_default: Option<bool>,
    /// Management key algorithm (YubiKey metadata).
    pub management_key_algorithm: Option<ManagementKeyAlgorithm>,
    /// Whether the management key is still the factory default.
    pub management_key_is_default: Option<bool>,
    /// Whether the card answers the YubiKey management commands (FF, FA).
    pub yubikey_extensions: bool,
    /// Objects that were present but malformed, for the operator.
    pub problems: Vec<String>,
}

impl CardInfo {
    /// The certificate entry of `slot`, if any.
    pub fn certificate(&self, slot: Slot) -> Option<&SlotCertificate> {
        self.certificates.iter().find(|c| c.slot == slot)
    }

    /// True when the card shows no sign of personalization: no CHUID and no certificates.
    pub fn looks_blank(&self) -> bool {
        self.chuid.is_none() && self.certificates.is_empty()
    }
}

/// Reads the object `tag`, recording a parse failure as a problem instead of
/// failing the whole read (a card with one bad object is still shown).
fn read_parsed<T: Transport, V>(
    card: &mut PivCard<T>,
    tag: u32,
    name: &str,
    parse: fn(&[u8]) -> Result<V>,
    problems: &mut Vec<String>,
) -> Result<Option<V>> {
    match card.get_data(tag) {
        Ok(None) => Ok(None),
        Ok(Some(d)) => match parse(&d) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                Ok(None)
            }
        },
        Err(Error::SecurityStatusNotSatisfied) => Ok(None),
        Err(e @ (Error::Malformed { .. } | Error::Apdu(apdu::Error::Tlv(_)))) => {
            problems.push(format!("{name}: {e}"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reads a slot's certificate and, where metadata offers the slot's public
/// key, whether the two match.
fn read_slot<T: Transport>(
    card: &mut PivCard<T>,
    slot: Slot,
    metadata: bool,
) -> Result<Option<SlotCertificate>> {
    let der = match card.read_certificate(slot) {
        Ok(None) => return Ok(None),
        Ok(Some(der)) => der,
        Err(e @ (Error::Malformed { .. } | Error::Certificate(_))) => {
            return Ok(Some(SlotCertificate {
                slot,
                summary: None,
                error: Some(e.to_string()),
                key_matches: None,
                der: Vec::new(),
            }))
        }
        Err(e) => return Err(e),
    };
    let (summary, error) = match CertificateSummary::from_der(slot, &der) {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let mut key_matches = None;
    if metadata && summary.is_some() {
        if let Some(Ok(card_key)) = card.metadata(slot.key_ref())?.and_then(|m| m.parsed_public_key()) {
            key_matches = Some(certificate_public_key(&der).is_ok_and(|k| k == card_key));
        }
    }
    Ok(Some(SlotCertificate { slot, summary, error, key_matches, der }))
}

/// Reads everything readable without a PIN: one SELECT, the objects, the
/// certificates of 9A/9C/9D/9E and of the retired slots key history
/// announces, the PIN counter (never spending a try), and on YubiKeys the
/// version, serial and metadata. Vendor commands are sent only after the
/// card answered GET VERSION, and metadata only from firmware 5.3.
pub fn read_info<T: Transport>(card: &mut PivCard<T>) -> Result<CardInfo> {
    let application = card.select()?;
    let mut problems = Vec::new();
    let version = card.version()?;
    let serial = match version {
        Some(v) if v.major >= 5 => card.serial()?,
        _ => None,
    };
    let has_metadata = version.is_some_and(|v| (v.major, v.minor) >= (5, 3));
    let chuid = read_parsed(card, object::CHUID, "CHUID", Chuid::parse, &mut problems)?;
    let ccc = read_parsed(card, object::CCC, "CCC", Ccc::parse, &mut problems)?;
    let discovery = read_parsed(card, object::DISCOVERY, "discovery", Discovery::parse, &mut problems)?;
    let key_history =
        read_parsed(card, object::KEY_HISTORY, "key history", KeyHistory::parse, &mut problems)?;

    let retired = key_history.as_ref().map_or(0, |k| k.on_card.min(20));
    let mut certificates = Vec::new();
    for slot in Slot::PRIMARY.into_iter().chain((1..=retired).map(Slot::Retired)) {
        if let Some(c) = read_slot(card, slot, has_metadata)? {
            if let Some(e) = &c.error {
                problems.push(format!("certificate {slot}: {e}"));
            }
            certificates.push(c);
        }
    }

    let pin = card.pin_status()?;
    let meta = |card: &mut PivCard<T>, r| -> Result<Option<Metadata>> {
        if has_metadata {
            card.metadata(r)
        } else {
            Ok(None)
        }
    };
    let pin_meta = meta(card, pin_ref::PIV_PIN)?;
    let puk_meta = meta(card, pin_ref::PUK)?;
    let mgmt_meta = meta(card, pin_ref::MANAGEMENT)?;
    let puk = match puk_meta.as_ref().and_then(|m| m.retries) {
        Some(r) if r.remaining == 0 => PukStatus::Blocked,
        Some(r) => PukStatus::Tries(r.remaining),
        None => PukStatus::Unknown,
    };
    Ok(CardInfo {
        application,
        version,
        serial,
        chuid,
        ccc,
        discovery,
        key_history,
        certificates,
        pin,
        pin_retries: pin_meta.as_ref().and_then(|m| m.retries),
        pin_is_default: pin_meta.as_ref().and_then(|m| m.is_default),
        puk,
        puk_retries: puk_meta.as_ref().and_then(|m| m.retries),
        puk_is_default: puk_meta.as_ref().and_then(|m| m.is_default),
        management_key_algorithm: mgmt_meta
            .as_ref()
            .and_then(|m| m.algorithm)
            .and_then(ManagementKeyAlgorithm::from_id),
        management_key_is_default: mgmt_meta.as_ref().and_then(|m| m.is_default),
        yubikey_extensions: version.is_some(),
        problems,
    })
}
