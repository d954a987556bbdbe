//! Outgoing mail for the registry (issue 15, SPEC UC-PROV): enrollment
//! messages carry a one-time code, so they are sent at most once per resend
//! and never lost while the mail server is down.
//!
//! - [`Outgoing`]: one message as the registry's outbox keeps it; formatted
//!   here as a plain-text RFC 5322 message whose Message-ID derives from its
//!   id, so a receiver can recognise the one duplicate we cannot rule out (a
//!   crash between the server's acceptance and [`Outbox::sent`]).
//! - [`MailConfig`]: `smtp://` (STARTTLS required), `smtps://` (implicit TLS),
//!   `smtp+plain://` (loopback only) or `mailbox:<dir>` (the embedded
//!   default: one `.eml` file per message, viewable in the app through
//!   [`Mailbox`]).
//! - [`Transport`]: delivers one message; a [`DeliveryError`] says whether
//!   trying again later can help.
//! - [`Dispatcher`]: drains an [`Outbox`] with exponential backoff and jitter,
//!   woken at once through a [`Waker`] when a message is queued.
//!
//! Wiring it into a server (the outbox is the registry's table):
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use mail::*;
//! # struct Table;
//! # impl Outbox for Table {
//! #     fn due(&self, _: usize, _: time::OffsetDateTime) -> Result<Vec<Outgoing>, OutboxError> { Ok(vec![]) }
//! #     fn next_attempt(&self) -> Result<Option<time::OffsetDateTime>, OutboxError> { Ok(None) }
//! #     fn sent(&self, _: uuid::Uuid, _: time::OffsetDateTime) -> Result<(), OutboxError> { Ok(()) }
//! #     fn failed(&self, _: uuid::Uuid, _: &str, _: bool, _: time::OffsetDateTime) -> Result<(), OutboxError> { Ok(()) }
//! # }
//! # async fn serve(data_dir: &std::path::Path, flag: Option<&str>, password: Option<String>) -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = match flag {
//!     Some(url) => MailConfig::parse(url)?, // e.g. smtp://mailer@mail.example.org?from=registry@example.org
//!     None => MailConfig::embedded_default(data_dir),
//! };
//! if let Some(password) = password {
//!     config = config.with_password(SecretText::new(password));
//! }
//! let dispatcher = Arc::new(Dispatcher::new(Arc::new(Table), Transport::new(&config)?, DispatcherConfig::default()));
//! let waker = dispatcher.waker(); // after committing a new outbox row: waker.wake()
//! let running = Arc::clone(&dispatcher);
//! tokio::spawn(async move { running.run(std::future::pending()).await });
//! # let _ = waker; Ok(()) }
//! ```

mod config;
mod dispatch;
mod mailbox;
mod message;
mod secret;
mod transport;

pub use config::{ConfigError, Delivery, MailConfig, Security, SmtpConfig, DEFAULT_FROM};
pub use dispatch::{Dispatcher, DispatcherConfig, Outbox, OutboxError, PassReport, Waker};
pub use mailbox::{Mailbox, MailboxEntry, MailboxError, MailboxMessage};
pub use message::{format_message, MessageError, Outgoing};
pub use secret::SecretText;
pub use transport::{DeliveryError, Transport};
