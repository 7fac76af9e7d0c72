//! JSON API: `/api/v1/customers`.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use serde_json::{Value, json};

use super::model::{CustomerId, CustomerInput};
use super::store;
use crate::app::AppState;
use crate::core::auth::actor::Actor;
use crate::core::error::AppError;
use crate::core::list;
use crate::core::records::api::{BulkInput, CollaboratorInput, check_bulk, retag, run_bulk};
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
    serde_json::from_value(body.clone()).map_err(|e| {
        let msg = e.to_string();
        // serde names the field in "unknown field `x`" and "missing field
        // `x`"; a wrong type's message quotes the value, not the field, so
        // find the key that alone fails.
        let field = if msg.starts_with("unknown field") || msg.starts_with("missing field") {
            msg.split('`').nth(1).unwrap_or("body").to_string()
        } else {
            body.as_object()
                .and_then(|m| {
                    m.iter().find_map(|(k, v)| {
                        let one = serde_json::json!({ k.as_str(): v });
                        serde_json::from_value::<CustomerInput>(one)
                            .is_err()
                            .then(|| k.clone())
                    })
                })
                .unwrap_or_else(|| "body".to_string())
        };
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
    crate::core::web::request::strip_read_only(&mut body, &["owner_name"]);
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
    crate::core::web::request::strip_read_only(&mut body, &["owner_name"]);
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
    let v = crate::core::records::api::delete_version(&req)?;
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

#[post("/api/v1/customers/{id}/collaborators")]
async fn add_collaborator_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<CollaboratorInput>,
) -> Result<HttpResponse, AppError> {
    let id = CustomerId(id.into_inner());
    let b = body.into_inner();
    let until = b.until()?;
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
    check_bulk(&b, true)?;
    let result = state
        .db(move |conn| {
            Ok(run_bulk(&b.ids, |id| {
                let cid = CustomerId(id);
                let current = store::get(conn, &actor, cid)?;
                let change = match b.action.as_str() {
                    "assign" => json!({ "owner_id": b.owner_id }),
                    "add_tag" | "remove_tag" => json!({ "tags": retag(
                        &json!(current.tags),
                        &b.action,
                        b.tag.as_deref().unwrap_or(""),
                    ) }),
                    _ => return store::delete(conn, &actor, cid, current.version),
                };
                store::update(conn, &actor, cid, current.version, &change, true).map(|_| ())
            }))
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
