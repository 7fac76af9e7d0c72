//! The pipeline board: a column per open stage with its count, amounts and
//! weighted amounts, cards that move by drag and drop (a small script) or
//! by the move form on each card (keyboard and no-script), and closing as
//! won, lost or invalid with a reason.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::Value;

use super::Opt;
use super::display::plain;
use super::objects::money;
use crate::app::AppState;
use crate::core::error::AppError;
use crate::core::web::{Chrome, HtmlError, Ui, html, see_other};

pub struct Card {
    pub id: i64,
    pub version: i64,
    pub name: String,
    pub amount: String,
    pub owner: String,
    pub close: String,
}

pub struct Column {
    pub id: i64,
    pub name: String,
    pub probability: i64,
    pub count: i64,
    pub amounts: String,
    pub weighted: String,
    pub cards: Vec<Card>,
}

#[derive(Template)]
#[template(path = "crm/board.html")]
struct BoardPage {
    c: Chrome,
    pipeline_id: i64,
    pipelines: Vec<Opt>,
    columns: Vec<Column>,
    stages: Vec<Opt>,
    closed: Vec<(String, i64, String)>,
    mine: bool,
    back: String,
    can_create: bool,
    error: String,
}

fn amounts(v: Option<&Value>) -> String {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(cur, a)| format!("{} {cur}", money(a.as_i64().unwrap_or(0))))
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .unwrap_or_default()
}

/// `GET /board`: the first pipeline the user may use.
pub async fn board_page(ui: Ui, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    let actor = ui.actor.clone();
    let first = state
        .db(move |c| {
            actor.require("opportunities", "view")?;
            Ok(crate::crm::pipelines::list(c, &actor)?
                .into_iter()
                .find(|p| p.active)
                .map(|p| p.id))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    match first {
        Some(id) => Ok(see_other(&format!("/board/{id}"))),
        None => Err(ui.fail(AppError::NotFound(
            ui.t().t("board.no_pipeline").to_string(),
        ))),
    }
}

#[derive(serde::Deserialize)]
struct BoardQuery {
    view: Option<String>,
    error: Option<String>,
}

/// `GET /board/{id}?view=mine`.
pub async fn board_page_for(
    ui: Ui,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    let id = path.into_inner();
    let q = web::Query::<BoardQuery>::from_query(req.query_string()).ok();
    let mine = q
        .as_ref()
        .and_then(|q| q.view.clone())
        .is_some_and(|v| v == "mine");
    let error = super::record::error_param(q.and_then(|q| q.into_inner().error));
    let actor = ui.actor.clone();
    let t = ui.t();
    let (board, pipelines) = state
        .db(move |c| {
            let b = crate::crm::pipelines::board(c, &actor, id, 30, mine)?;
            let ps = crate::crm::pipelines::list(c, &actor)?;
            Ok((b, ps))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let stages_json = board
        .get("stages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let stages: Vec<Opt> = stages_json
        .iter()
        .map(|s| Opt::new(plain(&s["id"]), plain(&s["name"])))
        .collect();
    let columns = stages_json
        .iter()
        .map(|s| Column {
            id: s["id"].as_i64().unwrap_or_default(),
            name: plain(&s["name"]),
            probability: s["probability"].as_i64().unwrap_or_default(),
            count: s["count"].as_i64().unwrap_or_default(),
            amounts: amounts(s.get("amounts")),
            weighted: amounts(s.get("weighted_amounts")),
            cards: s["cards"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|card| Card {
                    id: card["id"].as_i64().unwrap_or_default(),
                    version: card["version"].as_i64().unwrap_or_default(),
                    name: plain(&card["name"]),
                    amount: format!(
                        "{} {}",
                        money(card["amount"].as_i64().unwrap_or(0)),
                        plain(&card["currency"])
                    ),
                    owner: plain(&card["owner_name"]),
                    close: plain(&card["expected_close_date"]),
                })
                .collect(),
        })
        .collect();
    let closed = ["won", "lost", "invalid"]
        .iter()
        .map(|st| {
            let c = &board["closed"][*st];
            (
                t.t(&format!("choice.opportunities.status.{st}"))
                    .to_string(),
                c["count"].as_i64().unwrap_or_default(),
                amounts(c.get("amounts")),
            )
        })
        .collect();
    let pipelines = pipelines
        .into_iter()
        .filter(|p| p.active)
        .map(|p| Opt {
            selected: p.id == id,
            value: p.id.to_string(),
            label: p.name,
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        &BoardPage {
            c: ui.chrome("board"),
            pipeline_id: id,
            pipelines,
            columns,
            stages,
            closed,
            mine,
            back: super::url_of(&req),
            can_create: ui.actor.can("opportunities", "create"),
            error,
        },
    ))
}
