//! `apdu::Response::parse` and status word classification, on raw card answers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(response) = apdu::Response::parse(data) else { return };
    let _ = response.sw.kind();
    let _ = response.is_ok();
    let _ = format!("{response:?} {}", response.sw);
    assert_eq!(response.to_bytes(), data, "a response re-encodes to its bytes");
});
