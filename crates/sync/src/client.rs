//! The registry's HTTP API over pinned TLS (reqwest + rustls, ring).

use std::time::Duration;

use proto::{AnswerBatch, ChangesPage, Login, OperationBatch, Problem, SessionGrant, SessionToken};
use reqwest::StatusCode;

use crate::error::{Error, Result};
use crate::pin::{self, Fingerprint};

/// A client of one registry, trusting only its pinned certificate.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    base: String,
    pin: Fingerprint,
}

impl RegistryClient {
    /// A client for `base_url` (e.g. `https://registry.example:8443`) that
    /// accepts only the certificate with fingerprint `pin`; every request
    /// gives up after `timeout`.
    pub fn new(base_url: &str, pin: Fingerprint, timeout: Duration) -> Result<Self> {
        let url = reqwest::Url::parse(base_url).map_err(|e| Error::Config(format!("registry URL: {e}")))?;
        if url.scheme() != "https" {
            return Err(Error::Config("the registry is reached over https only".into()));
        }
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(pin::client_config(pin)?)
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(Self { http, base: base_url.trim_end_matches('/').to_owned(), pin })
    }

    /// The pinned fingerprint.
    pub fn pin(&self) -> Fingerprint {
        self.pin
    }

    /// `POST /v1/sessions`: signs in.
    pub async fn login(&self, login: &Login) -> Result<SessionGrant> {
        let response = self.http.post(self.url("/v1/sessions")).json(login).send().await;
        self.decode(response).await
    }

    /// `POST /v1/operations`: one batch, answered per operation.
    pub async fn push(&self, token: &SessionToken, batch: &OperationBatch) -> Result<AnswerBatch> {
        let response =
            self.http.post(self.url("/v1/operations")).bearer_auth(token.expose()).json(batch).send().await;
        self.decode(response).await
    }

    /// `GET /v1/changes?since=&limit=`: one page of the feed.
    pub async fn changes(
        &self,
        token: &SessionToken,
        since: Option<&str>,
        limit: u32,
    ) -> Result<ChangesPage> {
        let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(since) = since {
            query.push(("since", since.to_owned()));
        }
        let response =
            self.http.get(self.url("/v1/changes")).bearer_auth(token.expose()).query(&query).send().await;
        self.decode(response).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn transport(&self, err: reqwest::Error) -> Error {
        if pin::is_pin_refusal(&err) {
            return Error::PinMismatch { pinned: self.pin };
        }
        let mut text = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        Error::Transport(text)
    }

    async fn decode<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<T> {
        let response = response.map_err(|e| self.transport(e))?;
        let status = response.status();
        if status.is_success() {
            return response.json::<T>().await.map_err(|e| {
                if e.is_decode() {
                    Error::Protocol(format!("answer does not decode: {e}"))
                } else {
                    self.transport(e)
                }
            });
        }
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
        let problem = serde_json::from_slice::<Problem>(&body).unwrap_or_else(|_| {
            Problem::new("http", String::from_utf8_lossy(&body).chars().take(200).collect::<String>())
        });
        if status == StatusCode::UNAUTHORIZED {
            return Err(Error::Unauthorized(problem.message));
        }
        Err(Error::Status { status: status.as_u16(), code: problem.code, message: problem.message })
    }
}
