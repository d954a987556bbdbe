-- Cardstation registry, schema version 1 (PostgreSQL).
--
-- The same tables and constraints as schema/001_initial.sql (SQLite), with
-- PostgreSQL's types: UUID ids, BYTEA for binary values, BIGINT for counters
-- and unix times. Records are stored as the JSON the `domain` crate
-- serializes (column `body`) beside the columns that constraints and lookups
-- need. Bodies are JSON, not JSONB: JSON keeps the exact text written (the
-- feed and `dump` hand back byte for byte what SQLite does) and accepts every
-- string serde_json produces, where JSONB refuses the escape \u0000.
-- Created inside the schema named by the connection's search_path (tests
-- give each run its own schema). Every constraint says why it is there.

-- Deployment settings (use-case enablement, approval step), one JSON value per key.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,                        -- one value per setting
    value JSON NOT NULL                            -- settings are JSON documents (the type checks it)
);

CREATE TABLE people (
    id   UUID PRIMARY KEY,                         -- a person is stored once
    body JSON NOT NULL                             -- the domain::Person
);

CREATE TABLE roles (
    id   UUID PRIMARY KEY,                         -- a role is stored once
    name TEXT NOT NULL UNIQUE,                     -- administrators grant roles by name: names must not clash
    body JSON NOT NULL                             -- the domain::Role (its grants)
);

CREATE TABLE operators (
    id            UUID PRIMARY KEY,                         -- one account per id
    person_id     UUID NOT NULL REFERENCES people (id),     -- an operator is a person (approver rules compare people)
    username      TEXT NOT NULL UNIQUE,                     -- sign-in names identify one account
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2%'), -- only argon2 verifiers, never passwords
    enabled       BOOLEAN NOT NULL                          -- a boolean
);

CREATE TABLE operator_roles (
    operator_id UUID NOT NULL REFERENCES operators (id),  -- grants name real operators
    role_id     UUID NOT NULL REFERENCES roles (id),      -- and real roles
    PRIMARY KEY (operator_id, role_id)                    -- a role is granted once
);

CREATE TABLE sessions (
    token_hash  BYTEA PRIMARY KEY CHECK (length(token_hash) = 32), -- SHA-256 of the bearer token, never the token
    operator_id UUID NOT NULL REFERENCES operators (id),           -- a session belongs to a real operator
    workstation UUID,                                              -- where they signed in, if said
    created_at  BIGINT NOT NULL,                                   -- unix seconds
    expires_at  BIGINT NOT NULL CHECK (expires_at > created_at)    -- a session always ends
);

CREATE TABLE profiles (
    id      UUID NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 1),   -- versions count from 1
    body    JSON NOT NULL,                          -- the domain::CredentialProfile of this version
    PRIMARY KEY (id, version)                       -- each version exists once and is never rewritten
);

CREATE TABLE devices (
    id              UUID PRIMARY KEY,                     -- a card is stored once (id = CHUID GUID)
    owner           UUID REFERENCES people (id),          -- a card belongs to a known person, or to nobody
    profile_id      UUID NOT NULL,
    profile_version BIGINT NOT NULL,
    state           TEXT NOT NULL,                        -- copy of body.state, for lookups
    body            JSON NOT NULL,                        -- the domain::Device
    FOREIGN KEY (profile_id, profile_version) REFERENCES profiles (id, version) -- encoded with a real profile version
);

CREATE TABLE certificates (
    id        UUID PRIMARY KEY,                         -- a certificate is stored once
    ord       BIGINT GENERATED ALWAYS AS IDENTITY,      -- insertion order (SQLite's rowid): lists come back in it
    device_id UUID NOT NULL REFERENCES devices (id),    -- a certificate lives on a known card
    serial    TEXT NOT NULL UNIQUE,                     -- the CA never reuses a serial
    body      JSON NOT NULL                             -- the domain::Certificate
);
CREATE INDEX certificates_by_device ON certificates (device_id, ord);

CREATE TABLE requests (
    id         UUID PRIMARY KEY,                        -- a request is stored once
    ord        BIGINT GENERATED ALWAYS AS IDENTITY,     -- insertion order (SQLite's rowid): lists come back in it
    device_id  UUID REFERENCES devices (id),            -- it concerns a known card, or none yet
    person_id  UUID REFERENCES people (id),             -- it is for a known person, or none
    profile_id UUID NOT NULL,                           -- the profile it uses (any version)
    state      TEXT NOT NULL,                           -- copy of body.state, for lookups
    body       JSON NOT NULL                            -- the domain::Request
);
CREATE INDEX requests_by_device ON requests (device_id, ord);

-- Exactly-once (SPEC §6): the first answer to each client operation id.
CREATE TABLE applied_ops (
    op_id       UUID PRIMARY KEY,                        -- an operation is applied at most once, whatever the race
    operator_id UUID NOT NULL REFERENCES operators (id), -- who sent it (a replay by someone else is refused)
    applied_at  BIGINT NOT NULL,                         -- unix seconds
    answer      JSON NOT NULL                            -- the proto::Answer replayed to retries
);

-- The change feed: every record written, in commit order. `seq` is assigned
-- as MAX(seq) + 1 by the writer while it holds the registry's write lock
-- (pg_advisory_xact_lock, see storage/postgres.rs), so sequence numbers are
-- handed out in commit order with no gaps: a reader that has seen seq N has
-- seen every change numbered below N; none commits "late" behind its cursor.
-- (A SEQUENCE/BIGSERIAL would not give that: numbers are taken before commit,
-- so a slow transaction could commit seq 7 after a reader moved past 8.)
CREATE TABLE changes (
    seq         BIGINT PRIMARY KEY CHECK (seq >= 1),      -- strictly increasing, never reused: cursors stay valid
    at          TEXT NOT NULL,                            -- RFC 3339 with nanoseconds (TIMESTAMPTZ keeps microseconds only)
    record_type TEXT NOT NULL CHECK (record_type IN ('person', 'profile', 'device', 'certificate', 'request')),
    record_id   UUID NOT NULL,
    body        JSON NOT NULL                             -- the proto::Record
);

-- The audit trail (UC-AUDIT), hash-chained by domain::AuditEvent::append.
CREATE TABLE audit (
    seq       BIGINT PRIMARY KEY CHECK (seq >= 0),        -- position in the chain; no gaps by construction
    hash      TEXT NOT NULL UNIQUE CHECK (length(hash) = 64), -- each event's SHA-256 is distinct
    prev_hash TEXT NOT NULL CHECK (length(prev_hash) = 64),
    body      JSON NOT NULL                               -- the domain::AuditEvent
);
-- Append-only: an audit event is never changed or removed through SQL.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END;
$$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

-- Escrowed card secrets (SPEC §2 steps 2, 5): ciphertext only.
CREATE TABLE escrow (
    device_id UUID NOT NULL REFERENCES devices (id),          -- secrets of known cards only
    kind      TEXT NOT NULL CHECK (kind IN ('management_key', 'puk')),
    sealed    BYTEA NOT NULL CHECK (length(sealed) > 0),      -- the sealed secret, never plaintext
    stored_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, kind)                             -- one current secret of each kind per card
);
