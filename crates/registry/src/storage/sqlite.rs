//! SQLite storage: the embedded default (SPEC §1). One writer connection
//! (writes are serialized, as SQLite does anyway) and a small pool of
//! readers; WAL so readers never wait for the writer; foreign keys on.

use std::path::Path;
use std::sync::Mutex;

use domain::{
    AuditEvent, Certificate, CertificateId, CertificateState, CredentialProfile, Device, DeviceId, Operator,
    OperatorId, Person, PersonId, ProfileId, Request, RequestId, Role, RoleId, WorkstationId,
};
use proto::{Answer, Change, EscrowKind, Record};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Applied, AuditKeySlot, AuditRow, CaCertificateRecord, ChallengeRecord, DeploymentSettings,
    EnrollmentCodeRecord, EscrowVersion, MailRecord, NewEscrow, OfflineUnblockRecord, OperatorAccount,
    SessionRecord, Storage, Tx, WalkupGrant, TABLES,
};
use crate::error::{Error, Result};

/// Schema migrations, in order; `PRAGMA user_version` counts those applied.
/// A released migration is frozen: changes go in a new one.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../../schema/001_initial.sql"),
    include_str!("../../schema/002_certificate_authority.sql"),
    include_str!("../../schema/003_temporary_cards.sql"),
    include_str!("../../schema/004_offline_unblock.sql"),
    include_str!("../../schema/005_operation_digest.sql"),
    include_str!("../../schema/006_audit_mac.sql"),
    include_str!("../../schema/007_escrow_history.sql"),
    include_str!("../../schema/008_workstations.sql"),
    include_str!("../../schema/009_provisioning.sql"),
    include_str!("../../schema/010_walkup_grants.sql"),
];

const READERS: usize = 4;

/// The registry's SQLite database.
#[derive(Debug)]
pub struct SqliteStorage {
    path: std::path::PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    audit_key: AuditKeySlot,
}

/// Creates the database file readable by its owner only (SQLite gives its
/// WAL and shared-memory files the same mode), and tightens one made before.
/// Runs once, before this process opens any connection: closing a file
/// descriptor of the database drops every POSIX lock the process holds on
/// it, SQLite's included, so only paths are touched once connections exist.
fn owner_only(path: &Path) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |e: std::io::Error| Error::Invalid(format!("{}: {e}", path.display()));
    if !path.exists() {
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(io)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
    }
    Ok(())
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // WAL: readers see a snapshot while the writer commits. NORMAL: a commit
    // survives a process crash; only an OS crash may lose the last commits,
    // never corrupt the database.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl SqliteStorage {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        owner_only(path)?;
        let mut writer = open_connection(path)?;
        migrate(&mut writer)?;
        Ok(Self {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            audit_key: AuditKeySlot::default(),
        })
    }

    /// The schema version of the database (migrations applied).
    pub fn schema_version(&self) -> Result<u32> {
        let conn = self.writer.lock().map_err(|_| poisoned())?;
        Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    fn reader(&self) -> Result<Connection> {
        let pooled = self.readers.lock().map_err(|_| poisoned())?.pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => open_connection(&self.path),
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < READERS {
                pool.push(conn);
            }
        }
    }
}

fn poisoned() -> Error {
    Error::Storage("a database connection lock was poisoned by a panic".into())
}

/// Applies the migrations not yet applied, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let known = u32::try_from(MIGRATIONS.len()).map_err(|_| Error::Storage("too many migrations".into()))?;
    let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > known {
        return Err(Error::SchemaTooNew { found, known });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
    }
    Ok(())
}

impl Storage for SqliteStorage {
    fn write(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        let mut conn = self.writer.lock().map_err(|_| poisoned())?;
        let key = self.audit_key.get()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        work(&mut SqliteTx { conn: &tx, audit_key: key.as_deref() })?;
        tx.commit()?;
        Ok(())
    }

    fn read(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        let mut conn = self.reader()?;
        let outcome = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let outcome = work(&mut SqliteTx { conn: &tx, audit_key: None });
            tx.rollback()?;
            outcome
        })();
        self.give_back(conn);
        outcome
    }

    fn dump(&self) -> Result<String> {
        let conn = self.writer.lock().map_err(|_| poisoned())?;
        let mut out = String::new();
        for table in TABLES {
            out.push_str(&format!("## {table}\n"));
            let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))?;
            let columns = stmt.column_count();
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let mut line = Vec::with_capacity(columns);
                for i in 0..columns {
                    let value: rusqlite::types::Value = row.get(i)?;
                    line.push(format!("{value:?}"));
                }
                out.push_str(&line.join(" | "));
                out.push('\n');
            }
        }
        Ok(out)
    }

    fn seal_audit(&self, key: std::sync::Arc<authority::AuditKey>) -> Result<()> {
        self.audit_key.set(key)
    }

    fn tamper_audit(&self, sql: &str) -> Result<()> {
        let conn = self.writer.lock().map_err(|_| poisoned())?;
        let outcome = conn.execute_batch(&format!(
            "BEGIN; DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; {sql}; COMMIT;"
        ));
        if outcome.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        Ok(outcome?)
    }
}

struct SqliteTx<'a> {
    conn: &'a Connection,
    audit_key: Option<&'a authority::AuditKey>,
}

fn rfc3339(at: OffsetDateTime) -> Result<String> {
    at.format(&time::format_description::well_known::Rfc3339).map_err(|e| Error::Corrupt(e.to_string()))
}

fn parse_rfc3339(text: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::Corrupt(e.to_string()))
}

fn unix_to_time(secs: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| Error::Corrupt(e.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    Ok(serde_json::from_str(text)?)
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt(e.to_string()))
}

fn name_of<T: serde::Serialize>(value: &T) -> Result<String> {
    // A snake_case unit enum serializes to a JSON string; tagged ones to an object with "state".
    match serde_json::to_value(value)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Object(map) => {
            Ok(map.get("state").and_then(|s| s.as_str()).unwrap_or_default().to_owned())
        }
        other => Ok(other.to_string()),
    }
}

/// The columns of a [`MailRecord`], in the order [`mail_records`] reads them.
const MAIL_COLUMNS: &str =
    "id, recipient, subject, body, created_at, sent_at, attempts, last_error, next_attempt_at";

fn mail_records(mut rows: rusqlite::Rows<'_>) -> Result<Vec<MailRecord>> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(MailRecord {
            id: parse_uuid(&r.get::<_, String>(0)?)?,
            recipient: r.get(1)?,
            subject: r.get(2)?,
            body: r.get(3)?,
            created_at: unix_to_time(r.get(4)?)?,
            sent_at: r.get::<_, Option<i64>>(5)?.map(unix_to_time).transpose()?,
            attempts: r.get(6)?,
            last_error: r.get(7)?,
            next_attempt_at: unix_to_time(r.get(8)?)?,
        });
    }
    Ok(out)
}

fn parse_uuid(text: &str) -> Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| Error::Corrupt(e.to_string()))
}

impl SqliteTx<'_> {
    fn ca_row(&self, filter: &str, key: &str) -> Result<Option<CaCertificateRecord>> {
        let sql = format!(
            "SELECT certificate_id, op_id, operator_id, der, issued_at FROM ca_certificates {filter}"
        );
        let row: Option<(String, String, String, Vec<u8>, i64)> = self
            .conn
            .prepare_cached(&sql)?
            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .optional()?;
        let Some((certificate, op_id, operator, der, issued_at)) = row else {
            return Ok(None);
        };
        Ok(Some(CaCertificateRecord {
            certificate: CertificateId::new(parse_uuid(&certificate)?),
            op_id: parse_uuid(&op_id)?,
            operator: OperatorId::new(parse_uuid(&operator)?),
            der,
            issued_at: unix_to_time(issued_at)?,
        }))
    }

    fn one_body<T: serde::de::DeserializeOwned>(&self, sql: &str, key: &str) -> Result<Option<T>> {
        let body: Option<String> = self.conn.query_row(sql, [key], |r| r.get(0)).optional()?;
        body.map(|b| decode(&b)).transpose()
    }

    fn bodies<T: serde::de::DeserializeOwned>(&self, sql: &str, key: &str) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([key], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(decode(&body?)?);
        }
        Ok(out)
    }

    fn roles_of(&self, operator: OperatorId) -> Result<Vec<RoleId>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT role_id FROM operator_roles WHERE operator_id = ?1 ORDER BY role_id")?;
        let rows = stmt.query_map([operator.to_string()], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for id in rows {
            let id = Uuid::parse_str(&id?).map_err(|e| Error::Corrupt(e.to_string()))?;
            out.push(RoleId::new(id));
        }
        Ok(out)
    }

    fn account(&self, sql: &str, key: &str) -> Result<Option<OperatorAccount>> {
        let row = self
            .conn
            .query_row(sql, [key], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, bool>(4)?,
                ))
            })
            .optional()?;
        let Some((id, person, username, password_hash, enabled)) = row else {
            return Ok(None);
        };
        let parse = |s: &str| Uuid::parse_str(s).map_err(|e| Error::Corrupt(e.to_string()));
        let id = OperatorId::new(parse(&id)?);
        let roles = self.roles_of(id)?;
        Ok(Some(OperatorAccount {
            operator: Operator { id, person: PersonId::new(parse(&person)?), username, roles, enabled },
            password_hash,
        }))
    }
}

const ACCOUNT_COLUMNS: &str = "SELECT id, person_id, username, password_hash, enabled FROM operators";

impl Tx for SqliteTx<'_> {
    fn answer_of(&mut self, op_id: Uuid) -> Result<Option<Applied>> {
        let row: Option<(String, String, Option<Vec<u8>>)> = self
            .conn
            .prepare_cached("SELECT operator_id, answer, digest FROM applied_ops WHERE op_id = ?1")?
            .query_row([op_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        row.map(|(operator, answer, digest)| {
            let operator = Uuid::parse_str(&operator).map_err(|e| Error::Corrupt(e.to_string()))?;
            Ok(Applied { operator: OperatorId::new(operator), answer: decode(&answer)?, digest })
        })
        .transpose()
    }

    fn record_answer(
        &mut self,
        op_id: Uuid,
        operator: OperatorId,
        answer: &Answer,
        at: OffsetDateTime,
        digest: &[u8],
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO applied_ops (op_id, operator_id, applied_at, answer, digest) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![op_id.to_string(), operator.to_string(), at.unix_timestamp(), json(answer)?, digest])?;
        Ok(())
    }

    fn person(&mut self, id: PersonId) -> Result<Option<Person>> {
        self.one_body("SELECT body FROM people WHERE id = ?1", &id.to_string())
    }

    fn latest_profile(&mut self, id: ProfileId) -> Result<Option<CredentialProfile>> {
        self.one_body(
            "SELECT body FROM profiles WHERE id = ?1 ORDER BY version DESC LIMIT 1",
            &id.to_string(),
        )
    }

    fn device(&mut self, id: DeviceId) -> Result<Option<Device>> {
        self.one_body("SELECT body FROM devices WHERE id = ?1", &id.to_string())
    }

    fn certificate(&mut self, id: CertificateId) -> Result<Option<Certificate>> {
        self.one_body("SELECT body FROM certificates WHERE id = ?1", &id.to_string())
    }

    fn certificate_serial_taken(&mut self, serial: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM certificates WHERE serial = ?1", [serial], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn certificates_of(&mut self, device: DeviceId) -> Result<Vec<Certificate>> {
        self.bodies("SELECT body FROM certificates WHERE device_id = ?1 ORDER BY rowid", &device.to_string())
    }

    fn request(&mut self, id: RequestId) -> Result<Option<Request>> {
        self.one_body("SELECT body FROM requests WHERE id = ?1", &id.to_string())
    }

    fn requests_of(&mut self, device: DeviceId) -> Result<Vec<Request>> {
        self.bodies("SELECT body FROM requests WHERE device_id = ?1 ORDER BY rowid", &device.to_string())
    }

    fn temporary_card(&mut self, id: DeviceId) -> Result<Option<domain::TemporaryCard>> {
        self.one_body("SELECT body FROM temporary_cards WHERE id = ?1", &id.to_string())
    }

    fn put_record(&mut self, record: &Record) -> Result<()> {
        let c = self.conn;
        match record {
            Record::Person(p) => {
                c.prepare_cached("INSERT OR REPLACE INTO people (id, body) VALUES (?1, ?2)")?
                    .execute(params![p.id.to_string(), json(p)?])?;
            }
            Record::Profile(p) => {
                c.prepare_cached("INSERT INTO profiles (id, version, body) VALUES (?1, ?2, ?3)")?
                    .execute(params![p.id.to_string(), p.version, json(p)?])?;
            }
            Record::Device(d) => {
                c.prepare_cached(
                    "INSERT INTO devices (id, owner, profile_id, profile_version, state, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, profile_id = excluded.profile_id,
                       profile_version = excluded.profile_version, state = excluded.state, body = excluded.body",
                )?
                .execute(params![
                    d.id.to_string(),
                    d.owner.map(|o| o.to_string()),
                    d.profile.id.to_string(),
                    d.profile.version,
                    name_of(&d.state)?,
                    json(d)?
                ])?;
            }
            Record::Certificate(cert) => {
                c.prepare_cached(
                    "INSERT INTO certificates (id, device_id, serial, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                )?
                .execute(params![
                    cert.id.to_string(),
                    cert.device.to_string(),
                    cert.serial,
                    json(cert)?
                ])?;
            }
            Record::Request(r) => {
                c.prepare_cached(
                    "INSERT INTO requests (id, device_id, person_id, profile_id, state, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body",
                )?
                .execute(params![
                    r.id.to_string(),
                    r.device.map(|d| d.to_string()),
                    r.person.map(|p| p.to_string()),
                    r.profile.to_string(),
                    name_of(&r.state)?,
                    json(r)?
                ])?;
            }
            Record::TemporaryCard(t) => {
                c.prepare_cached(
                    "INSERT INTO temporary_cards
                       (id, serial, holder, permanent_card, profile_id, profile_version, state, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (id) DO UPDATE SET serial = excluded.serial, holder = excluded.holder,
                       permanent_card = excluded.permanent_card, state = excluded.state, body = excluded.body",
                )?
                .execute(params![
                    t.id.to_string(),
                    t.serial,
                    t.holder.map(|h| h.to_string()),
                    t.permanent_card.map(|d| d.to_string()),
                    t.profile.id.to_string(),
                    t.profile.version,
                    name_of(&t.state)?,
                    json(t)?
                ])?;
            }
        }
        Ok(())
    }

    fn append_change(&mut self, at: OffsetDateTime, record: &Record) -> Result<u64> {
        self.conn
            .prepare_cached("INSERT INTO changes (at, record_type, record_id, body) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![rfc3339(at)?, record.type_name(), record.id().to_string(), json(record)?])?;
        u64::try_from(self.conn.last_insert_rowid()).map_err(|e| Error::Corrupt(e.to_string()))
    }

    fn changes_after(&mut self, after: u64, limit: u32) -> Result<Vec<Change>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, at, body FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let rows = stmt.query_map(params![after, limit], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, at, body) = row?;
            out.push(Change {
                seq: u64::try_from(seq).map_err(|e| Error::Corrupt(e.to_string()))?,
                at: parse_rfc3339(&at)?,
                record: decode(&body)?,
            });
        }
        Ok(out)
    }

    fn last_audit(&mut self) -> Result<Option<AuditEvent>> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM audit ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| r.get(0))
            .optional()?;
        body.map(|b| decode(&b)).transpose()
    }

    fn audit_key(&self) -> Option<&authority::AuditKey> {
        self.audit_key
    }

    fn insert_audit(&mut self, event: &AuditEvent, mac: Option<&[u8; 32]>) -> Result<()> {
        let seq = i64::try_from(event.seq).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.conn
            .prepare_cached(
                "INSERT INTO audit (seq, hash, prev_hash, body, mac) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                seq,
                event.hash.to_hex(),
                event.prev_hash.to_hex(),
                json(event)?,
                mac.map(|m| &m[..])
            ])?;
        Ok(())
    }

    fn audit_rows(&mut self, from: u64, limit: u32) -> Result<Vec<AuditRow>> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let mut stmt =
            self.conn.prepare_cached("SELECT body, mac FROM audit WHERE seq >= ?1 ORDER BY seq LIMIT ?2")?;
        let rows = stmt.query_map(params![from, limit], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<Vec<u8>>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (body, mac) = row?;
            out.push(AuditRow { event: decode(&body)?, mac });
        }
        Ok(out)
    }

    fn workstation_key_hash(&mut self, workstation: WorkstationId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row("SELECT key_hash FROM workstations WHERE id = ?1", [workstation.to_string()], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn insert_workstation(
        &mut self,
        workstation: WorkstationId,
        key_hash: &[u8],
        operator: OperatorId,
        at: OffsetDateTime,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO workstations (id, key_hash, enrolled_by, enrolled_at) VALUES (?1, ?2, ?3, ?4)",
            params![workstation.to_string(), key_hash, operator.to_string(), at.unix_timestamp()],
        )?;
        Ok(())
    }

    fn provisioning_task(&mut self, id: domain::TaskId) -> Result<Option<domain::ProvisioningTask>> {
        self.one_body("SELECT body FROM provisioning_tasks WHERE id = ?1", &id.to_string())
    }

    fn provisioning_tasks(&mut self) -> Result<Vec<domain::ProvisioningTask>> {
        let mut stmt = self.conn.prepare_cached("SELECT body FROM provisioning_tasks ORDER BY number")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|body| decode(&body?)).collect()
    }

    fn next_task_number(&mut self) -> Result<u64> {
        let last: i64 =
            self.conn
                .query_row("SELECT COALESCE(MAX(number), 0) FROM provisioning_tasks", [], |r| r.get(0))?;
        u64::try_from(last).map(|n| n + 1).map_err(|_| Error::Storage("a negative task number".into()))
    }

    fn put_provisioning_task(&mut self, task: &domain::ProvisioningTask) -> Result<()> {
        let number =
            i64::try_from(task.number).map_err(|_| Error::Storage("task number too large".into()))?;
        self.conn.execute(
            "INSERT INTO provisioning_tasks (id, number, operator, removed, body) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET removed = excluded.removed, body = excluded.body",
            params![task.id.to_string(), number, task.operator.to_string(), task.removed, json(task)?],
        )?;
        Ok(())
    }

    fn enrollment_code(&mut self, tag: &str) -> Result<Option<EnrollmentCodeRecord>> {
        let row = self
            .conn
            .query_row(
                "SELECT enrollment_id, task_id, tag, verifier, created_at FROM enrollment_codes WHERE tag = ?1",
                [tag],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(enrollment, task, tag, verifier, created_at)| {
            Ok(EnrollmentCodeRecord {
                enrollment: domain::EnrollmentId::new(parse_uuid(&enrollment)?),
                task: domain::TaskId::new(parse_uuid(&task)?),
                tag,
                verifier,
                created_at: unix_to_time(created_at)?,
            })
        })
        .transpose()
    }

    fn put_enrollment_code(&mut self, code: &EnrollmentCodeRecord) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO enrollment_codes (enrollment_id, task_id, tag, verifier, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                code.enrollment.to_string(),
                code.task.to_string(),
                code.tag,
                code.verifier,
                code.created_at.unix_timestamp()
            ],
        )?;
        Ok(())
    }

    fn delete_enrollment_code(&mut self, enrollment: domain::EnrollmentId) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM enrollment_codes WHERE enrollment_id = ?1", [enrollment.to_string()])?
            > 0)
    }

    fn insert_mail(&mut self, mail: &MailRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO mail_outbox
               (id, recipient, subject, body, created_at, sent_at, attempts, last_error, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                mail.id.to_string(),
                mail.recipient,
                mail.subject,
                mail.body,
                mail.created_at.unix_timestamp(),
                mail.sent_at.map(|t| t.unix_timestamp()),
                mail.attempts,
                mail.last_error,
                mail.next_attempt_at.unix_timestamp()
            ],
        )?;
        Ok(())
    }

    fn pending_mail(&mut self, limit: u32, now: OffsetDateTime) -> Result<Vec<MailRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= ?1
             ORDER BY created_at, rowid LIMIT ?2"
        ))?;
        let rows = stmt.query(params![now.unix_timestamp(), limit])?;
        mail_records(rows)
    }

    fn claim_mail(
        &mut self,
        limit: u32,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> Result<Vec<MailRecord>> {
        // One writer at a time: the claim cannot interleave with another.
        let mut stmt = self.conn.prepare_cached(&format!(
            "UPDATE mail_outbox SET next_attempt_at = ?3 WHERE rowid IN (
               SELECT rowid FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= ?1
               ORDER BY created_at, rowid LIMIT ?2)
             RETURNING {MAIL_COLUMNS}"
        ))?;
        let rows = stmt.query(params![now.unix_timestamp(), limit, lease_until.unix_timestamp()])?;
        let mut claimed = mail_records(rows)?;
        claimed.sort_by_key(|m| (m.created_at, m.id));
        Ok(claimed)
    }

    fn mark_mail_sent(&mut self, id: Uuid, at: OffsetDateTime) -> Result<()> {
        self.conn.execute(
            "UPDATE mail_outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
            params![id.to_string(), at.unix_timestamp()],
        )?;
        Ok(())
    }

    fn mark_mail_failed(&mut self, id: Uuid, error: &str, next_attempt_at: OffsetDateTime) -> Result<()> {
        self.conn.execute(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
            params![id.to_string(), error, next_attempt_at.unix_timestamp()],
        )?;
        Ok(())
    }

    fn put_escrow(&mut self, stored: &NewEscrow<'_>) -> Result<u32> {
        let version: u32 = self
            .conn
            .prepare_cached(
                "INSERT INTO escrow (device_id, kind, version, sealed, stored_at, stored_by, workstation, written)
                 VALUES (?1, ?2, (SELECT COALESCE(MAX(version), 0) + 1 FROM escrow WHERE device_id = ?1 AND kind = ?2),
                         ?3, ?4, ?5, ?6, ?7)
                 RETURNING version",
            )?
            .query_row(
                params![
                    stored.device.to_string(),
                    stored.kind.name(),
                    stored.sealed,
                    stored.at.unix_timestamp(),
                    stored.stored_by.map(|o| o.to_string()),
                    stored.workstation.map(|w| w.to_string()),
                    stored.written,
                ],
                |r| r.get(0),
            )?;
        Ok(version)
    }

    fn escrow_versions(&mut self, device: DeviceId, kind: EscrowKind) -> Result<Vec<EscrowVersion>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT version, sealed, stored_at, stored_by, workstation, written FROM escrow
             WHERE device_id = ?1 AND kind = ?2 ORDER BY version DESC",
        )?;
        let rows = stmt.query_map(params![device.to_string(), kind.name()], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, bool>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (version, sealed, stored_at, stored_by, workstation, written) = row?;
            out.push(EscrowVersion {
                version,
                sealed,
                stored_at: unix_to_time(stored_at)?,
                stored_by: stored_by.as_deref().map(parse_uuid).transpose()?.map(OperatorId::new),
                workstation: workstation
                    .as_deref()
                    .map(parse_uuid)
                    .transpose()?
                    .map(domain::WorkstationId::new),
                written,
            });
        }
        Ok(out)
    }

    fn mark_escrow_written(&mut self, device: DeviceId) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE escrow SET written = 1 WHERE device_id = ?1 AND version =
                 (SELECT MAX(version) FROM escrow AS newest
                  WHERE newest.device_id = escrow.device_id AND newest.kind = escrow.kind)",
            )?
            .execute([device.to_string()])?;
        Ok(())
    }

    fn discard_escrow(&mut self, device: DeviceId) -> Result<()> {
        self.conn.execute("DELETE FROM escrow WHERE device_id = ?1", [device.to_string()])?;
        self.conn.execute("DELETE FROM offline_unblocks WHERE device_id = ?1", [device.to_string()])?;
        Ok(())
    }

    fn put_walkup_grant(&mut self, g: &WalkupGrant) -> Result<()> {
        self.conn.execute(
            "INSERT INTO walkup_grants (device_id, request_id, person_id, operator_id, workstation_id, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (device_id) DO UPDATE SET request_id = excluded.request_id,
                 person_id = excluded.person_id, operator_id = excluded.operator_id,
                 workstation_id = excluded.workstation_id, expires_at = excluded.expires_at",
            params![
                g.device.to_string(),
                g.request.to_string(),
                g.person.to_string(),
                g.operator.to_string(),
                g.workstation.map(|w| w.to_string()),
                g.expires_at.unix_timestamp()
            ],
        )?;
        Ok(())
    }

    fn walkup_grant(&mut self, device: DeviceId) -> Result<Option<WalkupGrant>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT request_id, person_id, operator_id, workstation_id, expires_at
                 FROM walkup_grants WHERE device_id = ?1",
            )?
            .query_row([device.to_string()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .optional()?;
        let Some((request, person, operator, workstation, expires_at)) = row else { return Ok(None) };
        let parse = |s: &str| Uuid::parse_str(s).map_err(|e| Error::Corrupt(e.to_string()));
        Ok(Some(WalkupGrant {
            device,
            request: RequestId::new(parse(&request)?),
            person: PersonId::new(parse(&person)?),
            operator: OperatorId::new(parse(&operator)?),
            workstation: workstation.map(|w| parse(&w).map(WorkstationId::new)).transpose()?,
            expires_at: unix_to_time(expires_at)?,
        }))
    }

    fn insert_offline_unblock(&mut self, record: &OfflineUnblockRecord) -> Result<()> {
        self.conn.execute(
            "INSERT INTO offline_unblocks (id, device_id, operator_id, previous_puk, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                record.id.to_string(),
                record.device.to_string(),
                record.operator.to_string(),
                record.previous_puk,
                record.created_at.unix_timestamp()
            ],
        )?;
        Ok(())
    }

    fn latest_offline_unblock(&mut self, device: DeviceId) -> Result<Option<OfflineUnblockRecord>> {
        let row = self
            .conn
            .query_row(
                "SELECT id, operator_id, previous_puk, created_at FROM offline_unblocks
                 WHERE device_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT 1",
                [device.to_string()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, operator, previous_puk, at)) = row else { return Ok(None) };
        let uuid = |t: &str| Uuid::parse_str(t).map_err(|e| Error::Corrupt(e.to_string()));
        Ok(Some(OfflineUnblockRecord {
            id: uuid(&id)?,
            device,
            operator: OperatorId::new(uuid(&operator)?),
            previous_puk,
            created_at: unix_to_time(at)?,
        }))
    }

    fn operator_by_username(&mut self, username: &str) -> Result<Option<OperatorAccount>> {
        self.account(&format!("{ACCOUNT_COLUMNS} WHERE username = ?1"), username)
    }

    fn operator(&mut self, id: OperatorId) -> Result<Option<OperatorAccount>> {
        self.account(&format!("{ACCOUNT_COLUMNS} WHERE id = ?1"), &id.to_string())
    }

    fn insert_operator(&mut self, account: &OperatorAccount) -> Result<()> {
        let op = &account.operator;
        self.conn.execute(
            "INSERT INTO operators (id, person_id, username, password_hash, enabled) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![op.id.to_string(), op.person.to_string(), op.username, account.password_hash, op.enabled],
        )?;
        for role in &op.roles {
            self.grant_role(op.id, *role)?;
        }
        Ok(())
    }

    fn role(&mut self, id: RoleId) -> Result<Option<Role>> {
        self.one_body("SELECT body FROM roles WHERE id = ?1", &id.to_string())
    }

    fn role_by_name(&mut self, name: &str) -> Result<Option<Role>> {
        self.one_body("SELECT body FROM roles WHERE name = ?1", name)
    }

    fn put_role(&mut self, role: &Role) -> Result<()> {
        self.conn.execute(
            "INSERT INTO roles (id, name, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, body = excluded.body",
            params![role.id.to_string(), role.name, json(role)?],
        )?;
        Ok(())
    }

    fn grant_role(&mut self, operator: OperatorId, role: RoleId) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO operator_roles (operator_id, role_id) VALUES (?1, ?2)",
            params![operator.to_string(), role.to_string()],
        )?;
        Ok(())
    }

    fn revoke_role(&mut self, operator: OperatorId, role: RoleId) -> Result<()> {
        self.conn.execute(
            "DELETE FROM operator_roles WHERE operator_id = ?1 AND role_id = ?2",
            params![operator.to_string(), role.to_string()],
        )?;
        Ok(())
    }

    fn roles(&mut self) -> Result<Vec<Role>> {
        let mut stmt = self.conn.prepare_cached("SELECT body FROM roles ORDER BY name")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(decode(&body?)?);
        }
        Ok(out)
    }

    fn operators(&mut self) -> Result<Vec<OperatorAccount>> {
        let usernames: Vec<String> = {
            let mut stmt = self.conn.prepare_cached("SELECT username FROM operators ORDER BY username")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<std::result::Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(usernames.len());
        for username in usernames {
            out.extend(self.account(&format!("{ACCOUNT_COLUMNS} WHERE username = ?1"), &username)?);
        }
        Ok(out)
    }

    fn insert_session(&mut self, s: &SessionRecord) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO sessions (token_hash, operator_id, workstation, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                &s.token_hash[..],
                s.operator.to_string(),
                s.workstation.map(|w| w.to_string()),
                s.created_at.unix_timestamp(),
                s.expires_at.unix_timestamp()
            ])?;
        Ok(())
    }

    fn session(&mut self, token_hash: &[u8; 32]) -> Result<Option<SessionRecord>> {
        let row: Option<(String, Option<String>, i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT operator_id, workstation, created_at, expires_at FROM sessions WHERE token_hash = ?1",
            )?
            .query_row([&token_hash[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let Some((operator, workstation, created_at, expires_at)) = row else {
            return Ok(None);
        };
        let parse = |s: &str| Uuid::parse_str(s).map_err(|e| Error::Corrupt(e.to_string()));
        Ok(Some(SessionRecord {
            token_hash: *token_hash,
            operator: OperatorId::new(parse(&operator)?),
            workstation: workstation.map(|w| parse(&w).map(WorkstationId::new)).transpose()?,
            created_at: unix_to_time(created_at)?,
            expires_at: unix_to_time(expires_at)?,
        }))
    }

    fn delete_session(&mut self, token_hash: &[u8; 32]) -> Result<bool> {
        Ok(self.conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [&token_hash[..]])? > 0)
    }

    fn settings(&mut self) -> Result<DeploymentSettings> {
        let value: Option<String> = self
            .conn
            .prepare_cached("SELECT value FROM settings WHERE key = 'deployment'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        value.map(|v| decode(&v)).transpose().map(Option::unwrap_or_default)
    }

    fn put_settings(&mut self, settings: &DeploymentSettings) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO settings (key, value) VALUES ('deployment', ?1)",
            [json(settings)?],
        )?;
        Ok(())
    }

    fn profile_version(&mut self, id: ProfileId, version: u32) -> Result<Option<CredentialProfile>> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM profiles WHERE id = ?1 AND version = ?2")?
            .query_row(params![id.to_string(), i64::from(version)], |r| r.get(0))
            .optional()?;
        body.map(|b| decode(&b)).transpose()
    }

    fn purge_sessions(&mut self, before: OffsetDateTime) -> Result<u64> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM sessions WHERE expires_at < ?1")?
            .execute([before.unix_timestamp()])?;
        Ok(n as u64)
    }

    fn insert_challenge(&mut self, c: &ChallengeRecord) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO challenges (challenge, operator_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                &c.challenge[..],
                c.operator.to_string(),
                c.created_at.unix_timestamp(),
                c.expires_at.unix_timestamp()
            ])?;
        Ok(())
    }

    fn challenge(&mut self, challenge: &[u8]) -> Result<Option<ChallengeRecord>> {
        let row: Option<(String, i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT operator_id, created_at, expires_at FROM challenges WHERE challenge = ?1",
            )?
            .query_row([challenge], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((operator, created_at, expires_at)) = row else {
            return Ok(None);
        };
        Ok(Some(ChallengeRecord {
            challenge: challenge.to_vec(),
            operator: OperatorId::new(parse_uuid(&operator)?),
            created_at: unix_to_time(created_at)?,
            expires_at: unix_to_time(expires_at)?,
        }))
    }

    fn delete_challenge(&mut self, challenge: &[u8]) -> Result<bool> {
        Ok(self.conn.prepare_cached("DELETE FROM challenges WHERE challenge = ?1")?.execute([challenge])? > 0)
    }

    fn purge_challenges(&mut self, before: OffsetDateTime) -> Result<u64> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM challenges WHERE expires_at < ?1")?
            .execute([before.unix_timestamp()])?;
        Ok(n as u64)
    }

    fn insert_ca_certificate(&mut self, issued: &CaCertificateRecord, state: CertificateState) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO ca_certificates
                   (certificate_id, op_id, operator_id, der, issued_at, state, state_since)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5)",
            )?
            .execute(params![
                issued.certificate.to_string(),
                issued.op_id.to_string(),
                issued.operator.to_string(),
                &issued.der[..],
                issued.issued_at.unix_timestamp(),
                state.name()
            ])?;
        Ok(())
    }

    fn ca_certificate_by_op(&mut self, op_id: Uuid) -> Result<Option<CaCertificateRecord>> {
        self.ca_row("WHERE op_id = ?1", &op_id.to_string())
    }

    fn ca_certificate(&mut self, id: CertificateId) -> Result<Option<CaCertificateRecord>> {
        self.ca_row("WHERE certificate_id = ?1", &id.to_string())
    }

    fn note_certificate_state(&mut self, certificate: &Certificate, at: OffsetDateTime) -> Result<()> {
        let state = certificate.state.name();
        self.conn
            .prepare_cached(
                "UPDATE ca_certificates SET state = ?2, state_since = ?3
                 WHERE certificate_id = ?1 AND state <> ?2",
            )?
            .execute(params![certificate.id.to_string(), state, at.unix_timestamp()])?;
        Ok(())
    }

    fn crl_entries(&mut self) -> Result<Vec<(Certificate, OffsetDateTime)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.body, a.state_since FROM ca_certificates a JOIN certificates c ON c.id = a.certificate_id
             WHERE a.state <> 'valid' ORDER BY a.issued_at, a.certificate_id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (body, since) = row?;
            out.push((decode(&body)?, unix_to_time(since)?));
        }
        Ok(out)
    }

    fn ca_certificate_by_serial(&mut self, serial: &str) -> Result<Option<(Certificate, OffsetDateTime)>> {
        let row: Option<(String, i64)> = self
            .conn
            .prepare_cached(
                "SELECT c.body, a.state_since FROM certificates c JOIN ca_certificates a ON a.certificate_id = c.id
                 WHERE c.serial = ?1",
            )?
            .query_row([serial], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(body, since)| Ok((decode(&body)?, unix_to_time(since)?))).transpose()
    }
}
