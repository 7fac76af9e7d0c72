//! Record-level sharing (collaborators): a record can be shared with other
//! users for reading or for reading and writing, optionally until a date.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::core::audit::{self, AuditCtx};
use crate::core::db::schema::{record_shares, users};
use crate::core::db::{DbConn, now, write_tx};
use crate::core::error::AppError;
use crate::core::sql::Sql;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    pub user_id: i64,
    pub user_name: String,
    pub can_write: bool,
    pub until: Option<NaiveDateTime>,
}

/// Share (or re-share with new terms) `entity` record `record_id` with a user.
pub fn share(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    entity: &str,
    record_id: i64,
    user_id: i64,
    can_write: bool,
    until: Option<NaiveDateTime>,
) -> Result<(), AppError> {
    write_tx(conn, |conn| {
        crate::core::records::store::check_user(conn, "user_id", user_id)?;
        if until.is_some_and(|u| u <= now()) {
            return Err(AppError::invalid("until", "must be in the future"));
        }
        diesel::delete(
            record_shares::table
                .filter(record_shares::entity.eq(entity))
                .filter(record_shares::record_id.eq(record_id))
                .filter(record_shares::user_id.eq(user_id)),
        )
        .execute(conn)?;
        diesel::insert_into(record_shares::table)
            .values((
                record_shares::entity.eq(entity),
                record_shares::record_id.eq(record_id),
                record_shares::user_id.eq(user_id),
                record_shares::can_write.eq(can_write),
                record_shares::until.eq(until),
                record_shares::created_by.eq(ctx.user_id),
                record_shares::created_at.eq(now()),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            "share",
            entity,
            Some(record_id),
            &serde_json::json!({"collaborator": [null, {"user_id": user_id, "can_write": can_write, "until": until}]}),
        )?;
        Ok(())
    })
}

pub fn unshare(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    entity: &str,
    record_id: i64,
    user_id: i64,
) -> Result<(), AppError> {
    write_tx(conn, |conn| {
        let n = diesel::delete(
            record_shares::table
                .filter(record_shares::entity.eq(entity))
                .filter(record_shares::record_id.eq(record_id))
                .filter(record_shares::user_id.eq(user_id)),
        )
        .execute(conn)?;
        if n == 0 {
            return Err(AppError::NotFound(format!(
                "user {user_id} is not a collaborator on this record"
            )));
        }
        audit::record(
            conn,
            ctx,
            "unshare",
            entity,
            Some(record_id),
            &serde_json::json!({"collaborator": [{"user_id": user_id}, null]}),
        )?;
        Ok(())
    })
}

/// Live collaborators of one record.
pub fn list(conn: &mut DbConn, entity: &str, record_id: i64) -> QueryResult<Vec<Share>> {
    let t = now();
    let rows: Vec<(i64, String, bool, Option<NaiveDateTime>)> = record_shares::table
        .inner_join(users::table)
        .filter(record_shares::entity.eq(entity))
        .filter(record_shares::record_id.eq(record_id))
        .filter(
            record_shares::until
                .is_null()
                .or(record_shares::until.gt(t)),
        )
        .order(users::name)
        .select((
            record_shares::user_id,
            users::name,
            record_shares::can_write,
            record_shares::until,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(user_id, user_name, can_write, until)| Share {
            user_id,
            user_name,
            can_write,
            until,
        })
        .collect())
}

/// Records shared through their parent: a colleague a customer is shared
/// with also sees its contacts, follow-ups and opportunities (and may edit
/// them when the share is writable). (entity, link column, parent entity)
const THROUGH_PARENT: &[(&str, &str, &str)] = &[
    ("contacts", "customer_id", "customers"),
    ("followups", "customer_id", "customers"),
    ("opportunities", "customer_id", "customers"),
];

fn push_one(sql: &mut Sql, col: &str, entity: &str, user_id: i64, write: bool) {
    sql.push(&format!(
        "{col} IN (SELECT record_id FROM record_shares WHERE entity = "
    ))
    .text(entity)
    .push(" AND user_id = ")
    .int(user_id)
    .push(" AND (until IS NULL OR until > ")
    .ts(now())
    .push(")");
    if write {
        sql.push(" AND can_write = ")
            .bind(crate::core::sql::Bind::Bool(true));
    }
    sql.push(")");
}

/// The link column and parent entity through which records of `entity` are
/// also shared (see [`THROUGH_PARENT`]).
pub fn parent_of(entity: &str) -> Option<(&'static str, &'static str)> {
    THROUGH_PARENT
        .iter()
        .find(|(e, _, _)| *e == entity)
        .map(|(_, col, parent)| (*col, *parent))
}

/// Append `id IN (records of `entity` shared with `user_id` directly)`.
pub fn push_shared_directly(sql: &mut Sql, entity: &str, user_id: i64, write: bool) {
    push_one(sql, "id", entity, user_id, write);
}

/// Append `link IN (parents shared with `user_id`)` for a child entity, a
/// condition no row meets for an entity without a parent.
pub fn push_shared_via_parent(sql: &mut Sql, entity: &str, user_id: i64, write: bool) {
    match parent_of(entity) {
        Some((col, parent)) => push_one(sql, col, parent, user_id, write),
        None => {
            sql.push("1 = 0");
        }
    }
}

/// Append `id IN (records of `entity` shared with `user_id`, still valid
/// [and writable])` to a query on the entity's table — or, for a child
/// entity, the records whose parent is shared so.
pub fn push_shared_ids(sql: &mut Sql, entity: &str, user_id: i64, write: bool) {
    match THROUGH_PARENT.iter().find(|(e, _, _)| *e == entity) {
        Some((_, col, parent)) => {
            sql.push("(");
            push_one(sql, "id", entity, user_id, write);
            sql.push(" OR ");
            push_one(sql, col, parent, user_id, write);
            sql.push(")");
        }
        None => push_one(sql, "id", entity, user_id, write),
    }
}

/// Remove every share of a record (it is being deleted).
pub fn remove_all(conn: &mut DbConn, entity: &str, record_id: i64) -> QueryResult<usize> {
    diesel::delete(
        record_shares::table
            .filter(record_shares::entity.eq(entity))
            .filter(record_shares::record_id.eq(record_id)),
    )
    .execute(conn)
}
