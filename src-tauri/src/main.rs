//! The Cardstation desktop app (`cardstation-app`).
#![forbid(unsafe_code)]
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    if let Err(e) = cardstation_app::run() {
        eprintln!("cardstation: {e}");
        std::process::exit(1);
    }
}
