//! The enrollment (`station.toml` in the data directory): which registry,
//! the fingerprint of its certificate pinned at enrollment (SPEC §7 — the
//! station's trust anchor; no CA store is consulted), and this workstation's id.

use std::path::{Path, PathBuf};

use domain::WorkstationId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The configuration file inside the data directory.
pub const CONFIG_FILE: &str = "station.toml";
/// The station's database (replica, outbox, encoding journal).
pub const DB_FILE: &str = "station.db";

/// What enrollment wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// The registry's base URL (`https://host:port`).
    pub registry_url: String,
    /// SHA-256 fingerprint of the registry's certificate, as `cardstation-registry serve` prints it.
    pub fingerprint: String,
    /// This workstation, for the audit record.
    pub workstation: Uuid,
}

impl Enrollment {
    /// The workstation id.
    pub fn workstation_id(&self) -> WorkstationId {
        WorkstationId::new(self.workstation)
    }

    /// The pinned fingerprint.
    pub fn pin(&self) -> Result<sync::Fingerprint> {
        self.fingerprint
            .parse()
            .map_err(|e| Error::Invalid(format!("the pinned fingerprint in {CONFIG_FILE} is unusable: {e}")))
    }

    pub(crate) fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(CONFIG_FILE)
    }

    /// Reads the enrollment of `data_dir`.
    pub fn load(data_dir: &Path) -> Result<Enrollment> {
        let path = Self::path(data_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotEnrolled),
            Err(source) => return Err(Error::Io { path: path.display().to_string(), source }),
        };
        toml::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }

    /// Writes it (atomically: aside, then renamed).
    pub fn save(&self, data_dir: &Path) -> Result<()> {
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
        let path = Self::path(data_dir);
        let aside = data_dir.join(format!("{CONFIG_FILE}.new"));
        let text = toml::to_string(self).map_err(|e| Error::Invalid(e.to_string()))?;
        std::fs::write(&aside, text).map_err(io(&aside))?;
        std::fs::rename(&aside, &path).map_err(io(&path))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enrollment_is_saved_and_read_back_and_its_absence_is_not_enrolled() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Enrollment::load(dir.path()), Err(Error::NotEnrolled)));
        let fingerprint = "AB".repeat(32);
        let e = Enrollment {
            registry_url: "https://127.0.0.1:8443".into(),
            fingerprint: fingerprint.clone(),
            workstation: Uuid::from_u128(5),
        };
        e.save(dir.path()).unwrap();
        let back = Enrollment::load(dir.path()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.workstation_id(), WorkstationId::from_u128(5));
        assert!(!dir.path().join(format!("{CONFIG_FILE}.new")).exists());
        let bad = Enrollment { fingerprint: "not hex".into(), ..e };
        assert!(matches!(bad.pin(), Err(Error::Invalid(_))));
    }
}
