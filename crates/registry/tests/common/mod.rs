//! Running the `cardstation-registry` binary from the integration tests that
//! drive it as a process (`cli.rs`, `apifuzz.rs`). Each test binary uses
//! part of it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_cardstation-registry");

/// The line `init` and `serve` print before the CA's fingerprint.
pub const CA_LINE: &str = "CA certificate SHA-256 fingerprint: ";

/// Runs the binary with `args` and extra environment: whether it succeeded,
/// and its stdout followed by its stderr.
pub fn run<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(BIN);
    command.args(args).env("RUST_LOG", "warn");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("the binary runs");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// The value after `prefix` on a line of `text`.
pub fn printed(text: &str, prefix: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(prefix)).map(str::to_owned)
}

/// A `serve` process, killed when dropped.
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What `serve` printed before it listened.
pub struct Served {
    /// The process.
    pub server: Server,
    /// Its loopback port.
    pub port: u16,
    /// SHA-256 fingerprint of its TLS certificate.
    pub fingerprint: String,
    /// SHA-256 fingerprint of its CA certificate.
    pub ca_fingerprint: String,
    /// The plain-HTTP publication listener (`--publish-listen`), `host:port`.
    pub published: Option<String>,
}

/// Serves `data` on a free loopback port, with `extra` arguments (e.g.
/// `--database URL`) and its stderr sent to `stderr`.
pub fn serve(data: &Path, extra: &[&str], stderr: Stdio) -> Served {
    let mut child = Command::new(BIN)
        .args(["serve", "--data", data.to_str().expect("utf-8 path"), "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("serve starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let server = Server(child);
    let (mut fingerprint, mut ca_fingerprint, mut published) = (String::new(), String::new(), None);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("serve's stdout");
        if let Some(f) = line.strip_prefix("certificate SHA-256 fingerprint: ") {
            fingerprint = f.to_owned();
        }
        if let Some(f) = line.strip_prefix(CA_LINE) {
            ca_fingerprint = f.to_owned();
        }
        if let Some(address) = line.strip_prefix("publishing on http://") {
            published = Some(address.to_owned());
        }
        // Printed once both listeners are bound: connections queue from then on.
        if let Some(url) = line.strip_prefix("listening on https://") {
            let port = url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
            return Served { server, port, fingerprint, ca_fingerprint, published };
        }
    }
    panic!("serve never said where it listens");
}
