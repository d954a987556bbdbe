//! UC-AUDIT: the registry's hash-chained audit trail, filtered by operator,
//! person, device, action and time, shown with names rather than ids where
//! the replica knows them; CSV export; verification of the chain (the
//! registry walks it: `GET /v1/audit/verify`).
//!
//! The trail is read page by page from `GET /v1/audit` (View audit); the
//! filters apply here, after each event's object is resolved to the device
//! and person it concerns, so "person" finds the events on that person's
//! cards and certificates too.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use domain::{
    AuditEvent, AuditObject, AuditOutcome, Certificate, Device, DeviceId, GlobalPermission, Operator,
    OperatorId, Permission, Person, PersonId, Request, UseCase,
};
use proto::{AuditPage, ChainReport};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::session::Session;
use crate::REGISTRY_TIMEOUT;

/// The most events one page asks for (the registry's maximum).
const PAGE: u32 = 1000;

/// Operators seen signing in at this station (`operators.json` in the data
/// directory): the registry's feed carries no operator accounts, so this is
/// how the audit view names them. Ids, usernames and person ids only.
pub const OPERATORS_FILE: &str = "operators.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KnownOperator {
    username: String,
    person: PersonId,
}

fn known_operators(data_dir: &Path) -> BTreeMap<String, KnownOperator> {
    std::fs::read(data_dir.join(OPERATORS_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Remembers who signed in (called at sign-in); failures are logged only.
pub(crate) fn remember_operator(data_dir: &Path, operator: OperatorId, username: &str, person: PersonId) {
    let mut known = known_operators(data_dir);
    let entry = KnownOperator { username: username.to_owned(), person };
    if known.get(&operator.to_string()).is_some_and(|k| k.username == entry.username) {
        return;
    }
    known.insert(operator.to_string(), entry);
    let path = data_dir.join(OPERATORS_FILE);
    let tmp = data_dir.join(format!("{OPERATORS_FILE}.tmp"));
    let written = serde_json::to_vec_pretty(&known)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        tracing::warn!(error = %e, file = %path.display(), "cannot remember the operator's name");
    }
}

/// Which events to show. Text filters match case-insensitively, on a name,
/// a username, an email or an id.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The operator who acted.
    pub operator: Option<String>,
    /// The person the event concerns (directly, or through their card).
    pub person: Option<String>,
    /// The device the event concerns (directly, or through its certificate).
    pub device: Option<DeviceId>,
    /// Part of the action's name (e.g. `change_device`, `escrow.fetch`).
    pub action: Option<String>,
    /// Events at or after.
    pub since: Option<OffsetDateTime>,
    /// Events before.
    pub until: Option<OffsetDateTime>,
}

/// One audit event, resolved for people.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    /// Position in the chain.
    pub seq: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The operator's name (username in parentheses), or their id, or empty for the system.
    pub operator: String,
    /// The workstation, if any.
    pub workstation: Option<String>,
    /// What was done.
    pub action: String,
    /// What it was done to, in words (e.g. `device 0192… (active)`).
    pub object: String,
    /// The person concerned, by name.
    pub person: Option<String>,
    /// The device concerned.
    pub device: Option<DeviceId>,
    /// `success`, `refused: …` or `failed: …`.
    pub outcome: String,
    /// Notes recorded with it.
    pub notes: Option<String>,
    /// The event's chain hash.
    pub hash: String,
}

/// The columns of the CSV export, in order.
pub const CSV_HEADER: [&str; 10] =
    ["seq", "at", "operator", "workstation", "action", "object", "person", "device", "outcome", "notes"];

/// Writes `rows` as CSV (RFC 4180: fields with commas, quotes or line
/// breaks are quoted, quotes doubled; CRLF line ends).
pub fn write_csv(rows: &[AuditRow], mut out: impl Write) -> std::io::Result<()> {
    let line = |fields: &[&str]| -> String {
        let mut text = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
        text.push_str("\r\n");
        text
    };
    out.write_all(line(&CSV_HEADER).as_bytes())?;
    for r in rows {
        let at = r.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        let device = r.device.map(|d| d.to_string()).unwrap_or_default();
        out.write_all(
            line(&[
                &r.seq.to_string(),
                &at,
                &r.operator,
                r.workstation.as_deref().unwrap_or(""),
                &r.action,
                &r.object,
                r.person.as_deref().unwrap_or(""),
                &device,
                &r.outcome,
                r.notes.as_deref().unwrap_or(""),
            ])
            .as_bytes(),
        )?;
    }
    out.flush()
}

/// One CSV field, quoted when it must be.
pub fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ') {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// Parses a time for a filter: RFC 3339 (`2026-11-22T06:00:00Z`) or a date
/// (`2026-11-22`, midnight UTC).
pub fn parse_time(text: &str) -> Result<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(t);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| Error::Invalid(format!("{text:?} is not a time (2026-11-22 or 2026-11-22T06:00:00Z)")))
}

fn contains(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

impl Session {
    fn audit_http(&self) -> Result<reqwest::Client> {
        let tls = sync::pin::client_config(self.enrollment.pin()?).map_err(Error::from)?;
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(REGISTRY_TIMEOUT)
            .connect_timeout(REGISTRY_TIMEOUT)
            .build()
            .map_err(|e| Error::Invalid(format!("HTTP client: {e}")))
    }

    async fn audit_get<T: serde::de::DeserializeOwned>(
        &self,
        http: &reqwest::Client,
        path: &str,
    ) -> Result<T> {
        let url = format!("{}{path}", self.enrollment.registry_url.trim_end_matches('/'));
        let response = http
            .get(url)
            .bearer_auth(self.grant.token.expose())
            .send()
            .await
            .map_err(|e| Error::Offline(e.to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| Error::Offline(e.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| Error::Offline(format!("the registry's answer does not decode: {e}")));
        }
        let problem = serde_json::from_slice::<proto::Problem>(&body).unwrap_or_else(|_| {
            proto::Problem::new("http", String::from_utf8_lossy(&body).chars().take(200).collect::<String>())
        });
        Err(match status.as_u16() {
            401 => Error::SignIn(problem.message),
            s if s >= 500 => Error::Offline(format!("registry error {}: {}", problem.code, problem.message)),
            _ => Error::Rejected { code: problem.code, message: problem.message },
        })
    }

    fn require_audit(&self) -> Result<()> {
        let actor = self.actor();
        actor.require_use_case(UseCase::Audit)?;
        actor.require(Permission::global(GlobalPermission::ViewAudit))?;
        Ok(())
    }

    /// Every audit event (oldest first), straight from the registry (View audit).
    pub fn audit_events(&self) -> Result<Vec<AuditEvent>> {
        self.require_audit()?;
        let http = self.audit_http()?;
        let mut events = Vec::new();
        let mut from = 0u64;
        loop {
            let page: AuditPage = self
                .runtime
                .block_on(self.audit_get(&http, &format!("/v1/audit?from={from}&limit={PAGE}")))?;
            events.extend(page.events);
            match page.next_from {
                Some(next) if next > from => from = next,
                _ => return Ok(events),
            }
        }
    }

    /// UC-AUDIT: the events matching `filter`, oldest first, with names.
    pub fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>> {
        let events = self.audit_events()?;
        let known = known_operators(&self.data_dir);
        let mut rows = Vec::new();
        for event in events {
            let d = &event.draft;
            if filter.since.is_some_and(|t| d.at < t) || filter.until.is_some_and(|t| d.at >= t) {
                continue;
            }
            if let Some(a) = &filter.action {
                if !contains(&d.action, a) {
                    continue;
                }
            }
            let (operator_text, operator_keys) = self.operator_names(d.actor, &known)?;
            if let Some(o) = &filter.operator {
                if !operator_keys.iter().any(|k| contains(k, o)) {
                    continue;
                }
            }
            let (object, device, person) = self.object_names(&d.object)?;
            if filter.device.is_some() && device.as_ref().map(|d| d.id) != filter.device {
                continue;
            }
            if let Some(p) = &filter.person {
                let keys = person.as_ref().map(person_keys).unwrap_or_default();
                if !keys.iter().any(|k| contains(k, p)) {
                    continue;
                }
            }
            rows.push(AuditRow {
                seq: event.seq,
                at: d.at,
                operator: operator_text,
                workstation: d.workstation.map(|w| w.to_string()),
                action: d.action.clone(),
                object,
                person: person.map(|p| p.display_name()),
                device: device.map(|d| d.id),
                outcome: match &d.outcome {
                    AuditOutcome::Success => "success".into(),
                    AuditOutcome::Refused { code, message } => format!("refused ({code}): {message}"),
                    AuditOutcome::Failed { message } => format!("failed: {message}"),
                },
                notes: d.notes.clone(),
                hash: event.hash.to_hex(),
            });
        }
        Ok(rows)
    }

    /// UC-AUDIT: has the registry verify the whole hash chain.
    pub fn verify_audit(&self) -> Result<ChainReport> {
        self.require_audit()?;
        let http = self.audit_http()?;
        self.runtime.block_on(self.audit_get(&http, "/v1/audit/verify"))
    }

    /// An operator by name ("Abe Approver (abe)"), from the replica or the
    /// operators who signed in at this station.
    pub(crate) fn operator_display(&self, id: OperatorId) -> String {
        let known = known_operators(&self.data_dir);
        self.operator_names(Some(id), &known).map(|(text, _)| text).unwrap_or_else(|_| id.to_string())
    }

    /// The operator's display text and the words a filter may match.
    fn operator_names(
        &self,
        actor: Option<OperatorId>,
        known: &BTreeMap<String, KnownOperator>,
    ) -> Result<(String, Vec<String>)> {
        let Some(id) = actor else {
            return Ok((String::new(), vec!["system".into()]));
        };
        let (username, person) = match self.store.get::<Operator>(&id.to_string())? {
            Some(o) => (o.username, o.person),
            None => match known.get(&id.to_string()) {
                Some(k) => (k.username.clone(), k.person),
                None => return Ok((id.to_string(), vec![id.to_string()])),
            },
        };
        let person = self.store.get::<Person>(&person.to_string())?;
        let mut keys = vec![id.to_string(), username.clone()];
        let text = match &person {
            Some(p) => {
                keys.extend(person_keys(p));
                format!("{} ({username})", p.display_name())
            }
            None => username,
        };
        Ok((text, keys))
    }

    /// The object in words, and the device and person it concerns.
    fn object_names(&self, object: &AuditObject) -> Result<(String, Option<Device>, Option<Person>)> {
        let person_of = |s: &Self, id: Option<domain::PersonId>| -> Result<Option<Person>> {
            match id {
                Some(p) => Ok(s.store.get::<Person>(&p.to_string())?),
                None => Ok(None),
            }
        };
        Ok(match *object {
            AuditObject::None => (String::new(), None, None),
            AuditObject::Person(id) => {
                let p = self.store.get::<Person>(&id.to_string())?;
                let text =
                    p.as_ref().map_or(format!("person {id}"), |p| format!("person {}", p.display_name()));
                (text, None, p)
            }
            AuditObject::Device(id) => {
                let d = self.store.get::<Device>(&id.to_string())?;
                let p = person_of(self, d.as_ref().and_then(|d| d.owner))?;
                (device_text(id, d.as_ref(), p.as_ref()), d, p)
            }
            AuditObject::Certificate(id) => {
                let c = self.store.get::<Certificate>(&id.to_string())?;
                let d = match &c {
                    Some(c) => self.store.get::<Device>(&c.device.to_string())?,
                    None => None,
                };
                let p = person_of(self, d.as_ref().and_then(|d| d.owner))?;
                let text = match &c {
                    Some(c) => format!("certificate {} ({}, {})", c.serial, c.slot, c.subject),
                    None => format!("certificate {id}"),
                };
                (text, d, p)
            }
            AuditObject::Request(id) => {
                let r = self.store.get::<Request>(&id.to_string())?;
                let d = match r.as_ref().and_then(|r| r.device) {
                    Some(d) => self.store.get::<Device>(&d.to_string())?,
                    None => None,
                };
                let p =
                    person_of(self, r.as_ref().and_then(|r| r.person).or(d.as_ref().and_then(|d| d.owner)))?;
                let text = match (&r, &p) {
                    (Some(r), Some(p)) => {
                        format!("{} request for {}", crate::view::label(&kind_name(r.kind)), p.display_name())
                    }
                    _ => format!("request {id}"),
                };
                (text, d, p)
            }
            AuditObject::Operator(id) => {
                let (text, _) = self.operator_names(Some(id), &known_operators(&self.data_dir))?;
                (format!("operator {text}"), None, None)
            }
            AuditObject::Profile(id) => {
                let text = match self.store.latest_profile(id)? {
                    Some(p) => format!("profile {}", p.settings.name),
                    None => format!("profile {id}"),
                };
                (text, None, None)
            }
            AuditObject::Role(id) => (format!("role {id}"), None, None),
            AuditObject::Batch(id) => (format!("batch {id}"), None, None),
            AuditObject::Task(id) => (format!("task {id}"), None, None),
            AuditObject::Enrollment(id) => (format!("enrollment {id}"), None, None),
        })
    }
}

fn device_text(id: DeviceId, device: Option<&Device>, owner: Option<&Person>) -> String {
    match (device, owner) {
        (Some(d), Some(p)) => format!("card of {} ({})", p.display_name(), d.state.name()),
        (Some(d), None) => format!("device {id} ({})", d.state.name()),
        _ => format!("device {id}"),
    }
}

fn person_keys(p: &Person) -> Vec<String> {
    let mut keys = vec![p.id.to_string(), p.display_name()];
    keys.extend(p.email.clone());
    keys.extend(p.employee_id.clone());
    keys
}

/// A request kind's stored name (`issue`, `reprovision`, …) for the audit's words.
fn kind_name(kind: domain::RequestKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_they_must_be() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
        assert_eq!(csv_field(""), "");
    }

    #[test]
    fn csv_export_has_a_header_and_one_line_per_row() {
        let row = AuditRow {
            seq: 7,
            at: OffsetDateTime::UNIX_EPOCH,
            operator: "Hopper, Grace (grace)".into(),
            workstation: None,
            action: "change_device".into(),
            object: "card of Ada \"the\" Lovelace (inactive)".into(),
            person: Some("Ada Lovelace".into()),
            device: None,
            outcome: "success".into(),
            notes: Some("line one\r\nline two".into()),
            hash: String::new(),
        };
        let mut out = Vec::new();
        write_csv(&[row], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "seq,at,operator,workstation,action,object,person,device,outcome,notes\r\n\
             7,1970-01-01T00:00:00Z,\"Hopper, Grace (grace)\",,change_device,\
             \"card of Ada \"\"the\"\" Lovelace (inactive)\",Ada Lovelace,,success,\"line one\r\nline two\"\r\n"
        );
    }
}
