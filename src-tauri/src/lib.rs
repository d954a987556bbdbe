//! The desktop operator app: a Tauri 2 shell over `station`.
//!
//! * Every command in [`commands`] is a thin adapter over a
//!   [`station::Desk`]: the session lives on a thread of its own, card jobs
//!   on workers of their own, so the window never waits on a card or the
//!   registry.
//! * Errors cross as [`station::ErrorView`] (`{code, message, refusal,
//!   tries}`); live state (readers and cards, job progress, sync) is pushed
//!   over channels; the idle lock is the `SessionLocked` event.
//! * The TypeScript of every command, event and view is generated from
//!   these types by tauri-specta into `ui/src/bindings.ts` (see
//!   [`bindings`]; a test fails when the checked-in file is stale).
#![forbid(unsafe_code)]

pub mod commands;
mod state;

use std::path::PathBuf;
use std::time::Duration;

use tauri::Manager;
use tauri_specta::Event;

pub use state::{App, SessionLocked};

/// Where the generated bindings live, from this crate's directory.
pub const BINDINGS: &str = "../ui/src/bindings.ts";

/// The command and event set, for the invoke handler and the bindings.
pub fn bindings() -> tauri_specta::Builder<tauri::Wry> {
    use commands::*;
    tauri_specta::Builder::<tauri::Wry>::new()
        .commands(tauri_specta::collect_commands![
            app_status,
            registry_online,
            sign_in,
            sign_out,
            unlock,
            touch,
            watch_cards,
            read_card,
            search,
            person,
            requests,
            profiles,
            administration,
            revise_profile,
            access,
            save_role,
            set_operator_roles,
            set_use_cases,
            request_card,
            decide,
            issue,
            reveal_secret,
            close_reveal,
            jobs,
            resume_job,
            rollback_job,
            sync_status,
            sync_now,
            watch_sync,
            batch_queue,
            batches,
            create_batch,
            run_batch,
            cancel_batch,
            retry_failed,
            temporary_cards,
            initialize_temporary,
            assign_temporary,
            return_temporary,
            request_update,
            collect_updates,
            unblock_pin,
            change_pin,
            retire,
            erase_card,
            respond_offline_unblock,
            audit,
            audit_chain,
            export_audit,
            kiosk_ready,
            kiosk_check,
            kiosk_recognise,
            kiosk_prove,
            kiosk_update,
            kiosk_encode,
            kiosk_try_pin,
            kiosk_end,
            kiosk_exit,
            provisioning_tasks,
            provisioning_task,
            create_provisioning_task,
            edit_provisioning_task,
            remove_provisioning_task,
            resend_enrollment,
            person_tasks,
            mailbox,
        ])
        .events(tauri_specta::collect_events![SessionLocked])
        // One TypeScript type per Rust type: these views are only sent or only received.
        .disable_serde_phases()
}

/// The TypeScript bindings as generated now.
pub fn export_bindings(path: &std::path::Path) -> Result<(), String> {
    let language = specta_typescript::Typescript::default()
        .header("// Generated from the Rust types by tauri-specta (src-tauri `bindings()`); do not edit.\n/* eslint-disable */\n");
    bindings().export(language, path).map_err(|e| e.to_string())
}

/// The station's data directory: `$CARDSTATION_DATA`, else
/// `~/.local/share/cardstation/station` (the CLI's default too).
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARDSTATION_DATA") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("cardstation/station")
}

/// Idle time before the session locks: `$CARDSTATION_IDLE_LOCK_SECONDS`,
/// else five minutes.
pub fn idle_lock() -> Duration {
    std::env::var("CARDSTATION_IDLE_LOCK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(station::DEFAULT_IDLE_LOCK)
}

/// Whether the app starts as a walk-up kiosk: `--kiosk` or `CARDSTATION_KIOSK=1`.
pub fn kiosk_mode(args: impl IntoIterator<Item = String>) -> bool {
    args.into_iter().any(|a| a == "--kiosk")
        || std::env::var("CARDSTATION_KIOSK").is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// Runs the app until its window closes.
pub fn run() -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let kiosk = kiosk_mode(std::env::args().skip(1));
    let app = App::open_as(&data_dir(), idle_lock(), kiosk).map_err(|e| e.message)?;
    let builder = bindings();
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .invoke_handler(builder.invoke_handler())
        .on_window_event(|window, event| {
            // A kiosk's window closes only after the exit gesture and the kiosk account's password.
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                if !window.state::<App>().may_close() {
                    api.prevent_close();
                }
            }
        })
        .setup(move |tauri_app| {
            builder.mount_events(tauri_app);
            if kiosk {
                if let Some(window) = tauri_app.get_webview_window("main") {
                    window.set_title("Cardstation kiosk")?;
                    window.set_decorations(false)?;
                    window.set_fullscreen(true)?;
                    window.set_always_on_top(true)?;
                    window.set_closable(false)?;
                    window.set_minimizable(false)?;
                }
            }
            let handle = tauri_app.handle().clone();
            app.desk().on_lock(Box::new(move || {
                if let Err(e) = SessionLocked.emit(&handle) {
                    tracing::warn!(error = %e, "cannot tell the window the session locked");
                }
            }));
            tauri_app.manage(app);
            Ok(())
        })
        .run(tauri::generate_context!())
        .map_err(|e| format!("the window failed: {e}"))
}
