-- Cardstation workstation store: the CURRENT schema (version 4), used to
-- create a fresh database. Older databases reach the same shape through
-- migrations/ (checked by tests/upgrade.rs against frozen/). Keep column
-- order equal to what the migrations produce: ALTER TABLE ADD COLUMN appends.
--
-- Conventions
-- * Every replicated record table has `n` (INTEGER PRIMARY KEY: a stable row
--   id the search index refers to; VACUUM may renumber an implicit rowid but
--   never an INTEGER PRIMARY KEY), `key` (the record's identity as text) and
--   `doc` (the whole record as the `domain` crate serializes it). The other
--   columns are copies of fields of `doc`, kept for indexes and search and
--   always rewritten together with it.
-- * References between replicated records (a device's owner, a request's
--   device…) are NOT foreign keys: the replica is filled from a paged change
--   feed that may deliver a device before the person it belongs to, and the
--   registry, not this file, is the authority on referential integrity. The
--   store's own bookkeeping (undo log → outbox) does use foreign keys, which
--   the connection turns on.
-- * No column holds a secret: PINs, PUKs and management keys never reach this
--   database (SPEC §7); the escrow lives at the registry.
-- * STRICT tables: SQLite refuses a value of the wrong type instead of
--   storing it.

CREATE TABLE people (
    n           INTEGER PRIMARY KEY,
    -- The person's UUID, hyphenated; one row per person.
    key         TEXT NOT NULL UNIQUE CHECK (length(key) = 36),
    given_name  TEXT NOT NULL,
    family_name TEXT NOT NULL,
    email       TEXT,
    employee_id TEXT,
    -- Only the states domain::PersonStatus knows.
    status      TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    -- The record; must be JSON so a bad write cannot hide until it is read.
    doc         TEXT NOT NULL CHECK (json_valid(doc))
) STRICT;
CREATE INDEX people_employee_id ON people (employee_id);

CREATE TABLE operators (
    n        INTEGER PRIMARY KEY,
    -- The operator account's UUID.
    key      TEXT NOT NULL UNIQUE CHECK (length(key) = 36),
    -- The person's UUID (not a foreign key: see the conventions above).
    person   TEXT NOT NULL CHECK (length(person) = 36),
    -- Sign-in names identify one account.
    username TEXT NOT NULL UNIQUE,
    -- A boolean.
    enabled  INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    doc      TEXT NOT NULL CHECK (json_valid(doc))
) STRICT;

CREATE TABLE profiles (
    n          INTEGER PRIMARY KEY,
    -- "<profile uuid>/<version>": each version is its own immutable record.
    key        TEXT NOT NULL UNIQUE CHECK (key = profile_id || '/' || version),
    profile_id TEXT NOT NULL CHECK (length(profile_id) = 36),
    -- Versions start at 1 (domain::CredentialProfile::create).
    version    INTEGER NOT NULL CHECK (version >= 1),
    name       TEXT NOT NULL,
    doc        TEXT NOT NULL CHECK (json_valid(doc)),
    -- One row per version of a profile.
    UNIQUE (profile_id, version)
) STRICT;

CREATE TABLE devices (
    n               INTEGER PRIMARY KEY,
    -- The device UUID, which is also the card's CHUID GUID.
    key             TEXT NOT NULL UNIQUE CHECK (length(key) = 36),
    serial          TEXT,
    -- The cardholder's UUID, or NULL for stock cards.
    owner           TEXT CHECK (owner IS NULL OR length(owner) = 36),
    profile_id      TEXT NOT NULL CHECK (length(profile_id) = 36),
    -- Version the card was (or will be) encoded with.
    profile_version INTEGER NOT NULL CHECK (profile_version >= 1),
    -- Only the states of domain::CardState (SPEC §4 Card).
    state           TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'rejected', 'aborted',
                        'production_failed', 'issued', 'active', 'inactive', 'temporarily_inactive',
                        'locked', 'expired', 'erased')),
    doc             TEXT NOT NULL CHECK (json_valid(doc))
) STRICT;
CREATE INDEX devices_owner ON devices (owner);

CREATE TABLE certificates (
    n      INTEGER PRIMARY KEY,
    key    TEXT NOT NULL UNIQUE CHECK (length(key) = 36),
    -- The card holding the key.
    device TEXT NOT NULL CHECK (length(device) = 36),
    serial TEXT NOT NULL,
    -- SPEC §4 Certificate states.
    state  TEXT NOT NULL CHECK (state IN ('on_hold', 'valid', 'revoked')),
    doc    TEXT NOT NULL CHECK (json_valid(doc))
) STRICT;
CREATE INDEX certificates_device ON certificates (device);

CREATE TABLE requests (
    n          INTEGER PRIMARY KEY,
    key        TEXT NOT NULL UNIQUE CHECK (length(key) = 36),
    -- domain::RequestKind.
    kind       TEXT NOT NULL CHECK (kind IN ('issue', 'update', 'reprovision', 'temporary', 'unblock', 'cancel')),
    -- SPEC §4 Request states.
    state      TEXT NOT NULL CHECK (state IN ('pending_approval', 'approved', 'rejected', 'cancelled',
                   'completed', 'failed')),
    device     TEXT CHECK (device IS NULL OR length(device) = 36),
    person     TEXT CHECK (person IS NULL OR length(person) = 36),
    profile_id TEXT NOT NULL CHECK (length(profile_id) = 36),
    requester  TEXT NOT NULL CHECK (length(requester) = 36),
    -- RFC 3339 UTC timestamps.
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc        TEXT NOT NULL CHECK (json_valid(doc))
) STRICT;
CREATE INDEX requests_device ON requests (device);
CREATE INDEX requests_person ON requests (person);

CREATE TABLE temporary_cards (
    n      INTEGER PRIMARY KEY,
    key    TEXT NOT NULL UNIQUE CHECK (length(key) = 36),
    serial TEXT,
    -- SPEC §4 Temporary card states.
    state  TEXT NOT NULL CHECK (state IN ('ordered', 'produced', 'unassigned', 'assigned', 'expired', 'locked')),
    holder TEXT CHECK (holder IS NULL OR length(holder) = 36),
    doc    TEXT NOT NULL CHECK (json_valid(doc))
) STRICT;

CREATE TABLE batch_orders (
    n          INTEGER PRIMARY KEY,
    key        TEXT NOT NULL UNIQUE CHECK (length(key) = 36),
    created_by TEXT NOT NULL CHECK (length(created_by) = 36),
    created_at TEXT NOT NULL,
    -- A boolean.
    cancelled  INTEGER NOT NULL CHECK (cancelled IN (0, 1)),
    doc        TEXT NOT NULL CHECK (json_valid(doc))
) STRICT;

CREATE TABLE provisioning_tasks (
    n        INTEGER PRIMARY KEY,
    key      TEXT NOT NULL UNIQUE CHECK (length(key) = 36),
    -- Task numbers are positive (the list shows them).
    number   INTEGER NOT NULL CHECK (number >= 0),
    operator TEXT NOT NULL CHECK (length(operator) = 36),
    -- A boolean.
    removed  INTEGER NOT NULL CHECK (removed IN (0, 1)),
    doc      TEXT NOT NULL CHECK (json_valid(doc))
) STRICT;

-- Excerpts of the registry's hash-chained audit log, for display offline.
CREATE TABLE audit_excerpts (
    n      INTEGER PRIMARY KEY,
    key    TEXT NOT NULL UNIQUE CHECK (length(key) = 36),
    -- Position in the registry's chain; one event per position.
    seq    INTEGER NOT NULL UNIQUE CHECK (seq >= 0),
    at     TEXT NOT NULL,
    action TEXT NOT NULL,
    doc    TEXT NOT NULL CHECK (json_valid(doc))
) STRICT;

-- Full-text search (FTS5, contentless: the text lives in the tables above,
-- the index only maps tokens to their `n`). contentless_delete lets the
-- triggers remove a row by id. Prefix indexes make "smi*" cheap.
CREATE VIRTUAL TABLE people_search USING fts5 (
    given_name, family_name, email, employee_id,
    content = '', contentless_delete = 1, prefix = '2 3', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER people_search_insert AFTER INSERT ON people BEGIN
    INSERT INTO people_search (rowid, given_name, family_name, email, employee_id)
    VALUES (new.n, new.given_name, new.family_name, new.email, new.employee_id);
END;
CREATE TRIGGER people_search_delete AFTER DELETE ON people BEGIN
    DELETE FROM people_search WHERE rowid = old.n;
END;
CREATE TRIGGER people_search_update AFTER UPDATE OF given_name, family_name, email, employee_id ON people BEGIN
    DELETE FROM people_search WHERE rowid = old.n;
    INSERT INTO people_search (rowid, given_name, family_name, email, employee_id)
    VALUES (new.n, new.given_name, new.family_name, new.email, new.employee_id);
END;

-- Devices are found by serial or GUID, with or without the hyphens.
CREATE VIRTUAL TABLE devices_search USING fts5 (
    serial, guid, guid_hex,
    content = '', contentless_delete = 1, prefix = '2 3', tokenize = 'unicode61'
);
CREATE TRIGGER devices_search_insert AFTER INSERT ON devices BEGIN
    INSERT INTO devices_search (rowid, serial, guid, guid_hex)
    VALUES (new.n, new.serial, new.key, replace(new.key, '-', ''));
END;
CREATE TRIGGER devices_search_delete AFTER DELETE ON devices BEGIN
    DELETE FROM devices_search WHERE rowid = old.n;
END;
CREATE TRIGGER devices_search_update AFTER UPDATE OF serial ON devices BEGIN
    DELETE FROM devices_search WHERE rowid = old.n;
    INSERT INTO devices_search (rowid, serial, guid, guid_hex)
    VALUES (new.n, new.serial, new.key, replace(new.key, '-', ''));
END;

-- The outbox: one row per local action, pushed in `seq` order (SPEC §6).
CREATE TABLE outbox (
    -- Push order; AUTOINCREMENT so a number is never reused after deletion.
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The client-made UUIDv7 the registry deduplicates on: exactly one
    -- outbox entry per operation.
    op_id       TEXT NOT NULL UNIQUE CHECK (length(op_id) = 36),
    -- The operation's kind; never empty.
    kind        TEXT NOT NULL CHECK (kind <> ''),
    -- The operation's parameters (JSON).
    payload     TEXT NOT NULL CHECK (json_valid(payload)),
    created_at  TEXT NOT NULL,
    -- Sync state of the operation (SPEC §6).
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted', 'rejected')),
    -- A rejection always says why, and only a rejection has a reason.
    reason_code TEXT CHECK ((state = 'rejected') = (reason_code IS NOT NULL)),
    reason      TEXT CHECK ((state = 'rejected') = (reason IS NOT NULL)),
    -- What the registry answered on acceptance (JSON), if anything.
    result      TEXT CHECK (result IS NULL OR json_valid(result)),
    -- When the answer arrived; every answered operation has one.
    answered_at TEXT CHECK ((state = 'pending') = (answered_at IS NULL)),
    -- v2: push attempts so far, and the last transport error (not a rejection).
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error  TEXT,
    -- v5: the operator who acted; the operation is pushed only in their
    -- session. NULL: queued before v5, pushed by whoever syncs.
    operator    TEXT CHECK (operator IS NULL OR length(operator) = 36),
    -- v5: when a rejection was shown to its operator (once, at the latest
    -- at their next sign-in).
    seen_at     TEXT CHECK (seen_at IS NULL OR state = 'rejected')
) STRICT;
CREATE INDEX outbox_pending ON outbox (state, seq);

-- Before-images: what each record looked like before an operation first
-- touched it, so a rejected operation's local effect can be rolled back.
CREATE TABLE outbox_undo (
    -- The operation; the log goes with it.
    op_seq      INTEGER NOT NULL REFERENCES outbox (seq) ON DELETE CASCADE,
    -- Order of first touches inside the operation (rollback runs in reverse).
    step        INTEGER NOT NULL CHECK (step >= 0),
    -- Which table: one of the record kinds above.
    record_kind TEXT NOT NULL CHECK (record_kind IN ('person', 'operator', 'profile', 'device',
                    'certificate', 'request', 'temporary_card', 'batch_order', 'provisioning_task',
                    'audit_event')),
    record_key  TEXT NOT NULL,
    -- The record before the operation; NULL: it did not exist (undo deletes it).
    before_doc  TEXT CHECK (before_doc IS NULL OR json_valid(before_doc)),
    PRIMARY KEY (op_seq, step),
    -- Only the first touch of a record by an operation is kept.
    UNIQUE (op_seq, record_kind, record_key)
) STRICT;
CREATE INDEX outbox_undo_record ON outbox_undo (record_kind, record_key);

-- Where the change feed was left, and when the last sync finished.
CREATE TABLE sync_state (
    -- A single row.
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    -- The registry's opaque cursor; NULL: nothing pulled yet.
    feed_cursor  TEXT,
    last_sync_at TEXT,
    last_error   TEXT
) STRICT;
INSERT INTO sync_state (id) VALUES (1);

-- v2: requests become searchable by kind, reason, notes and the key.
CREATE VIRTUAL TABLE requests_search USING fts5 (
    kind, reason, notes, guid,
    content = '', contentless_delete = 1, prefix = '2 3', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER requests_search_insert AFTER INSERT ON requests BEGIN
    INSERT INTO requests_search (rowid, kind, reason, notes, guid)
    VALUES (new.n, new.kind, json_extract(new.doc, '$.reason'), json_extract(new.doc, '$.notes'), new.key);
END;
CREATE TRIGGER requests_search_delete AFTER DELETE ON requests BEGIN
    DELETE FROM requests_search WHERE rowid = old.n;
END;
CREATE TRIGGER requests_search_update AFTER UPDATE OF kind, doc ON requests BEGIN
    DELETE FROM requests_search WHERE rowid = old.n;
    INSERT INTO requests_search (rowid, kind, reason, notes, guid)
    VALUES (new.n, new.kind, json_extract(new.doc, '$.reason'), json_extract(new.doc, '$.notes'), new.key);
END;
-- v3: the encoding journal (SPEC §2 tear safety).
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

-- One batch order (UC-BATCH): approved requests encoded together with shared
-- options, on every connected reader. Kept so a batch resumes after a restart.
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
