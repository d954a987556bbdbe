//! The registry's local mailbox over the network (UC-PROV: "the embedded
//! default keeps it in a local mailbox viewable in the app"): when mail is
//! delivered to the registry's data directory instead of an SMTP server, an
//! administrator reads it with `GET /v1/admin/mailbox`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// One message in the local mailbox, with its text (an enrollment email
/// carries the recipient's one-time code: only an administrator reads it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MailboxMessageView {
    /// The message's outbox id (also in its Message-ID).
    pub id: Uuid,
    /// The recipient.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// When it was queued (its `Date:`).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub date: OffsetDateTime,
    /// The plain text.
    pub body: String,
}

/// `GET /v1/admin/mailbox`: every message delivered to the local mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MailboxListing {
    /// Newest first.
    pub messages: Vec<MailboxMessageView>,
}
