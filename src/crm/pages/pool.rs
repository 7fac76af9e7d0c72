//! Customer pools (公海): the pools a user belongs to, a pool's customers
//! with search and paging, claiming within the limits shown, and assigning
//! for the pool's administrators.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::Value;

use super::display::plain;
use super::objects::local_time;
use super::{Opt, people};
use crate::app::AppState;
use crate::core::error::AppError;
use crate::core::list;
use crate::core::web::form::FormData;
use crate::core::web::{Chrome, FormUi, HtmlError, Ui, html, see_other};
use crate::crm::pools;

pub struct PoolRow {
    pub id: i64,
    pub name: String,
    pub description: String,
}

#[derive(Template)]
#[template(path = "crm/pools.html")]
struct PoolsPage {
    c: Chrome,
    pools: Vec<PoolRow>,
}

pub async fn pools_page(ui: Ui, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    let actor = ui.actor.clone();
    let list = state
        .db(move |c| {
            actor.require("pool", "view")?;
            pools::list(c, &actor)
        })
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(html(
        StatusCode::OK,
        &PoolsPage {
            c: ui.chrome("pools"),
            pools: list
                .into_iter()
                .filter(|p| p.active)
                .map(|p| PoolRow {
                    id: p.id,
                    name: p.name,
                    description: p.description,
                })
                .collect(),
        },
    ))
}

pub struct PooledRow {
    pub id: i64,
    pub name: String,
    pub city: String,
    pub level: String,
    pub pooled_at: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "crm/pool.html")]
struct PoolPage {
    c: Chrome,
    id: i64,
    name: String,
    q: String,
    rows: Vec<PooledRow>,
    next_href: String,
    limits: Vec<(String, String)>,
    can_claim: bool,
    is_admin: bool,
    users: Vec<Opt>,
    notice: String,
    error: String,
}

#[derive(serde::Deserialize)]
struct PoolQuery {
    q: Option<String>,
    cursor: Option<String>,
    done: Option<usize>,
}

pub async fn pool_page(
    ui: Ui,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    render(ui, req, state, path.into_inner(), String::new()).await
}

async fn render(
    ui: Ui,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: i64,
    error: String,
) -> Result<HttpResponse, HtmlError> {
    let q = web::Query::<PoolQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or(PoolQuery {
            q: None,
            cursor: None,
            done: None,
        });
    let t = ui.t();
    let actor = ui.actor.clone();
    let now = state.clock.now();
    let params = list::ListParams {
        q: q.q.clone().filter(|s| !s.trim().is_empty()),
        cursor: q.cursor.clone(),
        limit: Some(50),
        ..Default::default()
    };
    let tz = ui.actor.user.time_zone.clone();
    let (pool, page, limits, users) = state
        .db(move |c| {
            let pool = pools::visible_pool(c, &actor, id)?;
            let page = crate::crm::customers::store::list_pool(c, &actor, id, &params)?;
            let limits = pools::limits(c, &actor, &pool, now)?;
            let users = if pools::actor_is_admin(&pool, &actor) {
                people(c)?
            } else {
                vec![]
            };
            Ok((pool, page, limits, users))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let lim = |k: &str| -> String {
        match limits.get(k) {
            Some(Value::Number(n)) if n.as_i64() != Some(0) => n.to_string(),
            Some(Value::Number(_)) | None | Some(Value::Null) => t.t("pool.no_limit").to_string(),
            Some(v) => plain(v),
        }
    };
    let limits_view = vec![
        (
            t.t("pool.claims_today").to_string(),
            format!(
                "{} / {}",
                plain(&limits["claims_today"]),
                lim("claims_per_day")
            ),
        ),
        (
            t.t("pool.owned").to_string(),
            format!("{} / {}", plain(&limits["owned"]), lim("max_owned")),
        ),
        (
            t.t("pool.cooldown").to_string(),
            lim("reclaim_cooldown_days"),
        ),
    ];
    let rows = page
        .items
        .iter()
        .map(|c| PooledRow {
            id: c.id.0,
            name: c.name.clone(),
            city: c.city.clone(),
            level: c.level.clone(),
            pooled_at: c.pooled_at.map(|p| local_time(p, &tz)).unwrap_or_default(),
            reason: c.pool_reason.clone(),
        })
        .collect();
    let next_href = page.next_cursor.map_or(String::new(), |cur| {
        let mut s = form_urlencoded::Serializer::new(String::new());
        if let Some(q) = &q.q {
            s.append_pair("q", q);
        }
        s.append_pair("cursor", &cur);
        format!("/pools/{id}?{}", s.finish())
    });
    let notice = q
        .done
        .map(|n| t.t("pool.claimed").replace("{n}", &n.to_string()))
        .unwrap_or_default();
    Ok(html(
        if error.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::CONFLICT
        },
        &PoolPage {
            c: ui.chrome("pools"),
            id,
            is_admin: pools::actor_is_admin(&pool, &ui.actor),
            name: pool.name,
            q: q.q.unwrap_or_default(),
            rows,
            next_href,
            limits: limits_view,
            can_claim: ui.actor.can("pool", "claim"),
            users,
            notice,
            error,
        },
    ))
}

async fn act(
    ui: Ui,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: i64,
    f: FormData,
    assign: bool,
) -> Result<HttpResponse, HtmlError> {
    let ids = f.i64s("ids").map_err(|e| ui.fail(e))?;
    let to = f.opt_i64("user_id").map_err(|e| ui.fail(e))?;
    let actor = ui.actor.clone();
    let now = state.clock.now();
    let r = state
        .db(move |c| {
            if assign {
                let to =
                    to.ok_or_else(|| AppError::invalid("user_id", "who gets the customers?"))?;
                pools::assign(c, &actor, id, &ids, to, now)
            } else {
                pools::claim(c, &actor, id, &ids, now)
            }
        })
        .await;
    match r {
        Ok(n) => Ok(see_other(&format!("/pools/{id}?done={n}"))),
        Err(e @ (AppError::Conflict(_) | AppError::Invalid { .. } | AppError::Forbidden(_))) => {
            let msg = crate::core::i18n::localize(ui.t(), &e.to_string());
            render(ui, req, state, id, msg).await
        }
        Err(e) => Err(ui.fail(e)),
    }
}

pub async fn claim(
    fu: FormUi,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    act(ui, req, state, path.into_inner(), f, false).await
}

pub async fn assign(
    fu: FormUi,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    act(ui, req, state, path.into_inner(), f, true).await
}
