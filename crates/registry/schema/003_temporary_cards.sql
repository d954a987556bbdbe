-- Cardstation registry, schema version 3 (SQLite): temporary cards (UC-TEMP, seed 001).

CREATE TABLE temporary_cards (
    id              TEXT PRIMARY KEY,                      -- a temporary card is stored once (id = its CHUID GUID)
    serial          TEXT,                                  -- printed serial, once known
    holder          TEXT REFERENCES people (id),           -- lent to a known person, or to nobody
    permanent_card  TEXT REFERENCES devices (id),          -- the holder's card it stands in for, if any
    profile_id      TEXT NOT NULL,
    profile_version INTEGER NOT NULL,
    state           TEXT NOT NULL,                         -- copy of body.state, for lookups
    body            TEXT NOT NULL CHECK (json_valid(body)), -- the domain::TemporaryCard
    FOREIGN KEY (profile_id, profile_version) REFERENCES profiles (id, version) -- initialized with a real profile version
) STRICT;
CREATE INDEX temporary_cards_by_state ON temporary_cards (state);

-- The feed carries temporary cards: the record_type check is widened
-- (SQLite cannot alter a CHECK, so the table is rebuilt, keeping every seq).
CREATE TABLE changes_v3 (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,        -- strictly increasing, never reused: cursors stay valid
    at          TEXT NOT NULL,                            -- RFC 3339 commit time
    record_type TEXT NOT NULL CHECK (record_type IN ('person', 'profile', 'device', 'certificate', 'request',
                                                     'temporary_card')),
    record_id   TEXT NOT NULL,
    body        TEXT NOT NULL CHECK (json_valid(body))    -- the proto::Record
) STRICT;
INSERT INTO changes_v3 (seq, at, record_type, record_id, body)
    SELECT seq, at, record_type, record_id, body FROM changes ORDER BY seq;
DROP TABLE changes;
ALTER TABLE changes_v3 RENAME TO changes;

-- Escrow holds the secrets of temporary cards too (their management key
-- and PUK, escrowed before initialization writes the card): the key names a
-- device or a temporary card, which the registry checks before storing.
CREATE TABLE escrow_v3 (
    device_id TEXT NOT NULL,                                  -- a device's or a temporary card's id
    kind      TEXT NOT NULL CHECK (kind IN ('management_key', 'puk')),
    sealed    BLOB NOT NULL CHECK (length(sealed) > 0),       -- the sealed secret, never plaintext
    stored_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, kind)                             -- one current secret of each kind per card
) STRICT;
INSERT INTO escrow_v3 (device_id, kind, sealed, stored_at)
    SELECT device_id, kind, sealed, stored_at FROM escrow ORDER BY rowid;
DROP TABLE escrow;
ALTER TABLE escrow_v3 RENAME TO escrow;
