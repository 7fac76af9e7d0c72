//! Pipelines (销售流程 / stage groups): ordered stages, each with a win
//! probability, that opportunities move through; won, lost and invalid are
//! the terminal states (see `crm::opportunities`). A pipeline may be limited
//! to some departments. Also the pipeline board: each stage's cards and sums.

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::app::AppState;
use crate::core::access::{OwnerFilter, push_scope_on};
use crate::core::audit;
use crate::core::auth::actor::Actor;
use crate::core::db::schema::{departments, opportunities, pipeline_stages as st, pipelines as pl};
use crate::core::db::{DbConn, now, write_tx};
use crate::core::error::AppError;
use crate::core::records::{limited, store as records};
use crate::core::sql::Sql;

#[derive(Debug, Clone, Serialize, Deserialize, Queryable, PartialEq)]
pub struct Stage {
    pub id: i64,
    #[serde(skip)]
    pub pipeline_id: i64,
    pub name: String,
    pub position: i32,
    pub probability: i32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pipeline {
    pub id: i64,
    pub name: String,
    /// Departments that may use it; empty: everyone.
    pub departments: Vec<i64>,
    pub active: bool,
    pub position: i32,
    pub stages: Vec<Stage>,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
    pub version: i32,
}

type PipelineRow = (
    i64,
    String,
    String,
    bool,
    i32,
    chrono::NaiveDateTime,
    chrono::NaiveDateTime,
    i32,
);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    #[serde(default)]
    pub id: Option<i64>,
    pub name: String,
    #[serde(default)]
    pub probability: i32,
    /// As read; the order of the list decides.
    #[serde(default)]
    pub position: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineInput {
    pub name: String,
    #[serde(default)]
    pub departments: Vec<i64>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub position: i32,
    pub stages: Vec<StageInput>,
    /// The version read, for a change.
    #[serde(default)]
    pub version: Option<i32>,
}

fn yes() -> bool {
    true
}

fn not_found(id: i64) -> AppError {
    AppError::NotFound(format!("pipeline {id} not found"))
}

fn assemble(conn: &mut DbConn, rows: Vec<PipelineRow>) -> Result<Vec<Pipeline>, AppError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let stages: Vec<Stage> = st::table
        .filter(st::pipeline_id.eq_any(&ids))
        .order((st::pipeline_id, st::position, st::id))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| Pipeline {
            id: r.0,
            name: r.1,
            departments: serde_json::from_str(&r.2).unwrap_or_default(),
            active: r.3,
            position: r.4,
            stages: stages
                .iter()
                .filter(|s| s.pipeline_id == r.0)
                .cloned()
                .collect(),
            created_at: r.5,
            updated_at: r.6,
            version: r.7,
        })
        .collect())
}

fn columns() -> (
    pl::id,
    pl::name,
    pl::departments,
    pl::active,
    pl::position,
    pl::created_at,
    pl::updated_at,
    pl::version,
) {
    (
        pl::id,
        pl::name,
        pl::departments,
        pl::active,
        pl::position,
        pl::created_at,
        pl::updated_at,
        pl::version,
    )
}

/// A pipeline by id, whoever asks (callers check access).
pub fn read(conn: &mut DbConn, id: i64) -> Result<Pipeline, AppError> {
    let rows: Vec<PipelineRow> = pl::table
        .filter(pl::id.eq(id))
        .select(columns())
        .load(conn)?;
    assemble(conn, rows)?.pop().ok_or_else(|| not_found(id))
}

/// May the actor put opportunities into this pipeline (their department is
/// one of its departments, or it has none, or they administer)?
pub fn usable_by(p: &Pipeline, actor: &Actor) -> bool {
    p.departments.is_empty()
        || actor.can("admin", "manage")
        || actor
            .user
            .department_id
            .is_some_and(|d| p.departments.contains(&d))
}

/// The pipelines the actor may use (administrators: all of them, inactive too).
pub fn list(conn: &mut DbConn, actor: &Actor) -> Result<Vec<Pipeline>, AppError> {
    actor.require("opportunities", "view")?;
    let rows: Vec<PipelineRow> = pl::table
        .order((pl::position, pl::id))
        .select(columns())
        .load(conn)?;
    let admin = actor.can("admin", "manage");
    Ok(assemble(conn, rows)?
        .into_iter()
        .filter(|p| admin || (p.active && usable_by(p, actor)))
        .collect())
}

/// Check and clean a pipeline definition.
fn validate(conn: &mut DbConn, input: &PipelineInput) -> Result<String, AppError> {
    let name = limited("name", &input.name, 100)?;
    if name.is_empty() {
        return Err(AppError::invalid("name", "is required"));
    }
    if input.stages.is_empty() || input.stages.len() > 30 {
        return Err(AppError::invalid("stages", "between 1 and 30 stages"));
    }
    let mut names: Vec<String> = Vec::new();
    for (i, s) in input.stages.iter().enumerate() {
        let n = limited(&format!("stages[{i}].name"), &s.name, 50)?;
        if n.is_empty() {
            return Err(AppError::invalid(
                &format!("stages[{i}].name"),
                "is required",
            ));
        }
        if names.contains(&n) {
            return Err(AppError::invalid(
                &format!("stages[{i}].name"),
                format!("two stages are called `{n}`"),
            ));
        }
        if !(0..=100).contains(&s.probability) {
            return Err(AppError::invalid(
                &format!("stages[{i}].probability"),
                "a win probability from 0 to 100 (%)",
            ));
        }
        names.push(n);
    }
    for d in &input.departments {
        let found: i64 = departments::table
            .filter(departments::id.eq(d))
            .count()
            .get_result(conn)?;
        if found == 0 {
            return Err(AppError::invalid(
                "departments",
                format!("department {d} does not exist"),
            ));
        }
    }
    Ok(name)
}

/// Create (`id` None) or replace a pipeline with its stages. Stages keep
/// their ids when the input names them; a stage left out that
/// opportunities still use is refused.
pub fn save(
    conn: &mut DbConn,
    actor: &Actor,
    id: Option<i64>,
    input: PipelineInput,
) -> Result<Pipeline, AppError> {
    actor.require("admin", "manage")?;
    let name = validate(conn, &input)?;
    let ctx = actor.audit();
    let mut depts = input.departments.clone();
    depts.sort_unstable();
    depts.dedup();
    write_tx(conn, |conn| {
        let t = now();
        let (id, before) = match id {
            None => {
                let id: i64 = diesel::insert_into(pl::table)
                    .values((
                        pl::name.eq(&name),
                        pl::departments.eq(json!(depts).to_string()),
                        pl::active.eq(input.active),
                        pl::position.eq(input.position),
                        pl::created_at.eq(t),
                        pl::updated_at.eq(t),
                    ))
                    .returning(pl::id)
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
                        &format!("pipeline \"{}\"", before.name),
                        &before,
                    ));
                }
                diesel::update(pl::table.find(id))
                    .set((
                        pl::name.eq(&name),
                        pl::departments.eq(json!(depts).to_string()),
                        pl::active.eq(input.active),
                        pl::position.eq(input.position),
                        pl::updated_at.eq(t),
                        pl::version.eq(pl::version + 1),
                    ))
                    .execute(conn)?;
                (id, Some(before))
            }
        };
        let existing: Vec<i64> = before
            .as_ref()
            .map(|b| b.stages.iter().map(|s| s.id).collect())
            .unwrap_or_default();
        let mut kept: Vec<i64> = Vec::new();
        for (pos, s) in input.stages.iter().enumerate() {
            let sname = s.name.trim().to_string();
            match s.id {
                Some(sid) if existing.contains(&sid) => {
                    diesel::update(st::table.find(sid))
                        .set((
                            st::name.eq(&sname),
                            st::position.eq(pos as i32),
                            st::probability.eq(s.probability),
                        ))
                        .execute(conn)?;
                    kept.push(sid);
                }
                Some(sid) => {
                    return Err(AppError::invalid(
                        &format!("stages[{pos}].id"),
                        format!("stage {sid} is not a stage of this pipeline"),
                    ));
                }
                None => {
                    diesel::insert_into(st::table)
                        .values((
                            st::pipeline_id.eq(id),
                            st::name.eq(&sname),
                            st::position.eq(pos as i32),
                            st::probability.eq(s.probability),
                        ))
                        .execute(conn)?;
                }
            }
        }
        for gone in existing.iter().filter(|s| !kept.contains(s)) {
            let used: i64 = opportunities::table
                .filter(opportunities::stage_id.eq(gone))
                .count()
                .get_result(conn)?;
            if used > 0 {
                return Err(AppError::Conflict(format!(
                    "stage {gone} still holds {used} opportunities; move them to another stage first"
                )));
            }
            diesel::delete(st::table.find(gone)).execute(conn)?;
        }
        let after = read(conn, id)?;
        audit::record(
            conn,
            &ctx,
            if before.is_none() { "create" } else { "update" },
            "pipelines",
            Some(id),
            &audit::diff(&before.map_or(Value::Null, |b| json!(b)), &json!(after)),
        )?;
        Ok(after)
    })
}

/// Delete a pipeline no opportunity uses.
pub fn delete(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), AppError> {
    actor.require("admin", "manage")?;
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        let before = read(conn, id)?;
        let used: i64 = opportunities::table
            .filter(opportunities::pipeline_id.eq(id))
            .count()
            .get_result(conn)?;
        if used > 0 {
            return Err(AppError::Conflict(format!(
                "pipeline \"{}\" holds {used} opportunities; set it inactive instead, or move them",
                before.name
            )));
        }
        diesel::delete(pl::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            &ctx,
            "delete",
            "pipelines",
            Some(id),
            &audit::diff(&json!(before), &Value::Null),
        )?;
        Ok(())
    })
}

#[derive(QueryableByName)]
struct SumRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    stage_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    currency: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    amount: i64,
}

/// Each (status, stage, currency)'s count and amount of the pipeline's
/// opportunities the scope reaches: from `opportunity_sums` (kept by
/// triggers, a row per owner), plus, for a limited scope, the opportunities
/// shared with the actor that someone outside it owns.
fn sums(
    conn: &mut DbConn,
    pipeline: i64,
    owners: &OwnerFilter,
    me: i64,
    mine: bool,
) -> Result<Vec<SumRow>, AppError> {
    const SUM: &str = "SELECT status, stage_id, currency, CAST(SUM(n) AS BIGINT) AS n, \
         CAST(SUM(amount) AS BIGINT) AS amount FROM opportunity_sums WHERE pipeline_id = ";
    const GROUP: &str = " GROUP BY status, stage_id, currency";
    let mut sql = Sql::new(conn.backend());
    sql.push(SUM).int(pipeline);
    let owned_by = match (owners, mine) {
        (OwnerFilter::Nothing, _) => return Ok(vec![]),
        (_, true) => vec![me],
        (OwnerFilter::Owners(ids), false) => ids.clone(),
        (OwnerFilter::All, false) => vec![],
    };
    if !owned_by.is_empty() {
        sql.push(" AND owner_id IN ").int_list(&owned_by);
    }
    sql.push(GROUP);
    let mut rows: Vec<SumRow> = sql.load(conn)?;
    if matches!(owners, OwnerFilter::Owners(_)) && !mine {
        let mut sql = Sql::new(conn.backend());
        sql.push(
            "SELECT status, stage_id, currency, COUNT(*) AS n, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS amount \
             FROM opportunities WHERE pipeline_id = ",
        )
        .int(pipeline)
        .push(" AND (owner_id IS NULL OR owner_id NOT IN ")
        .int_list(&owned_by)
        .push(") AND ");
        crate::core::access::shares::push_shared_ids(&mut sql, "opportunities", me, false);
        sql.push(GROUP);
        rows.extend(sql.load::<SumRow>(conn)?);
    }
    Ok(rows)
}

fn add_amount(m: &mut Map<String, Value>, currency: &str, amount: i64) {
    let cur = m.get(currency).and_then(Value::as_i64).unwrap_or(0);
    m.insert(
        currency.to_string(),
        Value::from(cur.saturating_add(amount)),
    );
}

/// The board of a pipeline as the actor may see it: per open stage its
/// count, amounts per currency, probability-weighted amounts and the
/// `limit` most recently changed cards; per terminal state its count and
/// amounts.
pub fn board(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    limit: i64,
    mine: bool,
) -> Result<Value, AppError> {
    actor.require("opportunities", "view")?;
    let p = read(conn, id)?;
    if !usable_by(&p, actor) {
        return Err(not_found(id));
    }
    let spec = &crate::crm::opportunities::SPEC;
    let owners = actor.owner_filter(conn, spec.name, "view")?;
    let me = actor.user_id();
    let scope = |sql: &mut Sql| {
        if mine {
            sql.push(" AND owner_id = ").int(me);
        }
        push_scope_on(sql, "owner_id", &owners, spec.name, me, false);
    };
    let sums = sums(conn, id, &owners, me, mine)?;
    let mut stages = Vec::new();
    for s in &p.stages {
        let mut count = 0;
        let mut amounts = Map::new();
        let mut weighted = Map::new();
        for r in sums
            .iter()
            .filter(|r| r.status == "open" && r.stage_id == s.id)
        {
            count += r.n;
            add_amount(&mut amounts, &r.currency, r.amount);
            add_amount(
                &mut weighted,
                &r.currency,
                r.amount.saturating_mul(i64::from(s.probability)) / 100,
            );
        }
        let cards = records::select_where(conn, spec, |sql| {
            sql.push("pipeline_id = ")
                .int(id)
                .push(" AND status = 'open' AND stage_id = ")
                .int(s.id);
            scope(sql);
            sql.push(" ORDER BY updated_at DESC, id DESC LIMIT ")
                .int(limit);
        })?;
        let cards = records::with_names(conn, spec, cards)?;
        stages.push(json!({
            "id": s.id,
            "name": s.name,
            "probability": s.probability,
            "count": count,
            "amounts": amounts,
            "weighted_amounts": weighted,
            "cards": cards,
        }));
    }
    let mut closed = Map::new();
    for status in ["won", "lost", "invalid"] {
        let mut count = 0;
        let mut amounts = Map::new();
        for r in sums.iter().filter(|r| r.status == status) {
            count += r.n;
            add_amount(&mut amounts, &r.currency, r.amount);
        }
        closed.insert(status.into(), json!({"count": count, "amounts": amounts}));
    }
    Ok(json!({
        "pipeline": {"id": p.id, "name": p.name, "active": p.active},
        "stages": stages,
        "closed": closed,
    }))
}

/// `GET /api/v1/pipelines`: those the caller may use, with their stages.
#[actix_web::get("/api/v1/pipelines")]
async fn list_api(actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let items = state.db(move |c| list(c, &actor)).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `POST /api/v1/pipelines` (administrators).
#[actix_web::post("/api/v1/pipelines")]
async fn create_api(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<PipelineInput>,
) -> Result<HttpResponse, AppError> {
    let p = state
        .db(move |c| save(c, &actor, None, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(p))
}

/// `GET /api/v1/pipelines/{id}`.
#[actix_web::get("/api/v1/pipelines/{id}")]
async fn get_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let p = state
        .db(move |c| {
            actor.require("opportunities", "view")?;
            let p = read(c, id)?;
            if usable_by(&p, &actor) {
                Ok(p)
            } else {
                Err(not_found(id))
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

/// `PUT /api/v1/pipelines/{id}` (administrators): the whole definition,
/// with the version read.
#[actix_web::put("/api/v1/pipelines/{id}")]
async fn update_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<PipelineInput>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let p = state
        .db(move |c| save(c, &actor, Some(id), body.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(p))
}

/// `DELETE /api/v1/pipelines/{id}` (administrators): only an unused one.
#[actix_web::delete("/api/v1/pipelines/{id}")]
async fn delete_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    state.db(move |c| delete(c, &actor, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BoardQuery {
    limit: Option<i64>,
    view: Option<String>,
}

/// `GET /api/v1/pipelines/{id}/board?limit=20&view=mine`.
#[actix_web::get("/api/v1/pipelines/{id}/board")]
async fn board_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    q: web::Query<BoardQuery>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let limit = q.limit.unwrap_or(20).clamp(0, 100);
    let mine = match q.view.as_deref() {
        None | Some("all") => false,
        Some("mine") => true,
        Some(v) => {
            return Err(AppError::invalid("view", format!("`{v}`; mine or all")));
        }
    };
    let b = state.db(move |c| board(c, &actor, id, limit, mine)).await?;
    Ok(HttpResponse::Ok().json(b))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_api)
        .service(create_api)
        .service(board_api)
        .service(get_api)
        .service(update_api)
        .service(delete_api);
}
