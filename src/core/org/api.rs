//! Admin JSON API: users, departments, roles, the login log and the audit log.
//! Reading needs `admin.view` or `admin.manage`; changing needs `admin.manage`.

use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::core::audit::{self, AuditFilter};
use crate::core::auth::actor::{Actor, AuthVia};
use crate::core::auth::login;
use crate::core::error::AppError;
use crate::core::fields;
use crate::core::org::departments::{self, DepartmentInput};
use crate::core::org::roles::{self, RoleInput};
use crate::core::org::users::{self, NewUser, UserProfile};

fn can_read(actor: &Actor) -> Result<(), AppError> {
    if actor.can("admin", "view") || actor.can("admin", "manage") {
        Ok(())
    } else {
        Err(AppError::Forbidden("administrators only".into()))
    }
}

fn can_manage(actor: &Actor) -> Result<(), AppError> {
    actor.require("admin", "manage")
}

/// A body with the version the client read, for updates and deletes.
#[derive(Deserialize)]
struct Versioned<T> {
    version: i32,
    #[serde(flatten)]
    data: T,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: i32,
}

// ---- users ----

#[get("/api/v1/admin/users")]
async fn list_users(actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    can_read(&actor)?;
    let list = state.db(|c| Ok(users::list(c)?)).await?;
    Ok(HttpResponse::Ok().json(json!({"users": list})))
}

#[post("/api/v1/admin/users")]
async fn create_user(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let u = state
        .db(move |c| users::create(c, &actor.audit(), &body))
        .await?;
    Ok(HttpResponse::Created().json(u))
}

#[get("/api/v1/admin/users/{id}")]
async fn get_user(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    can_read(&actor)?;
    let id = id.into_inner();
    let (u, r) = state
        .db(move |c| Ok((users::get(c, id)?, roles::for_user(c, id)?)))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"user": u, "roles": r})))
}

#[put("/api/v1/admin/users/{id}")]
async fn update_user(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<Versioned<UserProfile>>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let id = id.into_inner();
    let b = body.into_inner();
    let u = state
        .db(move |c| users::update_profile(c, &actor.audit(), id, b.version, &b.data))
        .await?;
    Ok(HttpResponse::Ok().json(u))
}

#[derive(Deserialize)]
struct RoleIds {
    roles: Vec<i64>,
}

#[put("/api/v1/admin/users/{id}/roles")]
async fn set_user_roles(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<RoleIds>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let id = id.into_inner();
    let u = state
        .db(move |c| users::set_roles(c, &actor.audit(), id, &body.roles))
        .await?;
    Ok(HttpResponse::Ok().json(u))
}

#[post("/api/v1/admin/users/{id}/{action:disable|enable}")]
async fn set_user_active(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let (id, action) = path.into_inner();
    if id == actor.user_id() && action == "disable" {
        return Err(AppError::Conflict(
            "you cannot disable your own account".into(),
        ));
    }
    let u = state
        .db(move |c| users::set_active(c, &actor.audit(), id, action == "enable"))
        .await?;
    Ok(HttpResponse::Ok().json(u))
}

#[derive(Deserialize)]
struct NewPassword {
    password: String,
}

#[post("/api/v1/admin/users/{id}/password")]
async fn reset_user_password(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<NewPassword>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let id = id.into_inner();
    state
        .db(move |c| users::set_password(c, &actor.audit(), id, &body.password, None))
        .await?;
    Ok(HttpResponse::Ok()
        .json(json!({"changed": true, "sessions_ended": true, "tokens_revoked": true})))
}

// ---- the caller's own settings ----

/// `PUT /api/v1/me`: the caller changes their own name, language or time
/// zone (`{name?, language?, time_zone?}`). Any logged-in user may; a
/// read-only token may not.
#[put("/api/v1/me")]
async fn update_me(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<users::OwnSettings>,
) -> Result<HttpResponse, AppError> {
    if matches!(
        actor.via,
        AuthVia::Token {
            read_only: true,
            ..
        }
    ) {
        return Err(AppError::Forbidden(
            "a read-only token cannot change settings".into(),
        ));
    }
    let body = body.into_inner();
    let u = state
        .db(move |c| users::update_own(c, &actor.audit(), actor.user_id(), &body))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"user": u})))
}

// ---- departments ----

#[get("/api/v1/admin/departments")]
async fn list_departments(
    actor: Actor,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    can_read(&actor)?;
    let list = state.db(|c| Ok(departments::list(c)?)).await?;
    Ok(HttpResponse::Ok().json(json!({"departments": list})))
}

#[post("/api/v1/admin/departments")]
async fn create_department(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<DepartmentInput>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let d = state
        .db(move |c| departments::create(c, &actor.audit(), &body))
        .await?;
    Ok(HttpResponse::Created().json(d))
}

#[put("/api/v1/admin/departments/{id}")]
async fn update_department(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<Versioned<DepartmentInput>>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let id = id.into_inner();
    let b = body.into_inner();
    let d = state
        .db(move |c| departments::update(c, &actor.audit(), id, b.version, &b.data))
        .await?;
    Ok(HttpResponse::Ok().json(d))
}

#[delete("/api/v1/admin/departments/{id}")]
async fn delete_department(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    q: web::Query<VersionOnly>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let id = id.into_inner();
    let v = q.version;
    state
        .db(move |c| departments::delete(c, &actor.audit(), id, v))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"deleted": id})))
}

// ---- roles ----

#[get("/api/v1/admin/roles")]
async fn list_roles(actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    can_read(&actor)?;
    let list = state.db(|c| Ok(roles::list(c)?)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "roles": list,
        "modules": crate::core::access::MODULES,
        "actions": crate::core::access::ACTIONS,
    })))
}

#[post("/api/v1/admin/roles")]
async fn create_role(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<RoleInput>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let r = state
        .db(move |c| roles::create(c, &actor.audit(), &body))
        .await?;
    Ok(HttpResponse::Created().json(r))
}

#[put("/api/v1/admin/roles/{id}")]
async fn update_role(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<Versioned<RoleInput>>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let id = id.into_inner();
    let b = body.into_inner();
    let r = state
        .db(move |c| roles::update(c, &actor.audit(), id, b.version, &b.data))
        .await?;
    Ok(HttpResponse::Ok().json(r))
}

#[delete("/api/v1/admin/roles/{id}")]
async fn delete_role(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    q: web::Query<VersionOnly>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let id = id.into_inner();
    let v = q.version;
    state
        .db(move |c| roles::delete(c, &actor.audit(), id, v))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"deleted": id})))
}

// ---- logs ----

#[derive(Deserialize)]
struct LoginLogQuery {
    user_id: Option<i64>,
    before_id: Option<i64>,
    limit: Option<i64>,
}

#[get("/api/v1/admin/login-log")]
async fn login_log(
    actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<LoginLogQuery>,
) -> Result<HttpResponse, AppError> {
    can_read(&actor)?;
    let q = q.into_inner();
    let rows = state
        .db(move |c| {
            Ok(login::list(
                c,
                q.user_id,
                q.before_id,
                q.limit.unwrap_or(50),
            )?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({"entries": rows})))
}

/// The audit log's query: like [`AuditFilter`], but `from` and `to` may be
/// a day (`2026-12-04`, `to` taking in that whole day) or a UTC time
/// (`2026-12-04T09:30:00`, `to` exclusive), as on the audit page.
#[derive(Deserialize)]
struct AuditQuery {
    user_id: Option<i64>,
    entity: Option<String>,
    record_id: Option<i64>,
    from: Option<String>,
    to: Option<String>,
    before_id: Option<i64>,
    limit: Option<i64>,
}

/// `from`/`to` of the audit query; a date-only `to` is the next midnight.
fn audit_bound(
    field: &str,
    value: Option<&str>,
    is_end: bool,
) -> Result<Option<chrono::NaiveDateTime>, AppError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(day) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let day = if is_end { day.succ_opt() } else { Some(day) };
        return Ok(day.and_then(|d| d.and_hms_opt(0, 0, 0)));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(Some(t.naive_utc()));
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(v, f).ok())
    .map(Some)
    .ok_or_else(|| {
        AppError::invalid(
            field,
            format!("`{v}` is not a date (YYYY-MM-DD) or a UTC time (YYYY-MM-DDTHH:MM:SS)"),
        )
    })
}

#[get("/api/v1/admin/audit")]
async fn audit_log(
    actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    can_read(&actor)?;
    let q = q.into_inner();
    let f = AuditFilter {
        from: audit_bound("from", q.from.as_deref(), false)?,
        to: audit_bound("to", q.to.as_deref(), true)?,
        user_id: q.user_id,
        entity: q.entity,
        record_id: q.record_id,
        before_id: q.before_id,
        limit: q.limit,
    };
    let rows = state.db(move |c| Ok(audit::list(c, &f)?)).await?;
    Ok(HttpResponse::Ok().json(json!({"entries": rows})))
}

// ---- custom fields ----

#[derive(Deserialize)]
struct FieldsQuery {
    entity: Option<String>,
}

/// Every logged-in user may read the definitions (forms and lists need them).
#[get("/api/v1/custom-fields")]
async fn list_fields(
    _actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<FieldsQuery>,
) -> Result<HttpResponse, AppError> {
    let entity = q.into_inner().entity;
    if let Some(e) = &entity
        && !fields::ENTITIES.contains(&e.as_str())
    {
        return Err(AppError::invalid(
            "entity",
            format!("one of {}", fields::ENTITIES.join(", ")),
        ));
    }
    let list = state
        .db(move |c| Ok(fields::list(c, entity.as_deref(), false)?))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"fields": list, "kinds": fields::KINDS})))
}

#[post("/api/v1/custom-fields")]
async fn create_field(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<fields::FieldInput>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let f = state
        .db(move |c| fields::create(c, &actor.audit(), &body))
        .await?;
    Ok(HttpResponse::Created().json(f))
}

#[put("/api/v1/custom-fields/{id}")]
async fn update_field(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<Versioned<fields::FieldInput>>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let id = id.into_inner();
    let b = body.into_inner();
    let f = state
        .db(move |c| fields::update(c, &actor.audit(), id, b.version, &b.data))
        .await?;
    Ok(HttpResponse::Ok().json(f))
}

#[delete("/api/v1/custom-fields/{id}")]
async fn delete_field(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    can_manage(&actor)?;
    let id = id.into_inner();
    state
        .db(move |c| fields::delete(c, &actor.audit(), id))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"deleted": id})))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_fields)
        .service(create_field)
        .service(update_field)
        .service(delete_field);
    cfg.service(update_me);
    cfg.service(list_users)
        .service(create_user)
        .service(get_user)
        .service(update_user)
        .service(set_user_roles)
        .service(set_user_active)
        .service(reset_user_password)
        .service(list_departments)
        .service(create_department)
        .service(update_department)
        .service(delete_department)
        .service(list_roles)
        .service(create_role)
        .service(update_role)
        .service(delete_role)
        .service(login_log)
        .service(audit_log);
}
