//! From what a card workstation sends to what the CA signs.
//!
//! The workstation's personalizer (`piv::Personalizer`) asks a
//! [`piv::CertificateIssuer`] for each slot's certificate with a
//! [`piv::IssueRequest`]: slot, public key, proof of possession, and its own
//! rendering of the template. The registry trusts only the first three; the
//! template comes from the device's profile version at the registry.
//! [`CertificateRequest::from_card`] makes that split, and [`DeviceIssuance`]
//! runs the registry CA behind the personalizer's interface (in-process:
//! the single-machine setup and whole-flow tests).

use crate::ca::{CertificateAuthority, CertificateRequest, Holder, IssuedCertificate};
use crate::{Error, Result};
use domain::ProfileSettings;
use std::sync::Mutex;
use time::OffsetDateTime;

/// The profile slot of a card slot (retired slots are never in a profile).
pub fn profile_slot(slot: piv::Slot) -> Option<domain::Slot> {
    match slot {
        piv::Slot::Authentication => Some(domain::Slot::PivAuthentication),
        piv::Slot::Signature => Some(domain::Slot::DigitalSignature),
        piv::Slot::KeyManagement => Some(domain::Slot::KeyManagement),
        piv::Slot::CardAuthentication => Some(domain::Slot::CardAuthentication),
        piv::Slot::Retired(_) => None,
    }
}

impl CertificateRequest {
    /// The request to sign for a card's `request`: its slot, key and proof,
    /// with the slot's template from `profile` (the client's subject, key
    /// usage and EKUs are ignored).
    pub fn from_card(
        profile: &ProfileSettings,
        holder: Holder,
        card_uuid: Option<uuid::Uuid>,
        request: &piv::IssueRequest,
    ) -> Result<CertificateRequest> {
        let spec = profile_slot(request.slot)
            .and_then(|slot| profile.slot(slot))
            .ok_or_else(|| Error::SlotNotInProfile(request.slot.to_string()))?;
        Ok(CertificateRequest {
            spec: spec.clone(),
            holder,
            card_uuid,
            public_key_spki: request.public_key_spki.clone(),
            proof: request.proof.clone(),
        })
    }
}

/// The registry CA issuing for one device during its personalization, as a
/// [`piv::CertificateIssuer`]. Keeps what it issued for the registry to store.
#[derive(Debug)]
pub struct DeviceIssuance<'a> {
    ca: &'a CertificateAuthority,
    profile: &'a ProfileSettings,
    holder: Holder,
    card_uuid: Option<uuid::Uuid>,
    now: OffsetDateTime,
    issued: Mutex<Vec<IssuedCertificate>>,
}

impl<'a> DeviceIssuance<'a> {
    /// Issuance for the card `card_uuid` of `holder` under `profile`, at `now`.
    pub fn new(
        ca: &'a CertificateAuthority,
        profile: &'a ProfileSettings,
        holder: Holder,
        card_uuid: Option<uuid::Uuid>,
        now: OffsetDateTime,
    ) -> DeviceIssuance<'a> {
        DeviceIssuance { ca, profile, holder, card_uuid, now, issued: Mutex::new(Vec::new()) }
    }

    /// Issues for one card request.
    pub fn issue_for(&self, request: &piv::IssueRequest) -> Result<IssuedCertificate> {
        let request =
            CertificateRequest::from_card(self.profile, self.holder.clone(), self.card_uuid, request)?;
        let issued = self.ca.issue(&request, None, self.now)?;
        self.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(issued.clone());
        Ok(issued)
    }

    /// Everything issued so far, in order.
    pub fn issued(&self) -> Vec<IssuedCertificate> {
        self.issued.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl piv::CertificateIssuer for DeviceIssuance<'_> {
    fn issue(&self, request: &piv::IssueRequest) -> piv::Result<Vec<u8>> {
        self.issue_for(request).map(|c| c.der).map_err(|e| piv::Error::Ca(e.to_string()))
    }
}
