//! The local mailbox for administrators (UC-PROV: "the embedded default
//! keeps it in a local mailbox viewable in the app"). Reading it shows the
//! enrollment codes of every message, so it takes Administer and is audited.

use domain::{AuditObject, AuditOutcome, GlobalPermission, Permission, UseCase};
use proto::{MailboxListing, MailboxMessageView};

use crate::audit_trail::{append_audit, audit_draft};
use crate::caller::Caller;
use crate::error::Error;
use crate::fault::{Fault, Served};
use crate::service::Registry;
use crate::storage;

/// Why there is nothing to read when mail goes to an SMTP server.
pub const NO_LOCAL_MAILBOX: &str = "this registry keeps no local mailbox: its mail goes to an SMTP \
     server, so read the messages in the recipients' mailboxes";

impl Registry {
    /// Every message in the local mailbox, newest first, with its text
    /// (Administer). Not found when mail goes to an SMTP server.
    pub fn mailbox(&self, caller: &Caller) -> Served<MailboxListing> {
        caller.actor.require_use_case(UseCase::Admin).map_err(Fault::Forbidden)?;
        caller.actor.require(Permission::global(GlobalPermission::Administer)).map_err(Fault::Forbidden)?;
        let mailbox = self.mailbox.get().ok_or_else(|| Fault::NotFound(NO_LOCAL_MAILBOX.into()))?;
        let entries = mailbox.list().map_err(|e| Fault::Internal(Error::Storage(format!("mailbox: {e}"))))?;
        let mut messages = Vec::with_capacity(entries.len());
        for entry in entries.iter().rev() {
            // Gone between the listing and the read: left out.
            let Some(message) = mailbox
                .read(entry.id)
                .map_err(|e| Fault::Internal(Error::Storage(format!("mailbox: {e}"))))?
            else {
                continue;
            };
            messages.push(MailboxMessageView {
                id: message.id,
                to: message.to,
                subject: message.subject,
                date: message.date,
                body: message.body.expose().to_owned(),
            });
        }
        messages.sort_by_key(|m| std::cmp::Reverse(m.date));
        let now = self.clock.now();
        let shown = messages.len();
        storage::write(self.storage(), |tx| {
            let mut draft = audit_draft(
                now,
                Some(caller.operator),
                "mailbox.read",
                AuditObject::None,
                AuditOutcome::Success,
                Some(format!("{shown} messages shown")),
            );
            draft.workstation = caller.actor.workstation;
            append_audit(tx, draft).map(drop)
        })?;
        Ok(MailboxListing { messages })
    }
}
