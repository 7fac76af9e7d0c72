//! `/api/v1/pools`: pool definitions (administrators), browsing a pool,
//! and the actions on its customers. Time comes from the server's clock.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{PoolInput, assign, claim, delete, limits, list, move_to, put, save, visible_pool};
use crate::app::AppState;
use crate::core::auth::actor::Actor;
use crate::core::error::AppError;

#[actix_web::get("/api/v1/pools")]
async fn list_api(actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let items = state.db(move |c| list(c, &actor)).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

#[actix_web::post("/api/v1/pools")]
async fn create_api(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<PoolInput>,
) -> Result<HttpResponse, AppError> {
    let p = state
        .db(move |c| save(c, &actor, None, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(p))
}

#[actix_web::get("/api/v1/pools/{id}")]
async fn get_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let p = state.db(move |c| visible_pool(c, &actor, id)).await?;
    Ok(HttpResponse::Ok().json(p))
}

#[actix_web::put("/api/v1/pools/{id}")]
async fn update_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<PoolInput>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let p = state
        .db(move |c| save(c, &actor, Some(id), body.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

#[actix_web::delete("/api/v1/pools/{id}")]
async fn delete_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    state.db(move |c| delete(c, &actor, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/pools/{id}/customers`: the customers in the pool, with the
/// customer list's q, filter, sort, cursor, limit and total.
#[actix_web::get("/api/v1/pools/{id}/customers")]
async fn customers_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let params = crate::core::list::parse_query(req.query_string())?;
    let page = state
        .db(move |c| {
            visible_pool(c, &actor, id)?;
            crate::crm::customers::store::list_pool(c, &actor, id, &params)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /api/v1/pools/{id}/limits`: the caller's claims today and
/// customers owned against the pool's limits.
#[actix_web::get("/api/v1/pools/{id}/limits")]
async fn limits_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let now = state.clock.now();
    let out = state
        .db(move |c| {
            let p = visible_pool(c, &actor, id)?;
            limits(c, &actor, &p, now)
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ids {
    customer_ids: Vec<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignInput {
    customer_ids: Vec<i64>,
    user_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveInput {
    customer_ids: Vec<i64>,
    to_pool_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutInput {
    customer_ids: Vec<i64>,
    reason: String,
}

fn done(n: usize) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "moved": n }))
}

/// `POST /api/v1/pools/{id}/claim`: `{"customer_ids": [...]}` for oneself.
#[actix_web::post("/api/v1/pools/{id}/claim")]
async fn claim_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<Ids>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let now = state.clock.now();
    let n = state
        .db(move |c| claim(c, &actor, id, &body.customer_ids, now))
        .await?;
    Ok(done(n))
}

/// `POST /api/v1/pools/{id}/assign`: `{"customer_ids", "user_id"}` (pool administrators).
#[actix_web::post("/api/v1/pools/{id}/assign")]
async fn assign_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<AssignInput>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let now = state.clock.now();
    let n = state
        .db(move |c| assign(c, &actor, id, &body.customer_ids, body.user_id, now))
        .await?;
    Ok(done(n))
}

/// `POST /api/v1/pools/{id}/move`: `{"customer_ids", "to_pool_id"}` (pool administrators).
#[actix_web::post("/api/v1/pools/{id}/move")]
async fn move_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<MoveInput>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let now = state.clock.now();
    let n = state
        .db(move |c| move_to(c, &actor, id, &body.customer_ids, body.to_pool_id, now))
        .await?;
    Ok(done(n))
}

/// `POST /api/v1/pools/{id}/put`: `{"customer_ids", "reason"}`: give up
/// customers one may edit.
#[actix_web::post("/api/v1/pools/{id}/put")]
async fn put_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<PutInput>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let now = state.clock.now();
    let n = state
        .db(move |c| put(c, &actor, id, &body.customer_ids, &body.reason, now))
        .await?;
    Ok(done(n))
}

/// `POST /api/v1/pools/returns` (administrators): apply the pools' return
/// rules now instead of waiting for the scheduled job.
#[actix_web::post("/api/v1/pools/returns")]
async fn returns_api(actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    actor.require("admin", "manage")?;
    let clock = state.clock.clone();
    let settings = state.settings.clone();
    let summary = state
        .db(move |c| {
            let job = super::returns_job();
            let ctx = crate::core::jobs::JobCtx {
                clock: clock.as_ref(),
                settings: &settings,
            };
            match crate::core::jobs::run_once(c, &job, &ctx) {
                crate::core::jobs::Ran::Done(s) => Ok(s),
                crate::core::jobs::Ran::Busy => Err(AppError::Conflict(
                    "the pool returns are running right now; try again in a minute".into(),
                )),
                crate::core::jobs::Ran::Failed(e) => Err(AppError::Internal(e)),
                // run_once does not look at the schedule.
                crate::core::jobs::Ran::NotDue(_) => Ok("not due".to_string()),
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "summary": summary })))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_api)
        .service(create_api)
        .service(returns_api)
        .service(get_api)
        .service(update_api)
        .service(delete_api)
        .service(customers_api)
        .service(limits_api)
        .service(claim_api)
        .service(assign_api)
        .service(move_api)
        .service(put_api);
}
