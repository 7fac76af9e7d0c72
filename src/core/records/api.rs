//! The JSON API every [`EntitySpec`] gets under `/api/v1/<name>`: list,
//! create, read, PATCH, PUT, DELETE (naming the version read), bulk actions
//! and collaborators.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{EntitySpec, store};
use crate::app::AppState;
use crate::core::auth::actor::Actor;
use crate::core::error::AppError;
use crate::core::list;
use crate::core::web::request::{take_flags, version};

type Spec = web::Data<&'static EntitySpec>;

/// A JSON object body, with `confirm_duplicates` split off.
fn object(spec: &EntitySpec, body: Value) -> Result<(Map<String, Value>, bool), AppError> {
    let mut body = body;
    let confirm = take_flags(&mut body)?;
    let derived_name = format!("{}_name", spec.owner_col.trim_end_matches("_id"));
    crate::core::web::request::strip_read_only(&mut body, &[derived_name.as_str()]);
    match body {
        Value::Object(m) => Ok((m, confirm)),
        _ => Err(AppError::invalid("body", "send a JSON object")),
    }
}

async fn list_api(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    spec: Spec,
) -> Result<HttpResponse, AppError> {
    let params = list::parse_query(req.query_string())?;
    let spec: &'static EntitySpec = &spec;
    let page = state
        .db(move |c| store::list(c, &actor, spec, &params))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn create_api(
    actor: Actor,
    state: web::Data<AppState>,
    spec: Spec,
    body: web::Json<Value>,
) -> Result<HttpResponse, AppError> {
    let spec: &'static EntitySpec = &spec;
    let (input, confirm) = object(spec, body.into_inner())?;
    let r = state
        .db(move |c| store::create(c, &actor, spec, &input, confirm))
        .await?;
    Ok(HttpResponse::Created().json(r))
}

async fn get_api(
    actor: Actor,
    state: web::Data<AppState>,
    spec: Spec,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let spec: &'static EntitySpec = &spec;
    let r = state.db(move |c| store::get(c, &actor, spec, id)).await?;
    Ok(HttpResponse::Ok().json(r))
}

async fn write(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    spec: Spec,
    id: i64,
    body: Value,
    replace: bool,
) -> Result<HttpResponse, AppError> {
    let v = version(&req, Some(&body))?;
    let spec: &'static EntitySpec = &spec;
    let (changes, confirm) = object(spec, body)?;
    let r = state
        .db(move |c| store::update(c, &actor, spec, id, v, &changes, confirm, replace))
        .await?;
    Ok(HttpResponse::Ok().json(r))
}

async fn patch_api(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    spec: Spec,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> Result<HttpResponse, AppError> {
    write(
        req,
        actor,
        state,
        spec,
        id.into_inner(),
        body.into_inner(),
        false,
    )
    .await
}

async fn put_api(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    spec: Spec,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> Result<HttpResponse, AppError> {
    write(
        req,
        actor,
        state,
        spec,
        id.into_inner(),
        body.into_inner(),
        true,
    )
    .await
}

/// The version a DELETE names: `?version=N` or `If-Match`.
pub fn delete_version(req: &HttpRequest) -> Result<i32, AppError> {
    let body = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "version")
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .map(|v| json!({ "version": v }));
    version(req, body.as_ref())
}

async fn delete_api(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    spec: Spec,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let v = delete_version(&req)?;
    let spec: &'static EntitySpec = &spec;
    state
        .db(move |c| store::delete(c, &actor, spec, id, v))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": id })))
}

async fn collaborators_api(
    actor: Actor,
    state: web::Data<AppState>,
    spec: Spec,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let spec: &'static EntitySpec = &spec;
    let list = state
        .db(move |c| store::collaborators(c, &actor, spec, id))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "collaborators": list })))
}

/// `{user_id, can_write?, until?}` for sharing a record.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollaboratorInput {
    pub user_id: i64,
    #[serde(default)]
    pub can_write: bool,
    #[serde(default)]
    pub until: Option<String>,
}

impl CollaboratorInput {
    pub fn until(&self) -> Result<Option<chrono::NaiveDateTime>, AppError> {
        match self
            .until
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => Ok(None),
            Some(s) => crate::core::fields::parse_datetime(s)
                .map(Some)
                .ok_or_else(|| AppError::invalid("until", format!("`{s}` is not a date-time"))),
        }
    }
}

async fn add_collaborator_api(
    actor: Actor,
    state: web::Data<AppState>,
    spec: Spec,
    id: web::Path<i64>,
    body: web::Json<CollaboratorInput>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let b = body.into_inner();
    let until = b.until()?;
    let spec: &'static EntitySpec = &spec;
    let list = state
        .db(move |c| {
            store::set_collaborator(c, &actor, spec, id, b.user_id, Some((b.can_write, until)))
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "collaborators": list })))
}

async fn remove_collaborator_api(
    actor: Actor,
    state: web::Data<AppState>,
    spec: Spec,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (id, user_id) = path.into_inner();
    let spec: &'static EntitySpec = &spec;
    let list = state
        .db(move |c| store::set_collaborator(c, &actor, spec, id, user_id, None))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "collaborators": list })))
}

/// `{ids, action, owner_id?, tag?}` for a bulk action.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkInput {
    pub ids: Vec<i64>,
    pub action: String,
    #[serde(default)]
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub tag: Option<String>,
}

/// The bulk actions and what each needs; `tags` says whether the entity
/// has tags.
pub fn check_bulk(b: &BulkInput, tags: bool) -> Result<(), AppError> {
    if b.ids.is_empty() || b.ids.len() > 500 {
        return Err(AppError::invalid("ids", "between 1 and 500 ids"));
    }
    let actions: &[&str] = if tags {
        &["assign", "add_tag", "remove_tag", "delete"]
    } else {
        &["assign", "delete"]
    };
    if !actions.contains(&b.action.as_str()) {
        return Err(AppError::invalid(
            "action",
            format!("one of {}", actions.join(", ")),
        ));
    }
    if b.action == "assign" && b.owner_id.is_none() {
        return Err(AppError::invalid("owner_id", "who gets the records?"));
    }
    if b.action.ends_with("_tag") && b.tag.as_deref().is_none_or(|t| t.trim().is_empty()) {
        return Err(AppError::invalid("tag", "which tag?"));
    }
    Ok(())
}

/// Run `one` for every id; the answer lists what was done and what was
/// refused and why.
pub fn run_bulk(ids: &[i64], mut one: impl FnMut(i64) -> Result<(), AppError>) -> Value {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for &id in ids {
        match one(id) {
            Ok(()) => done.push(id),
            Err(e) => failed.push(json!({"id": id, "error": e.code(), "message": e.to_string()})),
        }
    }
    json!({ "done": done, "failed": failed })
}

/// The tag list after adding or removing one.
pub fn retag(current: &Value, action: &str, tag: &str) -> Value {
    let mut tags: Vec<String> = current
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let tag = tag.trim().to_string();
    if action == "add_tag" {
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    } else {
        tags.retain(|t| t != &tag);
    }
    Value::from(tags)
}

async fn bulk_api(
    actor: Actor,
    state: web::Data<AppState>,
    spec: Spec,
    body: web::Json<BulkInput>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    let spec: &'static EntitySpec = &spec;
    check_bulk(&b, spec.field("tags").is_some())?;
    let result = state
        .db(move |conn| {
            Ok(run_bulk(&b.ids, |id| {
                let cur = store::get(conn, &actor, spec, id)?;
                let v = cur
                    .get("version")
                    .and_then(Value::as_i64)
                    .unwrap_or_default() as i32;
                let mut change = Map::new();
                match b.action.as_str() {
                    "assign" => {
                        change.insert(spec.owner_col.into(), Value::from(b.owner_id));
                    }
                    "add_tag" | "remove_tag" => {
                        let tags = cur.get("tags").cloned().unwrap_or(Value::Null);
                        let tag = b.tag.as_deref().unwrap_or("");
                        change.insert("tags".into(), retag(&tags, &b.action, tag));
                    }
                    _ => return store::delete(conn, &actor, spec, id, v),
                }
                store::update(conn, &actor, spec, id, v, &change, true, false).map(|_| ())
            }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// The routes of one entity; `extra` adds its own (registered first, so
/// fixed paths win over `{id}`).
pub fn scope(
    spec: &'static EntitySpec,
    extra: impl FnOnce(&mut web::ServiceConfig),
) -> actix_web::Scope {
    web::scope(&format!("/api/v1/{}", spec.name))
        .app_data(web::Data::new(spec))
        .configure(extra)
        .route("", web::get().to(list_api))
        .route("", web::post().to(create_api))
        .route("/bulk", web::post().to(bulk_api))
        .route("/{id}", web::get().to(get_api))
        .route("/{id}", web::patch().to(patch_api))
        .route("/{id}", web::put().to(put_api))
        .route("/{id}", web::delete().to(delete_api))
        .route("/{id}/collaborators", web::get().to(collaborators_api))
        .route("/{id}/collaborators", web::post().to(add_collaborator_api))
        .route(
            "/{id}/collaborators/{user_id}",
            web::delete().to(remove_collaborator_api),
        )
}

/// Paths and methods [`scope`] serves, for the OpenAPI document.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", ""),
    ("post", ""),
    ("post", "/bulk"),
    ("get", "/{id}"),
    ("patch", "/{id}"),
    ("put", "/{id}"),
    ("delete", "/{id}"),
    ("get", "/{id}/collaborators"),
    ("post", "/{id}/collaborators"),
    ("delete", "/{id}/collaborators/{user_id}"),
];
