//! The test database of the PostgreSQL tests: `CARDSTATION_TEST_POSTGRES`
//! (a URL; `scripts/postgres up` starts one and `scripts/test` exports it).
//! Without it a test is skipped with a message, except under `CI=true`,
//! where it fails: CI must never pass without PostgreSQL.

const URL_VARIABLE: &str = "CARDSTATION_TEST_POSTGRES";

/// The test database's URL; `None` (test skipped) only outside CI.
pub fn url() -> Option<String> {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let message = format!(
                "{URL_VARIABLE} is not set: start PostgreSQL with `scripts/postgres up` and set \
                 {URL_VARIABLE}=$(scripts/postgres url) (scripts/test does both)"
            );
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!("CI=true but the PostgreSQL tests cannot run: {message}");
            }
            eprintln!("SKIPPED: {message}");
            None
        }
    }
}
