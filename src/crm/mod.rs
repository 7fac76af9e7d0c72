//! The business objects, one folder each.

pub mod contacts;
pub mod customers;
pub mod demo;
pub mod followups;
pub mod leads;
pub mod opportunities;
pub mod pages;
pub mod pipelines;
pub mod pools;
pub mod products;
pub mod settings_web;
pub mod tasks;
pub mod transfers;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::app::AppState;
use crate::core::auth::actor::Actor;
use crate::core::error::AppError;
use crate::core::list::{Filter, ListParams, Op};
use crate::core::records::{EntitySpec, api as records_api, store as records};

/// The business objects served by the generic record store and API.
pub static RECORD_SPECS: &[&EntitySpec] = &[
    &contacts::SPEC,
    &leads::SPEC,
    &followups::SPEC,
    &tasks::SPEC,
    &opportunities::SPEC,
    &products::SPEC,
];

/// The business modules' scheduled jobs.
pub fn jobs() -> Vec<crate::core::jobs::Job> {
    vec![pools::returns_job()]
}

/// Every business module's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    crate::core::views::set_checker(check_view);
    customers::routes(cfg);
    crate::core::views::routes(cfg);
    crate::core::attachments::routes(cfg);
    crate::core::follows::routes(cfg);
    cfg.service(search_api)
        .service(openapi_api)
        .service(todo_api)
        .service(followup_types_api)
        .service(set_followup_types_api);
    products::routes(cfg);
    pipelines::routes(cfg);
    pools::api::routes(cfg);
    transfers::routes(cfg);
    cfg.service(records_api::scope(&leads::SPEC, |c| {
        c.route("/{id}/convert", web::post().to(leads::convert::convert_api));
    }));
    cfg.service(records_api::scope(
        &opportunities::SPEC,
        opportunities::extra_routes,
    ));
    for spec in RECORD_SPECS
        .iter()
        .filter(|s| s.name != "leads" && s.name != "opportunities")
    {
        cfg.service(records_api::scope(spec, |_| {}));
    }
}

#[derive(serde::Deserialize)]
struct SearchQuery {
    q: String,
    limit: Option<i64>,
}

/// `GET /api/v1/search?q=`: results grouped by type, each filtered by the
/// caller's data scope.
#[actix_web::get("/api/v1/search")]
async fn search_api(
    actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    if q.q.trim().is_empty() {
        return Err(AppError::invalid("q", "type something to search for"));
    }
    let limit = q.limit.unwrap_or(10).clamp(1, 50);
    let out = state
        .db(move |c| {
            let mut out = serde_json::Map::new();
            let customers = customers::store::search(c, &actor, &q.q, limit)?;
            out.insert("customers".into(), json!(customers));
            for spec in RECORD_SPECS {
                let found = records::search(c, &actor, spec, &q.q, limit)?;
                out.insert(spec.name.into(), json!(found));
            }
            Ok(out)
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

fn mine(actor: &Actor, owner_col: &str, view: &str, limit: i64) -> ListParams {
    ListParams {
        view: Some(view.into()),
        filters: vec![Filter {
            field: owner_col.into(),
            op: Op::Eq,
            value: vec![actor.user_id().to_string()],
        }],
        limit: Some(limit),
        total: true,
        ..Default::default()
    }
}

/// `GET /api/v1/todo`: the caller's to-do centre: customers to follow up
/// today, tasks due today and overdue, customers the pool rules will take
/// back soon, opportunities expected to close this month, and their new
/// leads, each with a (capped) count. Sections the caller has no permission for are left out.
#[actix_web::get("/api/v1/todo")]
async fn todo_api(actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let now = state.clock.now();
    let out = state.db(move |c| todo(c, &actor, now)).await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The to-do centre's sections, in order, with the module that shows each.
pub const TODO_SECTIONS: &[(&str, &str)] = &[
    ("followups_due_today", "customers"),
    ("tasks_overdue", "tasks"),
    ("tasks_due_today", "tasks"),
    ("pool_returns_soon", "customers"),
    ("opportunities_closing_this_month", "opportunities"),
    ("new_leads", "leads"),
];

/// One section of the actor's to-do centre with up to 20 items and a
/// capped count; `None` when the actor may not see it.
pub fn todo_section(
    c: &mut crate::core::db::DbConn,
    actor: &Actor,
    now: chrono::NaiveDateTime,
    key: &str,
) -> Result<Option<serde_json::Value>, AppError> {
    let Some((_, module)) = TODO_SECTIONS.iter().find(|(k, _)| *k == key) else {
        return Ok(None);
    };
    if !actor.can(module, "view") {
        return Ok(None);
    }
    Ok(Some(match key {
        "followups_due_today" => {
            let p = mine(actor, "owner_id", "due_today", 20);
            json!(customers::store::list(c, actor, &p)?)
        }
        "tasks_overdue" | "tasks_due_today" => {
            let view = if key == "tasks_overdue" {
                "overdue"
            } else {
                "due_today"
            };
            let p = mine(actor, "assignee_id", view, 20);
            json!(records::list(c, actor, &tasks::SPEC, &p)?)
        }
        "pool_returns_soon" => {
            let (items, count) = pools::warnings(c, actor, now, 20)?;
            json!({ "items": items, "total": count })
        }
        "opportunities_closing_this_month" => {
            let mut p = mine(actor, "owner_id", "closing_this_month", 20);
            p.sort = Some("expected_close_date".into());
            json!(records::list(c, actor, &opportunities::SPEC, &p)?)
        }
        _ => {
            let mut p = mine(actor, "owner_id", "new_this_week", 20);
            p.sort = Some("-created_at".into());
            json!(records::list(c, actor, &leads::SPEC, &p)?)
        }
    }))
}

/// The actor's to-do centre (see `GET /api/v1/todo`): every section it may see.
pub fn todo(
    c: &mut crate::core::db::DbConn,
    actor: &Actor,
    now: chrono::NaiveDateTime,
) -> Result<serde_json::Map<String, serde_json::Value>, AppError> {
    let mut out = serde_json::Map::new();
    for (key, _) in TODO_SECTIONS {
        if let Some(v) = todo_section(c, actor, now, key)? {
            out.insert((*key).into(), v);
        }
    }
    Ok(out)
}

/// `GET /api/v1/followup-types`: the follow-up types to choose from.
#[actix_web::get("/api/v1/followup-types")]
async fn followup_types_api(
    _actor: Actor,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let types = state.db(followups::types).await?;
    Ok(HttpResponse::Ok().json(json!({ "types": types })))
}

/// `PUT /api/v1/followup-types` (administrators): `{"types": ["call", ...]}`.
#[actix_web::put("/api/v1/followup-types")]
async fn set_followup_types_api(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, AppError> {
    actor.require("admin", "manage")?;
    let list: Vec<String> = body
        .get("types")
        .and_then(|t| serde_json::from_value(t.clone()).ok())
        .ok_or_else(|| AppError::invalid("types", "a list of type names"))?;
    let clean = state
        .db(move |c| followups::set_types(c, &actor, list))
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "types": clean })))
}

/// `GET /api/v1/openapi.json`, public so API clients can discover it.
#[actix_web::get("/api/v1/openapi.json")]
async fn openapi_api() -> HttpResponse {
    HttpResponse::Ok().json(crate::core::openapi::document(
        RECORD_SPECS,
        &[&customers::model::DOC_SPEC],
    ))
}

/// A saved view's sort, filters and built-in view must work on its list.
fn check_view(
    conn: &mut crate::core::db::DbConn,
    entity: &str,
    d: &crate::core::views::Definition,
) -> Result<(), AppError> {
    use crate::core::list;
    use crate::core::listing::COMMON_VIEWS;
    let (columns, default_sort, extra): (Vec<list::Column>, &str, &[&str]) =
        if entity == "customers" {
            (
                customers::store::COLUMNS.to_vec(),
                customers::store::DEFAULT_SORT,
                customers::store::EXTRA_VIEWS,
            )
        } else if let Some(spec) = RECORD_SPECS.iter().find(|s| s.name == entity) {
            (
                spec.columns(),
                spec.default_sort,
                spec.extra_views.map_or(&[][..], |(_, names)| names),
            )
        } else {
            return Err(AppError::invalid(
                "entity",
                format!("`{entity}` has no list"),
            ));
        };
    let defs = crate::core::fields::list(conn, Some(entity), true)?;
    let backend = conn.backend();
    list::resolve_sort(backend, &columns, &defs, d.sort.as_deref(), default_sort)
        .map_err(|e| AppError::invalid("definition.sort", e.to_string()))?;
    let mut sql = crate::core::sql::Sql::new(backend);
    list::apply_filters(&mut sql, &columns, &defs, &d.filters)
        .map_err(|e| AppError::invalid("definition.filters", e.to_string()))?;
    if let Some(v) = d.view.as_deref()
        && !COMMON_VIEWS.contains(&v)
        && !extra.contains(&v)
    {
        return Err(AppError::invalid(
            "definition.view",
            format!(
                "unknown view `{v}`; built-in: {}, {}",
                COMMON_VIEWS.join(", "),
                extra.join(", ")
            ),
        ));
    }
    Ok(())
}
