//! One outgoing message and its RFC 5322 form (plain text, UTF-8).
//!
//! Formatted here rather than by lettre's builder so the body (it carries an
//! enrollment code) only ever sits in zeroizing buffers; lettre carries the
//! finished bytes over SMTP. The reverse ([`parse_message`]) reads back what
//! [`format_message`] wrote, for the local mailbox.

use std::collections::HashMap;
use std::str::FromStr;

use base64::Engine as _;
use lettre::address::{Address, Envelope};
use time::format_description::well_known::Rfc2822;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::secret::SecretText;

/// Longest subject accepted, in characters: an honest subject is short.
const MAX_SUBJECT: usize = 200;
/// Longest address accepted (RFC 5321's path limit).
const MAX_ADDRESS: usize = 254;
/// Bytes of UTF-8 per RFC 2047 encoded word: 39 bytes are 52 base64
/// characters, 64 with the `=?utf-8?b?…?=` frame: with `Subject: ` still
/// under 78 characters a line.
const WORD_BYTES: usize = 39;
/// Longest quoted-printable line before a soft break (RFC 2045: 76).
const QP_LINE: usize = 76;

/// A message as the registry's outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The outbox row's id; also the Message-ID's left part, so a duplicate
    /// delivery after a crash carries the same Message-ID.
    pub id: Uuid,
    /// The one recipient (for a resend to an alternate address: that
    /// address; the stored one is not touched here).
    pub to: String,
    /// One line, no CR/LF.
    pub subject: String,
    /// The text: what to do, where, until when. Carries the code.
    pub body: SecretText,
    /// When it was queued: the `Date:` header and the mailbox file's name.
    pub created_at: OffsetDateTime,
    /// Failed deliveries so far, as the outbox counts them.
    pub attempts: u32,
}

impl Outgoing {
    /// A message not tried yet.
    pub fn new(
        id: Uuid,
        to: impl Into<String>,
        subject: impl Into<String>,
        body: SecretText,
        created_at: OffsetDateTime,
    ) -> Self {
        Outgoing { id, to: to.into(), subject: subject.into(), body, created_at, attempts: 0 }
    }
}

/// Why a message cannot be formatted: nothing here is worth retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A CR or LF where a header goes: would let the text add headers.
    #[error("{field} contains a line break (header injection refused)")]
    HeaderInjection {
        /// `to`, `from` or `subject`.
        field: &'static str,
    },
    /// Not a plain `user@domain` address.
    #[error("{field} is not a valid address: {reason}")]
    InvalidAddress {
        /// `to` or `from`.
        field: &'static str,
        /// What is wrong (the address itself is not repeated).
        reason: String,
    },
    /// A subject with control characters or too long.
    #[error("invalid subject: {0}")]
    InvalidSubject(String),
    /// A date the `Date:` header cannot express.
    #[error("invalid date: {0}")]
    InvalidDate(String),
}

/// Checks an address: ASCII `user@domain` (no SMTPUTF8), no controls.
pub(crate) fn parse_address(text: &str, field: &'static str) -> Result<Address, MessageError> {
    if text.contains(['\r', '\n']) {
        return Err(MessageError::HeaderInjection { field });
    }
    let invalid = |reason: &str| MessageError::InvalidAddress { field, reason: reason.to_owned() };
    if text.is_empty() {
        return Err(invalid("empty"));
    }
    if text.len() > MAX_ADDRESS {
        return Err(invalid("longer than 254 characters"));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("only printable ASCII without spaces is accepted"));
    }
    Address::from_str(text).map_err(|e| invalid(&e.to_string()))
}

fn check_subject(subject: &str) -> Result<(), MessageError> {
    if subject.contains(['\r', '\n']) {
        return Err(MessageError::HeaderInjection { field: "subject" });
    }
    if subject.chars().any(char::is_control) {
        return Err(MessageError::InvalidSubject("control characters".into()));
    }
    if subject.chars().count() > MAX_SUBJECT {
        return Err(MessageError::InvalidSubject(format!("longer than {MAX_SUBJECT} characters")));
    }
    Ok(())
}

/// The Message-ID for `id`: the same on every attempt and every resend
/// of that outbox row.
pub(crate) fn message_id(id: Uuid, from: &Address) -> String {
    format!("<{}@{}>", id.hyphenated(), from.domain())
}

/// The SMTP envelope and the message bytes (CRLF line ends, quoted-printable
/// body) for `message` from `from`, or why it cannot be sent.
pub fn format_message(
    message: &Outgoing,
    from: &str,
) -> Result<(Envelope, Zeroizing<Vec<u8>>), MessageError> {
    let from = parse_address(from, "from")?;
    let to = parse_address(&message.to, "to")?;
    check_subject(&message.subject)?;
    let date = message
        .created_at
        .to_offset(UtcOffset::UTC)
        .format(&Rfc2822)
        .map_err(|e| MessageError::InvalidDate(e.to_string()))?;
    let envelope = Envelope::new(Some(from.clone()), vec![to.clone()])
        .map_err(|e| MessageError::InvalidAddress { field: "to", reason: e.to_string() })?;

    // Room for the worst case (every byte as `=XX`, soft breaks, headers
    // with an encoded 200-character subject): growing would leave a copy
    // of the body behind in the old, unwiped allocation.
    let body_len = message.body.expose().len();
    let mut out = Zeroizing::new(Vec::with_capacity(2048 + body_len * 3 + body_len / 16));
    let mut header = |name: &str, value: &str| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    header("Date", &date);
    header("From", from.as_ref());
    header("To", to.as_ref());
    header("Subject", &encode_subject(&message.subject));
    header("Message-ID", &message_id(message.id, &from));
    header("MIME-Version", "1.0");
    header("Content-Type", "text/plain; charset=utf-8");
    header("Content-Transfer-Encoding", "quoted-printable");
    out.extend_from_slice(b"\r\n");
    encode_quoted_printable(message.body.expose().as_bytes(), &mut out);
    Ok((envelope, out))
}

/// Printable ASCII as it is; anything else (or text that would read as an
/// encoded word) as RFC 2047 base64 encoded words, folded.
fn encode_subject(subject: &str) -> String {
    let plain = subject.bytes().all(|b| (0x20..0x7f).contains(&b)) && !subject.contains("=?");
    if plain {
        return subject.to_owned();
    }
    let mut words = Vec::new();
    let mut start = 0;
    while start < subject.len() {
        let mut end = (start + WORD_BYTES).min(subject.len());
        while !subject.is_char_boundary(end) {
            end -= 1;
        }
        let chunk = &subject.as_bytes()[start..end];
        words.push(format!("=?utf-8?b?{}?=", base64::engine::general_purpose::STANDARD.encode(chunk)));
        start = end;
    }
    words.join("\r\n ")
}

fn decode_subject(value: &str) -> Option<String> {
    if !value.trim_start().starts_with("=?") {
        return Some(value.to_owned());
    }
    let mut bytes = Vec::new();
    for word in value.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        let inner = lower.strip_prefix("=?utf-8?b?")?.strip_suffix("?=")?;
        let start = word.len() - inner.len() - 2;
        let encoded = word.get(start..word.len() - 2)?;
        bytes.extend(base64::engine::general_purpose::STANDARD.decode(encoded).ok()?);
    }
    String::from_utf8(bytes).ok()
}

/// RFC 2045 quoted-printable, lines ending CRLF (a bare LF or CRLF in the
/// text both end a line).
fn encode_quoted_printable(text: &[u8], out: &mut Vec<u8>) {
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let count = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut width = 0;
        for (j, &b) in line.iter().enumerate() {
            let last = j + 1 == line.len();
            let literal = matches!(b, 33..=60 | 62..=126) || (matches!(b, b' ' | b'\t') && !last);
            let size = if literal { 1 } else { 3 };
            // Room for this token and a soft break's `=` on the same line.
            if width + size > QP_LINE - 1 {
                out.extend_from_slice(b"=\r\n");
                width = 0;
            }
            if literal {
                out.push(b);
            } else {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.extend_from_slice(&[b'=', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
            }
            width += size;
        }
        if i + 1 < count {
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn decode_quoted_printable(text: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len()));
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'=' => {
                let rest = &text[i + 1..];
                if rest.starts_with(b"\r\n") {
                    i += 3;
                } else if rest.starts_with(b"\n") {
                    i += 2;
                } else {
                    let hex = std::str::from_utf8(rest.get(..2)?).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                }
            }
            b'\r' if text.get(i + 1) == Some(&b'\n') => {
                out.push(b'\n');
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// A message read back from the bytes [`format_message`] made.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub to: String,
    pub subject: String,
    pub date: OffsetDateTime,
    pub message_id: String,
    pub body: SecretText,
}

/// Reads the headers this crate writes (and only those) and the body;
/// `None` for anything else, never a panic.
pub(crate) fn parse_message(bytes: &[u8], with_body: bool) -> Option<Parsed> {
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..split]).ok()?;
    let mut headers: HashMap<String, String> = HashMap::new();
    let mut current: Option<String> = None;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let name = current.as_ref()?;
            let value = headers.get_mut(name)?;
            value.push(' ');
            value.push_str(line.trim_start());
        } else {
            let (name, value) = line.split_once(':')?;
            let name = name.trim().to_ascii_lowercase();
            headers.insert(name.clone(), value.trim().to_owned());
            current = Some(name);
        }
    }
    let body = if with_body {
        let decoded = decode_quoted_printable(&bytes[split + 4..])?;
        SecretText::new(std::str::from_utf8(&decoded).ok()?)
    } else {
        SecretText::default()
    };
    Some(Parsed {
        to: headers.get("to")?.clone(),
        subject: decode_subject(headers.get("subject")?)?,
        date: OffsetDateTime::parse(headers.get("date")?, &Rfc2822).ok()?,
        message_id: headers.get("message-id")?.clone(),
        body,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample(body: &str, subject: &str) -> Outgoing {
        Outgoing::new(
            Uuid::from_u128(7),
            "alice@example.org",
            subject,
            SecretText::new(body),
            time::macros::datetime!(2026-12-07 18:00:00 UTC),
        )
    }

    #[test]
    fn round_trips_text_and_subjects() {
        let long = "x".repeat(300);
        let body = format!("Grüße =\n trailing space \nCode: 1234-5678\r\n{long}\n\tdone.\n");
        for subject in
            ["Your card enrollment", "Ihre Karte: Aktivierung bis 31.12. — jetzt", "=?utf-8?b?not?="]
        {
            let (_, bytes) = format_message(&sample(&body, subject), "registry@example.org").unwrap();
            assert!(bytes.split(|&b| b == b'\n').all(|l| l.len() <= 78), "lines within limits");
            assert!(bytes.is_ascii());
            let parsed = parse_message(&bytes, true).unwrap();
            assert_eq!(parsed.subject, subject);
            assert_eq!(parsed.body.expose(), body.replace("\r\n", "\n"));
            assert_eq!(parsed.to, "alice@example.org");
            assert_eq!(parsed.message_id, "<00000000-0000-0000-0000-000000000007@example.org>");
        }
    }

    #[test]
    fn refuses_injection_and_bad_addresses() {
        let from = "registry@example.org";
        let mut m = sample("b", "Hello\r\nBcc: evil@example.org");
        assert_eq!(format_message(&m, from).unwrap_err(), MessageError::HeaderInjection { field: "subject" });
        m.subject = "ok".into();
        for bad in ["a@b.org\r\nBcc: x@y.org", "a@b.org\n"] {
            m.to = bad.into();
            assert_eq!(format_message(&m, from).unwrap_err(), MessageError::HeaderInjection { field: "to" });
        }
        for bad in ["", "no-at-sign", "a b@c.org", "ä@b.org", "a@", "@b.org", "<a@b.org>", &"a".repeat(300)]
        {
            m.to = bad.into();
            assert!(
                matches!(format_message(&m, from), Err(MessageError::InvalidAddress { field: "to", .. })),
                "{bad:?}"
            );
        }
        m.to = "alice@example.org".into();
        assert!(matches!(
            format_message(&m, "x\ny@z.org"),
            Err(MessageError::HeaderInjection { field: "from" })
        ));
        m.subject = "bell\u{7}".into();
        assert!(matches!(format_message(&m, from), Err(MessageError::InvalidSubject(_))));
    }

    #[test]
    fn the_worst_case_fits_the_first_allocation() {
        let body = "\u{7f} ".repeat(5000) + "\u{7f}";
        let (_, bytes) = format_message(&sample(&body, &"é".repeat(200)), "registry@example.org").unwrap();
        assert!(bytes.len() <= 2048 + body.len() * 3 + body.len() / 16, "{}", bytes.len());
    }

    #[test]
    fn debug_hides_the_body() {
        let m = sample("Code: 9876-5432", "s");
        assert!(!format!("{m:?}").contains("9876"));
    }

    #[test]
    fn parser_survives_garbage() {
        for junk in [
            &b""[..],
            b"\r\n\r\n",
            b"To: a\r\n\r\n=",
            b"To: a\r\n\r\n=G1",
            b"\xff\xfe\r\n\r\n",
            b" x\r\n\r\n",
        ] {
            assert!(parse_message(junk, true).is_none());
        }
    }
}
