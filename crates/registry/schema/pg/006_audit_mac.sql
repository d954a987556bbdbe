-- The keyed MAC of each audit event (issue 16): HMAC-SHA256 of its sequence
-- number and chain hash under the registry's audit key, which is kept in the
-- data directory and never here. NULL for events written before the registry
-- had an audit key (the key file records from which event MACs are required).
ALTER TABLE audit ADD COLUMN mac BYTEA CHECK (mac IS NULL OR length(mac) = 32);
