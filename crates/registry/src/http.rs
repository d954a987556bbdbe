//! The HTTP adapter (axum): thin handlers that parse, call one
//! [`Registry`] method on the blocking pool, and map the outcome. Every error
//! is a JSON [`Problem`]; internals are logged, never sent.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use proto::{
    AccessDirectory, Answer, AnswerBatch, AuditPage, AuditQuery, CertificateChallenge, CertificateIssued,
    ChainReport, ChangesPage, ChangesQuery, EscrowFetch, EscrowKind, EscrowSecret, Health, IssueCertificate,
    Login, OfflineUnblockChallenge, OfflineUnblockResponse, OperationBatch, Problem, SessionGrant, MAX_BATCH,
};
use proto::{
    CheckEnrollmentCode, MailboxListing, PersonProvisioning, ProvisioningTaskList, ProvisioningTaskView,
    WalkupInvitation, WalkupUpdateOffer,
};
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use uuid::Uuid;

use crate::decide::Caller;
use crate::error::Error;
use crate::service::{Fault, Registry, Served};

/// The largest request body accepted (a full batch of operations fits).
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// An HTTP error: status and problem body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    problem: Problem,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, problem: Problem::new(code, message), retry_after: None }
    }
}

impl From<Fault> for ApiError {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::Unauthenticated(message) => {
                Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
            }
            Fault::Forbidden(refusal) => {
                Self::new(StatusCode::FORBIDDEN, refusal.code(), refusal.to_string())
            }
            Fault::NotFound(message) => Self::new(StatusCode::NOT_FOUND, "not_found", message),
            Fault::Invalid(message) => Self::new(StatusCode::BAD_REQUEST, "malformed", message),
            Fault::Denied(message) => Self::new(StatusCode::FORBIDDEN, "not_permitted", message),
            Fault::Conflict { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            Fault::Unprocessable { code, message } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            Fault::TooMany { retry_after, message } => Self {
                retry_after: Some(retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
            },
            Fault::Internal(error) => {
                tracing::error!(%error, "request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the registry failed; try again later",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.problem)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        response
    }
}

fn rejection(status: StatusCode, text: String) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "malformed",
    };
    let status = if status.is_client_error() { status } else { StatusCode::BAD_REQUEST };
    ApiError::new(status, code, text)
}

/// A JSON body whose rejection is a problem body.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(e @ JsonRejection::JsonDataError(_)) => {
                Err(rejection(StatusCode::UNPROCESSABLE_ENTITY, e.body_text()))
            }
            Err(e) => Err(rejection(e.status(), e.body_text())),
        }
    }
}

/// Query parameters whose rejection is a problem body.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|e: QueryRejection| rejection(StatusCode::BAD_REQUEST, e.body_text()))
    }
}

/// Path parameters whose rejection is a problem body.
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| PathParams(v))
            .map_err(|e: PathRejection| rejection(StatusCode::BAD_REQUEST, e.body_text()))
    }
}

/// A signed-in caller, from `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct Authed {
    /// Who.
    pub caller: Caller,
    token: String,
}

impl FromRequestParts<Registry> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, registry: &Registry) -> Result<Self, ApiError> {
        let unauthenticated = |m: &'static str| ApiError::from(Fault::Unauthenticated(m));
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| unauthenticated("sign in first"))?;
        let text = header.to_str().map_err(|_| unauthenticated("the Authorization header is not text"))?;
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        let token = text
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned())
            .ok_or_else(|| unauthenticated("expected Authorization: Bearer <token>"))?;
        let registry = registry.clone();
        let for_check = token.clone();
        let caller = blocking(move || registry.authenticate(&for_check)).await?;
        Ok(Authed { caller, token })
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Served<T> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(outcome) => outcome.map_err(ApiError::from),
        Err(e) => Err(Fault::Internal(Error::Task(e.to_string())).into()),
    }
}

/// The registry's routes with `registry` as their state.
pub fn app(registry: Registry) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/sessions", post(login).delete(logout))
        .route("/v1/operations", post(operations))
        .route("/v1/changes", get(changes))
        .route("/v1/admin/access", get(access_directory))
        .route("/v1/admin/mailbox", get(admin_mailbox))
        .route("/v1/audit", get(audit))
        .route("/v1/audit/verify", get(audit_verify))
        .route("/v1/devices/{device}/escrow/{kind}", get(escrow).post(escrow_noted))
        .route("/v1/devices/{device}/offline-unblock", post(offline_unblock))
        .route("/v1/certificates/challenges", post(certificate_challenge))
        .route("/v1/certificates", post(issue_certificate))
        .route("/v1/provisioning/tasks", get(provisioning_tasks))
        .route("/v1/provisioning/tasks/{task}", get(provisioning_task))
        .route("/v1/provisioning/report", get(provisioning_report))
        .route("/v1/people/{person}/provisioning", get(person_provisioning))
        .route("/v1/walkup/code", post(check_enrollment_code))
        .route("/v1/walkup/cards/{device}/update", post(walkup_update_offer))
        .route("/v1/crl", get(crl))
        .route("/v1/ca", get(ca_certificate))
        .merge(publication_routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(read_body_first))
        .layer(middleware::from_fn(log_request))
        .with_state(registry)
}

/// The largest OCSP request accepted: one for a few certificates is well
/// under a kilobyte.
pub const PUBLICATION_BODY_LIMIT: usize = 16 * 1024;

/// The public signed objects (CRL, CA certificate, OCSP). Relying parties
/// fetch them over plain HTTP (RFC 5280 §4.2.1.13, RFC 6960 appendix A):
/// the objects carry the CA's signature, so TLS would add nothing and would
/// itself need a revocation check.
fn publication_routes() -> Router<Registry> {
    Router::new()
        .route("/crl", get(published_crl))
        .route("/ca.crt", get(published_ca))
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
}

/// The plain-HTTP publication listener (`serve --publish-listen`): the
/// public signed objects and nothing else, so no API answers unencrypted.
pub fn publication_app(registry: Registry) -> Router {
    publication_routes()
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(PUBLICATION_BODY_LIMIT))
        .layer(middleware::from_fn(log_request))
        .with_state(registry)
}

/// How long a client of the publication listener may take to send a request head.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `app` (the [`publication_app`]) over plain HTTP on `listener`,
/// each connection in its own task. Request heads must arrive within 10 s
/// (bodies within 30 s, in the handler), so slow clients of a port open to
/// every relying party cannot hold connections open.
pub async fn serve_plain(listener: tokio::net::TcpListener, app: Router) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper_util::service::TowerToHyperService::new(app);
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
            if let Err(error) = builder.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}

/// How much of an oversized body is read and discarded before answering 413.
const DRAIN_LIMIT: usize = 16 * BODY_LIMIT;
/// How long a client may take to send its body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads the whole request body before anything answers. An answer given
/// early (no session, too large) while the client is still sending would be
/// followed by closing a connection with unread bytes, which makes the
/// kernel reset it: the client gets a TLS EOF instead of its 401 or 413
/// (found by the schemathesis test with large unauthenticated bodies).
/// Oversized bodies are drained up to [`DRAIN_LIMIT`], then answered 413.
async fn read_body_first(request: Request, next: Next) -> Response {
    use axum::body::HttpBody;
    let (parts, mut body) = request.into_parts();
    let mut buffer = Vec::new();
    let mut seen = 0usize;
    let read = async {
        while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            let Ok(frame) = frame else { return Err(()) };
            if let Ok(data) = frame.into_data() {
                seen = seen.saturating_add(data.len());
                if seen > DRAIN_LIMIT {
                    break;
                }
                if seen <= BODY_LIMIT {
                    buffer.extend_from_slice(&data);
                }
            }
        }
        Ok(())
    };
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(())) if seen <= BODY_LIMIT => {
            next.run(Request::from_parts(parts, axum::body::Body::from(buffer))).await
        }
        Ok(Ok(())) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("at most {BODY_LIMIT} bytes"))
                .into_response()
        }
        Ok(Err(())) => {
            ApiError::new(StatusCode::BAD_REQUEST, "malformed", "the request body could not be read")
                .into_response()
        }
        Err(_) => ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", "the request body took too long")
            .into_response(),
    }
}

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        path = %path.chars().take(200).collect::<String>(),
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/v1/health", tag = "registry",
    responses((status = 200, body = Health), (status = 503, body = Problem)))]
async fn health(State(registry): State<Registry>) -> Response {
    match blocking(move || registry.health()).await {
        Ok(()) => {
            Json(Health { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() }).into_response()
        }
        Err(_) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database does not answer")
                .into_response()
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "registry", responses((status = 200, body = Object)))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Sign in (UC-SIGNIN): a bearer token with an expiry.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = Login,
    responses((status = 201, body = SessionGrant), (status = 401, body = Problem), (status = 400, body = Problem),
        (status = 429, body = Problem, description = "too many sign-ins at once, or too many failures: see Retry-After")))]
async fn login(
    State(registry): State<Registry>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    Body(login): Body<Login>,
) -> Result<Response, ApiError> {
    let address = peer.map(|axum::Extension(axum::extract::ConnectInfo(a))| a.ip());
    // Refused before queueing when throttled; then at most a few password
    // checks run at once, the rest wait briefly or are told to come back.
    registry.sign_in_gate().admit(&login.username, address).map_err(Fault::from)?;
    let gate = registry.clone();
    let _turn = gate.sign_in_gate().check_turn().await.map_err(Fault::from)?;
    let grant = blocking(move || registry.login(&login, address)).await?;
    Ok((StatusCode::CREATED, Json(grant)).into_response())
}

/// Sign out: the token stops working.
#[utoipa::path(delete, path = "/v1/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn logout(State(registry): State<Registry>, authed: Authed) -> Result<StatusCode, ApiError> {
    blocking(move || registry.logout(&authed.caller, &authed.token)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Apply operations, each exactly once and in its own transaction (SPEC §6).
#[utoipa::path(post, path = "/v1/operations", tag = "operations", security(("bearer" = [])),
    request_body = OperationBatch,
    responses((status = 200, body = AnswerBatch), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn operations(
    State(registry): State<Registry>,
    authed: Authed,
    Body(batch): Body<OperationBatch>,
) -> Result<Json<AnswerBatch>, ApiError> {
    if batch.operations.is_empty() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "malformed", "the batch has no operation"));
    }
    if batch.operations.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("at most {MAX_BATCH} operations per batch"),
        ));
    }
    let answers = blocking(move || {
        let mut answers: Vec<Answer> = Vec::with_capacity(batch.operations.len());
        for op in &batch.operations {
            answers.push(registry.apply(&authed.caller, op)?);
        }
        Ok(answers)
    })
    .await?;
    Ok(Json(AnswerBatch { answers }))
}

/// Everything that changed after a cursor, oldest first, paged.
#[utoipa::path(get, path = "/v1/changes", tag = "sync", security(("bearer" = [])),
    params(
        ("since" = Option<String>, Query, pattern = r"^[0-9]{1,19}$",
            description = "The `next_cursor` of the previous page; absent: from the start."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size (default 500)."),
    ),
    responses((status = 200, body = ChangesPage), (status = 400, body = Problem), (status = 401, body = Problem)))]
async fn changes(
    State(registry): State<Registry>,
    authed: Authed,
    Params(query): Params<ChangesQuery>,
) -> Result<Json<ChangesPage>, ApiError> {
    let page =
        blocking(move || registry.changes(&authed.caller, query.since.as_deref(), query.limit)).await?;
    Ok(Json(page))
}

/// Roles, operator accounts and the use cases on (UC-ADMIN, Administer).
#[utoipa::path(get, path = "/v1/admin/access", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = AccessDirectory), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn access_directory(
    State(registry): State<Registry>,
    authed: Authed,
) -> Result<Json<AccessDirectory>, ApiError> {
    Ok(Json(blocking(move || registry.access_directory(&authed.caller)).await?))
}

/// The messages in the registry's local mailbox, newest first, with their
/// text (UC-PROV's embedded default; Administer; audited). 404 when mail goes
/// to an SMTP server instead.
#[utoipa::path(get, path = "/v1/admin/mailbox", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = MailboxListing), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "mail goes to an SMTP server: no local mailbox")))]
async fn admin_mailbox(
    State(registry): State<Registry>,
    authed: Authed,
) -> Result<Json<MailboxListing>, ApiError> {
    Ok(Json(blocking(move || registry.mailbox(&authed.caller)).await?))
}

/// A page of the audit trail (View audit).
#[utoipa::path(get, path = "/v1/audit", tag = "audit", security(("bearer" = [])),
    params(
        ("from" = Option<u64>, Query, description = "Events from this position of the chain (default 0)."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size (default 500)."),
    ),
    responses((status = 200, body = AuditPage), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
async fn audit(
    State(registry): State<Registry>,
    authed: Authed,
    Params(query): Params<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(blocking(move || registry.audit(&authed.caller, query.from, query.limit)).await?))
}

/// Verify the audit hash chain (View audit).
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, body = ChainReport), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn audit_verify(
    State(registry): State<Registry>,
    authed: Authed,
) -> Result<Json<ChainReport>, ApiError> {
    Ok(Json(blocking(move || registry.verify_audit(&authed.caller)).await?))
}

/// An escrowed card secret (management key: Can Collect; PUK: Unblock PIN). Audited.
#[utoipa::path(get, path = "/v1/devices/{device}/escrow/{kind}", tag = "escrow", security(("bearer" = [])),
    params(("device" = Uuid, Path, description = "the device"), ("kind" = EscrowKind, Path, description = "which secret")),
    responses((status = 200, body = EscrowSecret), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn escrow(
    State(registry): State<Registry>,
    authed: Authed,
    PathParams((device, kind)): PathParams<(Uuid, EscrowKind)>,
) -> Result<Json<EscrowSecret>, ApiError> {
    let device = domain::DeviceId::new(device);
    Ok(Json(blocking(move || registry.escrow(&authed.caller, device, kind)).await?))
}

/// An escrowed card secret, as the GET, with the identity-check note
/// (UC-PIN: how the cardholder was identified) kept in the fetch's audit event.
#[utoipa::path(post, path = "/v1/devices/{device}/escrow/{kind}", tag = "escrow", security(("bearer" = [])),
    params(("device" = Uuid, Path, description = "the device"), ("kind" = EscrowKind, Path, description = "which secret")),
    request_body = EscrowFetch,
    responses((status = 200, body = EscrowSecret), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn escrow_noted(
    State(registry): State<Registry>,
    authed: Authed,
    PathParams((device, kind)): PathParams<(Uuid, EscrowKind)>,
    Body(fetch): Body<EscrowFetch>,
) -> Result<Json<EscrowSecret>, ApiError> {
    let device = domain::DeviceId::new(device);
    Ok(Json(
        blocking(move || registry.escrow_noted(&authed.caller, device, kind, Some(&fetch.identity_check)))
            .await?,
    ))
}

/// Answer an offline PIN unblock challenge (Unblock PIN): the response code
/// for the cardholder; the escrowed PUK moves to the one the card will get.
/// Audited with the identity-check note.
#[utoipa::path(post, path = "/v1/devices/{device}/offline-unblock", tag = "escrow", security(("bearer" = [])),
    params(("device" = Uuid, Path, description = "the device")),
    request_body = OfflineUnblockChallenge,
    responses((status = 200, body = OfflineUnblockResponse), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "the code is mistyped, from another card, or not usable")))]
async fn offline_unblock(
    State(registry): State<Registry>,
    authed: Authed,
    PathParams(device): PathParams<Uuid>,
    Body(challenge): Body<OfflineUnblockChallenge>,
) -> Result<Json<OfflineUnblockResponse>, ApiError> {
    let device = domain::DeviceId::new(device);
    Ok(Json(blocking(move || registry.offline_unblock(&authed.caller, device, &challenge)).await?))
}

/// The provisioning task list (seed 004): tasks not completed and not
/// removed, with every column (Manage provisioning tasks).
#[utoipa::path(get, path = "/v1/provisioning/tasks", tag = "provisioning", security(("bearer" = [])),
    responses((status = 200, body = ProvisioningTaskList), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn provisioning_tasks(
    State(registry): State<Registry>,
    authed: Authed,
) -> Result<Json<ProvisioningTaskList>, ApiError> {
    Ok(Json(blocking(move || registry.provisioning_tasks(&authed.caller, false)).await?))
}

/// Every provisioning task, completed and removed ones included (reports:
/// Manage provisioning tasks or View audit).
#[utoipa::path(get, path = "/v1/provisioning/report", tag = "provisioning", security(("bearer" = [])),
    responses((status = 200, body = ProvisioningTaskList), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn provisioning_report(
    State(registry): State<Registry>,
    authed: Authed,
) -> Result<Json<ProvisioningTaskList>, ApiError> {
    Ok(Json(blocking(move || registry.provisioning_tasks(&authed.caller, true)).await?))
}

/// One provisioning task's details, by number or id (Manage provisioning tasks).
#[utoipa::path(get, path = "/v1/provisioning/tasks/{task}", tag = "provisioning", security(("bearer" = [])),
    params(("task" = String, Path, description = "the task's number or id")),
    responses((status = 200, body = ProvisioningTaskView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn provisioning_task(
    State(registry): State<Registry>,
    authed: Authed,
    PathParams(task): PathParams<String>,
) -> Result<Json<ProvisioningTaskView>, ApiError> {
    Ok(Json(blocking(move || registry.provisioning_task(&authed.caller, &task)).await?))
}

/// A person's outstanding provisioning tasks (any operator with a role; not a kiosk).
#[utoipa::path(get, path = "/v1/people/{person}/provisioning", tag = "provisioning", security(("bearer" = [])),
    params(("person" = Uuid, Path, description = "the person")),
    responses((status = 200, body = PersonProvisioning), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn person_provisioning(
    State(registry): State<Registry>,
    authed: Authed,
    PathParams(person): PathParams<Uuid>,
) -> Result<Json<PersonProvisioning>, ApiError> {
    let person = domain::PersonId::new(person);
    Ok(Json(blocking(move || registry.person_provisioning(&authed.caller, person)).await?))
}

/// Check an enrollment code typed at a walk-up kiosk (Walk-up kiosk): whom
/// it names. A wrong code counts toward the lock-out; the code is never echoed.
#[utoipa::path(post, path = "/v1/walkup/code", tag = "provisioning", security(("bearer" = [])),
    request_body = CheckEnrollmentCode,
    responses((status = 200, body = WalkupInvitation), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 422, body = Problem, description = "wrong, used, locked, expired or removed")))]
async fn check_enrollment_code(
    State(registry): State<Registry>,
    authed: Authed,
    Body(check): Body<CheckEnrollmentCode>,
) -> Result<Json<WalkupInvitation>, ApiError> {
    Ok(Json(blocking(move || registry.check_enrollment_code(&authed.caller, &check.code)).await?))
}

/// A card's approved update as a walk-up kiosk greets its holder (Walk-up
/// kiosk, UC-UPDATE on), with a single-use challenge for the card's PIV
/// Authentication key to sign (then `start_walkup_update`).
#[utoipa::path(post, path = "/v1/walkup/cards/{device}/update", tag = "provisioning", security(("bearer" = [])),
    params(("device" = String, Path, format = Uuid, description = "the card's device id")),
    responses((status = 200, body = WalkupUpdateOffer), (status = 401, body = Problem),
        (status = 403, body = Problem),
        (status = 404, body = Problem, description = "no update waiting for this card")))]
async fn walkup_update_offer(
    State(registry): State<Registry>,
    authed: Authed,
    PathParams(device): PathParams<Uuid>,
) -> Result<Json<WalkupUpdateOffer>, ApiError> {
    let device = domain::DeviceId::new(device);
    Ok(Json(blocking(move || registry.walkup_update_offer(&authed.caller, device)).await?))
}

/// A fresh single-use challenge for a card's proof of possession (Can Collect on some profile).
#[utoipa::path(post, path = "/v1/certificates/challenges", tag = "certificates", security(("bearer" = [])),
    responses((status = 201, body = CertificateChallenge), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem, description = "no certificate authority")))]
async fn certificate_challenge(
    State(registry): State<Registry>,
    authed: Authed,
) -> Result<Response, ApiError> {
    let challenge = blocking(move || registry.challenge(&authed.caller)).await?;
    Ok((StatusCode::CREATED, Json(challenge)).into_response())
}

/// Certify a card key after proof of possession, with the template of the
/// device's credential profile; the certificate is recorded on hold until
/// `record_issuance` names it. Exactly once per `op_id`.
#[utoipa::path(post, path = "/v1/certificates", tag = "certificates", security(("bearer" = [])),
    request_body = IssueCertificate,
    responses((status = 200, body = CertificateIssued), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "the device's state allows no issuance, or the op_id is another operator's"),
        (status = 422, body = Problem, description = "proof of possession, challenge, key or slot refused")))]
async fn issue_certificate(
    State(registry): State<Registry>,
    authed: Authed,
    Body(issue): Body<IssueCertificate>,
) -> Result<Json<CertificateIssued>, ApiError> {
    Ok(Json(blocking(move || registry.issue_certificate(&authed.caller, &issue)).await?))
}

/// The certificate revocation list (DER, RFC 5280): revoked certificates
/// with their reason, held ones as certificateHold. Public.
#[utoipa::path(get, path = "/v1/crl", tag = "certificates",
    responses((status = 200, content_type = "application/pkix-crl", body = Vec<u8>),
        (status = 404, body = Problem, description = "no certificate authority")))]
async fn crl(State(registry): State<Registry>) -> Result<Response, ApiError> {
    let der = blocking(move || registry.crl()).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/pkix-crl")], der).into_response())
}

/// The CA certificate (PEM): the trust anchor of the cards' certificates. Public.
#[utoipa::path(get, path = "/v1/ca", tag = "certificates",
    responses((status = 200, content_type = "application/x-pem-file", body = String),
        (status = 404, body = Problem, description = "no certificate authority")))]
async fn ca_certificate(State(registry): State<Registry>) -> Result<Response, ApiError> {
    let pem = blocking(move || registry.ca_certificate_pem()).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response())
}

fn der(content_type: &'static str, der: Vec<u8>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, content_type)], der).into_response()
}

/// The CRL (DER), as `/v1/crl`: where issued certificates' CRL
/// distribution point points. Public.
#[utoipa::path(get, path = "/crl", tag = "publication",
    responses((status = 200, content_type = "application/pkix-crl", body = Vec<u8>),
        (status = 404, body = Problem, description = "no certificate authority")))]
async fn published_crl(State(registry): State<Registry>) -> Result<Response, ApiError> {
    Ok(der("application/pkix-crl", blocking(move || registry.crl()).await?))
}

/// The CA certificate (DER): where issued certificates' AIA caIssuers points. Public.
#[utoipa::path(get, path = "/ca.crt", tag = "publication",
    responses((status = 200, content_type = "application/pkix-cert", body = Vec<u8>),
        (status = 404, body = Problem, description = "no certificate authority")))]
async fn published_ca(State(registry): State<Registry>) -> Result<Response, ApiError> {
    Ok(der("application/pkix-cert", blocking(move || registry.ca_certificate_der()).await?))
}

async fn ocsp_reply(registry: Registry, request: Vec<u8>) -> Result<Response, ApiError> {
    let answer = blocking(move || registry.ocsp(&request)).await?;
    match &answer.error {
        None => {}
        Some(error @ authority::OcspError::Malformed(_)) => tracing::debug!(%error, "OCSP"),
        Some(error) => tracing::warn!(%error, "OCSP"),
    }
    Ok(der("application/ocsp-response", answer.der))
}

/// OCSP (RFC 6960): the status of certificates the registry's CA issued —
/// good, revoked with time and reason (held: certificateHold), or unknown —
/// signed by the CA. A malformed request is answered 200 with the OCSP
/// status malformedRequest. Public.
#[utoipa::path(post, path = "/ocsp", tag = "publication",
    request_body(description = "DER OCSPRequest (RFC 6960 §A.1: application/ocsp-request; generic binary accepted too)",
        content(([u8] = "application/ocsp-request"), ([u8] = "application/octet-stream"))),
    responses((status = 200, content_type = "application/ocsp-response", body = Vec<u8>),
        (status = 404, body = Problem, description = "no certificate authority"),
        (status = 408, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem)))]
async fn ocsp_post(State(registry): State<Registry>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    if let Some(value) = parts.headers.get(axum::http::header::CONTENT_TYPE) {
        let essence = value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim();
        let ocsp = essence.eq_ignore_ascii_case("application/ocsp-request");
        if !ocsp && !essence.eq_ignore_ascii_case("application/octet-stream") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "an OCSP request is application/ocsp-request",
            ));
        }
    }
    let read = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, PUBLICATION_BODY_LIMIT));
    let bytes = match read.await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("an OCSP request is at most {PUBLICATION_BODY_LIMIT} bytes"),
            ))
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the request body took too long",
            ))
        }
    };
    ocsp_reply(registry, bytes.to_vec()).await
}

/// OCSP by GET (RFC 6960 appendix A.1, RFC 5019 §5): the DER request,
/// base64, URL-encoded, as the last path segment. Answers as `POST /ocsp`;
/// what does not decode is answered malformedRequest. Public.
#[utoipa::path(get, path = "/ocsp/{request}", tag = "publication",
    params(("request" = String, Path, description = "the DER OCSPRequest in base64, URL-encoded")),
    responses((status = 200, content_type = "application/ocsp-response", body = Vec<u8>),
        (status = 400, body = Problem), (status = 404, body = Problem, description = "no certificate authority")))]
async fn ocsp_get(
    State(registry): State<Registry>,
    PathParams(encoded): PathParams<String>,
) -> Result<Response, ApiError> {
    use base64::Engine;
    // Padding optional, standard or URL-safe alphabet: clients differ.
    let config = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    let alphabet =
        if encoded.contains(['-', '_']) { &base64::alphabet::URL_SAFE } else { &base64::alphabet::STANDARD };
    let encoded = encoded.trim_start_matches('/');
    let request = if encoded.len() > PUBLICATION_BODY_LIMIT * 4 / 3 + 4 {
        Vec::new()
    } else {
        // Undecodable: an empty request, which the responder answers malformedRequest.
        base64::engine::GeneralPurpose::new(alphabet, config).decode(encoded).unwrap_or_default()
    };
    ocsp_reply(registry, request).await
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Serde's internally tagged enums (`#[serde(tag = "kind")]`) come out of
/// utoipa as `allOf: [$ref Variant, {kind}]`; when the variant denies
/// unknown fields (`additionalProperties: false`) it forbids the very tag
/// the union requires, so no document satisfies the schema and clients or
/// fuzzers generating from it never get past deserialization. Each such
/// variant is inlined as one object: its own properties plus the tag.
struct TaggedVariants;

impl Modify for TaggedVariants {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{Object, Schema};
        use utoipa::openapi::RefOr;
        let Some(components) = openapi.components.as_mut() else { return };
        let objects: std::collections::BTreeMap<String, Object> = components
            .schemas
            .iter()
            .filter_map(|(name, schema)| match schema {
                RefOr::T(Schema::Object(object)) => {
                    Some((format!("#/components/schemas/{name}"), object.clone()))
                }
                _ => None,
            })
            .collect();
        for schema in components.schemas.values_mut() {
            let RefOr::T(Schema::OneOf(union)) = schema else { continue };
            for variant in &mut union.items {
                let RefOr::T(Schema::AllOf(all)) = variant else { continue };
                let [RefOr::Ref(reference), RefOr::T(Schema::Object(tag))] = all.items.as_slice() else {
                    continue;
                };
                let Some(mut merged) = objects.get(&reference.ref_location).cloned() else { continue };
                merged.properties.extend(tag.properties.clone());
                merged.required.extend(tag.required.iter().cloned());
                merged.description = all.description.clone().or(merged.description);
                *variant = RefOr::T(Schema::Object(merged));
            }
        }
    }
}

/// The OpenAPI document, generated from the handlers and the `proto` types.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Cardstation registry", description = "The authoritative record of people, devices, credential profiles, requests and the audit trail (SPEC §1, §6, §7)."),
    paths(health, openapi, login, logout, operations, changes, access_directory, admin_mailbox, audit, audit_verify, escrow, escrow_noted,
        offline_unblock, provisioning_tasks, provisioning_report, provisioning_task, person_provisioning,
        check_enrollment_code, walkup_update_offer,
        certificate_challenge, issue_certificate, crl, ca_certificate,
        published_crl, published_ca, ocsp_post, ocsp_get),
    modifiers(&BearerAuth, &TaggedVariants)
)]
pub struct ApiDoc;
