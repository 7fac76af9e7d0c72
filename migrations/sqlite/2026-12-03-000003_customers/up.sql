-- Customers, custom field definitions and saved list views.

CREATE TABLE customers (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name              TEXT NOT NULL,
    short_name        TEXT NOT NULL DEFAULT '',
    kind              TEXT NOT NULL DEFAULT 'company',
    industry          TEXT NOT NULL DEFAULT '',
    level             TEXT NOT NULL DEFAULT '',
    source            TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT '',
    phone             TEXT NOT NULL DEFAULT '',
    mobile            TEXT NOT NULL DEFAULT '',
    email             TEXT NOT NULL DEFAULT '',
    website           TEXT NOT NULL DEFAULT '',
    province          TEXT NOT NULL DEFAULT '',
    city              TEXT NOT NULL DEFAULT '',
    district          TEXT NOT NULL DEFAULT '',
    address           TEXT NOT NULL DEFAULT '',
    tags              TEXT NOT NULL DEFAULT '[]',
    notes             TEXT NOT NULL DEFAULT '',
    owner_id          BIGINT NULL REFERENCES users (id),
    locked            BOOLEAN NOT NULL DEFAULT FALSE,
    deal_status       TEXT NOT NULL DEFAULT 'none',
    last_follow_up_at TIMESTAMP NULL,
    next_follow_up_at TIMESTAMP NULL,
    custom            TEXT NOT NULL DEFAULT '{}',
    dedupe_name       TEXT NOT NULL DEFAULT '',
    dedupe_phone      TEXT NOT NULL DEFAULT '',
    search_text       TEXT NOT NULL DEFAULT '',
    search_cjk        TEXT NOT NULL DEFAULT '',
    created_by        BIGINT NULL,
    updated_by        BIGINT NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    version           INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX customers_owner_updated ON customers (owner_id, updated_at, id);
CREATE INDEX customers_owner_id ON customers (owner_id, id);
-- A salesperson's own list sorted by name or by the next follow-up.
CREATE INDEX customers_owner_name ON customers (owner_id, name, id);
CREATE INDEX customers_owner_next_follow_up ON customers (owner_id, next_follow_up_at, id);
CREATE INDEX customers_updated ON customers (updated_at, id);
CREATE INDEX customers_created ON customers (created_at, id);
CREATE INDEX customers_name ON customers (name, id);
-- Categorical filters: each with the default sort, so "level = A, newest
-- first" reads only the rows it returns.
CREATE INDEX customers_level ON customers (level, updated_at, id);
CREATE INDEX customers_status ON customers (status, updated_at, id);
CREATE INDEX customers_source ON customers (source, updated_at, id);
CREATE INDEX customers_industry ON customers (industry, updated_at, id);
CREATE INDEX customers_deal_status ON customers (deal_status, updated_at, id);
CREATE INDEX customers_province ON customers (province, updated_at, id);
CREATE INDEX customers_city ON customers (city, updated_at, id);
CREATE INDEX customers_last_follow_up ON customers (last_follow_up_at, id);
CREATE INDEX customers_next_follow_up ON customers (next_follow_up_at, id);
CREATE INDEX customers_dedupe_name ON customers (dedupe_name);
CREATE INDEX customers_dedupe_phone ON customers (dedupe_phone);
CREATE INDEX customers_email ON customers (email);

CREATE TABLE custom_fields (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    entity        TEXT NOT NULL,
    key           TEXT NOT NULL,
    label_zh      TEXT NOT NULL,
    label_en      TEXT NOT NULL,
    kind          TEXT NOT NULL,
    required      BOOLEAN NOT NULL DEFAULT FALSE,
    unique_value  BOOLEAN NOT NULL DEFAULT FALSE,
    default_value TEXT NOT NULL DEFAULT 'null',
    options       TEXT NOT NULL DEFAULT '[]',
    help          TEXT NOT NULL DEFAULT '',
    sort_order    INTEGER NOT NULL DEFAULT 0,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    UNIQUE (entity, key)
);

CREATE TABLE saved_views (
    id         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    entity     TEXT NOT NULL,
    name       TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    version    INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX saved_views_user_entity ON saved_views (user_id, entity);

-- Text search: trigram FTS5 for substrings of 3+ characters (Latin, digits,
-- longer Chinese), and one token per Chinese character (search_cjk holds the
-- characters spaced out) for one- and two-character queries such as 张伟.
CREATE VIRTUAL TABLE fts_customers_tri USING fts5(
    search_text, content = 'customers', content_rowid = 'id', tokenize = 'trigram'
);
CREATE VIRTUAL TABLE fts_customers_cjk USING fts5(
    search_cjk, content = 'customers', content_rowid = 'id', tokenize = 'unicode61'
);
-- Bulk loads (demo data, imports) set the setting `search.bulk_load`, skip
-- the per-row insert trigger and rebuild both indexes once at the end.
CREATE TRIGGER customers_search_ai AFTER INSERT ON customers
WHEN NOT EXISTS (SELECT 1 FROM settings WHERE key = 'search.bulk_load') BEGIN
    INSERT INTO fts_customers_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_customers_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;
CREATE TRIGGER customers_search_ad AFTER DELETE ON customers BEGIN
    INSERT INTO fts_customers_tri (fts_customers_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_customers_cjk (fts_customers_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
END;
CREATE TRIGGER customers_search_au AFTER UPDATE OF search_text, search_cjk ON customers BEGIN
    INSERT INTO fts_customers_tri (fts_customers_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_customers_cjk (fts_customers_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
    INSERT INTO fts_customers_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_customers_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;
