-- Contacts, leads, follow-ups, tasks (the generic record tables, see
-- src/core/records) and attachments of any record.

CREATE TABLE contacts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    owner_id          BIGINT NULL REFERENCES users (id),
    customer_id       BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name              TEXT NOT NULL DEFAULT '',
    title             TEXT NOT NULL DEFAULT '',
    department        TEXT NOT NULL DEFAULT '',
    mobile            TEXT NOT NULL DEFAULT '',
    phone             TEXT NOT NULL DEFAULT '',
    email             TEXT NOT NULL DEFAULT '',
    im                TEXT NOT NULL DEFAULT '',
    is_primary        BOOLEAN NOT NULL DEFAULT FALSE,
    is_decision_maker BOOLEAN NOT NULL DEFAULT FALSE,
    birthday          TEXT NOT NULL DEFAULT '',
    notes             TEXT NOT NULL DEFAULT '',
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
CREATE INDEX contacts_owner_updated ON contacts (owner_id, updated_at, id);
CREATE INDEX contacts_owner_id ON contacts (owner_id, id);
CREATE INDEX contacts_updated ON contacts (updated_at, id);
CREATE INDEX contacts_created ON contacts (created_at, id);
CREATE INDEX contacts_name ON contacts (name, id);
CREATE INDEX contacts_owner_name ON contacts (owner_id, name, id);
-- A customer's contacts in the default order.
CREATE INDEX contacts_customer ON contacts (customer_id, updated_at, id);
CREATE INDEX contacts_email ON contacts (email);
CREATE INDEX contacts_dedupe_phone ON contacts (dedupe_phone);
CREATE VIRTUAL TABLE fts_contacts_tri USING fts5(
    search_text, content = 'contacts', content_rowid = 'id', tokenize = 'trigram'
);
CREATE VIRTUAL TABLE fts_contacts_cjk USING fts5(
    search_cjk, content = 'contacts', content_rowid = 'id', tokenize = 'unicode61'
);
CREATE TRIGGER contacts_search_ai AFTER INSERT ON contacts
WHEN NOT EXISTS (SELECT 1 FROM settings WHERE key = 'search.bulk_load') BEGIN
    INSERT INTO fts_contacts_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_contacts_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;
CREATE TRIGGER contacts_search_ad AFTER DELETE ON contacts BEGIN
    INSERT INTO fts_contacts_tri (fts_contacts_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_contacts_cjk (fts_contacts_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
END;
CREATE TRIGGER contacts_search_au AFTER UPDATE OF search_text, search_cjk ON contacts BEGIN
    INSERT INTO fts_contacts_tri (fts_contacts_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_contacts_cjk (fts_contacts_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
    INSERT INTO fts_contacts_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_contacts_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;

CREATE TABLE leads (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    owner_id          BIGINT NULL REFERENCES users (id),
    name              TEXT NOT NULL DEFAULT '',
    company           TEXT NOT NULL DEFAULT '',
    title             TEXT NOT NULL DEFAULT '',
    mobile            TEXT NOT NULL DEFAULT '',
    phone             TEXT NOT NULL DEFAULT '',
    email             TEXT NOT NULL DEFAULT '',
    im                TEXT NOT NULL DEFAULT '',
    website           TEXT NOT NULL DEFAULT '',
    industry          TEXT NOT NULL DEFAULT '',
    source            TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT 'new',
    province          TEXT NOT NULL DEFAULT '',
    city              TEXT NOT NULL DEFAULT '',
    district          TEXT NOT NULL DEFAULT '',
    address           TEXT NOT NULL DEFAULT '',
    tags              TEXT NOT NULL DEFAULT '[]',
    notes             TEXT NOT NULL DEFAULT '',
    next_follow_up_at TIMESTAMP NULL,
    last_follow_up_at TIMESTAMP NULL,
    converted_customer_id BIGINT NULL REFERENCES customers (id) ON DELETE SET NULL,
    converted_contact_id BIGINT NULL REFERENCES contacts (id) ON DELETE SET NULL,
    converted_at      TIMESTAMP NULL,
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
CREATE INDEX leads_owner_updated ON leads (owner_id, updated_at, id);
CREATE INDEX leads_owner_id ON leads (owner_id, id);
CREATE INDEX leads_updated ON leads (updated_at, id);
CREATE INDEX leads_created ON leads (created_at, id);
CREATE INDEX leads_name ON leads (name, id);
CREATE INDEX leads_owner_name ON leads (owner_id, name, id);
CREATE INDEX leads_company ON leads (company, id);
CREATE INDEX leads_owner_company ON leads (owner_id, company, id);
CREATE INDEX leads_next_follow_up_at ON leads (next_follow_up_at, id);
CREATE INDEX leads_owner_next_follow_up_at ON leads (owner_id, next_follow_up_at, id);
CREATE INDEX leads_last_follow_up_at ON leads (last_follow_up_at, id);
CREATE INDEX leads_owner_last_follow_up_at ON leads (owner_id, last_follow_up_at, id);
CREATE INDEX leads_status ON leads (status, updated_at, id);
-- "My new leads": an owner's newest first.
CREATE INDEX leads_owner_created ON leads (owner_id, created_at, id);
CREATE INDEX leads_source ON leads (source, updated_at, id);
CREATE INDEX leads_industry ON leads (industry, updated_at, id);
CREATE INDEX leads_email ON leads (email);
CREATE INDEX leads_dedupe_phone ON leads (dedupe_phone);
CREATE INDEX leads_dedupe_name ON leads (dedupe_name);
CREATE INDEX leads_converted_customer ON leads (converted_customer_id);
CREATE VIRTUAL TABLE fts_leads_tri USING fts5(
    search_text, content = 'leads', content_rowid = 'id', tokenize = 'trigram'
);
CREATE VIRTUAL TABLE fts_leads_cjk USING fts5(
    search_cjk, content = 'leads', content_rowid = 'id', tokenize = 'unicode61'
);
CREATE TRIGGER leads_search_ai AFTER INSERT ON leads
WHEN NOT EXISTS (SELECT 1 FROM settings WHERE key = 'search.bulk_load') BEGIN
    INSERT INTO fts_leads_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_leads_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;
CREATE TRIGGER leads_search_ad AFTER DELETE ON leads BEGIN
    INSERT INTO fts_leads_tri (fts_leads_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_leads_cjk (fts_leads_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
END;
CREATE TRIGGER leads_search_au AFTER UPDATE OF search_text, search_cjk ON leads BEGIN
    INSERT INTO fts_leads_tri (fts_leads_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_leads_cjk (fts_leads_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
    INSERT INTO fts_leads_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_leads_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;

CREATE TABLE followups (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    owner_id          BIGINT NULL REFERENCES users (id),
    kind              TEXT NOT NULL DEFAULT '',
    content           TEXT NOT NULL DEFAULT '',
    occurred_at       TIMESTAMP NULL,
    next_follow_up_at TIMESTAMP NULL,
    customer_id       BIGINT NULL REFERENCES customers (id) ON DELETE SET NULL,
    contact_id        BIGINT NULL REFERENCES contacts (id) ON DELETE SET NULL,
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
CREATE INDEX followups_owner_updated ON followups (owner_id, updated_at, id);
CREATE INDEX followups_owner_id ON followups (owner_id, id);
CREATE INDEX followups_updated ON followups (updated_at, id);
CREATE INDEX followups_created ON followups (created_at, id);
CREATE INDEX followups_occurred_at ON followups (occurred_at, id);
CREATE INDEX followups_owner_occurred_at ON followups (owner_id, occurred_at, id);
CREATE INDEX followups_next_follow_up_at ON followups (next_follow_up_at, id);
CREATE INDEX followups_owner_next_follow_up_at ON followups (owner_id, next_follow_up_at, id);
CREATE INDEX followups_kind ON followups (kind, updated_at, id);
CREATE INDEX followups_customer ON followups (customer_id, occurred_at, id);
CREATE INDEX followups_contact ON followups (contact_id, occurred_at, id);
CREATE INDEX followups_lead ON followups (lead_id, occurred_at, id);
CREATE VIRTUAL TABLE fts_followups_tri USING fts5(
    search_text, content = 'followups', content_rowid = 'id', tokenize = 'trigram'
);
CREATE VIRTUAL TABLE fts_followups_cjk USING fts5(
    search_cjk, content = 'followups', content_rowid = 'id', tokenize = 'unicode61'
);
CREATE TRIGGER followups_search_ai AFTER INSERT ON followups
WHEN NOT EXISTS (SELECT 1 FROM settings WHERE key = 'search.bulk_load') BEGIN
    INSERT INTO fts_followups_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_followups_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;
CREATE TRIGGER followups_search_ad AFTER DELETE ON followups BEGIN
    INSERT INTO fts_followups_tri (fts_followups_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_followups_cjk (fts_followups_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
END;
CREATE TRIGGER followups_search_au AFTER UPDATE OF search_text, search_cjk ON followups BEGIN
    INSERT INTO fts_followups_tri (fts_followups_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_followups_cjk (fts_followups_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
    INSERT INTO fts_followups_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_followups_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;

CREATE TABLE tasks (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    assignee_id       BIGINT NULL REFERENCES users (id),
    title             TEXT NOT NULL DEFAULT '',
    description       TEXT NOT NULL DEFAULT '',
    due_at            TIMESTAMP NULL,
    remind_at         TIMESTAMP NULL,
    priority          TEXT NOT NULL DEFAULT 'normal',
    status            TEXT NOT NULL DEFAULT 'open',
    related_entity    TEXT NOT NULL DEFAULT '',
    related_id        BIGINT NULL,
    completed_at      TIMESTAMP NULL,
    custom            TEXT NOT NULL DEFAULT '{}',
    search_text       TEXT NOT NULL DEFAULT '',
    search_cjk        TEXT NOT NULL DEFAULT '',
    created_by        BIGINT NULL,
    updated_by        BIGINT NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    version           INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX tasks_owner_updated ON tasks (assignee_id, updated_at, id);
CREATE INDEX tasks_owner_id ON tasks (assignee_id, id);
CREATE INDEX tasks_updated ON tasks (updated_at, id);
CREATE INDEX tasks_created ON tasks (created_at, id);
CREATE INDEX tasks_title ON tasks (title, id);
CREATE INDEX tasks_owner_title ON tasks (assignee_id, title, id);
CREATE INDEX tasks_due_at ON tasks (due_at, id);
CREATE INDEX tasks_owner_due_at ON tasks (assignee_id, due_at, id);
CREATE INDEX tasks_status ON tasks (status, updated_at, id);
CREATE INDEX tasks_priority ON tasks (priority, updated_at, id);
CREATE INDEX tasks_related ON tasks (related_entity, related_id);
CREATE INDEX tasks_assignee_status_due ON tasks (assignee_id, status, due_at, id);
CREATE VIRTUAL TABLE fts_tasks_tri USING fts5(
    search_text, content = 'tasks', content_rowid = 'id', tokenize = 'trigram'
);
CREATE VIRTUAL TABLE fts_tasks_cjk USING fts5(
    search_cjk, content = 'tasks', content_rowid = 'id', tokenize = 'unicode61'
);
CREATE TRIGGER tasks_search_ai AFTER INSERT ON tasks
WHEN NOT EXISTS (SELECT 1 FROM settings WHERE key = 'search.bulk_load') BEGIN
    INSERT INTO fts_tasks_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_tasks_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;
CREATE TRIGGER tasks_search_ad AFTER DELETE ON tasks BEGIN
    INSERT INTO fts_tasks_tri (fts_tasks_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_tasks_cjk (fts_tasks_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
END;
CREATE TRIGGER tasks_search_au AFTER UPDATE OF search_text, search_cjk ON tasks BEGIN
    INSERT INTO fts_tasks_tri (fts_tasks_tri, rowid, search_text) VALUES ('delete', old.id, old.search_text);
    INSERT INTO fts_tasks_cjk (fts_tasks_cjk, rowid, search_cjk) VALUES ('delete', old.id, old.search_cjk);
    INSERT INTO fts_tasks_tri (rowid, search_text) VALUES (new.id, new.search_text);
    INSERT INTO fts_tasks_cjk (rowid, search_cjk) VALUES (new.id, new.search_cjk);
END;

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    entity       TEXT NOT NULL,
    record_id    BIGINT NOT NULL,
    file_name    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    created_by   BIGINT NULL REFERENCES users (id),
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX attachments_record ON attachments (entity, record_id, id);
CREATE INDEX attachments_sha256 ON attachments (sha256);

-- Records a user follows (关注), for the "followed" list view.
CREATE TABLE record_follows (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    entity     TEXT NOT NULL,
    record_id  BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, entity, record_id)
);
CREATE INDEX record_follows_record ON record_follows (entity, record_id);
