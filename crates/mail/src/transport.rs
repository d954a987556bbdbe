//! Delivering one message: over SMTP (lettre) or into the local mailbox.

use std::fmt;
use std::sync::Arc;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};

use crate::config::{ConfigError, Delivery, MailConfig, Security, SmtpConfig};
use crate::mailbox::Mailbox;
use crate::message::{format_message, Outgoing};

/// Why a delivery failed, and whether trying later can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    class: Class,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Transient,
    Unreachable,
    Permanent,
    Invalid,
}

impl DeliveryError {
    /// Worth retrying later, about this message: a 4xx answer to it.
    pub fn transient(message: impl Into<String>) -> Self {
        DeliveryError { class: Class::Transient, message: message.into() }
    }

    /// Worth retrying later, and not about this message: no connection, a
    /// timeout, TLS or credentials refused (fixing the configuration fixes
    /// it), a full disk. The other messages wait too.
    pub fn unreachable(message: impl Into<String>) -> Self {
        DeliveryError { class: Class::Unreachable, message: message.into() }
    }

    /// The server answered 5xx to this message.
    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError { class: Class::Permanent, message: message.into() }
    }

    /// The message itself cannot be sent (invalid address, header
    /// injection): given up at the first attempt.
    pub fn invalid(message: impl Into<String>) -> Self {
        DeliveryError { class: Class::Invalid, message: message.into() }
    }

    /// Whether retrying cannot help (a 5xx answer, or an invalid message).
    pub fn is_permanent(&self) -> bool {
        matches!(self.class, Class::Permanent | Class::Invalid)
    }

    /// Whether the message itself is at fault.
    pub fn is_invalid(&self) -> bool {
        self.class == Class::Invalid
    }

    /// Whether nothing can be delivered now (see [`DeliveryError::unreachable`]).
    pub fn is_unreachable(&self) -> bool {
        self.class == Class::Unreachable
    }

    /// What happened (no secret: never the body, never the password).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Where [`Transport::deliver`] puts a message.
#[derive(Clone)]
pub struct Transport {
    kind: Kind,
    /// Bound on one whole SMTP delivery (the configured timeout).
    deadline: std::time::Duration,
    from: String,
    describe: String,
}

#[derive(Clone)]
enum Kind {
    Smtp(Arc<AsyncSmtpTransport<Tokio1Executor>>),
    Mailbox(Mailbox),
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport").field("delivery", &self.describe).field("from", &self.from).finish()
    }
}

impl Transport {
    /// Builds the transport: checks the configuration, reads the CA file,
    /// makes the mailbox directory. Connects to nothing yet.
    pub fn new(config: &MailConfig) -> Result<Transport, ConfigError> {
        config.check()?;
        let deadline = match &config.delivery {
            Delivery::Smtp(smtp) => smtp.timeout,
            Delivery::Mailbox(_) => std::time::Duration::ZERO,
        };
        let kind = match &config.delivery {
            Delivery::Mailbox(dir) => Kind::Mailbox(Mailbox::open(dir).map_err(|e| match e {
                crate::mailbox::MailboxError::Io { path, source } => ConfigError::Mailbox { path, source },
                other => ConfigError::Mailbox {
                    path: dir.clone(),
                    source: std::io::Error::other(other.to_string()),
                },
            })?),
            Delivery::Smtp(smtp) => Kind::Smtp(Arc::new(smtp_transport(smtp)?)),
        };
        Ok(Transport { kind, deadline, from: config.from_address().to_owned(), describe: config.describe() })
    }

    /// The local mailbox, when that is where mail goes (for the app's view).
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match &self.kind {
            Kind::Mailbox(m) => Some(m),
            Kind::Smtp(_) => None,
        }
    }

    /// For logs: where mail goes, without secrets.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Hands `message` over: `Ok` once the SMTP server accepted it (or the
    /// mailbox file is in place).
    pub async fn deliver(&self, message: &Outgoing) -> Result<(), DeliveryError> {
        let (envelope, bytes) =
            format_message(message, &self.from).map_err(|e| DeliveryError::invalid(e.to_string()))?;
        match &self.kind {
            Kind::Smtp(smtp) => {
                // lettre ends DATA with CRLF . CRLF itself: the message's own
                // last line break would otherwise reach the reader as an
                // extra empty line.
                let raw = bytes.strip_suffix(b"\r\n").unwrap_or(&bytes);
                // lettre bounds the connect only; a server that stops
                // answering mid-session must not hold the dispatcher.
                match tokio::time::timeout(self.deadline, smtp.send_raw(&envelope, raw)).await {
                    Ok(sent) => sent.map(drop).map_err(|e| classify(&e)),
                    Err(_) => Err(DeliveryError::unreachable(format!(
                        "no answer from the SMTP server within {:?}",
                        self.deadline
                    ))),
                }
            }
            Kind::Mailbox(mailbox) => {
                let mailbox = mailbox.clone();
                let (id, created_at) = (message.id, message.created_at);
                tokio::task::spawn_blocking(move || mailbox.store(id, created_at, &bytes))
                    .await
                    .map_err(|e| DeliveryError::unreachable(format!("mailbox: {e}")))?
                    .map(drop)
                    .map_err(|e| DeliveryError::unreachable(e.to_string()))
            }
        }
    }
}

fn smtp_transport(smtp: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, ConfigError> {
    let tls = |host: &str| -> Result<TlsParameters, ConfigError> {
        let mut builder = TlsParameters::builder(host.to_owned());
        if let Some(path) = &smtp.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| ConfigError::CaFile { path: path.clone(), reason: e.to_string() })?;
            let certificate = Certificate::from_pem(&pem)
                .map_err(|e| ConfigError::CaFile { path: path.clone(), reason: e.to_string() })?;
            builder = builder.add_root_certificate(certificate);
        }
        builder.build_rustls().map_err(|e| ConfigError::Tls(e.to_string()))
    };
    let tls = match smtp.security {
        Security::StartTls => Tls::Required(tls(&smtp.host)?),
        Security::ImplicitTls => Tls::Wrapper(tls(&smtp.host)?),
        Security::PlainLoopback => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host.clone())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(smtp.timeout));
    match (&smtp.username, &smtp.password) {
        (Some(user), Some(password)) => {
            // lettre keeps its own (non-zeroizing) copy for the transport's life.
            builder = builder
                .credentials(Credentials::new(user.clone(), password.expose().to_owned()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        (None, None) => {}
        _ => return Err(ConfigError::HalfCredentials),
    }
    Ok(builder.build())
}

/// Sorts lettre's error into "later" or "never", and says what happened.
fn classify(error: &lettre::transport::smtp::Error) -> DeliveryError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    let code = error.status().map(|c| c.to_string());
    // 530/534/535/538: the server refused our credentials or wants
    // stronger ones; a configuration matter, not this message's.
    let credentials = matches!(code.as_deref(), Some("530" | "534" | "535" | "538"));
    if error.is_permanent() && !credentials {
        DeliveryError::permanent(message)
    } else if code.is_none() || credentials {
        // No answer at all (refused, timed out, TLS failed) or refused
        // credentials: every message would fail alike.
        DeliveryError::unreachable(message)
    } else {
        DeliveryError::transient(message)
    }
}
