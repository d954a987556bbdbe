-- Workstation credentials (see the SQLite migration of the same number).
CREATE TABLE workstations (
    id          UUID PRIMARY KEY,
    key_hash    BYTEA NOT NULL CHECK (length(key_hash) = 32),
    enrolled_by UUID NOT NULL,
    enrolled_at BIGINT NOT NULL
);
