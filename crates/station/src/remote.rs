//! The registry calls the station makes outside the operation feed: the CA
//! (challenge, issue) and escrow retrieval, over the same pinned TLS as
//! `sync` (only the enrolled certificate is trusted).

use std::time::Duration;

use domain::DeviceId;
use proto::{
    CertificateChallenge, CertificateIssued, EscrowKind, EscrowSecret, IssueCertificate, Problem,
    SessionToken,
};

use crate::error::{Error, Result};

/// HTTP client of the registry's CA and escrow endpoints.
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    http: reqwest::Client,
    base: String,
}

impl Remote {
    pub(crate) fn new(base_url: &str, pin: sync::Fingerprint, timeout: Duration) -> Result<Remote> {
        let tls = sync::pin::client_config(pin).map_err(Error::from)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| Error::Invalid(format!("HTTP client: {e}")))?;
        Ok(Remote { http, base: base_url.trim_end_matches('/').to_owned() })
    }

    /// `GET /v1/health`: reachable, and presenting the pinned certificate.
    pub(crate) async fn health(&self) -> Result<proto::Health> {
        let r = self.http.get(format!("{}/v1/health", self.base)).send().await;
        decode(r).await
    }

    /// `POST /v1/certificates/challenges`.
    pub(crate) async fn challenge(&self, token: &SessionToken) -> Result<CertificateChallenge> {
        let r = self
            .http
            .post(format!("{}/v1/certificates/challenges", self.base))
            .bearer_auth(token.expose())
            .send()
            .await;
        decode(r).await
    }

    /// `POST /v1/certificates`.
    pub(crate) async fn issue(
        &self,
        token: &SessionToken,
        req: &IssueCertificate,
    ) -> Result<CertificateIssued> {
        let r = self
            .http
            .post(format!("{}/v1/certificates", self.base))
            .bearer_auth(token.expose())
            .json(req)
            .send()
            .await;
        decode(r).await
    }

    /// `GET /v1/devices/{id}/escrow/{kind}`.
    pub(crate) async fn escrow(
        &self,
        token: &SessionToken,
        device: DeviceId,
        kind: EscrowKind,
    ) -> Result<EscrowSecret> {
        let r = self
            .http
            .get(format!("{}/v1/devices/{device}/escrow/{}", self.base, kind.name()))
            .bearer_auth(token.expose())
            .send()
            .await;
        decode(r).await
    }

    /// `POST /v1/devices/{id}/escrow/{kind}` with the identity-check note for the audit event.
    pub(crate) async fn escrow_noted(
        &self,
        token: &SessionToken,
        device: DeviceId,
        kind: EscrowKind,
        identity_check: &str,
    ) -> Result<EscrowSecret> {
        let r = self
            .http
            .post(format!("{}/v1/devices/{device}/escrow/{}", self.base, kind.name()))
            .bearer_auth(token.expose())
            .json(&proto::EscrowFetch { identity_check: identity_check.to_owned() })
            .send()
            .await;
        decode(r).await
    }

    /// `GET path` (a registry view, e.g. the provisioning tasks).
    pub(crate) async fn view<T: serde::de::DeserializeOwned>(
        &self,
        token: &SessionToken,
        path: &str,
    ) -> Result<T> {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(token.expose()).send().await;
        decode(r).await
    }

    /// `POST /v1/walkup/code`: whom a code typed at a kiosk invites.
    pub(crate) async fn check_enrollment_code(
        &self,
        token: &SessionToken,
        code: &proto::EnrollmentCode,
    ) -> Result<proto::WalkupInvitation> {
        let body = proto::CheckEnrollmentCode { code: code.clone() };
        let r = self
            .http
            .post(format!("{}/v1/walkup/code", self.base))
            .bearer_auth(token.expose())
            .json(&body)
            .send()
            .await;
        decode(r).await
    }

    /// `POST /v1/walkup/cards/{device}/update`: the card's approved update
    /// offered to a kiosk, with a challenge; `None` when there is none.
    pub(crate) async fn walkup_update_offer(
        &self,
        token: &SessionToken,
        device: DeviceId,
    ) -> Result<Option<proto::WalkupUpdateOffer>> {
        let r = self
            .http
            .post(format!("{}/v1/walkup/cards/{device}/update", self.base))
            .bearer_auth(token.expose())
            .send()
            .await;
        match decode(r).await {
            Ok(offer) => Ok(Some(offer)),
            Err(Error::Rejected { code, .. }) if code == "not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/admin/access`: roles, operators and use cases (Administer).
    pub(crate) async fn access(&self, token: &SessionToken) -> Result<proto::AccessDirectory> {
        let r =
            self.http.get(format!("{}/v1/admin/access", self.base)).bearer_auth(token.expose()).send().await;
        decode(r).await
    }

    /// `POST /v1/devices/{id}/offline-unblock`: the helpdesk's response code.
    pub(crate) async fn offline_unblock(
        &self,
        token: &SessionToken,
        device: DeviceId,
        challenge: &proto::OfflineUnblockChallenge,
    ) -> Result<proto::OfflineUnblockResponse> {
        let r = self
            .http
            .post(format!("{}/v1/devices/{device}/offline-unblock", self.base))
            .bearer_auth(token.expose())
            .json(challenge)
            .send()
            .await;
        decode(r).await
    }
}

async fn decode<T: serde::de::DeserializeOwned>(response: reqwest::Result<reqwest::Response>) -> Result<T> {
    let response = response.map_err(|e| {
        let text = chain(&e);
        // sync's pinned verifier refuses with this text (its error type is private).
        if text.contains("NotThePinnedCertificate") || text.contains("does not match the pinned fingerprint")
        {
            Error::PinMismatch
        } else {
            Error::Offline(text)
        }
    })?;
    let status = response.status();
    if status.is_success() {
        return response
            .json::<T>()
            .await
            .map_err(|e| Error::Offline(format!("answer does not decode: {e}")));
    }
    let body = response.bytes().await.map_err(|e| Error::Offline(chain(&e)))?;
    let problem = serde_json::from_slice::<Problem>(&body).unwrap_or_else(|_| {
        Problem::new("http", String::from_utf8_lossy(&body).chars().take(200).collect::<String>())
    });
    if status.as_u16() == 401 {
        return Err(Error::SignIn(problem.message));
    }
    if status.is_server_error() {
        return Err(Error::Offline(format!("registry error {}: {}", problem.code, problem.message)));
    }
    Err(Error::Rejected { code: problem.code, message: problem.message })
}

fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
