//! Replicated records: which domain types the store holds, the table each
//! lives in, and how a record's indexed columns are derived from it.
//!
//! Every table keeps the whole record as JSON in `doc` plus copies of the
//! fields that are searched or indexed; both are written by one statement,
//! so they cannot disagree. Reading a record decodes `doc` back into the
//! domain type, so the API speaks `domain` types only.

use std::fmt;
use std::str::FromStr;

use domain::{
    AuditEvent, BatchOrder, Certificate, CredentialProfile, Device, Operator, Person, PersonStatus,
    ProvisioningTask, Request, TemporaryCard,
};
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::time_text;

/// The kinds of records the replica holds (one table each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// [`domain::Person`].
    Person,
    /// [`domain::Operator`].
    Operator,
    /// One version of a [`domain::CredentialProfile`].
    Profile,
    /// [`domain::Device`].
    Device,
    /// [`domain::Certificate`].
    Certificate,
    /// [`domain::Request`].
    Request,
    /// [`domain::TemporaryCard`].
    TemporaryCard,
    /// [`domain::BatchOrder`].
    BatchOrder,
    /// [`domain::ProvisioningTask`].
    ProvisioningTask,
    /// An excerpt of the registry's audit log: [`domain::AuditEvent`].
    AuditEvent,
}

impl RecordKind {
    /// Every kind.
    pub const ALL: [RecordKind; 10] = [
        RecordKind::Person,
        RecordKind::Operator,
        RecordKind::Profile,
        RecordKind::Device,
        RecordKind::Certificate,
        RecordKind::Request,
        RecordKind::TemporaryCard,
        RecordKind::BatchOrder,
        RecordKind::ProvisioningTask,
        RecordKind::AuditEvent,
    ];

    /// snake_case name, as stored in the undo log and sent on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            RecordKind::Person => "person",
            RecordKind::Operator => "operator",
            RecordKind::Profile => "profile",
            RecordKind::Device => "device",
            RecordKind::Certificate => "certificate",
            RecordKind::Request => "request",
            RecordKind::TemporaryCard => "temporary_card",
            RecordKind::BatchOrder => "batch_order",
            RecordKind::ProvisioningTask => "provisioning_task",
            RecordKind::AuditEvent => "audit_event",
        }
    }

    /// The table holding this kind.
    pub(crate) const fn table(self) -> &'static str {
        match self {
            RecordKind::Person => "people",
            RecordKind::Operator => "operators",
            RecordKind::Profile => "profiles",
            RecordKind::Device => "devices",
            RecordKind::Certificate => "certificates",
            RecordKind::Request => "requests",
            RecordKind::TemporaryCard => "temporary_cards",
            RecordKind::BatchOrder => "batch_orders",
            RecordKind::ProvisioningTask => "provisioning_tasks",
            RecordKind::AuditEvent => "audit_excerpts",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RecordKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        RecordKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| Error::InvalidRecord(format!("unknown record kind {s:?}")))
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A domain type the replica stores. Sealed: the schema has a table for
/// each implementor and for no other type.
pub trait Record: Serialize + DeserializeOwned + sealed::Sealed {
    /// Its kind (and so its table).
    const KIND: RecordKind;

    /// Its identity as text: the UUID, or `"<uuid>/<version>"` for a profile version.
    fn key(&self) -> String;

    /// Inserts or replaces the row, with `doc` the record's JSON.
    #[doc(hidden)]
    fn upsert(&self, conn: &Connection, doc: &str) -> rusqlite::Result<()>;
}

fn opt<T: ToString>(v: &Option<T>) -> Option<String> {
    v.as_ref().map(ToString::to_string)
}

macro_rules! sealed {
    ($($t:ty),*) => { $(impl sealed::Sealed for $t {})* };
}
sealed!(
    Person,
    Operator,
    CredentialProfile,
    Device,
    Certificate,
    Request,
    TemporaryCard,
    BatchOrder,
    ProvisioningTask,
    AuditEvent
);

impl Record for Person {
    const KIND: RecordKind = RecordKind::Person;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn upsert(&self, conn: &Connection, doc: &str) -> rusqlite::Result<()> {
        let status = match self.status {
            PersonStatus::Active => "active",
            PersonStatus::Inactive => "inactive",
        };
        conn.prepare_cached(
            "INSERT INTO people (key, given_name, family_name, email, employee_id, status, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (key) DO UPDATE SET given_name = excluded.given_name,
               family_name = excluded.family_name, email = excluded.email,
               employee_id = excluded.employee_id, status = excluded.status, doc = excluded.doc",
        )?
        .execute(params![
            self.key(),
            self.given_name,
            self.family_name,
            self.email,
            self.employee_id,
            status,
            doc
        ])?;
        Ok(())
    }
}

impl Record for Operator {
    const KIND: RecordKind = RecordKind::Operator;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn upsert(&self, conn: &Connection, doc: &str) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT INTO operators (key, person, username, enabled, doc) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET person = excluded.person, username = excluded.username,
               enabled = excluded.enabled, doc = excluded.doc",
        )?
        .execute(params![self.key(), self.person.to_string(), self.username, self.enabled, doc])?;
        Ok(())
    }
}

impl Record for CredentialProfile {
    const KIND: RecordKind = RecordKind::Profile;
    fn key(&self) -> String {
        format!("{}/{}", self.id, self.version)
    }
    fn upsert(&self, conn: &Connection, doc: &str) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT INTO profiles (key, profile_id, version, name, doc) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, doc = excluded.doc",
        )?
        .execute(params![self.key(), self.id.to_string(), self.version, self.settings.name, doc])?;
        Ok(())
    }
}

impl Record for Device {
    const KIND: RecordKind = RecordKind::Device;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn upsert(&self, conn: &Connection, doc: &str) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT INTO devices (key, serial, owner, profile_id, profile_version, state, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (key) DO UPDATE SET serial = excluded.serial, owner = excluded.owner,
               profile_id = excluded.profile_id, profile_version = excluded.profile_version,
               state = excluded.state, doc = excluded.doc",
        )?
        .execute(params![
            self.key(),
            self.serial,
            opt(&self.owner),
            self.profile.id.to_string(),
            self.profile.version,
            self.state.name(),
            doc
        ])?;
        Ok(())
    }
}

impl Record for Certificate {
    const KIND: RecordKind = RecordKind::Certificate;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn upsert(&self, conn: &Connection, doc: &str) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT INTO certificates (key, device, serial, state, doc) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET device = excluded.device, serial = excluded.serial,
               state = excluded.state, doc = excluded.doc",
        )?
        .execute(params![
            self.key(),
            self.device.to_string(),
            self.serial,
            self.state.name(),
            doc
        ])?;
        Ok(())
    }
}

impl Record for Request {
    const KIND: RecordKind = RecordKind::Request;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn upsert(&self, conn: &Connection, doc: &str) -> rusqlite::Result<()> {
        let kind = serde_json::to_value(self.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        conn.prepare_cached(
            "INSERT INTO requests (key, kind, state, device, person, profile_id, requester, created_at,
               updated_at, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, state = excluded.state,
               device = excluded.device, person = excluded.person, profile_id = excluded.profile_id,
               requester = excluded.requester, created_at = excluded.created_at,
               updated_at = excluded.updated_at, doc = excluded.doc",
        )?
        .execute(params![
            self.key(),
            kind,
            self.state.name(),
            opt(&self.device),
            opt(&self.person),
            self.profile.to_string(),
            self.requester.to_string(),
            time_text::format(self.created_at),
            time_text::format(self.updated_at),
            doc
        ])?;
        Ok(())
    }
}

impl Record for TemporaryCard {
    const KIND: RecordKind = RecordKind::TemporaryCard;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn upsert(&self, conn: &Connection, doc: &str) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT INTO temporary_cards (key, serial, state, holder, doc) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET serial = excluded.serial, state = excluded.state,
               holder = excluded.holder, doc = excluded.doc",
        )?
        .execute(params![self.key(), self.serial, self.state.name(), opt(&self.holder), doc])?;
        Ok(())
    }
}

impl Record for BatchOrder {
    const KIND: RecordKind = RecordKind::BatchOrder;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn upsert(&self, conn: &Connection, doc: &str) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "INSERT INTO batch_orders (key, created_by, created_at, cancelled, doc) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET created_by = excluded.created_by,
               created_at = excluded.created_at, cancelled = excluded.cancelled, doc = excluded.doc",
        )?
        .execute(params![
            self.key(),
            self.created_by.to_string(),
            time_text::format(self.created_at),
            self.cancelled,
            doc
        ])?;
        Ok(())
    }
}

impl Record for ProvisioningTask {
    const KIND: RecordKind = RecordKind::ProvisioningTask;
    fn key(&self) -> String {
        self.id.to_string()
    }
    fn upsert(&self, conn: &Connection, doc: &str) -> rusqlite::Result<()> {
        // Task numbers beyond i64 cannot be stored; they are shown, not computed with.
        let number = i64::try_from(self.number).map_err(|_| {
            rusqlite::Error::ToSqlConversionFailure(format!("task number {} too large", self.number).into())
        })?;
        conn.prepare_cached(
            "INSERT INTO provisioning_tasks (key, number, operator, removed, doc) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET number = excluded.number, operator = excluded.operator,
               removed = excluded.removed, doc = excluded.doc",
        )?
        .execute(params![self.key(), number, self.operator.to_string(), self.removed, doc])?;
        Ok(())
    }
}

impl Record for AuditEvent {
    const KIND: RecordKind = RecordKind::AuditEvent;
    fn key(&self) -> String {
        self.draft.id.to_string()
    }
    fn upsert(&self, conn: &Connection, doc: &str) -> rusqlite::Result<()> {
        let seq = i64::try_from(self.seq).map_err(|_| {
            rusqlite::Error::ToSqlConversionFailure(format!("audit seq {} too large", self.seq).into())
        })?;
        conn.prepare_cached(
            "INSERT INTO audit_excerpts (key, seq, at, action, doc) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET seq = excluded.seq, at = excluded.at,
               action = excluded.action, doc = excluded.doc",
        )?
        .execute(params![
            self.key(),
            seq,
            time_text::format(self.draft.at),
            self.draft.action,
            doc
        ])?;
        Ok(())
    }
}

/// The stored JSON of a record, if present.
pub(crate) fn read_doc(conn: &Connection, kind: RecordKind, key: &str) -> Result<Option<String>> {
    let sql = format!("SELECT doc FROM {} WHERE key = ?1", kind.table());
    Ok(conn.prepare_cached(&sql)?.query_row([key], |r| r.get(0)).optional()?)
}

/// Decodes a stored record.
pub(crate) fn decode<R: Record>(doc: &str) -> Result<R> {
    Ok(serde_json::from_str(doc)?)
}

/// Reads one record of type `R` by key.
pub(crate) fn get<R: Record>(conn: &Connection, key: &str) -> Result<Option<R>> {
    read_doc(conn, R::KIND, key)?.map(|d| decode(&d)).transpose()
}

/// Writes one record (insert or replace).
pub(crate) fn put<R: Record>(conn: &Connection, record: &R) -> Result<()> {
    let doc = serde_json::to_string(record)?;
    record.upsert(conn, &doc)?;
    Ok(())
}

/// Deletes a record; deleting an absent one is not an error (idempotent).
pub(crate) fn delete(conn: &Connection, kind: RecordKind, key: &str) -> Result<()> {
    let sql = format!("DELETE FROM {} WHERE key = ?1", kind.table());
    conn.prepare_cached(&sql)?.execute([key])?;
    Ok(())
}

/// Runs `$body` with `$T` bound to the domain type of `$kind`.
macro_rules! by_kind {
    ($kind:expr, $T:ident => $body:expr) => {
        match $kind {
            RecordKind::Person => {
                type $T = Person;
                $body
            }
            RecordKind::Operator => {
                type $T = Operator;
                $body
            }
            RecordKind::Profile => {
                type $T = CredentialProfile;
                $body
            }
            RecordKind::Device => {
                type $T = Device;
                $body
            }
            RecordKind::Certificate => {
                type $T = Certificate;
                $body
            }
            RecordKind::Request => {
                type $T = Request;
                $body
            }
            RecordKind::TemporaryCard => {
                type $T = TemporaryCard;
                $body
            }
            RecordKind::BatchOrder => {
                type $T = BatchOrder;
                $body
            }
            RecordKind::ProvisioningTask => {
                type $T = ProvisioningTask;
                $body
            }
            RecordKind::AuditEvent => {
                type $T = AuditEvent;
                $body
            }
        }
    };
}

/// Decodes `doc` as an `R` and checks it is the record `key` names.
fn checked<R: Record>(key: &str, doc: &str) -> Result<R> {
    let record: R = decode(doc).map_err(|e| Error::InvalidRecord(format!("{} {key}: {e}", R::KIND)))?;
    if record.key() != key {
        return Err(Error::InvalidRecord(format!("{} record {key} carries key {}", R::KIND, record.key())));
    }
    Ok(record)
}

/// Decodes a JSON value as an `R` (without printing and re-parsing it) and
/// checks it is the record `key` names.
fn checked_value<R: Record>(key: &str, value: &serde_json::Value) -> Result<R> {
    let record =
        R::deserialize(value).map_err(|e| Error::InvalidRecord(format!("{} {key}: {e}", R::KIND)))?;
    if record.key() != key {
        return Err(Error::InvalidRecord(format!("{} record {key} carries key {}", R::KIND, record.key())));
    }
    Ok(record)
}

/// Validates `value` as the record `kind`/`key` and returns it in this
/// program's canonical JSON form.
pub(crate) fn canonical_value(kind: RecordKind, key: &str, value: &serde_json::Value) -> Result<String> {
    by_kind!(kind, T => Ok(serde_json::to_string(&checked_value::<T>(key, value)?)?))
}

/// [`set_json`] for a JSON value (the change feed's path).
pub(crate) fn set_value(
    conn: &Connection,
    kind: RecordKind,
    key: &str,
    value: Option<&serde_json::Value>,
) -> Result<()> {
    let Some(value) = value else {
        return delete(conn, kind, key);
    };
    by_kind!(kind, T => put(conn, &checked_value::<T>(key, value)?))
}

/// Sets a record of any kind to `doc` (JSON), or deletes it when `doc` is
/// `None`: the one write path for rollbacks and remote changes. The JSON is
/// decoded into the domain type first, so a malformed change is refused
/// rather than stored.
pub(crate) fn set_json(conn: &Connection, kind: RecordKind, key: &str, doc: Option<&str>) -> Result<()> {
    let Some(doc) = doc else {
        return delete(conn, kind, key);
    };
    by_kind!(kind, T => put(conn, &checked::<T>(key, doc)?))
}
