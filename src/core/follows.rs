//! Following (关注) a record: a personal bookmark behind the "followed"
//! list view. Only records the user can see can be followed.

use actix_web::{HttpResponse, delete, get, put, web};
use diesel::prelude::*;
use serde_json::json;

use crate::app::AppState;
use crate::core::auth::actor::Actor;
use crate::core::db::schema::record_follows;
use crate::core::db::{DbConn, now};
use crate::core::error::AppError;
use crate::core::sql::Sql;

/// Entities that can be followed.
pub const ENTITIES: &[&str] = &["customers", "contacts", "leads", "opportunities", "tasks"];

fn check(conn: &mut DbConn, actor: &Actor, entity: &str, id: i64) -> Result<(), AppError> {
    if !ENTITIES.contains(&entity) {
        return Err(AppError::invalid(
            "entity",
            format!("`{entity}`; one of {}", ENTITIES.join(", ")),
        ));
    }
    if !crate::core::records::store::visible(conn, actor, entity, id)? {
        return Err(AppError::NotFound(format!("{entity} {id} not found")));
    }
    Ok(())
}

/// Forget every follow of a record (it is being deleted).
pub fn remove_all(conn: &mut DbConn, entity: &str, id: i64) -> QueryResult<usize> {
    diesel::delete(
        record_follows::table
            .filter(record_follows::entity.eq(entity))
            .filter(record_follows::record_id.eq(id)),
    )
    .execute(conn)
}

/// Append ` AND id IN (records of `entity` that `user_id` follows)`.
pub fn push_followed(sql: &mut Sql, entity: &str, user_id: i64) {
    sql.push(" AND id IN (SELECT record_id FROM record_follows WHERE entity = ")
        .text(entity)
        .push(" AND user_id = ")
        .int(user_id)
        .push(")");
}

/// Does `user_id` follow record `id` of `entity`?
pub fn is_following(conn: &mut DbConn, user_id: i64, entity: &str, id: i64) -> QueryResult<bool> {
    let n: i64 = record_follows::table
        .filter(record_follows::user_id.eq(user_id))
        .filter(record_follows::entity.eq(entity))
        .filter(record_follows::record_id.eq(id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Follow (or stop following) a record the actor may see.
pub fn set(
    conn: &mut DbConn,
    actor: &Actor,
    entity: &str,
    id: i64,
    follow: bool,
) -> Result<(), AppError> {
    if follow {
        check(conn, actor, entity, id)?;
        if !is_following(conn, actor.user_id(), entity, id)? {
            diesel::insert_into(record_follows::table)
                .values((
                    record_follows::user_id.eq(actor.user_id()),
                    record_follows::entity.eq(entity),
                    record_follows::record_id.eq(id),
                    record_follows::created_at.eq(now()),
                ))
                .execute(conn)?;
        }
    } else {
        diesel::delete(
            record_follows::table
                .filter(record_follows::user_id.eq(actor.user_id()))
                .filter(record_follows::entity.eq(entity))
                .filter(record_follows::record_id.eq(id)),
        )
        .execute(conn)?;
    }
    Ok(())
}

#[put("/api/v1/follows/{entity}/{id}")]
async fn follow_api(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, AppError> {
    let (entity, id) = path.into_inner();
    state
        .db(move |conn| set(conn, &actor, &entity, id, true))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "following": true })))
}

#[delete("/api/v1/follows/{entity}/{id}")]
async fn unfollow_api(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, AppError> {
    let (entity, id) = path.into_inner();
    state
        .db(move |conn| set(conn, &actor, &entity, id, false))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "following": false })))
}

#[derive(serde::Deserialize)]
struct EntityQuery {
    entity: String,
}

/// The ids of the records of one entity the caller follows.
#[get("/api/v1/follows")]
async fn list_api(
    actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<EntityQuery>,
) -> Result<HttpResponse, AppError> {
    let entity = q.into_inner().entity;
    if !ENTITIES.contains(&entity.as_str()) {
        return Err(AppError::invalid(
            "entity",
            format!("`{entity}`; one of {}", ENTITIES.join(", ")),
        ));
    }
    let ids = state
        .db(move |conn| {
            Ok(record_follows::table
                .filter(record_follows::user_id.eq(actor.user_id()))
                .filter(record_follows::entity.eq(&entity))
                .order(record_follows::record_id)
                .select(record_follows::record_id)
                .load::<i64>(conn)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "ids": ids })))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(follow_api)
        .service(unfollow_api)
        .service(list_api);
}
