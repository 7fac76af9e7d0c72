//! Roles: a set of `module.action` permissions and one data scope.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::core::access::{self, BUILTIN_ROLES, DataScope};
use crate::core::audit::{self, AuditCtx};
use crate::core::db::schema::{roles, user_roles, users};
use crate::core::db::{DbConn, now, write_tx};
use crate::core::error::AppError;

/// The permission that makes a user an administrator.
pub const ADMIN_PERMISSION: &str = "admin.manage";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = roles)]
struct RoleRow {
    id: i64,
    builtin: Option<String>,
    name: String,
    description: String,
    permissions: String,
    data_scope: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    version: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Role {
    pub id: i64,
    pub builtin: Option<String>,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub data_scope: DataScope,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

impl From<RoleRow> for Role {
    fn from(r: RoleRow) -> Self {
        Role {
            id: r.id,
            builtin: r.builtin,
            name: r.name,
            description: r.description,
            permissions: serde_json::from_str(&r.permissions).unwrap_or_default(),
            data_scope: DataScope::parse(&r.data_scope).unwrap_or(DataScope::SelfOnly),
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RoleInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub permissions: Vec<String>,
    pub data_scope: DataScope,
}

fn validate(input: &RoleInput) -> Result<(String, String), AppError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid(
            "name",
            "a role needs a name of at most 100 characters",
        ));
    }
    let mut perms: Vec<String> = input
        .permissions
        .iter()
        .map(|p| p.trim().to_string())
        .collect();
    if let Some(bad) = perms.iter().find(|p| !access::is_known_permission(p)) {
        return Err(AppError::invalid(
            "permissions",
            format!("unknown permission `{bad}`; use module.action, e.g. customers.view"),
        ));
    }
    perms.sort();
    perms.dedup();
    Ok((
        name.to_string(),
        serde_json::to_string(&perms).unwrap_or_else(|_| "[]".into()),
    ))
}

/// Create the built-in roles that are missing (a new installation, or a
/// release that adds one). Existing ones are left as the admins edited them.
pub fn ensure_builtin(conn: &mut DbConn) -> QueryResult<()> {
    for b in BUILTIN_ROLES {
        let exists: i64 = roles::table
            .filter(roles::builtin.eq(b.key))
            .count()
            .get_result(conn)?;
        if exists == 0 {
            let t = now();
            let perms = serde_json::to_string(&(b.permissions)()).unwrap_or_else(|_| "[]".into());
            diesel::insert_into(roles::table)
                .values((
                    roles::builtin.eq(b.key),
                    roles::name.eq(b.name),
                    roles::description.eq(b.description),
                    roles::permissions.eq(perms),
                    roles::data_scope.eq(b.scope.as_str()),
                    roles::created_at.eq(t),
                    roles::updated_at.eq(t),
                    roles::version.eq(1),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<Role>> {
    Ok(roles::table
        .order(roles::id)
        .select(RoleRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Role::from)
        .collect())
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<Role, AppError> {
    roles::table
        .find(id)
        .select(RoleRow::as_select())
        .first(conn)
        .optional()?
        .map(Role::from)
        .ok_or_else(|| AppError::NotFound(format!("role {id} not found")))
}

/// A role by built-in key (`administrator`), numeric id, or exact name.
pub fn find(conn: &mut DbConn, key: &str) -> Result<Role, AppError> {
    if let Ok(id) = key.parse::<i64>() {
        return get(conn, id);
    }
    roles::table
        .filter(roles::builtin.eq(key).or(roles::name.eq(key)))
        .select(RoleRow::as_select())
        .first(conn)
        .optional()?
        .map(Role::from)
        .ok_or_else(|| AppError::invalid("role", format!("no role named `{key}`")))
}

/// Roles held by one user.
pub fn for_user(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<Role>> {
    // On the backend's own connection, where the statement stays prepared
    // (every request's actor reads its roles).
    let rows: Vec<RoleRow> = crate::with_backend!(conn, c => roles::table
        .inner_join(user_roles::table)
        .filter(user_roles::user_id.eq(user_id))
        .order(roles::id)
        .select(RoleRow::as_select())
        .load(c))?;
    Ok(rows.into_iter().map(Role::from).collect())
}

/// Active users holding a role that grants `admin.manage`.
pub fn active_admin_count(conn: &mut DbConn) -> QueryResult<i64> {
    let pattern = format!("%\"{ADMIN_PERMISSION}\"%");
    users::table
        .filter(users::active.eq(true))
        .filter(
            users::id.eq_any(
                user_roles::table
                    .inner_join(roles::table)
                    .filter(roles::permissions.like(pattern))
                    .select(user_roles::user_id),
            ),
        )
        .count()
        .get_result(conn)
}

/// Fails (rolling the transaction back) when no active administrator is left.
pub fn ensure_admin_remains(conn: &mut DbConn) -> Result<(), AppError> {
    if active_admin_count(conn)? == 0 {
        return Err(AppError::Conflict(
            "this change would leave no active administrator; give another user the administrator role first".into(),
        ));
    }
    Ok(())
}

pub fn create(conn: &mut DbConn, ctx: &AuditCtx, input: &RoleInput) -> Result<Role, AppError> {
    let (name, perms) = validate(input)?;
    write_tx(conn, |conn| {
        crate::core::db::lock_org(conn)?;
        let t = now();
        let id: i64 = diesel::insert_into(roles::table)
            .values((
                roles::name.eq(&name),
                roles::description.eq(input.description.trim()),
                roles::permissions.eq(&perms),
                roles::data_scope.eq(input.data_scope.as_str()),
                roles::created_at.eq(t),
                roles::updated_at.eq(t),
                roles::version.eq(1),
            ))
            .returning(roles::id)
            .get_result(conn)?;
        let role = get(conn, id)?;
        audit::record(
            conn,
            ctx,
            "create",
            "role",
            Some(id),
            &audit::diff(&serde_json::Value::Null, &to_json(&role)),
        )?;
        Ok(role)
    })
}

pub fn update(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: i64,
    version: i32,
    input: &RoleInput,
) -> Result<Role, AppError> {
    let (name, perms) = validate(input)?;
    write_tx(conn, |conn| {
        crate::core::db::lock_org(conn)?;
        let before = get(conn, id)?;
        let n = diesel::update(
            roles::table
                .filter(roles::id.eq(id))
                .filter(roles::version.eq(version)),
        )
        .set((
            roles::name.eq(&name),
            roles::description.eq(input.description.trim()),
            roles::permissions.eq(&perms),
            roles::data_scope.eq(input.data_scope.as_str()),
            roles::updated_at.eq(now()),
            roles::version.eq(roles::version + 1),
        ))
        .execute(conn)?;
        if n == 0 {
            return Err(AppError::stale(
                &format!("role \"{}\"", before.name),
                &before,
            ));
        }
        ensure_admin_remains(conn)?;
        let after = get(conn, id)?;
        audit::record(
            conn,
            ctx,
            "update",
            "role",
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
            return Err(AppError::stale(
                &format!("role \"{}\"", before.name),
                &before,
            ));
        }
        if before.builtin.is_some() {
            return Err(AppError::Conflict(format!(
                "\"{}\" is a built-in role; edit it instead of deleting it",
                before.name
            )));
        }
        diesel::delete(roles::table.find(id)).execute(conn)?;
        ensure_admin_remains(conn)?;
        audit::record(
            conn,
            ctx,
            "delete",
            "role",
            Some(id),
            &audit::diff(&to_json(&before), &serde_json::Value::Null),
        )?;
        Ok(())
    })
}

fn to_json(r: &Role) -> serde_json::Value {
    serde_json::to_value(r).unwrap_or_default()
}
