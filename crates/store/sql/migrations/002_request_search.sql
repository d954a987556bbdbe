-- Migration 1 → 2: requests become searchable, and the outbox counts push
-- attempts. Runs inside the migration transaction; data is kept.

-- Push attempts so far and the last transport error (not a rejection).
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0);
ALTER TABLE outbox ADD COLUMN last_error TEXT;

CREATE VIRTUAL TABLE requests_search USING fts5 (
    kind, reason, notes, guid,
    content = '', contentless_delete = 1, prefix = '2 3', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER requests_search_insert AFTER INSERT ON requests BEGIN
    INSERT INTO requests_search (rowid, kind, reason, notes, guid)
    VALUES (new.n, new.kind, json_extract(new.doc, '$.reason'), json_extract(new.doc, '$.notes'), new.key);
END;
CREATE TRIGGER requests_search_delete AFTER DELETE ON requests BEGIN
    DELETE FROM requests_search WHERE rowid = old.n;
END;
CREATE TRIGGER requests_search_update AFTER UPDATE OF kind, doc ON requests BEGIN
    DELETE FROM requests_search WHERE rowid = old.n;
    INSERT INTO requests_search (rowid, kind, reason, notes, guid)
    VALUES (new.n, new.kind, json_extract(new.doc, '$.reason'), json_extract(new.doc, '$.notes'), new.key);
END;

-- Index the requests that version 1 stored.
INSERT INTO requests_search (rowid, kind, reason, notes, guid)
SELECT n, kind, json_extract(doc, '$.reason'), json_extract(doc, '$.notes'), key FROM requests;
