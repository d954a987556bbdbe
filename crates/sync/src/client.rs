//! The registry's HTTP API over pinned TLS (reqwest + rustls, ring).

use std::time::Duration;

use proto::{
    AnswerBatch, CertificateChallenge, CertificateIssued, ChangesPage, IssueCertificate, Login,
    OperationBatch, Problem, SessionGrant, SessionToken,
};
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

    /// `POST /v1/certificates/challenges`: a single-use challenge for the
    /// card to sign (proof of possession), valid a few minutes, for this
    /// session's operator only. Needs the registry online (SPEC §6).
    pub async fn challenge(&self, token: &SessionToken) -> Result<CertificateChallenge> {
        let response =
            self.http.post(self.url("/v1/certificates/challenges")).bearer_auth(token.expose()).send().await;
        self.decode(response).await
    }

    /// `POST /v1/certificates`: the registry's CA certifies the card key
    /// after checking the proof. Retrying with the same `op_id` returns the
    /// same certificate, so a lost answer is safe to ask again.
    pub async fn issue_certificate(
        &self,
        token: &SessionToken,
        issue: &IssueCertificate,
    ) -> Result<CertificateIssued> {
        let response =
            self.http.post(self.url("/v1/certificates")).bearer_auth(token.expose()).json(issue).send().await;
        self.decode(response).await
    }

    /// `GET /v1/crl`: the current CRL, DER (public, no session).
    pub async fn crl(&self) -> Result<Vec<u8>> {
        let response = self.http.get(self.url("/v1/crl")).send().await;
        self.bytes(response).await
    }

    /// `GET /v1/ca`: the CA certificate, PEM (public, no session): the trust
    /// anchor of the certificates on the cards.
    pub async fn ca_certificate(&self) -> Result<String> {
        let response = self.http.get(self.url("/v1/ca")).send().await;
        let bytes = self.bytes(response).await?;
        String::from_utf8(bytes).map_err(|_| Error::Protocol("the CA certificate is not PEM text".into()))
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
        Err(self.problem(response).await)
    }

    /// The body of a successful answer, as it is.
    async fn bytes(&self, response: reqwest::Result<reqwest::Response>) -> Result<Vec<u8>> {
        let response = response.map_err(|e| self.transport(e))?;
        if response.status().is_success() {
            return Ok(response.bytes().await.map_err(|e| self.transport(e))?.to_vec());
        }
        Err(self.problem(response).await)
    }

    /// The error of an unsuccessful answer, from its problem body.
    async fn problem(&self, response: reqwest::Response) -> Error {
        let status = response.status();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => return self.transport(e),
        };
        let problem = serde_json::from_slice::<Problem>(&body).unwrap_or_else(|_| {
            Problem::new("http", String::from_utf8_lossy(&body).chars().take(200).collect::<String>())
        });
        if status == StatusCode::UNAUTHORIZED {
            return Error::Unauthorized(problem.message);
        }
        Error::Status { status: status.as_u16(), code: problem.code, message: problem.message }
    }
}
