//! The audit trail: every create, update and delete writes one row in the
//! same transaction as the change. Rows are hash-chained: each stores the
//! SHA-256 of its own content and of the previous row's hash, so
//! `rapport audit verify` finds an altered, removed or inserted row.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::core::db::schema::audit_log;
use crate::core::db::{DbConn, now};

/// Who made a change and through which request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCtx {
    pub user_id: Option<i64>,
    pub ip: String,
    pub request_id: String,
}

impl AuditCtx {
    /// Changes made by an administrator on the command line.
    pub fn cli() -> Self {
        AuditCtx {
            user_id: None,
            ip: "cli".into(),
            request_id: format!("cli-{}", crate::core::tls::random_hex(6)),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub at: NaiveDateTime,
    pub user_id: Option<i64>,
    pub ip: String,
    pub request_id: String,
    pub action: String,
    pub entity: String,
    pub record_id: Option<i64>,
    pub changes: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Lock key that serialises audit appends on PostgreSQL (SQLite already
/// serialises writers).
const AUDIT_LOCK: i64 = 0x5241_5050_4155_4449; // "RAPPAUDI"

#[expect(clippy::too_many_arguments, reason = "every hashed column")]
fn content_hash(
    prev: &str,
    at: &NaiveDateTime,
    user_id: Option<i64>,
    ip: &str,
    request_id: &str,
    action: &str,
    entity: &str,
    record_id: Option<i64>,
    changes: &str,
) -> String {
    let text = format!(
        "{prev}\n{}\n{}\n{ip}\n{request_id}\n{action}\n{entity}\n{}\n{changes}",
        at.format("%Y-%m-%dT%H:%M:%S%.6f"),
        user_id.map(|u| u.to_string()).unwrap_or_default(),
        record_id.map(|r| r.to_string()).unwrap_or_default(),
    );
    crate::core::tls::hex(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

/// Append one audit row. Call inside the transaction that makes the change.
pub fn record(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    action: &str,
    entity: &str,
    record_id: Option<i64>,
    changes: &Value,
) -> QueryResult<()> {
    if let DbConn::Pg(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({AUDIT_LOCK})")).execute(c)?;
    }
    // Both statements on the backend's own connection, where diesel caches
    // them by type (its multi-backend wrapper builds the SQL text each time).
    let prev: String = crate::with_backend!(&mut *conn, c => audit_log::table
        .order(audit_log::id.desc())
        .select(audit_log::hash)
        .first(c)
        .optional())?
    .unwrap_or_default();
    let at = now();
    let changes = changes.to_string();
    let hash = content_hash(
        &prev,
        &at,
        ctx.user_id,
        &ctx.ip,
        &ctx.request_id,
        action,
        entity,
        record_id,
        &changes,
    );
    crate::with_backend!(conn, c => diesel::insert_into(audit_log::table)
        .values((
            audit_log::at.eq(at),
            audit_log::user_id.eq(ctx.user_id),
            audit_log::ip.eq(&ctx.ip),
            audit_log::request_id.eq(&ctx.request_id),
            audit_log::action.eq(action),
            audit_log::entity.eq(entity),
            audit_log::record_id.eq(record_id),
            audit_log::changes.eq(&changes),
            audit_log::prev_hash.eq(&prev),
            audit_log::hash.eq(&hash),
        ))
        .execute(c))?;
    Ok(())
}

/// Field-by-field changes between two JSON objects: `{field: [before, after]}`.
/// Fields equal on both sides are left out; a create passes `Value::Null` as
/// `before`, a delete passes it as `after`.
pub fn diff(before: &Value, after: &Value) -> Value {
    let empty = Map::new();
    let b = before.as_object().unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut out = Map::new();
    for key in b.keys().chain(a.keys()) {
        if out.contains_key(key) {
            continue;
        }
        let old = b.get(key).unwrap_or(&Value::Null);
        let new = a.get(key).unwrap_or(&Value::Null);
        if old != new {
            out.insert(key.clone(), Value::Array(vec![old.clone(), new.clone()]));
        }
    }
    Value::Object(out)
}

/// Result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub rows: u64,
    /// The first row whose content or link is wrong, and why.
    pub broken: Option<(i64, String)>,
}

/// Walk the whole chain in id order, in batches.
pub fn verify(conn: &mut DbConn) -> QueryResult<Verified> {
    let mut rows = 0u64;
    let mut prev = String::new();
    let mut prev_id: Option<i64> = None;
    loop {
        let batch: Vec<AuditRow> = audit_log::table
            .filter(audit_log::id.gt(prev_id.unwrap_or(i64::MIN)))
            .order(audit_log::id.asc())
            .limit(2000)
            .select(AuditRow::as_select())
            .load(conn)?;
        if batch.is_empty() {
            return Ok(Verified { rows, broken: None });
        }
        for r in batch {
            if r.prev_hash != prev {
                let why = match prev_id {
                    Some(p) => format!(
                        "does not link to row {p}: a row before it was removed, inserted or altered"
                    ),
                    None => {
                        "is the first row but links to an earlier one: rows were removed".into()
                    }
                };
                return Ok(Verified {
                    rows,
                    broken: Some((r.id, why)),
                });
            }
            let expected = content_hash(
                &r.prev_hash,
                &r.at,
                r.user_id,
                &r.ip,
                &r.request_id,
                &r.action,
                &r.entity,
                r.record_id,
                &r.changes,
            );
            if expected != r.hash {
                return Ok(Verified {
                    rows,
                    broken: Some((
                        r.id,
                        "content does not match its hash: the row was altered".into(),
                    )),
                });
            }
            rows += 1;
            prev = r.hash;
            prev_id = Some(r.id);
        }
    }
}

/// Filters for the audit log page and API.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditFilter {
    pub user_id: Option<i64>,
    pub entity: Option<String>,
    pub record_id: Option<i64>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    /// Keyset cursor: rows with a smaller id than this.
    pub before_id: Option<i64>,
    pub limit: Option<i64>,
}

/// Newest first, keyset-paginated by id.
pub fn list(conn: &mut DbConn, f: &AuditFilter) -> QueryResult<Vec<AuditRow>> {
    let mut q = audit_log::table.into_boxed();
    if let Some(u) = f.user_id {
        q = q.filter(audit_log::user_id.eq(u));
    }
    if let Some(e) = &f.entity {
        q = q.filter(audit_log::entity.eq(e.clone()));
    }
    if let Some(r) = f.record_id {
        q = q.filter(audit_log::record_id.eq(r));
    }
    if let Some(from) = f.from {
        q = q.filter(audit_log::at.ge(from));
    }
    if let Some(to) = f.to {
        q = q.filter(audit_log::at.lt(to));
    }
    if let Some(b) = f.before_id {
        q = q.filter(audit_log::id.lt(b));
    }
    q.order(audit_log::id.desc())
        .limit(f.limit.unwrap_or(50).clamp(1, 500))
        .select(AuditRow::as_select())
        .load(conn)
}
