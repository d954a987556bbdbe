//! Typed identifiers (SPEC §3).
//!
//! Ids are UUIDs generated outside this crate (UUIDv7 by the workstation,
//! SPEC §6): the domain never makes randomness of its own. A distinct type
//! per entity keeps a request id from being passed where a device id is due.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Wraps an id made elsewhere (the domain makes none itself).
            pub const fn new(id: Uuid) -> Self {
                Self(id)
            }

            /// Builds a deterministic id from a number: for fixtures, demos and tests.
            pub const fn from_u128(n: u128) -> Self {
                Self(Uuid::from_u128(n))
            }

            /// The underlying UUID.
            pub const fn uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// A person (cardholder, operator, approver): SPEC §3 Person.
    PersonId
);
id_type!(
    /// An operator account (a person with roles): SPEC §3 Operator.
    OperatorId
);
id_type!(
    /// A role: SPEC §3 Role.
    RoleId
);
id_type!(
    /// A credential profile, across all its versions: SPEC §3 Credential profile.
    ProfileId
);
id_type!(
    /// A device (card); equal to the GUID written in its CHUID (SPEC §2 step 4).
    DeviceId
);
id_type!(
    /// A certificate record: SPEC §3 Certificate.
    CertificateId
);
id_type!(
    /// A request (job): SPEC §3 Request.
    RequestId
);
id_type!(
    /// A batch order: SPEC §3 Batch order, UC-BATCH.
    BatchId
);
id_type!(
    /// A provisioning task: SPEC §3, UC-PROV.
    TaskId
);
id_type!(
    /// One user's enrollment inside a provisioning task: SPEC §4, UC-PROV.
    EnrollmentId
);
id_type!(
    /// An audit event: SPEC §3 Audit event.
    AuditEventId
);
id_type!(
    /// An encoding workstation.
    WorkstationId
);
