//! An empty Tauri window: the app's window settings and runtime with a
//! blank page, no commands and no plugins. `scripts/bench-app` weighs the
//! app's idle memory against it in the same run (built only with the
//! `bench` feature: `cargo run --features bench --example empty_window`).
#![forbid(unsafe_code)]

fn main() {
    let mut context = tauri::generate_context!();
    let mut windows = std::mem::take(&mut context.config_mut().app.windows);
    let mut window = windows.pop().unwrap_or_default();
    let Ok(blank) = "about:blank".parse() else { return };
    window.url = tauri::WebviewUrl::External(blank);
    let result = tauri::Builder::default()
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
