-- Walk-up updates (see the SQLite migration of the same number).
CREATE TABLE walkup_grants (
    device_id      UUID PRIMARY KEY REFERENCES devices (id),
    request_id     UUID NOT NULL REFERENCES requests (id),
    person_id      UUID NOT NULL,
    operator_id    UUID NOT NULL,
    workstation_id UUID,
    expires_at     BIGINT NOT NULL
);
