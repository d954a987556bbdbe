//! The audit trail (SPEC §3 Audit event; UC-AUDIT): append-only and
//! hash-chained, each event carrying the hash of the previous one, so that
//! changing, removing or reordering an event is detectable.
//!
//! The hash is SHA-256 over a canonical, length-prefixed encoding of every
//! field except the hash itself (see [`AuditEvent::compute_hash`]); the
//! encoding is versioned so it can evolve without breaking old chains.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::ids::{
    AuditEventId, BatchId, CertificateId, DeviceId, EnrollmentId, OperatorId, PersonId, ProfileId, RequestId,
    RoleId, TaskId, WorkstationId,
};
use crate::refusal::Refusal;

/// A SHA-256 digest, shown and serialized as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChainHash(pub [u8; 32]);

impl ChainHash {
    /// The `prev_hash` of the first event of a chain.
    pub const GENESIS: ChainHash = ChainHash([0; 32]);

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for b in self.0 {
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
        out
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let nibble = |c: u8| -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        };
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainHash({})", self.to_hex())
    }
}

impl fmt::Display for ChainHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for ChainHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ChainHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ChainHash::from_hex(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// The record an audit event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum AuditObject {
    /// Nothing in particular (sign-in, settings).
    None,
    /// A person.
    Person(PersonId),
    /// An operator account.
    Operator(OperatorId),
    /// A role.
    Role(RoleId),
    /// A credential profile.
    Profile(ProfileId),
    /// A device, permanent or temporary.
    Device(DeviceId),
    /// A certificate.
    Certificate(CertificateId),
    /// A request.
    Request(RequestId),
    /// A batch order.
    Batch(BatchId),
    /// A provisioning task.
    Task(TaskId),
    /// An enrollment.
    Enrollment(EnrollmentId),
}

impl AuditObject {
    fn tag_and_id(&self) -> (u8, Option<uuid::Uuid>) {
        match *self {
            AuditObject::None => (0, None),
            AuditObject::Person(id) => (1, Some(id.0)),
            AuditObject::Operator(id) => (2, Some(id.0)),
            AuditObject::Role(id) => (3, Some(id.0)),
            AuditObject::Profile(id) => (4, Some(id.0)),
            AuditObject::Device(id) => (5, Some(id.0)),
            AuditObject::Certificate(id) => (6, Some(id.0)),
            AuditObject::Request(id) => (7, Some(id.0)),
            AuditObject::Batch(id) => (8, Some(id.0)),
            AuditObject::Task(id) => (9, Some(id.0)),
            AuditObject::Enrollment(id) => (10, Some(id.0)),
        }
    }
}

/// How the audited action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum AuditOutcome {
    /// Done.
    Success,
    /// Refused by a rule.
    Refused {
        /// The refusal's stable code.
        code: String,
        /// Its message.
        message: String,
    },
    /// Attempted and failed (card error, network…).
    Failed {
        /// What went wrong.
        message: String,
    },
}

impl From<&Refusal> for AuditOutcome {
    fn from(refusal: &Refusal) -> Self {
        AuditOutcome::Refused { code: refusal.code().to_owned(), message: refusal.to_string() }
    }
}

/// An event to append: everything but its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditDraft {
    /// Identity (made by the caller).
    pub id: AuditEventId,
    /// When (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The operator acting, if one was.
    pub actor: Option<OperatorId>,
    /// The workstation.
    pub workstation: Option<WorkstationId>,
    /// What was done, e.g. `card.issue`, `request.approve`.
    pub action: String,
    /// On which record.
    pub object: AuditObject,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The operator's notes (UC-UPDATE: request notes go here).
    pub notes: Option<String>,
}

/// One appended audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Position in the chain, from 0.
    pub seq: u64,
    /// The event's content.
    #[serde(flatten)]
    pub draft: AuditDraft,
    /// Hash of the previous event ([`ChainHash::GENESIS`] for the first).
    pub prev_hash: ChainHash,
    /// Hash of this event.
    pub hash: ChainHash,
}

const ENCODING_VERSION: &[u8] = b"cardstation-audit-v1";

fn put(buf: &mut Vec<u8>, field: &[u8]) {
    // Field lengths are bounded by memory; a u64 prefix cannot be ambiguous.
    buf.extend_from_slice(&(field.len() as u64).to_be_bytes());
    buf.extend_from_slice(field);
}

fn put_opt_uuid(buf: &mut Vec<u8>, id: Option<uuid::Uuid>) {
    match id {
        Some(id) => put(buf, id.as_bytes()),
        None => put(buf, &[]),
    }
}

fn put_opt_str(buf: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => {
            buf.push(1);
            put(buf, text.as_bytes());
        }
        None => buf.push(0),
    }
}

impl AuditEvent {
    /// Appends `draft` after `prev` (`None`: the first event of the chain).
    pub fn append(draft: AuditDraft, prev: Option<&AuditEvent>) -> Self {
        let (seq, prev_hash) = match prev {
            Some(p) => (p.seq.saturating_add(1), p.hash),
            None => (0, ChainHash::GENESIS),
        };
        let mut event = Self { seq, draft, prev_hash, hash: ChainHash::GENESIS };
        event.hash = event.compute_hash();
        event
    }

    /// The canonical bytes hashed: every field but `hash`, length-prefixed.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let d = &self.draft;
        let mut buf = Vec::with_capacity(256);
        put(&mut buf, ENCODING_VERSION);
        put(&mut buf, &self.seq.to_be_bytes());
        put(&mut buf, d.id.0.as_bytes());
        put(&mut buf, &d.at.unix_timestamp_nanos().to_be_bytes());
        put_opt_uuid(&mut buf, d.actor.map(|a| a.0));
        put_opt_uuid(&mut buf, d.workstation.map(|w| w.0));
        put(&mut buf, d.action.as_bytes());
        let (tag, id) = d.object.tag_and_id();
        buf.push(tag);
        put_opt_uuid(&mut buf, id);
        match &d.outcome {
            AuditOutcome::Success => buf.push(0),
            AuditOutcome::Refused { code, message } => {
                buf.push(1);
                put(&mut buf, code.as_bytes());
                put(&mut buf, message.as_bytes());
            }
            AuditOutcome::Failed { message } => {
                buf.push(2);
                put(&mut buf, message.as_bytes());
            }
        }
        put_opt_str(&mut buf, d.notes.as_deref());
        put(&mut buf, &self.prev_hash.0);
        buf
    }

    /// SHA-256 of [`AuditEvent::canonical_bytes`].
    pub fn compute_hash(&self) -> ChainHash {
        ChainHash(Sha256::digest(self.canonical_bytes()).into())
    }
}

/// Verifies a whole chain from its first event (UC-AUDIT "verify the hash chain").
pub fn verify_chain(events: &[AuditEvent]) -> Result<()> {
    verify_chain_after(None, events)
}

/// Verifies `events` as the continuation of `prev` (a page of a longer chain).
pub fn verify_chain_after(prev: Option<&AuditEvent>, events: &[AuditEvent]) -> Result<()> {
    let mut expected_prev = prev.map_or(ChainHash::GENESIS, |p| p.hash);
    let mut expected_seq = prev.map_or(0, |p| p.seq.saturating_add(1));
    for (index, event) in events.iter().enumerate() {
        if event.seq != expected_seq {
            return Err(Error::AuditChainBroken { index, reason: "sequence number out of order" });
        }
        if event.prev_hash != expected_prev {
            return Err(Error::AuditChainBroken { index, reason: "previous hash does not match" });
        }
        if event.compute_hash() != event.hash {
            return Err(Error::AuditChainBroken { index, reason: "content does not match its hash" });
        }
        expected_prev = event.hash;
        expected_seq = expected_seq.saturating_add(1);
    }
    Ok(())
}
