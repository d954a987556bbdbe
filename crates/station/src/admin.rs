//! UC-ADMIN at the station: credential profiles with every version and the
//! cards on each, a profile revised through the registry's operations (so
//! it queues like any other action when the registry is away), the
//! deployment's use cases and the signed-in operator's own permissions.
//!
//! Roles, who holds them and the use-case switches are `access`'s.

use domain::{
    CardEndState, CertificateEndState, CredentialProfile, GlobalPermission, KeyAlgorithm,
    ManagementKeyAlgorithm, Permission, ProfileId, ProfilePermission, ProfileSettings, Refusal, UseCase,
};
use proto::{OperationKind, ReviseProfile};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, ErrorCode, Result};
use crate::session::Session;
use crate::view::ActionView;

/// What the Admin screen shows.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct AdminView {
    /// Every credential profile, by name.
    pub profiles: Vec<ProfileAdminView>,
    /// Revising a profile: allowed now, or why not.
    pub revise: ActionView,
    /// Every use case of SPEC §5 and whether this deployment has it on.
    pub use_cases: Vec<UseCaseRow>,
    /// The signed-in operator's global permissions, held or not.
    pub permissions: Vec<PermissionRow>,
}

/// One credential profile for administration.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ProfileAdminView {
    /// Id shared by all versions.
    pub id: Uuid,
    /// Name of the latest version.
    pub name: String,
    /// Latest version.
    pub version: u32,
    /// What the latest version encodes, in words.
    pub facts: ProfileFacts,
    /// The latest version's editable settings (the form starts from these).
    pub form: ProfileForm,
    /// Every version, newest first, with the cards on it and what it changed.
    pub versions: Vec<ProfileVersionRow>,
    /// This operator's per-profile permissions on it (`Can Request`, …).
    pub your_permissions: Vec<String>,
}

/// A profile's settings in words.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ProfileFacts {
    /// Card interfaces required.
    pub interfaces: String,
    /// Each slot: "PIV Authentication (9A): ECC P-256, CN={name}, 365 days".
    pub slots: Vec<String>,
    /// "AES-256".
    pub management_key: String,
    /// "6–8 digits, 3 tries".
    pub pin: String,
    /// "8 digits, 3 tries".
    pub puk: String,
    /// "Requests need approval" or "No approval".
    pub approval: String,
    /// "Cards end active, certificates valid".
    pub end_states: String,
    /// Card validity in days.
    pub card_validity_days: u32,
    /// A temporary-card profile.
    pub temporary: bool,
}

/// The settings an administrator edits in the window. Slots, algorithms
/// and interfaces stay as they are: changing them reprovisions every card,
/// which is a new profile's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct ProfileForm {
    /// Display name.
    pub name: String,
    /// "Validate Issuance": requests need approval.
    pub validate_issuance: bool,
    /// Shortest PIN.
    pub pin_min_length: u8,
    /// Longest PIN (and the length of generated PINs).
    pub pin_max_length: u8,
    /// PIN tries before it blocks.
    pub pin_retries: u8,
    /// PUK length.
    pub puk_length: u8,
    /// PUK tries before it blocks.
    pub puk_retries: u8,
    /// Card validity in days.
    pub card_validity_days: u32,
    /// Cards end `active` (else `issued`, activated later).
    pub card_ends_active: bool,
    /// Certificates end `valid` (else on hold).
    pub certificates_end_valid: bool,
}

impl ProfileForm {
    /// The form's values for `settings`.
    pub fn of(settings: &ProfileSettings) -> ProfileForm {
        ProfileForm {
            name: settings.name.clone(),
            validate_issuance: settings.validate_issuance,
            pin_min_length: settings.pin.min_length,
            pin_max_length: settings.pin.max_length,
            pin_retries: settings.pin.retries,
            puk_length: settings.puk.length,
            puk_retries: settings.puk.retries,
            card_validity_days: settings.card_validity_days,
            card_ends_active: settings.card_end_state == CardEndState::Active,
            certificates_end_valid: settings.certificate_end_state == CertificateEndState::Valid,
        }
    }

    /// `settings` with this form's values; everything else kept.
    pub fn applied_to(&self, settings: &ProfileSettings) -> ProfileSettings {
        let mut out = settings.clone();
        out.name = self.name.trim().to_owned();
        out.validate_issuance = self.validate_issuance;
        out.pin.min_length = self.pin_min_length;
        out.pin.max_length = self.pin_max_length;
        out.pin.retries = self.pin_retries;
        out.puk.length = self.puk_length;
        out.puk.retries = self.puk_retries;
        out.card_validity_days = self.card_validity_days;
        out.card_end_state = if self.card_ends_active { CardEndState::Active } else { CardEndState::Issued };
        out.certificate_end_state = if self.certificates_end_valid {
            CertificateEndState::Valid
        } else {
            CertificateEndState::OnHold
        };
        out
    }
}

/// One version of a profile.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ProfileVersionRow {
    /// Version number.
    pub version: u32,
    /// Cards in service encoded with it (known to this station).
    pub cards: u32,
    /// What it changed from the version before, in words (empty for version 1).
    pub changes: Vec<String>,
}

/// One use case and whether it is on.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct UseCaseRow {
    /// `UC-ISSUE`.
    pub id: String,
    /// "Issue card".
    pub title: String,
    /// On in this deployment.
    pub enabled: bool,
}

/// One global permission and whether this operator holds it.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct PermissionRow {
    /// "Unblock PIN".
    pub title: String,
    /// Held by one of this operator's roles.
    pub held: bool,
}

impl Session {
    /// UC-ADMIN: the Admin screen (operators holding Administer).
    pub fn administration(&self) -> Result<AdminView> {
        let actor = self.actor();
        actor.require(Permission::global(GlobalPermission::Administer))?;
        let revise = ActionView::of(
            "revise_profile",
            "Save as a new version",
            self.may_revise().map_err(|r| r.to_string()),
        );
        let mut profiles = Vec::new();
        let all = self.store.profile_versions()?;
        for versions in all.chunk_by(|a, b| a.id == b.id) {
            if let Some((latest, older)) = versions.split_first() {
                profiles.push(self.profile_admin_view(latest, older)?);
            }
        }
        profiles.sort_by_key(|p| p.name.to_lowercase());
        let use_cases = UseCase::ALL
            .iter()
            .map(|u| UseCaseRow {
                id: u.spec_id().to_owned(),
                title: u.title().to_owned(),
                enabled: self.grant.use_cases.is_enabled(*u),
            })
            .collect();
        let permissions = GlobalPermission::ALL
            .iter()
            .map(|p| PermissionRow {
                title: p.title().to_owned(),
                held: self.grant.permissions.permits(Permission::global(*p)),
            })
            .collect();
        Ok(AdminView { profiles, revise, use_cases, permissions })
    }

    /// UC-ADMIN: saves `form` as version `expected_version + 1` of `profile`.
    /// Another edit in between (here or at the registry) is a
    /// `version-conflict`; invalid or unchanged settings change nothing.
    pub fn revise_profile(
        &mut self,
        profile: ProfileId,
        expected_version: u32,
        form: &ProfileForm,
    ) -> Result<AdminView> {
        self.may_revise()?;
        let latest = self
            .store
            .latest_profile(profile)?
            .ok_or_else(|| Error::NotFound(format!("no credential profile {profile}")))?;
        if latest.version != expected_version {
            return Err(Error::Declined {
                code: ErrorCode::VersionConflict,
                message: format!(
                    "{} is at version {} now, not {expected_version}: someone saved it meanwhile; reload and edit again",
                    latest.settings.name, latest.version
                ),
            });
        }
        let revised = latest.revise(form.applied_to(&latest.settings)).map_err(profile_error)?;
        let op = OperationKind::ReviseProfile(ReviseProfile {
            id: profile,
            expected_version,
            settings: revised.settings.clone(),
        });
        let name = revised.settings.name.clone();
        self.submit(op, |tx| Ok(tx.put(&revised)?)).map_err(|e| match e {
            Error::Rejected { code, .. } if ErrorCode::of_registry(&code) == ErrorCode::VersionConflict => {
                Error::Declined {
                    code: ErrorCode::VersionConflict,
                    message: format!(
                        "{name} was saved at the registry by someone else since version {expected_version}: \
                         reload and edit again"
                    ),
                }
            }
            other => other,
        })?;
        self.administration()
    }

    /// Whether this operator may revise profiles now, or why not.
    fn may_revise(&self) -> std::result::Result<(), Refusal> {
        let actor = self.actor();
        actor.require(Permission::global(GlobalPermission::Administer))?;
        actor.require_use_case(UseCase::Admin)
    }

    /// One profile: its `latest` version and the `older` ones, newest first.
    fn profile_admin_view(
        &self,
        latest: &CredentialProfile,
        older: &[CredentialProfile],
    ) -> Result<ProfileAdminView> {
        let cards = self.store.cards_per_profile_version(latest.id)?;
        let versions: Vec<&CredentialProfile> = std::iter::once(latest).chain(older).collect();
        let rows = versions
            .iter()
            .enumerate()
            .map(|(i, v)| ProfileVersionRow {
                version: v.version,
                cards: cards
                    .iter()
                    .find(|(n, _)| *n == v.version)
                    .map_or(0, |(_, c)| u32::try_from(*c).unwrap_or(u32::MAX)),
                changes: versions
                    .get(i + 1)
                    .map(|before| changes(&before.settings, &v.settings))
                    .unwrap_or_default(),
            })
            .collect();
        let your_permissions = ProfilePermission::ALL
            .iter()
            .filter(|p| self.grant.permissions.permits(Permission::on(**p, latest.id)))
            .map(|p| p.title().to_owned())
            .collect();
        Ok(ProfileAdminView {
            id: latest.id.uuid(),
            name: latest.settings.name.clone(),
            version: latest.version,
            facts: facts(&latest.settings),
            form: ProfileForm::of(&latest.settings),
            versions: rows,
            your_permissions,
        })
    }
}

fn profile_error(e: domain::Error) -> Error {
    match e {
        domain::Error::UnchangedProfile => Error::Declined {
            code: ErrorCode::UnchangedProfile,
            message: "nothing changed: this would be the same as the current version".into(),
        },
        other => Error::Declined { code: ErrorCode::InvalidProfile, message: other.to_string() },
    }
}

fn algorithm(a: KeyAlgorithm) -> &'static str {
    match a {
        KeyAlgorithm::Rsa2048 => "RSA 2048",
        KeyAlgorithm::EccP256 => "ECC P-256",
        KeyAlgorithm::EccP384 => "ECC P-384",
    }
}

fn management_key(a: ManagementKeyAlgorithm) -> &'static str {
    match a {
        ManagementKeyAlgorithm::Aes128 => "AES-128",
        ManagementKeyAlgorithm::Aes192 => "AES-192",
        ManagementKeyAlgorithm::Aes256 => "AES-256",
    }
}

fn pin_words(min: u8, max: u8, numeric: bool, retries: u8) -> String {
    let length = if min == max { format!("{min}") } else { format!("{min}–{max}") };
    let kind = if numeric { "digits" } else { "characters" };
    format!("{length} {kind}, {retries} tries")
}

fn end_states(card_active: bool, certificates_valid: bool) -> String {
    format!(
        "Cards end {}, certificates {}",
        if card_active { "active" } else { "issued" },
        if certificates_valid { "valid" } else { "on hold" }
    )
}

fn facts(s: &ProfileSettings) -> ProfileFacts {
    ProfileFacts {
        interfaces: capitalised(&s.capabilities.to_string()),
        slots: s
            .slots
            .iter()
            .map(|spec| {
                format!(
                    "{}: {}, {}, {} days",
                    spec.slot,
                    algorithm(spec.algorithm),
                    spec.certificate.subject,
                    spec.certificate.validity_days
                )
            })
            .collect(),
        management_key: management_key(s.management_key).to_owned(),
        pin: pin_words(s.pin.min_length, s.pin.max_length, s.pin.numeric, s.pin.retries),
        puk: pin_words(s.puk.length, s.puk.length, s.puk.numeric, s.puk.retries),
        approval: if s.validate_issuance { "Requests need approval" } else { "No approval" }.to_owned(),
        end_states: end_states(
            s.card_end_state == CardEndState::Active,
            s.certificate_end_state == CertificateEndState::Valid,
        ),
        card_validity_days: s.card_validity_days,
        temporary: s.is_temporary,
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// What `new` changed from `old`, one phrase per setting.
fn changes(old: &ProfileSettings, new: &ProfileSettings) -> Vec<String> {
    let mut out = Vec::new();
    let mut note = |what: &str, before: String, after: String| {
        if before != after {
            out.push(format!("{what}: {before} → {after}"));
        }
    };
    note("Name", old.name.clone(), new.name.clone());
    note("Approval", facts(old).approval, facts(new).approval);
    note("PIN", facts(old).pin, facts(new).pin);
    note("PUK", facts(old).puk, facts(new).puk);
    note(
        "Card validity",
        format!("{} days", old.card_validity_days),
        format!("{} days", new.card_validity_days),
    );
    note("End states", facts(old).end_states, facts(new).end_states);
    note("Interfaces", facts(old).interfaces, facts(new).interfaces);
    note("Management key", facts(old).management_key, facts(new).management_key);
    note("Slots", facts(old).slots.join("; "), facts(new).slots.join("; "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_round_trips_and_keeps_what_it_does_not_show() {
        let settings = ProfileSettings::contact_p256("Employee", false);
        let form = ProfileForm::of(&settings);
        assert_eq!(form.applied_to(&settings), settings);
        let edited = ProfileForm { pin_retries: 5, card_ends_active: false, ..form };
        let out = edited.applied_to(&settings);
        assert_eq!(out.pin.retries, 5);
        assert_eq!(out.card_end_state, CardEndState::Issued);
        assert_eq!(out.slots, settings.slots, "slots are not the form's");
    }

    #[test]
    fn changes_name_each_setting_in_words() {
        let old = ProfileSettings::contact_p256("Employee", false);
        let mut new = old.clone();
        new.validate_issuance = true;
        new.pin.retries = 5;
        assert_eq!(
            changes(&old, &new),
            vec![
                "Approval: No approval → Requests need approval".to_owned(),
                "PIN: 6–8 digits, 3 tries → 6–8 digits, 5 tries".to_owned(),
            ]
        );
        assert!(changes(&old, &old).is_empty());
    }

    #[test]
    fn a_bad_or_unchanged_profile_has_its_own_code() {
        let settings = ProfileSettings::contact_p256("Employee", false);
        let profile = CredentialProfile::create(ProfileId::new(Uuid::now_v7()), settings.clone()).unwrap();
        let unchanged = profile.revise(settings.clone()).map_err(profile_error).unwrap_err();
        assert_eq!(unchanged.code(), ErrorCode::UnchangedProfile);
        let short = ProfileForm { pin_min_length: 4, ..ProfileForm::of(&settings) };
        let invalid = profile.revise(short.applied_to(&settings)).map_err(profile_error).unwrap_err();
        assert_eq!(invalid.code(), ErrorCode::InvalidProfile);
        assert!(invalid.to_string().contains("PIN length"), "{invalid}");
    }
}
