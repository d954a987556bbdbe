//! How the human output reads: times in one form, names in words, lists in
//! aligned columns. Every command's text goes through these so a new
//! operator sees one style; `--json` keeps the machine forms (RFC 3339,
//! snake_case) and never passes through here.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// `2026-12-07 14:03 UTC`: the minute is what an operator acts on (a
/// session's end, when something was queued). Always UTC, so two stations
/// in different zones print the same text.
pub fn time(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.to_offset(UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// `2026-12-07 14:03:05 UTC`: for the audit trail, where the order of events
/// within a minute matters. Never finer: nanoseconds are noise to people.
pub fn time_seconds(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    at.to_offset(UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// `2026-12-07`: for deadlines that count whole days (provisioning stop dates).
pub fn date(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]");
    at.to_offset(UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// A time the station hands over as RFC 3339 text (its views are shared
/// with the app), shown like [`time`]; anything else as it came.
pub fn time_text(rfc3339: &str) -> String {
    OffsetDateTime::parse(rfc3339, &Rfc3339).map(time).unwrap_or_else(|_| rfc3339.to_owned())
}

/// `pending_approval` → `pending approval`, `generate-key` → `generate key`:
/// stored names read as words.
pub fn words(name: &str) -> String {
    name.replace(['_', '-'], " ")
}

/// A value's serde name in words (`OnHold` → `on hold`), for the domain's
/// `snake_case` enums, instead of their Rust `Debug` spelling.
pub fn wire_words(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => words(&s),
        // Internally tagged (`{"state": "revoked", "reason": …}`): the tag's value.
        Ok(serde_json::Value::Object(o)) => ["state", "kind", "step"]
            .iter()
            .find_map(|tag| o.get(*tag).and_then(|v| v.as_str()))
            .map(words)
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// `1 card`, `2 cards`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Rows printed in aligned columns, two spaces apart, with an optional
/// header line; the last column is not padded (no trailing blanks).
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
    indent: usize,
}

impl Table {
    /// A table whose first line names the columns.
    pub fn with_header(header: &[&str]) -> Table {
        Table { rows: vec![header.iter().map(|h| (*h).to_owned()).collect()], indent: 0 }
    }

    /// A table without a header (lines under a heading of their own).
    pub fn new() -> Table {
        Table::default()
    }

    /// Every line starts with `n` spaces (a table under a heading line).
    pub fn indented(mut self, n: usize) -> Table {
        self.indent = n;
        self
    }

    /// Adds one row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as text, one line per row, each ending in a newline.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut text = String::new();
        for row in &self.rows {
            let mut line = " ".repeat(self.indent);
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_read_to_the_minute_in_utc_without_nanoseconds() {
        let at = datetime!(2026-12-07 15:03:05.123456789 +01:00);
        assert_eq!(time(at), "2026-12-07 14:03 UTC", "converted to UTC, no seconds");
        assert_eq!(time_seconds(at), "2026-12-07 14:03:05 UTC", "seconds, never nanoseconds");
        assert_eq!(date(at), "2026-12-07");
        assert_eq!(time_text("2026-12-07T14:03:05.5Z"), "2026-12-07 14:03 UTC", "the station's RFC 3339");
        assert_eq!(time_text("yesterday"), "yesterday", "anything else is kept");
    }

    #[test]
    fn names_read_as_words() {
        assert_eq!(words("pending_approval"), "pending approval");
        assert_eq!(words("generate-key"), "generate key");
        assert_eq!(wire_words(&domain::CertificateState::OnHold), "on hold", "tagged enum");
        assert_eq!(wire_words(&domain::RequestKind::Reprovision), "reprovision");
        let revoked = domain::CertificateState::Revoked { reason: domain::RevocationReason::KeyCompromise };
        assert_eq!(wire_words(&revoked), "revoked", "the tag, not the reason beside it");
        assert_eq!(count(1, "card", "cards"), "1 card");
        assert_eq!(count(2, "card", "cards"), "2 cards");
    }

    #[test]
    fn columns_line_up_and_lines_end_without_blanks() {
        let mut table = Table::with_header(&["ID", "NAME", "STATE"]);
        table.row(["1", "Grace Hopper", "active"]);
        table.row(["22", "Ada", ""]);
        assert_eq!(table.render(), "ID  NAME          STATE\n1   Grace Hopper  active\n22  Ada\n");
        let mut under = Table::new().indented(2);
        under.row(["Zoë", "x"]);
        under.row(["Al", "y"]);
        assert_eq!(under.render(), "  Zoë  x\n  Al   y\n", "width counts characters, not bytes");
    }
}
