//! UC-SIGNIN offline: against a verifier cached at a recent online sign-in.
//!
//! After every online sign-in the station keeps, per operator, in
//! [`VERIFIER_FILE`] in its data directory (mode 0600, written aside then
//! renamed): an Argon2id hash of the password (never the password), the
//! operator's permissions and the deployment's use cases as the registry
//! granted them, and an expiry [`OFFLINE_VALIDITY`] after that sign-in.
//!
//! When the registry cannot be reached, sign-in checks the password against
//! that verifier and opens an **offline session**: local work only —
//! search, read cards, look at records, and actions that are queued in the
//! outbox (a card request, approvals) and pushed, then accepted or rejected
//! by the registry, at the next online sync. Anything that needs the
//! registry now (issuance: CA and escrow; unblock; retire) fails with the
//! `offline` error. Nothing is lost: the outbox is on disk.
//!
//! A wrong password offline is refused and counted; after
//! [`OFFLINE_FAILURE_LIMIT`] wrong passwords in a row the verifier is
//! deleted, so only an online sign-in works again. An expired verifier is
//! refused (and deleted).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use domain::{OperatorId, PersonId};
use proto::{SessionGrant, SessionToken};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::remote::Remote;
use crate::session::Session;
use crate::{runtime, Station, REGISTRY_TIMEOUT};

/// The cached verifiers, in the data directory.
pub const VERIFIER_FILE: &str = "offline-signin.json";
/// How long after an online sign-in the operator may sign in offline.
pub const OFFLINE_VALIDITY: Duration = Duration::days(7);
/// Wrong offline passwords in a row before the verifier is deleted.
pub const OFFLINE_FAILURE_LIMIT: u32 = 5;
/// How long an offline session lasts (at most until the verifier expires).
const OFFLINE_SESSION: Duration = Duration::hours(12);

/// One operator's cached verifier: no password, no token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfflineVerifier {
    /// Argon2id PHC string of the password.
    pub verifier: String,
    /// The operator.
    pub operator: OperatorId,
    /// Their person.
    pub person: PersonId,
    /// Permissions as of the online sign-in.
    pub permissions: domain::Permissions,
    /// Use cases as of the online sign-in.
    pub use_cases: domain::UseCases,
    /// The online sign-in.
    #[serde(with = "time::serde::rfc3339")]
    pub cached_at: OffsetDateTime,
    /// Unusable from then on.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Wrong offline passwords since the last success.
    pub failures: u32,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Verifiers {
    operators: BTreeMap<String, OfflineVerifier>,
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(VERIFIER_FILE)
}

fn load(data_dir: &Path) -> Verifiers {
    std::fs::read_to_string(path(data_dir))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn save(data_dir: &Path, verifiers: &Verifiers) -> Result<()> {
    let target = path(data_dir);
    let aside = data_dir.join(format!("{VERIFIER_FILE}.new"));
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| Error::Io { path: p, source }
    };
    let text = serde_json::to_vec_pretty(verifiers).map_err(store::Error::from)?;
    let _ = std::fs::remove_file(&aside);
    let mut file = crate::private_file::create_new(&aside).map_err(io(&aside))?;
    file.write_all(&text).map_err(io(&aside))?;
    file.sync_all().map_err(io(&aside))?;
    std::fs::rename(&aside, &target).map_err(io(&target))?;
    Ok(())
}

/// After an online sign-in: caches the verifier of `password` (best effort:
/// a failure to write it only means no offline sign-in later).
pub(crate) fn remember(data_dir: &Path, username: &str, password: &str, grant: &SessionGrant) {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let Ok(hash) = Argon2::default().hash_password(password.as_bytes(), &salt) else { return };
    let now = OffsetDateTime::now_utc();
    let mut verifiers = load(data_dir);
    verifiers.operators.insert(
        username.to_owned(),
        OfflineVerifier {
            verifier: hash.to_string(),
            operator: grant.operator,
            person: grant.person,
            permissions: grant.permissions.clone(),
            use_cases: grant.use_cases.clone(),
            cached_at: now,
            expires_at: now + OFFLINE_VALIDITY,
            failures: 0,
        },
    );
    if let Err(e) = save(data_dir, &verifiers) {
        tracing::warn!(error = %e, "the offline sign-in verifier could not be cached");
    }
}

fn refused(code: crate::ErrorCode, message: String) -> Error {
    Error::Declined { code, message }
}

/// Offline sign-in: `why` is why the registry could not be reached.
pub(crate) fn sign_in(station: Station, username: &str, password: &str, why: &str) -> Result<Session> {
    let Station { data_dir, enrollment, store } = station;
    let mut verifiers = load(&data_dir);
    let now = OffsetDateTime::now_utc();
    let Some(entry) = verifiers.operators.get_mut(username) else {
        return Err(Error::Offline(format!(
            "{why}; and {username} has not signed in online at this station in the last {} days, \
             so there is no offline sign-in",
            OFFLINE_VALIDITY.whole_days()
        )));
    };
    if entry.expires_at <= now {
        verifiers.operators.remove(username);
        save(&data_dir, &verifiers)?;
        return Err(refused(
            crate::ErrorCode::OfflineExpired,
            format!(
                "the registry is unreachable and the offline sign-in of {username} expired \
                 (an online sign-in is needed every {} days)",
                OFFLINE_VALIDITY.whole_days()
            ),
        ));
    }
    let good = PasswordHash::new(&entry.verifier)
        .is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
    if !good {
        entry.failures += 1;
        let failures = entry.failures;
        if failures >= OFFLINE_FAILURE_LIMIT {
            verifiers.operators.remove(username);
            save(&data_dir, &verifiers)?;
            return Err(refused(
                crate::ErrorCode::OfflineLocked,
                format!(
                    "wrong password; after {failures} wrong passwords offline sign-in is locked for \
                     {username} until an online sign-in"
                ),
            ));
        }
        save(&data_dir, &verifiers)?;
        return Err(refused(
            crate::ErrorCode::SignIn,
            format!(
                "sign-in refused (offline): wrong password ({} tries left before offline sign-in locks)",
                OFFLINE_FAILURE_LIMIT - failures
            ),
        ));
    }
    let entry = entry.clone();
    if entry.failures > 0 {
        if let Some(e) = verifiers.operators.get_mut(username) {
            e.failures = 0;
        }
        save(&data_dir, &verifiers)?;
    }
    let pin = enrollment.pin()?;
    let client = sync::RegistryClient::new(&enrollment.registry_url, pin, REGISTRY_TIMEOUT)?;
    let remote = Remote::new(&enrollment.registry_url, pin, REGISTRY_TIMEOUT)?;
    let grant = SessionGrant {
        // Not a registry token: a registry call made with it fails (offline, or 401 once back).
        token: SessionToken::new("offline"),
        expires_at: (now + OFFLINE_SESSION).min(entry.expires_at),
        operator: entry.operator,
        person: entry.person,
        permissions: entry.permissions,
        use_cases: entry.use_cases,
    };
    let engine = sync::Engine::new(
        client.clone(),
        grant.token.clone(),
        Some(grant.operator),
        Some(enrollment.workstation_id()),
    );
    Ok(Session {
        data_dir,
        enrollment,
        store,
        runtime: runtime()?,
        client,
        remote,
        engine,
        grant,
        offline: true,
        sign_in_report: sync::SyncReport::default(),
        chosen_pin: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> SessionGrant {
        SessionGrant {
            token: SessionToken::new("t"),
            expires_at: OffsetDateTime::now_utc(),
            operator: OperatorId::from_u128(1),
            person: PersonId::from_u128(2),
            permissions: domain::Permissions::default(),
            use_cases: domain::UseCases::all(),
        }
    }

    fn station(dir: &Path) -> Station {
        crate::Enrollment {
            registry_url: "https://127.0.0.1:9".into(),
            fingerprint: "AB".repeat(32),
            workstation: uuid::Uuid::from_u128(7),
        }
        .save(dir)
        .unwrap();
        Station::open(dir).unwrap()
    }

    fn code(r: Result<Session>) -> String {
        match r {
            Ok(_) => "signed-in".into(),
            Err(e) => e.code().as_str().to_owned(),
        }
    }

    #[test]
    fn offline_sign_in_checks_the_verifier_counts_failures_locks_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        remember(d, "ann", "right password", &grant());
        let session = sign_in(station(d), "ann", "right password", "down").unwrap();
        assert!(session.is_offline());
        assert_eq!(session.signed_in().operator, OperatorId::from_u128(1));
        drop(session);
        assert_eq!(code(sign_in(station(d), "bob", "x", "down")), "offline", "never signed in here");
        for _ in 1..OFFLINE_FAILURE_LIMIT {
            assert_eq!(code(sign_in(station(d), "ann", "wrong", "down")), "sign-in");
        }
        assert_eq!(load(d).operators["ann"].failures, OFFLINE_FAILURE_LIMIT - 1);
        assert_eq!(code(sign_in(station(d), "ann", "wrong", "down")), "offline-locked");
        assert_eq!(code(sign_in(station(d), "ann", "right password", "down")), "offline", "locked out");
        remember(d, "ann", "right password", &grant());
        let mut v = load(d);
        v.operators.get_mut("ann").unwrap().expires_at = OffsetDateTime::now_utc() - Duration::seconds(1);
        save(d, &v).unwrap();
        assert_eq!(code(sign_in(station(d), "ann", "right password", "down")), "offline-expired");
    }

    #[test]
    fn the_cache_holds_a_verifier_not_the_password_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        remember(dir.path(), "ann", "correct horse 1", &grant());
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(!text.contains("correct horse"), "no password on disk");
        assert!(text.contains("$argon2id$"), "{text}");
        let mode = std::fs::metadata(path(dir.path())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let entry = &load(dir.path()).operators["ann"];
        assert_eq!(entry.expires_at - entry.cached_at, OFFLINE_VALIDITY);
    }
}
