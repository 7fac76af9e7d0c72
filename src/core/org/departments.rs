//! Departments: a tree. Moving a department under itself or a descendant is
//! refused; a department with sub-departments or members cannot be deleted.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::core::audit::{self, AuditCtx};
use crate::core::db::schema::{departments, users};
use crate::core::db::{DbConn, now, write_tx};
use crate::core::error::AppError;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = departments)]
pub struct Department {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
    pub sort_order: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DepartmentInput {
    pub name: String,
    #[serde(default)]
    pub parent_id: Option<i64>,
    #[serde(default)]
    pub sort_order: i32,
}

fn validate_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", "a department needs a name"));
    }
    if name.chars().count() > 100 {
        return Err(AppError::invalid("name", "at most 100 characters"));
    }
    Ok(name.to_string())
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<Department>> {
    departments::table
        .order((departments::sort_order, departments::name, departments::id))
        .select(Department::as_select())
        .load(conn)
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<Department, AppError> {
    departments::table
        .find(id)
        .select(Department::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("department {id} not found")))
}

fn check_parent(conn: &mut DbConn, id: Option<i64>, parent: Option<i64>) -> Result<(), AppError> {
    let Some(mut cursor) = parent else {
        return Ok(());
    };
    // Walk up from the new parent; meeting `id` means a cycle.
    for _ in 0..1000 {
        if Some(cursor) == id {
            return Err(AppError::invalid(
                "parent_id",
                "a department cannot be placed under itself or one of its sub-departments",
            ));
        }
        let up: Option<Option<i64>> = departments::table
            .find(cursor)
            .select(departments::parent_id)
            .first(conn)
            .optional()?;
        match up {
            None => {
                return Err(AppError::invalid(
                    "parent_id",
                    format!("department {cursor} does not exist"),
                ));
            }
            Some(None) => return Ok(()),
            Some(Some(p)) => cursor = p,
        }
    }
    Err(AppError::invalid(
        "parent_id",
        "the department tree is too deep",
    ))
}

pub fn create(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    input: &DepartmentInput,
) -> Result<Department, AppError> {
    let name = validate_name(&input.name)?;
    write_tx(conn, |conn| {
        crate::core::db::lock_org(conn)?;
        check_parent(conn, None, input.parent_id)?;
        let t = now();
        let id: i64 = diesel::insert_into(departments::table)
            .values((
                departments::name.eq(&name),
                departments::parent_id.eq(input.parent_id),
                departments::sort_order.eq(input.sort_order),
                departments::created_at.eq(t),
                departments::updated_at.eq(t),
                departments::version.eq(1),
            ))
            .returning(departments::id)
            .get_result(conn)?;
        let dep = get(conn, id)?;
        audit::record(
            conn,
            ctx,
            "create",
            "department",
            Some(id),
            &audit::diff(
                &serde_json::Value::Null,
                &serde_json::to_value(&dep).unwrap_or_default(),
            ),
        )?;
        Ok(dep)
    })
}

/// Replace name, parent and order; `version` must be the one the caller read.
pub fn update(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: i64,
    version: i32,
    input: &DepartmentInput,
) -> Result<Department, AppError> {
    let name = validate_name(&input.name)?;
    write_tx(conn, |conn| {
        crate::core::db::lock_org(conn)?;
        let before = get(conn, id)?;
        check_parent(conn, Some(id), input.parent_id)?;
        let n = diesel::update(
            departments::table
                .filter(departments::id.eq(id))
                .filter(departments::version.eq(version)),
        )
        .set((
            departments::name.eq(&name),
            departments::parent_id.eq(input.parent_id),
            departments::sort_order.eq(input.sort_order),
            departments::updated_at.eq(now()),
            departments::version.eq(departments::version + 1),
        ))
        .execute(conn)?;
        if n == 0 {
            return Err(stale(&before));
        }
        let after = get(conn, id)?;
        audit::record(
            conn,
            ctx,
            "update",
            "department",
            Some(id),
            &audit::diff(&to_json(&before), &to_json(&after)),
        )?;
        Ok(after)
    })
}

pub fn delete(conn: &mut DbConn, ctx: &AuditCtx, id: i64, version: i32) -> Result<(), AppError> {
    write_tx(conn, |conn| {
        crate::core::db::lock_org(conn)?;
        let before = get(conn, id)?;
        if before.version != version {
            return Err(stale(&before));
        }
        let children: i64 = departments::table
            .filter(departments::parent_id.eq(id))
            .count()
            .get_result(conn)?;
        if children > 0 {
            return Err(AppError::Conflict(format!(
                "department \"{}\" has {children} sub-department(s); move or delete them first",
                before.name
            )));
        }
        let members: i64 = users::table
            .filter(users::department_id.eq(id))
            .count()
            .get_result(conn)?;
        if members > 0 {
            return Err(AppError::Conflict(format!(
                "department \"{}\" has {members} member(s); move them to another department first",
                before.name
            )));
        }
        diesel::delete(departments::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            ctx,
            "delete",
            "department",
            Some(id),
            &audit::diff(&to_json(&before), &serde_json::Value::Null),
        )?;
        Ok(())
    })
}

fn to_json(d: &Department) -> serde_json::Value {
    serde_json::to_value(d).unwrap_or_default()
}

fn stale(current: &Department) -> AppError {
    AppError::stale(&format!("department \"{}\"", current.name), current)
}
