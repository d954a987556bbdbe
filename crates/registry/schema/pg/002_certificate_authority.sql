-- Cardstation registry, schema version 2 (PostgreSQL): the certificate
-- authority; the same tables as schema/002_certificate_authority.sql.

-- Challenges handed out for proofs of possession (SPEC §2 step 3).
CREATE TABLE challenges (
    challenge   BYTEA PRIMARY KEY CHECK (length(challenge) >= 16), -- the random bytes a card signs; each usable once
    operator_id UUID NOT NULL REFERENCES operators (id),            -- only the operator it was handed to may use it
    created_at  BIGINT NOT NULL,                                    -- unix seconds
    expires_at  BIGINT NOT NULL CHECK (expires_at > created_at)     -- a challenge always ends
);

-- Certificates the registry's CA issued: the DER (a retried issuance gets
-- the same certificate) and since when each is in its state (the CRL's
-- revocation date).
CREATE TABLE ca_certificates (
    certificate_id UUID PRIMARY KEY REFERENCES certificates (id), -- one issuance per certificate record
    op_id          UUID NOT NULL UNIQUE,                           -- exactly once: each client id issues once
    operator_id    UUID NOT NULL REFERENCES operators (id),        -- who asked (a replay by someone else is refused)
    der            BYTEA NOT NULL CHECK (length(der) > 0),         -- the certificate as signed
    issued_at      BIGINT NOT NULL,                                -- unix seconds
    state          TEXT NOT NULL CHECK (state IN ('on_hold', 'valid', 'revoked')), -- copy of the record's state
    state_since    BIGINT NOT NULL                                 -- unix seconds: when it entered that state
);
CREATE INDEX ca_certificates_by_state ON ca_certificates (state);
