//! `apdu::Command::parse` — what the virtual card does with every host APDU.
//! Must never panic; a parsed command must re-encode and parse back equal.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(command) = apdu::Command::parse(data) else { return };
    let _ = format!("{command:?}");
    let bytes = command.to_bytes().expect("a parsed command re-encodes");
    let again = apdu::Command::parse(&bytes).expect("a re-encoded command parses");
    assert_eq!(again, command, "parse(to_bytes(c)) != c");
});
