-- Offline PIN unblock (UC-PIN, piv::offline_unblock): each helpdesk answer
-- that moved the escrowed PUK to a new one keeps the PUK it replaced,
-- sealed, because a cardholder's completion torn before the card's PUK
-- change leaves the card with that one.
CREATE TABLE offline_unblocks (
    id           TEXT PRIMARY KEY,
    device_id    TEXT NOT NULL REFERENCES devices (id),
    operator_id  TEXT NOT NULL,
    previous_puk BLOB NOT NULL CHECK (length(previous_puk) > 0),  -- sealed, never plaintext
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX offline_unblocks_device ON offline_unblocks (device_id, created_at);
