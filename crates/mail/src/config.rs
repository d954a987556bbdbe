//! Where mail goes, from one URL-ish string (a `serve` flag) or by hand.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::secret::SecretText;

/// The sender when none is configured (the embedded mailbox only needs one
/// for its headers).
pub const DEFAULT_FROM: &str = "cardstation@localhost";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtp://` (default port 587): plain connect, then STARTTLS, which is
    /// required: a server that does not offer it gets nothing (no silent
    /// downgrade that would put the code and password on the wire).
    StartTls,
    /// `smtps://` (default port 465): TLS from the first byte.
    ImplicitTls,
    /// `smtp+plain://` (default port 25): no TLS at all, accepted only for a
    /// loopback host: a test server, or a relay on the same machine. Off the
    /// machine the code and the password would cross the network in clear.
    PlainLoopback,
}

/// An SMTP submission server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Host name or IP address; also the name its certificate must carry.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TLS mode.
    pub security: Security,
    /// AUTH login (PLAIN or LOGIN, only over TLS unless loopback).
    pub username: Option<String>,
    /// AUTH password: set with [`MailConfig::with_password`], never in the URL
    /// (URLs end up in process lists, shell history and logs).
    pub password: Option<SecretText>,
    /// A PEM file of extra root certificates (a private CA), trusted in
    /// addition to the built-in public roots.
    pub ca_file: Option<PathBuf>,
    /// Bound on connecting and on one whole delivery (connect, TLS, AUTH,
    /// the message). A timeout after the message was sent may hide an
    /// acceptance: the retry is then the one duplicate, same Message-ID.
    pub timeout: Duration,
}

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// An SMTP server.
    Smtp(SmtpConfig),
    /// The local mailbox directory (embedded default).
    Mailbox(PathBuf),
}

/// The mail settings of a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    /// Where messages go.
    pub delivery: Delivery,
    /// The `From:` and envelope sender; [`DEFAULT_FROM`] if unset (only
    /// accepted for the mailbox: a real server needs a real sender).
    pub from: Option<String>,
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not `smtp://`, `smtps://`, `smtp+plain://` or `mailbox:`.
    #[error("mail URL: {0}")]
    Url(String),
    /// `user:password@` in the URL.
    #[error(
        "mail URL: no password in the URL (it would end up in logs and process lists); give it separately"
    )]
    PasswordInUrl,
    /// `smtp+plain://` to a host that is not loopback.
    #[error("mail URL: smtp+plain:// (no TLS) is only for a loopback host, not {0}")]
    PlainNotLoopback(String),
    /// SMTP without `from=`.
    #[error("mail: a sender address (from) is required for SMTP")]
    MissingFrom,
    /// A username without a password, or the reverse.
    #[error("mail: a username and a password go together")]
    HalfCredentials,
    /// The sender address is not valid.
    #[error("mail: {0}")]
    From(#[from] crate::message::MessageError),
    /// The CA file is missing or not PEM certificates.
    #[error("mail: CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The mailbox directory cannot be made.
    #[error("mail: mailbox {path}: {source}")]
    Mailbox {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// lettre refused the TLS settings.
    #[error("mail: TLS settings: {0}")]
    Tls(String),
}

impl MailConfig {
    /// The embedded default: `<data_dir>/mailbox/`.
    pub fn embedded_default(data_dir: &Path) -> MailConfig {
        MailConfig { delivery: Delivery::Mailbox(data_dir.join("mailbox")), from: None }
    }

    /// Parses `mailbox:<dir>` or `smtp[s|+plain]://[user@]host[:port][?from=…&ca=…&timeout=…]`
    /// (`timeout` in seconds; `ca` a PEM path; percent-encoding as in URLs).
    pub fn parse(text: &str) -> Result<MailConfig, ConfigError> {
        if let Some(dir) = text.strip_prefix("mailbox:") {
            if dir.is_empty() {
                return Err(ConfigError::Url("mailbox: needs a directory".into()));
            }
            return Ok(MailConfig { delivery: Delivery::Mailbox(PathBuf::from(dir)), from: None });
        }
        let url = url::Url::parse(text).map_err(|e| ConfigError::Url(e.to_string()))?;
        let (security, default_port) = match url.scheme() {
            "smtp" => (Security::StartTls, 587),
            "smtps" => (Security::ImplicitTls, 465),
            "smtp+plain" => (Security::PlainLoopback, 25),
            other => {
                return Err(ConfigError::Url(format!(
                    "unknown scheme {other:?} (smtp, smtps, smtp+plain, mailbox)"
                )))
            }
        };
        if url.password().is_some() {
            return Err(ConfigError::PasswordInUrl);
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(ConfigError::Url("no host".into())),
        };
        if url.path() != "" && url.path() != "/" {
            return Err(ConfigError::Url("no path expected".into()));
        }
        let username = match url.username() {
            "" => None,
            user => Some(
                percent_decode(user)
                    .ok_or_else(|| ConfigError::Url("username: invalid percent-encoding".into()))?,
            ),
        };
        let mut smtp = SmtpConfig {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            username,
            password: None,
            ca_file: None,
            timeout: DEFAULT_TIMEOUT,
        };
        let mut from = None;
        for (key, value) in url.query_pairs() {
            match &*key {
                "from" => from = Some(value.into_owned()),
                "ca" => smtp.ca_file = Some(PathBuf::from(&*value)),
                "timeout" => {
                    let seconds: u64 = value
                        .parse()
                        .ok()
                        .filter(|s| (1..=600).contains(s))
                        .ok_or_else(|| ConfigError::Url("timeout: whole seconds, 1 to 600".into()))?;
                    smtp.timeout = Duration::from_secs(seconds);
                }
                other => {
                    return Err(ConfigError::Url(format!("unknown parameter {other:?} (from, ca, timeout)")))
                }
            }
        }
        let config = MailConfig { delivery: Delivery::Smtp(smtp), from };
        config.check()?;
        Ok(config)
    }

    /// Sets the SMTP password (ignored for the mailbox).
    pub fn with_password(mut self, password: SecretText) -> Self {
        if let Delivery::Smtp(smtp) = &mut self.delivery {
            smtp.password = Some(password);
        }
        self
    }

    /// Sets the sender address.
    pub fn with_from(mut self, from: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self
    }

    /// The sender, defaulted.
    pub fn from_address(&self) -> &str {
        self.from.as_deref().unwrap_or(DEFAULT_FROM)
    }

    /// Checks what can be checked without the network or the file system.
    pub fn check(&self) -> Result<(), ConfigError> {
        crate::message::parse_address(self.from_address(), "from")?;
        if let Delivery::Smtp(smtp) = &self.delivery {
            if smtp.security == Security::PlainLoopback && !is_loopback(&smtp.host) {
                return Err(ConfigError::PlainNotLoopback(smtp.host.clone()));
            }
            if self.from.is_none() {
                return Err(ConfigError::MissingFrom);
            }
        }
        Ok(())
    }

    /// For logs: the delivery without any secret.
    pub fn describe(&self) -> String {
        match &self.delivery {
            Delivery::Mailbox(dir) => format!("local mailbox {}", dir.display()),
            Delivery::Smtp(s) => {
                let mode = match s.security {
                    Security::StartTls => "STARTTLS",
                    Security::ImplicitTls => "implicit TLS",
                    Security::PlainLoopback => "no TLS, loopback",
                };
                let auth = if s.username.is_some() { ", with AUTH" } else { "" };
                format!("SMTP {}:{} ({mode}{auth})", s.host, s.port)
            }
        }
    }
}

impl FromStr for MailConfig {
    type Err = ConfigError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        MailConfig::parse(text)
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn smtp(config: &MailConfig) -> &SmtpConfig {
        match &config.delivery {
            Delivery::Smtp(s) => s,
            Delivery::Mailbox(_) => panic!("smtp expected"),
        }
    }

    #[test]
    fn parses_the_schemes() {
        let c = MailConfig::parse("smtp://mailer%40corp@mail.example.org?from=registry@example.org").unwrap();
        assert_eq!(smtp(&c).port, 587);
        assert_eq!(smtp(&c).security, Security::StartTls);
        assert_eq!(smtp(&c).username.as_deref(), Some("mailer@corp"));
        let c = MailConfig::parse("smtps://mail.example.org?from=r@example.org&ca=/etc/ca.pem&timeout=5")
            .unwrap();
        assert_eq!((smtp(&c).port, smtp(&c).security), (465, Security::ImplicitTls));
        assert_eq!(smtp(&c).ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(smtp(&c).timeout, Duration::from_secs(5));
        let c = MailConfig::parse("smtp+plain://127.0.0.1:2525?from=r@example.org").unwrap();
        assert_eq!((smtp(&c).port, smtp(&c).security), (2525, Security::PlainLoopback));
        assert!(MailConfig::parse("smtp+plain://[::1]?from=r@example.org").is_ok());
        let c = MailConfig::parse("mailbox:/var/lib/registry/mailbox").unwrap();
        assert_eq!(c.delivery, Delivery::Mailbox("/var/lib/registry/mailbox".into()));
        assert_eq!(c.from_address(), DEFAULT_FROM);
    }

    #[test]
    fn refuses_what_cannot_be_safe() {
        assert!(matches!(MailConfig::parse("smtp://u:pw@h?from=a@b.org"), Err(ConfigError::PasswordInUrl)));
        assert!(matches!(
            MailConfig::parse("smtp+plain://mail.example.org?from=a@b.org"),
            Err(ConfigError::PlainNotLoopback(_))
        ));
        assert!(matches!(MailConfig::parse("smtp://h"), Err(ConfigError::MissingFrom)));
        assert!(matches!(MailConfig::parse("smtp://h?from=a%0d%0aBcc:x@y.org"), Err(ConfigError::From(_))));
        for bad in [
            "http://h",
            "mailbox:",
            "smtp://h?from=a@b.org&x=1",
            "smtp://h?from=a@b.org&timeout=0",
            "smtp://h/x?from=a@b.org",
            "",
            "smtp://",
        ] {
            assert!(MailConfig::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_password_never_shows() {
        let c = MailConfig::parse("smtp://u@h?from=a@b.org")
            .unwrap()
            .with_password(SecretText::new("hunter2-pw"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!c.describe().contains("hunter2"));
    }
}
