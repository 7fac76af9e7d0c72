//! Custom field definitions per entity. The form is turned into the
//! API's [`FieldInput`]; [`fields::create`] and [`fields::update`] check
//! it (key, labels, kind, options, default) and write the audit trail.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde_json::Value;

use super::{Errors, Form, Refusal, number, refusal};
use crate::app::AppState;
use crate::core::error::AppError;
use crate::core::fields::{self, ENTITIES, FieldDef, FieldInput, KINDS};
use crate::core::i18n::Tr;
use crate::core::web::{Chrome, HtmlError, Ui, html, see_other};

#[derive(serde::Deserialize)]
struct EntityQuery {
    entity: Option<String>,
    saved: Option<String>,
}

fn entity_or_first(e: Option<&str>) -> &'static str {
    e.and_then(|e| ENTITIES.iter().find(|x| **x == e))
        .copied()
        .unwrap_or(ENTITIES[0])
}

#[derive(Template)]
#[template(path = "settings/fields.html")]
struct ListPage {
    c: Chrome,
    entity: &'static str,
    entities: &'static [&'static str],
    fields: Vec<FieldDef>,
    saved: bool,
}

async fn list_page(
    ui: Ui,
    state: web::Data<AppState>,
    q: web::Query<EntityQuery>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let entity = entity_or_first(q.entity.as_deref());
    let list = state
        .db(move |c| Ok(fields::list(c, Some(entity), false)?))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(html(
        StatusCode::OK,
        &ListPage {
            c: ui.chrome("settings"),
            entity,
            entities: ENTITIES,
            fields: list,
            saved: q.saved.is_some(),
        },
    ))
}

/// The field form as typed.
#[derive(Debug, Clone, Default)]
struct FieldForm {
    entity: String,
    key: String,
    label_zh: String,
    label_en: String,
    kind: String,
    required: bool,
    unique: bool,
    default: String,
    options: String,
    help: String,
    sort_order: String,
    active: bool,
}

/// A stored default as the text box shows it.
fn default_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// The typed default as the JSON value the API takes for this kind. Text
/// that is no value of the kind is passed on as text, for the store to
/// refuse with its own message.
fn default_value(kind: &str, text: &str) -> Value {
    let s = text.trim();
    if s.is_empty() {
        return Value::Null;
    }
    match kind {
        "integer" | "money" | "user" | "department" | "customer" | "contact" => s
            .parse::<i64>()
            .map_or_else(|_| Value::from(s), Value::from),
        "boolean" => match s.to_lowercase().as_str() {
            "true" | "1" | "yes" | "是" => Value::Bool(true),
            "false" | "0" | "no" | "否" => Value::Bool(false),
            _ => Value::from(s),
        },
        "multi_select" => Value::from(
            s.split([',', '，', '\n'])
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>(),
        ),
        _ => Value::from(s),
    }
}

impl FieldForm {
    fn from_def(d: &FieldDef) -> FieldForm {
        FieldForm {
            entity: d.entity.clone(),
            key: d.key.clone(),
            label_zh: d.label_zh.clone(),
            label_en: d.label_en.clone(),
            kind: d.kind.clone(),
            required: d.required,
            unique: d.unique,
            default: default_text(&d.default),
            options: d.options.join("\n"),
            help: d.help.clone(),
            sort_order: d.sort_order.to_string(),
            active: d.active,
        }
    }

    fn parse(f: &Form) -> FieldForm {
        FieldForm {
            entity: f.get("entity"),
            key: f.get("key").trim().to_string(),
            label_zh: f.get("label_zh"),
            label_en: f.get("label_en"),
            kind: f.get("kind"),
            required: f.checked("required"),
            unique: f.checked("unique"),
            default: f.get("default"),
            options: f.get("options"),
            help: f.get("help"),
            sort_order: f.get("sort_order"),
            active: f.checked("active"),
        }
    }

    fn input(&self, t: Tr) -> Result<FieldInput, AppError> {
        let order = number(t, "sort_order", &self.sort_order, 0)?;
        Ok(FieldInput {
            entity: self.entity.clone(),
            key: self.key.clone(),
            label_zh: self.label_zh.clone(),
            label_en: self.label_en.clone(),
            kind: self.kind.clone(),
            required: self.required,
            unique: self.unique,
            default: default_value(&self.kind, &self.default),
            options: self
                .options
                .lines()
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect(),
            help: self.help.clone(),
            sort_order: i32::try_from(order)
                .map_err(|_| AppError::invalid("sort_order", t.t("settings.not_a_number")))?,
            active: self.active,
        })
    }
}

/// Fields the form shows an error next to.
const SHOWN: &[&str] = &[
    "key",
    "label_zh",
    "label_en",
    "kind",
    "required",
    "unique",
    "default",
    "options",
    "help",
    "sort_order",
];

#[derive(Template)]
#[template(path = "settings/field_edit.html")]
struct EditPage {
    c: Chrome,
    /// 0 for a new field.
    id: i64,
    version: i32,
    form: FieldForm,
    kinds: &'static [&'static str],
    errors: Errors,
    yours: Option<String>,
}

async fn render(
    ui: &Ui,
    status: StatusCode,
    id: i64,
    version: i32,
    form: FieldForm,
    errors: Errors,
    yours: Option<String>,
) -> Result<HttpResponse, HtmlError> {
    Ok(html(
        status,
        &EditPage {
            c: ui.chrome("settings"),
            id,
            version,
            form,
            kinds: KINDS,
            errors: errors.placed(|f| SHOWN.contains(&f)),
            yours,
        },
    ))
}

async fn read(ui: &Ui, state: &AppState, id: i64) -> Result<FieldDef, HtmlError> {
    state
        .db(move |c| fields::get(c, id))
        .await
        .map_err(|e| ui.fail(e))
}

async fn new_page(ui: Ui, q: web::Query<EntityQuery>) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let form = FieldForm {
        entity: entity_or_first(q.entity.as_deref()).to_string(),
        kind: "text".into(),
        sort_order: "0".into(),
        active: true,
        ..FieldForm::default()
    };
    render(&ui, StatusCode::OK, 0, 0, form, Errors::default(), None).await
}

async fn edit_page(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let d = read(&ui, &state, path.into_inner()).await?;
    render(
        &ui,
        StatusCode::OK,
        d.id,
        d.version,
        FieldForm::from_def(&d),
        Errors::default(),
        None,
    )
    .await
}

fn saved_url(entity: &str) -> String {
    format!("/settings/fields?entity={entity}&saved=1")
}

async fn create(
    ui: Ui,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let form = FieldForm::parse(&Form::parse(&body));
    let ctx = ui.actor.audit();
    let result = match form.input(ui.t()) {
        Ok(input) => state.db(move |c| fields::create(c, &ctx, &input)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(d) => Ok(see_other(&saved_url(&d.entity))),
        Err(e) => {
            let (status, errors) = match refusal(&ui, e)? {
                Refusal::Inline(status, errors) => (status, errors),
                Refusal::Stale(errors) => (StatusCode::CONFLICT, errors),
            };
            render(&ui, status, 0, 0, form, errors, None).await
        }
    }
}

async fn update(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let id = path.into_inner();
    let f = Form::parse(&body);
    let form = FieldForm::parse(&f);
    let version = f.version().unwrap_or(0);
    let ctx = ui.actor.audit();
    let result = match form.input(ui.t()) {
        Ok(input) => {
            state
                .db(move |c| fields::update(c, &ctx, id, version, &input))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(d) => Ok(see_other(&saved_url(&d.entity))),
        Err(e) => match refusal(&ui, e)? {
            Refusal::Inline(status, errors) => {
                render(&ui, status, id, version, form, errors, None).await
            }
            Refusal::Stale(errors) => {
                let current = read(&ui, &state, id).await?;
                let yours = format!(
                    "{} / {} · {}",
                    form.label_zh.trim(),
                    form.label_en.trim(),
                    form.options
                        .lines()
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                render(
                    &ui,
                    StatusCode::CONFLICT,
                    id,
                    current.version,
                    FieldForm::from_def(&current),
                    errors,
                    Some(yours),
                )
                .await
            }
        },
    }
}

async fn delete(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let id = path.into_inner();
    let d = read(&ui, &state, id).await?;
    let ctx = ui.actor.audit();
    match state.db(move |c| fields::delete(c, &ctx, id)).await {
        Ok(()) => Ok(see_other(&saved_url(&d.entity))),
        Err(e) => {
            let (status, errors) = match refusal(&ui, e)? {
                Refusal::Inline(status, errors) => (status, errors),
                Refusal::Stale(errors) => (StatusCode::CONFLICT, errors),
            };
            render(
                &ui,
                status,
                id,
                d.version,
                FieldForm::from_def(&d),
                errors,
                None,
            )
            .await
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/fields", web::get().to(list_page))
        .route("/settings/fields", web::post().to(create))
        .route("/settings/fields/new", web::get().to(new_page))
        .route("/settings/fields/{id}", web::get().to(edit_page))
        .route("/settings/fields/{id}", web::post().to(update))
        .route("/settings/fields/{id}/delete", web::post().to(delete));
}
