-- Sales core II: pipelines and their stages, products and categories,
-- opportunities (a generic record table, see src/core/records) with their
-- stage history, customer pools (公海) with members and a claim log, and
-- the customer columns the pool rules work on.

CREATE TABLE pipelines (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name              TEXT NOT NULL,
    -- JSON array of department ids that may use it; empty: everyone.
    departments       TEXT NOT NULL DEFAULT '[]',
    active            BOOLEAN NOT NULL DEFAULT TRUE,
    position          INTEGER NOT NULL DEFAULT 0,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    version           INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE pipeline_stages (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    pipeline_id       BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    position          INTEGER NOT NULL,
    probability       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX pipeline_stages_pipeline ON pipeline_stages (pipeline_id, position);

CREATE TABLE product_categories (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    parent_id         BIGINT NULL REFERENCES product_categories (id),
    name              TEXT NOT NULL,
    position          INTEGER NOT NULL DEFAULT 0,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);
CREATE INDEX product_categories_parent ON product_categories (parent_id, position);

CREATE TABLE products (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    owner_id          BIGINT NULL REFERENCES users (id),
    code              TEXT NOT NULL DEFAULT '',
    name              TEXT NOT NULL DEFAULT '',
    category_id       BIGINT NULL REFERENCES product_categories (id),
    unit              TEXT NOT NULL DEFAULT '',
    list_price        BIGINT NULL,
    currency          TEXT NOT NULL DEFAULT 'CNY',
    active            BOOLEAN NOT NULL DEFAULT TRUE,
    description       TEXT NOT NULL DEFAULT '',
    custom            TEXT NOT NULL DEFAULT '{}',
    search_text       TEXT NOT NULL DEFAULT '',
    search_cjk        TEXT NOT NULL DEFAULT '',
    created_by        BIGINT NULL,
    updated_by        BIGINT NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    version           INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX products_owner_updated ON products (owner_id, updated_at, id);
CREATE INDEX products_owner_id ON products (owner_id, id);
CREATE INDEX products_updated ON products (updated_at, id);
CREATE INDEX products_created ON products (created_at, id);
CREATE INDEX products_name ON products (name, id);
CREATE INDEX products_code ON products (code, id);
CREATE UNIQUE INDEX products_code_unique ON products (code) WHERE code <> '';
CREATE INDEX products_list_price ON products (list_price, id);
CREATE INDEX products_category ON products (category_id, updated_at, id);
CREATE VIRTUAL TABLE fts_products_tri USING fts5(
    search_text, content = 'products', content_rowid = 'id', tokenize = 'trigram'
);
CREATE VIRTUAL TABLE fts_products_cjk USING fts5(
    search_cjk, content = 'products', content_rowid = 'id', tokenize = 'unicode61'
);
CREATE TRIGGER products_search_ai AFTER INSERT ON products
WHEN NOT EXISTS (SELECT 1 FROM settings WHERE key = 'search.bulk_load') BEGIN
    INSERT INTO fts_products_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_products_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;
CREATE TRIGGER products_search_ad AFTER DELETE ON products BEGIN
    INSERT INTO fts_products_tri (fts_products_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_products_cjk (fts_products_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
END;
CREATE TRIGGER products_search_au AFTER UPDATE OF search_text, search_cjk ON products BEGIN
    INSERT INTO fts_products_tri (fts_products_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_products_cjk (fts_products_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
    INSERT INTO fts_products_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_products_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;

CREATE TABLE opportunities (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    owner_id          BIGINT NULL REFERENCES users (id),
    name              TEXT NOT NULL DEFAULT '',
    customer_id       BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    -- JSON array of contact ids.
    contact_ids       TEXT NOT NULL DEFAULT '[]',
    pipeline_id       BIGINT NOT NULL REFERENCES pipelines (id),
    stage_id          BIGINT NOT NULL REFERENCES pipeline_stages (id),
    status            TEXT NOT NULL DEFAULT 'open',
    close_reason      TEXT NOT NULL DEFAULT '',
    closed_at         TIMESTAMP NULL,
    probability       BIGINT NULL,
    -- Minor units of currency; computed from the line items when there are any.
    amount            BIGINT NULL,
    currency          TEXT NOT NULL DEFAULT 'CNY',
    -- JSON array of line items (product, quantity, unit price, discount, subtotal).
    items             TEXT NOT NULL DEFAULT '[]',
    discount          TEXT NOT NULL DEFAULT '',
    expected_close_date TEXT NOT NULL DEFAULT '',
    source            TEXT NOT NULL DEFAULT '',
    notes             TEXT NOT NULL DEFAULT '',
    lead_id           BIGINT NULL REFERENCES leads (id) ON DELETE SET NULL,
    custom            TEXT NOT NULL DEFAULT '{}',
    search_text       TEXT NOT NULL DEFAULT '',
    search_cjk        TEXT NOT NULL DEFAULT '',
    created_by        BIGINT NULL,
    updated_by        BIGINT NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    version           INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX opportunities_owner_updated ON opportunities (owner_id, updated_at, id);
CREATE INDEX opportunities_owner_id ON opportunities (owner_id, id);
CREATE INDEX opportunities_updated ON opportunities (updated_at, id);
CREATE INDEX opportunities_created ON opportunities (created_at, id);
CREATE INDEX opportunities_name ON opportunities (name, id);
CREATE INDEX opportunities_owner_name ON opportunities (owner_id, name, id);
CREATE INDEX opportunities_amount ON opportunities (amount, id);
CREATE INDEX opportunities_owner_amount ON opportunities (owner_id, amount, id);
CREATE INDEX opportunities_expected_close ON opportunities (expected_close_date, id);
CREATE INDEX opportunities_owner_expected_close ON opportunities (owner_id, expected_close_date, id);
CREATE INDEX opportunities_customer ON opportunities (customer_id, updated_at, id);
CREATE INDEX opportunities_status ON opportunities (status, updated_at, id);
CREATE INDEX opportunities_lead ON opportunities (lead_id);
-- The pipeline board: one stage's newest cards, and each stage's sums read
-- from the index alone.
CREATE INDEX opportunities_board ON opportunities (pipeline_id, status, stage_id, updated_at, id);
CREATE INDEX opportunities_board_sums ON opportunities (pipeline_id, status, stage_id, currency, amount);
CREATE INDEX opportunities_owner_board_sums ON opportunities (owner_id, pipeline_id, status, stage_id, currency, amount);
CREATE INDEX opportunities_stage ON opportunities (stage_id);
CREATE VIRTUAL TABLE fts_opportunities_tri USING fts5(
    search_text, content = 'opportunities', content_rowid = 'id', tokenize = 'trigram'
);
CREATE VIRTUAL TABLE fts_opportunities_cjk USING fts5(
    search_cjk, content = 'opportunities', content_rowid = 'id', tokenize = 'unicode61'
);
CREATE TRIGGER opportunities_search_ai AFTER INSERT ON opportunities
WHEN NOT EXISTS (SELECT 1 FROM settings WHERE key = 'search.bulk_load') BEGIN
    INSERT INTO fts_opportunities_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_opportunities_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;
CREATE TRIGGER opportunities_search_ad AFTER DELETE ON opportunities BEGIN
    INSERT INTO fts_opportunities_tri (fts_opportunities_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_opportunities_cjk (fts_opportunities_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
END;
CREATE TRIGGER opportunities_search_au AFTER UPDATE OF search_text, search_cjk ON opportunities BEGIN
    INSERT INTO fts_opportunities_tri (fts_opportunities_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_opportunities_cjk (fts_opportunities_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
    INSERT INTO fts_opportunities_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_opportunities_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;

CREATE TABLE opportunity_stage_history (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    opportunity_id    BIGINT NOT NULL REFERENCES opportunities (id) ON DELETE CASCADE,
    from_stage_id     BIGINT NULL,
    to_stage_id       BIGINT NULL,
    from_status       TEXT NOT NULL DEFAULT '',
    to_status         TEXT NOT NULL DEFAULT '',
    reason            TEXT NOT NULL DEFAULT '',
    changed_by        BIGINT NULL,
    changed_at        TIMESTAMP NOT NULL
);
CREATE INDEX opportunity_stage_history_opportunity ON opportunity_stage_history (opportunity_id, changed_at, id);

CREATE TABLE pools (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    active            BOOLEAN NOT NULL DEFAULT TRUE,
    -- JSON object of the pool's rules (src/crm/pools/rules.rs).
    rules             TEXT NOT NULL DEFAULT '{}',
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    version           INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE pool_members (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    pool_id           BIGINT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    user_id           BIGINT NULL REFERENCES users (id) ON DELETE CASCADE,
    department_id     BIGINT NULL REFERENCES departments (id) ON DELETE CASCADE,
    is_admin          BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX pool_members_pool ON pool_members (pool_id);
CREATE INDEX pool_members_user ON pool_members (user_id);
CREATE INDEX pool_members_department ON pool_members (department_id);

-- Every move into, out of and between pools: claims per day, cool-downs, history.
CREATE TABLE pool_events (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    pool_id           BIGINT NULL REFERENCES pools (id) ON DELETE SET NULL,
    customer_id       BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    action            TEXT NOT NULL,
    user_id           BIGINT NULL,
    from_owner_id     BIGINT NULL,
    to_owner_id       BIGINT NULL,
    reason            TEXT NOT NULL DEFAULT '',
    at                TIMESTAMP NOT NULL
);
CREATE INDEX pool_events_user ON pool_events (user_id, action, at);
CREATE INDEX pool_events_customer ON pool_events (customer_id, at, id);

-- The pool a customer sits in (owner_id NULL) or was last claimed from.
ALTER TABLE customers ADD COLUMN pool_id BIGINT NULL;
ALTER TABLE customers ADD COLUMN pooled_at TIMESTAMP NULL;
ALTER TABLE customers ADD COLUMN pool_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN previous_owner_id BIGINT NULL;
-- When the current owner got the customer (pool rules count from it).
ALTER TABLE customers ADD COLUMN owner_since TIMESTAMP NULL;
ALTER TABLE customers ADD COLUMN last_opportunity_at TIMESTAMP NULL;
CREATE INDEX customers_pool ON customers (pool_id, updated_at, id);
CREATE INDEX customers_pooled_at ON customers (pooled_at, id);

ALTER TABLE followups ADD COLUMN opportunity_id BIGINT NULL;
CREATE INDEX followups_opportunity ON followups (opportunity_id, occurred_at, id);
