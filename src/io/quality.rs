//! Data quality: duplicate customer clusters and their merge (undoable),
//! records missing key fields, invalid e-mails and phones, customers not
//! followed up for N days, and a quality score per owner and for the
//! company. Everything within the caller's view scope.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, post, web};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::core::access::push_scope;
use crate::core::audit;
use crate::core::auth::actor::Actor;
use crate::core::db::schema::{customers, record_merges as rm};
use crate::core::db::{DbConn, now, write_tx};
use crate::core::error::AppError;
use crate::core::sql::Sql;
use crate::crm::customers::model::{CustomerId, CustomerInput, NewCustomer};
use crate::crm::customers::store;
use crate::with_backend;

#[derive(diesel::QueryableByName)]
struct Group {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

#[derive(diesel::QueryableByName)]
struct Member {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    phone: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    mobile: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    owner_id: Option<i64>,
}

/// Clusters of customers the actor can see that share a normalised name,
/// phone or e-mail.
pub fn duplicate_clusters(
    conn: &mut DbConn,
    actor: &Actor,
    limit: i64,
) -> Result<Vec<Value>, AppError> {
    actor.require("customers", "view")?;
    let owners = actor.owner_filter(conn, "customers", "view")?;
    let me = actor.user_id();
    let mut out = Vec::new();
    let mut seen: Vec<Vec<i64>> = Vec::new();
    for (key, col) in [
        ("name", "dedupe_name"),
        ("phone", "dedupe_phone"),
        ("email", "email"),
    ] {
        let mut sql = Sql::new(conn.backend());
        sql.push(&format!(
            "SELECT {col} AS v FROM customers WHERE {col} <> ''"
        ));
        push_scope(&mut sql, &owners, "customers", me, false);
        sql.push(&format!(
            " GROUP BY {col} HAVING COUNT(*) > 1 ORDER BY COUNT(*) DESC, {col} LIMIT "
        ))
        .int(limit);
        let groups: Vec<Group> = sql.load(conn)?;
        for g in groups {
            let mut sql = Sql::new(conn.backend());
            sql.push(&format!(
                "SELECT id, name, phone, mobile, email, owner_id FROM customers WHERE {col} = "
            ))
            .text(g.v.clone());
            push_scope(&mut sql, &owners, "customers", me, false);
            sql.push(" ORDER BY id LIMIT 50");
            let members: Vec<Member> = sql.load(conn)?;
            let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
            if ids.len() < 2 || seen.contains(&ids) {
                continue;
            }
            seen.push(ids.clone());
            out.push(json!({
                "key": key,
                "value": g.v,
                "ids": ids,
                "members": members.iter().map(|m| json!({"id": m.id, "name": m.name, "phone": m.phone,
                    "mobile": m.mobile, "email": m.email, "owner_id": m.owner_id})).collect::<Vec<_>>(),
            }));
        }
    }
    Ok(out)
}

/// A merge request: the survivor, the records merged into it, and for any
/// field the record whose value the survivor keeps.
#[derive(Debug, Clone, Deserialize)]
pub struct MergeInput {
    pub survivor_id: i64,
    pub merged_ids: Vec<i64>,
    #[serde(default)]
    pub fields: BTreeMap<String, i64>,
}

/// Rows that point at a customer and move to the survivor: table, column,
/// extra condition.
const MOVES: &[(&str, &str, &str)] = &[
    ("contacts", "customer_id", ""),
    ("followups", "customer_id", ""),
    ("opportunities", "customer_id", ""),
    ("leads", "converted_customer_id", ""),
    ("pool_events", "customer_id", ""),
    ("tasks", "related_id", " AND related_entity = 'customers'"),
    ("attachments", "record_id", " AND entity = 'customers'"),
    ("record_shares", "record_id", " AND entity = 'customers'"),
];

#[derive(diesel::QueryableByName)]
struct IdOnly {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// Merge customers into a survivor: chosen field values, every related
/// record (contacts, follow-ups, opportunities, tasks, attachments, shares,
/// follows, pool history, converted leads) moved; the others deleted. One
/// `record_merges` row keeps what is needed to undo it.
pub fn merge(conn: &mut DbConn, actor: &Actor, m: &MergeInput) -> Result<Value, AppError> {
    actor.require("customers", "edit")?;
    actor.require("customers", "delete")?;
    let mut merged = m.merged_ids.clone();
    merged.sort_unstable();
    merged.dedup();
    merged.retain(|i| *i != m.survivor_id);
    if merged.is_empty() {
        return Err(AppError::invalid(
            "merged_ids",
            "name at least one other customer to merge into the survivor",
        ));
    }
    let survivor = store::get(conn, actor, CustomerId(m.survivor_id))?;
    for id in std::iter::once(m.survivor_id).chain(merged.iter().copied()) {
        if !crate::core::records::store::editable(conn, actor, "customers", id)? {
            return Err(AppError::Forbidden(format!(
                "you may not change customer {id}"
            )));
        }
    }
    let mut others = Vec::new();
    for id in &merged {
        others.push(store::get(conn, actor, CustomerId(*id))?);
    }
    let image = |c: &crate::crm::customers::model::Customer| {
        serde_json::to_value(CustomerInput::from_customer(c)).unwrap_or_default()
    };
    let mut patch = Map::new();
    for (field, from) in &m.fields {
        let src = if *from == m.survivor_id {
            &survivor
        } else {
            others.iter().find(|c| c.id.0 == *from).ok_or_else(|| {
                AppError::invalid(
                    "fields",
                    format!("`{field}` comes from customer {from}, which is not part of the merge"),
                )
            })?
        };
        let v = image(src).get(field).cloned().ok_or_else(|| {
            AppError::invalid("fields", format!("`{field}` is not a customer field"))
        })?;
        patch.insert(field.clone(), v);
    }
    let ctx = actor.audit();
    write_tx(conn, |conn| -> Result<Value, AppError> {
        let after = store::update(
            conn,
            actor,
            CustomerId(m.survivor_id),
            survivor.version,
            &Value::Object(patch),
            true,
        )?;
        let mut moves = Vec::new();
        for (table, col, cond) in MOVES {
            for from in &merged {
                let mut sql = Sql::new(conn.backend());
                sql.push(&format!("SELECT id FROM {table} WHERE {col} = "))
                    .int(*from)
                    .push(cond);
                if *table == "record_shares" {
                    // A colleague who already shares the survivor keeps that share.
                    sql.push(" AND user_id NOT IN (SELECT user_id FROM record_shares WHERE entity = 'customers' AND record_id = ")
                        .int(m.survivor_id)
                        .push(")");
                }
                let ids: Vec<i64> = sql
                    .load::<IdOnly>(conn)?
                    .into_iter()
                    .map(|r| r.id)
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                let mut up = Sql::new(conn.backend());
                up.push(&format!("UPDATE {table} SET {col} = "))
                    .int(m.survivor_id)
                    .push(" WHERE id IN ")
                    .int_list(&ids);
                up.execute(conn)?;
                moves.push(json!({"table": table, "column": col, "from": from, "ids": ids}));
            }
        }
        // Follows: a key of (user, entity, record), moved unless the user
        // already follows the survivor.
        let mut follows = Vec::new();
        for from in &merged {
            let mut sql = Sql::new(conn.backend());
            sql.push("SELECT user_id AS id FROM record_follows WHERE entity = 'customers' AND record_id = ").int(*from)
                .push(" AND user_id NOT IN (SELECT user_id FROM record_follows WHERE entity = 'customers' AND record_id = ")
                .int(m.survivor_id)
                .push(")");
            let users: Vec<i64> = sql
                .load::<IdOnly>(conn)?
                .into_iter()
                .map(|r| r.id)
                .collect();
            if !users.is_empty() {
                let mut up = Sql::new(conn.backend());
                up.push("UPDATE record_follows SET record_id = ")
                    .int(m.survivor_id)
                    .push(" WHERE entity = 'customers' AND record_id = ")
                    .int(*from)
                    .push(" AND user_id IN ")
                    .int_list(&users);
                up.execute(conn)?;
                follows.push(json!({"from": from, "users": users}));
            }
        }
        let snapshot = json!({
            "survivor_before": image(&survivor),
            "survivor_version": after.version,
            "merged": others.iter().map(|c| json!(c)).collect::<Vec<_>>(),
            "moves": moves,
            "follows": follows,
        });
        crate::io::import::delete_ids(
            conn,
            &ctx,
            &crate::crm::customers::model::DOC_SPEC,
            &merged,
        )?;
        let id: i64 = with_backend!(conn, c => diesel::insert_into(rm::table)
            .values((
                rm::entity.eq("customers"),
                rm::survivor_id.eq(m.survivor_id),
                rm::merged_ids.eq(json!(merged).to_string()),
                rm::snapshot.eq(snapshot.to_string()),
                rm::user_id.eq(Some(actor.user_id())),
                rm::created_at.eq(now()),
            ))
            .returning(rm::id)
            .get_result(c))?;
        let moved: usize = snapshot["moves"].as_array().map_or(0, |a| {
            a.iter()
                .map(|x| x["ids"].as_array().map_or(0, Vec::len))
                .sum()
        });
        audit::record(
            conn,
            &ctx,
            "merge",
            "customers",
            Some(m.survivor_id),
            &json!({"merge": id, "survivor": m.survivor_id, "merged": merged, "moved": moved, "fields": m.fields}),
        )?;
        Ok(
            json!({"merge_id": id, "survivor": store::get(conn, actor, CustomerId(m.survivor_id))?, "merged": merged, "moved": moved}),
        )
    })
}

/// Undo a merge: the merged customers come back with their ids, every moved
/// row goes back, the survivor's fields are put back (unless changed since).
pub fn undo_merge(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<Value, AppError> {
    actor.require("customers", "edit")?;
    let row: Option<(i64, String, Option<chrono::NaiveDateTime>, Option<i64>)> = rm::table
        .find(id)
        .select((rm::survivor_id, rm::snapshot, rm::undone_at, rm::user_id))
        .first(conn)
        .optional()?;
    let Some((survivor, snap, undone, user)) = row else {
        return Err(AppError::NotFound(format!("merge {id} not found")));
    };
    if user != Some(actor.user_id()) && !actor.is_admin() {
        return Err(AppError::NotFound(format!("merge {id} not found")));
    }
    if undone.is_some() {
        return Err(AppError::Conflict(format!("merge {id} is already undone")));
    }
    let snap: Value = serde_json::from_str(&snap).unwrap_or_default();
    let ctx = actor.audit();
    write_tx(conn, |conn| -> Result<Value, AppError> {
        let mut restored = Vec::new();
        for c in snap["merged"].as_array().cloned().unwrap_or_default() {
            let cid = c["id"].as_i64().unwrap_or_default();
            let mut input: CustomerInput = serde_json::from_value(c.clone()).unwrap_or_else(|_| {
                let mut m = c.as_object().cloned().unwrap_or_default();
                m.retain(|k, _| {
                    serde_json::to_value(CustomerInput::default())
                        .ok()
                        .and_then(|d| d.get(k).cloned())
                        .is_some()
                });
                serde_json::from_value(Value::Object(m)).unwrap_or_default()
            });
            input.owner_id = c["owner_id"].as_i64();
            let clean = crate::crm::customers::model::validate(&input)?;
            let ts = |k: &str| c[k].as_str().and_then(crate::core::fields::parse_datetime);
            let new = NewCustomer::from_clean(
                clean,
                c["custom"].to_string(),
                c["created_by"].as_i64(),
                ts("created_at").unwrap_or_else(now),
                now(),
                ts("last_follow_up_at"),
            );
            with_backend!(conn, c2 => diesel::insert_into(customers::table).values((customers::id.eq(cid), &new)).execute(c2))?;
            diesel::update(customers::table.find(cid))
                .set((
                    customers::pool_id.eq(c["pool_id"].as_i64()),
                    customers::pooled_at.eq(ts("pooled_at")),
                    customers::pool_reason.eq(c["pool_reason"].as_str().unwrap_or("")),
                    customers::previous_owner_id.eq(c["previous_owner_id"].as_i64()),
                    customers::owner_since.eq(ts("owner_since")),
                    customers::last_opportunity_at.eq(ts("last_opportunity_at")),
                    customers::deal_status.eq(c["deal_status"].as_str().unwrap_or("none")),
                ))
                .execute(conn)?;
            restored.push(cid);
        }
        for mv in snap["moves"].as_array().cloned().unwrap_or_default() {
            let (Some(table), Some(col), Some(from)) = (
                mv["table"].as_str(),
                mv["column"].as_str(),
                mv["from"].as_i64(),
            ) else {
                continue;
            };
            if !MOVES.iter().any(|(t, c, _)| *t == table && *c == col) {
                continue;
            }
            let ids: Vec<i64> = mv["ids"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            let mut up = Sql::new(conn.backend());
            up.push(&format!("UPDATE {table} SET {col} = "))
                .int(from)
                .push(" WHERE id IN ")
                .int_list(&ids);
            up.execute(conn)?;
        }
        for f in snap["follows"].as_array().cloned().unwrap_or_default() {
            let from = f["from"].as_i64().unwrap_or_default();
            let users: Vec<i64> = f["users"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            let mut up = Sql::new(conn.backend());
            up.push("UPDATE record_follows SET record_id = ")
                .int(from)
                .push(" WHERE entity = 'customers' AND record_id = ")
                .int(survivor)
                .push(" AND user_id IN ")
                .int_list(&users);
            up.execute(conn)?;
        }
        let cur = store::get(conn, actor, CustomerId(survivor))?;
        let fields_back = cur.version as i64 == snap["survivor_version"].as_i64().unwrap_or(-1);
        if fields_back {
            store::update(
                conn,
                actor,
                CustomerId(survivor),
                cur.version,
                &snap["survivor_before"],
                true,
            )?;
        }
        diesel::update(rm::table.find(id))
            .set(rm::undone_at.eq(Some(now())))
            .execute(conn)?;
        audit::record(
            conn,
            &ctx,
            "merge_undo",
            "customers",
            Some(survivor),
            &json!({"merge": id, "restored": restored, "fields_restored": fields_back}),
        )?;
        Ok(json!({"merge_id": id, "restored": restored, "survivor_fields_restored": fields_back}))
    })
}

/// One merge as the history shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MergeEntry {
    pub id: i64,
    pub survivor_id: i64,
    /// The survivor's name now (empty if it is gone).
    pub survivor_name: String,
    /// The customers merged into it: id and name as they were.
    pub merged: Vec<(i64, String)>,
    pub user_id: Option<i64>,
    pub created_at: chrono::NaiveDateTime,
    pub undone_at: Option<chrono::NaiveDateTime>,
}

/// The actor's customer merges (administrators: everyone's), newest first.
pub fn merges(conn: &mut DbConn, actor: &Actor, limit: i64) -> Result<Vec<MergeEntry>, AppError> {
    actor.require("customers", "view")?;
    type Row = (
        i64,
        i64,
        String,
        Option<i64>,
        chrono::NaiveDateTime,
        Option<chrono::NaiveDateTime>,
    );
    let mut q = rm::table
        .filter(rm::entity.eq("customers"))
        .order(rm::id.desc())
        .limit(limit)
        .select((
            rm::id,
            rm::survivor_id,
            rm::snapshot,
            rm::user_id,
            rm::created_at,
            rm::undone_at,
        ))
        .into_boxed();
    if !actor.is_admin() {
        q = q.filter(rm::user_id.eq(actor.user_id()));
    }
    let rows: Vec<Row> = q.load(conn)?;
    let survivors: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let names: std::collections::HashMap<i64, String> = customers::table
        .filter(customers::id.eq_any(&survivors))
        .select((customers::id, customers::name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|(id, survivor_id, snap, user_id, created_at, undone_at)| {
            let snap: Value = serde_json::from_str(&snap).unwrap_or_default();
            let merged = snap["merged"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| {
                            (
                                c["id"].as_i64().unwrap_or_default(),
                                c["name"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            MergeEntry {
                id,
                survivor_id,
                survivor_name: names.get(&survivor_id).cloned().unwrap_or_default(),
                merged,
                user_id,
                created_at,
                undone_at,
            }
        })
        .collect())
}

#[derive(diesel::QueryableByName, Debug)]
struct OwnerStats {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    owner_id: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    phone: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    email: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    address: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    industry: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    level: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    bad_email: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    bad_phone: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    stale: i64,
}

/// 0–100: half completeness of the key fields, a fifth valid contact data,
/// three tenths followed up within the period.
fn score(s: &OwnerStats) -> f64 {
    if s.n == 0 {
        return 100.0;
    }
    let n = s.n as f64;
    let complete = (s.phone + s.email + s.address + s.industry + s.level) as f64 / (5.0 * n);
    let valid = 1.0 - ((s.bad_email + s.bad_phone) as f64 / n).min(1.0);
    let followed = 1.0 - s.stale as f64 / n;
    ((50.0 * complete + 20.0 * valid + 30.0 * followed) * 10.0).round() / 10.0
}

/// The quality report: missing fields, invalid data, customers without a
/// follow-up for `days` days (a sample of each), scores per owner and overall.
pub fn report(conn: &mut DbConn, actor: &Actor, days: i64) -> Result<Value, AppError> {
    actor.require("customers", "view")?;
    let owners = actor.owner_filter(conn, "customers", "view")?;
    let me = actor.user_id();
    let cutoff = now() - chrono::Duration::days(days);
    let bad_email = "(email <> '' AND email NOT LIKE '%_@_%._%')";
    let bad_phone = "((phone <> '' OR mobile <> '') AND (LENGTH(dedupe_phone) < 7 OR LENGTH(dedupe_phone) > 15))";
    let mut sql = Sql::new(conn.backend());
    sql.push(&format!(
        "SELECT owner_id, CAST(COUNT(*) AS BIGINT) AS n, \
         CAST(SUM(CASE WHEN phone <> '' OR mobile <> '' THEN 1 ELSE 0 END) AS BIGINT) AS phone, \
         CAST(SUM(CASE WHEN email <> '' THEN 1 ELSE 0 END) AS BIGINT) AS email, \
         CAST(SUM(CASE WHEN province <> '' OR city <> '' OR address <> '' THEN 1 ELSE 0 END) AS BIGINT) AS address, \
         CAST(SUM(CASE WHEN industry <> '' THEN 1 ELSE 0 END) AS BIGINT) AS industry, \
         CAST(SUM(CASE WHEN level <> '' THEN 1 ELSE 0 END) AS BIGINT) AS level, \
         CAST(SUM(CASE WHEN {bad_email} THEN 1 ELSE 0 END) AS BIGINT) AS bad_email, \
         CAST(SUM(CASE WHEN {bad_phone} THEN 1 ELSE 0 END) AS BIGINT) AS bad_phone, \
         CAST(SUM(CASE WHEN last_follow_up_at IS NULL OR last_follow_up_at < "
    ))
    .ts(cutoff)
    .push(" THEN 1 ELSE 0 END) AS BIGINT) AS stale FROM customers WHERE 1 = 1");
    push_scope(&mut sql, &owners, "customers", me, false);
    sql.push(" GROUP BY owner_id ORDER BY owner_id");
    let stats: Vec<OwnerStats> = sql.load(conn)?;
    let names =
        crate::core::records::store::user_names(conn, stats.iter().filter_map(|s| s.owner_id))?;
    let mut total = OwnerStats {
        owner_id: None,
        n: 0,
        phone: 0,
        email: 0,
        address: 0,
        industry: 0,
        level: 0,
        bad_email: 0,
        bad_phone: 0,
        stale: 0,
    };
    let mut per_user = Vec::new();
    for s in &stats {
        total.n += s.n;
        total.phone += s.phone;
        total.email += s.email;
        total.address += s.address;
        total.industry += s.industry;
        total.level += s.level;
        total.bad_email += s.bad_email;
        total.bad_phone += s.bad_phone;
        total.stale += s.stale;
        per_user.push(json!({
            "owner_id": s.owner_id,
            "owner_name": s.owner_id.and_then(|o| names.get(&o).cloned()),
            "customers": s.n, "score": score(s),
            "missing_phone": s.n - s.phone, "missing_email": s.n - s.email,
            "invalid_email": s.bad_email, "invalid_phone": s.bad_phone, "stale": s.stale,
        }));
    }
    let sample = |conn: &mut DbConn,
                  cond: &str,
                  binds: Option<chrono::NaiveDateTime>|
     -> Result<Vec<Value>, AppError> {
        let mut sql = Sql::new(conn.backend());
        sql.push("SELECT id, name, phone, mobile, email, owner_id FROM customers WHERE ")
            .push(cond);
        if let Some(t) = binds {
            sql.ts(t).push(")");
        }
        push_scope(&mut sql, &owners, "customers", me, false);
        sql.push(" ORDER BY id LIMIT 50");
        Ok(sql.load::<Member>(conn)?.into_iter().map(|m| json!({"id": m.id, "name": m.name, "phone": m.phone, "mobile": m.mobile, "email": m.email, "owner_id": m.owner_id})).collect())
    };
    Ok(json!({
        "days": days,
        "customers": total.n,
        "company_score": score(&total),
        "missing": {
            "phone": total.n - total.phone, "email": total.n - total.email,
            "address": total.n - total.address, "industry": total.n - total.industry, "level": total.n - total.level,
            "owner": stats.iter().filter(|s| s.owner_id.is_none()).map(|s| s.n).sum::<i64>(),
        },
        "missing_contact_sample": sample(conn, "phone = '' AND mobile = '' AND email = ''", None)?,
        "invalid_emails": sample(conn, bad_email, None)?,
        "invalid_phones": sample(conn, bad_phone, None)?,
        "not_followed_up": {"count": total.stale, "sample": sample(conn, "(last_follow_up_at IS NULL OR last_follow_up_at < ", Some(cutoff))?},
        "users": per_user,
    }))
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<i64>,
}

/// `GET /api/v1/quality/duplicates?limit=`
#[get("/api/v1/quality/duplicates")]
async fn duplicates_api(
    actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<Limit>,
) -> Result<HttpResponse, AppError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let c = state
        .db(move |conn| duplicate_clusters(conn, &actor, limit))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"clusters": c})))
}

/// `POST /api/v1/quality/merge` `{"survivor_id", "merged_ids": [..], "fields": {"phone": id}}`
#[post("/api/v1/quality/merge")]
async fn merge_api(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<MergeInput>,
) -> Result<HttpResponse, AppError> {
    let m = body.into_inner();
    let out = state.db(move |conn| merge(conn, &actor, &m)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /api/v1/quality/merges`: the caller's merges (administrators: all).
#[get("/api/v1/quality/merges")]
async fn merges_api(
    actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<Limit>,
) -> Result<HttpResponse, AppError> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let m = state.db(move |conn| merges(conn, &actor, limit)).await?;
    Ok(HttpResponse::Ok().json(json!({"items": m})))
}

/// `POST /api/v1/quality/merges/{id}/undo`
#[post("/api/v1/quality/merges/{id}/undo")]
async fn undo_merge_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let out = state.db(move |conn| undo_merge(conn, &actor, id)).await?;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize)]
struct Days {
    days: Option<i64>,
}

/// `GET /api/v1/quality/report?days=30`
#[get("/api/v1/quality/report")]
async fn report_api(
    actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<Days>,
) -> Result<HttpResponse, AppError> {
    let days = q.days.unwrap_or(30).clamp(1, 3650);
    let out = state.db(move |conn| report(conn, &actor, days)).await?;
    Ok(HttpResponse::Ok().json(out))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(duplicates_api)
        .service(merge_api)
        .service(merges_api)
        .service(undo_merge_api)
        .service(report_api);
}
