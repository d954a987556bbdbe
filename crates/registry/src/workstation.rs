//! Workstation credentials (issue 16): the workstation an audit record
//! names is the one whose credential signed in, not whatever a client says.
//! A station makes a random key at enrollment; its first sign-in binds the
//! workstation id to the key's hash (audited), and every later sign-in
//! naming that id must present the same key.

use domain::{AuditObject, AuditOutcome, OperatorId, WorkstationId};
use proto::WorkstationKey;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::audit_trail::{append_audit, audit_draft};
use crate::error::Result;
use crate::fault::{Fault, Served};
use crate::storage::Tx;

/// The hash kept for a workstation key (64 hex digits: 32 random bytes).
pub(crate) fn key_hash(key: &WorkstationKey) -> Served<[u8; 32]> {
    let text = key.expose();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Fault::Invalid("workstation_key must be 64 hexadecimal digits".into()));
    }
    Ok(Sha256::digest(text.to_ascii_lowercase().as_bytes()).into())
}

/// Binds `workstation` to `hash` at its first sign-in, or checks the key of
/// a workstation the registry knows. A mismatch is refused before any session exists.
pub(crate) fn admit(
    tx: &mut dyn Tx,
    workstation: WorkstationId,
    hash: &[u8; 32],
    operator: OperatorId,
    now: OffsetDateTime,
) -> Result<Served<()>> {
    match tx.workstation_key_hash(workstation)? {
        // Hashes of 32 random bytes: comparing them leaks nothing of the key.
        Some(known) if known.as_slice() == hash => Ok(Ok(())),
        Some(_) => {
            tracing::warn!(%workstation, "sign-in refused: the workstation's credential does not match");
            Ok(Err(Fault::Unauthenticated(
                "this workstation's credential does not match the one it enrolled with",
            )))
        }
        None => {
            tx.insert_workstation(workstation, hash, operator, now)?;
            let mut draft = audit_draft(
                now,
                Some(operator),
                "workstation.enrolled",
                AuditObject::None,
                AuditOutcome::Success,
                Some(format!("workstation {workstation} bound to its credential at its first sign-in")),
            );
            draft.workstation = Some(workstation);
            append_audit(tx, draft)?;
            Ok(Ok(()))
        }
    }
}
