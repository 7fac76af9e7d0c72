//! Saved views (场景): a user's named list definitions (search, filters,
//! sort, built-in view) per entity, usable as `view=<id>` on any list.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::core::auth::actor::Actor;
use crate::core::db::schema::saved_views;
use crate::core::db::{DbConn, now};
use crate::core::error::AppError;
use crate::core::list::{Filter, ListParams};
use crate::core::web::request::version;

/// What a saved view holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Definition {
    pub q: Option<String>,
    pub filters: Vec<Filter>,
    pub sort: Option<String>,
    /// A built-in view key to start from (`mine`, `due_today`, ...).
    pub view: Option<String>,
    /// Columns the list shows, in order (for the UI's column chooser).
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SavedView {
    pub id: i64,
    pub entity: String,
    pub name: String,
    pub definition: Definition,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

type Row = (
    i64,
    String,
    String,
    String,
    NaiveDateTime,
    NaiveDateTime,
    i32,
);

fn from_row(r: Row) -> SavedView {
    SavedView {
        id: r.0,
        entity: r.1,
        name: r.2,
        definition: serde_json::from_str(&r.3).unwrap_or_default(),
        created_at: r.4,
        updated_at: r.5,
        version: r.6,
    }
}

const COLS: (
    saved_views::id,
    saved_views::entity,
    saved_views::name,
    saved_views::definition,
    saved_views::created_at,
    saved_views::updated_at,
    saved_views::version,
) = (
    saved_views::id,
    saved_views::entity,
    saved_views::name,
    saved_views::definition,
    saved_views::created_at,
    saved_views::updated_at,
    saved_views::version,
);

fn own(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<SavedView, AppError> {
    saved_views::table
        .filter(saved_views::id.eq(id))
        .filter(saved_views::user_id.eq(actor.user_id()))
        .select(COLS)
        .first::<Row>(conn)
        .optional()?
        .map(from_row)
        .ok_or_else(|| AppError::NotFound(format!("saved view {id} not found")))
}

/// The list parameters with a saved view (`view=<id>`) expanded: its filters
/// come before the request's, and the request's search and sort win.
pub fn resolve(
    conn: &mut DbConn,
    actor: &Actor,
    entity: &str,
    p: &ListParams,
) -> Result<ListParams, AppError> {
    let Some(id) = p.view.as_deref().and_then(|v| v.parse::<i64>().ok()) else {
        return Ok(p.clone());
    };
    let v = own(conn, actor, id)
        .map_err(|_| AppError::invalid("view", format!("saved view {id} is not one of yours")))?;
    if v.entity != entity {
        return Err(AppError::invalid(
            "view",
            format!("saved view {id} lists {}, not {entity}", v.entity),
        ));
    }
    let d = v.definition;
    let mut filters = d.filters;
    filters.extend(p.filters.iter().cloned());
    Ok(ListParams {
        q: p.q.clone().or(d.q),
        filters,
        sort: p.sort.clone().or(d.sort),
        cursor: p.cursor.clone(),
        limit: p.limit,
        view: d.view,
        total: p.total,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewInput {
    entity: Option<String>,
    name: Option<String>,
    definition: Option<Definition>,
    #[serde(default)]
    #[expect(dead_code, reason = "read from the body by `version`")]
    version: Option<i64>,
}

fn check_name(name: &str) -> Result<String, AppError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 60 {
        return Err(AppError::invalid("name", "a name of 1 to 60 characters"));
    }
    Ok(n.to_string())
}

/// Checks a definition against the columns, custom fields and views of its
/// entity (set by the business modules, which know them).
pub type Checker = fn(&mut DbConn, &str, &Definition) -> Result<(), AppError>;

static CHECKER: std::sync::OnceLock<Checker> = std::sync::OnceLock::new();

/// Register the business modules' definition check (once, at start).
pub fn set_checker(check: Checker) {
    let _ = CHECKER.set(check);
}

fn check_against_entity(conn: &mut DbConn, entity: &str, d: &Definition) -> Result<(), AppError> {
    match CHECKER.get() {
        Some(check) => check(conn, entity, d),
        None => Ok(()),
    }
}

fn check_definition(d: &Definition) -> Result<String, AppError> {
    if d.filters.len() > 30 {
        return Err(AppError::invalid("definition", "at most 30 filters"));
    }
    if let Some(v) = &d.view
        && v.parse::<i64>().is_ok()
    {
        return Err(AppError::invalid(
            "definition.view",
            "a saved view starts from a built-in view, not another saved view",
        ));
    }
    serde_json::to_string(d).map_err(|e| AppError::Internal(e.to_string()))
}

fn parse_body(body: Value) -> Result<ViewInput, AppError> {
    serde_json::from_value(body).map_err(|e| AppError::invalid("body", e.to_string()))
}

/// The actor's saved views, for one list or all.
pub fn mine(
    conn: &mut DbConn,
    actor: &Actor,
    entity: Option<&str>,
) -> Result<Vec<SavedView>, AppError> {
    let mut query = saved_views::table
        .filter(saved_views::user_id.eq(actor.user_id()))
        .into_boxed();
    if let Some(e) = entity {
        query = query.filter(saved_views::entity.eq(e.to_string()));
    }
    Ok(query
        .order((saved_views::entity, saved_views::name))
        .select(COLS)
        .load::<Row>(conn)?
        .into_iter()
        .map(from_row)
        .collect())
}

/// Save a view of `entity`'s list for the actor.
pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    entity: &str,
    name: &str,
    definition: &Definition,
) -> Result<SavedView, AppError> {
    let name = check_name(name)?;
    let def = check_definition(definition)?;
    if CHECKER.get().is_none() && !crate::core::fields::ENTITIES.contains(&entity) {
        return Err(AppError::invalid(
            "entity",
            format!(
                "`{entity}`; one of {}",
                crate::core::fields::ENTITIES.join(", ")
            ),
        ));
    }
    check_against_entity(conn, entity, definition)?;
    let t = now();
    let id: i64 = diesel::insert_into(saved_views::table)
        .values((
            saved_views::user_id.eq(actor.user_id()),
            saved_views::entity.eq(entity),
            saved_views::name.eq(&name),
            saved_views::definition.eq(&def),
            saved_views::created_at.eq(t),
            saved_views::updated_at.eq(t),
            saved_views::version.eq(1),
        ))
        .returning(saved_views::id)
        .get_result(conn)?;
    own(conn, actor, id)
}

/// Delete one of the actor's saved views.
pub fn remove(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), AppError> {
    own(conn, actor, id)?;
    diesel::delete(saved_views::table.filter(saved_views::id.eq(id))).execute(conn)?;
    Ok(())
}

#[derive(Deserialize)]
struct EntityQuery {
    entity: Option<String>,
}

#[get("/api/v1/views")]
async fn list_api(
    actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<EntityQuery>,
) -> Result<HttpResponse, AppError> {
    let entity = q.into_inner().entity;
    let views = state
        .db(move |conn| mine(conn, &actor, entity.as_deref()))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "views": views })))
}

#[post("/api/v1/views")]
async fn create_api(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, AppError> {
    let input = parse_body(body.into_inner())?;
    let entity = input
        .entity
        .ok_or_else(|| AppError::invalid("entity", "which list the view is for"))?;
    let name = input.name.unwrap_or_default();
    let definition = input.definition.unwrap_or_default();
    let v = state
        .db(move |conn| create(conn, &actor, &entity, &name, &definition))
        .await?;
    Ok(HttpResponse::Created().json(v))
}

#[patch("/api/v1/views/{id}")]
async fn update_api(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let body = body.into_inner();
    let ver = version(&req, Some(&body))?;
    let input = parse_body(body)?;
    if input.entity.is_some() {
        return Err(AppError::invalid(
            "entity",
            "a view stays with its list; create a new one instead",
        ));
    }
    let name = input.name.as_deref().map(check_name).transpose()?;
    let def = input
        .definition
        .as_ref()
        .map(check_definition)
        .transpose()?;
    let checked = input.definition.clone();
    let v = state
        .db(move |conn| {
            let cur = own(conn, &actor, id)?;
            if let Some(d) = &checked {
                check_against_entity(conn, &cur.entity, d)?;
            }
            let n = diesel::update(
                saved_views::table
                    .filter(saved_views::id.eq(id))
                    .filter(saved_views::version.eq(ver)),
            )
            .set((
                saved_views::name.eq(name.unwrap_or(cur.name.clone())),
                saved_views::definition.eq(def
                    .unwrap_or_else(|| serde_json::to_string(&cur.definition).unwrap_or_default())),
                saved_views::updated_at.eq(now()),
                saved_views::version.eq(saved_views::version + 1),
            ))
            .execute(conn)?;
            if n == 0 {
                return Err(AppError::stale(&format!("view \"{}\"", cur.name), &cur));
            }
            own(conn, &actor, id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(v))
}

#[delete("/api/v1/views/{id}")]
async fn delete_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    state.db(move |conn| remove(conn, &actor, id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": id })))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_api)
        .service(create_api)
        .service(update_api)
        .service(delete_api);
}
