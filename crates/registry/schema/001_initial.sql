-- Cardstation registry, schema version 1 (SQLite).
--
-- Records are stored as the JSON the `domain` crate serializes (column
-- `body`), beside the columns that constraints and lookups need. Every
-- constraint below says why it is there.

-- Deployment settings (use-case enablement, approval step), one JSON value per key.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,                       -- one value per setting
    value TEXT NOT NULL CHECK (json_valid(value))  -- settings are JSON documents
) STRICT;

CREATE TABLE people (
    id   TEXT PRIMARY KEY,                         -- a person is stored once
    body TEXT NOT NULL CHECK (json_valid(body))    -- the domain::Person
) STRICT;

CREATE TABLE roles (
    id   TEXT PRIMARY KEY,                         -- a role is stored once
    name TEXT NOT NULL UNIQUE,                     -- administrators grant roles by name: names must not clash
    body TEXT NOT NULL CHECK (json_valid(body))    -- the domain::Role (its grants)
) STRICT;

CREATE TABLE operators (
    id            TEXT PRIMARY KEY,                         -- one account per id
    person_id     TEXT NOT NULL REFERENCES people (id),     -- an operator is a person (approver rules compare people)
    username      TEXT NOT NULL UNIQUE,                     -- sign-in names identify one account
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2%'), -- only argon2 verifiers, never passwords
    enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1))        -- a boolean
) STRICT;

CREATE TABLE operator_roles (
    operator_id TEXT NOT NULL REFERENCES operators (id),  -- grants name real operators
    role_id     TEXT NOT NULL REFERENCES roles (id),      -- and real roles
    PRIMARY KEY (operator_id, role_id)                    -- a role is granted once
) STRICT;

CREATE TABLE sessions (
    token_hash  BLOB PRIMARY KEY CHECK (length(token_hash) = 32), -- SHA-256 of the bearer token, never the token
    operator_id TEXT NOT NULL REFERENCES operators (id),          -- a session belongs to a real operator
    workstation TEXT,                                             -- where they signed in, if said
    created_at  INTEGER NOT NULL,                                 -- unix seconds
    expires_at  INTEGER NOT NULL CHECK (expires_at > created_at)  -- a session always ends
) STRICT;

CREATE TABLE profiles (
    id      TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),  -- versions count from 1
    body    TEXT NOT NULL CHECK (json_valid(body)), -- the domain::CredentialProfile of this version
    PRIMARY KEY (id, version)                       -- each version exists once and is never rewritten
) STRICT;

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,                     -- a card is stored once (id = CHUID GUID)
    owner           TEXT REFERENCES people (id),          -- a card belongs to a known person, or to nobody
    profile_id      TEXT NOT NULL,
    profile_version INTEGER NOT NULL,
    state           TEXT NOT NULL,                        -- copy of body.state, for lookups
    body            TEXT NOT NULL CHECK (json_valid(body)), -- the domain::Device
    FOREIGN KEY (profile_id, profile_version) REFERENCES profiles (id, version) -- encoded with a real profile version
) STRICT;

CREATE TABLE certificates (
    id        TEXT PRIMARY KEY,                         -- a certificate is stored once
    device_id TEXT NOT NULL REFERENCES devices (id),    -- a certificate lives on a known card
    serial    TEXT NOT NULL UNIQUE,                     -- the CA never reuses a serial
    body      TEXT NOT NULL CHECK (json_valid(body))    -- the domain::Certificate
) STRICT;
CREATE INDEX certificates_by_device ON certificates (device_id);

CREATE TABLE requests (
    id         TEXT PRIMARY KEY,                        -- a request is stored once
    device_id  TEXT REFERENCES devices (id),            -- it concerns a known card, or none yet
    person_id  TEXT REFERENCES people (id),             -- it is for a known person, or none
    profile_id TEXT NOT NULL,                           -- the profile it uses (any version)
    state      TEXT NOT NULL,                           -- copy of body.state, for lookups
    body       TEXT NOT NULL CHECK (json_valid(body))   -- the domain::Request
) STRICT;
CREATE INDEX requests_by_device ON requests (device_id);

-- Exactly-once (SPEC §6): the first answer to each client operation id.
CREATE TABLE applied_ops (
    op_id       TEXT PRIMARY KEY,                        -- an operation is applied at most once
    operator_id TEXT NOT NULL REFERENCES operators (id), -- who sent it (a replay by someone else is refused)
    applied_at  INTEGER NOT NULL,                        -- unix seconds
    answer      TEXT NOT NULL CHECK (json_valid(answer)) -- the proto::Answer replayed to retries
) STRICT;

-- The change feed: every record written, in commit order.
CREATE TABLE changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,        -- strictly increasing, never reused: cursors stay valid
    at          TEXT NOT NULL,                            -- RFC 3339 commit time
    record_type TEXT NOT NULL CHECK (record_type IN ('person', 'profile', 'device', 'certificate', 'request')),
    record_id   TEXT NOT NULL,
    body        TEXT NOT NULL CHECK (json_valid(body))    -- the proto::Record
) STRICT;

-- The audit trail (UC-AUDIT), hash-chained by domain::AuditEvent::append.
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY CHECK (seq >= 0),       -- position in the chain; no gaps by construction
    hash      TEXT NOT NULL UNIQUE CHECK (length(hash) = 64), -- each event's SHA-256 is distinct
    prev_hash TEXT NOT NULL CHECK (length(prev_hash) = 64),
    body      TEXT NOT NULL CHECK (json_valid(body))      -- the domain::AuditEvent
) STRICT;
-- Append-only: an audit event is never changed or removed through SQL.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;

-- Escrowed card secrets (SPEC §2 steps 2, 5): ciphertext only.
CREATE TABLE escrow (
    device_id TEXT NOT NULL REFERENCES devices (id),          -- secrets of known cards only
    kind      TEXT NOT NULL CHECK (kind IN ('management_key', 'puk')),
    sealed    BLOB NOT NULL CHECK (length(sealed) > 0),       -- the sealed secret, never plaintext
    stored_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, kind)                             -- one current secret of each kind per card
) STRICT;
