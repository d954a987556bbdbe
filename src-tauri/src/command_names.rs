// The app's IPC commands: registered by `lib.rs`, declared by `build.rs`
// (each needs an explicit permission), granted by `capabilities/main.json`.

/// Every command of the operator window.
pub const COMMANDS: &[&str] = &[
    "app_status",
    "registry_online",
    "sign_in",
    "sign_out",
    "unlock",
    "touch",
    "watch_cards",
    "read_card",
    "search",
    "person",
    "requests",
    "profiles",
    "request_card",
    "decide",
    "issue",
    "reveal_secret",
    "close_reveal",
    "jobs",
    "resume_job",
    "rollback_job",
    "sync_status",
    "sync_now",
    "watch_sync",
];
