//! Full-text search (FTS5) over people, devices and requests, with hits
//! that link a person to their devices and requests and a device to its
//! requests, so a result list can be walked without another query.

use domain::{Device, DeviceId, Person, Request, RequestId};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::record;

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Hit {
    /// A person, with their devices and the requests for them.
    Person {
        /// The person.
        person: Person,
        /// Devices they own.
        devices: Vec<DeviceId>,
        /// Requests for them.
        requests: Vec<RequestId>,
    },
    /// A device (its owner is `device.owner`), with its requests.
    Device {
        /// The device.
        device: Device,
        /// Requests concerning it.
        requests: Vec<RequestId>,
    },
    /// A request (its device and person are in the record).
    Request {
        /// The request.
        request: Request,
    },
}

/// Turns what the operator typed into an FTS5 query: every word must match
/// as a prefix; quotes and FTS syntax are neutralised so no input is a
/// query error.
fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .map(|w| w.replace('"', ""))
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[derive(Clone, Copy)]
enum Table {
    People,
    Devices,
    Requests,
}

/// Above this many matches in one table a query is "broad" (a short
/// prefix, a common name): ranking every match with bm25 would cost more
/// than it tells, so the first matches are returned unranked.
const RANK_AT_MOST: i64 = 400;

fn matches(conn: &Connection, table: Table, query: &str, limit: i64) -> Result<Vec<(f64, Table, i64)>> {
    let name = match table {
        Table::People => "people_search",
        Table::Devices => "devices_search",
        Table::Requests => "requests_search",
    };
    // One pass: up to RANK_AT_MOST + 1 matches with their bm25 rank. If
    // that is all of them, sort by rank; otherwise the query is broad and
    // the first matches are returned unranked.
    let sql = format!("SELECT rowid, rank FROM {name} WHERE {name} MATCH ?1 LIMIT ?2");
    let mut rows = conn
        .prepare_cached(&sql)?
        .query_map(rusqlite::params![query, RANK_AT_MOST + 1], |r| {
            Ok((r.get::<_, f64>(1)?, table, r.get::<_, i64>(0)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if rows.len() as i64 > RANK_AT_MOST {
        rows.iter_mut().for_each(|r| r.0 = 0.0);
    } else {
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(rows)
}

fn keys(conn: &Connection, sql: &str, arg: &str) -> Result<Vec<String>> {
    Ok(conn.prepare_cached(sql)?.query_map([arg], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?)
}

fn ids<T: From<uuid::Uuid>>(keys: Vec<String>) -> Vec<T> {
    keys.iter().filter_map(|k| uuid::Uuid::parse_str(k).ok()).map(T::from).collect()
}

fn doc(conn: &Connection, table: &str, n: i64) -> Result<Option<String>> {
    use rusqlite::OptionalExtension;
    let sql = format!("SELECT doc FROM {table} WHERE n = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([n], |r| r.get(0)).optional()?)
}

pub(crate) fn search(conn: &Connection, text: &str, limit: usize) -> Result<Vec<Hit>> {
    let Some(query) = fts_query(text) else {
        return Ok(Vec::new());
    };
    if limit == 0 {
        return Ok(Vec::new());
    }
    let lim = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut found = matches(conn, Table::People, &query, lim)?;
    found.extend(matches(conn, Table::Devices, &query, lim)?);
    found.extend(matches(conn, Table::Requests, &query, lim)?);
    // bm25 rank: lower (more negative) is better; unranked broad matches (0.0) come last.
    found.sort_by(|a, b| a.0.total_cmp(&b.0));
    found.truncate(limit);

    let mut hits = Vec::with_capacity(found.len());
    for (_, table, n) in found {
        match table {
            Table::People => {
                let Some(d) = doc(conn, "people", n)? else { continue };
                let person: Person = record::decode(&d)?;
                let key = person.id.to_string();
                let devices = ids(keys(conn, "SELECT key FROM devices WHERE owner = ?1 ORDER BY n", &key)?);
                let requests =
                    ids(keys(conn, "SELECT key FROM requests WHERE person = ?1 ORDER BY n", &key)?);
                hits.push(Hit::Person { person, devices, requests });
            }
            Table::Devices => {
                let Some(d) = doc(conn, "devices", n)? else { continue };
                let device: Device = record::decode(&d)?;
                let key = device.id.to_string();
                let requests =
                    ids(keys(conn, "SELECT key FROM requests WHERE device = ?1 ORDER BY n", &key)?);
                hits.push(Hit::Device { device, requests });
            }
            Table::Requests => {
                let Some(d) = doc(conn, "requests", n)? else { continue };
                hits.push(Hit::Request { request: record::decode(&d)? });
            }
        }
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn operator_text_becomes_a_safe_prefix_query() {
        assert_eq!(fts_query("  smi  jo ").as_deref(), Some("\"smi\"* \"jo\"*"));
        assert_eq!(fts_query("a\"b OR (").as_deref(), Some("\"ab\"* \"OR\"*"), "syntax is quoted away");
        assert_eq!(fts_query(" \" ( "), None, "nothing searchable");
    }
}
