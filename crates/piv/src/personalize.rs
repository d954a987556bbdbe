//! Personalization as an explicit plan (SPEC §2 steps 2–6).
//!
//! [`plan`] turns a [`Profile`] and what the card shows ([`CardInfo`]) into
//! a list of [`Step`]s; [`Personalizer::run`] executes them, telling a
//! [`PersonalizationObserver`] before and after every step that writes to
//! the card (so a journal can be fsync'd first, SPEC §2 "Tear safety").
//!
//! # Order and tear safety
//!
//! A card can be pulled after any APDU, and the PIN is never stored, so a
//! second run after a tear gets the same management key and PUK (escrowed)
//! but possibly a new PIN. Every step is therefore either idempotent or
//! detects what an earlier, torn run already did:
//!
//! 1. **Authenticate**: tries the key the card most likely has (factory
//!    default unless YubiKey metadata says it was changed), then the other
//!    one; so a card whose key an earlier run already replaced passes.
//! 2. **SetManagementKey** (YubiKey `FF`): skipped when step 1 already used
//!    the target key. The observer's `before_write` is the moment to escrow it.
//! 3. **SetRetries** (YubiKey `FA`): only when the card's counters differ
//!    from the profile. It resets PIN and PUK to their defaults, so it comes
//!    before them; once done, the counters match and a re-run skips it.
//! 4. **SetPin** uses RESET RETRY COUNTER rather than CHANGE: it sets the
//!    new PIN whatever the old one was, needing only the PUK, which is either
//!    still the default or our escrowed one. YubiKey metadata tells which;
//!    otherwise the default is tried first and the escrowed PUK second (never
//!    a third try, and never when that could block the PUK).
//! 5. **SetPuk** changes default → new. If the card answers "wrong PUK"
//!    because a torn run already changed it, CHANGE(new → new) confirms it
//!    (and a success resets the counter); skipped when step 4 already proved
//!    the new PUK.
//! 6. Per slot: **GenerateKey**, **ProveAndCertify** (the card signs a fresh
//!    challenge; we verify it with the new public key host-side, then the
//!    issuer checks it again), **VerifyCertificateMatchesKey** (host-side,
//!    before anything is written), **WriteCertificate**. A slot is skipped
//!    when its certificate is already there, matches the card's key
//!    (YubiKey metadata) and has the profile's subject and algorithm; any
//!    other slot is regenerated, so a key without a certificate (invisible to
//!    OpenSC) never survives a re-run.
//! 7. **WriteChuid**, **WriteCcc** (skipped when a valid CCC exists): plain
//!    overwrites, idempotent.
//! 8. **Verify**: reads back every certificate and the CHUID, and verifies
//!    the new PIN.
//!
//! Steps 4–5 come before the key steps (the brief listed them last): the
//! proof of possession needs the PIN, and only after step 4 is the PIN known
//! on every re-run.

use crate::ca::{CertificateIssuer, IssueRequest, ProofOfPossession};
use crate::card::PivCard;
use crate::certificate::{certificate_public_key, CertificateSummary};
use crate::info::CardInfo;
use crate::objects::{hex_bytes, Ccc, Chuid};
use crate::profile::{names, KeyUsage, Profile, SubjectValues};
use crate::public_key::PublicKey;
use crate::secret::{Pin, Puk};
use crate::types::{object, KeyAlgorithm, ManagementKey, ManagementKeyAlgorithm, PinPolicy, Slot};
use crate::{Error, Result};
use apdu::Transport;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The secrets a card gets: generated per card, shown once (PIN), escrowed
/// encrypted (PUK, management key), never logged (Debug redacts).
#[derive(Debug, Clone)]
pub struct Secrets {
    /// The cardholder's new PIN.
    pub pin: Pin,
    /// The new PUK.
    pub puk: Puk,
    /// The new per-card management key.
    pub management_key: ManagementKey,
}

impl Secrets {
    /// Random PIN and PUK digits of the profile's lengths and a random
    /// management key of the profile's algorithm.
    pub fn generate(profile: &Profile, rng: &mut (impl rand::RngCore + rand::CryptoRng)) -> Result<Secrets> {
        Ok(Secrets {
            pin: Pin::random(usize::from(profile.pin.length), rng)?,
            puk: Puk::random(usize::from(profile.puk.length), rng)?,
            management_key: ManagementKey::random(profile.management_key_algorithm, rng),
        })
    }
}

/// Inputs of [`plan`] besides the profile and the card.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Values for the subject templates (`{name}`…).
    pub subject: SubjectValues,
    /// The CHUID GUID (the device id); default: the card's current GUID, else random.
    pub guid: Option<[u8; 16]>,
    /// Today, for the CHUID expiry.
    pub today: time::Date,
    /// Require touch for the management key (YubiKey).
    pub management_key_touch: bool,
    /// Regenerate every slot even if its certificate matches the card's key.
    pub force_regenerate: bool,
    /// Delete the certificates of slots the profile does not name (an
    /// issued card brought to another profile or version, UC-UPDATE).
    pub remove_other_certificates: bool,
    /// Leave the PIN and PUK retry counters as they are: YubiKey `FA` needs
    /// the PIN verified and resets PIN and PUK to their defaults, which only
    /// suits blank stock, not an issued card whose PIN nobody here knows.
    pub keep_retry_counters: bool,
}

impl PlanOptions {
    /// Options for a cardholder named `name`, today (UTC), GUID from the card or random.
    pub fn for_holder(name: &str) -> PlanOptions {
        PlanOptions {
            subject: SubjectValues { name: name.to_owned(), ..SubjectValues::default() },
            guid: None,
            today: time::OffsetDateTime::now_utc().date(),
            management_key_touch: false,
            force_regenerate: false,
            remove_other_certificates: false,
            keep_retry_counters: false,
        }
    }
}

/// One step of personalization. Holds no secrets, so plans can be
/// journaled and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Management key authentication (see the module doc for the key order).
    Authenticate {
        /// Algorithm of the card's current key (3DES when the card cannot tell).
        #[serde(with = "names::management_algorithm")]
        card_algorithm: ManagementKeyAlgorithm,
        /// Try the factory default key first.
        default_first: bool,
    },
    /// Replace the management key with the per-card key (YubiKey `FF`).
    SetManagementKey {
        /// The new key's algorithm.
        #[serde(with = "names::management_algorithm")]
        algorithm: ManagementKeyAlgorithm,
        /// Require touch.
        require_touch: bool,
    },
    /// Set PIN and PUK retry counters (YubiKey `FA`; resets both to defaults).
    SetRetries {
        /// PIN tries.
        pin: u8,
        /// PUK tries.
        puk: u8,
    },
    /// Set the new PIN with RESET RETRY COUNTER.
    SetPin {
        /// Whether the card said its PUK is the default (YubiKey metadata).
        puk_is_default: Option<bool>,
    },
    /// Change the PUK to the new one.
    SetPuk,
    /// Generate the slot's key pair.
    GenerateKey {
        /// Slot.
        slot: Slot,
        /// Algorithm.
        #[serde(with = "names::key_algorithm")]
        algorithm: KeyAlgorithm,
        /// PIN policy (YubiKey).
        pin_policy: Option<PinPolicy>,
        /// Touch policy (YubiKey).
        touch_policy: Option<u8>,
    },
    /// Sign a challenge with the new key, check it, and have the issuer certify the key.
    ProveAndCertify {
        /// Slot.
        slot: Slot,
        /// Algorithm.
        #[serde(with = "names::key_algorithm")]
        algorithm: KeyAlgorithm,
        /// The PIN rule of the key (decides when to VERIFY).
        pin_policy: PinPolicy,
        /// Subject DN.
        subject: String,
        /// Days of validity.
        validity_days: u32,
        /// keyUsage.
        key_usage: Vec<KeyUsage>,
        /// extendedKeyUsage OIDs.
        extended_key_usage: Vec<String>,
    },
    /// Check host-side that the issued certificate certifies the generated key.
    VerifyCertificateMatchesKey {
        /// Slot.
        slot: Slot,
    },
    /// Write the issued certificate.
    WriteCertificate {
        /// Slot.
        slot: Slot,
        /// gzip it.
        compress: bool,
    },
    /// Delete the certificate of a slot the profile does not name (PUT DATA
    /// with an empty `53`, SP 800-73-4 §3.3.2); OpenSC then shows no key there.
    DeleteCertificate {
        /// Slot.
        slot: Slot,
    },
    /// Write the CHUID.
    WriteChuid {
        /// GUID, hex.
        guid: String,
        /// Expiry, YYYYMMDD (as the CHUID stores it).
        expiry: String,
    },
    /// Write the CCC.
    WriteCcc {
        /// Card identifier (21 bytes).
        #[serde(with = "hex_bytes")]
        card_identifier: Vec<u8>,
    },
    /// Read back certificates and CHUID, verify the new PIN.
    Verify {
        /// Slots whose certificates must be there.
        slots: Vec<Slot>,
        /// Expected CHUID GUID, hex.
        guid: String,
    },
}

impl Step {
    /// True when the step changes the card (the observer is told before and after).
    pub fn writes_card(&self) -> bool {
        !matches!(
            self,
            Step::Authenticate { .. }
                | Step::ProveAndCertify { .. }
                | Step::VerifyCertificateMatchesKey { .. }
                | Step::Verify { .. }
        )
    }

    /// A short description for progress displays.
    pub fn describe(&self) -> String {
        match self {
            Step::Authenticate { .. } => "authenticate with the management key".into(),
            Step::SetManagementKey { algorithm, .. } => {
                format!("set a new {} management key", names::management_algorithm_name(*algorithm))
            }
            Step::SetRetries { pin, puk } => format!("set retry counters (PIN {pin}, PUK {puk})"),
            Step::SetPin { .. } => "set the PIN".into(),
            Step::SetPuk => "set the PUK".into(),
            Step::GenerateKey { slot, algorithm, .. } => {
                format!("generate a {} key in slot {slot}", names::key_algorithm_name(*algorithm))
            }
            Step::ProveAndCertify { slot, .. } => format!("prove possession and certify slot {slot}"),
            Step::VerifyCertificateMatchesKey { slot } => format!("check the certificate of slot {slot}"),
            Step::WriteCertificate { slot, .. } => format!("write the certificate of slot {slot}"),
            Step::DeleteCertificate { slot } => format!("delete the certificate of slot {slot}"),
            Step::WriteChuid { .. } => "write the CHUID".into(),
            Step::WriteCcc { .. } => "write the CCC".into(),
            Step::Verify { .. } => "read back and verify".into(),
        }
    }
}

/// A personalization plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Profile name.
    pub profile: String,
    /// Profile version.
    pub profile_version: u32,
    /// The CHUID GUID the card ends up with, hex.
    pub guid: String,
    /// Slots already correct on the card and left alone.
    pub kept_slots: Vec<Slot>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// Plans the personalization of the card described by `info` to `profile`.
pub fn plan(profile: &Profile, info: &CardInfo, options: &PlanOptions) -> Result<Plan> {
    profile.validate()?;
    let guid: [u8; 16] = match options.guid {
        Some(g) => g,
        None => match info.chuid.as_ref().and_then(|c| <[u8; 16]>::try_from(c.guid.as_slice()).ok()) {
            Some(g) if g != [0; 16] => g,
            _ => *uuid::Uuid::new_v4().as_bytes(),
        },
    };
    let guid_hex = hex::encode(guid);
    let mut steps = vec![Step::Authenticate {
        card_algorithm: info.management_key_algorithm.unwrap_or(ManagementKeyAlgorithm::TripleDes),
        default_first: info.management_key_is_default != Some(false),
    }];
    if info.yubikey_extensions {
        steps.push(Step::SetManagementKey {
            algorithm: profile.management_key_algorithm,
            require_touch: options.management_key_touch,
        });
    }
    let retries_differ = match (info.pin_retries, info.puk_retries) {
        (Some(pin), Some(puk)) => pin.total != profile.pin.retries || puk.total != profile.puk.retries,
        _ => false,
    };
    let set_retries = info.yubikey_extensions && retries_differ && !options.keep_retry_counters;
    if set_retries {
        steps.push(Step::SetRetries { pin: profile.pin.retries, puk: profile.puk.retries });
    }
    steps.push(Step::SetPin { puk_is_default: if set_retries { Some(true) } else { info.puk_is_default } });
    steps.push(Step::SetPuk);

    let mut kept_slots = Vec::new();
    let mut certify = Vec::new();
    for sp in &profile.slots {
        let subject = sp.certificate.render_subject(&SubjectValues {
            guid: guid_hex.clone(),
            slot: sp.slot.to_string(),
            ..options.subject.clone()
        })?;
        let keep = !options.force_regenerate
            && info.certificate(sp.slot).is_some_and(|c| {
                c.key_matches == Some(true)
                    && c.summary.as_ref().is_some_and(|s| {
                        s.key_algorithm == Some(sp.algorithm)
                            && s.subject.parse::<x509_cert::name::Name>().ok()
                                == subject.parse::<x509_cert::name::Name>().ok()
                    })
            });
        if keep {
            kept_slots.push(sp.slot);
            continue;
        }
        let pin_policy = sp.pin_policy.unwrap_or_else(|| sp.slot.default_pin_policy());
        steps.push(Step::GenerateKey {
            slot: sp.slot,
            algorithm: sp.algorithm,
            pin_policy: if info.yubikey_extensions { sp.pin_policy } else { None },
            touch_policy: if info.yubikey_extensions { sp.touch_policy } else { None },
        });
        steps.push(Step::ProveAndCertify {
            slot: sp.slot,
            algorithm: sp.algorithm,
            pin_policy,
            subject,
            validity_days: sp.certificate.validity_days,
            key_usage: sp.certificate.key_usage.clone(),
            extended_key_usage: sp.certificate.extended_key_usage_oids()?,
        });
        certify.push(Step::VerifyCertificateMatchesKey { slot: sp.slot });
        certify.push(Step::WriteCertificate { slot: sp.slot, compress: profile.compress_certificates });
    }

    if options.remove_other_certificates {
        for c in &info.certificates {
            if profile.slot(c.slot).is_none() {
                steps.push(Step::DeleteCertificate { slot: c.slot });
            }
        }
    }
    let expiry = options
        .today
        .replace_year(options.today.year() + i32::from(profile.chuid_expiry_years))
        .or_else(|_| {
            (options.today + time::Duration::days(365 * i64::from(profile.chuid_expiry_years))).replace_day(1)
        })
        .map_err(|e| Error::Profile(format!("CHUID expiry: {e}")))?;
    let expiry = Chuid::new(guid, expiry).expiry.unwrap_or_default();
    steps.push(Step::WriteChuid { guid: guid_hex.clone(), expiry });
    if info.ccc.as_ref().is_none_or(|c| c.is_cac() || c.card_identifier.len() != 21) {
        steps.push(Step::WriteCcc { card_identifier: Ccc::random(&mut rand::thread_rng()).card_identifier });
    }
    // Every key is generated and proven, and the CHUID and CCC written,
    // before the first certificate is checked and written: the CA works on
    // each certificate while the card does the steps after its proof.
    steps.extend(certify);
    steps
        .push(Step::Verify { slots: profile.slots.iter().map(|s| s.slot).collect(), guid: guid_hex.clone() });
    Ok(Plan {
        profile: profile.name.clone(),
        profile_version: profile.version,
        guid: guid_hex,
        kept_slots,
        steps,
    })
}

/// Hooks around the steps: for a journal (fsync before each write) and progress displays.
pub trait PersonalizationObserver {
    /// Step `index` (0-based) of `total` starts.
    fn progress(&mut self, _index: usize, _total: usize, _step: &Step) {}
    /// Called before a step that writes to the card; an error aborts the run
    /// before the write (e.g. the journal could not be saved).
    fn before_write(&mut self, _step: &Step) -> Result<()> {
        Ok(())
    }
    /// Called after a write step succeeded.
    fn after_write(&mut self, _step: &Step) {}
    /// A certificate was issued for `slot` (record it: if the run fails
    /// before it is on the card, it must be revoked).
    fn certificate_issued(&mut self, _slot: Slot, _der: &[u8]) {}
}

/// An observer that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl PersonalizationObserver for NoObserver {}

/// A certificate written during the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCertificate {
    /// Slot.
    pub slot: Slot,
    /// Summary.
    pub summary: CertificateSummary,
    /// DER.
    #[serde(with = "hex_bytes")]
    pub der: Vec<u8>,
}

/// What a successful run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// CHUID GUID, hex.
    pub guid: String,
    /// Certificates issued and written in this run.
    pub certificates: Vec<IssuedCertificate>,
    /// Slots left as they were (already correct).
    pub kept_slots: Vec<Slot>,
    /// True when the card now has the per-card management key; false when
    /// it cannot change it (no YubiKey `FF`) and keeps the factory default.
    pub management_key_is_new: bool,
    /// Steps executed.
    pub steps_run: usize,
    /// Things the operator should know.
    pub warnings: Vec<String>,
}

/// What an earlier personalization left on the card, for a plan that starts
/// from an issued card (UC-UPDATE): the management keys and PUKs it may hold
/// now, most likely first. SP 800-73-4 §3.2 (GENERAL AUTHENTICATE of key 9B)
/// and §3.2.3 (RESET RETRY COUNTER) need the card's current values; after a
/// torn update the card holds either the previous or the new ones.
#[derive(Debug, Clone, Default)]
pub struct KnownSecrets {
    /// Management keys to try, in order, before the plan's own key.
    pub management_keys: Vec<ManagementKey>,
    /// PUKs to try, in order, before the plan's own PUK (a wrong guess is
    /// only tried while it cannot block the PUK).
    pub puks: Vec<Puk>,
}

/// Executes plans.
#[derive(Debug)]
pub struct Personalizer<'a> {
    secrets: &'a Secrets,
    known: KnownSecrets,
    /// The management key the card accepted.
    current_key: Option<ManagementKey>,
    /// The PUK known to be on the card.
    current_puk: Option<Puk>,
    pin_verified: bool,
    keys: BTreeMap<Slot, PublicKey>,
    /// Proven keys whose certificate is asked for at their check step.
    requests: BTreeMap<Slot, IssueRequest>,
    certificates: BTreeMap<Slot, Vec<u8>>,
}

impl<'a> Personalizer<'a> {
    /// Runs `plan` on `card` to the end, or stops at the first error (the
    /// card is then in a state a new [`plan`] + run completes).
    pub fn run<T: Transport>(
        card: &mut PivCard<T>,
        plan: &Plan,
        secrets: &'a Secrets,
        issuer: &dyn CertificateIssuer,
        observer: &mut dyn PersonalizationObserver,
    ) -> Result<Outcome> {
        Self::run_known(card, plan, secrets, &KnownSecrets::default(), issuer, observer)
    }

    /// Like [`Personalizer::run`] on a card that is already personalized:
    /// authenticates with one of `known`'s management keys (or the plan's
    /// own key, or the factory default), and sets the new PIN with one of
    /// `known`'s PUKs (or the plan's). Used to update or reprovision an
    /// issued card whose secrets are escrowed.
    pub fn run_known<T: Transport>(
        card: &mut PivCard<T>,
        plan: &Plan,
        secrets: &'a Secrets,
        known: &KnownSecrets,
        issuer: &dyn CertificateIssuer,
        observer: &mut dyn PersonalizationObserver,
    ) -> Result<Outcome> {
        let mut p = Personalizer {
            secrets,
            known: known.clone(),
            current_key: None,
            current_puk: None,
            pin_verified: false,
            keys: BTreeMap::new(),
            requests: BTreeMap::new(),
            certificates: BTreeMap::new(),
        };
        let total = plan.steps.len();
        let mut warnings = Vec::new();
        for (i, step) in plan.steps.iter().enumerate() {
            p.collect_ready(issuer, observer)?;
            observer.progress(i, total, step);
            if step.writes_card() {
                observer.before_write(step)?;
            }
            p.step(card, step, issuer, observer)?;
            if step.writes_card() {
                observer.after_write(step);
            }
        }
        let management_key_is_new = p.current_key.as_ref() == Some(&secrets.management_key);
        if !management_key_is_new {
            warnings.push(
                "the card cannot change its management key (no SET MANAGEMENT KEY); it keeps the factory default"
                    .into(),
            );
        }
        let certificates = p
            .certificates
            .iter()
            .map(|(slot, der)| {
                Ok(IssuedCertificate {
                    slot: *slot,
                    summary: CertificateSummary::from_der(*slot, der)?,
                    der: der.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Outcome {
            guid: plan.guid.clone(),
            certificates,
            kept_slots: plan.kept_slots.clone(),
            management_key_is_new,
            steps_run: total,
            warnings,
        })
    }

    /// Certificates the issuer has ready, taken now (see [`CertificateIssuer::ready`]).
    fn collect_ready(
        &mut self,
        issuer: &dyn CertificateIssuer,
        observer: &mut dyn PersonalizationObserver,
    ) -> Result<()> {
        let ready: Vec<Slot> = self.requests.keys().copied().filter(|s| issuer.ready(*s)).collect();
        for slot in ready {
            if let Some(request) = self.requests.remove(&slot) {
                let der = issuer.issue(&request)?;
                observer.certificate_issued(slot, &der);
                self.certificates.insert(slot, der);
            }
        }
        Ok(())
    }

    /// One step, re-authenticating once if the card lost the management key
    /// authentication (6982) between steps.
    fn step<T: Transport>(
        &mut self,
        card: &mut PivCard<T>,
        step: &Step,
        issuer: &dyn CertificateIssuer,
        observer: &mut dyn PersonalizationObserver,
    ) -> Result<()> {
        match self.step_once(card, step, issuer, observer) {
            Err(Error::SecurityStatusNotSatisfied) if needs_management_key(step) => {
                let key = self.current_key.clone().ok_or(Error::SecurityStatusNotSatisfied)?;
                card.authenticate(&key)?;
                self.step_once(card, step, issuer, observer)
            }
            other => other,
        }
    }

    fn step_once<T: Transport>(
        &mut self,
        card: &mut PivCard<T>,
        step: &Step,
        issuer: &dyn CertificateIssuer,
        observer: &mut dyn PersonalizationObserver,
    ) -> Result<()> {
        let secrets = self.secrets;
        match step {
            Step::Authenticate { card_algorithm, default_first } => {
                let default = ManagementKey::factory_default(*card_algorithm);
                let target = secrets.management_key.clone();
                let mut order: Vec<ManagementKey> = self.known.management_keys.clone();
                if *default_first {
                    order.extend([default, target]);
                } else {
                    order.extend([target, default]);
                }
                let mut tried: Vec<ManagementKey> = Vec::new();
                let last = order.len() - 1;
                for (i, key) in order.iter().enumerate() {
                    if tried.contains(key) {
                        continue;
                    }
                    tried.push(key.clone());
                    match card.authenticate(key) {
                        Ok(()) => {
                            self.current_key = Some(key.clone());
                            return Ok(());
                        }
                        // A wrong management key costs no try (9B has no retry counter).
                        Err(Error::AuthenticationFailed) if i < last => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(Error::AuthenticationFailed)
            }
            Step::SetManagementKey { require_touch, .. } => {
                if self.current_key.as_ref() == Some(&secrets.management_key) {
                    return Ok(());
                }
                card.set_management_key(&secrets.management_key, *require_touch)?;
                self.current_key = Some(secrets.management_key.clone());
                Ok(())
            }
            Step::SetRetries { pin, puk } => {
                if !self.pin_verified {
                    // FA needs a verified PIN; it is planned only while the
                    // counters still differ, i.e. before our PIN was ever set.
                    card.verify_pin(&Pin::factory_default())?;
                }
                card.set_pin_retries(*pin, *puk)?;
                self.pin_verified = false;
                self.current_puk = Some(Puk::factory_default());
                Ok(())
            }
            Step::SetPin { puk_is_default } => {
                let mut candidates: Vec<Puk> = match (&self.current_puk, puk_is_default) {
                    (Some(known), _) => vec![known.clone()],
                    (None, _) if !self.known.puks.is_empty() => {
                        let mut puks = self.known.puks.clone();
                        puks.push(secrets.puk.clone());
                        puks
                    }
                    (None, Some(true)) => vec![Puk::factory_default()],
                    (None, Some(false)) => vec![secrets.puk.clone()],
                    (None, None) if secrets.puk.is_factory_default() => vec![secrets.puk.clone()],
                    (None, None) => vec![Puk::factory_default(), secrets.puk.clone()],
                };
                let mut unique: Vec<Puk> = Vec::new();
                candidates.retain(|p| {
                    let new = !unique.contains(p);
                    unique.push(p.clone());
                    new
                });
                for (i, puk) in candidates.iter().enumerate() {
                    match card.unblock_pin(puk, &secrets.pin) {
                        Ok(()) => {
                            self.current_puk = Some(puk.clone());
                            self.pin_verified = false;
                            return Ok(());
                        }
                        // Only try our escrowed PUK when a wrong guess cannot block it.
                        Err(Error::WrongPuk { tries }) if i + 1 < candidates.len() && tries >= 2 => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(Error::WrongPuk { tries: 0 })
            }
            Step::SetPuk => {
                let old = self.current_puk.clone().unwrap_or_else(Puk::factory_default);
                if old == secrets.puk {
                    return Ok(());
                }
                match card.change_puk(&old, &secrets.puk) {
                    Ok(()) => {}
                    Err(Error::WrongPuk { tries }) if self.current_puk.is_none() && tries >= 2 => {
                        card.change_puk(&secrets.puk, &secrets.puk)?;
                    }
                    Err(e) => return Err(e),
                }
                self.current_puk = Some(secrets.puk.clone());
                Ok(())
            }
            Step::GenerateKey { slot, algorithm, pin_policy, touch_policy } => {
                let key = card.generate_key(*slot, *algorithm, *pin_policy, *touch_policy)?;
                self.keys.insert(*slot, key);
                self.certificates.remove(slot);
                Ok(())
            }
            Step::ProveAndCertify {
                slot,
                algorithm,
                pin_policy,
                subject,
                validity_days,
                key_usage,
                extended_key_usage,
            } => {
                let key = self.keys.get(slot).cloned().ok_or_else(|| {
                    Error::BadInput(format!("slot {slot}: certify without a key generated in this run"))
                })?;
                let challenge = match issuer.challenge()? {
                    Some(challenge) => challenge,
                    None => {
                        let mut challenge = vec![0u8; 32];
                        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut challenge);
                        challenge
                    }
                };
                let message = ProofOfPossession::message(*slot, &challenge);
                let signature = self.sign(card, *slot, *algorithm, *pin_policy, &message)?;
                key.verify_signature(&message, &signature).map_err(|_| {
                    Error::BadSignature("the card's signature does not verify with the generated key")
                })?;
                let request = IssueRequest {
                    slot: *slot,
                    public_key_spki: key.to_spki_der()?,
                    subject: subject.clone(),
                    validity_days: *validity_days,
                    key_usage: key_usage.clone(),
                    extended_key_usage: extended_key_usage.clone(),
                    proof: ProofOfPossession { challenge, signature },
                };
                issuer.begin(&request)?;
                self.requests.insert(*slot, request);
                self.certificates.remove(slot);
                Ok(())
            }
            Step::VerifyCertificateMatchesKey { slot } => {
                if let Some(request) = self.requests.remove(slot) {
                    let der = issuer.issue(&request)?;
                    observer.certificate_issued(*slot, &der);
                    self.certificates.insert(*slot, der);
                }
                let (Some(key), Some(der)) = (self.keys.get(slot), self.certificates.get(slot)) else {
                    return Err(Error::BadInput(format!(
                        "slot {slot}: no key and certificate from this run"
                    )));
                };
                if certificate_public_key(der)? != *key {
                    return Err(Error::Certificate(format!(
                        "slot {slot}: the issued certificate is for another key"
                    )));
                }
                Ok(())
            }
            Step::WriteCertificate { slot, compress } => {
                let der = self
                    .certificates
                    .get(slot)
                    .ok_or_else(|| Error::BadInput(format!("slot {slot}: no certificate to write")))?;
                card.write_certificate(*slot, der, *compress)
            }
            Step::DeleteCertificate { slot } => card.delete_data(slot.certificate_object()),
            Step::WriteChuid { guid, expiry } => {
                if expiry.len() != 8 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Error::BadInput(format!("CHUID expiry {expiry:?} is not YYYYMMDD")));
                }
                let chuid = Chuid {
                    fasc_n: crate::objects::FASCN_9999.to_vec(),
                    guid: parse_guid(guid)?.to_vec(),
                    expiry: Some(expiry.clone()),
                    signature: Vec::new(),
                };
                card.put_data(object::CHUID, &chuid.to_bytes())
            }
            Step::WriteCcc { card_identifier } => {
                let ccc = crate::objects::Ccc {
                    card_identifier: card_identifier.clone(),
                    container_version: 0x21,
                    grammar_version: 0x21,
                };
                card.put_data(object::CCC, &ccc.to_bytes())
            }
            Step::Verify { slots, guid } => {
                for slot in slots {
                    let der = card.read_certificate(*slot)?.ok_or_else(|| {
                        Error::Certificate(format!("slot {slot}: no certificate on the card"))
                    })?;
                    match self.certificates.get(slot) {
                        Some(written) if *written != der => {
                            return Err(Error::Certificate(format!(
                                "slot {slot}: the card returned another certificate"
                            )))
                        }
                        Some(_) => {}
                        None => {
                            CertificateSummary::from_der(*slot, &der)?;
                        }
                    }
                }
                let chuid = card.read_chuid()?.ok_or(Error::NotFound)?;
                if chuid.guid != parse_guid(guid)? {
                    return Err(Error::Malformed { what: "the CHUID read back has another GUID" });
                }
                card.verify_pin(&secrets.pin)?;
                self.pin_verified = true;
                Ok(())
            }
        }
    }

    /// Signs with a slot key, verifying the PIN as the key's policy needs;
    /// if the card still says 6982 (its policy is stricter than we thought),
    /// verifies once and retries once.
    fn sign<T: Transport>(
        &mut self,
        card: &mut PivCard<T>,
        slot: Slot,
        algorithm: KeyAlgorithm,
        policy: PinPolicy,
        message: &[u8],
    ) -> Result<Vec<u8>> {
        let need_pin = match policy {
            PinPolicy::Always => true,
            PinPolicy::Once => !self.pin_verified,
            PinPolicy::Never => false,
        };
        if need_pin {
            card.verify_pin(&self.secrets.pin)?;
            self.pin_verified = true;
        }
        match card.sign(slot, algorithm, message) {
            Err(Error::SecurityStatusNotSatisfied) if !need_pin => {
                card.verify_pin(&self.secrets.pin)?;
                self.pin_verified = true;
                card.sign(slot, algorithm, message)
            }
            other => other,
        }
    }
}

fn needs_management_key(step: &Step) -> bool {
    matches!(
        step,
        Step::SetManagementKey { .. }
            | Step::SetRetries { .. }
            | Step::GenerateKey { .. }
            | Step::WriteCertificate { .. }
            | Step::DeleteCertificate { .. }
            | Step::WriteChuid { .. }
            | Step::WriteCcc { .. }
    )
}

fn parse_guid(hex_guid: &str) -> Result<[u8; 16]> {
    hex::decode(hex_guid)
        .ok()
        .and_then(|v| <[u8; 16]>::try_from(v).ok())
        .ok_or_else(|| Error::BadInput(format!("GUID {hex_guid:?} is not 32 hex digits")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{PinStatus, PukStatus};
    use crate::fake_card::FakeCard;
    use crate::{read_info, LocalCa};

    const P256: &str = include_str!("../../../assets/profiles/piv-p256.toml");
    const RSA: &str = include_str!("../../../assets/profiles/piv-rsa2048.toml");

    fn options() -> PlanOptions {
        PlanOptions { guid: Some([0x11; 16]), ..PlanOptions::for_holder("Alice Example") }
    }

    fn ca() -> (tempfile::TempDir, LocalCa) {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::open_or_create(dir.path(), "Test CA").unwrap();
        (dir, ca)
    }

    #[derive(Default)]
    struct Recorder {
        before: Vec<Step>,
        after: Vec<Step>,
        issued: Vec<Slot>,
        progress: usize,
    }

    impl PersonalizationObserver for Recorder {
        fn progress(&mut self, index: usize, _total: usize, _step: &Step) {
            assert_eq!(index, self.progress);
            self.progress += 1;
        }
        fn before_write(&mut self, step: &Step) -> Result<()> {
            assert_eq!(self.before.len(), self.after.len(), "before/after must pair");
            self.before.push(step.clone());
            Ok(())
        }
        fn after_write(&mut self, step: &Step) {
            assert_eq!(self.before.last(), Some(step));
            self.after.push(step.clone());
        }
        fn certificate_issued(&mut self, slot: Slot, _der: &[u8]) {
            self.issued.push(slot);
        }
    }

    /// read_info + plan + run; returns the outcome and the APDUs of plan execution.
    fn personalize(
        card: &mut FakeCard,
        profile: &Profile,
        secrets: &Secrets,
        ca: &LocalCa,
        observer: &mut dyn PersonalizationObserver,
    ) -> Result<(Outcome, usize)> {
        let mut piv = PivCard::new(card);
        let info = read_info(&mut piv)?;
        let start = piv.transport_mut().apdus;
        let plan = plan(profile, &info, &options())?;
        let outcome = Personalizer::run(&mut piv, &plan, secrets, ca, observer)?;
        let used = piv.transport_mut().apdus - start;
        Ok((outcome, used))
    }

    fn assert_personalized(card: &mut FakeCard, profile: &Profile, secrets: &Secrets, ca: &LocalCa) {
        assert_eq!(card.management_key(), &secrets.management_key);
        assert!(card.pin_matches(secrets.pin.expose_secret()));
        assert!(card.puk_matches(secrets.puk.expose_secret()));
        let mut piv = PivCard::new(card);
        let info = read_info(&mut piv).unwrap();
        assert_eq!(info.chuid.as_ref().unwrap().guid, [0x11; 16]);
        assert!(info.ccc.is_some());
        assert!(matches!(info.pin, PinStatus::Verified) || info.pin == PinStatus::Tries(profile.pin.retries));
        let r = profile.pin.retries;
        assert_eq!(info.pin_retries, Some(crate::Retries { total: r, remaining: r }));
        assert_eq!(info.puk, PukStatus::Tries(profile.puk.retries));
        assert_eq!(info.management_key_is_default, Some(false));
        assert_eq!(info.management_key_algorithm, Some(profile.management_key_algorithm));
        assert_eq!(info.certificates.len(), profile.slots.len());
        for c in &info.certificates {
            assert_eq!(c.key_matches, Some(true), "slot {}", c.slot);
            crate::ca::verify_issued_by(&c.der, &ca.public_key()).unwrap();
            assert!(c.summary.as_ref().unwrap().subject.starts_with("CN=Alice Example"));
        }
        piv.authenticate(&secrets.management_key).unwrap();
        piv.verify_pin(&secrets.pin).unwrap();
    }

    /// A CA that hands out its own challenges and insists each proof signs one of them.
    struct ChallengingCa<'a> {
        inner: &'a LocalCa,
        handed_out: std::cell::RefCell<Vec<Vec<u8>>>,
    }

    impl CertificateIssuer for ChallengingCa<'_> {
        fn issue(&self, request: &IssueRequest) -> Result<Vec<u8>> {
            let mut handed_out = self.handed_out.borrow_mut();
            let Some(i) = handed_out.iter().position(|c| *c == request.proof.challenge) else {
                return Err(Error::Ca("the proof signs a challenge this CA never handed out".into()));
            };
            handed_out.remove(i);
            self.inner.issue(request)
        }

        fn challenge(&self) -> Result<Option<Vec<u8>>> {
            let n = u8::try_from(self.handed_out.borrow().len()).unwrap_or(0);
            let challenge = vec![0xC0 ^ n; 32];
            self.handed_out.borrow_mut().push(challenge.clone());
            Ok(Some(challenge))
        }
    }

    #[test]
    fn the_proof_of_possession_signs_the_issuers_challenge_when_it_gives_one() {
        let profile = Profile::from_toml(P256).unwrap();
        let secrets = Secrets::generate(&profile, &mut rand::thread_rng()).unwrap();
        let (_dir, local) = ca();
        let ca = ChallengingCa { inner: &local, handed_out: std::cell::RefCell::new(Vec::new()) };
        let mut card = FakeCard::yubikey();
        let mut piv = PivCard::new(&mut card);
        let info = read_info(&mut piv).unwrap();
        let plan = plan(&profile, &info, &options()).unwrap();
        let outcome = Personalizer::run(&mut piv, &plan, &secrets, &ca, &mut NoObserver).unwrap();
        assert_eq!(outcome.certificates.len(), 3);
        assert!(ca.handed_out.borrow().is_empty(), "every challenge handed out was used once");
    }

    #[test]
    fn personalizes_a_blank_yubikey_with_p256_keys_in_few_apdus() {
        let profile = Profile::from_toml(P256).unwrap();
        let secrets = Secrets::generate(&profile, &mut rand::thread_rng()).unwrap();
        let (_dir, ca) = ca();
        let mut card = FakeCard::yubikey();
        let mut rec = Recorder::default();
        let (outcome, apdus) = personalize(&mut card, &profile, &secrets, &ca, &mut rec).unwrap();
        assert!(outcome.management_key_is_new);
        assert_eq!(outcome.certificates.len(), 3);
        assert!(outcome.warnings.is_empty());
        assert_eq!(rec.issued, [Slot::Authentication, Slot::Signature, Slot::KeyManagement]);
        assert_eq!(rec.before.len(), rec.after.len());
        assert!(
            matches!(rec.before[0], Step::SetManagementKey { .. }),
            "the new key is journaled before it is written"
        );
        eprintln!("P-256 personalization: {apdus} APDUs after read_info ({} total)", card.apdus);
        assert!(apdus <= 35, "{apdus} APDUs");
        assert_personalized(&mut card, &profile, &secrets, &ca);

        // A second run finds everything done and keeps the keys.
        let (again, _) = personalize(&mut card, &profile, &secrets, &ca, &mut NoObserver).unwrap();
        assert_eq!(again.kept_slots, [Slot::Authentication, Slot::Signature, Slot::KeyManagement]);
        assert!(again.certificates.is_empty());
        assert_personalized(&mut card, &profile, &secrets, &ca);
    }

    #[test]
    fn personalizes_rsa_2048() {
        let profile = Profile::from_toml(RSA).unwrap();
        let secrets = Secrets::generate(&profile, &mut rand::thread_rng()).unwrap();
        let (_dir, ca) = ca();
        let mut card = FakeCard::yubikey();
        let (outcome, apdus) = personalize(&mut card, &profile, &secrets, &ca, &mut NoObserver).unwrap();
        eprintln!("RSA-2048 personalization: {apdus} APDUs after read_info");
        assert!(outcome.certificates.iter().all(|c| c.summary.key_algorithm == Some(KeyAlgorithm::Rsa2048)));
        assert_personalized(&mut card, &profile, &secrets, &ca);
    }

    /// Tears the card at every APDU of a run (before and after the card
    /// processed it), then re-runs with the escrowed management key and PUK
    /// but a new PIN: every re-run must complete to the same end state.
    fn tear_everywhere(profile: &Profile) {
        let (_dir, ca) = ca();
        let secrets = Secrets::generate(profile, &mut rand::thread_rng()).unwrap();
        let mut clean = FakeCard::yubikey();
        personalize(&mut clean, profile, &secrets, &ca, &mut NoObserver).unwrap();
        let total = clean.apdus;
        for after_processing in [false, true] {
            for k in 1..=total {
                let mut card = FakeCard::yubikey();
                card.tear_at = Some(k);
                card.tear_after_processing = after_processing;
                let first = personalize(&mut card, profile, &secrets, &ca, &mut NoObserver);
                let err = first.expect_err("torn run must fail");
                assert!(err.is_transport(), "tear at {k}: {err}");
                card.reinsert();
                let second = Secrets {
                    pin: Pin::random(6, &mut rand::thread_rng()).unwrap(),
                    puk: secrets.puk.clone(),
                    management_key: secrets.management_key.clone(),
                };
                personalize(&mut card, profile, &second, &ca, &mut NoObserver).unwrap_or_else(|e| {
                    panic!("re-run after tear at APDU {k} (processed: {after_processing}): {e}")
                });
                assert_personalized(&mut card, profile, &second, &ca);
            }
        }
    }

    /// Reprovisioning (UC-UPDATE) a personalized card: every slot re-keyed,
    /// new management key, PUK and PIN, starting from the card's known
    /// secrets; torn at any APDU, a re-run that knows both the previous and
    /// the new secrets finishes it.
    #[test]
    fn a_personalized_card_is_reprovisioned_from_its_known_secrets_even_when_torn() {
        let profile = Profile::from_toml(P256).unwrap();
        let (_dir, ca) = ca();
        let old = Secrets::generate(&profile, &mut rand::thread_rng()).unwrap();
        let issued = || {
            let mut card = FakeCard::yubikey();
            personalize(&mut card, &profile, &old, &ca, &mut NoObserver).unwrap();
            card.reinsert();
            card.apdus = 0;
            card
        };
        let new = Secrets::generate(&profile, &mut rand::thread_rng()).unwrap();
        let known =
            KnownSecrets { management_keys: vec![old.management_key.clone()], puks: vec![old.puk.clone()] };
        let reprovision = |card: &mut FakeCard, secrets: &Secrets, known: &KnownSecrets| -> Result<Outcome> {
            let mut piv = PivCard::new(card);
            let info = read_info(&mut piv)?;
            let options = PlanOptions { force_regenerate: true, ..options() };
            let plan = plan(&profile, &info, &options)?;
            Personalizer::run_known(&mut piv, &plan, secrets, known, &ca, &mut NoObserver)
        };
        let mut clean = issued();
        let outcome = reprovision(&mut clean, &new, &known).unwrap();
        assert_eq!(outcome.certificates.len(), 3, "every slot re-keyed");
        assert!(outcome.kept_slots.is_empty());
        let total = clean.apdus;
        assert_personalized(&mut clean, &profile, &new, &ca);
        let both = KnownSecrets {
            management_keys: vec![old.management_key.clone(), new.management_key.clone()],
            puks: vec![old.puk.clone(), new.puk.clone()],
        };
        for after_processing in [false, true] {
            for k in 1..=total {
                let mut card = issued();
                card.tear_at = Some(k);
                card.tear_after_processing = after_processing;
                let Err(err) = reprovision(&mut card, &new, &known) else {
                    // Certificates (and so chained writes) vary a little in
                    // length: this run ended before APDU `k`.
                    assert!(k + 5 > total, "tear at {k} of {total}: the run must fail");
                    assert_personalized(&mut card, &profile, &new, &ca);
                    continue;
                };
                assert!(err.is_transport(), "tear at {k}: {err}");
                card.reinsert();
                let again = Secrets { pin: Pin::random(6, &mut rand::thread_rng()).unwrap(), ..new.clone() };
                reprovision(&mut card, &again, &both).unwrap_or_else(|e| {
                    panic!("re-run after tear at APDU {k} (processed: {after_processing}): {e}")
                });
                assert_personalized(&mut card, &profile, &again, &ca);
            }
        }
    }

    #[test]
    fn bringing_a_card_to_a_profile_with_fewer_slots_deletes_the_other_certificates() {
        let three = Profile::from_toml(P256).unwrap();
        let (_dir, ca) = ca();
        let secrets = Secrets::generate(&three, &mut rand::thread_rng()).unwrap();
        let mut card = FakeCard::yubikey();
        personalize(&mut card, &three, &secrets, &ca, &mut NoObserver).unwrap();
        let mut one = three.clone();
        one.slots.truncate(1);
        one.version += 1;
        let mut piv = PivCard::new(&mut card);
        let info = read_info(&mut piv).unwrap();
        let options = PlanOptions { remove_other_certificates: true, ..options() };
        let plan = plan(&one, &info, &options).unwrap();
        assert_eq!(plan.kept_slots, [Slot::Authentication], "the valid 9A is kept");
        let deleted: Vec<&Step> =
            plan.steps.iter().filter(|s| matches!(s, Step::DeleteCertificate { .. })).collect();
        assert_eq!(deleted.len(), 2, "{:?}", plan.steps);
        let known = KnownSecrets { management_keys: vec![secrets.management_key.clone()], puks: vec![] };
        Personalizer::run_known(&mut piv, &plan, &secrets, &known, &ca, &mut NoObserver).unwrap();
        let after = read_info(&mut piv).unwrap();
        assert_eq!(after.certificates.len(), 1);
        assert_eq!(after.certificates[0].slot, Slot::Authentication);
    }

    #[test]
    fn retry_counters_are_left_alone_when_asked() {
        let mut profile = Profile::from_toml(P256).unwrap();
        profile.pin.retries = 5;
        let mut card = FakeCard::yubikey();
        let info = read_info(&mut PivCard::new(&mut card)).unwrap();
        let has_retries = |p: &Plan| p.steps.iter().any(|s| matches!(s, Step::SetRetries { .. }));
        assert!(has_retries(&plan(&profile, &info, &options()).unwrap()), "blank stock gets the profile's");
        let keep = PlanOptions { keep_retry_counters: true, ..options() };
        assert!(!has_retries(&plan(&profile, &info, &keep).unwrap()), "an issued card keeps its counters");
    }

    #[test]
    fn every_tear_is_recovered_by_a_rerun() {
        tear_everywhere(&Profile::from_toml(P256).unwrap());
    }

    #[test]
    fn every_tear_is_recovered_with_retry_counters_changed() {
        let text = P256.replace("[pin]\nlength = 6\nretries = 3", "[pin]\nlength = 6\nretries = 5");
        let profile = Profile::from_toml(&text).unwrap();
        assert_eq!(profile.pin.retries, 5);
        let info = {
            let mut card = FakeCard::yubikey();
            read_info(&mut PivCard::new(&mut card)).unwrap()
        };
        let p = plan(&profile, &info, &options()).unwrap();
        assert!(p.steps.contains(&Step::SetRetries { pin: 5, puk: 3 }));
        tear_everywhere(&profile);
    }

    #[test]
    fn plain_piv_cards_keep_their_management_key_and_are_told_so() {
        let profile = Profile::from_toml(P256).unwrap();
        let secrets = Secrets::generate(&profile, &mut rand::thread_rng()).unwrap();
        let (_dir, ca) = ca();
        let mut card = FakeCard::plain_piv();
        let (outcome, _) = personalize(&mut card, &profile, &secrets, &ca, &mut NoObserver).unwrap();
        assert!(!outcome.management_key_is_new);
        assert_eq!(outcome.warnings.len(), 1);
        assert!(card.pin_matches(secrets.pin.expose_secret()));
        assert!(card.puk_matches(secrets.puk.expose_secret()));
        let info = read_info(&mut PivCard::new(&mut card)).unwrap();
        assert_eq!(info.certificates.len(), 3);
        assert!(info.certificates.iter().all(|c| c.key_matches.is_none()), "no metadata on plain PIV");
        // Without metadata nothing can be proven, so a re-run regenerates.
        let p = plan(&profile, &info, &options()).unwrap();
        assert!(p.kept_slots.is_empty());
        assert!(!p
            .steps
            .iter()
            .any(|s| matches!(s, Step::SetManagementKey { .. } | Step::SetRetries { .. })));
    }

    #[test]
    fn a_foreign_puk_costs_exactly_one_try_and_stops() {
        let profile = Profile::from_toml(P256).unwrap();
        let (_dir, ca) = ca();
        let mut card = FakeCard::yubikey();
        {
            let mut piv = PivCard::new(&mut card);
            piv.change_puk(&Puk::factory_default(), &Puk::new("87654321").unwrap()).unwrap();
        }
        let secrets = Secrets::generate(&profile, &mut rand::thread_rng()).unwrap();
        let err = personalize(&mut card, &profile, &secrets, &ca, &mut NoObserver).unwrap_err();
        assert!(matches!(err, Error::WrongPuk { tries: 2 }), "{err}");
        assert!(card.puk_matches("87654321"));
    }

    #[test]
    fn a_failing_journal_stops_before_the_write() {
        struct Refuse;
        impl PersonalizationObserver for Refuse {
            fn before_write(&mut self, _: &Step) -> Result<()> {
                Err(Error::BadInput("journal full".into()))
            }
        }
        let profile = Profile::from_toml(P256).unwrap();
        let secrets = Secrets::generate(&profile, &mut rand::thread_rng()).unwrap();
        let (_dir, ca) = ca();
        let mut card = FakeCard::yubikey();
        assert!(personalize(&mut card, &profile, &secrets, &ca, &mut Refuse).is_err());
        assert_eq!(card.management_key(), &ManagementKey::factory_default(ManagementKeyAlgorithm::TripleDes));
    }

    #[test]
    fn plans_serialize_without_secrets() {
        let profile = Profile::from_toml(P256).unwrap();
        let mut card = FakeCard::yubikey();
        let info = read_info(&mut PivCard::new(&mut card)).unwrap();
        assert!(info.looks_blank());
        assert_eq!(info.version.unwrap().to_string(), "5.4.3");
        assert_eq!(info.serial, Some(12345678));
        assert_eq!(info.management_key_is_default, Some(true));
        let p = plan(&profile, &info, &options()).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"step\":\"generate-key\""));
        let back: Plan = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        let info_json = serde_json::to_value(&info).unwrap();
        assert_eq!(info_json["pin"], serde_json::json!({"tries": 3}));
    }
}
