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

    let Served { server: _server, port, fingerprint, ca_fingerprint, .. } =
        serve(dir.path(), &[], Stdio::null());
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

/// A client of the served registry's API over TLS, the certificate pinned.
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn login(&self, username: &str, password: &str) -> String {
        let grant: proto::SessionGrant = self
            .client
            .post(format!("{}/v1/sessions", self.base))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        grant.token.expose().to_owned()
    }

    async fn post(&self, token: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let value: serde_json::Value = response.json().await.unwrap();
        assert!(status.is_success(), "POST {path}: {status} {value}");
        value
    }

    /// One operation; it must be accepted.
    async fn op(&self, token: &str, kind: proto::OperationKind) -> proto::Answer {
        let batch = proto::OperationBatch { operations: vec![suite::operation(kind)] };
        let body = self.post(token, "/v1/operations", serde_json::to_value(batch).unwrap()).await;
        let answer = serde_json::from_value::<proto::AnswerBatch>(body).unwrap().answers.remove(0);
        assert!(answer.is_accepted(), "{answer:?}");
        answer
    }
}

/// Runs openssl in `dir`: (success, stdout + stderr).
fn openssl_in(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out =
        std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // The relying party's view, for `--nocapture` (the issue asks to show it).
    println!("$ openssl {}\n{text}", args.join(" "));
    (out.status.success(), text)
}

/// The promise of issue 16 item 7, with the real binary and the real
/// openssl as the relying party: certificates the registry issues name a
/// CRL distribution point, caIssuers and an OCSP responder on the plain-HTTP
/// publication listener, and carry the smart card logon EKU and the UPN a
/// Windows logon needs. `openssl verify -crl_download` and `openssl ocsp
/// -url` find the status there: good before; revoked (keyCompromise) once
/// the card is cancelled as lost; revoked (certificateHold) while held;
/// unknown for a serial never issued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relying_parties_find_revocation_by_crl_download_and_ocsp() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (ok, out) = run(
        &["init", "--data", data, "--all-use-cases"],
        &[("CARDSTATION_ADMIN_PASSWORD", "admin-password-1")],
    );
    assert!(ok, "{out}");
    for (role, permissions) in [
        ("Requesters", &["--all-profiles", "can_request"][..]),
        ("Approvers", &["--all-profiles", "can_approve"][..]),
        ("Issuers", &["--all-profiles", "can_collect", "--global", "cancel_revoke"][..]),
    ] {
        let (ok, out) =
            run(&[&["role", "add", "--data", data, "--name", role][..], permissions].concat(), &[]);
        assert!(ok, "{out}");
    }
    for (username, role) in [("rita", "Requesters"), ("abe", "Approvers"), ("ivy", "Issuers")] {
        let (ok, out) = run(
            &[
                "operator",
                "add",
                "--data",
                data,
                "--username",
                username,
                "--family-name",
                "Op",
                "--role",
                role,
            ],
            &[("CARDSTATION_OPERATOR_PASSWORD", "operator-password-1")],
        );
        assert!(ok, "{out}");
    }
    // A profile for Windows logon: smart card logon beside client authentication in 9A.
    let mut settings = suite::settings("Windows logon", true);
    settings.slots[0].certificate.ekus =
        vec![domain::ExtendedKeyUsage::ClientAuth, domain::ExtendedKeyUsage::SmartCardLogon];
    let profile = domain::ProfileId::new(uuid::Uuid::now_v7());
    let file = dir.path().join("logon.toml");
    std::fs::write(&file, toml::to_string(&settings).unwrap()).unwrap();
    let (ok, out) = run(
        &["profile", "add", "--data", data, "--file", file.to_str().unwrap(), "--id", &profile.to_string()],
        &[],
    );
    assert!(ok, "{out}");

    let served = serve(std::path::Path::new(data), &["--publish-listen", "127.0.0.1:0"], Stdio::null());
    let published = served.published.clone().expect("serve says where it publishes");
    let identity = registry::tls::TlsIdentity::load(
        &std::path::Path::new(data).join(registry::tls::CERT_FILE),
        &std::path::Path::new(data).join(registry::tls::KEY_FILE),
    )
    .unwrap();
    let api = Api {
        client: reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(identity.cert_pem().as_bytes()).unwrap())
            .build()
            .unwrap(),
        base: format!("https://localhost:{}", served.port),
    };
    let admin = api.login("admin", "admin-password-1").await;
    let (rita, abe, ivy) = (
        api.login("rita", "operator-password-1").await,
        api.login("abe", "operator-password-1").await,
        api.login("ivy", "operator-password-1").await,
    );
    let person = domain::PersonId::new(uuid::Uuid::now_v7());
    api.op(
        &admin,
        proto::OperationKind::CreatePerson(proto::CreatePerson {
            id: person,
            given_name: "Carla".into(),
            family_name: "Holder".into(),
            email: Some("carla@corp.example".into()),
            employee_id: None,
        }),
    )
    .await;

    // A card for Carla: requested, approved, its 9A key certified after
    // proof of possession, the card recorded as holding it.
    let issue_card = |card_serial: &'static str| {
        let (api, rita, abe, ivy) = (&api, &rita, &abe, &ivy);
        async move {
            let request = domain::RequestId::new(uuid::Uuid::now_v7());
            let device = domain::DeviceId::new(uuid::Uuid::now_v7());
            api.op(
                rita,
                proto::OperationKind::RequestCard(proto::RequestCard {
                    request,
                    device,
                    person,
                    profile,
                    reason: None,
                    notes: None,
                    route: None,
                }),
            )
            .await;
            api.op(abe, proto::OperationKind::ApproveRequest(proto::ApproveRequest { request, notes: None }))
                .await;
            let challenge = api.post(ivy, "/v1/certificates/challenges", serde_json::json!({})).await;
            let challenge = hex::decode(challenge["challenge"].as_str().unwrap()).unwrap();
            let key = suite::card_key();
            let body = suite::issue_body(uuid::Uuid::now_v7(), device, &key, &challenge, &challenge);
            let issued = api.post(ivy, "/v1/certificates", body).await;
            let proto::OperationKind::RecordIssuance(mut record) =
                suite::issuance_of(device, Some(request), &issued)
            else {
                unreachable!()
            };
            record.card.serial = Some(card_serial.into());
            api.op(ivy, proto::OperationKind::RecordIssuance(record)).await;
            (device, issued)
        }
    };
    let (lost_card, lost) = issue_card("SN-LOST").await;
    let (_, held) = issue_card("SN-HELD").await;

    let work = dir.path();
    let ca_pem = api.client.get(format!("{}/v1/ca", api.base)).send().await.unwrap().text().await.unwrap();
    std::fs::write(work.join("ca.pem"), ca_pem).unwrap();
    for (name, issued) in [("lost", &lost), ("held", &held)] {
        std::fs::write(
            work.join(format!("{name}.der")),
            hex::decode(issued["der"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let (ok, text) = openssl_in(
            work,
            &["x509", "-inform", "DER", "-in", &format!("{name}.der"), "-out", &format!("{name}.pem")],
        );
        assert!(ok, "{text}");
    }

    // What a relying party reads in the certificate.
    let (ok, text) = openssl_in(work, &["x509", "-in", "lost.pem", "-noout", "-text"]);
    assert!(ok, "{text}");
    for expected in [
        format!("URI:http://{published}/crl"),
        format!("CA Issuers - URI:http://{published}/ca.crt"),
        format!("OCSP - URI:http://{published}/ocsp"),
        "Microsoft Smartcard Login".to_owned(),
        "TLS Web Client Authentication".to_owned(),
        "UPN::carla@corp.example".to_owned(),
        "email:carla@corp.example".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} in\n{text}");
    }

    let verify = |name: &str| {
        openssl_in(
            work,
            &["verify", "-crl_check", "-crl_download", "-CAfile", "ca.pem", &format!("{name}.pem")],
        )
    };
    let url = format!("http://{published}/ocsp");
    let ocsp = |target: &[&str]| {
        let (ok, text) = openssl_in(
            work,
            &[&["ocsp", "-issuer", "ca.pem", "-url", &url, "-CAfile", "ca.pem", "-resp_text"][..], target]
                .concat(),
        );
        assert!(ok, "{text}");
        // Signed by the CA, and openssl's nonce came back (it warns when it does not).
        assert!(text.contains("Response verify OK") && !text.contains("WARNING"), "{text}");
        text
    };
    let (ok, text) = verify("lost");
    assert!(ok && text.trim() == "lost.pem: OK", "before: {text}");
    let text = ocsp(&["-cert", "lost.pem"]);
    assert!(text.lines().any(|l| l == "lost.pem: good"), "before: {text}");
    assert!(text.contains("OCSP Nonce"), "{text}");

    // The card is lost: cancelled, its certificates revoked as compromised.
    api.op(
        &ivy,
        proto::OperationKind::ChangeDevice(proto::ChangeDevice {
            device: lost_card,
            change: proto::DeviceChange::Cancel { reason: domain::CancelReason::Lost },
            notes: Some("lost on the train".into()),
        }),
    )
    .await;
    let (ok, text) = verify("lost");
    assert!(!ok && text.contains("certificate revoked"), "after: {text}");
    let text = ocsp(&["-cert", "lost.pem"]);
    assert!(text.lines().any(|l| l == "lost.pem: revoked"), "after: {text}");
    assert!(text.contains("Reason: keyCompromise"), "{text}");

    // A certificate on hold.
    let certificate: domain::CertificateId =
        serde_json::from_value(held["certificate"]["id"].clone()).unwrap();
    api.op(
        &ivy,
        proto::OperationKind::ChangeCertificate(proto::ChangeCertificate {
            certificate,
            change: proto::CertificateChange::Hold,
            notes: None,
        }),
    )
    .await;
    let (ok, text) = verify("held");
    assert!(!ok && text.contains("certificate revoked"), "held: {text}");
    let text = ocsp(&["-cert", "held.pem"]);
    assert!(text.lines().any(|l| l == "held.pem: revoked"), "held: {text}");
    assert!(text.contains("Reason: certificateHold"), "{text}");

    // A serial this CA never issued.
    let text = ocsp(&["-serial", "0x0123456789ABCDEF"]);
    assert!(text.lines().any(|l| l == "0x0123456789ABCDEF: unknown"), "{text}");

    // The publication listener serves the signed objects and nothing else.
    let plain = reqwest::Client::new();
    let crl = plain.get(format!("http://{published}/crl")).send().await.unwrap();
    assert_eq!(crl.headers()["content-type"], "application/pkix-crl");
    let ca = plain.get(format!("http://{published}/ca.crt")).send().await.unwrap();
    assert_eq!(ca.headers()["content-type"], "application/pkix-cert");
    let (ok, text) = openssl_in(work, &["x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der"]);
    assert!(ok, "{text}");
    assert_eq!(
        ca.bytes().await.unwrap(),
        std::fs::read(work.join("ca.der")).unwrap(),
        "the CA certificate, DER"
    );
    for path in ["/v1/health", "/v1/openapi.json", "/v1/changes"] {
        let response = plain.get(format!("http://{published}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path} is not published");
    }
    let large = plain
        .post(format!("http://{published}/ocsp"))
        .header("content-type", "application/ocsp-request")
        .body(vec![0u8; registry::http::PUBLICATION_BODY_LIMIT + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(large.status(), 413);
    // OCSP by GET (RFC 6960 appendix A): the request built by openssl, base64 in the URL.
    let (ok, text) =
        openssl_in(work, &["ocsp", "-issuer", "ca.pem", "-cert", "lost.pem", "-reqout", "req.der"]);
    assert!(ok, "{text}");
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(work.join("req.der")).unwrap())
    };
    let encoded = encoded.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let response = plain.get(format!("http://{published}/ocsp/{encoded}")).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/ocsp-response");
    std::fs::write(work.join("resp.der"), response.bytes().await.unwrap()).unwrap();
    let (ok, text) = openssl_in(
        work,
        &[
            "ocsp",
            "-respin",
            "resp.der",
            "-issuer",
            "ca.pem",
            "-cert",
            "lost.pem",
            "-CAfile",
            "ca.pem",
            "-no_nonce",
        ],
    );
    assert!(ok && text.lines().any(|l| l == "lost.pem: revoked"), "{text}");

    // A wildcard address is no URL relying parties can reach: refused unless the URLs are given.
    let (ok, out) =
        run(&["serve", "--data", data, "--listen", "127.0.0.1:0", "--publish-listen", "0.0.0.0:0"], &[]);
    assert!(!ok && out.contains("--crl-url, --ca-issuers-url and --ocsp-url"), "{out}");
}
