//! BER-TLV (ISO/IEC 7816-4 §5.2, ITU-T X.690 tags and lengths) and the "flat"
//! scan PIV containers need.
//!
//! PIV objects (SP 800-73-4 Part 1 Appendix A) use tags such as `30`, `3E`,
//! `70`, `71` and `F0` whose BER "constructed" bit is set although their
//! values are opaque bytes. So containers are read one level at a time with
//! [`parse_all`] / [`find`], never recursively; [`Tlv::children`] recurses
//! only where the caller knows the value is really BER (`7C`, `7F49`, `AC`).

use crate::{Error, Result};

/// One tag-length-value borrowed from a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag, its bytes big-endian in a `u32` (e.g. `0x5FC102`, `0x7F49`).
    pub tag: u32,
    /// The value bytes.
    pub value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// True when the tag's first byte has the BER constructed bit (0x20).
    pub fn is_constructed(&self) -> bool {
        first_tag_byte(self.tag) & 0x20 != 0
    }

    /// Parses the value as a sequence of nested TLVs (real BER only).
    pub fn children(&self) -> Result<Vec<Tlv<'a>>> {
        parse_all(self.value)
    }
}

fn first_tag_byte(tag: u32) -> u8 {
    let bytes = tag.to_be_bytes();
    bytes.iter().copied().find(|b| *b != 0).unwrap_or(0)
}

/// Reads one TLV from the start of `input`; returns it and the rest.
pub fn parse_one(input: &[u8]) -> Result<(Tlv<'_>, &[u8])> {
    let (&first, mut rest) = input.split_first().ok_or(Error::Tlv("empty input where a tag was expected"))?;
    if first == 0x00 || first == 0xFF {
        return Err(Error::Tlv("invalid tag byte 00/FF"));
    }
    let mut tag = u32::from(first);
    if first & 0x1F == 0x1F {
        // Multi-byte tag: continuation bytes have bit 8 set; at most 3 bytes in all.
        let mut count = 1;
        loop {
            let (&b, r) = rest.split_first().ok_or(Error::Tlv("truncated multi-byte tag"))?;
            rest = r;
            tag = (tag << 8) | u32::from(b);
            count += 1;
            if b & 0x80 == 0 {
                break;
            }
            if count >= 3 {
                return Err(Error::Tlv("tag longer than 3 bytes"));
            }
        }
    }
    let (&l0, r) = rest.split_first().ok_or(Error::Tlv("missing length"))?;
    rest = r;
    let len = match l0 {
        0..=0x7F => usize::from(l0),
        0x81..=0x83 => {
            let n = usize::from(l0 - 0x80);
            if rest.len() < n {
                return Err(Error::Tlv("truncated length"));
            }
            let (len_bytes, r) = rest.split_at(n);
            rest = r;
            len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        }
        _ => return Err(Error::Tlv("unsupported length form")),
    };
    if rest.len() < len {
        return Err(Error::Tlv("value shorter than its length"));
    }
    let (value, rest) = rest.split_at(len);
    Ok((Tlv { tag, value }, rest))
}

/// Reads every TLV at one level of `input` (which must be consumed exactly).
pub fn parse_all(input: &[u8]) -> Result<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let (tlv, r) = parse_one(rest)?;
        out.push(tlv);
        rest = r;
    }
    Ok(out)
}

/// Finds the first TLV with `tag` at the top level of `input` without
/// descending into values (the flat scan PIV containers need).
pub fn find(input: &[u8], tag: u32) -> Result<Option<&[u8]>> {
    let mut rest = input;
    while !rest.is_empty() {
        let (tlv, r) = parse_one(rest)?;
        if tlv.tag == tag {
            return Ok(Some(tlv.value));
        }
        rest = r;
    }
    Ok(None)
}

/// Like [`find`], but a missing tag is an error naming what was expected.
pub fn require<'a>(input: &'a [u8], tag: u32, what: &'static str) -> Result<&'a [u8]> {
    find(input, tag)?.ok_or(Error::Tlv(what))
}

/// Appends the BER encoding of `tag` (1–3 bytes, as given).
pub fn write_tag(out: &mut Vec<u8>, tag: u32) {
    let bytes = tag.to_be_bytes();
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(3);
    out.extend_from_slice(&bytes[start..]);
}

/// Appends a BER definite length (short form, or 81/82/83 long forms).
pub fn write_len(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        _ => out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
    }
}

/// Appends one TLV.
pub fn write(out: &mut Vec<u8>, tag: u32, value: &[u8]) {
    write_tag(out, tag);
    write_len(out, value.len());
    out.extend_from_slice(value);
}

/// Returns one TLV as a new buffer.
pub fn encode(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    write(&mut out, tag, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_multibyte_tags_and_long_lengths() {
        let mut buf = vec![0x5F, 0xC1, 0x02, 0x81, 0x80];
        buf.extend_from_slice(&[0xAA; 0x80]);
        let (tlv, rest) = parse_one(&buf).unwrap();
        assert_eq!(tlv.tag, 0x5FC102);
        assert_eq!(tlv.value.len(), 0x80);
        assert!(rest.is_empty());
        let (tlv, _) = parse_one(&[0x7F, 0x49, 0x82, 0x00, 0x01, 0x86]).unwrap();
        assert_eq!((tlv.tag, tlv.value), (0x7F49, &[0x86][..]));
    }

    #[test]
    fn flat_scan_does_not_descend_into_opaque_constructed_tags() {
        // A CHUID-like value: 30 holds 25 opaque bytes that are not valid BER.
        let mut chuid = encode(0x30, &[0xD4, 0xE7, 0x39, 0xDA, 0x73]);
        chuid.extend(encode(0x34, &[1; 16]));
        chuid.extend(encode(0xFE, &[]));
        assert_eq!(find(&chuid, 0x34).unwrap(), Some(&[1u8; 16][..]));
        assert_eq!(find(&chuid, 0x35).unwrap(), None);
        let fasc = parse_all(&chuid).unwrap()[0];
        assert!(fasc.is_constructed());
        assert!(fasc.children().is_err(), "the opaque value is not BER and must not be parsed as such");
    }

    #[test]
    fn nested_ber_is_parsed_on_request() {
        let inner = [encode(0x80, &[1, 2]), encode(0x81, &[3])].concat();
        let outer = encode(0x7C, &inner);
        let (tlv, _) = parse_one(&outer).unwrap();
        let kids = tlv.children().unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[1].value, [3]);
    }

    #[test]
    fn malformed_input_is_an_error() {
        for bad in [
            &[][..],
            &[0x53],
            &[0x53, 0x05, 1, 2],
            &[0x5F],
            &[0x5F, 0xC1],
            &[0x53, 0x84, 0, 0, 0, 1],
            &[0x53, 0x82, 0x01],
            &[0x00, 0x00],
            &[0x5F, 0xC1, 0x82, 0x01, 0x00],
        ] {
            assert!(parse_one(bad).is_err(), "{bad:02X?} must be rejected");
        }
    }

    #[test]
    fn lengths_encode_to_golden_bytes() {
        let mut v = Vec::new();
        write_len(&mut v, 0x7F);
        write_len(&mut v, 0x80);
        write_len(&mut v, 0x1234);
        assert_eq!(v, [0x7F, 0x81, 0x80, 0x82, 0x12, 0x34]);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_all(&bytes);
            let _ = find(&bytes, 0x53);
        }

        #[test]
        fn encode_then_parse_round_trips(
            tag in prop_oneof![Just(0x53u32), Just(0x7C), Just(0x5FC105), Just(0x7F49), Just(0x80)],
            value in proptest::collection::vec(any::<u8>(), 0..2000),
        ) {
            let enc = encode(tag, &value);
            let (tlv, rest) = parse_one(&enc).unwrap();
            prop_assert_eq!(tlv.tag, tag);
            prop_assert_eq!(tlv.value, &value[..]);
            prop_assert!(rest.is_empty());
        }
    }
}
