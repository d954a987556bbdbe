//! The change feed (SPEC §6): everything that changed at the registry since
//! a cursor, in commit order, paged.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::error::Error;

/// A record as it now is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "record", rename_all = "snake_case")]
pub enum Record {
    /// A person.
    Person(domain::Person),
    /// One version of a credential profile.
    Profile(domain::CredentialProfile),
    /// A device.
    Device(domain::Device),
    /// A certificate.
    Certificate(domain::Certificate),
    /// A request.
    Request(domain::Request),
    /// A temporary card (UC-TEMP).
    TemporaryCard(domain::TemporaryCard),
}

impl Record {
    /// Every record type name, as in the JSON `type`.
    pub const TYPES: [&'static str; 6] =
        ["person", "profile", "device", "certificate", "request", "temporary_card"];

    /// The record type's name (`person`, `profile`, …).
    pub const fn type_name(&self) -> &'static str {
        match self {
            Record::Person(_) => "person",
            Record::Profile(_) => "profile",
            Record::Device(_) => "device",
            Record::Certificate(_) => "certificate",
            Record::Request(_) => "request",
            Record::TemporaryCard(_) => "temporary_card",
        }
    }

    /// The record's id (profiles: the profile id; versions share it).
    pub fn id(&self) -> uuid::Uuid {
        match self {
            Record::Person(p) => p.id.0,
            Record::Profile(p) => p.id.0,
            Record::Device(d) => d.id.0,
            Record::Certificate(c) => c.id.0,
            Record::Request(r) => r.id.0,
            Record::TemporaryCard(t) => t.id.0,
        }
    }
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    /// Position in the feed (strictly increasing).
    pub seq: u64,
    /// When the registry committed it.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The record after the change.
    pub record: Record,
}

/// Where a reader of the feed stands: everything up to it has been read.
/// Opaque to clients; they send back the `next_cursor` they were given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor(pub u64);

impl Cursor {
    /// Before the first change.
    pub const START: Cursor = Cursor(0);
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::InvalidCursor(s.chars().take(40).collect()));
        }
        s.parse().map(Cursor).map_err(|_| Error::InvalidCursor(s.to_owned()))
    }
}

/// Query of `GET /v1/changes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// The `next_cursor` of the previous page; absent: from the start.
    pub since: Option<String>,
    /// Page size, 1 to 1000 (default 500).
    pub limit: Option<u32>,
}

/// One page of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChangesPage {
    /// Changes after the cursor, oldest first.
    pub changes: Vec<Change>,
    /// Send this as `since` for the next page.
    pub next_cursor: String,
    /// Whether more changes follow right away.
    pub more: bool,
}

impl utoipa::PartialSchema for Record {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .description(Some(
                "A record as it now is: `type` names it, `record` is the domain entity's JSON.",
            ))
            .property("type", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(Record::TYPES)))
            .required("type")
            .property("record", ObjectBuilder::new().schema_type(Type::Object))
            .required("record")
            .into()
    }
}

impl ToSchema for Record {}
