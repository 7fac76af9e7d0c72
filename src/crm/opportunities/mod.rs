//! Opportunities (商机): a possible sale to a customer moving through the
//! stages of a pipeline, with line items whose totals the server computes,
//! and every stage change kept in a stage history.

pub mod items;

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::core::audit::AuditCtx;
use crate::core::auth::actor::Actor;
use crate::core::db::schema::{opportunity_stage_history as hist, pipeline_stages as st};
use crate::core::db::{DbConn, now};
use crate::core::error::AppError;
use crate::core::records::{EntitySpec, Field, Kind, Record, field, store as records};
use crate::core::sql::Sql;
use crate::crm::pipelines;

pub const STATUSES: &[&str] = &["open", "won", "lost", "invalid"];

pub const FIELDS: &[Field] = &[
    field("name", Kind::Text(200))
        .required()
        .sortable()
        .search(),
    field("customer_id", Kind::Ref("customers")).required(),
    field("contact_ids", Kind::Json),
    field("pipeline_id", Kind::Int).required(),
    field("stage_id", Kind::Int),
    field("status", Kind::Choice(STATUSES)),
    field("close_reason", Kind::Text(500)),
    field("closed_at", Kind::DateTime).server(),
    field("probability", Kind::Int).server(),
    // Minor units of `currency`; computed from the line items when there are any.
    field("amount", Kind::Int).sortable(),
    field("currency", Kind::Text(3)),
    field("items", Kind::Json),
    // A whole-order discount in percent, applied after the items' own.
    field("discount", Kind::Text(10)),
    field("expected_close_date", Kind::Date).sortable(),
    field("source", Kind::Text(50)),
    field("notes", Kind::Text(10_000)).search(),
    field("lead_id", Kind::Ref("leads")).server(),
];

pub static SPEC: EntitySpec = EntitySpec {
    name: "opportunities",
    singular: "opportunity",
    fields: FIELDS,
    owner_col: "owner_id",
    title: "name",
    default_sort: "-updated_at",
    dedupe: None,
    prepare: Some(prepare),
    after_write: Some(after_write),
    extra_views: Some((extra_views, EXTRA_VIEWS)),
};

pub const EXTRA_VIEWS: &[&str] = &["open", "won", "lost", "closing_this_month"];

fn extra_views(
    _c: &mut DbConn,
    sql: &mut Sql,
    actor: &Actor,
    view: &str,
) -> Result<bool, AppError> {
    match view {
        "open" | "won" | "lost" => {
            sql.push(&format!(" AND status = '{view}'"));
        }
        "closing_this_month" => {
            let (first, next) = month_range(&actor.user.time_zone);
            sql.push(" AND status = 'open' AND expected_close_date >= ")
                .text(first)
                .push(" AND expected_close_date < ")
                .text(next);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The first day of this month and of the next (`YYYY-MM-DD`) in `tz`.
pub fn month_range(tz: &str) -> (String, String) {
    use chrono::Datelike;
    let today = crate::core::time::today_in(tz);
    let first = today.with_day(1).unwrap_or(today);
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    (
        first.format("%Y-%m-%d").to_string(),
        next.format("%Y-%m-%d").to_string(),
    )
}

fn s<'a>(r: &'a Record, k: &str) -> &'a str {
    r.get(k).and_then(Value::as_str).unwrap_or("")
}

fn is_closed(status: &str) -> bool {
    status != "open"
}

/// The pipeline's stage for the record: the one named, or the pipeline's
/// first; always a stage of that pipeline.
fn check_stage(
    conn: &mut DbConn,
    actor: &Actor,
    r: &mut Record,
    before: Option<&Record>,
) -> Result<pipelines::Stage, AppError> {
    let pid = r.get("pipeline_id").and_then(Value::as_i64).unwrap_or(0);
    let pipeline_changed = before.is_none_or(|b| b.get("pipeline_id") != r.get("pipeline_id"));
    let p = match pipelines::read(conn, pid) {
        Ok(p) => p,
        Err(AppError::NotFound(_)) => {
            return Err(AppError::invalid(
                "pipeline_id",
                format!("pipeline {pid} does not exist"),
            ));
        }
        Err(e) => return Err(e),
    };
    if pipeline_changed && (!p.active || !pipelines::usable_by(&p, actor)) {
        return Err(AppError::invalid(
            "pipeline_id",
            format!("pipeline \"{}\" is not open to you", p.name),
        ));
    }
    let stage = match r.get("stage_id").and_then(Value::as_i64) {
        None => p.stages.first().cloned().ok_or_else(|| {
            AppError::invalid(
                "pipeline_id",
                format!("pipeline \"{}\" has no stages", p.name),
            )
        })?,
        Some(sid) => match p.stages.iter().find(|s| s.id == sid) {
            Some(s) => s.clone(),
            None => {
                let other: Option<i64> = st::table
                    .find(sid)
                    .select(st::pipeline_id)
                    .first(conn)
                    .optional()?;
                return Err(AppError::invalid(
                    "stage_id",
                    match other {
                        Some(o) => format!(
                            "stage {sid} belongs to pipeline {o}, not to \"{}\"; choose one of its stages",
                            p.name
                        ),
                        None => format!("stage {sid} does not exist"),
                    },
                ));
            }
        },
    };
    r.insert("stage_id".into(), Value::from(stage.id));
    Ok(stage)
}

/// The contacts are the customer's, and visible to the actor.
fn check_contacts(
    conn: &mut DbConn,
    actor: &Actor,
    r: &mut Record,
    before: Option<&Record>,
) -> Result<(), AppError> {
    let raw = r
        .get("contact_ids")
        .cloned()
        .unwrap_or(Value::Array(vec![]));
    let Value::Array(list) = raw else {
        return Err(AppError::invalid("contact_ids", "a list of contact ids"));
    };
    let mut ids: Vec<i64> = Vec::new();
    for v in &list {
        let Some(id) = v.as_i64() else {
            return Err(AppError::invalid("contact_ids", "a list of contact ids"));
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.len() > 50 {
        return Err(AppError::invalid("contact_ids", "at most 50 contacts"));
    }
    let unchanged = before.is_some_and(|b| {
        b.get("contact_ids") == Some(&json!(ids)) && b.get("customer_id") == r.get("customer_id")
    });
    if !unchanged {
        let customer = r.get("customer_id").and_then(Value::as_i64).unwrap_or(0);
        for &id in &ids {
            if !records::visible(conn, actor, "contacts", id)? {
                return Err(AppError::invalid(
                    "contact_ids",
                    format!("contacts {id} does not exist or is not visible to you"),
                ));
            }
            let of: Option<i64> = crate::core::db::schema::contacts::table
                .find(id)
                .select(crate::core::db::schema::contacts::customer_id)
                .first(conn)
                .optional()?;
            if of != Some(customer) {
                return Err(AppError::invalid(
                    "contact_ids",
                    format!("contact {id} is not a contact of customer {customer}"),
                ));
            }
        }
    }
    r.insert("contact_ids".into(), json!(ids));
    Ok(())
}

/// Stage rules, line items and totals, the close reason and time.
fn prepare(
    conn: &mut DbConn,
    actor: &Actor,
    r: &mut Record,
    before: Option<&Record>,
) -> Result<(), AppError> {
    let stage = check_stage(conn, actor, r, before)?;
    check_contacts(conn, actor, r, before)?;
    let status = s(r, "status").to_string();
    if let Some(b) = before {
        let was = s(b, "status");
        let stage_moved =
            b.get("stage_id") != r.get("stage_id") || b.get("pipeline_id") != r.get("pipeline_id");
        if is_closed(was) && status == was && stage_moved {
            return Err(AppError::Conflict(format!(
                "the opportunity is {was}; reopen it (status open) before moving it to another stage"
            )));
        }
        if is_closed(was) && is_closed(&status) && status != was {
            return Err(AppError::Conflict(format!(
                "the opportunity is {was}; reopen it (status open) before marking it {status}"
            )));
        }
    }
    let newly_closed = is_closed(&status) && before.is_none_or(|b| s(b, "status") != status);
    if newly_closed && s(r, "close_reason").trim().is_empty() {
        return Err(AppError::invalid(
            "close_reason",
            format!("say why the opportunity is {status}"),
        ));
    }
    match (is_closed(&status), newly_closed) {
        (true, true) => {
            r.insert("closed_at".into(), json!(now()));
        }
        (true, false) => {
            let kept = before
                .and_then(|b| b.get("closed_at"))
                .cloned()
                .unwrap_or(Value::Null);
            r.insert("closed_at".into(), kept);
        }
        (false, _) => {
            r.insert("closed_at".into(), Value::Null);
            r.insert("close_reason".into(), Value::from(""));
        }
    }
    let probability = match status.as_str() {
        "won" => 100,
        "open" => i64::from(stage.probability),
        _ => 0,
    };
    r.insert("probability".into(), Value::from(probability));
    let currency = crate::crm::products::currency("currency", r.get("currency"))?;
    r.insert("currency".into(), Value::from(currency));
    items::apply(conn, r, before)?;
    Ok(())
}

/// Stage history, and the customer's last-opportunity time and deal status.
fn after_write(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    before: Option<&Record>,
    after: Option<&Record>,
) -> Result<(), AppError> {
    let t = now();
    if let Some(a) = after {
        let id = a.get("id").and_then(Value::as_i64).unwrap_or(0);
        let moved = before.is_none_or(|b| {
            b.get("stage_id") != a.get("stage_id") || b.get("status") != a.get("status")
        });
        if moved {
            diesel::insert_into(hist::table)
                .values((
                    hist::opportunity_id.eq(id),
                    hist::from_stage_id.eq(before
                        .and_then(|b| b.get("stage_id"))
                        .and_then(Value::as_i64)),
                    hist::to_stage_id.eq(a.get("stage_id").and_then(Value::as_i64)),
                    hist::from_status.eq(before.map_or("", |b| s(b, "status"))),
                    hist::to_status.eq(s(a, "status")),
                    hist::reason.eq(s(a, "close_reason")),
                    hist::changed_by.eq(ctx.user_id),
                    hist::changed_at.eq(t),
                ))
                .execute(conn)?;
        }
        if before.is_none()
            && let Some(c) = a.get("customer_id").and_then(Value::as_i64)
        {
            let mut sql = Sql::new(conn.backend());
            sql.push("UPDATE customers SET last_opportunity_at = ")
                .ts(t)
                .push(" WHERE id = ")
                .int(c);
            sql.execute(conn)?;
        }
    } else if let Some(b) = before {
        // A deleted opportunity's follow-ups stay with the customer.
        let id = b.get("id").and_then(Value::as_i64).unwrap_or(0);
        let mut sql = Sql::new(conn.backend());
        sql.push("UPDATE followups SET opportunity_id = NULL WHERE opportunity_id = ")
            .int(id);
        sql.execute(conn)?;
    }
    // A won opportunity makes its customer a won customer; when the last one
    // is reopened or deleted, the customer is no longer marked won.
    let mut customers: Vec<i64> = [before, after]
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("customer_id").and_then(Value::as_i64))
        .collect();
    customers.dedup();
    let touched_won = [before, after]
        .into_iter()
        .flatten()
        .any(|r| s(r, "status") == "won");
    if touched_won {
        for c in customers {
            let mut sql = Sql::new(conn.backend());
            sql.push("UPDATE customers SET deal_status = CASE WHEN EXISTS (SELECT 1 FROM opportunities WHERE customer_id = ")
                .int(c)
                .push(" AND status = 'won') THEN 'won' WHEN deal_status = 'won' THEN 'none' ELSE deal_status END WHERE id = ")
                .int(c);
            sql.execute(conn)?;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageInput {
    version: i32,
    #[serde(default)]
    stage_id: Option<i64>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/v1/opportunities/{id}/stage`: `{"version", "stage_id"?,
/// "status"?, "reason"?}` moves an opportunity to another stage of its
/// pipeline, closes it as won/lost/invalid (a reason is required) or
/// reopens it.
async fn stage_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<StageInput>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let b = body.into_inner();
    if b.stage_id.is_none() && b.status.is_none() {
        return Err(AppError::invalid(
            "stage_id",
            "name the stage to move to, or the status (won, lost, invalid, open)",
        ));
    }
    let mut changes = Map::new();
    if let Some(sid) = b.stage_id {
        changes.insert("stage_id".into(), Value::from(sid));
    }
    if let Some(st) = b.status {
        changes.insert("status".into(), Value::from(st));
    }
    if let Some(r) = b.reason {
        changes.insert("close_reason".into(), Value::from(r));
    }
    let rec = state
        .db(move |c| records::update(c, &actor, &SPEC, id, b.version, &changes, true, false))
        .await?;
    Ok(HttpResponse::Ok().json(rec))
}

#[derive(Debug, Serialize, Queryable)]
struct HistoryRow {
    id: i64,
    from_stage_id: Option<i64>,
    to_stage_id: Option<i64>,
    from_status: String,
    to_status: String,
    reason: String,
    changed_by: Option<i64>,
    changed_at: chrono::NaiveDateTime,
}

/// `GET /api/v1/opportunities/{id}/history`: every stage change, oldest first.
async fn history_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let items = state.db(move |c| history(c, &actor, id)).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// Every stage change of an opportunity the actor may see, oldest first,
/// with stage and user names.
pub fn history(c: &mut DbConn, actor: &Actor, id: i64) -> Result<Vec<Value>, AppError> {
    records::get(c, actor, &SPEC, id)?;
    let rows: Vec<HistoryRow> = hist::table
        .filter(hist::opportunity_id.eq(id))
        .order((hist::changed_at, hist::id))
        .select((
            hist::id,
            hist::from_stage_id,
            hist::to_stage_id,
            hist::from_status,
            hist::to_status,
            hist::reason,
            hist::changed_by,
            hist::changed_at,
        ))
        .load(c)?;
    let stage_ids: Vec<i64> = rows
        .iter()
        .flat_map(|r| [r.from_stage_id, r.to_stage_id])
        .flatten()
        .collect();
    let names: std::collections::HashMap<i64, String> = st::table
        .filter(st::id.eq_any(&stage_ids))
        .select((st::id, st::name))
        .load::<(i64, String)>(c)?
        .into_iter()
        .collect();
    let users = records::user_names(c, rows.iter().filter_map(|r| r.changed_by))?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let mut v = json!(r);
            v["from_stage"] = json!(r.from_stage_id.and_then(|i| names.get(&i)));
            v["to_stage"] = json!(r.to_stage_id.and_then(|i| names.get(&i)));
            v["changed_by_name"] = json!(r.changed_by.and_then(|u| users.get(&u)));
            v
        })
        .collect();
    Ok(items)
}

/// The opportunity's own routes, besides the generic record API.
pub fn extra_routes(c: &mut web::ServiceConfig) {
    c.route("/{id}/stage", web::post().to(stage_api))
        .route("/{id}/history", web::get().to(history_api));
}
