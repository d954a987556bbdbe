//! Declares the app's own commands, so each needs a permission that the
//! window's capability file grants explicitly (SPEC §7: least privilege).

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(cardstation_commands::COMMANDS);
    if let Err(e) = tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)) {
        panic!("tauri build step failed: {e:#}");
    }
}

/// Kept in one place: the command names the invoke handler registers.
mod cardstation_commands {
    include!("src/command_names.rs");
}
