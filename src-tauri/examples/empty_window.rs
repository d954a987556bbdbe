//! An empty Tauri window: the app's window settings and runtime with a
//! one-line page (served by a URI scheme of its own, so WebKit starts its
//! web process as for any app), no commands and no plugins.
//! `scripts/bench-app` weighs the app's idle memory against it in the same
//! run (built only with the `bench` feature:
//! `cargo run --features bench --example empty_window`).
#![forbid(unsafe_code)]

const PAGE: &[u8] = b"<!doctype html><title>Empty</title><p>Empty window</p>";

fn main() {
    let mut context = tauri::generate_context!();
    let mut windows = std::mem::take(&mut context.config_mut().app.windows);
    let mut window = windows.pop().unwrap_or_default();
    let Ok(page) = "empty://localhost/".parse() else { return };
    window.url = tauri::WebviewUrl::CustomProtocol(page);
    let result = tauri::Builder::default()
        .register_uri_scheme_protocol("empty", |_, _| {
            tauri::http::Response::builder()
                .header("Content-Type", "text/html")
                .body(PAGE.to_vec())
                .unwrap_or_default()
        })
        .setup(move |app| {
            tauri::WebviewWindowBuilder::from_config(app, &window)?.build()?;
            Ok(())
        })
        .run(context);
    if let Err(e) = result {
        eprintln!("empty-window: {e}");
        std::process::exit(1);
    }
}
