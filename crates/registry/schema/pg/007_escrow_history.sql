-- Every escrowed version of a card's secrets is kept (see the SQLite
-- migration of the same number for the why).
ALTER TABLE escrow ADD COLUMN version INTEGER NOT NULL DEFAULT 1 CHECK (version > 0);
ALTER TABLE escrow ADD COLUMN stored_by UUID;
ALTER TABLE escrow ADD COLUMN workstation UUID;
ALTER TABLE escrow ADD COLUMN written BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE escrow SET written = TRUE;
ALTER TABLE escrow DROP CONSTRAINT escrow_pkey;
ALTER TABLE escrow ADD PRIMARY KEY (device_id, kind, version);
ALTER TABLE escrow ALTER COLUMN version DROP DEFAULT;
