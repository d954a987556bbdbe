//! Timestamps as stored: RFC 3339 text in UTC, so they sort as text and read
//! the same in any SQLite shell.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::error::{Error, Result};

/// RFC 3339 in UTC. Formatting a valid `OffsetDateTime` as RFC 3339 only
/// fails for years outside 0..=9999, which the store maps to the epoch's
/// text rather than panicking (such dates do not occur in this domain).
pub(crate) fn format(at: OffsetDateTime) -> String {
    at.to_offset(UtcOffset::UTC).format(&Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Parses a stored timestamp.
pub(crate) fn parse(text: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| Error::BadTimestamp(text.to_owned()))
}
