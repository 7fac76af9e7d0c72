//! Users: e-mail login, department, supervisor, roles, active flag.
//! Disabling a user ends their sessions and revokes their API tokens at once.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::core::audit::{self, AuditCtx};
use crate::core::auth::password;
use crate::core::db::schema::{api_tokens, departments, roles, sessions, user_roles, users};
use crate::core::db::{DbConn, now, write_tx};
use crate::core::error::AppError;
use crate::core::org::roles as role_store;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub department_id: Option<i64>,
    pub supervisor_id: Option<i64>,
    pub active: bool,
    pub language: String,
    pub time_zone: String,
    #[serde(skip)]
    pub failed_logins: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub last_login_at: Option<NaiveDateTime>,
    #[serde(skip)]
    pub password_changed_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

/// A new user as the API, the setup page and the CLI describe it. Unknown
/// fields are refused (`role_ids` for `roles` would otherwise create a user
/// without roles).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub department_id: Option<i64>,
    #[serde(default)]
    pub supervisor_id: Option<i64>,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub time_zone: String,
    /// Role ids.
    #[serde(default)]
    pub roles: Vec<i64>,
}

/// The editable profile fields (not password, roles or status).
#[derive(Debug, Clone, Deserialize)]
pub struct UserProfile {
    pub name: String,
    #[serde(default)]
    pub department_id: Option<i64>,
    #[serde(default)]
    pub supervisor_id: Option<i64>,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub time_zone: String,
}

pub const LANGUAGES: &[&str] = &["zh-CN", "en"];

/// What users may change about themselves (`PUT /api/v1/me`, the account
/// page); absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnSettings {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// `Ok` for an empty (the default) or supported language.
pub fn check_language(language: &str) -> Result<(), AppError> {
    if language.is_empty() || LANGUAGES.contains(&language) {
        Ok(())
    } else {
        Err(AppError::invalid(
            "language",
            format!("`{language}` is not supported; use zh-CN or en"),
        ))
    }
}

/// `Ok` for an empty (the company default) or known time zone.
pub fn check_time_zone(zone: &str) -> Result<(), AppError> {
    if zone.chars().count() > 64 {
        return Err(AppError::invalid("time_zone", "at most 64 characters"));
    }
    crate::core::time::check(zone).map_err(|m| AppError::invalid("time_zone", m))
}

/// Lower-cased, trimmed e-mail if it looks like one.
pub fn normalize_email(email: &str) -> Result<String, AppError> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.contains(char::is_whitespace)
                && e.matches('@').count() == 1
        });
    if valid {
        Ok(e)
    } else {
        Err(AppError::invalid(
            "email",
            format!("`{}` is not an e-mail address", email.trim()),
        ))
    }
}

fn validate_profile(
    conn: &mut DbConn,
    id: Option<i64>,
    p: &UserProfile,
) -> Result<String, AppError> {
    let name = p.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid(
            "name",
            "a name of 1 to 100 characters is required",
        ));
    }
    check_language(&p.language)?;
    check_time_zone(&p.time_zone)?;
    if let Some(d) = p.department_id {
        let found: i64 = departments::table.find(d).count().get_result(conn)?;
        if found == 0 {
            return Err(AppError::invalid(
                "department_id",
                format!("department {d} does not exist"),
            ));
        }
    }
    if let Some(mut cursor) = p.supervisor_id {
        // Walk up the supervisor chain; meeting the user means a loop.
        for _ in 0..1000 {
            if Some(cursor) == id {
                return Err(AppError::invalid(
                    "supervisor_id",
                    "a user cannot report to themselves or to someone who reports to them",
                ));
            }
            let up: Option<Option<i64>> = users::table
                .find(cursor)
                .select(users::supervisor_id)
                .first(conn)
                .optional()?;
            match up {
                None => {
                    return Err(AppError::invalid(
                        "supervisor_id",
                        format!("user {cursor} does not exist"),
                    ));
                }
                Some(None) => break,
                Some(Some(next)) => cursor = next,
            }
        }
    }
    Ok(name.to_string())
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<User, AppError> {
    // On the backend's own connection, where the statement stays prepared
    // (every request's actor reads its user).
    crate::with_backend!(conn, c => users::table
        .find(id)
        .select(User::as_select())
        .first(c)
        .optional())?
    .ok_or_else(|| AppError::NotFound(format!("user {id} not found")))
}

pub fn find_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email.trim().to_lowercase()))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// A user by e-mail, for the CLI.
pub fn by_email(conn: &mut DbConn, email: &str) -> Result<User, AppError> {
    find_by_email(conn, email)?
        .ok_or_else(|| AppError::NotFound(format!("no user with e-mail {}", email.trim())))
}

/// A user with the names of their roles, for lists.
#[derive(Debug, Clone, Serialize)]
pub struct UserWithRoles {
    #[serde(flatten)]
    pub user: User,
    pub roles: Vec<RoleRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleRef {
    pub id: i64,
    pub name: String,
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<UserWithRoles>> {
    let all: Vec<User> = users::table
        .order((users::name, users::id))
        .select(User::as_select())
        .load(conn)?;
    let links: Vec<(i64, i64, String)> = user_roles::table
        .inner_join(roles::table)
        .select((user_roles::user_id, roles::id, roles::name))
        .order(roles::id)
        .load(conn)?;
    Ok(all
        .into_iter()
        .map(|user| {
            let roles = links
                .iter()
                .filter(|(u, _, _)| *u == user.id)
                .map(|(_, id, name)| RoleRef {
                    id: *id,
                    name: name.clone(),
                })
                .collect();
            UserWithRoles { user, roles }
        })
        .collect())
}

fn set_role_links(conn: &mut DbConn, user_id: i64, role_ids: &[i64]) -> Result<(), AppError> {
    for r in role_ids {
        role_store::get(conn, *r)
            .map_err(|_| AppError::invalid("roles", format!("role {r} does not exist")))?;
    }
    diesel::delete(user_roles::table.filter(user_roles::user_id.eq(user_id))).execute(conn)?;
    let mut ids = role_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for r in ids {
        diesel::insert_into(user_roles::table)
            .values((user_roles::user_id.eq(user_id), user_roles::role_id.eq(r)))
            .execute(conn)?;
    }
    Ok(())
}

fn snapshot(conn: &mut DbConn, id: i64) -> Result<serde_json::Value, AppError> {
    let user = get(conn, id)?;
    let mut v = serde_json::to_value(&user).unwrap_or_default();
    let roles: Vec<i64> = user_roles::table
        .filter(user_roles::user_id.eq(id))
        .select(user_roles::role_id)
        .order(user_roles::role_id)
        .load(conn)?;
    if let Some(o) = v.as_object_mut() {
        o.insert("roles".into(), serde_json::json!(roles));
        o.remove("last_login_at");
        o.remove("updated_at");
    }
    Ok(v)
}

pub fn create(conn: &mut DbConn, ctx: &AuditCtx, new: &NewUser) -> Result<User, AppError> {
    let email = normalize_email(&new.email)?;
    password::check_policy(&new.password, &[&email, &new.name])
        .map_err(|m| AppError::invalid("password", format!("the password {m}")))?;
    let hash = password::hash(&new.password).map_err(AppError::Internal)?;
    create_hashed(conn, ctx, new, &hash)
}

/// Create a user whose password the caller already checked and hashed
/// (demo data: one hash for many users). `new.password` is ignored.
pub fn create_hashed(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    new: &NewUser,
    hash: &str,
) -> Result<User, AppError> {
    let email = normalize_email(&new.email)?;
    let profile = UserProfile {
        name: new.name.clone(),
        department_id: new.department_id,
        supervisor_id: new.supervisor_id,
        language: new.language.clone(),
        time_zone: new.time_zone.clone(),
    };
    write_tx(conn, |conn| {
        crate::core::db::lock_org(conn)?;
        let name = validate_profile(conn, None, &profile)?;
        if find_by_email(conn, &email)?.is_some() {
            return Err(AppError::invalid(
                "email",
                format!("a user with e-mail {email} already exists"),
            ));
        }
        let t = now();
        let id: i64 = diesel::insert_into(users::table)
            .values((
                users::email.eq(&email),
                users::name.eq(&name),
                users::password_hash.eq(hash),
                users::department_id.eq(profile.department_id),
                users::supervisor_id.eq(profile.supervisor_id),
                users::active.eq(true),
                users::language.eq(&profile.language),
                users::time_zone.eq(profile.time_zone.trim()),
                users::failed_logins.eq(0),
                users::password_changed_at.eq(t),
                users::created_at.eq(t),
                users::updated_at.eq(t),
                users::version.eq(1),
            ))
            .returning(users::id)
            .get_result(conn)?;
        set_role_links(conn, id, &new.roles)?;
        let after = snapshot(conn, id)?;
        audit::record(
            conn,
            ctx,
            "create",
            "user",
            Some(id),
            &audit::diff(&serde_json::Value::Null, &after),
        )?;
        get(conn, id)
    })
}

pub fn update_profile(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: i64,
    version: i32,
    p: &UserProfile,
) -> Result<User, AppError> {
    write_tx(conn, |conn| {
        crate::core::db::lock_org(conn)?;
        let current = get(conn, id)?;
        let name = validate_profile(conn, Some(id), p)?;
        let before = snapshot(conn, id)?;
        let n = diesel::update(
            users::table
                .filter(users::id.eq(id))
                .filter(users::version.eq(version)),
        )
        .set((
            users::name.eq(&name),
            users::department_id.eq(p.department_id),
            users::supervisor_id.eq(p.supervisor_id),
            users::language.eq(&p.language),
            users::time_zone.eq(p.time_zone.trim()),
            users::updated_at.eq(now()),
            users::version.eq(users::version + 1),
        ))
        .execute(conn)?;
        if n == 0 {
            return Err(AppError::stale(
                &format!("user {}", current.email),
                &current,
            ));
        }
        let after = snapshot(conn, id)?;
        audit::record(
            conn,
            ctx,
            "update",
            "user",
            Some(id),
            &audit::diff(&before, &after),
        )?;
        get(conn, id)
    })
}

/// A user changes their own name, language or time zone. Department,
/// supervisor, roles and status stay an administrator's business.
pub fn update_own(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: i64,
    s: &OwnSettings,
) -> Result<User, AppError> {
    if let Some(l) = &s.language {
        if l.trim().is_empty() {
            return Err(AppError::invalid("language", "use zh-CN or en"));
        }
        check_language(l.trim())?;
    }
    if let Some(z) = &s.time_zone {
        check_time_zone(z)?;
    }
    write_tx(conn, |conn| {
        crate::core::db::lock_org(conn)?;
        let current = get(conn, id)?;
        let profile = UserProfile {
            name: s.name.clone().unwrap_or_else(|| current.name.clone()),
            department_id: current.department_id,
            supervisor_id: current.supervisor_id,
            language: s
                .language
                .as_deref()
                .map_or_else(|| current.language.clone(), |l| l.trim().to_string()),
            time_zone: s
                .time_zone
                .clone()
                .unwrap_or_else(|| current.time_zone.clone()),
        };
        let unchanged = profile.name.trim() == current.name
            && profile.language == current.language
            && profile.time_zone.trim() == current.time_zone;
        if unchanged {
            return Ok(current);
        }
        update_profile(conn, ctx, id, current.version, &profile)
    })
}

/// Replace a user's roles; refused if no active administrator would remain.
pub fn set_roles(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: i64,
    role_ids: &[i64],
) -> Result<User, AppError> {
    write_tx(conn, |conn| {
        crate::core::db::lock_org(conn)?;
        let before = snapshot(conn, id)?;
        set_role_links(conn, id, role_ids)?;
        role_store::ensure_admin_remains(conn)?;
        diesel::update(users::table.find(id))
            .set((
                users::updated_at.eq(now()),
                users::version.eq(users::version + 1),
            ))
            .execute(conn)?;
        let after = snapshot(conn, id)?;
        audit::record(
            conn,
            ctx,
            "update",
            "user",
            Some(id),
            &audit::diff(&before, &after),
        )?;
        get(conn, id)
    })
}

/// Enable or disable. Disabling ends the user's sessions and revokes their
/// tokens in the same transaction; the last active administrator cannot be
/// disabled.
pub fn set_active(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: i64,
    active: bool,
) -> Result<User, AppError> {
    write_tx(conn, |conn| {
        crate::core::db::lock_org(conn)?;
        let before = snapshot(conn, id)?;
        diesel::update(users::table.find(id))
            .set((
                users::active.eq(active),
                users::failed_logins.eq(0),
                users::locked_until.eq(None::<NaiveDateTime>),
                users::updated_at.eq(now()),
                users::version.eq(users::version + 1),
            ))
            .execute(conn)?;
        if !active {
            role_store::ensure_admin_remains(conn)?;
            diesel::delete(sessions::table.filter(sessions::user_id.eq(id))).execute(conn)?;
            diesel::update(
                api_tokens::table
                    .filter(api_tokens::user_id.eq(id))
                    .filter(api_tokens::revoked_at.is_null()),
            )
            .set(api_tokens::revoked_at.eq(now()))
            .execute(conn)?;
        }
        let after = snapshot(conn, id)?;
        let action = if active { "enable" } else { "disable" };
        audit::record(
            conn,
            ctx,
            action,
            "user",
            Some(id),
            &audit::diff(&before, &after),
        )?;
        get(conn, id)
    })
}

/// Set a new password (policy checked). A user changing their own password
/// passes `keep_session` (their current one): their other sessions end, their
/// API tokens stay. An administrator's reset (`None`, e.g. for a compromised
/// account) ends every session and revokes every API token.
pub fn set_password(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: i64,
    new_password: &str,
    keep_session: Option<&str>,
) -> Result<(), AppError> {
    let user = get(conn, id)?;
    password::check_policy(new_password, &[&user.email, &user.name])
        .map_err(|m| AppError::invalid("password", format!("the password {m}")))?;
    let hash = password::hash(new_password).map_err(AppError::Internal)?;
    write_tx(conn, |conn| {
        crate::core::db::lock_org(conn)?;
        let t = now();
        diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(&hash),
                users::password_changed_at.eq(t),
                users::failed_logins.eq(0),
                users::locked_until.eq(None::<NaiveDateTime>),
                users::updated_at.eq(t),
            ))
            .execute(conn)?;
        let mut q = diesel::delete(sessions::table)
            .filter(sessions::user_id.eq(id))
            .into_boxed();
        if let Some(keep) = keep_session {
            q = q.filter(sessions::id.ne(keep.to_string()));
        }
        q.execute(conn)?;
        if keep_session.is_none() {
            diesel::update(
                api_tokens::table
                    .filter(api_tokens::user_id.eq(id))
                    .filter(api_tokens::revoked_at.is_null()),
            )
            .set(api_tokens::revoked_at.eq(t))
            .execute(conn)?;
        }
        audit::record(
            conn,
            ctx,
            "password",
            "user",
            Some(id),
            &serde_json::json!({"password": ["****", "changed"]}),
        )?;
        Ok(())
    })
}
