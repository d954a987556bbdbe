//! The independent clients that judge our cards (OpenSC, yubico-piv-tool,
//! openssl) and our own `cardstation` binary, run as real processes.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// OpenSC's PKCS#11 module on Debian 12.
pub const OPENSC_PKCS11: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

/// What a finished process printed.
#[derive(Debug, Clone)]
pub struct Run {
    /// The command line, for assertion messages.
    pub command: String,
    /// Exit status success.
    pub ok: bool,
    /// The exit status (none: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from_output(command: String, out: Output) -> Run {
        Run {
            command,
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Standard output as one JSON document (what `--json` commands print).
    ///
    /// # Panics
    /// When the output is not JSON, with everything the process printed.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!("`{}` printed no JSON ({e}):\n{}\n{}", self.command, self.stdout, self.stderr)
        })
    }

    /// Fails with everything the process printed unless it succeeded.
    pub fn expect_ok(self) -> Result<Run> {
        if !self.ok {
            bail!("`{}` failed\nstdout:\n{}\nstderr:\n{}", self.command, self.stdout, self.stderr);
        }
        Ok(self)
    }
}

/// Runs a program with arguments and optional extra environment, capturing output.
pub fn run(program: impl AsRef<Path>, args: &[&str], env: &[(&str, &str)]) -> Result<Run> {
    let program = program.as_ref();
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    // OpenSC's default configuration shows only 4 PKCS#11 slots; the lab has 8 readers.
    cmd.env("OPENSC_CONF", Path::new(env!("CARGO_MANIFEST_DIR")).join("opensc.conf"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().with_context(|| format!("cannot start {}", program.display()))?;
    Ok(Run::from_output(format!("{} {}", program.display(), args.join(" ")), out))
}

/// The `cardstation` binary built next to the running test executable.
pub fn cardstation_bin() -> PathBuf {
    bin_next_to_tests("cardstation")
}

/// The `vcard` binary built next to the running test executable.
pub fn vcard_bin() -> PathBuf {
    bin_next_to_tests("vcard")
}

/// # Panics
/// When the binary was not built (`cargo test` does not build other
/// packages' binaries; `scripts/test` runs `cargo build --bins` first).
pub fn bin_next_to_tests(name: &str) -> PathBuf {
    // Test executables live in target/<profile>/deps; binaries one level up.
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(name);
    assert!(bin.exists(), "{} is missing: run `cargo build --bins` first (scripts/test does)", bin.display());
    bin
}

/// A credential profile shipped in `assets/profiles/`.
pub fn profile(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/profiles").join(file)
}

/// Runs `cardstation` with arguments and secrets passed in the environment.
pub fn cardstation(args: &[&str], env: &[(&str, &str)]) -> Result<Run> {
    run(cardstation_bin(), args, env)
}

/// Runs `yubico-piv-tool -r READER` with further arguments.
pub fn yubico_piv_tool(reader: &str, args: &[&str]) -> Result<Run> {
    let mut all = vec!["-r", reader];
    all.extend_from_slice(args);
    run("yubico-piv-tool", &all, &[])
}

/// Runs `pkcs11-tool` on OpenSC's module for the given reader (by slot description).
pub fn pkcs11_tool(reader: &str, args: &[&str]) -> Result<Run> {
    let mut all = vec!["--module", OPENSC_PKCS11, "--slot-description", reader];
    all.extend_from_slice(args);
    run("pkcs11-tool", &all, &[])
}

/// Runs `pkcs15-tool --reader INDEX` with further arguments.
pub fn pkcs15_tool(reader_index: usize, args: &[&str]) -> Result<Run> {
    let index = reader_index.to_string();
    let mut all = vec!["--reader", index.as_str()];
    all.extend_from_slice(args);
    run("pkcs15-tool", &all, &[])
}

/// Runs `openssl` with arguments.
pub fn openssl(args: &[&str]) -> Result<Run> {
    run("openssl", args, &[])
}

/// Signs `data` with the card key `id` (01 = 9A, 02 = 9C) through OpenSC's
/// PKCS#11 module and checks the signature against `cert_pem` with openssl.
/// `mechanism` is `ECDSA-SHA256` or `SHA256-RSA-PKCS`.
pub fn pkcs11_sign_and_verify(
    reader: &str,
    pin: &str,
    id: &str,
    mechanism: &str,
    cert_pem: &Path,
    work: &Path,
) -> Result<()> {
    let data = work.join(format!("data-{id}.bin"));
    let sig = work.join(format!("sig-{id}.bin"));
    std::fs::write(&data, format!("cardstation interop check for key {id}"))?;
    let mut args = vec![
        "--login",
        "--pin",
        pin,
        "--sign",
        "--id",
        id,
        "-m",
        mechanism,
        "--input-file",
        data.to_str().unwrap_or_default(),
        "--output-file",
        sig.to_str().unwrap_or_default(),
    ];
    if mechanism.starts_with("ECDSA") {
        args.extend_from_slice(&["--signature-format", "openssl"]);
    }
    pkcs11_tool(reader, &args)?.expect_ok()?;
    let pubkey = work.join(format!("pub-{id}.pem"));
    openssl(&["x509", "-in", path(cert_pem), "-pubkey", "-noout", "-out", path(&pubkey)])?.expect_ok()?;
    openssl(&["dgst", "-sha256", "-verify", path(&pubkey), "-signature", path(&sig), path(&data)])?
        .expect_ok()?;
    Ok(())
}

/// A path as `&str` for a command line (test paths are always UTF-8).
pub fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}
