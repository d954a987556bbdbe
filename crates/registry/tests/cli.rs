//! The `cardstation-registry` binary end to end: init, role, operator and
//! profile administration, then `serve` with its self-signed certificate,
//! called over TLS with that certificate pinned.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;

mod common;
mod suite;

use common::{printed, run, serve, Served, CA_LINE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administer_then_serve_over_pinned_tls() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let admin_env = [("CARDSTATION_ADMIN_PASSWORD", "admin-password-1")];
    let (ok, out) = run(&["init", "--data", data, "--all-use-cases"], &admin_env);
    assert!(ok, "{out}");
    assert!(out.contains("administrator: admin") && !out.contains("admin-password-1"), "{out}");
    let ca_at_init = printed(&out, CA_LINE).expect("init creates the CA and prints its fingerprint");
    assert!(out.contains("created the certificate authority"), "{out}");
    let (ok, out) = run(&["init", "--data", data], &admin_env);
    assert!(!ok, "a second init is refused: {out}");

    let (ok, out) = run(
        &[
            "role",
            "add",
            "--data",
            data,
            "--name",
            "Issuers",
            "--all-profiles",
            "can_collect",
            "--global",
            "view_audit",
        ],
        &[],
    );
    assert!(ok, "{out}");
    let (ok, out) = run(&["role", "add", "--data", data, "--name", "Bad", "--global", "root"], &[]);
    assert!(!ok, "an unknown permission is refused: {out}");
    let (ok, out) = run(
        &[
            "operator",
            "add",
            "--data",
            data,
            "--username",
            "ivy",
            "--family-name",
            "Issuer",
            "--role",
            "Issuers",
        ],
        &[("CARDSTATION_OPERATOR_PASSWORD", "ivy-password-1")],
    );
    assert!(ok, "{out}");
    let (ok, out) =
        run(&["operator", "add", "--data", data, "--username", "gen", "--family-name", "Generated"], &[]);
    assert!(ok && out.contains("password: "), "a generated password is printed once: {out}");
    let profile = dir.path().join("employee.toml");
    std::fs::write(&profile, toml::to_string(&suite::settings("Employee", true)).unwrap()).unwrap();
    let (ok, out) = run(&["profile", "add", "--data", data, "--file", profile.to_str().unwrap()], &[]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["use-case", "disable", "--data", data, "sign_in"], &[]);
    assert!(!ok, "sign-in cannot be switched off: {out}");

    let Served { server: _server, port, fingerprint, ca_fingerprint } = serve(dir.path(), &[], Stdio::null());
    assert_eq!(ca_fingerprint, ca_at_init, "serve opens the CA init created");
    let identity = registry::tls::TlsIdentity::load(
        &dir.path().join(registry::tls::CERT_FILE),
        &dir.path().join(registry::tls::KEY_FILE),
    )
    .unwrap();
    assert_eq!(fingerprint, identity.fingerprint(), "the printed fingerprint is the served certificate's");
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(identity.cert_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let grant: proto::SessionGrant = client
        .post(format!("{base}/v1/sessions"))
        .json(&serde_json::json!({"username": "ivy", "password": "ivy-password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ca = client.get(format!("{base}/v1/ca")).send().await.unwrap();
    assert_eq!(ca.status(), 200);
    assert!(
        ca.text().await.unwrap().starts_with("-----BEGIN CERTIFICATE-----"),
        "the CA certificate is served"
    );
    let crl = client.get(format!("{base}/v1/crl")).send().await.unwrap();
    assert_eq!(crl.headers()["content-type"], "application/pkix-crl");
    let challenge = client
        .post(format!("{base}/v1/certificates/challenges"))
        .bearer_auth(grant.token.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 201, "an operator with Can Collect gets a challenge");
    let audit =
        client.get(format!("{base}/v1/audit")).bearer_auth(grant.token.expose()).send().await.unwrap();
    assert_eq!(audit.status(), 200, "the Issuers role views the audit log");
    let report: proto::ChainReport = client
        .get(format!("{base}/v1/audit/verify"))
        .bearer_auth(grant.token.expose())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(report.intact && report.sealed, "{report:?}");
    assert_eq!(report.sealed_from, Some(0), "init and every command sealed their events: {report:?}");
    // serve checkpoints at start (then every 10 s when the head moved).
    let checkpoints = dir.path().join(registry::anchor::CHECKPOINT_FILE);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !checkpoints.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(checkpoints.exists(), "serve writes audit checkpoints");
    for file in [checkpoints, dir.path().join(authority::audit_key::KEY_FILE)] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
    }
    let page: proto::ChangesPage = client
        .get(format!("{base}/v1/changes"))
        .bearer_auth(grant.token.expose())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        page.changes
            .iter()
            .any(|c| matches!(&c.record, proto::Record::Profile(p) if p.settings.name == "Employee")),
        "the profile added from TOML is on the feed"
    );
}
