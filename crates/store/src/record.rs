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
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
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
        write_rows(conn, &PEOPLE_ROWS, &person_row(self, doc.to_owned()))
    }
}

/// The `people` row of a person, in [`PEOPLE_ROWS`] column order.
fn person_row(person: &Person, doc: String) -> Vec<Value> {
    let status = match person.status {
        PersonStatus::Active => "active",
        PersonStatus::Inactive => "inactive",
    };
    vec![
        Value::Text(person.key()),
        Value::Text(person.given_name.clone()),
        Value::Text(person.family_name.clone()),
        text_or_null(&person.email),
        text_or_null(&person.employee_id),
        Value::Text(status.to_owned()),
        Value::Text(doc),
    ]
}

const PEOPLE_ROWS: RowsSql = RowsSql {
    insert: "INSERT INTO people (key, given_name, family_name, email, employee_id, status, doc) VALUES ",
    conflict: " ON CONFLICT (key) DO UPDATE SET given_name = excluded.given_name,
               family_name = excluded.family_name, email = excluded.email,
               employee_id = excluded.employee_id, status = excluded.status, doc = excluded.doc",
    columns: 7,
};

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
        write_rows(conn, &DEVICES_ROWS, &device_row(self, doc.to_owned()))
    }
}

/// The `devices` row of a device, in [`DEVICES_ROWS`] column order.
fn device_row(device: &Device, doc: String) -> Vec<Value> {
    vec![
        Value::Text(device.key()),
        text_or_null(&device.serial),
        text_or_null(&opt(&device.owner)),
        Value::Text(device.profile.id.to_string()),
        Value::Integer(i64::from(device.profile.version)),
        Value::Text(device.state.name().to_owned()),
        Value::Text(doc),
    ]
}

const DEVICES_ROWS: RowsSql = RowsSql {
    insert: "INSERT INTO devices (key, serial, owner, profile_id, profile_version, state, doc) VALUES ",
    conflict: " ON CONFLICT (key) DO UPDATE SET serial = excluded.serial, owner = excluded.owner,
               profile_id = excluded.profile_id, profile_version = excluded.profile_version,
               state = excluded.state, doc = excluded.doc",
    columns: 7,
};

fn text_or_null(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |t| Value::Text(t.clone()))
}

/// One table's upsert in multi-row form: `insert` + `(?, …), (?, …)` + `conflict`.
struct RowsSql {
    insert: &'static str,
    conflict: &'static str,
    columns: usize,
}

/// Rows per multi-row statement (7 columns × 500 stays far below SQLite's
/// 32,766 parameters).
const ROWS_PER_STATEMENT: usize = 500;

/// Upserts rows (`values`: whole rows, flattened) with as few statements as
/// possible. Why: an upsert into a table whose triggers feed an FTS5 index
/// runs in a statement savepoint, and FTS5 flushes its pending terms to a new
/// index segment at every savepoint. One statement per row therefore writes
/// one segment per row (and then merges them); one statement for hundreds
/// of rows writes one segment for all of them.
fn write_rows(conn: &Connection, sql: &RowsSql, values: &[Value]) -> rusqlite::Result<()> {
    for chunk in values.chunks(sql.columns * ROWS_PER_STATEMENT) {
        let rows = chunk.len() / sql.columns;
        let mut text =
            String::with_capacity(sql.insert.len() + sql.conflict.len() + rows * 2 * (sql.columns + 1));
        text.push_str(sql.insert);
        for row in 0..rows {
            if row > 0 {
                text.push(',');
            }
            text.push('(');
            text.push_str(&vec!["?"; sql.columns].join(","));
            text.push(')');
        }
        text.push_str(sql.conflict);
        // Single rows and full chunks repeat: cache those; prepare odd sizes once.
        if rows == 1 || rows == ROWS_PER_STATEMENT {
            conn.prepare_cached(&text)?.execute(params_from_iter(chunk))?;
        } else {
            conn.prepare(&text)?.execute(params_from_iter(chunk))?;
        }
    }
    Ok(())
}

/// Feed changes staged for multi-row upserts ([`write_rows`]): people and
/// devices, the kinds a replica holds by the million. The rows of one table
/// are written in the order they were staged, and before any other write
/// to that table ([`Staged::flush_kind`]), so the outcome is the same as
/// writing each change as it comes.
#[derive(Default)]
pub(crate) struct Staged {
    people: Vec<Value>,
    devices: Vec<Value>,
}

impl Staged {
    /// Stages the change of `kind`/`key` to `value` if its kind is staged;
    /// `Ok(false)`: write it directly (after [`Staged::flush_kind`]).
    pub(crate) fn stage(&mut self, kind: RecordKind, key: &str, value: &serde_json::Value) -> Result<bool> {
        match kind {
            RecordKind::Person => {
                let person = checked_value::<Person>(key, value)?;
                let doc = serde_json::to_string(&person)?;
                self.people.extend(person_row(&person, doc));
            }
            RecordKind::Device => {
                let device = checked_value::<Device>(key, value)?;
                let doc = serde_json::to_string(&device)?;
                self.devices.extend(device_row(&device, doc));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Writes what is staged for `kind`'s table.
    pub(crate) fn flush_kind(&mut self, conn: &Connection, kind: RecordKind) -> Result<()> {
        let (rows, sql) = match kind {
            RecordKind::Person => (&mut self.people, &PEOPLE_ROWS),
            RecordKind::Device => (&mut self.devices, &DEVICES_ROWS),
            _ => return Ok(()),
        };
        write_rows(conn, sql, rows)?;
        rows.clear();
        Ok(())
    }

    /// Writes everything staged.
    pub(crate) fn flush(&mut self, conn: &Connection) -> Result<()> {
        self.flush_kind(conn, RecordKind::Person)?;
        self.flush_kind(conn, RecordKind::Device)
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
