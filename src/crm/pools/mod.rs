//! Customer pools (公海): customers nobody owns, which members may claim and
//! pool administrators assign. Customers come in by hand (with a reason),
//! by an ownership transfer, or automatically when the pool's rules say
//! their owner let them go stale (a job, see [`run_returns`]).
//!
//! Which pool's rules apply to a customer: the first active pool (by id)
//! whose members include its owner. A pooled customer has no owner, its
//! `pool_id` set and `pooled_at`; after a claim `pool_id` stays as the pool
//! it came from. Contacts follow their customer in and out.

pub mod api;
pub mod rules;

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::core::audit::{self, AuditCtx};
use crate::core::auth::actor::Actor;
use crate::core::db::schema::{customers, pool_events as ev, pool_members as pm, pools, users};
use crate::core::db::{DbConn, write_tx};
use crate::core::error::AppError;
use crate::core::records::limited;
use crate::core::sql::Sql;
use rules::{Facts, Rules};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub department_id: Option<i64>,
    #[serde(default)]
    pub is_admin: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pool {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub active: bool,
    pub rules: Rules,
    pub members: Vec<Member>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub rules: Rules,
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub version: Option<i32>,
}

fn yes() -> bool {
    true
}

fn not_found(id: i64) -> AppError {
    AppError::NotFound(format!("pool {id} not found"))
}

type PoolRow = (
    i64,
    String,
    String,
    bool,
    String,
    NaiveDateTime,
    NaiveDateTime,
    i32,
);

fn assemble(conn: &mut DbConn, rows: Vec<PoolRow>) -> Result<Vec<Pool>, AppError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let members: Vec<(i64, Option<i64>, Option<i64>, bool)> = pm::table
        .filter(pm::pool_id.eq_any(&ids))
        .order(pm::id)
        .select((pm::pool_id, pm::user_id, pm::department_id, pm::is_admin))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| Pool {
            id: r.0,
            name: r.1,
            description: r.2,
            active: r.3,
            rules: serde_json::from_str(&r.4).unwrap_or_default(),
            members: members
                .iter()
                .filter(|m| m.0 == r.0)
                .map(|m| Member {
                    user_id: m.1,
                    department_id: m.2,
                    is_admin: m.3,
                })
                .collect(),
            created_at: r.5,
            updated_at: r.6,
            version: r.7,
        })
        .collect())
}

fn load_pools(conn: &mut DbConn, id: Option<i64>) -> Result<Vec<Pool>, AppError> {
    let mut q = pools::table
        .select((
            pools::id,
            pools::name,
            pools::description,
            pools::active,
            pools::rules,
            pools::created_at,
            pools::updated_at,
            pools::version,
        ))
        .order(pools::id)
        .into_boxed();
    if let Some(id) = id {
        q = q.filter(pools::id.eq(id));
    }
    let rows: Vec<PoolRow> = q.load(conn)?;
    assemble(conn, rows)
}

/// A pool by id (callers check access).
pub fn read(conn: &mut DbConn, id: i64) -> Result<Pool, AppError> {
    load_pools(conn, Some(id))?
        .pop()
        .ok_or_else(|| not_found(id))
}

/// Active users who are members of the pool, directly or by department.
pub fn member_ids(conn: &mut DbConn, pool: &Pool) -> Result<Vec<i64>, AppError> {
    let direct: Vec<i64> = pool.members.iter().filter_map(|m| m.user_id).collect();
    let depts: Vec<i64> = pool
        .members
        .iter()
        .filter_map(|m| m.department_id)
        .collect();
    let mut ids: Vec<i64> = users::table
        .filter(users::active.eq(true))
        .filter(
            users::id
                .eq_any(&direct)
                .or(users::department_id.eq_any(&depts)),
        )
        .select(users::id)
        .load(conn)?;
    ids.sort_unstable();
    Ok(ids)
}

fn is_member(pool: &Pool, user_id: i64, department_id: Option<i64>) -> bool {
    pool.members.iter().any(|m| {
        m.user_id == Some(user_id)
            || (m.department_id.is_some() && m.department_id == department_id)
    })
}

/// May the actor work in the pool (browse, claim)?
pub fn actor_is_member(pool: &Pool, actor: &Actor) -> bool {
    actor.can("admin", "manage") || is_member(pool, actor.user_id(), actor.user.department_id)
}

/// May the actor assign and move the pool's customers?
pub fn actor_is_admin(pool: &Pool, actor: &Actor) -> bool {
    actor.can("admin", "manage")
        || pool
            .members
            .iter()
            .any(|m| m.is_admin && m.user_id == Some(actor.user_id()))
}

/// The pool, if the actor is one of its members (404 otherwise).
pub fn visible_pool(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<Pool, AppError> {
    actor.require("pool", "view")?;
    let p = read(conn, id)?;
    if actor_is_member(&p, actor) {
        Ok(p)
    } else {
        Err(not_found(id))
    }
}

/// The pools the actor belongs to (administrators: every pool).
pub fn list(conn: &mut DbConn, actor: &Actor) -> Result<Vec<Pool>, AppError> {
    actor.require("pool", "view")?;
    Ok(load_pools(conn, None)?
        .into_iter()
        .filter(|p| actor_is_member(p, actor))
        .collect())
}

/// Create or replace a pool (administrators).
pub fn save(
    conn: &mut DbConn,
    actor: &Actor,
    id: Option<i64>,
    input: PoolInput,
) -> Result<Pool, AppError> {
    actor.require("admin", "manage")?;
    let name = limited("name", &input.name, 100)?;
    if name.is_empty() {
        return Err(AppError::invalid("name", "is required"));
    }
    let description = limited("description", &input.description, 1000)?;
    input.rules.check()?;
    for (i, m) in input.members.iter().enumerate() {
        match (m.user_id, m.department_id) {
            (Some(u), None) => {
                crate::core::records::store::check_user(conn, &format!("members[{i}].user_id"), u)?
            }
            (None, Some(d)) => {
                if m.is_admin {
                    return Err(AppError::invalid(
                        &format!("members[{i}].is_admin"),
                        "pool administrators are users, not departments",
                    ));
                }
                let n: i64 = crate::core::db::schema::departments::table
                    .filter(crate::core::db::schema::departments::id.eq(d))
                    .count()
                    .get_result(conn)?;
                if n == 0 {
                    return Err(AppError::invalid(
                        &format!("members[{i}].department_id"),
                        format!("department {d} does not exist"),
                    ));
                }
            }
            _ => {
                return Err(AppError::invalid(
                    &format!("members[{i}]"),
                    "a member is either a user_id or a department_id",
                ));
            }
        }
    }
    let rules = serde_json::to_string(&input.rules).unwrap_or_else(|_| "{}".into());
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        let t = crate::core::db::now();
        let (id, before) = match id {
            None => {
                let id: i64 = diesel::insert_into(pools::table)
                    .values((
                        pools::name.eq(&name),
                        pools::description.eq(&description),
                        pools::active.eq(input.active),
                        pools::rules.eq(&rules),
                        pools::created_at.eq(t),
                        pools::updated_at.eq(t),
                    ))
                    .returning(pools::id)
                    .get_result(conn)?;
                (id, None)
            }
            Some(id) => {
                let before = read(conn, id)?;
                let Some(v) = input.version else {
                    return Err(AppError::invalid(
                        "version",
                        "send the version you read, to not overwrite a colleague's change",
                    ));
                };
                if v != before.version {
                    return Err(AppError::stale(
                        &format!("pool \"{}\"", before.name),
                        &before,
                    ));
                }
                diesel::update(pools::table.find(id))
                    .set((
                        pools::name.eq(&name),
                        pools::description.eq(&description),
                        pools::active.eq(input.active),
                        pools::rules.eq(&rules),
                        pools::updated_at.eq(t),
                        pools::version.eq(pools::version + 1),
                    ))
                    .execute(conn)?;
                diesel::delete(pm::table.filter(pm::pool_id.eq(id))).execute(conn)?;
                (id, Some(before))
            }
        };
        for m in &input.members {
            diesel::insert_into(pm::table)
                .values((
                    pm::pool_id.eq(id),
                    pm::user_id.eq(m.user_id),
                    pm::department_id.eq(m.department_id),
                    pm::is_admin.eq(m.is_admin),
                ))
                .execute(conn)?;
        }
        let after = read(conn, id)?;
        audit::record(
            conn,
            &ctx,
            if before.is_none() { "create" } else { "update" },
            "pools",
            Some(id),
            &audit::diff(&before.map_or(Value::Null, |b| json!(b)), &json!(after)),
        )?;
        Ok(after)
    })
}

/// Delete an empty pool (administrators).
pub fn delete(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), AppError> {
    actor.require("admin", "manage")?;
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        let before = read(conn, id)?;
        let inside: i64 = customers::table
            .filter(customers::pool_id.eq(id))
            .filter(customers::owner_id.is_null())
            .count()
            .get_result(conn)?;
        if inside > 0 {
            return Err(AppError::Conflict(format!(
                "pool \"{}\" holds {inside} customers; move them to another pool first",
                before.name
            )));
        }
        diesel::update(customers::table.filter(customers::pool_id.eq(id)))
            .set(customers::pool_id.eq(None::<i64>))
            .execute(conn)?;
        diesel::delete(pools::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            &ctx,
            "delete",
            "pools",
            Some(id),
            &audit::diff(&json!(before), &Value::Null),
        )?;
        Ok(())
    })
}

// ---- moving customers ----------------------------------------------------

/// Where a customer is before a pool action.
#[derive(Debug, Clone, Queryable)]
pub struct Place {
    pub id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    pub pool_id: Option<i64>,
    pub pooled_at: Option<NaiveDateTime>,
    pub previous_owner_id: Option<i64>,
    pub version: i32,
}

pub fn places(conn: &mut DbConn, ids: &[i64]) -> Result<HashMap<i64, Place>, AppError> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<Place> = customers::table
            .filter(customers::id.eq_any(chunk))
            .select((
                customers::id,
                customers::name,
                customers::owner_id,
                customers::pool_id,
                customers::pooled_at,
                customers::previous_owner_id,
                customers::version,
            ))
            .load(conn)?;
        out.extend(rows.into_iter().map(|p| (p.id, p)));
    }
    Ok(out)
}

#[expect(clippy::too_many_arguments, reason = "one event's parts")]
fn event(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    pool: Option<i64>,
    p: &Place,
    action: &str,
    to_owner: Option<i64>,
    to_pool: Option<i64>,
    reason: &str,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::insert_into(ev::table)
        .values((
            ev::pool_id.eq(pool),
            ev::customer_id.eq(p.id),
            ev::action.eq(action),
            ev::user_id.eq(ctx.user_id),
            ev::from_owner_id.eq(p.owner_id),
            ev::to_owner_id.eq(to_owner),
            ev::reason.eq(reason),
            ev::at.eq(at),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        ctx,
        &format!("pool_{action}"),
        "customers",
        Some(p.id),
        &json!({
            "owner_id": [p.owner_id, to_owner],
            "pool_id": [p.pool_id, to_pool],
            "reason": reason,
        }),
    )?;
    Ok(())
}

/// Put customers into `pool` (no owner any more); their contacts follow,
/// their collaborators are removed. Call inside a transaction.
pub fn put_into(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    pool: i64,
    list: &[Place],
    action: &str,
    reason: &str,
    at: NaiveDateTime,
) -> Result<usize, AppError> {
    for chunk in list.chunks(500) {
        let ids: Vec<i64> = chunk.iter().map(|p| p.id).collect();
        let mut sql = Sql::new(conn.backend());
        sql.push("UPDATE customers SET previous_owner_id = COALESCE(owner_id, previous_owner_id), owner_id = NULL, pool_id = ")
            .int(pool)
            .push(", pooled_at = ")
            .ts(at)
            .push(", pool_reason = ")
            .text(reason)
            .push(", updated_at = ")
            .ts(at)
            .push(", version = version + 1 WHERE id IN ")
            .int_list(&ids);
        sql.execute(conn)?;
        let mut sql = Sql::new(conn.backend());
        sql.push("UPDATE contacts SET owner_id = NULL WHERE customer_id IN ")
            .int_list(&ids)
            .push(" AND owner_id = (SELECT previous_owner_id FROM customers WHERE customers.id = contacts.customer_id)");
        sql.execute(conn)?;
        for p in chunk {
            crate::core::access::shares::remove_all(conn, "customers", p.id)?;
            event(
                conn,
                ctx,
                Some(pool),
                p,
                action,
                None,
                Some(pool),
                reason,
                at,
            )?;
        }
    }
    Ok(list.len())
}

/// Give pooled customers to `owner`; their unowned contacts come along.
/// Call inside a transaction.
pub fn take_out(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    pool: i64,
    list: &[Place],
    owner: i64,
    action: &str,
    at: NaiveDateTime,
) -> Result<usize, AppError> {
    for chunk in list.chunks(500) {
        let ids: Vec<i64> = chunk.iter().map(|p| p.id).collect();
        let mut sql = Sql::new(conn.backend());
        sql.push("UPDATE customers SET owner_id = ")
            .int(owner)
            .push(", owner_since = ")
            .ts(at)
            .push(", pooled_at = NULL, updated_at = ")
            .ts(at)
            .push(", updated_by = ");
        match ctx.user_id {
            Some(u) => sql.int(u),
            None => sql.push("NULL"),
        };
        sql.push(", version = version + 1 WHERE owner_id IS NULL AND pool_id = ")
            .int(pool)
            .push(" AND id IN ")
            .int_list(&ids);
        if sql.execute(conn)? != chunk.len() {
            return Err(AppError::Conflict(
                "a customer was taken out of the pool at the same moment; reload and try again"
                    .into(),
            ));
        }
        let mut sql = Sql::new(conn.backend());
        sql.push("UPDATE contacts SET owner_id = ")
            .int(owner)
            .push(" WHERE owner_id IS NULL AND customer_id IN ")
            .int_list(&ids);
        sql.execute(conn)?;
        for p in chunk {
            event(
                conn,
                ctx,
                Some(pool),
                p,
                action,
                Some(owner),
                Some(pool),
                "",
                at,
            )?;
        }
    }
    Ok(list.len())
}

/// The customers named, each in `pool` right now, or a 4xx naming the first that is not.
fn pooled_in(conn: &mut DbConn, pool: &Pool, ids: &[i64]) -> Result<Vec<Place>, AppError> {
    let found = places(conn, ids)?;
    let mut out = Vec::new();
    for id in ids {
        match found.get(id) {
            Some(p) if p.owner_id.is_none() && p.pool_id == Some(pool.id) => out.push(p.clone()),
            Some(p) if p.owner_id.is_none() || p.pool_id == Some(pool.id) => {
                return Err(AppError::Conflict(format!(
                    "customer {id} \"{}\" is not in pool \"{}\" (any more)",
                    p.name, pool.name
                )));
            }
            _ => {
                return Err(AppError::NotFound(format!(
                    "customer {id} is not in pool \"{}\"",
                    pool.name
                )));
            }
        }
    }
    Ok(out)
}

fn check_ids(ids: &[i64]) -> Result<Vec<i64>, AppError> {
    if ids.is_empty() || ids.len() > 1000 {
        return Err(AppError::invalid(
            "customer_ids",
            "between 1 and 1000 customer ids",
        ));
    }
    let mut seen = HashSet::new();
    Ok(ids.iter().copied().filter(|i| seen.insert(*i)).collect())
}

/// How many customers `user` owns.
fn owned_count(conn: &mut DbConn, user: i64) -> Result<i64, AppError> {
    Ok(customers::table
        .filter(customers::owner_id.eq(user))
        .count()
        .get_result(conn)?)
}

/// How many customers `user` claimed since `since`.
fn claims_since(conn: &mut DbConn, user: i64, since: NaiveDateTime) -> Result<i64, AppError> {
    Ok(ev::table
        .filter(ev::user_id.eq(user))
        .filter(ev::action.eq("claim"))
        .filter(ev::at.ge(since))
        .count()
        .get_result(conn)?)
}

/// The start of the day that `now` falls in, in `zone`, as UTC.
fn day_start(zone: &str, now: NaiveDateTime) -> NaiveDateTime {
    let off = crate::core::time::offset_at(zone, now);
    let local = now + chrono::Duration::seconds(i64::from(off.local_minus_utc()));
    let midnight = local.date().and_hms_opt(0, 0, 0).unwrap_or(local);
    midnight - chrono::Duration::seconds(i64::from(off.local_minus_utc()))
}

/// The caller's standing against the pool's claim limits.
pub fn limits(
    conn: &mut DbConn,
    actor: &Actor,
    pool: &Pool,
    now: NaiveDateTime,
) -> Result<Value, AppError> {
    let me = actor.user_id();
    let today = claims_since(conn, me, day_start(&actor.user.time_zone, now))?;
    let owned = owned_count(conn, me)?;
    let r = &pool.rules;
    Ok(json!({
        "claims_today": today,
        "claims_per_day": r.claims_per_day,
        "owned": owned,
        "max_owned": r.max_owned,
        "reclaim_cooldown_days": r.reclaim_cooldown_days,
        "claims_left_today": (r.claims_per_day > 0).then(|| (r.claims_per_day - today).max(0)),
    }))
}

/// Claim pooled customers for oneself, within the pool's limits: all of
/// them or, when a rule stops one, none.
pub fn claim(
    conn: &mut DbConn,
    actor: &Actor,
    pool_id: i64,
    ids: &[i64],
    now: NaiveDateTime,
) -> Result<usize, AppError> {
    actor.require("pool", "claim")?;
    let ids = check_ids(ids)?;
    let pool = visible_pool(conn, actor, pool_id)?;
    if !pool.active {
        return Err(AppError::Conflict(format!(
            "pool \"{}\" is closed",
            pool.name
        )));
    }
    let me = actor.user_id();
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        let list = pooled_in(conn, &pool, &ids)?;
        let r = &pool.rules;
        if r.reclaim_cooldown_days > 0 {
            for p in &list {
                if p.previous_owner_id == Some(me)
                    && let Some(at) = p.pooled_at
                {
                    let free = at + chrono::Duration::days(r.reclaim_cooldown_days);
                    if now < free {
                        return Err(AppError::Conflict(format!(
                            "cool-down: you gave up customer \"{}\" on {}; you may claim it again from {} ({} days)",
                            p.name,
                            at.format("%Y-%m-%d"),
                            free.format("%Y-%m-%d %H:%M"),
                            r.reclaim_cooldown_days
                        )));
                    }
                }
            }
        }
        if r.claims_per_day > 0 {
            let today = claims_since(conn, me, day_start(&actor.user.time_zone, now))?;
            if today + list.len() as i64 > r.claims_per_day {
                return Err(AppError::Conflict(format!(
                    "daily claim limit: {} per day in pool \"{}\"; you claimed {today} today",
                    r.claims_per_day, pool.name
                )));
            }
        }
        if r.max_owned > 0 {
            let owned = owned_count(conn, me)?;
            if owned + list.len() as i64 > r.max_owned {
                return Err(AppError::Conflict(format!(
                    "ownership limit: at most {} customers per person in pool \"{}\"; you own {owned}",
                    r.max_owned, pool.name
                )));
            }
        }
        take_out(conn, &ctx, pool.id, &list, me, "claim", now)
    })
}

/// Assign pooled customers to a member of the pool (pool administrators).
pub fn assign(
    conn: &mut DbConn,
    actor: &Actor,
    pool_id: i64,
    ids: &[i64],
    to: i64,
    now: NaiveDateTime,
) -> Result<usize, AppError> {
    let ids = check_ids(ids)?;
    let pool = visible_pool(conn, actor, pool_id)?;
    if !actor_is_admin(&pool, actor) {
        return Err(AppError::Forbidden(format!(
            "only the administrators of pool \"{}\" assign its customers",
            pool.name
        )));
    }
    crate::core::records::store::check_user(conn, "user_id", to)?;
    if !member_ids(conn, &pool)?.contains(&to) {
        return Err(AppError::invalid(
            "user_id",
            format!("user {to} is not a member of pool \"{}\"", pool.name),
        ));
    }
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        let list = pooled_in(conn, &pool, &ids)?;
        if pool.rules.max_owned > 0 {
            let owned = owned_count(conn, to)?;
            if owned + list.len() as i64 > pool.rules.max_owned {
                return Err(AppError::Conflict(format!(
                    "ownership limit: at most {} customers per person in pool \"{}\"; user {to} owns {owned}",
                    pool.rules.max_owned, pool.name
                )));
            }
        }
        take_out(conn, &ctx, pool.id, &list, to, "assign", now)
    })
}

/// Move pooled customers to another pool (administrators of the source pool).
pub fn move_to(
    conn: &mut DbConn,
    actor: &Actor,
    pool_id: i64,
    ids: &[i64],
    to_pool: i64,
    now: NaiveDateTime,
) -> Result<usize, AppError> {
    let ids = check_ids(ids)?;
    let pool = visible_pool(conn, actor, pool_id)?;
    if !actor_is_admin(&pool, actor) {
        return Err(AppError::Forbidden(format!(
            "only the administrators of pool \"{}\" move its customers",
            pool.name
        )));
    }
    let target = match read(conn, to_pool) {
        Ok(p) if p.active => p,
        Ok(p) => {
            return Err(AppError::invalid(
                "to_pool_id",
                format!("pool \"{}\" is closed", p.name),
            ));
        }
        Err(AppError::NotFound(_)) => {
            return Err(AppError::invalid(
                "to_pool_id",
                format!("pool {to_pool} does not exist"),
            ));
        }
        Err(e) => return Err(e),
    };
    if target.id == pool.id {
        return Err(AppError::invalid(
            "to_pool_id",
            "the customers are in that pool already",
        ));
    }
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        let list = pooled_in(conn, &pool, &ids)?;
        for chunk in list.chunks(500) {
            let ids: Vec<i64> = chunk.iter().map(|p| p.id).collect();
            let mut sql = Sql::new(conn.backend());
            sql.push("UPDATE customers SET pool_id = ")
                .int(target.id)
                .push(", pooled_at = ")
                .ts(now)
                .push(", updated_at = ")
                .ts(now)
                .push(", version = version + 1 WHERE id IN ")
                .int_list(&ids);
            sql.execute(conn)?;
            for p in chunk {
                event(
                    conn,
                    &ctx,
                    Some(target.id),
                    p,
                    "move",
                    None,
                    Some(target.id),
                    "",
                    now,
                )?;
            }
        }
        Ok(list.len())
    })
}

/// Put customers the actor may edit into a pool they belong to, with a reason.
pub fn put(
    conn: &mut DbConn,
    actor: &Actor,
    pool_id: i64,
    ids: &[i64],
    reason: &str,
    now: NaiveDateTime,
) -> Result<usize, AppError> {
    let ids = check_ids(ids)?;
    let reason = limited("reason", reason, 500)?;
    if reason.is_empty() {
        return Err(AppError::invalid(
            "reason",
            "say why the customers go back to the pool",
        ));
    }
    let pool = visible_pool(conn, actor, pool_id)?;
    if !pool.active {
        return Err(AppError::Conflict(format!(
            "pool \"{}\" is closed",
            pool.name
        )));
    }
    actor.require("customers", "edit")?;
    for &id in &ids {
        if !crate::core::records::store::editable(conn, actor, "customers", id)? {
            return Err(AppError::NotFound(format!(
                "customer {id} not found, or not yours to give up"
            )));
        }
    }
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        let found = places(conn, &ids)?;
        let list: Vec<Place> = ids.iter().filter_map(|i| found.get(i).cloned()).collect();
        if let Some(p) = list.iter().find(|p| p.owner_id.is_none()) {
            return Err(AppError::Conflict(format!(
                "customer \"{}\" is in a pool already",
                p.name
            )));
        }
        put_into(conn, &ctx, pool.id, &list, "put", &reason, now)
    })
}

// ---- the rules at work ---------------------------------------------------

#[derive(Queryable)]
struct FactRow {
    id: i64,
    level: String,
    locked: bool,
    deal_status: String,
    owner_since: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    last_follow_up_at: Option<NaiveDateTime>,
    last_opportunity_at: Option<NaiveDateTime>,
}

impl FactRow {
    fn facts(&self) -> Facts {
        Facts {
            level: self.level.clone(),
            locked: self.locked,
            won: self.deal_status == "won",
            owner_since: self.owner_since.unwrap_or(self.created_at),
            last_follow_up_at: self.last_follow_up_at,
            last_opportunity_at: self.last_opportunity_at,
        }
    }
}

/// The unlocked customers of `owners` that `rules` could return by
/// `horizon`: each rule needs its basis (the owner's start, or the later last
/// follow-up / opportunity) at least its shortest day count before the
/// horizon, which the database checks, so an owner of 80,000 customers costs
/// the few near their return instead of all of them. [`rules::return_at`]
/// still decides.
fn fact_rows(
    conn: &mut DbConn,
    owners: &[i64],
    rules: &rules::Rules,
    horizon: NaiveDateTime,
) -> Result<Vec<FactRow>, AppError> {
    // A rule that is off gets a cut-off no stored date is before (year 1,
    // which both backends can store).
    let never = chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let cut = |d: &rules::Days| {
        d.shortest()
            .map_or(never, |days| horizon - chrono::Duration::days(days))
    };
    let (fu, opp, won) = (
        cut(&rules.no_follow_up),
        cut(&rules.no_opportunity),
        cut(&rules.not_won),
    );
    let loosest = fu.max(opp).max(won);
    if loosest == never {
        return Ok(Vec::new());
    }
    // The owner has had the customer since before `cut`. The expression is
    // the one of the index customers_owner_basis; keep them the same.
    let owned_before = |cut: NaiveDateTime| {
        diesel::dsl::sql::<diesel::sql_types::Bool>("COALESCE(owner_since, created_at) <= ")
            .bind::<diesel::sql_types::Timestamp, _>(cut)
    };
    let mut out = Vec::new();
    for chunk in owners.chunks(500) {
        let rows: Vec<FactRow> = customers::table
            .filter(customers::owner_id.eq_any(chunk))
            // Every rule's basis is on or after this: an index range.
            .filter(owned_before(loosest))
            .filter(customers::locked.eq(false))
            .filter(
                owned_before(fu)
                    .and(
                        customers::last_follow_up_at
                            .is_null()
                            .or(customers::last_follow_up_at.le(fu)),
                    )
                    .or(owned_before(opp).and(
                        customers::last_opportunity_at
                            .is_null()
                            .or(customers::last_opportunity_at.le(opp)),
                    ))
                    .or(owned_before(won).and(customers::deal_status.ne("won"))),
            )
            .select((
                customers::id,
                customers::level,
                customers::locked,
                customers::deal_status,
                customers::owner_since,
                customers::created_at,
                customers::last_follow_up_at,
                customers::last_opportunity_at,
            ))
            .load(conn)?;
        out.extend(rows);
    }
    Ok(out)
}

/// Each active pool with the members its rules apply to (a user in several
/// pools: the first one).
fn governing(conn: &mut DbConn) -> Result<Vec<(Pool, Vec<i64>)>, AppError> {
    let mut seen: HashSet<i64> = HashSet::new();
    let mut out = Vec::new();
    for p in load_pools(conn, None)?.into_iter().filter(|p| p.active) {
        let ids: Vec<i64> = member_ids(conn, &p)?
            .into_iter()
            .filter(|u| seen.insert(*u))
            .collect();
        out.push((p, ids));
    }
    Ok(out)
}

/// The pool whose rules apply to `user`'s customers.
pub fn governing_pool(conn: &mut DbConn, user: i64) -> Result<Option<Pool>, AppError> {
    Ok(governing(conn)?
        .into_iter()
        .find(|(_, m)| m.contains(&user))
        .map(|(p, _)| p))
}

/// The scheduled job that applies the pools' return rules (hourly; with
/// several nodes one runs it at a time, see `core::jobs`).
pub fn returns_job() -> crate::core::jobs::Job {
    crate::core::jobs::Job {
        name: "pool-returns",
        every: std::time::Duration::from_secs(3600),
        run: |conn, ctx| run_returns(conn, ctx.clock.now()),
    }
}

/// Return every customer whose pool rules say so at `now`; one audit
/// entry and pool event per customer. The scheduled job calls this.
pub fn run_returns(conn: &mut DbConn, now: NaiveDateTime) -> Result<String, AppError> {
    let ctx = AuditCtx {
        user_id: None,
        ip: String::new(),
        request_id: "job:pool-returns".into(),
    };
    let mut total = 0;
    let mut pools_done = 0;
    for (pool, members) in governing(conn)? {
        if members.is_empty() {
            continue;
        }
        let rows = fact_rows(conn, &members, &pool.rules, now)?;
        let mut due: HashMap<&'static str, Vec<i64>> = HashMap::new();
        for r in &rows {
            if let Some((at, why)) = rules::return_at(&pool.rules, &r.facts())
                && at <= now
            {
                due.entry(why).or_default().push(r.id);
            }
        }
        pools_done += 1;
        for (why, ids) in due {
            let reason = match why {
                "no_follow_up" => "returned automatically: no follow-up in time",
                "no_opportunity" => "returned automatically: no new opportunity in time",
                _ => "returned automatically: not won in time",
            };
            for chunk in ids.chunks(500) {
                write_tx(conn, |conn| {
                    // Read again inside the transaction: the owner may have
                    // moved it meanwhile.
                    let found = places(conn, chunk)?;
                    let list: Vec<Place> = chunk
                        .iter()
                        .filter_map(|i| found.get(i).cloned())
                        .filter(|p| p.owner_id.is_some_and(|o| members.contains(&o)))
                        .collect();
                    total += put_into(conn, &ctx, pool.id, &list, "return", reason, now)?;
                    Ok::<_, AppError>(())
                })?;
            }
        }
    }
    Ok(format!(
        "{total} customer(s) returned to {pools_done} pool(s)"
    ))
}

/// The actor's customers the rules will return within the pool's warning
/// period, soonest first: `[{customer_id, name, returns_at, rule}]`.
pub fn warnings(
    conn: &mut DbConn,
    actor: &Actor,
    now: NaiveDateTime,
    limit: usize,
) -> Result<(Vec<Value>, usize), AppError> {
    let me = actor.user_id();
    let Some(pool) = governing_pool(conn, me)? else {
        return Ok((vec![], 0));
    };
    if pool.rules.warn_days <= 0 {
        return Ok((vec![], 0));
    }
    let horizon = now + chrono::Duration::days(pool.rules.warn_days);
    let mut soon: Vec<(NaiveDateTime, &'static str, i64)> =
        fact_rows(conn, &[me], &pool.rules, horizon)?
            .iter()
            .filter_map(|r| {
                rules::return_at(&pool.rules, &r.facts())
                    .filter(|(at, _)| *at <= horizon)
                    .map(|(at, why)| (at, why, r.id))
            })
            .collect();
    soon.sort();
    let count = soon.len();
    let ids: Vec<i64> = soon.iter().take(limit).map(|s| s.2).collect();
    let names = places(conn, &ids)?;
    let items = soon
        .into_iter()
        .take(limit)
        .map(|(at, why, id)| {
            json!({
                "customer_id": id,
                "name": names.get(&id).map(|p| p.name.clone()),
                "returns_at": at,
                "rule": why,
                "pool_id": pool.id,
            })
        })
        .collect();
    Ok((items, count))
}
