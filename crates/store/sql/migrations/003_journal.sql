-- Migration 2 → 3: the encoding journal (SPEC §2 tear safety). Runs inside
-- the migration transaction; nothing existing changes.

-- One card job (an issuance, later updates and unblocks): what it is for
-- and where it stands. Never a secret: management keys and PUKs are escrowed
-- at the registry before the first card write, PINs are shown once.
CREATE TABLE jobs (
    -- Client-made UUID.
    id           TEXT PRIMARY KEY NOT NULL,
    -- What the job does to the card.
    kind         TEXT NOT NULL CHECK (kind IN ('issue', 'update', 'unblock', 'erase')),
    -- The device record (its id is the CHUID GUID written).
    device       TEXT NOT NULL,
    -- The request carried out, if any.
    request      TEXT,
    -- open: created, nothing written; escrowed: secrets accepted by the registry;
    -- writing: card writes under way; completed / rolled_back: closed.
    state        TEXT NOT NULL CHECK (state IN ('open', 'escrowed', 'writing', 'completed', 'rolled_back')),
    -- The card as found before the first write (reader, serial, ATR, GUID), JSON.
    card         TEXT NOT NULL CHECK (json_valid(card)),
    -- Job parameters and results without secrets (plan, route, certificates
    -- issued by the registry for this job), JSON.
    detail       TEXT NOT NULL CHECK (json_valid(detail)),
    -- Why it was rolled back or last failed.
    last_error   TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT;
-- Recovery looks for open jobs, and for the jobs of an inserted card.
CREATE INDEX jobs_open ON jobs (state) WHERE state NOT IN ('completed', 'rolled_back');
CREATE INDEX jobs_device ON jobs (device);

-- Each card write of a job, journaled before it is sent ('before') and
-- after the card answered ('after'); a 'before' without its 'after' is the
-- step a tear interrupted.
CREATE TABLE job_steps (
    job          TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- Order within the job, from 0.
    seq          INTEGER NOT NULL CHECK (seq >= 0),
    phase        TEXT NOT NULL CHECK (phase IN ('before', 'after')),
    -- The step as `piv::Step` serializes it (no secrets), JSON.
    step         TEXT NOT NULL CHECK (json_valid(step)),
    at           TEXT NOT NULL,
    PRIMARY KEY (job, seq)
) STRICT;
