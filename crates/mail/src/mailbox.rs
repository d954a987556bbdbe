//! The embedded default: each message one `.eml` file in
//! `<registry data dir>/mailbox/`, for an administrator to read in the app.
//!
//! The directory is 0700 and each file 0600 (the body carries an enrollment
//! code). A file is written aside and renamed, so a reader never sees half a
//! message; its name starts with the queue time (UTC, fixed width) so a
//! listing sorts by time, and ends with the outbox id, so delivering the
//! same message again replaces it rather than adding a copy.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::message::{parse_message, Parsed};
use crate::secret::SecretText;

/// A local mailbox directory.
#[derive(Debug, Clone)]
pub struct Mailbox {
    dir: PathBuf,
}

/// One message in the listing (no body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxEntry {
    /// The outbox id.
    pub id: Uuid,
    /// The recipient.
    pub to: String,
    /// The subject, decoded.
    pub subject: String,
    /// When it was queued (the `Date:` header).
    pub date: OffsetDateTime,
}

/// One message with its text.
#[derive(Debug, Clone)]
pub struct MailboxMessage {
    /// The outbox id.
    pub id: Uuid,
    /// The recipient.
    pub to: String,
    /// The subject, decoded.
    pub subject: String,
    /// When it was queued.
    pub date: OffsetDateTime,
    /// The text (it carries the code).
    pub body: SecretText,
}

/// A mailbox that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// The file system refused.
    #[error("mailbox {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file that is not a message this crate wrote.
    #[error("mailbox {0}: not a readable message")]
    Malformed(PathBuf),
    /// A date the file name cannot hold (before year 0 or after 9999).
    #[error("mailbox: date out of range")]
    DateOutOfRange,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MailboxError + '_ {
    move |source| MailboxError::Io { path: path.to_owned(), source }
}

impl Mailbox {
    /// Opens (making it if needed) the mailbox at `dir`, with mode 0700.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Mailbox, MailboxError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io(&dir))?;
        Ok(Mailbox { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores one formatted message (0600, atomically); the same id and
    /// time replace an earlier copy.
    pub fn store(&self, id: Uuid, created_at: OffsetDateTime, bytes: &[u8]) -> Result<PathBuf, MailboxError> {
        let name = file_name(id, created_at)?;
        let path = self.dir.join(&name);
        let aside = self.dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
        let written = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&aside)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&aside, &path)?;
            fs::File::open(&self.dir)?.sync_all()
        })();
        if let Err(source) = written {
            let _ = fs::remove_file(&aside);
            return Err(MailboxError::Io { path, source });
        }
        Ok(path)
    }

    /// Every message, oldest first. Files that are not messages (a
    /// leftover being written, something put there by hand) are skipped.
    pub fn list(&self) -> Result<Vec<MailboxEntry>, MailboxError> {
        let mut entries = Vec::new();
        for (id, path) in self.files()? {
            let bytes = zeroize::Zeroizing::new(fs::read(&path).map_err(io(&path))?);
            match parse_message(&bytes, false).filter(|p| names(p, id)) {
                Some(Parsed { to, subject, date, .. }) => {
                    entries.push(MailboxEntry { id, to, subject, date })
                }
                None => {
                    tracing::warn!(file = %path.display(), "mailbox: skipping a file that is not a message")
                }
            }
        }
        Ok(entries)
    }

    /// The message with outbox id `id`, if delivered here.
    pub fn read(&self, id: Uuid) -> Result<Option<MailboxMessage>, MailboxError> {
        let Some((_, path)) = self.files()?.into_iter().rev().find(|(found, _)| *found == id) else {
            return Ok(None);
        };
        let bytes = zeroize::Zeroizing::new(fs::read(&path).map_err(io(&path))?);
        let parsed = parse_message(&bytes, true)
            .filter(|p| names(p, id))
            .ok_or_else(|| MailboxError::Malformed(path.clone()))?;
        Ok(Some(MailboxMessage {
            id,
            to: parsed.to,
            subject: parsed.subject,
            date: parsed.date,
            body: parsed.body,
        }))
    }

    /// `(id, path)` of every message file, sorted by name (= by time).
    fn files(&self) -> Result<Vec<(Uuid, PathBuf)>, MailboxError> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let Some(id) = name
                .strip_suffix(".eml")
                .and_then(|stem| stem.rsplit_once('-').map(|_| stem))
                .and_then(|stem| stem.get(stem.len().saturating_sub(36)..))
                .and_then(|id| Uuid::try_parse(id).ok())
            else {
                continue;
            };
            files.push((name.to_owned(), id, entry.path()));
        }
        files.sort();
        Ok(files.into_iter().map(|(_, id, path)| (id, path)).collect())
    }
}

/// Whether the message's Message-ID is the one of outbox id `id` (the file
/// name and the content agree).
fn names(parsed: &Parsed, id: Uuid) -> bool {
    parsed.message_id.strip_prefix('<').is_some_and(|rest| rest.starts_with(&format!("{}@", id.hyphenated())))
}

/// `20261207T181500.123456789Z-<uuid>.eml`: fixed width, so names sort by time.
fn file_name(id: Uuid, created_at: OffsetDateTime) -> Result<String, MailboxError> {
    let t = created_at.to_offset(UtcOffset::UTC);
    if !(0..=9999).contains(&t.year()) {
        return Err(MailboxError::DateOutOfRange);
    }
    Ok(format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:09}Z-{}.eml",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond(),
        id.hyphenated()
    ))
}
