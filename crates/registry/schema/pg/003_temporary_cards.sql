-- Cardstation registry, schema version 3 (PostgreSQL): temporary cards
-- (UC-TEMP, seed 001). The same as schema/003_temporary_cards.sql (SQLite).

CREATE TABLE temporary_cards (
    id              UUID PRIMARY KEY,                      -- a temporary card is stored once (id = its CHUID GUID)
    serial          TEXT,                                  -- printed serial, once known
    holder          UUID REFERENCES people (id),           -- lent to a known person, or to nobody
    permanent_card  UUID REFERENCES devices (id),          -- the holder's card it stands in for, if any
    profile_id      UUID NOT NULL,
    profile_version BIGINT NOT NULL,
    state           TEXT NOT NULL,                         -- copy of body.state, for lookups
    body            JSON NOT NULL,                         -- the domain::TemporaryCard
    FOREIGN KEY (profile_id, profile_version) REFERENCES profiles (id, version) -- initialized with a real profile version
);
CREATE INDEX temporary_cards_by_state ON temporary_cards (state);

-- The feed carries temporary cards.
ALTER TABLE changes DROP CONSTRAINT changes_record_type_check;
ALTER TABLE changes ADD CONSTRAINT changes_record_type_check
    CHECK (record_type IN ('person', 'profile', 'device', 'certificate', 'request', 'temporary_card'));

-- Escrow holds the secrets of temporary cards too: the key names a device
-- or a temporary card, which the registry checks before storing.
ALTER TABLE escrow DROP CONSTRAINT escrow_device_id_fkey;
