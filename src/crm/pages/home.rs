//! The home page: the to-do centre (follow-ups due today, tasks due and
//! overdue, customers about to return to the pool, new leads, opportunities
//! closing this month), the month's own numbers and the sales funnel drawn
//! as SVG on the server.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::{Datelike, NaiveDateTime};
use serde_json::Value;

use super::display::plain;
use super::objects::{local_time_value, money};
use crate::app::AppState;
use crate::core::auth::actor::Actor;
use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::i18n::Tr;
use crate::core::sql::Sql;
use crate::core::web::{Chrome, HtmlError, Ui, html};

pub struct TodoItem {
    pub href: String,
    pub name: String,
    pub detail: String,
}

pub struct Section {
    pub total: String,
    pub items: Vec<TodoItem>,
    pub empty: String,
}

pub struct Tile {
    pub label: String,
    pub value: String,
}

pub struct FunnelBar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub label: String,
    pub figure: String,
    pub text_y: i64,
}

#[derive(Template)]
#[template(path = "crm/home.html")]
struct HomePage {
    c: Chrome,
    sections: Vec<SectionShell>,
    admin_steps: bool,
    company: String,
}

/// The month's numbers and the funnel, loaded after the page.
#[derive(Template)]
#[template(path = "crm/home_stats.html")]
struct StatsPart {
    c: Chrome,
    tiles: Vec<Tile>,
    funnel: Vec<FunnelBar>,
    funnel_name: String,
    funnel_href: String,
    funnel_height: i64,
}

/// `GET /home/stats`.
pub async fn stats(ui: Ui, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    let t = ui.t();
    let actor = ui.actor.clone();
    let now = state.clock.now();
    let (tiles, (funnel, funnel_name, funnel_href)) = state
        .db(move |c| Ok((tiles(c, t, &actor, now)?, funnel(c, &actor)?)))
        .await
        .map_err(|e| ui.fail(e))?;
    let funnel_height = (funnel.len() as i64 * 44).max(44);
    Ok(html(
        StatusCode::OK,
        &StatsPart {
            c: ui.chrome("home"),
            tiles,
            funnel,
            funnel_name,
            funnel_href,
            funnel_height,
        },
    ))
}

fn section(t: Tr, data: Option<&Value>, item: impl Fn(&Value) -> TodoItem) -> Option<Section> {
    let data = data?;
    let items: Vec<TodoItem> = data
        .get("items")
        .and_then(Value::as_array)
        .map(|a| a.iter().take(8).map(&item).collect())
        .unwrap_or_default();
    let total = match data.get("total") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Object(o)) => {
            let n = o
                .get("count")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .to_string();
            if o.get("capped").and_then(Value::as_bool) == Some(true) {
                format!("{n}+")
            } else {
                n
            }
        }
        _ => items.len().to_string(),
    };
    Some(Section {
        total,
        items,
        empty: t.t("todo.nothing").to_string(),
    })
}

fn s(v: &Value, k: &str) -> String {
    plain(v.get(k).unwrap_or(&Value::Null))
}

fn id(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or_default()
}

/// This month's start in the user's zone, as UTC.
fn month_start(tz: &str, now: NaiveDateTime) -> NaiveDateTime {
    let off = i64::from(crate::core::time::offset_at(tz, now).local_minus_utc());
    let local = now + chrono::Duration::seconds(off);
    let first = local
        .date()
        .with_day(1)
        .unwrap_or(local.date())
        .and_hms_opt(0, 0, 0)
        .unwrap_or(local);
    first - chrono::Duration::seconds(off)
}

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn scalar(conn: &mut DbConn, sql: Sql) -> Result<i64, AppError> {
    Ok(sql.load::<N>(conn)?.first().map_or(0, |r| r.n))
}

/// The user's own numbers this month.
fn tiles(
    conn: &mut DbConn,
    t: Tr,
    actor: &Actor,
    now: NaiveDateTime,
) -> Result<Vec<Tile>, AppError> {
    let from = month_start(&actor.user.time_zone, now);
    let me = actor.user_id();
    let b = conn.backend();
    let mut out = Vec::new();
    if actor.can("customers", "view") {
        let mut q = Sql::new(b);
        q.push("SELECT COUNT(*) AS n FROM customers WHERE owner_id = ")
            .int(me)
            .push(" AND created_at >= ")
            .ts(from);
        out.push(Tile {
            label: t.t("home.tile_new_customers").into(),
            value: scalar(conn, q)?.to_string(),
        });
    }
    if actor.can("followups", "view") {
        let mut q = Sql::new(b);
        q.push("SELECT COUNT(*) AS n FROM followups WHERE owner_id = ")
            .int(me)
            .push(" AND occurred_at >= ")
            .ts(from);
        out.push(Tile {
            label: t.t("home.tile_followups").into(),
            value: scalar(conn, q)?.to_string(),
        });
    }
    if actor.can("opportunities", "view") {
        let mut q = Sql::new(b);
        q.push("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS n FROM opportunities WHERE owner_id = ")
            .int(me)
            .push(" AND status = 'won' AND closed_at >= ")
            .ts(from);
        out.push(Tile {
            label: t.t("home.tile_won").into(),
            value: money(scalar(conn, q)?),
        });
        let mut q = Sql::new(b);
        q.push("SELECT COUNT(*) AS n FROM opportunities WHERE owner_id = ")
            .int(me)
            .push(" AND status = 'open'");
        out.push(Tile {
            label: t.t("home.tile_open_opportunities").into(),
            value: scalar(conn, q)?.to_string(),
        });
    }
    Ok(out)
}

/// The first pipeline's open stages as funnel bars (count and amount).
fn funnel(conn: &mut DbConn, actor: &Actor) -> Result<(Vec<FunnelBar>, String, String), AppError> {
    if !actor.can("opportunities", "view") {
        return Ok((vec![], String::new(), String::new()));
    }
    let Some(p) = crate::crm::pipelines::list(conn, actor)?
        .into_iter()
        .find(|p| p.active)
    else {
        return Ok((vec![], String::new(), String::new()));
    };
    let board = crate::crm::pipelines::board(conn, actor, p.id, 0, false)?;
    let stages = board
        .get("stages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let max = stages
        .iter()
        .map(|s| id(s, "count"))
        .max()
        .unwrap_or(0)
        .max(1);
    let bars = stages
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let n = id(st, "count");
            // At least a sliver, so an empty stage still shows.
            let width = 40 + (n * 560) / max;
            let amounts = st
                .get("amounts")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(cur, v)| format!("{} {cur}", money(v.as_i64().unwrap_or(0))))
                        .collect::<Vec<_>>()
                        .join(" · ")
                })
                .unwrap_or_default();
            let y = i as i64 * 44;
            FunnelBar {
                x: (600 - width) / 2,
                y,
                width,
                label: s(st, "name"),
                figure: if amounts.is_empty() {
                    n.to_string()
                } else {
                    format!("{n} · {amounts}")
                },
                text_y: y + 24,
            }
        })
        .collect();
    Ok((bars, p.name, format!("/board/{}", p.id)))
}

/// Where a section's "all" link goes.
fn more_href(key: &str) -> &'static str {
    match key {
        "followups_due_today" => "/customers?view=due_today",
        "tasks_overdue" => "/tasks?view=overdue",
        "tasks_due_today" => "/tasks?view=due_today",
        "pool_returns_soon" => "/customers?view=mine",
        "opportunities_closing_this_month" => "/opportunities?view=closing_this_month",
        _ => "/leads?view=new_this_week",
    }
}

/// One to-do section's items as the page shows them.
fn build_section(t: Tr, tz: &str, key: &str, data: Option<&Value>) -> Option<Section> {
    match key {
        "followups_due_today" => section(t, data, |v| TodoItem {
            href: format!("/customers/{}", id(v, "id")),
            name: s(v, "name"),
            detail: local_time_value(v.get("next_follow_up_at").unwrap_or(&Value::Null), tz),
        }),
        "tasks_overdue" | "tasks_due_today" => section(t, data, |v| TodoItem {
            href: format!("/tasks/{}", id(v, "id")),
            name: s(v, "title"),
            detail: local_time_value(v.get("due_at").unwrap_or(&Value::Null), tz),
        }),
        "pool_returns_soon" => section(t, data, |v| TodoItem {
            href: format!("/customers/{}", id(v, "customer_id")),
            name: s(v, "name"),
            detail: format!(
                "{} · {}",
                local_time_value(v.get("returns_at").unwrap_or(&Value::Null), tz),
                t.t(&format!("pool.rule.{}", s(v, "rule")))
            ),
        }),
        "opportunities_closing_this_month" => section(t, data, |v| TodoItem {
            href: format!("/opportunities/{}", id(v, "id")),
            name: s(v, "name"),
            detail: format!(
                "{} · {} {}",
                s(v, "expected_close_date"),
                money(id(v, "amount")),
                s(v, "currency")
            ),
        }),
        _ => section(t, data, |v| TodoItem {
            href: format!("/leads/{}", id(v, "id")),
            name: s(v, "name"),
            detail: s(v, "company"),
        }),
    }
}

/// A to-do section on the home page before its items arrive.
pub struct SectionShell {
    pub key: &'static str,
    pub title: String,
    pub more_href: &'static str,
}

/// `GET /`: the section shells (each loads its items with its own request),
/// so the page does not wait for the to-do queries.
pub async fn home(ui: Ui, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    let t = ui.t();
    let company = state
        .db(|c| Ok(crate::core::settings::get(c, "company.name")?.unwrap_or_default()))
        .await
        .map_err(|e| ui.fail(e))?;
    let sections = crate::crm::TODO_SECTIONS
        .iter()
        .filter(|(_, module)| ui.actor.can(module, "view"))
        .map(|(key, _)| SectionShell {
            key,
            title: t.t(&format!("todo.{key}")).to_string(),
            more_href: more_href(key),
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        &HomePage {
            c: ui.chrome("home"),
            sections,
            admin_steps: ui.actor.can("admin", "manage"),
            company,
        },
    ))
}

#[derive(Template)]
#[template(path = "crm/todo_section.html")]
struct SectionPart {
    c: Chrome,
    s: Section,
}

/// `GET /home/todo/{key}`: one section's items and count.
pub async fn todo_part(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let key = path.into_inner();
    let t = ui.t();
    let actor = ui.actor.clone();
    let now = state.clock.now();
    let tz = ui.actor.user.time_zone.clone();
    let k2 = key.clone();
    let data = state
        .db(move |c| crate::crm::todo_section(c, &actor, now, &k2))
        .await
        .map_err(|e| ui.fail(e))?
        .ok_or_else(|| ui.fail(AppError::NotFound(format!("no to-do section {key}"))))?;
    let s = build_section(t, &tz, &key, Some(&data))
        .ok_or_else(|| ui.fail(AppError::NotFound(format!("no to-do section {key}"))))?;
    Ok(html(
        StatusCode::OK,
        &SectionPart {
            c: ui.chrome("home"),
            s,
        },
    ))
}
