//! The UI's TypeScript bindings are generated from the Rust types; the
//! checked-in `ui/src/bindings.ts` must be what they generate now.
//! `CARDSTATION_WRITE_BINDINGS=1 cargo test -p cardstation-app --test bindings`
//! rewrites it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn the_checked_in_bindings_are_current() {
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join(cardstation_app::BINDINGS);
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("bindings.ts");
    cardstation_app::export_bindings(&fresh).unwrap();
    let fresh = std::fs::read_to_string(&fresh).unwrap();
    if std::env::var_os("CARDSTATION_WRITE_BINDINGS").is_some() {
        std::fs::write(&checked_in, &fresh).unwrap();
    }
    let old = std::fs::read_to_string(&checked_in).unwrap_or_default();
    assert!(
        old == fresh,
        "ui/src/bindings.ts is stale: run `CARDSTATION_WRITE_BINDINGS=1 cargo test -p cardstation-app --test bindings`"
    );
    for command in ["signIn", "watchCards", "issue", "revealSecret", "syncNow"] {
        assert!(fresh.contains(&format!("\t{command}: (")), "the command {command} is in the bindings");
    }
    assert!(fresh.contains("export type ErrorView"), "errors cross as ErrorView");
}
