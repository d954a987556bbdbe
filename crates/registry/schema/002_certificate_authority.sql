-- Cardstation registry, schema version 2 (SQLite): the certificate authority.

-- Challenges handed out for proofs of possession (SPEC §2 step 3).
CREATE TABLE challenges (
    challenge   BLOB PRIMARY KEY CHECK (length(challenge) >= 16), -- the random bytes a card signs; each usable once
    operator_id TEXT NOT NULL REFERENCES operators (id),           -- only the operator it was handed to may use it
    created_at  INTEGER NOT NULL,                                  -- unix seconds
    expires_at  INTEGER NOT NULL CHECK (expires_at > created_at)   -- a challenge always ends
) STRICT;

-- Certificates the registry's CA issued: the DER (a retried issuance gets
-- the same certificate) and since when each is in its state (the CRL's
-- revocation date).
CREATE TABLE ca_certificates (
    certificate_id TEXT PRIMARY KEY REFERENCES certificates (id), -- one issuance per certificate record
    op_id          TEXT NOT NULL UNIQUE,                           -- exactly once: each client id issues once
    operator_id    TEXT NOT NULL REFERENCES operators (id),        -- who asked (a replay by someone else is refused)
    der            BLOB NOT NULL CHECK (length(der) > 0),          -- the certificate as signed
    issued_at      INTEGER NOT NULL,                               -- unix seconds
    state          TEXT NOT NULL CHECK (state IN ('on_hold', 'valid', 'revoked')), -- copy of the record's state
    state_since    INTEGER NOT NULL                                -- unix seconds: when it entered that state
) STRICT;
CREATE INDEX ca_certificates_by_state ON ca_certificates (state);
