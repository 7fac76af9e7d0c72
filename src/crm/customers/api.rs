//! JSON API: `/api/v1/customers`.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{CustomerId, CustomerInput};
use super::store;
use crate::app::AppState;
use crate::core::auth::actor::Actor;
use crate::core::error::AppError;
use crate::core::list;
use crate::core::web::request::{take_flags, version};

#[get("/api/v1/customers")]
async fn list_api(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let params = list::parse_query(req.query_string())?;
    let page = state.db(move |c| store::list(c, &actor, &params)).await?;
    Ok(HttpResponse::Ok().json(page))
}

fn input_from(body: Value) -> Result<CustomerInput, AppError> {
    serde_json::from_value(body).map_err(|e| {
        let msg = e.to_string();
        // serde names the field in "unknown field `x`" and "invalid type … at `x`".
        let field = msg
            .split('`')
            .nth(1)
            .map(str::to_string)
            .unwrap_or_else(|| "body".into());
        AppError::Invalid {
            field: Some(field),
            message: msg,
        }
    })
}

#[post("/api/v1/customers")]
async fn create_api(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, AppError> {
    let mut body = body.into_inner();
    let confirm = take_flags(&mut body)?;
    let input = input_from(body)?;
    let c = state
        .db(move |conn| store::create(conn, &actor, &input, confirm))
        .await?;
    Ok(HttpResponse::Created().json(c))
}

#[get("/api/v1/customers/{id}")]
async fn get_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = CustomerId(id.into_inner());
    let c = state.db(move |conn| store::get(conn, &actor, id)).await?;
    Ok(HttpResponse::Ok().json(c))
}

/// An update naming the version read; `replace` resets the fields left out.
async fn write(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    id: i64,
    body: Value,
    replace: bool,
) -> Result<HttpResponse, AppError> {
    let id = CustomerId(id);
    let mut body = body;
    let v = version(&req, Some(&body))?;
    let confirm = take_flags(&mut body)?;
    let changes = if replace {
        serde_json::to_value(input_from(body)?).unwrap_or_default()
    } else {
        body
    };
    let c = state
        .db(move |conn| store::update(conn, &actor, id, v, &changes, confirm))
        .await?;
    Ok(HttpResponse::Ok().json(c))
}

/// Change some fields (a partial update).
#[patch("/api/v1/customers/{id}")]
async fn patch_api(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> Result<HttpResponse, AppError> {
    write(req, actor, state, id.into_inner(), body.into_inner(), false).await
}

/// Replace the customer: fields left out are reset to their defaults.
#[put("/api/v1/customers/{id}")]
async fn put_api(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<Value>,
) -> Result<HttpResponse, AppError> {
    write(req, actor, state, id.into_inner(), body.into_inner(), true).await
}

#[delete("/api/v1/customers/{id}")]
async fn delete_api(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = CustomerId(id.into_inner());
    let q: Value = serde_json::to_value(
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    let body = q
        .get("version")
        .and_then(|v| v.as_str())
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| json!({ "version": v }));
    let v = version(&req, body.as_ref())?;
    state
        .db(move |conn| store::delete(conn, &actor, id, v))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"deleted": id})))
}

#[get("/api/v1/customers/{id}/collaborators")]
async fn collaborators_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = CustomerId(id.into_inner());
    let list = state
        .db(move |conn| store::collaborators(conn, &actor, id))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "collaborators": list })))
}

#[derive(Deserialize)]
struct CollaboratorInput {
    user_id: i64,
    #[serde(default)]
    can_write: bool,
    #[serde(default)]
    until: Option<String>,
}

#[post("/api/v1/customers/{id}/collaborators")]
async fn add_collaborator_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<CollaboratorInput>,
) -> Result<HttpResponse, AppError> {
    let id = CustomerId(id.into_inner());
    let b = body.into_inner();
    let until = match b.until.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            crate::core::fields::parse_datetime(s)
                .ok_or_else(|| AppError::invalid("until", format!("`{s}` is not a date-time")))?,
        ),
    };
    let list = state
        .db(move |conn| store::add_collaborator(conn, &actor, id, b.user_id, b.can_write, until))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "collaborators": list })))
}

#[delete("/api/v1/customers/{id}/collaborators/{user_id}")]
async fn remove_collaborator_api(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (id, user_id) = path.into_inner();
    let list = state
        .db(move |conn| store::remove_collaborator(conn, &actor, CustomerId(id), user_id))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "collaborators": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkInput {
    ids: Vec<i64>,
    action: String,
    #[serde(default)]
    owner_id: Option<i64>,
    #[serde(default)]
    tag: Option<String>,
}

/// Assign an owner, add or remove a tag, or delete, for many customers. Each
/// is checked like a single change; the answer lists what was done and what
/// was refused and why.
#[post("/api/v1/customers/bulk")]
async fn bulk_api(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<BulkInput>,
) -> Result<HttpResponse, AppError> {
    let b = body.into_inner();
    if b.ids.is_empty() || b.ids.len() > 500 {
        return Err(AppError::invalid("ids", "between 1 and 500 customer ids"));
    }
    if !["assign", "add_tag", "remove_tag", "delete"].contains(&b.action.as_str()) {
        return Err(AppError::invalid(
            "action",
            "assign, add_tag, remove_tag or delete",
        ));
    }
    if b.action == "assign" && b.owner_id.is_none() {
        return Err(AppError::invalid("owner_id", "who gets the customers?"));
    }
    if b.action.ends_with("_tag") && b.tag.as_deref().is_none_or(|t| t.trim().is_empty()) {
        return Err(AppError::invalid("tag", "which tag?"));
    }
    let result = state
        .db(move |conn| {
            let mut done = Vec::new();
            let mut failed = Vec::new();
            for id in b.ids {
                let cid = CustomerId(id);
                let outcome = (|| -> Result<(), AppError> {
                    let current = store::get(conn, &actor, cid)?;
                    match b.action.as_str() {
                        "assign" => {
                            store::update(
                                conn,
                                &actor,
                                cid,
                                current.version,
                                &json!({ "owner_id": b.owner_id }),
                                true,
                            )?;
                        }
                        "add_tag" | "remove_tag" => {
                            let tag = b.tag.clone().unwrap_or_default().trim().to_string();
                            let mut tags = current.tags.clone();
                            if b.action == "add_tag" {
                                if !tags.contains(&tag) {
                                    tags.push(tag);
                                }
                            } else {
                                tags.retain(|t| t != &tag);
                            }
                            store::update(
                                conn,
                                &actor,
                                cid,
                                current.version,
                                &json!({ "tags": tags }),
                                true,
                            )?;
                        }
                        _ => store::delete(conn, &actor, cid, current.version)?,
                    }
                    Ok(())
                })();
                match outcome {
                    Ok(()) => done.push(id),
                    Err(e) => {
                        failed.push(json!({"id": id, "error": e.code(), "message": e.to_string()}))
                    }
                }
            }
            Ok(json!({ "done": done, "failed": failed }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // /bulk before /{id} so it is not taken for an id.
    cfg.service(bulk_api)
        .service(list_api)
        .service(create_api)
        .service(get_api)
        .service(patch_api)
        .service(put_api)
        .service(delete_api)
        .service(collaborators_api)
        .service(add_collaborator_api)
        .service(remove_collaborator_api);
}
