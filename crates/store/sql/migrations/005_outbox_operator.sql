-- Migration 4 → 5: each queued operation keeps the operator who made it,
-- so it is pushed only under that operator's own session (never under
-- whoever happens to sync next). Entries written before keep NULL.
ALTER TABLE outbox ADD COLUMN operator TEXT CHECK (operator IS NULL OR length(operator) = 36);
-- When a rejection was shown to that operator (CLI output, the app's
-- sign-in notice): a refusal reaches its operator once, at the latest at
-- their next sign-in.
ALTER TABLE outbox ADD COLUMN seen_at TEXT CHECK (seen_at IS NULL OR state = 'rejected');
