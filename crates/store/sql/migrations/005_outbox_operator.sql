-- Migration 4 → 5: each queued operation keeps the operator who made it,
-- so it is pushed only under that operator's own session (never under
-- whoever happens to sync next). Entries written before keep NULL.
ALTER TABLE outbox ADD COLUMN operator TEXT CHECK (operator IS NULL OR length(operator) = 36);
