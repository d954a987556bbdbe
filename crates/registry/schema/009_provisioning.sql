-- Cardstation registry, schema version 9 (SQLite): provisioning tasks
-- (UC-PROV, seed 004), their enrollment codes, and the mail outbox.

CREATE TABLE provisioning_tasks (
    id       TEXT PRIMARY KEY,
    number   INTEGER NOT NULL UNIQUE CHECK (number > 0),   -- 1, 2, 3… per deployment, given by the registry
    operator TEXT NOT NULL,                                 -- who created it
    removed  INTEGER NOT NULL CHECK (removed IN (0, 1)),
    body     TEXT NOT NULL CHECK (json_valid(body))         -- the domain::ProvisioningTask (no code in it)
) STRICT;

-- One live code per enrollment: the public tag finds it, the Argon2id
-- verifier checks the secret part. Deleted when used, removed, locked or
-- replaced by a resend, so a code works once.
CREATE TABLE enrollment_codes (
    enrollment_id TEXT PRIMARY KEY,
    task_id       TEXT NOT NULL REFERENCES provisioning_tasks (id),
    tag           TEXT NOT NULL UNIQUE,                     -- the code's first group, not secret
    verifier      TEXT NOT NULL,                            -- Argon2id PHC string of the secret part
    created_at    INTEGER NOT NULL
) STRICT;

-- Messages to send, written in the transaction that decided them; a
-- sender delivers them and marks each sent or failed. The body may hold an
-- enrollment code: it is sealed under the key-encryption key.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            BLOB NOT NULL CHECK (length(body) > 0),  -- sealed, never plaintext
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL
) STRICT;
CREATE INDEX mail_outbox_pending ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
