-- Every escrowed version of a card's secrets is kept (issue 16): a store
-- appends a version, never replaces one, so a stray store cannot lose the
-- key a card was written with. `written` marks the versions a recorded
-- issuance or update put on the card: the newest written one is current.
-- `stored_by` and `workstation` name the job that generated the secret; only
-- that job gets an unwritten version back. Rows from before this migration
-- become version 1, written (they are what the cards hold).
CREATE TABLE escrow_v7 (
    device_id   TEXT NOT NULL,                                -- a device's or a temporary card's id
    kind        TEXT NOT NULL CHECK (kind IN ('management_key', 'puk')),
    version     INTEGER NOT NULL CHECK (version > 0),
    sealed      BLOB NOT NULL CHECK (length(sealed) > 0),     -- the sealed secret, never plaintext
    stored_at   INTEGER NOT NULL,
    stored_by   TEXT,                                         -- operator id; NULL before this migration
    workstation TEXT,                                         -- the storing session's workstation
    written     INTEGER NOT NULL DEFAULT 0 CHECK (written IN (0, 1)),
    PRIMARY KEY (device_id, kind, version)
) STRICT;
INSERT INTO escrow_v7 (device_id, kind, version, sealed, stored_at, written)
    SELECT device_id, kind, 1, sealed, stored_at, 1 FROM escrow ORDER BY rowid;
DROP TABLE escrow;
ALTER TABLE escrow_v7 RENAME TO escrow;
