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
/// The workstation's credential (mode 0600), made at enrollment: the
/// registry binds the workstation id to it at the first sign-in.
pub const KEY_FILE: &str = "workstation.key";

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

    /// This workstation's credential, made (32 random bytes, hex, readable by this user only)
    /// when the station has none yet: a station enrolled before credentials
    /// existed gets one at its next sign-in.
    pub fn workstation_key(data_dir: &Path) -> Result<proto::WorkstationKey> {
        use std::io::Write;
        let path = data_dir.join(KEY_FILE);
        let io = |source| Error::Io { path: path.display().to_string(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = text.trim();
                if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::Invalid(format!("{} is not a workstation key", path.display())));
                }
                Ok(proto::WorkstationKey::new(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, bytes.as_mut());
                let key = proto::WorkstationKey::new(hex::encode(bytes.as_ref()));
                let mut file = crate::private_file::create_new(&path).map_err(io)?;
                file.write_all(key.expose().as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
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
    fn the_workstation_key_is_made_once_private_and_checked_when_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let made = Enrollment::workstation_key(dir.path()).unwrap();
        assert_eq!(made.expose().len(), 64);
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the owner's only");
        assert_eq!(Enrollment::workstation_key(dir.path()).unwrap(), made, "read back, not made again");
        std::fs::write(dir.path().join(KEY_FILE), "short").unwrap();
        assert!(matches!(Enrollment::workstation_key(dir.path()), Err(Error::Invalid(_))));
    }

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
