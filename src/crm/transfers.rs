//! Ownership transfer (`POST /api/v1/transfers`): move all or chosen
//! customers, contacts, leads, opportunities and open tasks of one user to
//! another, or the customers into a pool — what an administrator runs when
//! someone leaves. One audit entry per record moved.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::core::access::{OwnerFilter, shares};
use crate::core::audit;
use crate::core::auth::actor::Actor;
use crate::core::db::{DbConn, write_tx};
use crate::core::error::AppError;
use crate::core::records::{owner_col, store as records};
use crate::core::sql::Sql;

/// What a transfer can move, in the order it moves them.
pub const ENTITIES: &[&str] = &["customers", "contacts", "leads", "opportunities", "tasks"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    pub from_user_id: i64,
    #[serde(default)]
    pub to_user_id: Option<i64>,
    /// Customers (with their contacts) go into this pool instead.
    #[serde(default)]
    pub to_pool_id: Option<i64>,
    /// Default: all five.
    #[serde(default)]
    pub entities: Option<Vec<String>>,
    /// Only these records per entity; an entity left out moves all of the
    /// user's records.
    #[serde(default)]
    pub ids: BTreeMap<String, Vec<i64>>,
    /// Keep the old owner as a read-only collaborator.
    #[serde(default)]
    pub keep_collaborator: bool,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(diesel::QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// The records of `entity` the transfer would move.
fn selected(
    conn: &mut DbConn,
    entity: &str,
    from: i64,
    only: Option<&Vec<i64>>,
) -> Result<Vec<i64>, AppError> {
    let col = owner_col(entity);
    let mut sql = Sql::new(conn.backend());
    sql.push(&format!("SELECT id FROM {entity} WHERE {col} = "))
        .int(from);
    if entity == "tasks" {
        sql.push(" AND status IN ('open', 'in_progress')");
    }
    if let Some(ids) = only {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        sql.push(" AND id IN ").int_list(ids);
    }
    sql.push(" ORDER BY id");
    let found: Vec<i64> = sql.load::<IdRow>(conn)?.into_iter().map(|r| r.id).collect();
    if let Some(ids) = only
        && let Some(missing) = ids.iter().find(|i| !found.contains(i))
    {
        return Err(AppError::invalid(
            &format!("ids.{entity}"),
            format!(
                "{entity} {missing} is not {}user {from}'s",
                if entity == "tasks" {
                    "an open task of "
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(found)
}

/// Run (or, with `dry_run`, count) a transfer: how many records of each entity moved.
pub fn transfer(
    conn: &mut DbConn,
    actor: &Actor,
    input: &TransferInput,
    now: chrono::NaiveDateTime,
) -> Result<Value, AppError> {
    let entities: Vec<String> = match &input.entities {
        None => ENTITIES.iter().map(|s| s.to_string()).collect(),
        Some(list) if list.is_empty() => {
            return Err(AppError::invalid(
                "entities",
                "name at least one of customers, contacts, leads, opportunities, tasks",
            ));
        }
        Some(list) => list.clone(),
    };
    for e in &entities {
        if !ENTITIES.contains(&e.as_str()) {
            return Err(AppError::invalid(
                "entities",
                format!("`{e}`; one of {}", ENTITIES.join(", ")),
            ));
        }
    }
    for k in input.ids.keys() {
        if !entities.contains(k) {
            return Err(AppError::invalid(
                &format!("ids.{k}"),
                format!("`{k}` is not among the entities moved"),
            ));
        }
    }
    let reason = crate::core::records::limited("reason", &input.reason, 500)?;
    let from = input.from_user_id;
    let exists: Option<String> = {
        use crate::core::db::schema::users;
        use diesel::prelude::*;
        users::table
            .find(from)
            .select(users::name)
            .first(conn)
            .optional()?
    };
    if exists.is_none() {
        return Err(AppError::invalid(
            "from_user_id",
            format!("user {from} does not exist"),
        ));
    }
    if input.keep_collaborator {
        records::check_user(conn, "keep_collaborator", from)?;
    }
    if input.to_user_id == Some(from) {
        return Err(AppError::invalid(
            "to_user_id",
            "the same user as from_user_id",
        ));
    }
    let pool = match input.to_pool_id {
        None => None,
        Some(p) => {
            let pool = crate::crm::pools::read(conn, p)
                .map_err(|_| AppError::invalid("to_pool_id", format!("pool {p} does not exist")))?;
            if !pool.active {
                return Err(AppError::invalid(
                    "to_pool_id",
                    format!("pool \"{}\" is closed", pool.name),
                ));
            }
            Some(pool)
        }
    };
    // Check everything before moving anything.
    let mut plan: Vec<(String, Vec<i64>)> = Vec::new();
    for e in &entities {
        actor.require(e, "transfer")?;
        let reach = match actor.owner_filter(conn, e, "transfer")? {
            OwnerFilter::All => true,
            OwnerFilter::Owners(ids) => ids.contains(&from),
            OwnerFilter::Nothing => false,
        };
        if !reach {
            return Err(AppError::Forbidden(format!(
                "user {from}'s {e} are outside the records you may transfer"
            )));
        }
        let to_pool = e == "customers" && pool.is_some();
        let follows_customers = e == "contacts" && pool.is_some() && input.to_user_id.is_none();
        if !to_pool && !follows_customers {
            let Some(to) = input.to_user_id else {
                return Err(AppError::invalid(
                    "to_user_id",
                    format!("whom do the {e} go to? (only customers go into a pool)"),
                ));
            };
            records::check_owner(conn, actor, e, "to_user_id", to, "transfer")?;
        }
        if follows_customers {
            // Contacts of the pooled customers go with them; no one else takes the rest.
            continue;
        }
        plan.push((e.clone(), selected(conn, e, from, input.ids.get(e))?));
    }
    let mut moved = serde_json::Map::new();
    for (e, ids) in &plan {
        moved.insert(e.clone(), Value::from(ids.len()));
    }
    if input.dry_run {
        return Ok(json!({ "dry_run": true, "moved": moved }));
    }
    let ctx = actor.audit();
    let keep = input.keep_collaborator;
    write_tx(conn, |conn| {
        for (e, ids) in &plan {
            if e == "customers"
                && let Some(pool) = &pool
            {
                let places = crate::crm::pools::places(conn, ids)?;
                let list: Vec<_> = ids.iter().filter_map(|i| places.get(i).cloned()).collect();
                let why = if reason.is_empty() {
                    "ownership transfer"
                } else {
                    reason.as_str()
                };
                crate::crm::pools::put_into(conn, &ctx, pool.id, &list, "transfer", why, now)?;
                continue;
            }
            let Some(to) = input.to_user_id else { continue };
            let col = owner_col(e);
            for chunk in ids.chunks(500) {
                let mut sql = Sql::new(conn.backend());
                sql.push(&format!("UPDATE {e} SET {col} = "))
                    .int(to)
                    .push(", updated_at = ")
                    .ts(now)
                    .push(", updated_by = ")
                    .int(actor.user_id())
                    .push(", version = version + 1");
                if e == "customers" {
                    sql.push(", previous_owner_id = ")
                        .int(from)
                        .push(", owner_since = ")
                        .ts(now);
                }
                sql.push(&format!(" WHERE {col} = "))
                    .int(from)
                    .push(" AND id IN ")
                    .int_list(chunk);
                if sql.execute(conn)? != chunk.len() {
                    return Err(AppError::Conflict(format!(
                        "some {e} changed owner during the transfer; nothing was moved, try again"
                    )));
                }
                for &id in chunk {
                    audit::record(
                        conn,
                        &ctx,
                        "transfer",
                        e,
                        Some(id),
                        &json!({ col: [from, to], "reason": reason }),
                    )?;
                    if keep {
                        shares::share(conn, &ctx, e, id, from, false, None)?;
                    }
                }
            }
        }
        Ok(json!({ "dry_run": false, "moved": moved }))
    })
}

/// `POST /api/v1/transfers`.
#[actix_web::post("/api/v1/transfers")]
async fn transfer_api(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<TransferInput>,
) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let out = state
        .db(move |c| transfer(c, &actor, &body.into_inner(), now))
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(transfer_api);
}
