-- Workstation credentials (issue 16): the first sign-in from a workstation
-- binds its id to the hash of the key the station made at enrollment; later
-- sign-ins naming that id must present the same key. Only the hash is kept.
CREATE TABLE workstations (
    id          TEXT PRIMARY KEY,
    key_hash    BLOB NOT NULL CHECK (length(key_hash) = 32),  -- SHA-256 of the key
    enrolled_by TEXT NOT NULL,                                -- the operator of the first sign-in
    enrolled_at INTEGER NOT NULL
) STRICT;
