//! `apdu::tlv`: the flat scan and one-level parse every PIV container goes
//! through, plus `find` for the `53` envelope of GET DATA answers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = apdu::tlv::find(data, 0x53);
    let _ = apdu::tlv::require(data, 0x7F49, "public key");
    let _ = apdu::tlv::parse_one(data);
    let Ok(all) = apdu::tlv::parse_all(data) else { return };
    let mut encoded = Vec::new();
    for tlv in &all {
        let _ = tlv.is_constructed();
        let _ = tlv.children();
        apdu::tlv::write(&mut encoded, tlv.tag, tlv.value);
    }
    // Re-encoding normalises length forms but keeps tags and values.
    let again = apdu::tlv::parse_all(&encoded).expect("re-encoded TLVs parse");
    assert_eq!(again, all);
    if let Ok(Some(v)) = apdu::tlv::find(data, 0x53) {
        assert_eq!(apdu::tlv::find(&encoded, 0x53).ok().flatten(), Some(v));
    }
});
