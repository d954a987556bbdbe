-- Provisioning tasks, enrollment codes and the mail outbox (see the SQLite
-- migration of the same number).
CREATE TABLE provisioning_tasks (
    id       UUID PRIMARY KEY,
    number   BIGINT NOT NULL UNIQUE CHECK (number > 0),
    operator UUID NOT NULL,
    removed  BOOLEAN NOT NULL,
    body     JSON NOT NULL
);

CREATE TABLE enrollment_codes (
    enrollment_id UUID PRIMARY KEY,
    task_id       UUID NOT NULL REFERENCES provisioning_tasks (id),
    tag           TEXT NOT NULL UNIQUE,
    verifier      TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE mail_outbox (
    id              UUID PRIMARY KEY,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            BYTEA NOT NULL CHECK (length(body) > 0),
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    next_attempt_at BIGINT NOT NULL
);
CREATE INDEX mail_outbox_pending ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
