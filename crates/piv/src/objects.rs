//! PIV data objects (SP 800-73-4 Part 1 Appendix A) and the SELECT answer:
//! builders and parsers. All parsers use the flat tag scan (several PIV tags
//! have the BER constructed bit but opaque values) and return typed errors on
//! truncated, oversized or out-of-range input, never panic.

use crate::types::PIV_AID;
use crate::{Error, Result};
use apdu::tlv;
use serde::{Deserialize, Serialize};
use std::io::Read;

/// Largest data object accepted by the parsers (YubiKey objects are ≤ 3063
/// bytes; a few KiB of slack for other cards).
pub const MAX_OBJECT_LEN: usize = 8 * 1024;
/// Largest certificate accepted after decompression.
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

fn bad(what: &'static str) -> Error {
    Error::Malformed { what }
}

fn check_size(data: &[u8]) -> Result<()> {
    if data.len() > MAX_OBJECT_LEN {
        return Err(bad("data object larger than any PIV object"));
    }
    Ok(())
}

fn find(data: &[u8], tag: u32) -> Result<Option<&[u8]>> {
    tlv::find(data, tag).map_err(crate::error::tlv)
}

/// Serde helpers that print byte strings as hex.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

/// What SELECT returned: the application property template `61`
/// (SP 800-73-4 Part 2 §3.1.1, Table 3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// `4F`: the application identifier (or its PIX).
    #[serde(with = "hex_bytes")]
    pub aid: Vec<u8>,
    /// `79 {4F}`: the coexistent tag allocation authority's AID.
    #[serde(with = "hex_bytes")]
    pub authority: Vec<u8>,
    /// `50`: application label.
    pub label: Option<String>,
    /// `5F50`: application URL.
    pub url: Option<String>,
    /// `AC {80 …}`: the cryptographic algorithm identifiers the card lists.
    pub algorithms: Vec<u8>,
}

impl Application {
    /// Parses the SELECT response data; empty data (a card that answers 9000
    /// alone) gives an empty description.
    pub fn parse(data: &[u8]) -> Result<Application> {
        check_size(data)?;
        if data.is_empty() {
            return Ok(Application::default());
        }
        let (outer, rest) = tlv::parse_one(data).map_err(crate::error::tlv)?;
        if outer.tag != 0x61 || !rest.is_empty() {
            return Err(bad("SELECT answer is not one application property template (61)"));
        }
        let t = outer.value;
        let mut app =
            Application { aid: find(t, 0x4F)?.unwrap_or_default().to_vec(), ..Application::default() };
        if let Some(auth) = find(t, 0x79)? {
            app.authority = find(auth, 0x4F)?.unwrap_or_default().to_vec();
        }
        app.label = find(t, 0x50)?.map(|v| String::from_utf8_lossy(v).into_owned());
        app.url = find(t, 0x5F50)?.map(|v| String::from_utf8_lossy(v).into_owned());
        if let Some(ac) = find(t, 0xAC)? {
            for item in tlv::parse_all(ac).map_err(crate::error::tlv)? {
                if item.tag == 0x80 {
                    app.algorithms.extend_from_slice(item.value);
                }
            }
        }
        Ok(app)
    }
}

/// The FASC-N of agency code 9999 with zeroed credential numbers, as PIV
/// middleware and yubico-piv-tool write for non-federal cards (SP 800-73-4
/// Part 1 §3.1.2; TIG SCEPACS encoding). OpenSC then takes the GUID as serial.
pub const FASCN_9999: [u8; 25] = [
    0xD4, 0xE7, 0x39, 0xDA, 0x73, 0x9C, 0xED, 0x39, 0xCE, 0x73, 0x9D, 0x83, 0x68, 0x58, 0x21, 0x08, 0x42,
    0x10, 0x84, 0x21, 0xC8, 0x42, 0x10, 0xC3, 0xEB,
];

/// Card Holder Unique Identifier (SP 800-73-4 Part 1 §3.1.2, Table 9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chuid {
    /// `30` FASC-N (25 bytes).
    #[serde(with = "hex_bytes")]
    pub fasc_n: Vec<u8>,
    /// `34` GUID (16 bytes): the card's unique identity.
    #[serde(with = "hex_bytes")]
    pub guid: Vec<u8>,
    /// `35` expiration date, `YYYYMMDD`.
    pub expiry: Option<String>,
    /// `3E` issuer asymmetric signature (CMS); empty when unsigned.
    #[serde(with = "hex_bytes")]
    pub signature: Vec<u8>,
}

impl Chuid {
    /// A CHUID with the 9999 FASC-N, `guid` and an expiry date, unsigned (`3E 00`).
    pub fn new(guid: [u8; 16], expiry: time::Date) -> Chuid {
        let expiry = format!("{:04}{:02}{:02}", expiry.year(), u8::from(expiry.month()), expiry.day());
        Chuid {
            fasc_n: FASCN_9999.to_vec(),
            guid: guid.to_vec(),
            expiry: Some(expiry),
            signature: Vec::new(),
        }
    }

    /// The object content (inside `53`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = tlv::encode(0x30, &self.fasc_n);
        tlv::write(&mut out, 0x34, &self.guid);
        if let Some(e) = &self.expiry {
            tlv::write(&mut out, 0x35, e.as_bytes());
        }
        tlv::write(&mut out, 0x3E, &self.signature);
        tlv::write(&mut out, 0xFE, &[]);
        out
    }

    /// Parses the object content.
    pub fn parse(data: &[u8]) -> Result<Chuid> {
        check_size(data)?;
        let fasc_n = find(data, 0x30)?.ok_or(bad("CHUID without FASC-N (30)"))?;
        if fasc_n.len() != 25 {
            return Err(bad("CHUID FASC-N is not 25 bytes"));
        }
        let guid = find(data, 0x34)?.ok_or(bad("CHUID without GUID (34)"))?;
        if guid.len() != 16 {
            return Err(bad("CHUID GUID is not 16 bytes"));
        }
        let expiry = match find(data, 0x35)? {
            Some(e) if e.len() == 8 && e.iter().all(u8::is_ascii_digit) => {
                Some(String::from_utf8_lossy(e).into_owned())
            }
            Some(_) => return Err(bad("CHUID expiry is not YYYYMMDD")),
            None => None,
        };
        let signature = find(data, 0x3E)?.unwrap_or_default().to_vec();
        Ok(Chuid { fasc_n: fasc_n.to_vec(), guid: guid.to_vec(), expiry, signature })
    }

    /// The GUID as 32 hex digits.
    pub fn guid_hex(&self) -> String {
        hex::encode(&self.guid)
    }

    /// The expiry as a date, if present and valid.
    pub fn expiry_date(&self) -> Option<time::Date> {
        let e = self.expiry.as_deref()?;
        let y: i32 = e.get(0..4)?.parse().ok()?;
        let m: u8 = e.get(4..6)?.parse().ok()?;
        let d: u8 = e.get(6..8)?.parse().ok()?;
        time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
    }
}

/// RID of the GSC-IS card identifier in a PIV CCC (never the CAC RID
/// `A0 00 00 00 79`, which turns OpenSC's driver into CAC mode).
pub const CCC_RID: [u8; 5] = [0xA0, 0x00, 0x00, 0x01, 0x16];

/// Card Capability Container (SP 800-73-4 Part 1 §3.1.1, Table 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ccc {
    /// `F0` card identifier (21 bytes: RID, manufacturer, type, id).
    #[serde(with = "hex_bytes")]
    pub card_identifier: Vec<u8>,
    /// `F1` container version.
    pub container_version: u8,
    /// `F2` grammar version.
    pub grammar_version: u8,
}

impl Ccc {
    /// A CCC with card identifier `A0 00 00 01 16 ‖ FF (manufacturer) ‖ 02
    /// (card type: PIV) ‖ unique` (14 bytes), 21 bytes in all as Table 8 sets.
    pub fn new(unique: [u8; 14]) -> Ccc {
        let mut id = CCC_RID.to_vec();
        id.extend_from_slice(&[0xFF, 0x02]);
        id.extend_from_slice(&unique);
        Ccc { card_identifier: id, container_version: 0x21, grammar_version: 0x21 }
    }

    /// A CCC with a random unique part.
    pub fn random(rng: &mut impl rand::RngCore) -> Ccc {
        let mut unique = [0u8; 14];
        rng.fill_bytes(&mut unique);
        Ccc::new(unique)
    }

    /// The object content.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = tlv::encode(0xF0, &self.card_identifier);
        tlv::write(&mut out, 0xF1, &[self.container_version]);
        tlv::write(&mut out, 0xF2, &[self.grammar_version]);
        tlv::write(&mut out, 0xF3, &[]);
        tlv::write(&mut out, 0xF4, &[0x00]);
        tlv::write(&mut out, 0xF5, &[0x10]);
        for tag in [0xF6, 0xF7, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE] {
            tlv::write(&mut out, tag, &[]);
        }
        out
    }

    /// Parses the object content.
    pub fn parse(data: &[u8]) -> Result<Ccc> {
        check_size(data)?;
        let id = find(data, 0xF0)?.ok_or(bad("CCC without card identifier (F0)"))?;
        if id.is_empty() || id.len() > 32 {
            return Err(bad("CCC card identifier of unexpected length"));
        }
        let byte = |tag| -> Result<u8> { Ok(find(data, tag)?.and_then(|v| v.first().copied()).unwrap_or(0)) };
        Ok(Ccc { card_identifier: id.to_vec(), container_version: byte(0xF1)?, grammar_version: byte(0xF2)? })
    }

    /// True when the identifier carries the CAC RID.
    pub fn is_cac(&self) -> bool {
        self.card_identifier.starts_with(&[0xA0, 0x00, 0x00, 0x00, 0x79])
    }
}

/// Key History object (SP 800-73-4 Part 1 §3.3.2, Table 19).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHistory {
    /// `C1` retired keys whose certificates are on the card.
    pub on_card: u8,
    /// `C2` retired keys whose certificates are off the card.
    pub off_card: u8,
    /// `F3` URL of the off-card certificates.
    pub url: Option<String>,
}

impl KeyHistory {
    /// The object content.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = tlv::encode(0xC1, &[self.on_card]);
        tlv::write(&mut out, 0xC2, &[self.off_card]);
        if let Some(u) = &self.url {
            tlv::write(&mut out, 0xF3, u.as_bytes());
        }
        tlv::write(&mut out, 0xFE, &[]);
        out
    }

    /// Parses the object content; counts above 20 are refused.
    pub fn parse(data: &[u8]) -> Result<KeyHistory> {
        check_size(data)?;
        let count = |tag| -> Result<u8> {
            match find(data, tag)? {
                None => Ok(0),
                Some([n]) if *n <= 20 => Ok(*n),
                Some(_) => Err(bad("key history count is not one byte in 0..=20")),
            }
        };
        Ok(KeyHistory {
            on_card: count(0xC1)?,
            off_card: count(0xC2)?,
            url: find(data, 0xF3)?.map(|v| String::from_utf8_lossy(v).into_owned()),
        })
    }
}

/// Discovery object (SP 800-73-4 Part 1 §3.3.1, Table 18).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// `4F` the PIV AID.
    #[serde(with = "hex_bytes")]
    pub aid: Vec<u8>,
    /// `5F2F` PIN usage policy (first byte bit 0x40 PIV PIN, 0x20 global PIN…).
    pub pin_usage_policy: u16,
}

impl Discovery {
    /// The discovery object a PIV PIN-only card carries.
    pub fn piv_pin_only() -> Discovery {
        let mut aid = PIV_AID.to_vec();
        aid.extend_from_slice(&[0x01, 0x00]);
        Discovery { aid, pin_usage_policy: 0x4000 }
    }

    /// The content (inside `7E`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = tlv::encode(0x4F, &self.aid);
        tlv::write(&mut out, 0x5F2F, &self.pin_usage_policy.to_be_bytes());
        out
    }

    /// Parses the content.
    pub fn parse(data: &[u8]) -> Result<Discovery> {
        check_size(data)?;
        let aid = find(data, 0x4F)?.ok_or(bad("discovery object without AID (4F)"))?;
        let policy = match find(data, 0x5F2F)? {
            Some([a, b]) => u16::from_be_bytes([*a, *b]),
            Some(_) => return Err(bad("discovery PIN usage policy is not 2 bytes")),
            None => 0,
        };
        Ok(Discovery { aid: aid.to_vec(), pin_usage_policy: policy })
    }

    /// True when the AID is the PIV AID (OpenSC checks this prefix).
    pub fn is_piv(&self) -> bool {
        self.aid.starts_with(&PIV_AID)
    }
}

/// A certificate data object (SP 800-73-4 Part 1 Table 10/15): `70 cert,
/// 71 CertInfo, [72 MSCUID], FE LRC`. CertInfo bit 0 (or YubiKey-style 0x80
/// accepted by OpenSC) says the certificate is gzip-compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateContainer {
    /// The DER certificate (decompressed).
    pub certificate: Vec<u8>,
    /// Whether it was stored compressed.
    pub compressed: bool,
}

impl CertificateContainer {
    /// Builds the object content, gzip-compressing when asked.
    pub fn encode(der: &[u8], compress: bool) -> Result<Vec<u8>> {
        if der.is_empty() || der.len() > MAX_CERTIFICATE_LEN {
            return Err(Error::BadInput("certificate empty or too large".into()));
        }
        let body = if compress {
            use std::io::Write;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(der).and_then(|_| gz.finish()).map_err(|e| Error::Certificate(e.to_string()))?
        } else {
            der.to_vec()
        };
        let mut out = tlv::encode(0x70, &body);
        tlv::write(&mut out, 0x71, &[u8::from(compress)]);
        tlv::write(&mut out, 0xFE, &[]);
        Ok(out)
    }

    /// Parses the object content, decompressing with a size cap.
    pub fn parse(data: &[u8]) -> Result<CertificateContainer> {
        check_size(data)?;
        let cert = find(data, 0x70)?.ok_or(bad("certificate object without certificate (70)"))?;
        let info = find(data, 0x71)?.and_then(|v| v.first().copied()).unwrap_or(0);
        let compressed = info & 0x01 != 0 || info & 0x80 != 0;
        let certificate = if compressed {
            let mut out = Vec::new();
            let mut gz = flate2::read::GzDecoder::new(cert).take(MAX_CERTIFICATE_LEN as u64 + 1);
            gz.read_to_end(&mut out).map_err(|_| bad("compressed certificate is not valid gzip"))?;
            if out.len() > MAX_CERTIFICATE_LEN {
                return Err(bad("decompressed certificate too large"));
            }
            out
        } else {
            cert.to_vec()
        };
        if certificate.is_empty() {
            return Err(bad("empty certificate"));
        }
        Ok(CertificateContainer { certificate, compressed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn yubikey_select_answer_parses() {
        let data = hex::decode("611B4F0600001000010079074F05A0000003085000AC06800111800114").unwrap();
        let app = Application::parse(&data).unwrap();
        assert_eq!(app.aid, [0, 0, 0x10, 0, 1, 0]);
        assert_eq!(app.authority, PIV_RID_BYTES);
        assert_eq!(app.algorithms, [0x11, 0x14]);
        assert_eq!(app.label.as_deref(), Some(""));
        assert_eq!(Application::parse(&[]).unwrap(), Application::default());
        assert!(Application::parse(&[0x62, 0x00]).is_err());
    }
    const PIV_RID_BYTES: [u8; 5] = crate::types::PIV_RID;

    #[test]
    fn chuid_builds_the_documented_bytes_and_round_trips() {
        let date = time::Date::from_calendar_date(2030, time::Month::January, 1).unwrap();
        let chuid = Chuid::new([0x42; 16], date);
        let bytes = chuid.to_bytes();
        assert_eq!(&bytes[..2], &[0x30, 0x19]);
        assert_eq!(&bytes[27..29], &[0x34, 0x10]);
        assert_eq!(&bytes[45..55], b"\x35\x0820300101");
        assert_eq!(&bytes[55..], &[0x3E, 0x00, 0xFE, 0x00]);
        let back = Chuid::parse(&bytes).unwrap();
        assert_eq!(back, chuid);
        assert_eq!(back.expiry_date(), Some(date));
        assert_eq!(back.guid_hex(), "42".repeat(16));
    }

    #[test]
    fn ccc_matches_the_documented_layout() {
        let ccc = Ccc::new([7; 14]);
        let bytes = ccc.to_bytes();
        assert_eq!(&bytes[..7], &[0xF0, 0x15, 0xA0, 0x00, 0x00, 0x01, 0x16]);
        assert_eq!(
            &bytes[23..],
            hex::decode("F10121F20121F300F40100F50110F600F700FA00FB00FC00FD00FE00").unwrap()
        );
        let back = Ccc::parse(&bytes).unwrap();
        assert_eq!(back, ccc);
        assert!(!back.is_cac());
    }

    #[test]
    fn key_history_and_discovery_round_trip() {
        let kh = KeyHistory { on_card: 2, off_card: 1, url: Some("http://x".into()) };
        assert_eq!(KeyHistory::parse(&kh.to_bytes()).unwrap(), kh);
        assert!(KeyHistory::parse(&[0xC1, 0x01, 21]).is_err());
        let d = Discovery::piv_pin_only();
        assert_eq!(d.to_bytes(), hex::decode("4F0BA0000003080000100001005F2F024000").unwrap());
        assert_eq!(Discovery::parse(&d.to_bytes()).unwrap(), d);
        assert!(d.is_piv());
    }

    #[test]
    fn certificate_container_compresses_and_decompresses() {
        let der = vec![0x30; 900];
        for compress in [false, true] {
            let c = CertificateContainer::encode(&der, compress).unwrap();
            let back = CertificateContainer::parse(&c).unwrap();
            assert_eq!(back.certificate, der);
            assert_eq!(back.compressed, compress);
        }
        assert!(CertificateContainer::encode(&der, true).unwrap().len() < 200);
        // YubiKey-style CertInfo 0x80 is treated as compressed too.
        let mut c = CertificateContainer::encode(&der, true).unwrap();
        let at = c.len() - 3;
        c[at] = 0x80;
        assert_eq!(CertificateContainer::parse(&c).unwrap().certificate, der);
    }

    #[test]
    fn gzip_bombs_are_cut_off() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; MAX_CERTIFICATE_LEN * 4]).unwrap();
        let body = gz.finish().unwrap();
        let mut obj = tlv::encode(0x70, &body);
        obj.extend(tlv::encode(0x71, &[1]));
        assert!(matches!(CertificateContainer::parse(&obj), Err(Error::Malformed { .. })));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let _ = Application::parse(&bytes);
            let _ = Chuid::parse(&bytes);
            let _ = Ccc::parse(&bytes);
            let _ = KeyHistory::parse(&bytes);
            let _ = Discovery::parse(&bytes);
            let _ = CertificateContainer::parse(&bytes);
            let _ = crate::PublicKey::parse(&bytes);
        }

        #[test]
        fn parsers_never_panic_on_tlv_shaped_input(
            items in proptest::collection::vec(
                (prop_oneof![Just(0x30u32), Just(0x34), Just(0x35), Just(0x3E), Just(0xF0), Just(0xC1), Just(0x70),
                             Just(0x71), Just(0x4F), Just(0x5F2F), Just(0x61), Just(0x86), Just(0x81), Just(0x82)],
                 proptest::collection::vec(any::<u8>(), 0..40)), 0..8)
        ) {
            let bytes: Vec<u8> = items.iter().flat_map(|(t, v)| tlv::encode(*t, v)).collect();
            let _ = Chuid::parse(&bytes);
            let _ = Ccc::parse(&bytes);
            let _ = KeyHistory::parse(&bytes);
            let _ = Discovery::parse(&bytes);
            let _ = CertificateContainer::parse(&bytes);
            let _ = crate::PublicKey::parse(&bytes);
            let _ = Application::parse(&tlv::encode(0x61, &bytes));
        }

        #[test]
        fn chuid_round_trips(guid in any::<[u8; 16]>(), days in 0i64..40000) {
            let date = time::Date::from_calendar_date(2000, time::Month::January, 1).unwrap() + time::Duration::days(days);
            let c = Chuid::new(guid, date);
            prop_assert_eq!(Chuid::parse(&c.to_bytes()).unwrap(), c);
        }

        #[test]
        fn certificate_container_round_trips(der in proptest::collection::vec(any::<u8>(), 1..3000), compress: bool) {
            let c = CertificateContainer::encode(&der, compress).unwrap();
            prop_assert_eq!(CertificateContainer::parse(&c).unwrap().certificate, der);
        }
    }
}
