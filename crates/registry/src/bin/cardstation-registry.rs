//! `cardstation-registry`: the central registry server and its
//! administration commands (SPEC §1; issue 3).
//!
//! ```text
//! cardstation-registry init --data DIR
//! cardstation-registry serve --data DIR --listen 127.0.0.1:8443 [--cert PEM --key PEM]
//!     [--publish-listen ADDR] [--crl-url URL] [--ca-issuers-url URL] [--ocsp-url URL]
//! cardstation-registry operator add --data DIR --username NAME --family-name NAME [--role ROLE]...
//! cardstation-registry role add --data DIR --name NAME [--global PERM]... [--all-profiles PERM]...
//! cardstation-registry role grant --data DIR --username NAME --role ROLE
//! cardstation-registry profile add --data DIR --file PROFILE.toml
//! cardstation-registry use-case enable|disable --data DIR USE_CASE
//! ```
//!
//! Every command takes `--database postgres://user:password@host:port/db` to
//! keep the records in PostgreSQL instead of `DIR/registry.sqlite3`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use domain::{
    GlobalPermission, ProfileId, ProfilePermission, ProfileScope, ProfileSettings, Role, RoleId, UseCase,
};
use rand::Rng;
use registry::escrow::AuthoritySeal;
use registry::storage::PostgresStorage;
use registry::tls::TlsIdentity;
use registry::{admin, storage, AuditAnchor, DeploymentSettings, Registry, SqliteStorage, Storage};
use time::OffsetDateTime;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The database file inside the data directory.
const DB_FILE: &str = "registry.sqlite3";
/// The key-encryption key inside the data directory (mode 0600): it seals
/// the escrowed card secrets and the CA's private key.
const KEK_FILE: &str = "escrow-kek.key";
/// The certificate authority's directory inside the data directory.
const CA_DIR: &str = "ca";
/// The CA's name when it is created.
const CA_NAME: &str = "Cardstation Registry CA";
/// How often `serve` checkpoints the audit chain's head when it moved (see
/// `registry::anchor`: removing the newest events goes unnoticed only
/// until the next checkpoint).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// The key-encryption key of `data`, created at first start.
fn open_kek(data: &Path) -> anyhow::Result<Arc<authority::FileKek>> {
    Ok(Arc::new(
        authority::FileKek::open_or_create(&data.join(KEK_FILE))
            .with_context(|| format!("opening the key-encryption key in {}", data.display()))?,
    ))
}

/// Seals the audit events written through `storage` with the audit key of
/// `data` (created at first start): every command that writes events does,
/// or `serve`'s verification would report theirs as written without it.
fn open_anchor(data: &Path, storage: &dyn Storage) -> anyhow::Result<AuditAnchor> {
    let kek = open_kek(data)?;
    AuditAnchor::open_or_create(data, kek.as_ref(), storage)
        .with_context(|| format!("opening the audit key in {}", data.display()))
}

/// The key-encryption key and the certificate authority of `data`, both
/// created at first start; prints the CA's fingerprint.
fn open_authority(data: &Path) -> anyhow::Result<(Arc<authority::FileKek>, authority::CertificateAuthority)> {
    let kek = open_kek(data)?;
    let existed = data.join(CA_DIR).exists();
    let ca = authority::CertificateAuthority::open_or_create(&data.join(CA_DIR), CA_NAME, kek.as_ref())
        .with_context(|| format!("opening the certificate authority in {}", data.join(CA_DIR).display()))?;
    if !existed {
        println!("created the certificate authority {:?} in {}", ca.subject(), data.join(CA_DIR).display());
    }
    println!("CA certificate SHA-256 fingerprint: {}", ca.fingerprint());
    Ok((kek, ca))
}

/// The URLs written into issued certificates, so relying parties find
/// the CRL, the CA certificate and the OCSP responder.
#[derive(Debug, Default)]
struct Publication {
    crl: Option<String>,
    ca_issuers: Option<String>,
    ocsp: Option<String>,
}

impl Publication {
    /// The URLs given, each defaulting to the publication listener at
    /// `published` (when there is one).
    fn urls(
        published: Option<std::net::SocketAddr>,
        crl: Option<String>,
        ca_issuers: Option<String>,
        ocsp: Option<String>,
    ) -> anyhow::Result<Publication> {
        let Some(addr) = published else { return Ok(Publication { crl, ca_issuers, ocsp }) };
        let missing = crl.is_none() || ca_issuers.is_none() || ocsp.is_none();
        if missing && addr.ip().is_unspecified() {
            bail!(
                "--publish-listen {addr} names no address relying parties can reach: \
                 give --crl-url, --ca-issuers-url and --ocsp-url"
            );
        }
        let at = |path: &str| format!("http://{addr}{path}");
        Ok(Publication {
            crl: crl.or_else(|| Some(at("/crl"))),
            ca_issuers: ca_issuers.or_else(|| Some(at("/ca.crt"))),
            ocsp: ocsp.or_else(|| Some(at("/ocsp"))),
        })
    }

    /// The CA writing these URLs into what it issues; prints them.
    fn apply(
        &self,
        mut ca: authority::CertificateAuthority,
    ) -> anyhow::Result<authority::CertificateAuthority> {
        if let Some(url) = &self.crl {
            ca = ca.with_crl_url(url).context("the CRL URL")?;
            println!("CRL distribution point: {url}");
        }
        if let Some(url) = &self.ca_issuers {
            ca = ca.with_ca_issuers_url(url).context("the CA issuers URL")?;
            println!("AIA caIssuers: {url}");
        }
        if let Some(url) = &self.ocsp {
            ca = ca.with_ocsp_url(url).context("the OCSP URL")?;
            println!("AIA OCSP: {url}");
        }
        Ok(ca)
    }
}

#[derive(Parser, Debug)]
#[command(name = "cardstation-registry", version, about = "Cardstation's central registry")]
struct Cli {
    /// Logs as JSON lines (for log collectors) instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    /// Keep the records in PostgreSQL (`postgres://user:password@host:port/db`)
    /// instead of the SQLite file in the data directory (which still holds
    /// the TLS identity and the escrow key).
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the database and the first administrator ("admin"). The
    /// password comes from CARDSTATION_ADMIN_PASSWORD, or is generated and printed once.
    Init {
        #[arg(long)]
        data: PathBuf,
        /// Every card request needs approval (seed 002 "add an approval step").
        #[arg(long)]
        approval_step: bool,
        /// Switch every use case on (labs, demos); default: the seeds' defaults.
        #[arg(long)]
        all_use_cases: bool,
    },
    /// Serve the registry over HTTPS.
    Serve {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: std::net::SocketAddr,
        /// PEM certificate chain; default: a self-signed one kept in DIR.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// PEM private key for --cert.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Extra names for the self-signed certificate (DNS names or IPs).
        #[arg(long = "name")]
        names: Vec<String>,
        /// Where relying parties fetch the CRL (written into the certificates
        /// issued as CRL distribution point), e.g. http://pki.example/crl;
        /// default with --publish-listen: http://ADDR/crl.
        #[arg(long)]
        crl_url: Option<String>,
        /// Where relying parties fetch the CA certificate (AIA caIssuers);
        /// default with --publish-listen: http://ADDR/ca.crt.
        #[arg(long)]
        ca_issuers_url: Option<String>,
        /// Where relying parties ask for certificate status (AIA OCSP);
        /// default with --publish-listen: http://ADDR/ocsp.
        #[arg(long)]
        ocsp_url: Option<String>,
        /// Also serve the public signed objects — GET /crl, GET /ca.crt,
        /// POST /ocsp, GET /ocsp/{request} — over plain HTTP on ADDR, where
        /// relying parties (Windows, VPNs, `openssl -crl_download`) fetch them.
        #[arg(long, value_name = "ADDR")]
        publish_listen: Option<std::net::SocketAddr>,
        /// Where enrollment emails go: smtp://[user@]host[:587]?from=… (STARTTLS
        /// required), smtps://host[:465]?from=… (implicit TLS), or mailbox:DIR;
        /// default: the local mailbox DIR/mailbox, read by an administrator.
        #[arg(long, value_name = "URL")]
        mail: Option<String>,
        /// A file holding the SMTP password (never on the command line).
        #[arg(long, value_name = "FILE", requires = "mail")]
        mail_password_file: Option<PathBuf>,
    },
    /// Operator accounts.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Roles.
    Role {
        #[command(subcommand)]
        command: RoleCommand,
    },
    /// Credential profiles.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// Use-case enablement.
    UseCase {
        #[command(subcommand)]
        command: UseCaseCommand,
    },
}

#[derive(Subcommand, Debug)]
enum OperatorCommand {
    /// Add a person and their operator account. The password comes from
    /// CARDSTATION_OPERATOR_PASSWORD, or is generated and printed once.
    Add {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "")]
        given_name: String,
        #[arg(long)]
        family_name: String,
        #[arg(long)]
        email: Option<String>,
        /// Role names to grant.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum RoleCommand {
    /// Add a role.
    Add {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        name: String,
        /// Global permissions (snake_case, e.g. view_audit, cancel_revoke).
        #[arg(long = "global")]
        global: Vec<String>,
        /// Per-profile permissions on every profile (can_request, can_collect, can_approve).
        #[arg(long = "all-profiles")]
        all_profiles: Vec<String>,
    },
    /// Grant a role to an operator.
    Grant {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        username: String,
        #[arg(long)]
        role: String,
    },
}

#[derive(Subcommand, Debug)]
enum ProfileCommand {
    /// Add version 1 of a credential profile from a TOML file of `ProfileSettings`.
    Add {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        file: PathBuf,
        /// The profile id; default: a new UUIDv7.
        #[arg(long)]
        id: Option<Uuid>,
    },
}

#[derive(Subcommand, Debug)]
enum UseCaseCommand {
    /// Switch a use case on (snake_case name, e.g. request).
    Enable {
        #[arg(long)]
        data: PathBuf,
        name: String,
    },
    /// Switch a use case off.
    Disable {
        #[arg(long)]
        data: PathBuf,
        name: String,
    },
}

/// The registry's database: PostgreSQL at `database` if given, else the
/// SQLite file in `data`; its audit events sealed with the key in `data`.
fn open_storage(data: &Path, database: Option<&str>) -> anyhow::Result<(Arc<dyn Storage>, AuditAnchor)> {
    let storage: Arc<dyn Storage> = match database {
        Some(url) => Arc::new(PostgresStorage::open(url).context("opening the PostgreSQL database")?),
        None => Arc::new(open(data)?),
    };
    let anchor = open_anchor(data, &*storage)?;
    Ok((storage, anchor))
}

fn open(data: &Path) -> anyhow::Result<SqliteStorage> {
    let db = data.join(DB_FILE);
    if !db.exists() {
        bail!(
            "{} does not exist: run `cardstation-registry init --data {}` first",
            db.display(),
            data.display()
        );
    }
    SqliteStorage::open(&db).with_context(|| format!("opening {}", db.display()))
}

/// Checkpoints the audit chain every [`CHECKPOINT_EVERY`] (when its head moved).
async fn checkpoint_periodically(registry: Registry) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        checkpoint(registry.clone()).await;
    }
}

/// One audit checkpoint, on the blocking pool (it reads the database and syncs a file).
async fn checkpoint(registry: Registry) {
    match tokio::task::spawn_blocking(move || registry.checkpoint_audit()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "writing an audit checkpoint failed"),
        Err(e) => tracing::error!(error = %e, "the audit checkpoint task failed"),
    }
}

fn generated_password() -> Zeroizing<String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    Zeroizing::new((0..20).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect())
}

/// The password from `var`, or a generated one (and whether it was generated).
fn password_from(var: &str) -> (Zeroizing<String>, bool) {
    match std::env::var(var) {
        Ok(p) if !p.is_empty() => (Zeroizing::new(p), false),
        _ => (generated_password(), true),
    }
}

fn parse_snake<T: serde::de::DeserializeOwned>(what: &str, name: &str) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .with_context(|| format!("{name:?} is not a {what}"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if cli.log_json {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let now = OffsetDateTime::now_utc();
    match cli.command {
        Command::Init { data, approval_step, all_use_cases } => {
            std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
            // Keys, the database and its journal live here: the owner's only.
            std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .with_context(|| format!("restricting {}", data.display()))?;
            let storage: Arc<dyn Storage> = match cli.database.as_deref() {
                Some(url) => Arc::new(PostgresStorage::open(url).context("opening the PostgreSQL database")?),
                None => Arc::new(SqliteStorage::open(&data.join(DB_FILE))?),
            };
            let settings = DeploymentSettings {
                use_cases: if all_use_cases { domain::UseCases::all() } else { domain::UseCases::default() },
                approval_step,
                self_enrollment: domain::SelfEnrollmentPolicy::default(),
            };
            // Before the first event, so that every event is sealed.
            open_anchor(&data, &*storage)?;
            let (password, generated) = password_from("CARDSTATION_ADMIN_PASSWORD");
            admin::init(&*storage, &settings, "admin", &password, now)?;
            open_authority(&data)?;
            println!("initialized {}", data.display());
            if generated {
                println!("administrator: admin / {} (shown once; change it)", password.as_str());
            } else {
                println!("administrator: admin (password from CARDSTATION_ADMIN_PASSWORD)");
            }
        }
        Command::Serve {
            data,
            listen,
            cert,
            key,
            names,
            crl_url,
            ca_issuers_url,
            ocsp_url,
            publish_listen,
            mail,
            mail_password_file,
        } => {
            let (storage, anchor) = open_storage(&data, cli.database.as_deref())?;
            let identity = match (cert, key) {
                (Some(cert), Some(key)) => TlsIdentity::load(&cert, &key)?,
                _ => {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    let (identity, created) = TlsIdentity::load_or_create(&data, &names)?;
                    if created {
                        println!("created a self-signed certificate in {}", data.display());
                    }
                    identity
                }
            };
            println!("certificate SHA-256 fingerprint: {}", identity.fingerprint());
            let config = identity.server_config()?;
            let (kek, ca) = open_authority(&data)?;
            // Bound first: with port 0 the URLs name the port actually taken.
            let publish = match publish_listen {
                Some(addr) => {
                    let listener =
                        std::net::TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
                    listener.set_nonblocking(true)?;
                    Some(listener)
                }
                None => None,
            };
            let urls = Publication::urls(
                publish.as_ref().map(std::net::TcpListener::local_addr).transpose()?,
                crl_url,
                ca_issuers_url,
                ocsp_url,
            )?;
            let ca = urls.apply(ca)?;
            let seal = AuthoritySeal(authority::Escrow::new(kek));
            let registry = Registry::new(storage)
                .with_escrow(Arc::new(seal))
                .with_authority(Arc::new(ca))
                .with_audit_anchor(Arc::new(anchor));
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async move {
                // Said before "listening on": what follows that line may go unread.
                let mail = mail_dispatcher(&data, mail.as_deref(), mail_password_file.as_deref(), &registry)?;
                println!("mail: {}", mail.transport().describe());
                if let Some(listener) = publish {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    println!("publishing on http://{}", listener.local_addr()?);
                    let app = registry::publication_app(registry.clone());
                    tokio::spawn(registry::http::serve_plain(listener, app));
                }
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("binding {listen}"))?;
                println!("listening on https://{}", listener.local_addr()?);
                let shutdown = async {
                    let _ = tokio::signal::ctrl_c().await;
                    tracing::info!("shutting down");
                };
                let checkpoints = tokio::spawn(checkpoint_periodically(registry.clone()));
                let mail = tokio::spawn(async move { mail.run(std::future::pending::<()>()).await });
                let served =
                    registry::tls::serve_tls(listener, config, registry::app(registry.clone()), shutdown)
                        .await;
                checkpoints.abort();
                mail.abort();
                checkpoint(registry).await;
                served?;
                anyhow::Ok(())
            })?;
        }
        Command::Operator {
            command: OperatorCommand::Add { data, username, given_name, family_name, email, roles },
        } => {
            let (storage, _anchor) = open_storage(&data, cli.database.as_deref())?;
            let (password, generated) = password_from("CARDSTATION_OPERATOR_PASSWORD");
            let new =
                admin::NewOperator { username: username.clone(), given_name, family_name, email, roles };
            let (operator, person) = admin::add_operator(&*storage, &new, &password, now)?;
            println!("operator {username}: id {operator}, person {person}");
            if generated {
                println!("password: {} (shown once)", password.as_str());
            }
        }
        Command::Role { command: RoleCommand::Add { data, name, global, all_profiles } } => {
            let (storage, _anchor) = open_storage(&data, cli.database.as_deref())?;
            let mut role = Role::new(RoleId::new(Uuid::now_v7()), name.clone());
            for g in &global {
                role = role.with_global(parse_snake::<GlobalPermission>("global permission", g)?);
            }
            for p in &all_profiles {
                role = role.with_profile_permission(
                    parse_snake::<ProfilePermission>("per-profile permission", p)?,
                    ProfileScope::All,
                );
            }
            admin::add_role(&*storage, &role, now)?;
            println!("role {name}: id {}", role.id);
        }
        Command::Role { command: RoleCommand::Grant { data, username, role } } => {
            let (storage, _anchor) = open_storage(&data, cli.database.as_deref())?;
            admin::grant_role(&*storage, &username, &role, now)?;
            println!("granted {role} to {username}");
        }
        Command::Profile { command: ProfileCommand::Add { data, file, id } } => {
            let (storage, _anchor) = open_storage(&data, cli.database.as_deref())?;
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let settings: ProfileSettings =
                toml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
            let id = ProfileId::new(id.unwrap_or_else(Uuid::now_v7));
            let profile = admin::add_profile(&*storage, id, settings, now)?;
            println!(
                "credential profile {:?}: id {}, version {}",
                profile.settings.name, profile.id, profile.version
            );
        }
        Command::UseCase { command } => {
            let (data, name, enable) = match command {
                UseCaseCommand::Enable { data, name } => (data, name, true),
                UseCaseCommand::Disable { data, name } => (data, name, false),
            };
            let (storage, _anchor) = open_storage(&data, cli.database.as_deref())?;
            let use_case = parse_snake::<UseCase>("use case", &name)?;
            let mut settings = storage::read(&*storage, |tx| tx.settings())?;
            if enable {
                settings.use_cases.enable(use_case);
            } else {
                settings.use_cases.disable(use_case)?;
            }
            admin::set_settings(&*storage, &settings, now)?;
            println!("{use_case}: {}", if enable { "enabled" } else { "disabled" });
        }
    }
    Ok(())
}

/// The dispatcher that drains the registry's mail outbox (provisioning
/// emails) to SMTP or the local mailbox, woken by the operation that queued
/// a message.
fn mail_dispatcher(
    data: &Path,
    url: Option<&str>,
    password_file: Option<&Path>,
    registry: &Registry,
) -> anyhow::Result<mail::Dispatcher> {
    let mut config = match url {
        Some(url) => mail::MailConfig::parse(url).context("--mail")?,
        None => mail::MailConfig::embedded_default(data),
    };
    if let Some(file) = password_file {
        let password =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        config = config.with_password(mail::SecretText::new(password.trim_end_matches(['\r', '\n'])));
    }
    let transport = mail::Transport::new(&config).context("--mail")?;
    if let Some(mailbox) = transport.mailbox() {
        // The embedded default: administrators read it in the app.
        registry.read_mail_from(mailbox.clone());
    }
    let outbox = Arc::new(registry::mail_outbox::RegistryOutbox(registry.clone()));
    // New mail wakes it at once; the poll bounds how late a retry comes.
    let settings =
        mail::DispatcherConfig { idle_poll: std::time::Duration::from_secs(15), ..Default::default() };
    let dispatcher = mail::Dispatcher::new(outbox, transport, settings);
    registry.wake_mail_with(dispatcher.waker());
    Ok(dispatcher)
}
