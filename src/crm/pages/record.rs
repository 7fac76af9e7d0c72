//! A record's pages: the detail page with its timeline and related records,
//! the new and edit forms (errors inline, duplicates offered, a colleague's
//! concurrent change explained), delete, a quick follow-up, sharing and
//! an opportunity's stage.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use super::display::{Cell, Shower, href, plain};
use super::form::{Choices, Input, inputs, to_json, values_of, values_posted};
use super::objects::{self, UiObject, choice_label, local_time};
use super::{Opt, find_object, people};
use crate::app::AppState;
use crate::core::auth::actor::Actor;
use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::fields::FieldDef;
use crate::core::i18n::Tr;
use crate::core::list::{Filter, ListParams, Op};
use crate::core::records::Record;
use crate::core::web::form::FormData;
use crate::core::web::{Chrome, FormUi, HtmlError, Ui, html, see_other};

/// A record that looks like the one being saved.
pub struct Candidate {
    pub href: String,
    pub name: String,
}

/// A field a colleague changed while the user was editing.
pub struct Clash {
    pub label: String,
    pub theirs: String,
    pub mine: String,
}

#[derive(Template)]
#[template(path = "crm/form.html")]
struct FormPage {
    c: Chrome,
    title: String,
    action: String,
    cancel: String,
    version: i32,
    inputs: Vec<Input>,
    error: String,
    duplicates: Vec<Candidate>,
    hidden_duplicates: i64,
    clashes: Vec<Clash>,
}

struct FormState {
    values: HashMap<String, Vec<String>>,
    error: Option<AppError>,
}

fn form_title(t: Tr, obj: &UiObject, editing: bool) -> String {
    let key = format!("object.{}.one", obj.key);
    let one = t.t(&key);
    if editing {
        format!("{} {one}", t.t("common.edit"))
    } else {
        format!("{} {one}", t.t("common.new"))
    }
}

/// Render the form for `obj` (new when `id` is None) in `state`.
async fn render_form(
    ui: &Ui,
    state: &web::Data<AppState>,
    obj: &'static UiObject,
    id: Option<i64>,
    version: i32,
    fs: FormState,
) -> Result<HttpResponse, HtmlError> {
    let t = ui.t();
    let actor = ui.actor.clone();
    let values = fs.values;
    let (defs, ch, values) = state
        .db(move |c| {
            let defs = crate::core::fields::list(c, Some(obj.key), true)?;
            let ch = Choices::load(c, &actor, obj, &values, &defs)?;
            Ok((defs, ch, values))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let mut error = String::new();
    let mut field = String::new();
    let mut duplicates = Vec::new();
    let mut hidden_duplicates = 0;
    let mut clashes = Vec::new();
    let mut version = version;
    let mut status = StatusCode::OK;
    if let Some(e) = &fs.error {
        status = StatusCode::BAD_REQUEST;
        match e {
            AppError::Invalid { field: f, message } => {
                field = f.clone().unwrap_or_default();
                error = crate::core::i18n::localize(t, message);
            }
            AppError::Duplicate {
                message,
                candidates,
                hidden,
            } => {
                status = StatusCode::CONFLICT;
                error = if candidates.as_array().is_some_and(|c| !c.is_empty()) {
                    t.t("form.duplicates").to_string()
                } else {
                    crate::core::i18n::localize(t, message)
                };
                hidden_duplicates = *hidden;
                for cand in candidates.as_array().into_iter().flatten() {
                    let cid = cand.get("id").and_then(Value::as_i64).unwrap_or_default();
                    let name = cand
                        .get(obj.spec.title)
                        .or_else(|| cand.get("name"))
                        .map(plain)
                        .unwrap_or_default();
                    duplicates.push(Candidate {
                        href: href(obj.key, cid),
                        name,
                    });
                }
            }
            AppError::Stale { current, .. } => {
                status = StatusCode::CONFLICT;
                error = t.t("form.stale").to_string();
                let cur = current.as_object().cloned().unwrap_or_default();
                version = cur.get("version").and_then(Value::as_i64).unwrap_or(0) as i32;
                let theirs = values_of(obj, &cur, &defs, &ui.actor.user.time_zone);
                for inp in inputs(t, obj, &defs, &ch, &values, "", "") {
                    let th = theirs
                        .get(&inp.name)
                        .and_then(|v| v.first())
                        .cloned()
                        .unwrap_or_default();
                    let mine = values
                        .get(&inp.name)
                        .and_then(|v| v.first())
                        .cloned()
                        .unwrap_or_default();
                    let same =
                        th == mine || (inp.kind == "checkbox" && th.is_empty() == mine.is_empty());
                    if !same {
                        clashes.push(Clash {
                            label: inp.label,
                            theirs: th,
                            mine,
                        });
                    }
                }
            }
            other => {
                error = crate::core::i18n::localize(t, &other.to_string());
            }
        }
    }
    let ins = inputs(t, obj, &defs, &ch, &values, &field, &error);
    if !field.is_empty() && !ins.iter().any(|i| i.name == field) {
        // An error on a field the form does not show: keep it at the top.
        field.clear();
    } else if !field.is_empty() {
        // Shown beside its field; the top shows a pointer to it.
        error = t.t("form.fix_marked").to_string();
    }
    let action = match id {
        Some(id) => format!("/{}/{id}/edit", obj.key),
        None => format!("/{}/new", obj.key),
    };
    let cancel = match id {
        Some(id) => format!("/{}/{id}", obj.key),
        None => format!("/{}", obj.key),
    };
    Ok(html(
        status,
        &FormPage {
            c: ui.chrome(obj.key),
            title: form_title(t, obj, id.is_some()),
            action,
            cancel,
            version,
            inputs: ins,
            error,
            duplicates,
            hidden_duplicates,
            clashes,
        },
    ))
}

/// `GET /{object}/new?customer_id=…`: an empty form, prefilled from the query.
pub async fn new_page(
    ui: Ui,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let obj = find_object(&ui, &path)?;
    if !obj.can(&ui.actor, "create") {
        return Err(ui.fail(AppError::Forbidden(format!(
            "you may not create {}",
            obj.key
        ))));
    }
    let mut values: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if obj.form.contains(&k.as_ref()) {
            values.insert(k.into_owned(), vec![v.into_owned()]);
        }
    }
    values
        .entry(obj.spec.owner_col.to_string())
        .or_insert_with(|| vec![ui.actor.user_id().to_string()]);
    if obj.key == "followups" {
        let now = objects::local_time(chrono::Utc::now().naive_utc(), &ui.actor.user.time_zone);
        values
            .entry("occurred_at".into())
            .or_insert_with(|| vec![now.replace(' ', "T")]);
    }
    render_form(
        &ui,
        &state,
        obj,
        None,
        0,
        FormState {
            values,
            error: None,
        },
    )
    .await
}

/// `POST /{object}/new`.
pub async fn create(
    fu: FormUi,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    let obj = find_object(&ui, &path)?;
    let values = values_posted(&f);
    let confirm = f.get("confirm_duplicates") == "1";
    let actor = ui.actor.clone();
    let tz = ui.actor.user.time_zone.clone();
    let v2 = values.clone();
    let r = state
        .db(move |c| {
            let defs = crate::core::fields::list(c, Some(obj.key), true)?;
            let input = to_json(obj, &defs, &v2, &tz)?;
            objects::create(c, &actor, obj, &input, confirm)
        })
        .await;
    match r {
        Ok(rec) => {
            let id = rec.get("id").and_then(Value::as_i64).unwrap_or_default();
            Ok(see_other(&format!("/{}/{id}", obj.key)))
        }
        Err(
            e @ (AppError::Invalid { .. } | AppError::Duplicate { .. } | AppError::Conflict(_)),
        ) => {
            render_form(
                &ui,
                &state,
                obj,
                None,
                0,
                FormState {
                    values,
                    error: Some(e),
                },
            )
            .await
        }
        Err(e) => Err(ui.fail(e)),
    }
}

/// `GET /{object}/{id}/edit`.
pub async fn edit_page(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, HtmlError> {
    let (key, id) = path.into_inner();
    let obj = find_object(&ui, &key)?;
    let actor = ui.actor.clone();
    let tz = ui.actor.user.time_zone.clone();
    let (values, version) = state
        .db(move |c| {
            let rec = objects::get(c, &actor, obj, id)?;
            if !crate::core::records::store::editable(c, &actor, obj.key, id)? {
                return Err(AppError::Forbidden(format!(
                    "you may view {} {id} but not edit it",
                    obj.spec.singular
                )));
            }
            let defs = crate::core::fields::list(c, Some(obj.key), true)?;
            let version = rec.get("version").and_then(Value::as_i64).unwrap_or(0) as i32;
            Ok((values_of(obj, &rec, &defs, &tz), version))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    render_form(
        &ui,
        &state,
        obj,
        Some(id),
        version,
        FormState {
            values,
            error: None,
        },
    )
    .await
}

/// `POST /{object}/{id}/edit`: a partial update naming the version read.
pub async fn update(
    fu: FormUi,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    let (key, id) = path.into_inner();
    let obj = find_object(&ui, &key)?;
    let version = f.version().map_err(|e| ui.fail(e))?;
    let values = values_posted(&f);
    let confirm = f.get("confirm_duplicates") == "1";
    let actor = ui.actor.clone();
    let tz = ui.actor.user.time_zone.clone();
    let v2 = values.clone();
    let r = state
        .db(move |c| {
            let defs = crate::core::fields::list(c, Some(obj.key), true)?;
            let input = to_json(obj, &defs, &v2, &tz)?;
            objects::update(c, &actor, obj, id, version, &input, confirm)
        })
        .await;
    match r {
        Ok(_) => Ok(see_other(&format!("/{}/{id}", obj.key))),
        Err(
            e @ (AppError::Invalid { .. }
            | AppError::Duplicate { .. }
            | AppError::Stale { .. }
            | AppError::Conflict(_)),
        ) => {
            render_form(
                &ui,
                &state,
                obj,
                Some(id),
                version,
                FormState {
                    values,
                    error: Some(e),
                },
            )
            .await
        }
        Err(e) => Err(ui.fail(e)),
    }
}

/// `POST /{object}/{id}/delete` with the version shown.
pub async fn delete(
    fu: FormUi,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    let (key, id) = path.into_inner();
    let obj = find_object(&ui, &key)?;
    let version = f.version().map_err(|e| ui.fail(e))?;
    let actor = ui.actor.clone();
    state
        .db(move |c| objects::delete(c, &actor, obj, id, version))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(see_other(&format!("/{}?deleted={id}", obj.key)))
}

// ---------------------------------------------------------------- detail

pub struct FieldView {
    pub label: String,
    pub cell: Cell,
    pub wide: bool,
}

pub struct TimelineItem {
    pub at: String,
    pub sort: NaiveDateTime,
    /// followup, stage, task, change
    pub kind: &'static str,
    pub title: String,
    pub body: String,
    pub who: String,
    pub href: String,
}

impl TimelineItem {
    /// The label key of the entry's kind.
    pub fn kind_key(&self) -> &'static str {
        match self.kind {
            "followup" => "timeline.followup",
            "stage" => "timeline.stage",
            "task" => "timeline.task",
            "created" => "timeline.created",
            _ => "timeline.change",
        }
    }
}

/// A short list of related records.
pub struct Related {
    pub title: String,
    pub add_href: String,
    pub heads: Vec<String>,
    pub rows: Vec<(String, Vec<Cell>)>,
}

pub struct AttachmentView {
    pub id: i64,
    pub name: String,
    pub size: String,
    pub at: String,
}

pub struct ShareView {
    pub user_id: i64,
    pub name: String,
    pub access: String,
    pub until: String,
}

#[derive(Template)]
#[template(path = "crm/detail.html")]
struct DetailPage {
    c: Chrome,
    key: &'static str,
    id: i64,
    version: i32,
    title: String,
    kind_label: String,
    can_edit: bool,
    can_delete: bool,
    fields: Vec<FieldView>,
    timeline: Vec<TimelineItem>,
    related: Vec<Related>,
    attachments: Vec<AttachmentView>,
    shares: Vec<ShareView>,
    users: Vec<Opt>,
    followup_here: bool,
    followup_types: Vec<Opt>,
    /// Opportunities: the stages to move to and the current status.
    stages: Vec<Opt>,
    status: String,
    is_lead: bool,
    converted: bool,
    notice: String,
    error: String,
    /// None: this object cannot be followed.
    following: Option<bool>,
}

fn children(
    conn: &mut DbConn,
    actor: &Actor,
    key: &'static str,
    field: &str,
    id: i64,
    sort: &str,
    limit: i64,
) -> Result<Vec<Record>, AppError> {
    let Some(obj) = objects::object(key) else {
        return Ok(vec![]);
    };
    if !obj.can(actor, "view") {
        return Ok(vec![]);
    }
    let p = ListParams {
        filters: vec![Filter {
            field: field.into(),
            op: Op::Eq,
            value: vec![id.to_string()],
        }],
        sort: Some(sort.into()),
        limit: Some(limit),
        ..Default::default()
    };
    Ok(objects::list(conn, actor, obj, &p)?.items)
}

fn related(
    conn: &mut DbConn,
    t: Tr,
    actor: &Actor,
    key: &'static str,
    field: &str,
    id: i64,
    cols: &[&str],
) -> Result<Option<Related>, AppError> {
    let Some(obj) = objects::object(key) else {
        return Ok(None);
    };
    if !obj.can(actor, "view") {
        return Ok(None);
    }
    let recs = children(conn, actor, key, field, id, obj.spec.default_sort, 20)?;
    let cols: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
    let shower = Shower::load(conn, actor, t, &actor.user.time_zone, obj, &recs, &cols)?;
    Ok(Some(Related {
        title: t.t(&format!("object.{key}")).to_string(),
        add_href: if obj.can(actor, "create") {
            format!("/{key}/new?{field}={id}")
        } else {
            String::new()
        },
        heads: cols.iter().map(|c| shower.label(obj, c)).collect(),
        rows: recs
            .iter()
            .map(|r| {
                let rid = r.get("id").and_then(Value::as_i64).unwrap_or_default();
                let cells = cols
                    .iter()
                    .map(|c| Cell {
                        label: shower.label(obj, c),
                        ..shower.cell(obj, r, c)
                    })
                    .collect();
                (format!("/{key}/{rid}"), cells)
            })
            .collect(),
    }))
}

/// Field history from the audit trail, newest first.
fn changes(
    conn: &mut DbConn,
    t: Tr,
    obj: &UiObject,
    id: i64,
    defs: &[FieldDef],
    tz: &str,
) -> Result<Vec<TimelineItem>, AppError> {
    let rows = crate::core::audit::list(
        conn,
        &crate::core::audit::AuditFilter {
            entity: Some(obj.key.to_string()),
            record_id: Some(id),
            limit: Some(30),
            ..Default::default()
        },
    )?;
    let users =
        crate::core::records::store::user_names(conn, rows.iter().filter_map(|r| r.user_id))?;
    let mut out = Vec::new();
    for r in rows {
        let changes: Map<String, Value> = serde_json::from_str(&r.changes).unwrap_or_default();
        let mut lines = Vec::new();
        for (k, v) in &changes {
            if matches!(
                k.as_str(),
                "version" | "updated_at" | "updated_by" | "search_text" | "search_cjk"
            ) {
                continue;
            }
            let label = match k.strip_prefix("custom.") {
                Some(key) => defs
                    .iter()
                    .find(|d| d.key == key)
                    .map(|d| objects::custom_label(t, d))
                    .unwrap_or_else(|| key.to_string()),
                None => objects::label(t, obj.key, k),
            };
            if let Some([before, after]) = v.as_array().map(Vec::as_slice) {
                if r.action == "create" {
                    continue;
                }
                lines.push(format!("{label}: {} → {}", short(before), short(after)));
            }
        }
        if r.action != "create" && lines.is_empty() {
            continue;
        }
        out.push(TimelineItem {
            at: local_time(r.at, tz),
            sort: r.at,
            kind: if r.action == "create" {
                "created"
            } else {
                "change"
            },
            title: t.audit_action(&r.action).to_string(),
            body: lines.join("\n"),
            who: r
                .user_id
                .and_then(|u| users.get(&u).cloned())
                .unwrap_or_default(),
            href: String::new(),
        });
    }
    Ok(out)
}

fn short(v: &Value) -> String {
    let s = plain(v);
    if s.is_empty() {
        "∅".into()
    } else {
        s.chars().take(60).collect()
    }
}

fn time_of(r: &Record, field: &str) -> Option<NaiveDateTime> {
    r.get(field)
        .and_then(Value::as_str)
        .and_then(crate::core::fields::parse_datetime)
}

#[derive(serde::Deserialize)]
struct DetailQuery {
    saved: Option<String>,
    error: Option<String>,
}

/// `GET /{object}/{id}`: a record the user may not see is a normal 404 page.
pub async fn detail_page(
    ui: Ui,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, HtmlError> {
    let (key, id) = path.into_inner();
    let obj = find_object(&ui, &key)?;
    let t = ui.t();
    let actor = ui.actor.clone();
    let q = web::Query::<DetailQuery>::from_query(req.query_string()).ok();
    let notice = q
        .as_ref()
        .and_then(|q| q.saved.clone())
        .map(|_| t.t("record.saved").to_string())
        .unwrap_or_default();
    let error = error_param(q.and_then(|q| q.into_inner().error));
    let page = state
        .db(move |c| build_detail(c, t, &actor, obj, id))
        .await
        .map_err(|e| ui.fail(e))?;
    let mut page = page;
    page.c = ui.chrome(obj.key);
    page.notice = notice;
    page.error = error;
    Ok(html(StatusCode::OK, &page))
}

fn build_detail(
    c: &mut DbConn,
    t: Tr,
    actor: &Actor,
    obj: &'static UiObject,
    id: i64,
) -> Result<DetailPage, AppError> {
    let tz = actor.user.time_zone.clone();
    let rec = objects::get(c, actor, obj, id)?;
    let defs = crate::core::fields::list(c, Some(obj.key), false)?;
    let mut cols: Vec<String> = obj.form.iter().map(|s| s.to_string()).collect();
    for extra in [
        "last_follow_up_at",
        "deal_status",
        "converted_customer_id",
        "probability",
        "status",
        "completed_at",
        "closed_at",
        "close_reason",
    ] {
        if obj.kind_of(extra).is_some() && !cols.iter().any(|c| c == extra) {
            cols.push(extra.to_string());
        }
    }
    cols.extend(["created_at", "updated_at"].map(String::from));
    cols.extend(
        defs.iter()
            .filter(|d| d.active)
            .map(|d| format!("custom.{}", d.key)),
    );
    let shower = Shower::load(c, actor, t, &tz, obj, std::slice::from_ref(&rec), &cols)?;
    let fields: Vec<FieldView> = cols
        .iter()
        .map(|col| {
            let cell = shower.cell(obj, &rec, col);
            FieldView {
                label: shower.label(obj, col),
                wide: cell.class == "wrap"
                    || col == "notes"
                    || col == "description"
                    || col == "content",
                cell: if cell.class == "wrap" {
                    Cell {
                        text: plain(rec.get(col.as_str()).unwrap_or(&Value::Null)),
                        ..cell
                    }
                } else {
                    cell
                },
            }
        })
        .filter(|f| !f.cell.text.is_empty() || !f.cell.badges.is_empty())
        .collect();
    let title = {
        let s = plain(rec.get(obj.spec.title).unwrap_or(&Value::Null));
        if s.is_empty() {
            format!("#{id}")
        } else {
            s.chars().take(80).collect()
        }
    };
    let version = rec.get("version").and_then(Value::as_i64).unwrap_or(0) as i32;

    // Timeline: follow-ups, stage changes, tasks, field history.
    let mut timeline = Vec::new();
    let link_field = match obj.key {
        "customers" => Some("customer_id"),
        "contacts" => Some("contact_id"),
        "leads" => Some("lead_id"),
        "opportunities" => Some("opportunity_id"),
        _ => None,
    };
    if let Some(field) = link_field {
        let fus = children(c, actor, "followups", field, id, "-occurred_at", 30)?;
        let users = crate::core::records::store::user_names(
            c,
            fus.iter()
                .filter_map(|r| r.get("owner_id").and_then(Value::as_i64)),
        )?;
        for f in fus {
            let at = time_of(&f, "occurred_at")
                .or_else(|| time_of(&f, "created_at"))
                .unwrap_or_default();
            let fid = f.get("id").and_then(Value::as_i64).unwrap_or_default();
            let kind = plain(f.get("kind").unwrap_or(&Value::Null));
            let mut body = plain(f.get("content").unwrap_or(&Value::Null));
            if let Some(next) = time_of(&f, "next_follow_up_at") {
                body.push_str(&format!(
                    "\n{}: {}",
                    t.t("field.next_follow_up_at"),
                    local_time(next, &tz)
                ));
            }
            timeline.push(TimelineItem {
                at: local_time(at, &tz),
                sort: at,
                kind: "followup",
                title: choice_label(t, "followups", "kind", &kind),
                body,
                who: f
                    .get("owner_id")
                    .and_then(Value::as_i64)
                    .and_then(|u| users.get(&u).cloned())
                    .unwrap_or_default(),
                href: format!("/followups/{fid}"),
            });
        }
        let task_obj = objects::object("tasks");
        if task_obj.is_some_and(|o| o.can(actor, "view")) {
            let p = ListParams {
                filters: vec![
                    Filter {
                        field: "related_entity".into(),
                        op: Op::Eq,
                        value: vec![obj.key.into()],
                    },
                    Filter {
                        field: "related_id".into(),
                        op: Op::Eq,
                        value: vec![id.to_string()],
                    },
                ],
                view: Some("all".into()),
                limit: Some(20),
                ..Default::default()
            };
            for r in
                crate::core::records::store::list(c, actor, &crate::crm::tasks::SPEC, &p)?.items
            {
                let at = time_of(&r, "due_at")
                    .or_else(|| time_of(&r, "created_at"))
                    .unwrap_or_default();
                let tid = r.get("id").and_then(Value::as_i64).unwrap_or_default();
                let status = plain(r.get("status").unwrap_or(&Value::Null));
                timeline.push(TimelineItem {
                    at: local_time(at, &tz),
                    sort: at,
                    kind: "task",
                    title: format!(
                        "{} · {}",
                        plain(r.get("title").unwrap_or(&Value::Null)),
                        choice_label(t, "tasks", "status", &status)
                    ),
                    body: plain(r.get("description").unwrap_or(&Value::Null))
                        .chars()
                        .take(200)
                        .collect(),
                    who: plain(r.get("assignee_name").unwrap_or(&Value::Null)),
                    href: format!("/tasks/{tid}"),
                });
            }
        }
    }
    let opp_ids: Vec<(i64, String)> = match obj.key {
        "opportunities" => vec![(id, title.clone())],
        "customers" => children(
            c,
            actor,
            "opportunities",
            "customer_id",
            id,
            "-updated_at",
            20,
        )?
        .iter()
        .map(|r| {
            (
                r.get("id").and_then(Value::as_i64).unwrap_or_default(),
                plain(r.get("name").unwrap_or(&Value::Null)),
            )
        })
        .collect(),
        _ => vec![],
    };
    for (oid, oname) in opp_ids {
        for h in crate::crm::opportunities::history(c, actor, oid)? {
            let at = h
                .get("changed_at")
                .and_then(Value::as_str)
                .and_then(crate::core::fields::parse_datetime)
                .unwrap_or_default();
            let to_status = plain(h.get("to_status").unwrap_or(&Value::Null));
            let stage = plain(h.get("to_stage").unwrap_or(&Value::Null));
            let what = if to_status != "open" {
                choice_label(t, "opportunities", "status", &to_status)
            } else {
                stage
            };
            timeline.push(TimelineItem {
                at: local_time(at, &tz),
                sort: at,
                kind: "stage",
                title: format!("{oname} → {what}"),
                body: plain(h.get("reason").unwrap_or(&Value::Null)),
                who: plain(h.get("changed_by_name").unwrap_or(&Value::Null)),
                href: format!("/opportunities/{oid}"),
            });
        }
    }
    timeline.extend(changes(c, t, obj, id, &defs, &tz)?);
    timeline.sort_by_key(|e| std::cmp::Reverse(e.sort));
    timeline.truncate(60);

    let mut rel = Vec::new();
    if obj.key == "customers" {
        rel.extend(related(
            c,
            t,
            actor,
            "contacts",
            "customer_id",
            id,
            &["name", "title", "mobile", "email"],
        )?);
        rel.extend(related(
            c,
            t,
            actor,
            "opportunities",
            "customer_id",
            id,
            &["name", "stage_id", "amount", "status"],
        )?);
    }
    if obj.key == "contacts" {
        rel.extend(related(
            c,
            t,
            actor,
            "opportunities",
            "customer_id",
            rec.get("customer_id").and_then(Value::as_i64).unwrap_or(0),
            &["name", "stage_id", "amount", "status"],
        )?);
    }
    let attachments = crate::core::attachments::list_for(c, obj.key, id)?
        .into_iter()
        .map(|a| AttachmentView {
            id: a.id,
            name: a.file_name,
            size: human_size(a.size),
            at: local_time(a.created_at, &tz),
        })
        .collect();
    let shares = crate::core::access::shares::list(c, obj.key, id)?
        .into_iter()
        .map(|s| ShareView {
            user_id: s.user_id,
            name: s.user_name,
            access: t
                .t(if s.can_write {
                    "share.read_write"
                } else {
                    "share.read"
                })
                .to_string(),
            until: s.until.map(|u| local_time(u, &tz)).unwrap_or_default(),
        })
        .collect();
    let can_edit = crate::core::records::store::editable(c, actor, obj.key, id).unwrap_or(false)
        && obj.can(actor, "edit");
    let followup_here = link_field.is_some() && actor.can("followups", "create");
    let followup_types = if followup_here {
        crate::crm::followups::types(c)?
            .into_iter()
            .map(|k| Opt::new(k.clone(), choice_label(t, "followups", "kind", &k)))
            .collect()
    } else {
        vec![]
    };
    let mut stages = Vec::new();
    let status = plain(rec.get("status").unwrap_or(&Value::Null));
    if obj.key == "opportunities"
        && let Some(pid) = rec.get("pipeline_id").and_then(Value::as_i64)
    {
        let p = crate::crm::pipelines::read(c, pid)?;
        let cur = rec.get("stage_id").and_then(Value::as_i64);
        stages = p
            .stages
            .iter()
            .map(|s| Opt {
                value: s.id.to_string(),
                label: format!("{} ({}%)", s.name, s.probability),
                selected: Some(s.id) == cur,
            })
            .collect();
    }
    Ok(DetailPage {
        c: Chrome::default(),
        key: obj.key,
        id,
        version,
        title,
        kind_label: t.t(&format!("object.{}.one", obj.key)).to_string(),
        can_edit,
        can_delete: can_edit && obj.can(actor, "delete"),
        fields,
        timeline,
        related: rel,
        attachments,
        shares,
        users: people(c)?,
        followup_here,
        followup_types,
        stages,
        status,
        is_lead: obj.key == "leads",
        converted: rec
            .get("converted_customer_id")
            .is_some_and(|v| !v.is_null()),
        notice: String::new(),
        error: String::new(),
        following: if crate::core::follows::ENTITIES.contains(&obj.key) {
            Some(crate::core::follows::is_following(
                c,
                actor.user_id(),
                obj.key,
                id,
            )?)
        } else {
            None
        },
    })
}

fn human_size(n: i64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MB", n as f64 / f64::from(1 << 20))
    } else if n >= 1 << 10 {
        format!("{:.0} KB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// `POST /{object}/{id}/followup`: the quick follow-up on a detail page.
pub async fn quick_followup(
    fu: FormUi,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    let (key, id) = path.into_inner();
    let obj = find_object(&ui, &key)?;
    let tz = ui.actor.user.time_zone.clone();
    let link = match obj.key {
        "customers" => "customer_id",
        "contacts" => "contact_id",
        "leads" => "lead_id",
        "opportunities" => "opportunity_id",
        _ => return Err(ui.fail(AppError::NotFound("no follow-ups here".into()))),
    };
    let actor = ui.actor.clone();
    let now = state.clock.now();
    let r = state
        .db(move |c| {
            let parent = objects::get(c, &actor, obj, id)?;
            let mut input = Map::new();
            input.insert("kind".into(), Value::from(f.get("kind")));
            input.insert(
                "content".into(),
                Value::from(f.get("content").trim().to_string()),
            );
            input.insert(
                "occurred_at".into(),
                Value::from(now.format("%Y-%m-%dT%H:%M:%S").to_string()),
            );
            if let Some(next) =
                objects::utc_from_input("next_follow_up_at", &f.get("next_follow_up_at"), &tz)?
            {
                input.insert("next_follow_up_at".into(), Value::from(next));
            }
            input.insert(link.into(), Value::from(id));
            // A follow-up on a contact or opportunity also belongs to its customer.
            if link != "customer_id"
                && let Some(cid) = parent.get("customer_id").and_then(Value::as_i64)
            {
                input.insert("customer_id".into(), Value::from(cid));
            }
            crate::core::records::store::create(
                c,
                &actor,
                &crate::crm::followups::SPEC,
                &input,
                true,
            )
        })
        .await;
    match r {
        Ok(_) => Ok(see_other(&format!("/{}/{id}?saved=1", obj.key))),
        Err(e @ (AppError::Invalid { .. } | AppError::Conflict(_) | AppError::Forbidden(_))) => {
            Ok(back_with_error(&ui, &format!("/{}/{id}", obj.key), &e))
        }
        Err(e) => Err(ui.fail(e)),
    }
}

/// Characters of an error passed back to a page in its address.
const ERROR_CHARS: usize = 300;

/// Back to a page with the error shown there (`?error=`), so the user
/// stays where they were.
fn back_with_error(ui: &Ui, to: &str, e: &AppError) -> HttpResponse {
    let msg: String = crate::core::i18n::localize(ui.t(), &e.to_string())
        .chars()
        .take(ERROR_CHARS)
        .collect();
    let sep = if to.contains('?') { '&' } else { '?' };
    see_other(&format!(
        "{to}{sep}error={}",
        crate::core::web::url_encode(&msg)
    ))
}

/// The error a page was sent back with by [`back_with_error`] (`?error=`).
pub(super) fn error_param(e: Option<String>) -> String {
    e.unwrap_or_default().chars().take(ERROR_CHARS).collect()
}

/// `POST /{object}/{id}/follow` with `follow=1` or `0`.
pub async fn follow(
    fu: FormUi,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    let (key, id) = path.into_inner();
    let obj = find_object(&ui, &key)?;
    let on = f.get("follow") == "1";
    let actor = ui.actor.clone();
    state
        .db(move |c| crate::core::follows::set(c, &actor, obj.key, id, on))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(see_other(&format!("/{}/{id}", obj.key)))
}

/// `POST /{object}/{id}/share` (add) and `/{object}/{id}/unshare` (remove).
pub async fn share(
    fu: FormUi,
    state: web::Data<AppState>,
    path: web::Path<(String, i64, String)>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    let (key, id, what) = path.into_inner();
    let obj = find_object(&ui, &key)?;
    let user = f
        .opt_i64("user_id")
        .map_err(|e| ui.fail(e))?
        .ok_or_else(|| ui.fail(AppError::invalid("user_id", ui.t().t("share.choose_user"))))?;
    let can_write = f.get("can_write") == "1";
    let until = match f.get("until").trim() {
        "" => None,
        d => Some(
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| ui.fail(AppError::invalid("until", format!("`{d}` is not a date"))))?
                .and_hms_opt(23, 59, 59)
                .unwrap_or_default(),
        ),
    };
    let actor = ui.actor.clone();
    state
        .db(move |c| {
            let share = (what == "share").then_some((can_write, until));
            if obj.key == "customers" {
                let cid = crate::crm::customers::model::CustomerId(id);
                match share {
                    Some((w, u)) => {
                        crate::crm::customers::store::add_collaborator(c, &actor, cid, user, w, u)
                            .map(|_| ())
                    }
                    None => crate::crm::customers::store::remove_collaborator(c, &actor, cid, user)
                        .map(|_| ()),
                }
            } else {
                crate::core::records::store::set_collaborator(c, &actor, obj.spec, id, user, share)
                    .map(|_| ())
            }
        })
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(see_other(&format!("/{}/{id}?saved=1", obj.key)))
}

/// `POST /opportunities/{id}/stage`: move, close with a reason, or reopen.
pub async fn stage(
    fu: FormUi,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    let id = path.into_inner();
    let version = f.version().map_err(|e| ui.fail(e))?;
    let mut changes = Map::new();
    if let Some(sid) = f.opt_i64("stage_id").map_err(|e| ui.fail(e))? {
        changes.insert("stage_id".into(), Value::from(sid));
    }
    let status = f.get("status");
    if !status.is_empty() {
        changes.insert("status".into(), Value::from(status));
    }
    let reason = f.get("reason");
    if !reason.trim().is_empty() {
        changes.insert(
            "close_reason".into(),
            Value::from(reason.trim().to_string()),
        );
    }
    let back = match f.get("back").as_str() {
        "" => format!("/opportunities/{id}?saved=1"),
        b => crate::core::web::safe_next(Some(b)),
    };
    let actor = ui.actor.clone();
    let r = state
        .db(move |c| {
            crate::core::records::store::update(
                c,
                &actor,
                &crate::crm::opportunities::SPEC,
                id,
                version,
                &changes,
                true,
                false,
            )
        })
        .await;
    match r {
        Ok(_) => Ok(see_other(&back)),
        Err(
            e @ (AppError::Invalid { .. }
            | AppError::Conflict(_)
            | AppError::Stale { .. }
            | AppError::Forbidden(_)),
        ) => {
            let to = back.split('?').next().unwrap_or("/").to_string();
            Ok(back_with_error(&ui, &to, &e))
        }
        Err(e) => Err(ui.fail(e)),
    }
}

// ---------------------------------------------------------------- lead conversion

#[derive(Template)]
#[template(path = "crm/convert.html")]
struct ConvertPage {
    c: Chrome,
    id: i64,
    lead_name: String,
    company: String,
    customer_name: String,
    candidates: Vec<Candidate>,
    hidden: i64,
    error: String,
    with_opportunity: bool,
    opportunity_name: String,
    amount: String,
    pipelines: Vec<Opt>,
    attach_to: String,
}

async fn render_convert(
    ui: &Ui,
    state: &web::Data<AppState>,
    id: i64,
    f: Option<&FormData>,
    err: Option<AppError>,
) -> Result<HttpResponse, HtmlError> {
    let actor = ui.actor.clone();
    let (lead, pipelines) = state
        .db(move |c| {
            let lead = crate::core::records::store::writable(
                c,
                &actor,
                &crate::crm::leads::SPEC,
                id,
                "edit",
            )?;
            let ps = if actor.can("opportunities", "create") {
                crate::crm::pipelines::list(c, &actor)?
                    .into_iter()
                    .filter(|p| p.active)
                    .map(|p| Opt::new(p.id.to_string(), p.name))
                    .collect()
            } else {
                vec![]
            };
            Ok((lead, ps))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let get = |k: &str| plain(lead.get(k).unwrap_or(&Value::Null));
    let mut candidates = Vec::new();
    let mut hidden = 0;
    let mut error = String::new();
    let mut status = StatusCode::OK;
    match err {
        Some(AppError::Duplicate {
            message,
            candidates: c,
            hidden: h,
        }) => {
            status = StatusCode::CONFLICT;
            error = format!("{} {message}", ui.t().t("convert.duplicates"));
            hidden = h;
            for cand in c.as_array().into_iter().flatten() {
                let cid = cand.get("id").and_then(Value::as_i64).unwrap_or_default();
                candidates.push(Candidate {
                    href: format!("{cid}"),
                    name: plain(cand.get("name").unwrap_or(&Value::Null)),
                });
            }
        }
        Some(e) => {
            status = StatusCode::BAD_REQUEST;
            error = crate::core::i18n::localize(ui.t(), &e.to_string());
        }
        None => {}
    }
    let company = get("company");
    let field = |k: &str, dflt: String| {
        f.map(|f| f.get(k))
            .filter(|v| !v.is_empty())
            .unwrap_or(dflt)
    };
    Ok(html(
        status,
        &ConvertPage {
            c: ui.chrome("leads"),
            id,
            lead_name: get("name"),
            customer_name: field(
                "customer_name",
                if company.is_empty() {
                    get("name")
                } else {
                    company.clone()
                },
            ),
            company,
            candidates,
            hidden,
            error,
            with_opportunity: f.is_some_and(|f| f.get("with_opportunity") == "1"),
            opportunity_name: field("opportunity_name", String::new()),
            amount: field("amount", String::new()),
            pipelines,
            attach_to: f.map(|f| f.get("customer_id")).unwrap_or_default(),
        },
    ))
}

/// `GET /leads/{id}/convert`.
pub async fn convert_page(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    render_convert(&ui, &state, path.into_inner(), None, None).await
}

/// `POST /leads/{id}/convert`: into a new customer (offering duplicates
/// first) or an existing one, optionally with an opportunity.
pub async fn convert(
    fu: FormUi,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    let id = path.into_inner();
    let mut input = crate::crm::leads::convert::ConvertInput {
        customer_id: f.opt_i64("customer_id").map_err(|e| ui.fail(e))?,
        confirm_duplicates: f.get("confirm_duplicates") == "1",
        create_contact: Some(f.get("skip_contact") != "1"),
        ..Default::default()
    };
    let name = f.get("customer_name");
    if input.customer_id.is_none() && !name.trim().is_empty() {
        input
            .customer
            .insert("name".into(), Value::from(name.trim().to_string()));
    }
    if f.get("with_opportunity") == "1" {
        let mut o = Map::new();
        let oname = f.get("opportunity_name");
        if !oname.trim().is_empty() {
            o.insert("name".into(), Value::from(oname.trim().to_string()));
        }
        if let Some(p) = f.opt_i64("pipeline_id").map_err(|e| ui.fail(e))? {
            o.insert("pipeline_id".into(), Value::from(p));
        }
        match objects::parse_money("amount", &f.get("amount")) {
            Ok(Some(a)) => {
                o.insert("amount".into(), Value::from(a));
            }
            Ok(None) => {}
            Err(e) => return render_convert(&ui, &state, id, Some(&f), Some(e)).await,
        }
        input.opportunity = Some(o);
    }
    let actor = ui.actor.clone();
    let r = state
        .db(move |c| crate::crm::leads::convert::convert(c, &actor, id, &input))
        .await;
    match r {
        Ok(v) => {
            let cid = v["customer"]["id"].as_i64().unwrap_or_default();
            Ok(see_other(&format!("/customers/{cid}?saved=1")))
        }
        Err(
            e @ (AppError::Duplicate { .. } | AppError::Invalid { .. } | AppError::Conflict(_)),
        ) => render_convert(&ui, &state, id, Some(&f), Some(e)).await,
        Err(e) => Err(ui.fail(e)),
    }
}
