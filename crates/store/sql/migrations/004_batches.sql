-- Migration 3 → 4: batch orders (UC-BATCH, seed 003). Runs inside the
-- migration transaction; nothing existing changes.

-- One batch order: approved requests encoded together with shared options,
-- on every connected reader. Kept so a batch resumes after a restart.
CREATE TABLE batches (
    -- Client-made UUID.
    id           TEXT PRIMARY KEY NOT NULL,
    -- The options (PIN/PUK length, certificates, end states), JSON, secret-free.
    options      TEXT NOT NULL CHECK (json_valid(options)),
    -- The operator who created it.
    created_by   TEXT NOT NULL,
    -- Set by `batch cancel` (from any process): no card is started after it.
    cancelled    INTEGER NOT NULL DEFAULT 0 CHECK (cancelled IN (0, 1)),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT;

-- One card of a batch: its request, where it stands, the reader and the
-- issue job (journal) that encodes it.
CREATE TABLE batch_items (
    batch        TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    -- Order within the batch, from 0.
    seq          INTEGER NOT NULL CHECK (seq >= 0),
    request      TEXT NOT NULL,
    device       TEXT NOT NULL,
    -- pending: not started; encoding: a worker took it; done; failed (after
    -- its retry); cancelled: its request can no longer be issued.
    state        TEXT NOT NULL CHECK (state IN ('pending', 'encoding', 'done', 'failed', 'cancelled')),
    reader       TEXT,
    job          TEXT,
    -- Attempts started (a failed card is retried once).
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error   TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (batch, seq)
) STRICT;
CREATE INDEX batch_items_device ON batch_items (device);
