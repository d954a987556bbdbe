//! A real registry for whole-stack station tests: `cardstation-registry`
//! initialized in a fresh data directory, administered through its CLI, and
//! served over TLS on a loopback port; plus a station enrolled with it
//! (the `cardstation` binary, pinning the fingerprint the registry printed).

use crate::tools::{self, Run};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The password of every account the harness makes.
pub const PASSWORD: &str = "station-test-password-1";

/// A registry process serving a fresh data directory; killed on drop.
#[derive(Debug)]
pub struct TestRegistry {
    /// Its data directory.
    pub data: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The certificate fingerprint it printed.
    pub fingerprint: String,
    child: Child,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `cardstation-registry` binary next to the test executable.
pub fn registry_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("cardstation-registry")
}

/// Runs `cardstation-registry` with `args`.
pub fn admin(args: &[&str], env: &[(&str, &str)]) -> Result<Run> {
    let mut all: Vec<(&str, &str)> = vec![("RUST_LOG", "warn")];
    all.extend_from_slice(env);
    tools::run(registry_bin(), args, &all)
}

impl TestRegistry {
    /// Initializes `data` (seed defaults: Request card and Issue card off)
    /// with an administrator `admin` and starts serving it.
    pub fn start(data: &Path) -> Result<TestRegistry> {
        let d = data.to_str().context("path")?;
        admin(&["init", "--data", d], &[("CARDSTATION_ADMIN_PASSWORD", PASSWORD)])?.expect_ok()?;
        let mut child = Command::new(registry_bin())
            .args(["serve", "--data", d, "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting cardstation-registry serve")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut fingerprint = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(f) = line.strip_prefix("certificate SHA-256 fingerprint: ") {
                fingerprint = f.trim().to_owned();
            }
            if let Some(url) = line.strip_prefix("listening on ") {
                return Ok(TestRegistry {
                    data: data.to_owned(),
                    url: url.trim().to_owned(),
                    fingerprint,
                    child,
                });
            }
        }
        let _ = child.kill();
        bail!("cardstation-registry serve never said where it listens")
    }

    /// Serves `data` (already initialized) again on `listen` (`127.0.0.1:PORT`),
    /// e.g. on the port of a registry that was stopped by dropping it.
    pub fn serve_again(data: &Path, listen: &str) -> Result<TestRegistry> {
        let d = data.to_str().context("path")?;
        let mut child = Command::new(registry_bin())
            .args(["serve", "--data", d, "--listen", listen])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting cardstation-registry serve")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut fingerprint = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(f) = line.strip_prefix("certificate SHA-256 fingerprint: ") {
                fingerprint = f.trim().to_owned();
            }
            if let Some(url) = line.strip_prefix("listening on ") {
                return Ok(TestRegistry {
                    data: data.to_owned(),
                    url: url.trim().to_owned(),
                    fingerprint,
                    child,
                });
            }
        }
        let _ = child.kill();
        bail!("cardstation-registry serve never said where it listens")
    }

    fn d(&self) -> &str {
        self.data.to_str().unwrap_or_default()
    }

    /// Adds a role with per-profile permissions on every profile.
    pub fn role(&self, name: &str, profile_permissions: &[&str], global: &[&str]) -> Result<()> {
        let mut args = vec!["role", "add", "--data", self.d(), "--name", name];
        for p in profile_permissions {
            args.extend_from_slice(&["--all-profiles", p]);
        }
        for g in global {
            args.extend_from_slice(&["--global", g]);
        }
        admin(&args, &[])?.expect_ok()?;
        Ok(())
    }

    /// Adds an operator with `roles` and the harness password.
    pub fn operator(&self, username: &str, family_name: &str, roles: &[&str]) -> Result<()> {
        let mut args =
            vec!["operator", "add", "--data", self.d(), "--username", username, "--family-name", family_name];
        for r in roles {
            args.extend_from_slice(&["--role", r]);
        }
        admin(&args, &[("CARDSTATION_OPERATOR_PASSWORD", PASSWORD)])?.expect_ok()?;
        Ok(())
    }

    /// Adds a credential profile from TOML `ProfileSettings`; returns its id.
    pub fn profile(&self, toml: &str) -> Result<String> {
        let file = self.data.join(format!("profile-{:016x}.toml", rand::random::<u64>()));
        std::fs::write(&file, toml)?;
        let run =
            admin(&["profile", "add", "--data", self.d(), "--file", file.to_str().unwrap_or_default()], &[])?
                .expect_ok()?;
        let id = run
            .stdout
            .split("id ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .context("profile add printed no id")?;
        Ok(id.trim().to_owned())
    }

    /// The enrollment code in the newest email to `address` in the
    /// registry's mailbox (`DATA/mailbox`; the dispatcher is woken by the
    /// provisioning task's creation), waiting up to a minute for it.
    pub fn code_mailed_to(&self, address: &str) -> Result<String> {
        let mailbox = mail::Mailbox::open(self.data.join("mailbox"))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let mut found = None;
            for entry in mailbox.list()? {
                if let Some(message) = mailbox.read(entry.id)? {
                    if message.to == address {
                        found = Some(message);
                    }
                }
            }
            if let Some(message) = found {
                let body = message.body.expose();
                let line = body
                    .lines()
                    .find(|l| l.contains("enrollment code:"))
                    .with_context(|| format!("the mail to {address} names no enrollment code"))?;
                return Ok(line.rsplit(' ').next().unwrap_or_default().trim().to_owned());
            }
            if std::time::Instant::now() >= deadline {
                bail!("no enrollment email reached {address}");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Walk-up set up: UC-PROV and UC-WALKUP on, a provisioner `pat`
    /// (Manage provisioning tasks) and a kiosk account `kiosk` (Walk-up only).
    pub fn walkup_accounts(&self) -> Result<()> {
        self.use_case("prov", true)?;
        self.use_case("walkup", true)?;
        self.role("Provisioners", &[], &["manage_provisioning_tasks"])?;
        self.role("Kiosks", &[], &["walkup"])?;
        self.operator("pat", "Provisioner", &["Provisioners"])?;
        self.operator("kiosk", "Lobby kiosk", &["Kiosks"])
    }

    /// Switches a use case on or off.
    pub fn use_case(&self, name: &str, enable: bool) -> Result<()> {
        let verb = if enable { "enable" } else { "disable" };
        admin(&["use-case", verb, "--data", self.d(), name], &[])?.expect_ok()?;
        Ok(())
    }
}

impl TestRegistry {
    /// `GET path` on the registry's API as `username` (signed in with the
    /// harness password), through curl: an independent client. TLS is not
    /// verified here (the station's own pinning is tested elsewhere).
    pub fn get_json(&self, username: &str, path: &str) -> Result<serde_json::Value> {
        self.get_json_signed_in(username, serde_json::json!({}), path)
    }

    /// [`TestRegistry::get_json`] signed in at `station`'s workstation with
    /// its credential: what the registry gives only to the job of this
    /// operator at that workstation (its escrowed secrets).
    pub fn get_json_at(
        &self,
        station: &TestStation,
        username: &str,
        path: &str,
    ) -> Result<serde_json::Value> {
        let enrollment = station::Enrollment::load(&station.data)?;
        let key = station::Enrollment::workstation_key(&station.data)?;
        let at =
            serde_json::json!({ "workstation": enrollment.workstation, "workstation_key": key.expose() });
        self.get_json_signed_in(username, at, path)
    }

    fn get_json_signed_in(
        &self,
        username: &str,
        at: serde_json::Value,
        path: &str,
    ) -> Result<serde_json::Value> {
        let mut login = serde_json::json!({ "username": username, "password": PASSWORD });
        if let (Some(login), Some(at)) = (login.as_object_mut(), at.as_object()) {
            login.extend(at.clone());
        }
        let login = login.to_string();
        let session = tools::run(
            "curl",
            &[
                "-sS",
                "-k",
                "-X",
                "POST",
                "-H",
                "content-type: application/json",
                "--data",
                &login,
                &format!("{}/v1/sessions", self.url),
            ],
            &[],
        )?
        .expect_ok()?;
        let session: serde_json::Value = serde_json::from_str(&session.stdout).context("sign-in answer")?;
        let token = session["token"].as_str().context("no token")?;
        let auth = format!("authorization: Bearer {token}");
        let out = tools::run("curl", &["-sS", "-k", "-H", &auth, &format!("{}{path}", self.url)], &[])?
            .expect_ok()?;
        serde_json::from_str(&out.stdout).with_context(|| format!("GET {path}: {}", out.stdout))
    }
}

impl TestRegistry {
    /// A session token of `username` (harness password), through curl.
    fn token(&self, username: &str) -> Result<String> {
        let login = serde_json::json!({ "username": username, "password": PASSWORD }).to_string();
        let url = format!("{}/v1/sessions", self.url);
        let args =
            ["-sS", "-k", "-X", "POST", "-H", "content-type: application/json", "--data", &login, &url];
        let session = tools::run("curl", &args, &[])?.expect_ok()?;
        let session: serde_json::Value = serde_json::from_str(&session.stdout).context("sign-in answer")?;
        Ok(session["token"].as_str().context("no token")?.to_owned())
    }

    /// `POST path` with a JSON `body` on the registry's API as `username`, through curl.
    pub fn post_json(
        &self,
        username: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let auth = format!("authorization: Bearer {}", self.token(username)?);
        let body = body.to_string();
        let url = format!("{}{path}", self.url);
        let args = [
            "-sS",
            "-k",
            "-X",
            "POST",
            "-H",
            &auth,
            "-H",
            "content-type: application/json",
            "--data",
            &body,
            &url,
        ];
        let out = tools::run("curl", &args, &[])?.expect_ok()?;
        serde_json::from_str(&out.stdout).with_context(|| format!("POST {path}: {}", out.stdout))
    }

    /// The latest version of credential profile `id` as the change feed has it.
    pub fn latest_profile(&self, id: &str) -> Result<serde_json::Value> {
        let mut since = String::new();
        let mut latest: Option<serde_json::Value> = None;
        loop {
            let query =
                if since.is_empty() { "limit=1000".to_owned() } else { format!("since={since}&limit=1000") };
            let page = self.get_json("admin", &format!("/v1/changes?{query}"))?;
            for change in page["changes"].as_array().context("a feed page")? {
                let record = &change["record"];
                if record["type"] == "profile" && record["record"]["id"] == id {
                    let version = record["record"]["version"].as_u64().unwrap_or(0);
                    if latest.as_ref().is_none_or(|l| l["version"].as_u64().unwrap_or(0) < version) {
                        latest = Some(record["record"].clone());
                    }
                }
            }
            since = page["next_cursor"].as_str().unwrap_or_default().to_owned();
            if page["more"] != true {
                break;
            }
        }
        latest.with_context(|| format!("no credential profile {id} in the feed"))
    }

    /// UC-ADMIN: the administrator edits credential profile `id` (its latest
    /// settings changed by `edit`), making a new version; returns it.
    pub fn revise_profile(&self, id: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Result<u64> {
        let latest = self.latest_profile(id)?;
        let version = latest["version"].as_u64().context("a version")?;
        let mut settings = latest["settings"].clone();
        edit(&mut settings);
        let op_id = format!("{:032x}", rand::random::<u128>());
        let op_id = format!(
            "{}-{}-7{}-8{}-{}",
            &op_id[0..8],
            &op_id[8..12],
            &op_id[13..16],
            &op_id[17..20],
            &op_id[20..32]
        );
        let batch = serde_json::json!({ "operations": [{
            "op_id": op_id,
            "actor": null,
            "workstation": null,
            "created_at": "2026-01-01T00:00:00Z",
            "op": { "kind": "revise_profile", "id": id, "expected_version": version, "settings": settings },
        }]});
        let answer = self.post_json("admin", "/v1/operations", &batch)?;
        let text = answer.to_string();
        if !text.contains("accepted") {
            bail!("revising profile {id} was refused: {text}");
        }
        Ok(version + 1)
    }
}

/// A station data directory enrolled with a registry.
#[derive(Debug, Clone)]
pub struct TestStation {
    /// The data directory.
    pub data: PathBuf,
}

impl TestStation {
    /// Enrolls `data` with `registry` through `cardstation enroll`.
    pub fn enroll(data: &Path, registry: &TestRegistry) -> Result<TestStation> {
        let station = TestStation { data: data.to_owned() };
        station
            .run_raw(&["enroll", "--url", &registry.url, "--fingerprint", &registry.fingerprint], &[])?
            .expect_ok()?;
        Ok(station)
    }

    /// Enrolls a station with `registry` reached at `url` (a proxy in front
    /// of it), pinning the registry's own certificate.
    pub fn enroll_at(data: &Path, registry: &TestRegistry, url: &str) -> Result<TestStation> {
        let station = TestStation { data: data.to_owned() };
        station
            .run_raw(&["enroll", "--url", url, "--fingerprint", &registry.fingerprint], &[])?
            .expect_ok()?;
        Ok(station)
    }

    /// `cardstation --json --data DIR ARGS` as `operator`, started and not
    /// waited for (to be killed mid-way).
    pub fn spawn_as(&self, operator: &str, args: &[&str]) -> Result<std::process::Child> {
        let mut all = vec!["--json", "--data", self.data.to_str().unwrap_or_default()];
        all.extend_from_slice(args);
        std::process::Command::new(tools::cardstation_bin())
            .args(&all)
            .env("CARDSTATION_OPERATOR", operator)
            .env("CARDSTATION_PASSWORD", PASSWORD)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("starting cardstation")
    }

    fn run_raw(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Run> {
        let mut all = vec!["--json", "--data", self.data.to_str().unwrap_or_default()];
        all.extend_from_slice(args);
        tools::cardstation(&all, env)
    }

    /// Runs `cardstation --json --data DIR ARGS` signed in as `operator`.
    pub fn as_operator(&self, operator: &str, args: &[&str]) -> Result<Run> {
        self.as_operator_env(operator, args, &[])
    }

    /// [`TestStation::as_operator`] with more environment (secrets a command reads).
    pub fn as_operator_env(&self, operator: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Run> {
        let mut all = vec![("CARDSTATION_OPERATOR", operator), ("CARDSTATION_PASSWORD", PASSWORD)];
        all.extend_from_slice(env);
        self.run_raw(args, &all)
    }
}

/// A walk-up badge (UC-WALKUP): one P-256 key in 9A, issuance validated
/// (the provisioning task approves it), a PIN of 6 to 8 digits the
/// cardholder chooses. One slot keeps the every-APDU tear test short.
pub const WALKUP_PROFILE: &str = r#"
name = "Employee badge"
capabilities = "contact"
management_key = "aes256"
validate_issuance = true
card_end_state = "active"
certificate_end_state = "valid"
is_temporary = false
card_validity_days = 1825
pin = { min_length = 6, max_length = 8, numeric = true, retries = 3 }
puk = { length = 8, numeric = true, retries = 3 }

[[slots]]
slot = "piv_authentication"
algorithm = "ecc_p256"
certificate = { subject = "CN={name},O=Example", validity_days = 365, ekus = ["client_auth"] }
"#;

/// `ProfileSettings` as TOML: P-256 keys in 9A and 9C, the registry CA's templates.
pub fn profile(name: &str, validate_issuance: bool) -> String {
    format!(
        r#"
name = "{name}"
capabilities = "contact"
management_key = "aes256"
validate_issuance = {validate_issuance}
card_end_state = "active"
certificate_end_state = "valid"
is_temporary = false
card_validity_days = 1825
pin = {{ min_length = 6, max_length = 8, numeric = true, retries = 3 }}
puk = {{ length = 8, numeric = true, retries = 3 }}

[[slots]]
slot = "piv_authentication"
algorithm = "ecc_p256"
certificate = {{ subject = "CN={{name}},OU=PIV Authentication,O=Example", validity_days = 365, ekus = ["client_auth"] }}

[[slots]]
slot = "digital_signature"
algorithm = "ecc_p256"
certificate = {{ subject = "CN={{name}},OU=Digital Signature,O=Example", validity_days = 365, ekus = ["email_protection"] }}
"#
    )
}
