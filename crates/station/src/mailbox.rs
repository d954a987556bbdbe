//! The registry's local mailbox for an administrator (UC-PROV: "the
//! embedded default keeps it in a local mailbox viewable in the app"). Read
//! from the registry each time (Administer; the registry audits the read);
//! nothing of it is kept at the station.

use domain::{GlobalPermission, Permission};
use proto::MailboxListing;
use serde::Serialize;
use uuid::Uuid;

use crate::error::Result;
use crate::session::Session;

/// One message as the Mailbox screen lists and shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct MailRow {
    /// The message's id (keys only).
    pub id: Uuid,
    /// The recipient.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// When it was queued (RFC 3339).
    pub date: String,
    /// The plain text (an enrollment email carries the recipient's code).
    pub body: String,
}

impl Session {
    /// The messages in the registry's local mailbox, newest first
    /// (Administer). The registry answers `not-found` when its mail goes to
    /// an SMTP server instead.
    pub fn mailbox(&self) -> Result<Vec<MailRow>> {
        self.actor().require(Permission::global(GlobalPermission::Administer))?;
        let listing: MailboxListing =
            self.runtime.block_on(self.remote.view(&self.grant.token, "/v1/admin/mailbox"))?;
        Ok(listing
            .messages
            .into_iter()
            .map(|m| MailRow {
                id: m.id,
                to: m.to,
                subject: m.subject,
                date: m.date.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                body: m.body,
            })
            .collect())
    }
}
