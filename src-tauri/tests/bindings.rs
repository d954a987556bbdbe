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

/// Every command the window can invoke is declared to Tauri's ACL
/// (`src/command_names.rs`, read by `build.rs`) and granted by the window's
/// capability: a command missing from either is refused at run time with a
/// bare ACL error, which the window could only show as "something went wrong".
#[test]
fn every_command_in_the_bindings_is_declared_and_granted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bindings = std::fs::read_to_string(root.join(cardstation_app::BINDINGS)).unwrap();
    let declared = std::fs::read_to_string(root.join("src/command_names.rs")).unwrap();
    let capability = std::fs::read_to_string(root.join("capabilities/main.json")).unwrap();
    let invoked: Vec<&str> =
        bindings.split("__TAURI_INVOKE").skip(2).filter_map(|rest| rest.split('"').nth(1)).collect();
    assert!(invoked.len() > 40, "the bindings invoke the commands: {invoked:?}");
    for command in invoked {
        assert!(declared.contains(&format!("\"{command}\"")), "{command} is not in src/command_names.rs");
        let permission = format!("\"allow-{}\"", command.replace('_', "-"));
        assert!(
            capability.contains(&permission),
            "{command} is not granted: {permission} in capabilities/main.json"
        );
    }
}
