-- Organisation, roles, sessions, API tokens, login log, audit trail, record sharing.

CREATE TABLE departments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name        TEXT NOT NULL,
    parent_id   BIGINT NULL REFERENCES departments (id),
    sort_order  INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX departments_parent_id ON departments (parent_id);

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    email               TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    department_id       BIGINT NULL REFERENCES departments (id),
    supervisor_id       BIGINT NULL REFERENCES users (id),
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    language            TEXT NOT NULL DEFAULT '',
    time_zone           TEXT NOT NULL DEFAULT '',
    failed_logins       INTEGER NOT NULL DEFAULT 0,
    locked_until        TIMESTAMP NULL,
    last_login_at       TIMESTAMP NULL,
    password_changed_at TIMESTAMP NOT NULL,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    version             INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX users_department_id ON users (department_id);
CREATE INDEX users_supervisor_id ON users (supervisor_id);

CREATE TABLE roles (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    builtin     TEXT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    permissions TEXT NOT NULL DEFAULT '[]',
    data_scope  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE user_roles (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id BIGINT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role_id ON user_roles (role_id);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    read_only    BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at   TIMESTAMP NULL,
    last_used_at TIMESTAMP NULL,
    revoked_at   TIMESTAMP NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE login_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at      TIMESTAMP NOT NULL,
    email   TEXT NOT NULL,
    user_id BIGINT NULL,
    ip      TEXT NOT NULL,
    success BOOLEAN NOT NULL,
    reason  TEXT NOT NULL
);
CREATE INDEX login_log_at ON login_log (at);
CREATE INDEX login_log_ip_at ON login_log (ip, at);
CREATE INDEX login_log_user_id ON login_log (user_id);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at         TIMESTAMP NOT NULL,
    user_id    BIGINT NULL,
    ip         TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action     TEXT NOT NULL,
    entity     TEXT NOT NULL,
    record_id  BIGINT NULL,
    changes    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_entity_record ON audit_log (entity, record_id);
CREATE INDEX audit_log_user_at ON audit_log (user_id, at);

CREATE TABLE record_shares (
    id         INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    entity     TEXT NOT NULL,
    record_id  BIGINT NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    can_write  BOOLEAN NOT NULL DEFAULT FALSE,
    until      TIMESTAMP NULL,
    created_by BIGINT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (entity, record_id, user_id)
);
CREATE INDEX record_shares_user_entity ON record_shares (user_id, entity);
