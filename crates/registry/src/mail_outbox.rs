//! The registry's mail outbox as the `mail` crate's dispatcher drains it:
//! rows written in the same transaction as the operation that caused them
//! (provisioning), bodies opened with the key-encryption key only now, just
//! before delivery. Several registry instances on one database each run a
//! dispatcher: a message is claimed by one of them for [`LEASE`] before it
//! is sent, so it goes out once (again only if its sender died mid-send).

use mail::{OutboxError, Outgoing, SecretText};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::service::Registry;
use crate::storage;

/// How far ahead a message that failed for good is parked: never due again,
/// its error kept for the administrator.
const GIVEN_UP: Duration = Duration::days(365 * 100);

/// How long a claimed message is left to its sender before another
/// instance may send it: far beyond an SMTP exchange's timeouts.
pub const LEASE: Duration = Duration::minutes(10);

/// [`mail::Outbox`] over the registry's database.
#[derive(Debug, Clone)]
pub struct RegistryOutbox(pub Registry);

impl mail::Outbox for RegistryOutbox {
    fn due(&self, limit: usize, now: OffsetDateTime) -> Result<Vec<Outgoing>, OutboxError> {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        let rows = storage::write(self.0.storage(), |tx| tx.claim_mail(limit, now, now + LEASE))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let body = self.0.open_mail_body(&row)?;
            let text = String::from_utf8(body.to_vec()).map_err(|_| "a queued message body is not UTF-8")?;
            let mut outgoing =
                Outgoing::new(row.id, row.recipient, row.subject, SecretText::new(text), row.created_at);
            outgoing.attempts = row.attempts;
            out.push(outgoing);
        }
        Ok(out)
    }

    fn next_attempt(&self) -> Result<Option<OffsetDateTime>, OutboxError> {
        // Not tracked: new mail wakes the dispatcher; its idle poll bounds retries.
        Ok(None)
    }

    fn sent(&self, id: Uuid, at: OffsetDateTime) -> Result<(), OutboxError> {
        Ok(storage::write(self.0.storage(), |tx| tx.mark_mail_sent(id, at))?)
    }

    fn failed(
        &self,
        id: Uuid,
        error: &str,
        permanent: bool,
        next_attempt_at: OffsetDateTime,
    ) -> Result<(), OutboxError> {
        let (error, next) = if permanent {
            (format!("given up: {error}"), OffsetDateTime::now_utc() + GIVEN_UP)
        } else {
            (error.to_owned(), next_attempt_at)
        };
        Ok(storage::write(self.0.storage(), |tx| tx.mark_mail_failed(id, &error, next))?)
    }
}
