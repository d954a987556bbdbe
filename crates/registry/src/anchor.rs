//! The audit trail anchored outside the database (issue 16). The hash chain
//! alone shows an edit in the middle, but not one whose author recomputed
//! every later hash (the algorithm is public), nor the newest events
//! removed. Who can write to the database but not read the registry's data
//! directory (a database administrator, a restored or tampered backup, SQL
//! injection) cannot forge either of these:
//!
//! - **a MAC per event**: HMAC-SHA256 of its position and chain hash under
//!   the [`AuditKey`] (kept in the data directory wrapped by the KEK), in
//!   the `mac` column. The first event whose MAC fails is where a rewrite
//!   starts; an event without one after sealing began is a rewrite too.
//! - **checkpoints**: (events, head hash, time) with a MAC under a key
//!   derived apart from the event key, appended to a file in the data
//!   directory and synced. A checkpoint vouches for the chain's length: a
//!   database with fewer events, or another event at that position, is
//!   reported with where the loss starts. The key file's seal start is the
//!   first checkpoint: it also anchors the events from before the key,
//!   which have no MAC (an upgraded database), so a rewrite among them is
//!   found, though only placed between two checkpoints.
//!
//! The window: the newest events after the last checkpoint can be removed
//! without trace. `serve` checkpoints every 10 s when the head moved and at
//! shutdown, so the window is seconds of activity, and removing events from
//! it still needs the database write access the threat assumes; it is the
//! price of not syncing a file on every write (the registry benchmark).
//!
//! Not covered: an attacker who can read the data directory has the KEK,
//! and so the key (as they could also open the escrow). Several registry
//! processes on one PostgreSQL database need the same key file (copied with
//! the KEK); each keeps checkpoints in its own data directory.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use authority::{AuditKey, KeyEncryptionKey, SealStart};
use domain::{AuditEvent, ChainHash};
use proto::ChainReport;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::storage::MAX_PAGE;
use crate::storage::{self, Storage};

/// The checkpoint file inside the data directory: one JSON [`Checkpoint`] a line.
pub const CHECKPOINT_FILE: &str = "audit-checkpoints.jsonl";

/// A checkpoint: the chain had `count` events ending in `head` at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Events in the chain.
    pub count: u64,
    /// Hash of event `count - 1`.
    pub head: ChainHash,
    /// When (whole seconds, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// HMAC-SHA256 of the three under the checkpoint key, hex.
    pub mac: String,
}

/// The audit key and the checkpoint file of one data directory.
#[derive(Debug)]
pub struct AuditAnchor {
    key: Arc<AuditKey>,
    log: PathBuf,
    /// (count, head) of the last checkpoint this process wrote: an idle
    /// registry writes none. The lock also serializes appends.
    last: Mutex<Option<(u64, ChainHash)>>,
}

fn authority_error(e: authority::Error) -> Error {
    Error::Authority(e.to_string())
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.display().to_string(), source }
}

impl AuditAnchor {
    /// Opens the audit key in `dir`, creating it on first start, and seals
    /// the audit events written through `storage` from now on. A new key
    /// records the chain's length and head at that moment (read under the
    /// write lock, so no event slips in between) as where sealing begins.
    pub fn open_or_create(dir: &Path, kek: &dyn KeyEncryptionKey, storage: &dyn Storage) -> Result<Self> {
        let key_path = dir.join(authority::audit_key::KEY_FILE);
        let key = match AuditKey::open(&key_path, kek).map_err(authority_error)? {
            Some(key) => key,
            None => storage::write(storage, |tx| {
                let last = tx.last_audit()?;
                let start = SealStart {
                    count: last.as_ref().map_or(0, |e| e.seq.saturating_add(1)),
                    head: last.as_ref().map_or(ChainHash::GENESIS, |e| e.hash),
                    at: whole_seconds(OffsetDateTime::now_utc()),
                };
                AuditKey::create(&key_path, kek, start).map_err(authority_error)
            })?,
        };
        let anchor = Self { key: Arc::new(key), log: dir.join(CHECKPOINT_FILE), last: Mutex::new(None) };
        anchor.seal(storage)?;
        Ok(anchor)
    }

    /// Seals the audit events written through `storage` from now on.
    pub fn seal(&self, storage: &dyn Storage) -> Result<()> {
        storage.seal_audit(self.key.clone())
    }

    /// Where the checkpoints are kept.
    pub fn checkpoint_path(&self) -> &Path {
        &self.log
    }

    /// Appends a checkpoint of the chain's head, unless it has not moved
    /// since this process wrote the last one. Synced before it returns.
    pub fn checkpoint(&self, storage: &dyn Storage, now: OffsetDateTime) -> Result<Option<Checkpoint>> {
        let mut last =
            self.last.lock().map_err(|_| Error::Task("the checkpoint lock was poisoned".into()))?;
        let newest = storage::read(storage, |tx| tx.last_audit())?;
        let count = newest.as_ref().map_or(0, |e| e.seq.saturating_add(1));
        let head = newest.as_ref().map_or(ChainHash::GENESIS, |e| e.hash);
        if *last == Some((count, head)) {
            return Ok(None);
        }
        if let Some((before, _)) = *last {
            if count < before {
                // The earlier checkpoint still shows it: `verify` reports it.
                tracing::error!(
                    before,
                    count,
                    "the audit trail has fewer events than at the last checkpoint"
                );
            }
        }
        let at = whole_seconds(now);
        let mac = self.key.checkpoint_mac(count, &head, at).map_err(authority_error)?;
        let checkpoint = Checkpoint { count, head, at, mac: hex::encode(mac) };
        append_line(&self.log, &serde_json::to_string(&checkpoint)?)?;
        *last = Some((count, head));
        Ok(Some(checkpoint))
    }

    /// The seal start and every checkpoint, oldest first; `Err(reason)` at
    /// the first line that is not a checkpoint with a valid MAC.
    fn anchors(&self) -> Result<std::result::Result<Vec<Anchor>, String>> {
        let start = self.key.seal_start();
        let mut anchors = vec![Anchor {
            count: start.count,
            head: start.head,
            what: format!("the seal start at {}", rfc3339(start.at)),
        }];
        let text = match std::fs::read_to_string(&self.log) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ok(anchors)),
            Err(e) => return Err(io(&self.log)(e)),
        };
        let name = self.log.display();
        let mut lines = text.split('\n').enumerate().peekable();
        while let Some((index, line)) = lines.next() {
            let last = lines.peek().is_none();
            if last && line.is_empty() {
                break;
            }
            let number = index + 1;
            let Ok(checkpoint) = serde_json::from_str::<Checkpoint>(line) else {
                if last {
                    // An unterminated last line: a write torn by a crash (the next append ends it).
                    break;
                }
                return Ok(Err(format!("line {number} of {name} is not a checkpoint: the file was altered")));
            };
            let valid = hex::decode(&checkpoint.mac).is_ok_and(|mac| {
                self.key.checkpoint_mac_matches(checkpoint.count, &checkpoint.head, checkpoint.at, &mac)
            });
            if !valid {
                return Ok(Err(format!(
                    "the checkpoint on line {number} of {name} does not match its MAC: it was altered"
                )));
            }
            anchors.push(Anchor {
                count: checkpoint.count,
                head: checkpoint.head,
                what: format!("the checkpoint at {}", rfc3339(checkpoint.at)),
            });
        }
        Ok(Ok(anchors))
    }
}

/// A verified (events, head) pair and how to name it in a report.
struct Anchor {
    count: u64,
    head: ChainHash,
    what: String,
}

fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// Appends `line` to the file at `path` (created 0600), after ending a
/// line torn by a crash, and syncs it.
fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io(path))?;
    let mut text = String::with_capacity(line.len() + 2);
    let len = file.metadata().map_err(io(path))?.len();
    if len > 0 {
        let mut end = [0u8; 1];
        file.seek(std::io::SeekFrom::Start(len - 1)).map_err(io(path))?;
        file.read_exact(&mut end).map_err(io(path))?;
        if end[0] != b'\n' {
            text.push('\n');
        }
    }
    text.push_str(line);
    text.push('\n');
    file.write_all(text.as_bytes()).and_then(|()| file.sync_data()).map_err(io(path))
}

/// Verifies the chain, and with an anchor every event's MAC and every
/// checkpoint; reports the first problem in chain order.
pub(crate) fn verify(storage: &dyn Storage, anchor: Option<&AuditAnchor>) -> Result<ChainReport> {
    let (key, anchors) = match anchor {
        None => (None, Vec::new()),
        Some(anchor) => match anchor.anchors()? {
            Ok(anchors) => (Some(anchor.key.as_ref()), anchors),
            Err(reason) => {
                return Ok(ChainReport {
                    intact: false,
                    events: 0,
                    broken_at: None,
                    reason: Some(reason),
                    sealed: true,
                    sealed_from: Some(anchor.key.seal_start().count),
                    checkpoints: 0,
                    anchored: None,
                })
            }
        },
    };
    let sealed_from = key.map(|k| k.seal_start().count);
    let report = |intact: bool, events: u64, broken: Option<(u64, String)>| ChainReport {
        intact,
        events,
        broken_at: broken.as_ref().map(|b| b.0),
        reason: broken.map(|b| b.1),
        sealed: key.is_some(),
        sealed_from,
        checkpoints: anchors.len().saturating_sub(1) as u64,
        anchored: anchors.iter().map(|a| a.count).max(),
    };
    // The anchors by the position of the head they name.
    let mut by_head: std::collections::BTreeMap<u64, Vec<&Anchor>> = std::collections::BTreeMap::new();
    for anchor in anchors.iter().filter(|a| a.count > 0) {
        by_head.entry(anchor.count - 1).or_default().push(anchor);
    }
    let mut prev: Option<AuditEvent> = None;
    let mut checked = 0u64;
    // Events up to here are vouched for by a checkpoint whose head matched.
    let mut vouched = 0u64;
    loop {
        let page = storage::read(storage, |tx| tx.audit_rows(checked, MAX_PAGE))?;
        if page.is_empty() {
            break;
        }
        let (events, macs): (Vec<AuditEvent>, Vec<Option<Vec<u8>>>) =
            page.into_iter().map(|row| (row.event, row.mac)).unzip();
        let chain_break = match domain::verify_chain_after(prev.as_ref(), &events) {
            Err(domain::Error::AuditChainBroken { index, reason }) => Some((index, reason)),
            _ => None,
        };
        for (index, (event, mac)) in events.iter().zip(&macs).enumerate() {
            let seq = checked + index as u64;
            if let Some((_, reason)) = chain_break.filter(|(at, _)| *at == index) {
                return Ok(report(false, seq, Some((seq, reason.to_owned()))));
            }
            if let (Some(key), Some(from)) = (key, sealed_from) {
                if seq >= from {
                    let problem = match mac {
                        None => Some(format!(
                            "event {seq} has no MAC, though every event from {from} on is sealed: \
                             it was written or rewritten without the audit key"
                        )),
                        Some(mac) if !key.event_mac_matches(seq, &event.hash, mac) => Some(format!(
                            "event {seq} does not match its MAC: it was changed without the audit key \
                             (with every later hash recomputed, or the chain would show it)"
                        )),
                        Some(_) => None,
                    };
                    if let Some(problem) = problem {
                        return Ok(report(false, seq, Some((seq, problem))));
                    }
                }
            }
            for anchor in by_head.get(&seq).into_iter().flatten() {
                if anchor.head != event.hash {
                    let reason = format!(
                        "event {seq} is not the one {} recorded: events between {vouched} and {seq} were \
                         rewritten, or removed and replaced",
                        anchor.what
                    );
                    return Ok(report(false, seq, Some((vouched, reason))));
                }
                vouched = vouched.max(anchor.count);
            }
        }
        checked += events.len() as u64;
        prev = events.into_iter().last();
    }
    if let Some(longest) = anchors.iter().filter(|a| a.count > checked).max_by_key(|a| a.count) {
        let reason = format!(
            "events from {checked} on are missing ({} recorded {} events)",
            longest.what, longest.count
        );
        return Ok(report(false, checked, Some((checked, reason))));
    }
    Ok(report(true, checked, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Registry, SqliteStorage};

    fn audited(storage: &dyn Storage, n: usize) {
        let now = OffsetDateTime::now_utc();
        for i in 0..n {
            storage::write(storage, |tx| {
                let draft = crate::audit_trail::audit_draft(
                    now,
                    None,
                    "test.event",
                    domain::AuditObject::None,
                    domain::AuditOutcome::Success,
                    Some(format!("event {i}")),
                );
                crate::audit_trail::append_audit(tx, draft).map(drop)
            })
            .unwrap();
        }
    }

    #[test]
    fn without_an_anchor_nothing_is_sealed_and_the_report_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&dir.path().join("db")).unwrap());
        audited(&*storage, 3);
        let rows = storage::read(&*storage, |tx| tx.audit_rows(0, 10)).unwrap();
        assert!(rows.iter().all(|r| r.mac.is_none()), "no key, no MAC");
        let registry = Registry::new(storage);
        assert!(registry.checkpoint_audit().unwrap().is_none());
        let report = verify(registry.storage(), None).unwrap();
        assert!(report.intact && !report.sealed, "{report:?}");
        assert_eq!((report.events, report.sealed_from, report.checkpoints), (3, None, 0));
    }

    #[test]
    fn events_before_the_key_are_anchored_by_the_seal_start_and_a_wrong_key_fails_every_mac() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open(&dir.path().join("db")).unwrap();
        audited(&storage, 2);
        let kek = authority::FileKek::open_or_create(&dir.path().join("kek")).unwrap();
        let anchor = AuditAnchor::open_or_create(dir.path(), &kek, &storage).unwrap();
        audited(&storage, 2);
        let rows = storage::read(&storage, |tx| tx.audit_rows(0, 10)).unwrap();
        let macs: Vec<bool> = rows.iter().map(|r| r.mac.is_some()).collect();
        assert_eq!(macs, [false, false, true, true], "sealed from the key's creation on");
        anchor.checkpoint(&storage, OffsetDateTime::now_utc()).unwrap().unwrap();
        assert!(anchor.checkpoint(&storage, OffsetDateTime::now_utc()).unwrap().is_none(), "head unmoved");
        let report = verify(&storage, Some(&anchor)).unwrap();
        assert!(report.intact && report.sealed, "{report:?}");
        assert_eq!((report.sealed_from, report.checkpoints, report.anchored), (Some(2), 1, Some(4)));

        // Reopened with the same KEK: the same key and seal start.
        let again = AuditAnchor::open_or_create(dir.path(), &kek, &storage).unwrap();
        assert!(verify(&storage, Some(&again)).unwrap().intact);

        // Another data directory's key (another KEK) verifies none of the MACs.
        let elsewhere = tempfile::tempdir().unwrap();
        let other_kek = authority::FileKek::open_or_create(&elsewhere.path().join("kek")).unwrap();
        let scratch = SqliteStorage::open(&elsewhere.path().join("db")).unwrap();
        let other = AuditAnchor::open_or_create(elsewhere.path(), &other_kek, &scratch).unwrap();
        let forged = AuditAnchor { key: other.key.clone(), log: anchor.log.clone(), last: Mutex::new(None) };
        let report = verify(&storage, Some(&forged)).unwrap();
        assert!(!report.intact, "{report:?}");
        assert!(report.reason.unwrap().contains("line 1"), "the checkpoint's MAC fails first");
        std::fs::remove_file(anchor.checkpoint_path()).unwrap();
        let report = verify(&storage, Some(&forged)).unwrap();
        assert_eq!(report.broken_at, Some(0), "{report:?}");

        // An unsealed event rewritten (later hashes recomputed, no MAC to
        // fail): the seal start's head no longer matches.
        let mut events = storage::read(&storage, |tx| tx.audit_from(0, 10)).unwrap();
        events[0].draft.notes = Some("rewritten".into());
        events[0].hash = events[0].compute_hash();
        events[1].prev_hash = events[0].hash;
        events[1].hash = events[1].compute_hash();
        let sql: Vec<String> = events[..2]
            .iter()
            .map(|e| {
                let body = serde_json::to_string(e).unwrap().replace('\'', "''");
                format!(
                    "UPDATE audit SET hash = '{}', prev_hash = '{}', body = '{body}' WHERE seq = {}",
                    e.hash, e.prev_hash, e.seq
                )
            })
            .collect();
        storage.tamper_audit(&sql.join("; ")).unwrap();
        let report = verify(&storage, Some(&again)).unwrap();
        assert!(!report.intact, "{report:?}");
        assert_eq!(report.broken_at, Some(0), "{report:?}");
        assert!(report.reason.unwrap().contains("event 1 is not the one the seal start at"));
    }
}
