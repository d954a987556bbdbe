//! Errors of the domain crate: invalid data (a profile that cannot be
//! encoded, a broken audit chain). Refusals of actions are [`crate::Refusal`].

use crate::use_case::UseCase;

/// Result of the domain crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Invalid domain data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A credential profile's settings are inconsistent or outside PIV limits.
    #[error("invalid credential profile: {0}")]
    InvalidProfile(String),
    /// A revision that changes nothing would make a useless version.
    #[error("the revised profile is identical to the current version")]
    UnchangedProfile,
    /// Profile versions ran out (u32).
    #[error("profile version number overflow")]
    VersionOverflow,
    /// A use case that cannot be switched off.
    #[error("{0} cannot be disabled")]
    UseCaseRequired(UseCase),
    /// Neither "Request card" nor "Issue card" is enabled (seed 002).
    #[error("enable Request card or Issue card: with neither, no card can be produced")]
    NoCardIssuanceUseCase,
    /// The audit hash chain is broken at this position (UC-AUDIT).
    #[error("audit chain broken at event {index}: {reason}")]
    AuditChainBroken {
        /// Index of the first event that does not verify.
        index: usize,
        /// What does not match.
        reason: &'static str,
    },
}
