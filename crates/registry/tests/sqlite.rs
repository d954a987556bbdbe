//! The behaviour suite on SQLite.

mod suite;

use std::sync::Arc;

use registry::{SqliteStorage, Storage};

fn sqlite() -> Arc<dyn Storage> {
    let dir = tempfile::tempdir().expect("a temporary directory").keep();
    Arc::new(SqliteStorage::open(&dir.join("registry.sqlite3")).expect("a fresh database"))
}

macro_rules! on_sqlite {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                suite::$name(sqlite).await;
            }
        )*
    };
}

on_sqlite!(
    health_and_openapi,
    sign_in_and_out,
    sessions_expire,
    card_lifecycle_through_operations,
    exactly_once,
    concurrent_approvals_one_wins,
    audit_chain,
    escrow_round_trip,
    permission_matrix,
    malformed_input_is_a_4xx_problem,
    profile_revisions_conflict,
);
