//! Mail through a real SMTP server process (issue 15): aiosmtpd, from the
//! repository's `.venv-mail/` (scripts/install-deps makes it;
//! `CARDSTATION_SMTP_PYTHON` may name another Python that has aiosmtpd), run
//! by `scripts/smtp-test-server` on a free loopback port. The tests wait for
//! its `listening <port>` line and for the outbox's own changes, never on
//! sleeps; timeouts only turn a hang into a failure.
//!
//! Without aiosmtpd the SMTP tests fail under `CI=true` and are skipped,
//! loudly, otherwise; the mailbox tests always run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail::{Dispatcher, DispatcherConfig, MailConfig, Outbox, OutboxError, Outgoing, SecretText, Transport};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

/// Guard against a hang; never how long something is expected to take.
const GUARD: Duration = Duration::from_secs(60);
const CODE: &str = "K7Q2-9XWD-4MHP";
const STOP_DATE: &str = "Thursday 31 December 2026";
const FROM: &str = "registry@example.org";

// ---------------------------------------------------------------- the server

/// A Python with aiosmtpd, or `None` (skipped; a failure under `CI=true`).
fn python_or_skip(test: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("CARDSTATION_SMTP_PYTHON").map(PathBuf::from),
        Some(repo().join(".venv-mail/bin/python")),
    ];
    let found = candidates.into_iter().flatten().find(|python| {
        std::process::Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        let message = "aiosmtpd is not installed: run scripts/install-deps (it makes .venv-mail/) \
                       or set CARDSTATION_SMTP_PYTHON";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("\n!!!!!!!!!!!!!!!!!!!!\nSKIPPED {test}: {message}\n!!!!!!!!!!!!!!!!!!!!\n");
    }
    found
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running `scripts/smtp-test-server`.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server {
    /// Starts it (port 0: any free one) and waits for its `listening` line.
    async fn start(python: &Path, dir: &Path, port: u16, extra: &[String]) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        let mut child = Command::new(python)
            .arg(repo().join("scripts/smtp-test-server"))
            .args(["--dir", dir.to_str().unwrap(), "--port", &port.to_string()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(GUARD, lines.next_line()).await.expect("server start").unwrap();
        let port = line
            .as_deref()
            .and_then(|l| l.strip_prefix("listening "))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("smtp-test-server said {line:?}"));
        Server { child, port, dir: dir.to_owned() }
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }

    /// What the server accepted, in order.
    fn received(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names.iter().map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()).collect()
    }
}

/// A CA and a server certificate for 127.0.0.1 and localhost, as PEM files.
struct Certs {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_certs(dir: &Path) -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "mail test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().unwrap();
    let leaf = params.signed_by(&key, &ca, &ca_key).unwrap();
    let certs = Certs { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server.key") };
    std::fs::write(&certs.ca, ca.pem()).unwrap();
    std::fs::write(&certs.cert, leaf.pem()).unwrap();
    std::fs::write(&certs.key, key.serialize_pem()).unwrap();
    certs
}

// ---------------------------------------------------------------- the outbox

#[derive(Debug, Clone, PartialEq)]
enum State {
    Pending,
    Sent(OffsetDateTime),
    Failed,
}

#[derive(Debug, Clone)]
struct Row {
    message: Outgoing,
    state: State,
    next: OffsetDateTime,
    error: Option<String>,
}

/// The registry's outbox table, in memory, announcing every change.
struct MemoryOutbox {
    rows: Mutex<Vec<Row>>,
    changed: tokio::sync::watch::Sender<u64>,
    sent_calls: AtomicUsize,
    /// The next `sent` fails, as a database write might.
    refuse_next_sent: AtomicBool,
}

impl MemoryOutbox {
    fn new() -> Arc<MemoryOutbox> {
        Arc::new(MemoryOutbox {
            rows: Mutex::new(Vec::new()),
            changed: tokio::sync::watch::channel(0).0,
            sent_calls: AtomicUsize::new(0),
            refuse_next_sent: AtomicBool::new(false),
        })
    }

    fn queue(&self, message: Outgoing) {
        let next = message.created_at;
        self.rows.lock().unwrap().push(Row { message, state: State::Pending, next, error: None });
        self.changed.send_modify(|n| *n += 1);
    }

    fn row(&self, id: Uuid) -> Row {
        self.rows.lock().unwrap().iter().find(|r| r.message.id == id).unwrap().clone()
    }

    /// Waits until `done` holds for row `id` (checked on every change).
    async fn wait_for(&self, id: Uuid, what: &str, done: impl Fn(&Row) -> bool) -> Row {
        let mut changes = self.changed.subscribe();
        let wait = async {
            loop {
                let row = self.row(id);
                if done(&row) {
                    return row;
                }
                changes.changed().await.unwrap();
            }
        };
        match tokio::time::timeout(GUARD, wait).await {
            Ok(row) => row,
            Err(_) => panic!("{what}: not within {GUARD:?}; row: {:?}", self.row(id)),
        }
    }

    fn change(&self, id: Uuid, edit: impl FnOnce(&mut Row)) -> Result<(), OutboxError> {
        let mut rows = self.rows.lock().unwrap();
        let row = rows.iter_mut().find(|r| r.message.id == id).ok_or("no such message")?;
        edit(row);
        drop(rows);
        self.changed.send_modify(|n| *n += 1);
        Ok(())
    }
}

impl Outbox for MemoryOutbox {
    fn due(&self, limit: usize, now: OffsetDateTime) -> Result<Vec<Outgoing>, OutboxError> {
        let rows = self.rows.lock().unwrap();
        Ok(rows
            .iter()
            .filter(|r| r.state == State::Pending && r.next <= now)
            .take(limit)
            .map(|r| r.message.clone())
            .collect())
    }

    fn next_attempt(&self) -> Result<Option<OffsetDateTime>, OutboxError> {
        let rows = self.rows.lock().unwrap();
        Ok(rows.iter().filter(|r| r.state == State::Pending).map(|r| r.next).min())
    }

    fn sent(&self, id: Uuid, at: OffsetDateTime) -> Result<(), OutboxError> {
        self.sent_calls.fetch_add(1, Ordering::SeqCst);
        if self.refuse_next_sent.swap(false, Ordering::SeqCst) {
            self.changed.send_modify(|n| *n += 1);
            return Err("database is locked".into());
        }
        self.change(id, |r| r.state = State::Sent(at))
    }

    fn failed(
        &self,
        id: Uuid,
        error: &str,
        permanent: bool,
        next: OffsetDateTime,
    ) -> Result<(), OutboxError> {
        self.change(id, |r| {
            r.message.attempts += 1;
            r.error = Some(error.to_owned());
            r.next = next;
            if permanent {
                r.state = State::Failed;
            }
        })
    }
}

// ---------------------------------------------------------------- helpers

fn enrollment(to: &str) -> Outgoing {
    let body = format!(
        "Hello,\n\nA smart card is ready for you to set up.\n\n\
         What to do: insert a blank card at the Cardstation kiosk and enter this code: {CODE}\n\
         Where: the badge office, building 2.\n\
         Until when: {STOP_DATE}. After that date the code no longer works.\n\n\
         If you did not expect this message, tell your security office.\n"
    );
    Outgoing::new(
        Uuid::new_v4(),
        to,
        "Your smart card: enrollment code",
        SecretText::new(body),
        OffsetDateTime::now_utc(),
    )
}

/// Fast retries for the tests; the idle poll is long, so only a wake or a
/// due message can start a pass.
fn quick() -> DispatcherConfig {
    DispatcherConfig {
        batch: 10,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
        permanent_attempts: 2,
        idle_poll: Duration::from_secs(3600),
    }
}

/// Runs the dispatcher until the returned sender is dropped.
fn spawn(dispatcher: Arc<Dispatcher>) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        dispatcher
            .run(async {
                let _ = stopped.await;
            })
            .await;
    });
    stop
}

fn body_text(message: &Value) -> String {
    message["body"].as_str().unwrap().replace("\r\n", "\n")
}

// ---------------------------------------------------------------- tests

/// STARTTLS (required) with a private CA and AUTH: the server sees who it is
/// for, the subject, the code, the stop date and the stable Message-ID; a
/// resend to an alternate address is its own message, to that address only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_auth_delivers_what_to_do_where_until_when() {
    let Some(python) = python_or_skip("starttls_with_auth_delivers_what_to_do_where_until_when") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let certs = make_certs(work.path());
    let tls = [
        "--tls-cert".to_owned(),
        certs.cert.display().to_string(),
        "--tls-key".to_owned(),
        certs.key.display().to_string(),
        "--auth".to_owned(),
        "mailer:s3cret-pw".to_owned(),
    ];
    let server = Server::start(&python, &work.path().join("in"), 0, &tls).await;
    let url =
        format!("smtp://mailer@127.0.0.1:{}?from={FROM}&ca={}&timeout=20", server.port, certs.ca.display());
    let config = MailConfig::parse(&url).unwrap().with_password(SecretText::new("s3cret-pw"));
    let transport = Transport::new(&config).unwrap();
    assert!(!format!("{config:?} {transport:?}").contains("s3cret"), "no password in Debug");

    let outbox = MemoryOutbox::new();
    let dispatcher = Arc::new(Dispatcher::new(outbox.clone(), transport, quick()));
    let _stop = spawn(dispatcher.clone());
    let original = enrollment("alice@example.org");
    assert!(!format!("{original:?}").contains(CODE), "no code in Debug");
    outbox.queue(original.clone());
    dispatcher.waker().wake();
    outbox.wait_for(original.id, "sent", |r| matches!(r.state, State::Sent(_))).await;

    // The resend (UC-PROV): a new outbox row to the alternate address.
    let resend = enrollment("alice.private@example.net");
    outbox.queue(resend.clone());
    dispatcher.waker().wake();
    outbox.wait_for(resend.id, "resend sent", |r| matches!(r.state, State::Sent(_))).await;

    let received = server.received();
    assert_eq!(received.len(), 2, "each message exactly once");
    for (got, sent) in received.iter().zip([&original, &resend]) {
        assert_eq!(got["rcpt_tos"], serde_json::json!([sent.to]), "envelope recipient");
        assert_eq!(got["to"], sent.to.as_str());
        assert_eq!(got["mail_from"], FROM);
        assert_eq!(got["from"], FROM);
        assert_eq!(got["login"], "mailer", "AUTH with the configured user");
        assert_eq!(got["tls"], true, "STARTTLS before anything else");
        assert_eq!(got["subject"], "Your smart card: enrollment code");
        assert_eq!(got["content_type"], "text/plain");
        assert_eq!(got["message_id"], format!("<{}@example.org>", sent.id));
        let body = body_text(got);
        assert!(body.contains(CODE) && body.contains(STOP_DATE), "{body}");
        assert_eq!(body, sent.body.expose());
    }
    // The original row still names the stored address.
    assert_eq!(outbox.row(original.id).message.to, "alice@example.org");
    assert_eq!(outbox.sent_calls.load(Ordering::SeqCst), 2);

    // A wrong password is the configuration's fault, not the message's:
    // retried later, never given up.
    let wrong = MailConfig::parse(&url).unwrap().with_password(SecretText::new("wrong"));
    let error = Transport::new(&wrong).unwrap().deliver(&enrollment("bob@example.org")).await.unwrap_err();
    assert!(!error.is_permanent() && error.is_unreachable(), "{error}");
    // A server certificate from an unknown CA: refused, nothing sent.
    let untrusted = MailConfig::parse(&format!("smtp://mailer@127.0.0.1:{}?from={FROM}", server.port))
        .unwrap()
        .with_password(SecretText::new("s3cret-pw"));
    let error =
        Transport::new(&untrusted).unwrap().deliver(&enrollment("bob@example.org")).await.unwrap_err();
    assert!(!error.is_permanent(), "{error}");
    assert_eq!(server.received().len(), 2);
    server.stop().await;
}

/// `smtps://`: TLS from the first byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_delivers() {
    let Some(python) = python_or_skip("implicit_tls_delivers") else { return };
    let work = tempfile::tempdir().unwrap();
    let certs = make_certs(work.path());
    let args = [
        "--implicit-tls".to_owned(),
        "--tls-cert".to_owned(),
        certs.cert.display().to_string(),
        "--tls-key".to_owned(),
        certs.key.display().to_string(),
        "--auth".to_owned(),
        "mailer:pw-465".to_owned(),
    ];
    let server = Server::start(&python, &work.path().join("in"), 0, &args).await;
    let url = format!("smtps://mailer@127.0.0.1:{}?from={FROM}&ca={}", server.port, certs.ca.display());
    let transport =
        Transport::new(&MailConfig::parse(&url).unwrap().with_password(SecretText::new("pw-465"))).unwrap();
    let message = enrollment("carol@example.org");
    transport.deliver(&message).await.unwrap();
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["rcpt_tos"], serde_json::json!(["carol@example.org"]));
    assert_eq!(received[0]["tls"], true);
    assert!(body_text(&received[0]).contains(CODE));
    server.stop().await;
}

/// The server is down: the message stays pending (retried with backoff,
/// the error kept); once the server is up it goes out exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_loses_nothing_and_sends_once_when_back() {
    let Some(python) = python_or_skip("smtp_down_loses_nothing_and_sends_once_when_back") else { return };
    let work = tempfile::tempdir().unwrap();
    let inbox = work.path().join("in");
    // Learn a free port, then take the server away: connections are refused.
    let probe = Server::start(&python, &inbox, 0, &[]).await;
    let port = probe.port;
    probe.stop().await;
    let url = format!("smtp+plain://127.0.0.1:{port}?from={FROM}&timeout=10");
    let transport = Transport::new(&MailConfig::parse(&url).unwrap()).unwrap();
    let outbox = MemoryOutbox::new();
    let dispatcher = Arc::new(Dispatcher::new(outbox.clone(), transport, quick()));
    let _stop = spawn(dispatcher.clone());
    let message = enrollment("dave@example.org");
    outbox.queue(message.clone());
    dispatcher.waker().wake();

    let row = outbox.wait_for(message.id, "three failed attempts", |r| r.message.attempts >= 3).await;
    assert_eq!(row.state, State::Pending, "never given up while the server is down");
    assert!(row.error.as_deref().is_some_and(|e| !e.is_empty()), "the error is kept");
    assert_eq!(outbox.sent_calls.load(Ordering::SeqCst), 0);

    let server = Server::start(&python, &inbox, port, &[]).await;
    outbox.wait_for(message.id, "sent once the server is back", |r| matches!(r.state, State::Sent(_))).await;
    // More passes send nothing more.
    for _ in 0..3 {
        let report = dispatcher.run_once().await.unwrap();
        assert_eq!(report.sent, 0);
    }
    let received = server.received();
    assert_eq!(received.len(), 1, "sent exactly once");
    assert_eq!(received[0]["rcpt_tos"], serde_json::json!(["dave@example.org"]));
    assert_eq!(received[0]["message_id"], format!("<{}@example.org>", message.id));
    assert_eq!(outbox.sent_calls.load(Ordering::SeqCst), 1);
    server.stop().await;
}

/// A 550 for one recipient: that message is given up after
/// `permanent_attempts` with the server's answer kept; the others go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_is_given_up_not_retried_forever() {
    let Some(python) = python_or_skip("a_permanent_failure_is_given_up_not_retried_forever") else { return };
    let work = tempfile::tempdir().unwrap();
    let args = ["--reject".to_owned(), "nobody@example.org".to_owned()];
    let server = Server::start(&python, &work.path().join("in"), 0, &args).await;
    let url = format!("smtp+plain://localhost:{}?from={FROM}", server.port);
    let transport = Transport::new(&MailConfig::parse(&url).unwrap()).unwrap();
    let outbox = MemoryOutbox::new();
    let dispatcher = Arc::new(Dispatcher::new(outbox.clone(), transport, quick()));
    let _stop = spawn(dispatcher.clone());
    let doomed = enrollment("nobody@example.org");
    let fine = enrollment("erin@example.org");
    outbox.queue(doomed.clone());
    outbox.queue(fine.clone());
    dispatcher.waker().wake();

    let row = outbox.wait_for(doomed.id, "given up", |r| r.state == State::Failed).await;
    assert_eq!(row.message.attempts, 2, "exactly permanent_attempts tries");
    assert!(row.error.as_deref().is_some_and(|e| e.contains("550")), "{:?}", row.error);
    outbox.wait_for(fine.id, "the other one sent", |r| matches!(r.state, State::Sent(_))).await;
    for _ in 0..2 {
        dispatcher.run_once().await.unwrap();
    }
    assert_eq!(outbox.row(doomed.id).message.attempts, 2, "no further attempt");
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["rcpt_tos"], serde_json::json!(["erin@example.org"]));
    server.stop().await;
}

/// The embedded default: one 0600 file per message in a 0700 directory,
/// listed by time and read back; a redelivery replaces rather than adds; a
/// wake sends at once (the idle poll is an hour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_mailbox_keeps_private_files_the_app_can_list() {
    let data = tempfile::tempdir().unwrap();
    let config = MailConfig::embedded_default(data.path());
    let transport = Transport::new(&config).unwrap();
    let mailbox_dir = data.path().join("mailbox");
    assert_eq!(std::fs::metadata(&mailbox_dir).unwrap().permissions().mode() & 0o777, 0o700);

    let outbox = MemoryOutbox::new();
    let dispatcher = Arc::new(Dispatcher::new(outbox.clone(), transport, quick()));
    let _stop = spawn(dispatcher.clone());
    let mut first = enrollment("frank@example.org");
    first.created_at -= time::Duration::minutes(5);
    let second = Outgoing::new(
        Uuid::new_v4(),
        "grace@example.org",
        "Ihre Smartcard: Aktivierungscode — gültig bis 31.12.",
        SecretText::new(format!("Code: {CODE}\nGültig bis {STOP_DATE}.\n")),
        OffsetDateTime::now_utc(),
    );
    outbox.queue(second.clone());
    outbox.queue(first.clone());
    dispatcher.waker().wake();
    for m in [&first, &second] {
        outbox.wait_for(m.id, "in the mailbox", |r| matches!(r.state, State::Sent(_))).await;
    }

    let mailbox = dispatcher.transport().mailbox().unwrap();
    let listed = mailbox.list().unwrap();
    assert_eq!(listed.iter().map(|e| e.id).collect::<Vec<_>>(), vec![first.id, second.id], "by time");
    assert_eq!(listed[1].to, "grace@example.org");
    assert_eq!(listed[1].subject, second.subject);
    assert_eq!(listed[0].date.unix_timestamp(), first.created_at.unix_timestamp());
    let read = mailbox.read(second.id).unwrap().unwrap();
    assert_eq!(read.body.expose(), second.body.expose());
    assert!(!format!("{read:?}").contains(CODE), "no code in Debug");
    assert!(mailbox.read(Uuid::new_v4()).unwrap().is_none());

    let files: Vec<_> = std::fs::read_dir(&mailbox_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2, "nothing left aside: {files:?}");
    for file in &files {
        assert_eq!(file.extension().unwrap(), "eml");
        assert_eq!(std::fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // A duplicate delivery (the crash window) replaces the file.
    dispatcher.transport().deliver(&first).await.unwrap();
    assert_eq!(mailbox.list().unwrap().len(), 2);
    // Junk in the directory is skipped, not fatal.
    std::fs::write(
        mailbox_dir.join("20990101T000000.000000000Z-00000000-0000-0000-0000-000000000000.eml"),
        b"junk",
    )
    .unwrap();
    assert_eq!(mailbox.list().unwrap().len(), 2);
}

/// Hostile input is refused before anything is sent, and given up at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_injection_is_a_permanent_refusal() {
    let data = tempfile::tempdir().unwrap();
    let transport = Transport::new(&MailConfig::embedded_default(data.path())).unwrap();
    let mut evil = enrollment("x@example.org\r\nBcc: everyone@example.org");
    let error = transport.deliver(&evil).await.unwrap_err();
    assert!(error.is_permanent(), "{error}");
    evil.to = "x@example.org".into();
    evil.subject = "Hi\r\nBcc: everyone@example.org".into();
    assert!(transport.deliver(&evil).await.unwrap_err().is_permanent());
    assert!(transport.mailbox().unwrap().list().unwrap().is_empty());

    // Through the dispatcher: given up at the first attempt, error kept.
    let outbox = MemoryOutbox::new();
    let dispatcher = Dispatcher::new(outbox.clone(), transport, quick());
    outbox.queue(evil.clone());
    let report = dispatcher.run_once().await.unwrap();
    assert_eq!(report.gave_up, 1);
    let row = outbox.row(evil.id);
    assert_eq!((row.state, row.message.attempts), (State::Failed, 1));
    assert!(row.error.unwrap().contains("header injection"));
}

/// The outbox refuses to record an accepted message as sent: the
/// dispatcher marks it again later and never delivers it a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_mark_is_retried_without_sending_again() {
    let Some(python) = python_or_skip("a_failed_mark_is_retried_without_sending_again") else { return };
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(&python, &work.path().join("in"), 0, &[]).await;
    let url = format!("smtp+plain://127.0.0.1:{}?from={FROM}", server.port);
    let outbox = MemoryOutbox::new();
    let transport = Transport::new(&MailConfig::parse(&url).unwrap()).unwrap();
    let dispatcher = Arc::new(Dispatcher::new(outbox.clone(), transport, quick()));
    let _stop = spawn(dispatcher.clone());
    outbox.refuse_next_sent.store(true, Ordering::SeqCst);
    let message = enrollment("heidi@example.org");
    outbox.queue(message.clone());
    dispatcher.waker().wake();
    outbox.wait_for(message.id, "marked on the second try", |r| matches!(r.state, State::Sent(_))).await;
    assert_eq!(outbox.sent_calls.load(Ordering::SeqCst), 2);
    assert_eq!(server.received().len(), 1, "delivered once");
    server.stop().await;
}

/// `smtp://` requires STARTTLS: a server that does not offer it gets
/// nothing (no downgrade to clear text), and the message stays pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_starttls_no_delivery() {
    let Some(python) = python_or_skip("no_starttls_no_delivery") else { return };
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(&python, &work.path().join("in"), 0, &[]).await;
    let url = format!("smtp://127.0.0.1:{}?from={FROM}", server.port);
    let transport = Transport::new(&MailConfig::parse(&url).unwrap()).unwrap();
    let error = transport.deliver(&enrollment("ivan@example.org")).await.unwrap_err();
    assert!(!error.is_permanent(), "{error}");
    assert!(server.received().is_empty());
    server.stop().await;
}

/// A server that accepts the connection and then says nothing: the
/// delivery ends at the configured timeout (lettre bounds only the
/// connect), as a transient failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        std::future::pending::<()>().await;
        drop(socket);
    });
    let url = format!("smtp+plain://127.0.0.1:{port}?from={FROM}&timeout=1");
    let transport = Transport::new(&MailConfig::parse(&url).unwrap()).unwrap();
    let error = tokio::time::timeout(GUARD, transport.deliver(&enrollment("judy@example.org")))
        .await
        .expect("bounded by the configured timeout")
        .unwrap_err();
    assert!(error.is_unreachable() && !error.is_permanent(), "{error}");
    held.abort();
}
