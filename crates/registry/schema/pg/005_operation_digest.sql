-- The content of each applied operation, as a SHA-256 digest: an op_id sent
-- again with other content is refused instead of answered with the first
-- operation's answer (as idempotency keys are). NULL for operations applied
-- before this migration (their replays are answered as before).
ALTER TABLE applied_ops ADD COLUMN digest BYTEA;
