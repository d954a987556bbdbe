//! Use-case enablement (SPEC §5 preamble, UC-ADMIN).
//!
//! Each use case can be switched on or off per deployment. A disabled use
//! case is refused by the backend (every state machine checks it), not only
//! hidden in the UI. The defaults follow the seeds: requesting a card and
//! issuing one directly are both off until an administrator picks one
//! (seed 002), and initializing temporary cards is off (seed 001).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::refusal::Refusal;

/// The use cases of SPEC §5, one per `UC-…` id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UseCase {
    /// UC-SIGNIN: operator sign-in.
    SignIn,
    /// UC-READ: read an inserted card.
    Read,
    /// UC-SEARCH: search people, devices, requests, ….
    Search,
    /// UC-REQUEST: request a card for a person (seed 002).
    Request,
    /// UC-APPROVE: approve, reject or cancel requests.
    Approve,
    /// UC-ISSUE: issue one card for an approved request.
    Issue,
    /// UC-ISSUE "Issue card": issue directly, no request and no approval (seed 002).
    DirectIssue,
    /// UC-BATCH: issue multiple cards as a batch order (seed 003).
    Batch,
    /// UC-TEMP: order, assign, withdraw, return and expire temporary cards.
    Temp,
    /// UC-TEMP: initialize a produced temporary card (seed 001; off by default).
    TempInitialize,
    /// UC-UPDATE: request and collect updates / reprovisioning (seed 000).
    Update,
    /// UC-PIN: unblock and change PINs.
    Pin,
    /// UC-RETIRE: deactivate, reactivate, cancel, erase.
    Retire,
    /// UC-PROV: provisioning tasks (seed 004).
    Prov,
    /// UC-WALKUP: walk-up (kiosk) initialization by the cardholder.
    Walkup,
    /// UC-AUDIT: audit log and reports.
    Audit,
    /// UC-SYNC: sync status.
    Sync,
    /// UC-ADMIN: profiles, roles, enablement, connection.
    Admin,
}

impl UseCase {
    /// Every use case, in SPEC order.
    pub const ALL: [UseCase; 18] = [
        UseCase::SignIn,
        UseCase::Read,
        UseCase::Search,
        UseCase::Request,
        UseCase::Approve,
        UseCase::Issue,
        UseCase::DirectIssue,
        UseCase::Batch,
        UseCase::Temp,
        UseCase::TempInitialize,
        UseCase::Update,
        UseCase::Pin,
        UseCase::Retire,
        UseCase::Prov,
        UseCase::Walkup,
        UseCase::Audit,
        UseCase::Sync,
        UseCase::Admin,
    ];

    /// The SPEC id, e.g. `UC-TEMP`.
    pub const fn spec_id(self) -> &'static str {
        match self {
            UseCase::SignIn => "UC-SIGNIN",
            UseCase::Read => "UC-READ",
            UseCase::Search => "UC-SEARCH",
            UseCase::Request => "UC-REQUEST",
            UseCase::Approve => "UC-APPROVE",
            UseCase::Issue | UseCase::DirectIssue => "UC-ISSUE",
            UseCase::Batch => "UC-BATCH",
            UseCase::Temp | UseCase::TempInitialize => "UC-TEMP",
            UseCase::Update => "UC-UPDATE",
            UseCase::Pin => "UC-PIN",
            UseCase::Retire => "UC-RETIRE",
            UseCase::Prov => "UC-PROV",
            UseCase::Walkup => "UC-WALKUP",
            UseCase::Audit => "UC-AUDIT",
            UseCase::Sync => "UC-SYNC",
            UseCase::Admin => "UC-ADMIN",
        }
    }

    /// The name an operator sees.
    pub const fn title(self) -> &'static str {
        match self {
            UseCase::SignIn => "Sign in",
            UseCase::Read => "Read card",
            UseCase::Search => "Search",
            UseCase::Request => "Request card",
            UseCase::Approve => "Approve requests",
            UseCase::Issue => "Issue card",
            UseCase::DirectIssue => "Issue card without request",
            UseCase::Batch => "Issue multiple cards",
            UseCase::Temp => "Temporary cards",
            UseCase::TempInitialize => "Initialize temporary card",
            UseCase::Update => "Request and collect updates",
            UseCase::Pin => "Unblock and change PIN",
            UseCase::Retire => "Deactivate, cancel or erase a card",
            UseCase::Prov => "Provisioning tasks",
            UseCase::Walkup => "Walk-up initialization",
            UseCase::Audit => "Audit log and reports",
            UseCase::Sync => "Sync status",
            UseCase::Admin => "Administration",
        }
    }

    /// Whether a fresh deployment has this use case on (seeds 001, 002).
    pub const fn enabled_by_default(self) -> bool {
        !matches!(self, UseCase::Request | UseCase::DirectIssue | UseCase::TempInitialize)
    }

    /// Whether an administrator may switch it off. Sign-in and administration
    /// stay on: turning them off would lock every administrator out.
    pub const fn can_be_disabled(self) -> bool {
        !matches!(self, UseCase::SignIn | UseCase::Admin)
    }
}

impl fmt::Display for UseCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.title(), self.spec_id())
    }
}

/// The set of enabled use cases of one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UseCases {
    enabled: BTreeSet<UseCase>,
}

impl Default for UseCases {
    /// The seeds' defaults: everything except [`UseCase::Request`],
    /// [`UseCase::DirectIssue`] and [`UseCase::TempInitialize`].
    fn default() -> Self {
        Self { enabled: UseCase::ALL.into_iter().filter(|u| u.enabled_by_default()).collect() }
    }
}

impl UseCases {
    /// Every use case on (tests, demos, the lab).
    pub fn all() -> Self {
        Self { enabled: UseCase::ALL.into_iter().collect() }
    }

    /// Whether `use_case` is on.
    pub fn is_enabled(&self, use_case: UseCase) -> bool {
        self.enabled.contains(&use_case)
    }

    /// Switches `use_case` on.
    pub fn enable(&mut self, use_case: UseCase) {
        self.enabled.insert(use_case);
    }

    /// Switches `use_case` off; sign-in and administration cannot be.
    pub fn disable(&mut self, use_case: UseCase) -> Result<()> {
        if !use_case.can_be_disabled() {
            return Err(Error::UseCaseRequired(use_case));
        }
        self.enabled.remove(&use_case);
        Ok(())
    }

    /// The enabled use cases, in SPEC order.
    pub fn enabled(&self) -> impl Iterator<Item = UseCase> + '_ {
        self.enabled.iter().copied()
    }

    /// Refuses with [`Refusal::UseCaseDisabled`] unless `use_case` is on.
    pub fn require(&self, use_case: UseCase) -> Result<(), Refusal> {
        if self.is_enabled(use_case) {
            Ok(())
        } else {
            Err(Refusal::UseCaseDisabled(use_case))
        }
    }

    /// Seed 002: "you must enable at least one of" Request card and Issue card.
    /// A deployment with neither cannot produce cards; the admin screen shows this.
    pub fn check_card_issuance(&self) -> Result<()> {
        if self.is_enabled(UseCase::Request) || self.is_enabled(UseCase::DirectIssue) {
            Ok(())
        } else {
            Err(Error::NoCardIssuanceUseCase)
        }
    }
}
