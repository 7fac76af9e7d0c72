//! The administrators' sales settings pages: pipelines and their stages,
//! custom fields, customer pools and follow-up types. Handlers are thin:
//! they parse the form, call the same store functions as the REST API (all
//! checks and the audit trail live there) and show what the store refused
//! next to the field it names.

mod fields;
mod followup_types;
pub mod i18n;
mod pipelines;
mod pools;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use diesel::prelude::*;

use crate::core::db::DbConn;
use crate::core::db::schema::users;
use crate::core::error::AppError;
use crate::core::i18n::Tr;
use crate::core::web::{Chrome, HtmlError, Ui, html};

/// A urlencoded form body, keeping repeated keys (checkbox groups, rows).
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    pub(crate) fn get(&self, key: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    pub(crate) fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub(crate) fn checked(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The ids of a checkbox group; values that are no number are ignored
    /// (a browser only sends the values the page rendered).
    pub(crate) fn ids(&self, key: &str) -> Vec<i64> {
        self.all(key)
            .iter()
            .filter_map(|v| v.trim().parse().ok())
            .collect()
    }

    /// The record version the form was rendered with, if any.
    pub(crate) fn version(&self) -> Option<i32> {
        self.get("version").trim().parse().ok()
    }
}

/// Parse a whole number typed into `field`; empty is `empty`.
pub(crate) fn number(t: Tr, field: &str, text: &str, empty: i64) -> Result<i64, AppError> {
    let s = text.trim();
    if s.is_empty() {
        return Ok(empty);
    }
    s.parse()
        .map_err(|_| AppError::invalid(field, t.t("settings.not_a_number")))
}

/// The errors a form shows: one per field (as the store names it), and one
/// for the form as a whole.
#[derive(Debug, Default, Clone)]
pub(crate) struct Errors {
    pub form: String,
    fields: Vec<(String, String)>,
}

impl Errors {
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Errors {
        Errors {
            form: String::new(),
            fields: vec![(field.to_string(), message.into())],
        }
    }

    pub(crate) fn form(message: impl Into<String>) -> Errors {
        Errors {
            form: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn has(&self, field: &str) -> bool {
        self.fields.iter().any(|(f, _)| f == field)
    }

    pub fn get(&self, field: &str) -> &str {
        self.fields
            .iter()
            .find(|(f, _)| f == field)
            .map_or("", |(_, m)| m.as_str())
    }

    /// Errors of fields the form has no place for are shown for the form.
    pub(crate) fn placed(mut self, shown: impl Fn(&str) -> bool) -> Errors {
        let (keep, lost): (Vec<_>, Vec<_>) = self.fields.into_iter().partition(|(f, _)| shown(f));
        for (f, m) in lost {
            if !self.form.is_empty() {
                self.form.push(' ');
            }
            self.form.push_str(&format!("{f}: {m}"));
        }
        self.fields = keep;
        self
    }
}

/// How a refused change is shown.
pub(crate) enum Refusal {
    /// Shown on the form with the typed values (400, or 409 for a store conflict).
    Inline(StatusCode, Errors),
    /// The record changed meanwhile: show its current values (409).
    Stale(Errors),
}

/// Sort a store error into what the form shows; other errors (403, 404,
/// 500) become an error page.
pub(crate) fn refusal(ui: &Ui, e: AppError) -> Result<Refusal, HtmlError> {
    let t = ui.t();
    match e {
        AppError::Invalid {
            field: Some(field),
            message,
        } => Ok(Refusal::Inline(
            StatusCode::BAD_REQUEST,
            Errors::field(&field, localize(t, &message)),
        )),
        AppError::Invalid {
            field: None,
            message,
        } => Ok(Refusal::Inline(
            StatusCode::BAD_REQUEST,
            Errors::form(localize(t, &message)),
        )),
        AppError::Conflict(m) => Ok(Refusal::Inline(
            StatusCode::CONFLICT,
            Errors::form(format!("{} {m}", t.t("settings.refused"))),
        )),
        AppError::Stale { .. } => Ok(Refusal::Stale(Errors::form(t.t("settings.stale")))),
        other => Err(ui.fail(other)),
    }
}

/// The store's fixed messages in the reader's language; messages that
/// carry values (names, numbers) are shown as the store wrote them.
pub(crate) fn localize(t: Tr, message: &str) -> String {
    let key = match message {
        "is required" => "settings.msg.required",
        "between 1 and 30 stages" => "settings.msg.stages_count",
        "a win probability from 0 to 100 (%)" => "settings.msg.probability",
        "each type has 1 to 30 characters" => "settings.msg.type_length",
        "between 1 and 30 types" => "settings.msg.types_count",
        "a label of 1 to 100 characters is required" => "settings.msg.label",
        "a select field needs a list of non-empty options" => "settings.msg.options",
        "lower-case letters, digits and _, starting with a letter, at most 40" => {
            "settings.msg.key"
        }
        "entity, key and kind cannot change; create a new field instead" => {
            "settings.msg.fixed_kind"
        }
        "pool administrators are users, not departments" => "settings.msg.pool_admin",
        _ => return message.to_string(),
    };
    t.t(key).to_string()
}

/// One checkbox or option of a list of records.
#[derive(Debug, Clone)]
pub(crate) struct Pick {
    pub id: i64,
    pub label: String,
    pub checked: bool,
}

/// Departments in tree order, labelled with their depth.
pub(crate) fn department_picks(conn: &mut DbConn, checked: &[i64]) -> Result<Vec<Pick>, AppError> {
    let all = crate::core::org::departments::list(conn)?;
    let mut out = Vec::with_capacity(all.len());
    fn walk(
        all: &[crate::core::org::departments::Department],
        parent: Option<i64>,
        depth: usize,
        checked: &[i64],
        out: &mut Vec<Pick>,
    ) {
        for d in all.iter().filter(|d| d.parent_id == parent) {
            out.push(Pick {
                id: d.id,
                label: format!("{}{}", "— ".repeat(depth), d.name),
                checked: checked.contains(&d.id),
            });
            if depth < 32 {
                walk(all, Some(d.id), depth + 1, checked, out);
            }
        }
    }
    walk(&all, None, 0, checked, &mut out);
    Ok(out)
}

/// Users by name (active ones, and any inactive one already `checked`).
pub(crate) fn user_picks(conn: &mut DbConn, checked: &[i64]) -> Result<Vec<Pick>, AppError> {
    let rows: Vec<(i64, String, String, bool)> = users::table
        .order((users::name, users::id))
        .select((users::id, users::name, users::email, users::active))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter(|(id, _, _, active)| *active || checked.contains(id))
        .map(|(id, name, email, _)| Pick {
            id,
            label: format!("{name} <{email}>"),
            checked: checked.contains(&id),
        })
        .collect())
}

/// `?saved=1` after a successful change.
#[derive(serde::Deserialize)]
pub(crate) struct SavedQuery {
    pub saved: Option<String>,
}

#[derive(Template)]
#[template(path = "settings/index.html")]
struct IndexPage {
    c: Chrome,
}

/// `GET /settings`: the sections.
async fn index(ui: Ui) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    Ok(html(
        StatusCode::OK,
        &IndexPage {
            c: ui.chrome("settings"),
        },
    ))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings", web::get().to(index));
    pipelines::routes(cfg);
    fields::routes(cfg);
    pools::routes(cfg);
    followup_types::routes(cfg);
}
