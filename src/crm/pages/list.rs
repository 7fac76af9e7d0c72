//! List pages for every object: views as tabs, search, a filter builder,
//! sort, a column chooser remembered per user, keyset "load more", totals
//! and bulk actions with a confirmation step. The query string is the JSON
//! API's (`view`, `q`, `filter=field:op:value`, `sort`, `cursor`), so a
//! list's address can be bookmarked and shared.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde_json::{Map, Value, json};

use super::display::{Cell, Shower};
use super::objects::{self, UiObject};
use super::{Opt, find_object, people, url_of};
use crate::app::AppState;
use crate::core::auth::actor::Actor;
use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::list::{self, ListParams};
use crate::core::records::Kind;
use crate::core::records::api::retag;
use crate::core::web::{Chrome, FormUi, HtmlError, Ui, html, see_other};

const PAGE_SIZE: i64 = 50;

/// Filter operators offered by the builder, in menu order.
const OPS: &[&str] = &[
    "contains",
    "eq",
    "ne",
    "not_contains",
    "starts_with",
    "ends_with",
    "empty",
    "not_empty",
    "gt",
    "ge",
    "lt",
    "le",
    "between",
    "in",
];

pub struct Tab {
    pub label: String,
    pub href: String,
    pub current: bool,
    /// A saved view (can be deleted).
    pub saved_id: i64,
}

pub struct Head {
    pub label: String,
    pub sort_href: String,
    /// `asc`, `desc` or empty.
    pub sorted: &'static str,
}

pub struct Row {
    pub id: i64,
    pub href: String,
    pub cells: Vec<Cell>,
}

pub struct FilterRow {
    pub field: String,
    pub op: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "crm/list.html")]
struct ListPage {
    c: Chrome,
    key: &'static str,
    title: String,
    can_create: bool,
    can_edit: bool,
    can_delete: bool,
    is_customers: bool,
    tabs: Vec<Tab>,
    view: String,
    q: String,
    sort: String,
    filters: Vec<FilterRow>,
    field_opts: Vec<Opt>,
    op_opts: Vec<Opt>,
    sort_opts: Vec<Opt>,
    heads: Vec<Head>,
    chooser: Vec<Opt>,
    rows: Vec<Row>,
    more_href: String,
    more_rows_href: String,
    error: String,
    notice: String,
    back: String,
    users: Vec<Opt>,
    pools: Vec<Opt>,
    has_tags: bool,
    oob: bool,
    /// The list's query for the export links ("" when exporting is not allowed).
    export_qs: String,
    /// The list's query, for the total loaded after the page.
    count_qs: String,
    can_import: bool,
}

#[derive(Template)]
#[template(path = "crm/rows.html")]
struct RowsPart {
    c: Chrome,
    can_edit: bool,
    oob: bool,
    rows: Vec<Row>,
    more_href: String,
    more_rows_href: String,
}

/// The list's own query pairs (the builder's `ff`/`fo`/`fv` rows folded into
/// `filter=`), without paging.
fn canonical(qs: &str) -> Vec<(String, String)> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(qs.as_bytes()).into_owned().collect();
    let mut out = Vec::new();
    let (mut ff, mut fo, mut fv) = (Vec::new(), Vec::new(), Vec::new());
    for (k, v) in pairs {
        match k.as_str() {
            "q" | "sort" | "view" if !v.trim().is_empty() => out.push((k, v)),
            "filter" if !v.trim().is_empty() => out.push((k, v)),
            "ff" => ff.push(v),
            "fo" => fo.push(v),
            "fv" => fv.push(v),
            _ => {}
        }
    }
    for (i, field) in ff.iter().enumerate() {
        let op = fo.get(i).map_or("contains", String::as_str);
        let value = fv.get(i).map_or("", String::as_str).trim();
        let no_value = matches!(op, "empty" | "not_empty");
        if field.is_empty() || (value.is_empty() && !no_value) {
            continue;
        }
        out.push(("filter".into(), format!("{field}:{op}:{value}")));
    }
    out
}

fn encode(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish()
}

fn with(pairs: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != key).cloned().collect();
    if !value.is_empty() {
        p.push((key.into(), value.into()));
    }
    p
}

fn pref_key(actor: &Actor, obj: &UiObject) -> String {
    format!("user.{}.columns.{}", actor.user_id(), obj.key)
}

/// The columns the user chose for this list, or the object's defaults.
fn chosen_columns(
    conn: &mut DbConn,
    actor: &Actor,
    obj: &UiObject,
) -> Result<Vec<String>, AppError> {
    let saved = crate::core::settings::get(conn, &pref_key(actor, obj))?
        .and_then(|s| serde_json::from_str::<Vec<String>>(&s).ok())
        .filter(|v| !v.is_empty());
    Ok(saved.unwrap_or_else(|| obj.columns.iter().map(|c| c.to_string()).collect()))
}

/// Columns a list may sort by.
fn sortable(obj: &UiObject) -> Vec<&'static str> {
    if obj.key == "customers" {
        crate::crm::customers::store::COLUMNS
            .iter()
            .filter(|c| c.sortable)
            .map(|c| c.name)
            .collect()
    } else {
        obj.spec
            .columns()
            .into_iter()
            .filter(|c| c.sortable)
            .map(|c| c.name)
            .collect()
    }
}

struct Loaded {
    rows: Vec<Row>,
    heads: Vec<Head>,
    next: Option<String>,
    sort: String,
    columns: Vec<String>,
}

fn load(
    conn: &mut DbConn,
    ui_t: crate::core::i18n::Tr,
    actor: &Actor,
    obj: &'static UiObject,
    pairs: &[(String, String)],
    cursor: Option<&str>,
) -> Result<Loaded, AppError> {
    // The total is counted by its own request (`/{object}/count`), so the
    // page does not wait for a count over a large table.
    let mut qs = pairs.to_vec();
    if let Some(c) = cursor {
        qs.push(("cursor".into(), c.into()));
    }
    qs.push(("limit".into(), PAGE_SIZE.to_string()));
    let params: ListParams = list::parse_query(&encode(&qs))?;
    let page = objects::list(conn, actor, obj, &params)?;
    let columns = chosen_columns(conn, actor, obj)?;
    let tz = actor.user.time_zone.clone();
    let shower = Shower::load(conn, actor, ui_t, &tz, obj, &page.items, &columns)?;
    let sortable = sortable(obj);
    let sort = page.sort.clone();
    let heads = columns
        .iter()
        .map(|col| {
            let can = sortable.contains(&col.as_str());
            let sorted = if sort == *col {
                "asc"
            } else if sort.strip_prefix('-') == Some(col.as_str()) {
                "desc"
            } else {
                ""
            };
            let next = if sorted == "desc" {
                col.clone()
            } else {
                format!("-{col}")
            };
            Head {
                label: shower.label(obj, col),
                sort_href: if can {
                    format!("/{}?{}", obj.key, encode(&with(pairs, "sort", &next)))
                } else {
                    String::new()
                },
                sorted,
            }
        })
        .collect();
    let rows = page
        .items
        .iter()
        .map(|r| {
            let id = r.get("id").and_then(Value::as_i64).unwrap_or_default();
            Row {
                id,
                href: format!("/{}/{id}", obj.key),
                cells: columns
                    .iter()
                    .map(|c| {
                        let mut cell = shower.cell(obj, r, c);
                        cell.label = shower.label(obj, c);
                        cell
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Loaded {
        rows,
        heads,
        next: page.next_cursor,
        sort,
        columns,
    })
}

/// `12,345`, or `10,000+` beyond the cap.
fn total_text(t: list::Total) -> String {
    let n = objects::money(t.count * 100);
    let n = n.trim_end_matches(".00").to_string();
    if t.capped { format!("{n}+") } else { n }
}

/// `GET /{object}/count?…`: the list's total, capped (loaded after the page).
pub async fn count_part(
    ui: Ui,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let obj = find_object(&ui, &path)?;
    let mut pairs = canonical(req.query_string());
    pairs.push(("total".into(), "1".into()));
    pairs.push(("limit".into(), "1".into()));
    let params = list::parse_query(&encode(&pairs)).map_err(|e| ui.fail(e))?;
    let actor = ui.actor.clone();
    let page = state
        .db(move |c| objects::list(c, &actor, obj, &params))
        .await
        .map_err(|e| ui.fail(e))?;
    let text = page.total.map_or(String::new(), total_text);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(format!("<span class=\"count\">{text}</span>")))
}

fn more_links(obj: &UiObject, pairs: &[(String, String)], next: Option<&str>) -> (String, String) {
    match next {
        Some(cur) => {
            let p = with(pairs, "cursor", cur);
            (
                format!("/{}?{}", obj.key, encode(&p)),
                format!("/{}/rows?{}", obj.key, encode(&p)),
            )
        }
        None => (String::new(), String::new()),
    }
}

#[derive(serde::Deserialize)]
struct Notice {
    done: Option<usize>,
    failed: Option<usize>,
    deleted: Option<String>,
}

pub async fn list_page(
    ui: Ui,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let obj = find_object(&ui, &path)?;
    if !obj.can(&ui.actor, "view") {
        return Err(ui.fail(AppError::Forbidden(format!("you may not view {}", obj.key))));
    }
    let mut pairs = canonical(req.query_string());
    if !pairs.iter().any(|(k, _)| k == "view") {
        pairs.push(("view".into(), obj.views[0].to_string()));
    }
    let cursor = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "cursor")
        .map(|(_, v)| v.into_owned());
    let notice_q = web::Query::<Notice>::from_query(req.query_string()).ok();
    let actor = ui.actor.clone();
    let t = ui.t();
    let p2 = pairs.clone();
    let result = state
        .db(move |c| {
            let loaded = load(c, t, &actor, obj, &p2, cursor.as_deref());
            let saved = crate::core::views::mine(c, &actor, Some(obj.key))?;
            let users = people(c)?;
            let pools = if obj.key == "customers" {
                crate::crm::pools::list(c, &actor)?
                    .into_iter()
                    .filter(|p| p.active)
                    .map(|p| Opt::new(p.id.to_string(), p.name.clone()))
                    .collect()
            } else {
                Vec::new()
            };
            let defs = crate::core::fields::list(c, Some(obj.key), true)?;
            Ok((loaded, saved, users, pools, defs))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let (loaded, saved, users, pools, defs) = result;
    let view = pairs
        .iter()
        .find(|(k, _)| k == "view")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut tabs: Vec<Tab> = obj
        .views
        .iter()
        .map(|v| Tab {
            label: t.t(&format!("view.{v}")).to_string(),
            href: format!("/{}?view={v}", obj.key),
            current: view == *v,
            saved_id: 0,
        })
        .collect();
    for s in &saved {
        tabs.push(Tab {
            label: s.name.clone(),
            href: format!("/{}?view={}", obj.key, s.id),
            current: view == s.id.to_string(),
            saved_id: s.id,
        });
    }
    let q = pairs
        .iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let filters: Vec<FilterRow> = pairs
        .iter()
        .filter(|(k, _)| k == "filter")
        .map(|(_, v)| {
            let mut it = v.splitn(3, ':');
            FilterRow {
                field: it.next().unwrap_or("").into(),
                op: it.next().unwrap_or("").into(),
                value: it.next().unwrap_or("").into(),
            }
        })
        .collect();
    let shower_label = |col: &str| match col.strip_prefix("custom.") {
        Some(key) => defs
            .iter()
            .find(|d| d.key == key)
            .map(|d| objects::custom_label(t, d))
            .unwrap_or_else(|| key.to_string()),
        None => objects::label(t, obj.key, col),
    };
    let mut filterable: Vec<String> = obj.all_columns().iter().map(|c| c.to_string()).collect();
    filterable.extend(defs.iter().map(|d| format!("custom.{}", d.key)));
    let field_opts = filterable
        .iter()
        .map(|f| Opt::new(f.clone(), shower_label(f)))
        .collect();
    let op_opts = OPS
        .iter()
        .map(|o| Opt::new(o.to_string(), t.t(&format!("op.{o}")).to_string()))
        .collect();
    let sort_opts = sortable(obj)
        .iter()
        .flat_map(|s| {
            let l = shower_label(s);
            [
                Opt::new(s.to_string(), format!("{l} ↑")),
                Opt::new(format!("-{s}"), format!("{l} ↓")),
            ]
        })
        .collect();
    let (rows, heads, more, more_rows, sort, chooser, error, status) = match loaded {
        Ok(l) => {
            let (more, more_rows) = more_links(obj, &pairs, l.next.as_deref());
            let chooser = filterable
                .iter()
                .map(|f| Opt {
                    value: f.clone(),
                    label: shower_label(f),
                    selected: l.columns.contains(f),
                })
                .collect();
            (
                l.rows,
                l.heads,
                more,
                more_rows,
                l.sort,
                chooser,
                String::new(),
                StatusCode::OK,
            )
        }
        Err(e) => (
            vec![],
            vec![],
            String::new(),
            String::new(),
            String::new(),
            vec![],
            crate::core::i18n::localize(t, &e.to_string()),
            StatusCode::BAD_REQUEST,
        ),
    };
    let notice = match notice_q {
        Some(n) if n.done.is_some() => {
            let mut s = t
                .t("list.bulk_done")
                .replace("{n}", &n.done.unwrap_or(0).to_string());
            if let Some(f) = n.failed.filter(|f| *f > 0) {
                s.push_str(&t.t("list.bulk_failed").replace("{n}", &f.to_string()));
            }
            s
        }
        Some(n) if n.deleted.is_some() => t.t("record.deleted").to_string(),
        _ => String::new(),
    };
    Ok(html(
        status,
        &ListPage {
            c: ui.chrome(obj.key),
            key: obj.key,
            title: t.t(&format!("object.{}", obj.key)).to_string(),
            can_create: obj.can(&ui.actor, "create"),
            can_edit: obj.can(&ui.actor, "edit"),
            can_delete: obj.can(&ui.actor, "delete"),
            is_customers: obj.key == "customers",
            tabs,
            view,
            q,
            sort,
            filters,
            field_opts,
            op_opts,
            sort_opts,
            heads,
            chooser,
            rows,
            more_href: more,
            more_rows_href: more_rows,
            error,
            notice,
            back: url_of(&req),
            users,
            pools,
            has_tags: obj.kind_of("tags") == Some(Kind::Tags),
            oob: false,
            export_qs: if obj.can(&ui.actor, "export")
                && crate::io::columns::ENTITIES.contains(&obj.key)
            {
                encode(&pairs)
            } else {
                String::new()
            },
            count_qs: encode(&pairs),
            can_import: obj.can(&ui.actor, "create")
                && crate::io::columns::ENTITIES.contains(&obj.key),
        },
    ))
}

/// The next page's rows (htmx "load more").
pub async fn rows_part(
    ui: Ui,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let obj = find_object(&ui, &path)?;
    let pairs = canonical(req.query_string());
    let cursor = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "cursor")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ui.fail(AppError::invalid("cursor", "which page?")))?;
    let actor = ui.actor.clone();
    let t = ui.t();
    let p2 = pairs.clone();
    let l = state
        .db(move |c| load(c, t, &actor, obj, &p2, Some(&cursor)))
        .await
        .map_err(|e| ui.fail(e))?;
    let (more, more_rows) = more_links(obj, &pairs, l.next.as_deref());
    Ok(html(
        StatusCode::OK,
        &RowsPart {
            c: ui.chrome(obj.key),
            can_edit: obj.can(&ui.actor, "edit"),
            oob: true,
            rows: l.rows,
            more_href: more,
            more_rows_href: more_rows,
        },
    ))
}

/// Save the column choice (`cols`, repeated) for this user and list.
pub async fn save_columns(
    fu: FormUi,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    let obj = find_object(&ui, &path)?;
    let cols = f.all("cols");
    let back = crate::core::web::safe_next(Some(&f.get("back")));
    let actor = ui.actor.clone();
    state
        .db(move |c| {
            let defs = crate::core::fields::list(c, Some(obj.key), true)?;
            let allowed: Vec<String> = obj
                .all_columns()
                .iter()
                .map(|c| c.to_string())
                .chain(defs.iter().map(|d| format!("custom.{}", d.key)))
                .collect();
            let keep: Vec<String> = cols
                .into_iter()
                .filter(|c| allowed.contains(c))
                .take(20)
                .collect();
            crate::core::settings::set(c, &pref_key(&actor, obj), &json!(keep).to_string())?;
            Ok(())
        })
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(see_other(&back))
}

/// Save the current filters as a named view.
pub async fn save_view(
    fu: FormUi,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    let obj = find_object(&ui, &path)?;
    let name = f.get("name");
    let query = f.get("query");
    let pairs = canonical(query.split_once('?').map_or("", |(_, q)| q));
    let params = list::parse_query(&encode(&pairs)).map_err(|e| ui.fail(e))?;
    let columns = Vec::new();
    let def = crate::core::views::Definition {
        q: params.q,
        filters: params.filters,
        sort: params.sort,
        view: params.view.filter(|v| v.parse::<i64>().is_err()),
        columns,
    };
    let actor = ui.actor.clone();
    let v = state
        .db(move |c| crate::core::views::create(c, &actor, obj.key, &name, &def))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(see_other(&format!("/{}?view={}", obj.key, v.id)))
}

pub async fn delete_view(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, HtmlError> {
    let (key, id) = path.into_inner();
    let obj = find_object(&ui, &key)?;
    let actor = ui.actor.clone();
    state
        .db(move |c| crate::core::views::remove(c, &actor, id))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(see_other(&format!("/{}", obj.key)))
}

#[derive(Template)]
#[template(path = "crm/bulk_confirm.html")]
struct BulkConfirm {
    c: Chrome,
    key: &'static str,
    title: String,
    action: String,
    action_label: String,
    detail: String,
    ids: Vec<i64>,
    owner_id: String,
    tag: String,
    pool_id: String,
    back: String,
}

/// One bulk action over the chosen ids: the same checks as the API, each
/// record on its own (one refusal does not stop the rest). `tag` is the
/// tag, or the reason for putting customers into a pool.
#[expect(clippy::too_many_arguments, reason = "one form's fields")]
fn run_bulk(
    conn: &mut DbConn,
    actor: &Actor,
    obj: &'static UiObject,
    action: &str,
    ids: &[i64],
    owner: Option<i64>,
    tag: &str,
    pool: Option<i64>,
    now: chrono::NaiveDateTime,
) -> Result<(usize, usize), AppError> {
    if action == "pool" {
        let pool = pool.ok_or_else(|| AppError::invalid("pool_id", "which pool?"))?;
        let done = crate::crm::pools::put(conn, actor, pool, ids, tag, now)?;
        return Ok((done, ids.len().saturating_sub(done)));
    }
    let (mut done, mut failed) = (0, 0);
    for &id in ids {
        let one = (|| {
            let cur = objects::get(conn, actor, obj, id)?;
            let v = cur
                .get("version")
                .and_then(Value::as_i64)
                .unwrap_or_default() as i32;
            let mut change = Map::new();
            match action {
                "assign" => {
                    change.insert(obj.spec.owner_col.into(), Value::from(owner));
                }
                "add_tag" | "remove_tag" => {
                    let tags = cur.get("tags").cloned().unwrap_or(Value::Null);
                    change.insert("tags".into(), retag(&tags, action, tag));
                }
                "delete" => return objects::delete(conn, actor, obj, id, v),
                _ => return Err(AppError::invalid("action", "unknown action")),
            }
            objects::update(conn, actor, obj, id, v, &change, true).map(|_| ())
        })();
        match one {
            Ok(()) => done += 1,
            Err(_) => failed += 1,
        }
    }
    Ok((done, failed))
}

/// Bulk action: the first post shows what will happen, the second (with
/// `confirmed=1`) does it.
pub async fn bulk(
    fu: FormUi,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    let FormUi { ui, form: f } = fu;
    let obj = find_object(&ui, &path)?;
    let t = ui.t();
    let ids = f.i64s("ids").map_err(|e| ui.fail(e))?;
    let back = crate::core::web::safe_next(Some(&f.get("back")));
    let action = f.get("action");
    if ids.is_empty() || ids.len() > 500 {
        return Err(ui.fail(AppError::invalid("ids", t.t("list.bulk_choose"))));
    }
    if !["assign", "add_tag", "remove_tag", "delete", "pool"].contains(&action.as_str()) {
        return Err(ui.fail(AppError::invalid("action", t.t("list.bulk_choose_action"))));
    }
    let owner = f.opt_i64("owner_id").map_err(|e| ui.fail(e))?;
    let pool = f.opt_i64("pool_id").map_err(|e| ui.fail(e))?;
    let tag = if action == "pool" {
        f.get("reason")
    } else {
        f.get("tag")
    }
    .trim()
    .to_string();
    if action == "assign" && owner.is_none() {
        return Err(ui.fail(AppError::invalid("owner_id", t.t("list.bulk_choose_owner"))));
    }
    if action.ends_with("_tag") && tag.is_empty() {
        return Err(ui.fail(AppError::invalid("tag", t.t("list.bulk_choose_tag"))));
    }
    if action == "pool" && (pool.is_none() || tag.is_empty()) {
        return Err(ui.fail(AppError::invalid("reason", t.t("list.bulk_choose_pool"))));
    }
    if f.get("confirmed") != "1" {
        let actor = ui.actor.clone();
        let detail = state
            .db(move |c| {
                Ok(match (action_detail(&action), owner, pool) {
                    ("owner", Some(o), _) => {
                        crate::core::records::store::user_names(c, [o].into_iter())?
                            .remove(&o)
                            .unwrap_or_default()
                    }
                    ("pool", _, Some(p)) => crate::crm::pools::visible_pool(c, &actor, p)?.name,
                    _ => String::new(),
                })
            })
            .await
            .map_err(|e| ui.fail(e))?;
        let action = f.get("action");
        let detail = match (action.as_str(), tag.is_empty()) {
            ("pool", false) => format!("{detail} · {tag}"),
            (_, false) => tag.clone(),
            _ => detail,
        };
        return Ok(html(
            StatusCode::OK,
            &BulkConfirm {
                c: ui.chrome(obj.key),
                key: obj.key,
                title: t.t(&format!("object.{}", obj.key)).to_string(),
                action_label: t.t(&format!("bulk.{action}")).to_string(),
                action,
                detail,
                ids,
                owner_id: owner.map(|o| o.to_string()).unwrap_or_default(),
                tag,
                pool_id: pool.map(|p| p.to_string()).unwrap_or_default(),
                back,
            },
        ));
    }
    let actor = ui.actor.clone();
    let now = state.clock.now();
    let (done, failed) = state
        .db(move |c| run_bulk(c, &actor, obj, &action, &ids, owner, &tag, pool, now))
        .await
        .map_err(|e| ui.fail(e))?;
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(see_other(&format!(
        "{back}{sep}done={done}&failed={failed}"
    )))
}

fn action_detail(action: &str) -> &'static str {
    match action {
        "assign" => "owner",
        "pool" => "pool",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_builder_folds_into_api_filters() {
        let p = canonical(
            "view=mine&q=%E5%BC%A0&ff=city&fo=eq&fv=%E6%B7%B1%E5%9C%B3&ff=&fo=eq&fv=&ff=email&fo=empty&fv=&cursor=x",
        );
        assert_eq!(
            p,
            vec![
                ("view".to_string(), "mine".to_string()),
                ("q".into(), "张".into()),
                ("filter".into(), "city:eq:深圳".into()),
                ("filter".into(), "email:empty:".into()),
            ]
        );
    }
}
