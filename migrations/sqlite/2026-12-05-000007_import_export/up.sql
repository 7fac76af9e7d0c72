-- Imports: one batch per run, with what it created and what it changed
-- (before-images) so it can be undone; merges of duplicate records.

CREATE TABLE import_batches (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    entity       TEXT NOT NULL,
    file_name    TEXT NOT NULL DEFAULT '',
    -- pending, running, done, failed, cancelled, rolled_back, undone
    status       TEXT NOT NULL DEFAULT 'pending',
    options      TEXT NOT NULL DEFAULT '{}',
    user_id      BIGINT NULL REFERENCES users (id) ON DELETE SET NULL,
    rows_total   BIGINT NOT NULL DEFAULT 0,
    rows_done    BIGINT NOT NULL DEFAULT 0,
    created      BIGINT NOT NULL DEFAULT 0,
    updated      BIGINT NOT NULL DEFAULT 0,
    skipped      BIGINT NOT NULL DEFAULT 0,
    rejected     BIGINT NOT NULL DEFAULT 0,
    source_path  TEXT NOT NULL DEFAULT '',
    error_file   TEXT NOT NULL DEFAULT '',
    message      TEXT NOT NULL DEFAULT '',
    -- Bulk loads: the index definitions dropped for the load, so a crashed
    -- run can put them back.
    state        TEXT NOT NULL DEFAULT '{}',
    heartbeat_at TIMESTAMP NULL,
    created_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP NULL,
    undone_at    TIMESTAMP NULL
);
CREATE INDEX import_batches_user ON import_batches (user_id, id);
CREATE INDEX import_batches_status ON import_batches (status, id);

CREATE TABLE import_items (
    id         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    batch_id   BIGINT NOT NULL REFERENCES import_batches (id) ON DELETE CASCADE,
    -- created: record_ids holds id ranges ("5-1004,1010"); updated: one
    -- record with its before-image and the version the import left.
    action     TEXT NOT NULL,
    record_ids TEXT NOT NULL DEFAULT '',
    record_id  BIGINT NULL,
    line       BIGINT NOT NULL DEFAULT 0,
    before     TEXT NOT NULL DEFAULT '{}',
    version    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX import_items_batch ON import_items (batch_id, id);

CREATE TABLE record_merges (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    entity      TEXT NOT NULL,
    survivor_id BIGINT NOT NULL,
    merged_ids  TEXT NOT NULL,
    -- The survivor's fields before, the merged records as they were, and
    -- every related row moved (table, column, ids).
    snapshot    TEXT NOT NULL,
    user_id     BIGINT NULL REFERENCES users (id) ON DELETE SET NULL,
    created_at  TIMESTAMP NOT NULL,
    undone_at   TIMESTAMP NULL
);
CREATE INDEX record_merges_survivor ON record_merges (entity, survivor_id);
