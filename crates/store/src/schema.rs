//! Schema versions and migrations.
//!
//! A fresh database is created from `sql/schema.sql` (the current version).
//! An older one is brought forward by the numbered scripts in
//! `sql/migrations/`, each run in the same transaction as the version bump,
//! so a crash mid-upgrade leaves the old version intact. Every released
//! schema is frozen in `sql/frozen/` and never edited: the upgrade tests
//! build databases from those files, fill them, upgrade them and check the
//! data survived and the result matches a fresh database.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// The schema version this program writes.
pub const CURRENT_VERSION: u32 = 5;

/// The current schema, for fresh databases.
pub const CURRENT: &str = include_str!("../sql/schema.sql");

/// Released schemas, exactly as they shipped (index 0 is version 1).
pub const FROZEN: &[(u32, &str)] = &[
    (1, include_str!("../sql/frozen/v1.sql")),
    (2, include_str!("../sql/frozen/v2.sql")),
    (3, include_str!("../sql/frozen/v3.sql")),
    (4, include_str!("../sql/frozen/v4.sql")),
];

/// Migration scripts: `(version reached, script)`, in order.
const MIGRATIONS: &[(u32, &str)] = &[
    (2, include_str!("../sql/migrations/002_request_search.sql")),
    (3, include_str!("../sql/migrations/003_journal.sql")),
    (4, include_str!("../sql/migrations/004_batches.sql")),
    (5, include_str!("../sql/migrations/005_outbox_operator.sql")),
];

/// The schema version recorded in the database (0: empty database).
pub fn version(conn: &Connection) -> Result<u32> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Creates or upgrades the schema to [`CURRENT_VERSION`], in one transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    if found > CURRENT_VERSION {
        return Err(Error::SchemaTooNew { found, supported: CURRENT_VERSION });
    }
    if found == CURRENT_VERSION {
        return Ok(());
    }
    if found == 0 {
        tx.execute_batch(CURRENT)?;
    } else {
        for (_, script) in MIGRATIONS.iter().filter(|(to, _)| *to > found) {
            tx.execute_batch(script)?;
        }
    }
    tx.pragma_update(None, "user_version", CURRENT_VERSION)?;
    tx.commit()?;
    Ok(())
}
