//! Global search: the header box shows results grouped by type as one
//! types (htmx, debounced); the same handler renders a full page without
//! script. `/pick/{entity}` serves the record pickers of forms.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::Value;

use super::display::plain;
use super::objects;
use crate::app::AppState;
use crate::core::error::AppError;
use crate::core::web::{Chrome, HtmlError, Ui, html};

pub struct Hit {
    pub href: String,
    pub name: String,
    pub detail: String,
    pub id: i64,
}

pub struct Group {
    pub title: String,
    pub more_href: String,
    pub hits: Vec<Hit>,
}

#[derive(Template)]
#[template(path = "crm/search.html")]
struct SearchPage {
    c: Chrome,
    q: String,
    groups: Vec<Group>,
}

/// The header box's drop-down.
#[derive(Template)]
#[template(path = "crm/search_results.html")]
struct SearchPart {
    c: Chrome,
    q: String,
    groups: Vec<Group>,
}

#[derive(Template)]
#[template(path = "crm/pick.html")]
struct PickPart {
    c: Chrome,
    field: String,
    hits: Vec<Hit>,
}

#[derive(serde::Deserialize)]
struct Q {
    q: Option<String>,
    field: Option<String>,
}

/// The second line of a hit.
fn detail(t: crate::core::i18n::Tr, key: &str, r: &Value) -> String {
    let f = |k: &str| plain(r.get(k).unwrap_or(&Value::Null));
    let parts = match key {
        "customers" => vec![f("city"), f("phone"), f("owner_name")],
        "contacts" => vec![f("title"), f("mobile"), f("email")],
        "leads" => vec![f("company"), f("mobile")],
        "opportunities" => vec![f("expected_close_date"), f("owner_name")],
        "products" => vec![f("code")],
        "tasks" => vec![objects::choice_label(t, "tasks", "status", &f("status"))],
        _ => vec![],
    };
    parts
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

fn hit(t: crate::core::i18n::Tr, obj: &objects::UiObject, r: &Value) -> Hit {
    let id = r.get("id").and_then(Value::as_i64).unwrap_or_default();
    let name: String = plain(r.get(obj.spec.title).unwrap_or(&Value::Null))
        .chars()
        .take(80)
        .collect();
    Hit {
        href: format!("/{}/{id}", obj.key),
        name: if name.is_empty() {
            format!("#{id}")
        } else {
            name
        },
        detail: detail(t, obj.key, r),
        id,
    }
}

pub async fn search_page(
    ui: Ui,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    let q = web::Query::<Q>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.q.clone())
        .unwrap_or_default();
    let partial =
        req.headers().contains_key("HX-Request") && !req.headers().contains_key("HX-Boosted");
    let t = ui.t();
    let actor = ui.actor.clone();
    let q2 = q.trim().to_string();
    let groups = if q2.chars().count() < 1 {
        vec![]
    } else {
        state
            .db(move |c| {
                let mut out = Vec::new();
                for obj in objects::OBJECTS.iter().filter(|o| o.key != "followups") {
                    if !obj.can(&actor, "view") {
                        continue;
                    }
                    let p = crate::core::list::ListParams {
                        q: Some(q2.clone()),
                        limit: Some(6),
                        ..Default::default()
                    };
                    let items = objects::list(c, &actor, obj, &p)?.items;
                    if items.is_empty() {
                        continue;
                    }
                    out.push(Group {
                        title: t.t(&format!("object.{}", obj.key)).to_string(),
                        more_href: format!(
                            "/{}?view=all&q={}",
                            obj.key,
                            crate::core::web::url_encode(&q2)
                        ),
                        hits: items
                            .iter()
                            .map(|r| hit(t, obj, &Value::Object(r.clone())))
                            .collect(),
                    });
                }
                Ok(out)
            })
            .await
            .map_err(|e| ui.fail(e))?
    };
    let c = ui.chrome("search");
    Ok(if partial {
        html(StatusCode::OK, &SearchPart { c, q, groups })
    } else {
        html(StatusCode::OK, &SearchPage { c, q, groups })
    })
}

/// `GET /pick/customers?q=&field=customer_id`: choices for a record picker.
pub async fn pick(
    ui: Ui,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let obj = super::find_object(&ui, &path)?;
    let qq = web::Query::<Q>::from_query(req.query_string())
        .map_err(|e| ui.fail(AppError::invalid("q", e.to_string())))?;
    let q = qq.q.clone().unwrap_or_default();
    let field = qq.field.clone().unwrap_or_default();
    let actor = ui.actor.clone();
    let t = ui.t();
    if q.trim().is_empty() {
        return Ok(HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .finish());
    }
    let hits = {
        state
            .db(move |c| {
                let p = crate::core::list::ListParams {
                    q: Some(q.trim().to_string()),
                    limit: Some(8),
                    ..Default::default()
                };
                Ok(objects::list(c, &actor, obj, &p)?
                    .items
                    .iter()
                    .map(|r| hit(t, obj, &Value::Object(r.clone())))
                    .collect())
            })
            .await
            .map_err(|e| ui.fail(e))?
    };
    Ok(html(
        StatusCode::OK,
        &PickPart {
            c: ui.chrome("search"),
            field,
            hits,
        },
    ))
}
