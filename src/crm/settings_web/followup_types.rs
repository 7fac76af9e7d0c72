//! The follow-up types (call, visit, …): one ordered list, edited like the
//! stages of a pipeline (row buttons re-render unsaved) and saved through
//! [`followups::set_types`], as `PUT /api/v1/followup-types` is.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Errors, Form, Refusal, SavedQuery, refusal};
use crate::app::AppState;
use crate::core::web::{Chrome, HtmlError, Ui, html, see_other};
use crate::crm::followups;

struct Row {
    index: usize,
    name: String,
    error: String,
    last: bool,
}

#[derive(Template)]
#[template(path = "settings/followup_types.html")]
struct Page {
    c: Chrome,
    rows: Vec<Row>,
    errors: Errors,
    saved: bool,
}

fn render(
    ui: &Ui,
    status: StatusCode,
    types: Vec<String>,
    errors: Errors,
    saved: bool,
) -> HttpResponse {
    let n = types.len();
    let errors = errors.placed(|f| f == "types" || f.starts_with("types["));
    let rows = types
        .into_iter()
        .enumerate()
        .map(|(i, name)| Row {
            index: i,
            name,
            error: errors.get(&format!("types[{i}]")).to_string(),
            last: i + 1 == n,
        })
        .collect();
    html(
        status,
        &Page {
            c: ui.chrome("settings"),
            rows,
            errors,
            saved,
        },
    )
}

async fn page(
    ui: Ui,
    state: web::Data<AppState>,
    q: web::Query<SavedQuery>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let types = state.db(followups::types).await.map_err(|e| ui.fail(e))?;
    Ok(render(
        &ui,
        StatusCode::OK,
        types,
        Errors::default(),
        q.saved.is_some(),
    ))
}

async fn submit(
    ui: Ui,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let f = Form::parse(&body);
    let mut types = f.all("type");
    let op = f.get("op");
    let at = |prefix: &str| {
        op.strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok())
    };
    let n = types.len();
    if op == "add" {
        types.push(String::new());
    } else if let Some(i) = at("up-").filter(|i| *i > 0 && *i < n) {
        types.swap(i - 1, i);
    } else if let Some(i) = at("down-").filter(|i| i + 1 < n) {
        types.swap(i, i + 1);
    } else if let Some(i) = at("remove-").filter(|i| *i < n) {
        types.remove(i);
    } else {
        let actor = ui.actor.clone();
        let list = types.clone();
        return match state
            .db(move |c| followups::set_types(c, &actor, list))
            .await
        {
            Ok(_) => Ok(see_other("/settings/followup-types?saved=1")),
            Err(e) => {
                let (status, errors) = match refusal(&ui, e)? {
                    Refusal::Inline(status, errors) => (status, errors),
                    Refusal::Stale(errors) => (StatusCode::CONFLICT, errors),
                };
                Ok(render(&ui, status, types, errors, false))
            }
        };
    }
    Ok(render(&ui, StatusCode::OK, types, Errors::default(), false))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/followup-types", web::get().to(page))
        .route("/settings/followup-types", web::post().to(submit));
}
