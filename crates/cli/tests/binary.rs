//! The `cardstation` binary as a shell calls it. (This file also makes
//! `cargo test` build the binary with the test build's features, which the
//! whole-stack tests in `tests/` run.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn cardstation() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cardstation"))
}

#[test]
fn prints_its_version() {
    let out = cardstation().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim(), format!("cardstation {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_station_not_enrolled_says_so_with_a_stable_code_and_changes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let out = cardstation()
        .args(["--json", "--data", data.path().to_str().unwrap(), "sync"])
        .env("CARDSTATION_OPERATOR", "ivy")
        .env("CARDSTATION_PASSWORD", "not used")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["error"]["code"], "not-enrolled", "{json}");
    assert!(!json.to_string().contains("not used"), "no secret in the answer");
    let left: Vec<_> = std::fs::read_dir(data.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing written: {left:?}");
}
