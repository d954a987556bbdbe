-- Walk-up updates (UC-WALKUP, UC-UPDATE): a kiosk whose cardholder proved
-- their card and PIN (the card's PIV Authentication key signed a registry
-- challenge) may act as that cardholder on that card, for its approved
-- update request, until the grant expires. One grant per card: a new proof
-- replaces it.
CREATE TABLE walkup_grants (
    device_id      TEXT PRIMARY KEY REFERENCES devices (id),
    request_id     TEXT NOT NULL REFERENCES requests (id),
    person_id      TEXT NOT NULL,                 -- the cardholder the kiosk acts as
    operator_id    TEXT NOT NULL,                 -- the kiosk's account
    workstation_id TEXT,                          -- the kiosk's workstation
    expires_at     INTEGER NOT NULL               -- unix seconds
) STRICT;
