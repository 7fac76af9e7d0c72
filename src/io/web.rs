//! The import, data-quality and export-limit pages. Handlers are thin: they
//! parse the form, call the same engine functions as the REST API
//! (`super::api`, `super::import`, `super::quality`; scope, permissions and
//! the audit trail live there) and render what came back, with refusals
//! shown on the page next to what caused them.
//!
//! - `GET /import?entity=` upload form; `POST /import?entity=` stores the
//!   file, checks it can be read and opens its mapping screen.
//! - `GET /imports/{id}` mapping screen and preview while the batch is
//!   pending (the "preview again" button sends the choices back here),
//!   afterwards its progress and result; `GET /imports/{id}/status` the
//!   progress fragment htmx polls; `POST /imports/{id}/run|cancel|undo`.
//! - `GET /imports` the caller's batches (administrators: all).
//! - `GET /quality?days=` duplicates with merge forms, merge history, the
//!   report; `POST /quality/merge`, `POST /quality/merges/{id}/undo`.
//! - `GET|POST /settings/export-limits` the per-role export maximum.

use std::collections::HashMap;
use std::path::Path;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::columns::{self, Col};
use super::import::{self, Batch, OnDuplicate, Options};
use super::{api, quality};
use crate::app::AppState;
use crate::core::auth::actor::Actor;
use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::i18n::Tr;
use crate::core::web::form::FormData;
use crate::core::web::{Chrome, HtmlError, Ui, html, see_other};
use crate::crm::pages::objects::{choice_label, label, local_time};
use crate::crm::pages::{Opt, people};

/// File name endings an import accepts.
const FILE_TYPES: &[&str] = &["csv", "txt", "tsv", "xlsx", "xls"];

/// Encodings offered as an override: value, label key.
const ENCODINGS: &[(&str, &str)] = &[
    ("", "import.encoding_auto"),
    ("utf-8", "import.encoding_utf8"),
    ("gb18030", "import.encoding_gb18030"),
    ("utf-16le", "import.encoding_utf16le"),
    ("utf-16be", "import.encoding_utf16be"),
];

/// Delimiters offered as an override: value, label key.
const DELIMITERS: &[(&str, &str)] = &[
    ("", "import.delimiter_auto"),
    (",", "import.delimiter_comma"),
    (";", "import.delimiter_semicolon"),
    ("tab", "import.delimiter_tab"),
    ("|", "import.delimiter_pipe"),
];

/// Customer fields a merge can take from any of the merged records.
const MERGE_FIELDS: &[&str] = &[
    "name",
    "short_name",
    "kind",
    "industry",
    "level",
    "source",
    "status",
    "phone",
    "mobile",
    "email",
    "website",
    "province",
    "city",
    "district",
    "address",
    "notes",
    "owner_id",
];

/// Fields whose values are choices with labels.
const CHOICE_FIELDS: &[&str] = &["kind", "level", "source", "status"];

fn entity_label(t: Tr, entity: &str) -> String {
    t.t(&format!("object.{entity}")).to_string()
}

/// A column's label in the reader's language: the page's own label for a
/// built-in field, the custom field's label otherwise.
fn col_label(t: Tr, entity: &str, col: &Col) -> String {
    if !col.key.starts_with("custom.") {
        let l = label(t, entity, &col.key);
        if l != col.key {
            return l;
        }
    }
    col.label(t.lang).to_string()
}

fn status_label(t: Tr, status: &str) -> String {
    t.label("import.status", status).to_string()
}

/// The engine's two preview notes in the reader's language; other reasons
/// (they name values and columns) as the engine wrote them.
fn reason_text(t: Tr, reason: &str) -> String {
    if let Some(line) = reason.strip_prefix("duplicate of line ") {
        return format!("{} {line}", t.t("import.dup_of_line"));
    }
    if let Some(rest) = reason.strip_prefix("matches existing ") {
        let ids = rest.split_once(' ').map_or(rest, |(_, ids)| ids);
        return format!("{} {ids}", t.t("import.matches_existing"));
    }
    reason.to_string()
}

/// A preview note that depends on the duplicate mode, not a rejection.
fn is_duplicate_note(reason: &str) -> bool {
    reason.starts_with("duplicate of line ") || reason.starts_with("matches existing ")
}

/// Entities the actor may import.
fn importable(actor: &Actor) -> Vec<&'static str> {
    columns::ENTITIES
        .iter()
        .copied()
        .filter(|e| actor.can(e, "import") && actor.can(e, "create"))
        .collect()
}

/// An error a page shows next to a field (or at the top of the form), or
/// `None` for errors that deserve an error page.
fn shown_error(e: &AppError) -> Option<(String, String)> {
    match e {
        AppError::Invalid { field, message } => {
            Some((field.clone().unwrap_or_default(), message.clone()))
        }
        AppError::Conflict(m) | AppError::TooLarge(m) | AppError::Forbidden(m) => {
            Some((String::new(), m.clone()))
        }
        _ => None,
    }
}

fn error_status(e: &AppError) -> StatusCode {
    match e {
        AppError::Conflict(_) => StatusCode::CONFLICT,
        AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}

// ------------------------------------------------------------------ upload

#[derive(Template)]
#[template(path = "io/upload.html")]
struct UploadPage {
    c: Chrome,
    /// Tabs: entity key, label, current.
    entities: Vec<Opt>,
    entity: String,
    entity_label: String,
    max_mb: u64,
    types: String,
    error: String,
}

#[derive(Deserialize)]
pub struct EntityQuery {
    entity: Option<String>,
}

fn upload_page_for(
    ui: &Ui,
    state: &AppState,
    entity: Option<&str>,
    error: String,
) -> Result<UploadPage, HtmlError> {
    let t = ui.t();
    let allowed = importable(&ui.actor);
    let entity = match entity.filter(|e| !e.is_empty()) {
        Some(e) => {
            let spec = columns::entity(e).map_err(|e| ui.fail(e))?;
            if !allowed.contains(&spec.name) {
                return Err(ui.fail(AppError::Forbidden(format!(
                    "you may not import {}",
                    spec.name
                ))));
            }
            spec.name.to_string()
        }
        None => allowed.first().map(|e| e.to_string()).unwrap_or_default(),
    };
    Ok(UploadPage {
        c: ui.chrome("import"),
        entities: allowed
            .iter()
            .map(|e| Opt {
                value: e.to_string(),
                label: entity_label(t, e),
                selected: *e == entity,
            })
            .collect(),
        entity_label: entity_label(t, &entity),
        entity,
        max_mb: state.settings.import.max_upload_mb,
        types: FILE_TYPES
            .iter()
            .map(|e| format!(".{e}"))
            .collect::<Vec<_>>()
            .join(", "),
        error,
    })
}

/// `GET /import?entity=customers`
async fn upload_page(
    ui: Ui,
    state: web::Data<AppState>,
    q: web::Query<EntityQuery>,
) -> Result<HttpResponse, HtmlError> {
    let page = upload_page_for(&ui, &state, q.entity.as_deref(), String::new())?;
    Ok(html(StatusCode::OK, &page))
}

/// The part of an upload's name after the last dot, lower case.
fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// `POST /import?entity=customers` with a multipart form (or the file as
/// the body): the file is stored and read; a readable one becomes a
/// pending batch and its mapping screen opens; otherwise the form says why.
async fn upload(
    req: HttpRequest,
    ui: Ui,
    state: web::Data<AppState>,
    q: web::Query<EntityQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, HtmlError> {
    let t = ui.t();
    // Permission and entity first: the page itself refuses both.
    let entity = upload_page_for(&ui, &state, q.entity.as_deref(), String::new())?.entity;
    let refuse = |e: AppError| -> Result<HttpResponse, HtmlError> {
        let status = error_status(&e);
        let Some((_, message)) = shown_error(&e) else {
            return Err(ui.fail(e));
        };
        let page = upload_page_for(&ui, &state, Some(&entity), message)?;
        Ok(html(status, &page))
    };
    let (path, part_name) = match api::store_upload(&req, &state, payload).await {
        Ok(stored) => stored,
        Err(e) => return refuse(e),
    };
    let name = api::clean_file_name(&part_name.unwrap_or_default());
    let ext = extension(&name);
    if !ext.is_empty() && !FILE_TYPES.contains(&ext.as_str()) {
        let _ = std::fs::remove_file(&path);
        return refuse(AppError::invalid(
            "file",
            format!("{} ({name})", t.t("import.wrong_type")),
        ));
    }
    let actor = ui.actor.clone();
    let spec = columns::entity(&entity).map_err(|e| ui.fail(e))?;
    let stored = path.clone();
    let made = state
        .db(move |conn| {
            // A file that cannot be read or mapped is refused here, before
            // it becomes a batch.
            import::plan(conn, spec.name, &stored, &Options::default())?;
            import::new_batch(
                conn,
                &actor,
                spec.name,
                &name,
                &stored.display().to_string(),
                "pending",
                &Options::default(),
            )
        })
        .await;
    match made {
        Ok(id) => Ok(see_other(&format!("/imports/{id}"))),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            refuse(e)
        }
    }
}

// ---------------------------------------------------------------- mapping

/// What the user chose on the mapping screen (sent back by "preview again"
/// as a query, by "import" as the form body).
#[derive(Debug, Default, Clone)]
struct Choices {
    encoding: String,
    delimiter: String,
    /// Column index → field key ("" for not imported); only columns the
    /// form sent (the others keep the automatic mapping).
    map: HashMap<usize, String>,
    on_duplicate: String,
    owner_id: String,
    pool_id: String,
    dry_run: bool,
}

impl Choices {
    fn parse(f: &FormData) -> Choices {
        let mut map = HashMap::new();
        for (k, v) in &f.0 {
            if let Some(i) = k.strip_prefix("map.").and_then(|i| i.parse().ok()) {
                map.insert(i, v.trim().to_string());
            }
        }
        Choices {
            encoding: f.get("encoding").trim().to_string(),
            delimiter: f.get("delimiter"),
            map,
            on_duplicate: f.get("on_duplicate"),
            owner_id: f.get("owner_id").trim().to_string(),
            pool_id: f.get("pool_id").trim().to_string(),
            dry_run: f.0.iter().any(|(k, _)| k == "dry_run"),
        }
    }

    fn encoding(&self) -> Option<String> {
        Some(self.encoding.clone()).filter(|e| !e.is_empty())
    }

    fn delimiter(&self) -> Option<char> {
        match self.delimiter.as_str() {
            "" => None,
            "tab" => Some('\t'),
            d => d.chars().next(),
        }
    }

    /// The engine's options for a file with `header`.
    fn options(&self, header: &[String]) -> Result<Options, AppError> {
        let id = |field: &str, v: &str| -> Result<Option<i64>, AppError> {
            if v.is_empty() {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .map_err(|_| AppError::invalid(field, format!("`{v}` is not a number")))
        };
        let on_duplicate = match self.on_duplicate.as_str() {
            "" => OnDuplicate::Skip,
            d => OnDuplicate::parse(d).ok_or_else(|| {
                AppError::invalid("on_duplicate", "choose skip, update or create")
            })?,
        };
        let mut mapping = HashMap::new();
        for (i, field) in &self.map {
            if let Some(h) = header.get(*i) {
                mapping.insert(h.clone(), Some(field.clone()).filter(|f| !f.is_empty()));
            }
        }
        Ok(Options {
            mapping,
            on_duplicate,
            owner_id: id("owner_id", &self.owner_id)?,
            pool_id: id("pool", &self.pool_id)?,
            dry_run: self.dry_run,
            encoding: self.encoding(),
            delimiter: self.delimiter(),
            bulk: None,
        })
    }
}

/// One file column on the mapping screen.
struct ColumnRow {
    index: usize,
    header: String,
    sample: String,
    options: Vec<Opt>,
}

struct PreviewCell {
    text: String,
    /// The header, for the phone card layout.
    header: String,
    bad: bool,
}

struct PreviewLine {
    line: u64,
    cells: Vec<PreviewCell>,
    /// Why the row would be rejected.
    problems: Vec<String>,
    /// Duplicate notes (handled as the duplicate mode says).
    notes: Vec<String>,
}

/// A dry run's outcome.
struct DryRun {
    rows: u64,
    created: u64,
    updated: u64,
    skipped: u64,
    rejected: u64,
    problems: Vec<(u64, String, String)>,
}

#[derive(Template)]
#[template(path = "io/mapping.html")]
struct MappingPage {
    c: Chrome,
    id: i64,
    file_name: String,
    entity: String,
    entity_label: String,
    format: String,
    detected_encoding: String,
    detected_delimiter: String,
    is_text: bool,
    encodings: Vec<Opt>,
    delimiters: Vec<Opt>,
    columns: Vec<ColumnRow>,
    required: String,
    modes: Vec<Opt>,
    owners: Vec<Opt>,
    pools: Vec<Opt>,
    dry_run: bool,
    error: String,
    error_field: String,
    header: Vec<String>,
    preview: Vec<PreviewLine>,
    has_preview: bool,
    dry: Option<DryRun>,
}

impl MappingPage {
    /// The error belongs to `field` (shown beside it, marked invalid).
    fn invalid(&self, field: &str) -> bool {
        !self.error.is_empty() && self.error_field == field
    }

    /// The error is shown at the top (no field of the form names it).
    fn form_error(&self) -> bool {
        !self.error.is_empty()
            && !["owner_id", "pool", "on_duplicate"].contains(&self.error_field.as_str())
    }
}

/// Everything the mapping screen shows, read in one go.
#[derive(Default)]
struct MappingData {
    format: String,
    encoding: String,
    delimiter: Option<char>,
    header: Vec<String>,
    cols: Vec<Col>,
    mapping: Vec<Option<String>>,
    preview: Option<import::Preview>,
    error: Option<AppError>,
    owners: Vec<Opt>,
    pools: Vec<Opt>,
}

fn mapping_data(
    conn: &mut DbConn,
    actor: &Actor,
    b: &Batch,
    ch: &Choices,
) -> Result<MappingData, AppError> {
    let spec = columns::entity(&b.entity)?;
    let path = Path::new(&b.source_path);
    let mut d = MappingData {
        owners: people(conn)?,
        ..Default::default()
    };
    if spec.name == "customers"
        && actor.can("pool", "view")
        && (actor.can("pool", "manage") || actor.can("customers", "transfer"))
    {
        d.pools = crate::crm::pools::list(conn, actor)?
            .into_iter()
            .filter(|p| p.active)
            .map(|p| Opt::new(p.id.to_string(), p.name))
            .collect();
    }
    let src = match super::read::open(path, ch.encoding().as_deref(), ch.delimiter()) {
        Ok(s) => s,
        Err(e) => {
            d.error = Some(AppError::invalid("file", e.0));
            return Ok(d);
        }
    };
    d.format = format!("{:?}", src.format).to_lowercase();
    d.encoding = src.encoding.clone();
    d.delimiter = src.delimiter;
    d.header = src.header.clone();
    drop(src);
    d.cols = columns::columns(conn, spec)?;
    let auto = columns::auto_map(&d.header, &d.cols);
    d.mapping = auto
        .into_iter()
        .enumerate()
        .map(|(i, a)| match ch.map.get(&i) {
            Some(f) if f.is_empty() => None,
            Some(f) if d.cols.iter().any(|c| &c.key == f) => Some(f.clone()),
            _ => a,
        })
        .collect();
    let checked = ch.options(&d.header).and_then(|opts| {
        let plan = import::plan(conn, &b.entity, path, &opts)?;
        import::preview(conn, actor, plan, &opts, 20)
    });
    match checked {
        Ok(p) => {
            d.mapping = p.mapping.iter().map(|(_, m)| m.clone()).collect();
            d.preview = Some(p);
        }
        Err(e) if shown_error(&e).is_some() => d.error = Some(e),
        Err(e) => return Err(e),
    }
    Ok(d)
}

fn opts_of(t: Tr, list: &[(&str, &str)], chosen: &str) -> Vec<Opt> {
    list.iter()
        .map(|(v, k)| Opt {
            value: v.to_string(),
            label: t.t(k).to_string(),
            selected: *v == chosen,
        })
        .collect()
}

fn mapping_page(
    ui: &Ui,
    b: &Batch,
    ch: &Choices,
    d: MappingData,
    error: Option<AppError>,
    dry: Option<DryRun>,
) -> MappingPage {
    let t = ui.t();
    let (error_field, error) = error
        .as_ref()
        .or(d.error.as_ref())
        .and_then(shown_error)
        .unwrap_or_default();
    let first_row = d
        .preview
        .as_ref()
        .and_then(|p| p.rows.first())
        .map(|r| r.cells.clone())
        .unwrap_or_default();
    let columns = d
        .header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let chosen = d.mapping.get(i).cloned().flatten().unwrap_or_default();
            let mut options = vec![Opt {
                value: String::new(),
                label: t.t("import.not_imported").to_string(),
                selected: chosen.is_empty(),
            }];
            options.extend(d.cols.iter().map(|c| Opt {
                value: c.key.clone(),
                label: if c.required {
                    format!("{} *", col_label(t, &b.entity, c))
                } else {
                    col_label(t, &b.entity, c)
                },
                selected: c.key == chosen,
            }));
            ColumnRow {
                index: i,
                header: h.clone(),
                sample: first_row.get(i).cloned().unwrap_or_default(),
                options,
            }
        })
        .collect();
    let required = d
        .cols
        .iter()
        .filter(|c| c.required)
        .map(|c| col_label(t, &b.entity, c))
        .collect::<Vec<_>>()
        .join(", ");
    let preview = d
        .preview
        .as_ref()
        .map(|p| {
            p.rows
                .iter()
                .map(|r| {
                    let (notes, problems): (Vec<_>, Vec<_>) = r
                        .problems
                        .iter()
                        .partition(|p| is_duplicate_note(&p.reason));
                    let cells = p
                        .header
                        .iter()
                        .enumerate()
                        .map(|(i, h)| PreviewCell {
                            text: r.cells.get(i).cloned().unwrap_or_default(),
                            header: h.clone(),
                            bad: problems.iter().any(|p| &p.column == h),
                        })
                        .collect();
                    let say = |p: &&import::Problem| {
                        if p.column.is_empty() {
                            reason_text(t, &p.reason)
                        } else {
                            format!("{}: {}", p.column, reason_text(t, &p.reason))
                        }
                    };
                    PreviewLine {
                        line: r.line,
                        cells,
                        problems: problems.iter().map(say).collect(),
                        notes: notes.iter().map(say).collect(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let mode = if ch.on_duplicate.is_empty() {
        "skip"
    } else {
        ch.on_duplicate.as_str()
    };
    let pick = |list: Vec<Opt>, chosen: &str| -> Vec<Opt> {
        list.into_iter()
            .map(|mut o| {
                o.selected = o.value == chosen;
                o
            })
            .collect()
    };
    MappingPage {
        c: ui.chrome("import"),
        id: b.id,
        file_name: b.file_name.clone(),
        entity: b.entity.clone(),
        entity_label: entity_label(t, &b.entity),
        is_text: d.format == "csv",
        format: d.format.to_uppercase(),
        detected_encoding: d.encoding,
        detected_delimiter: match d.delimiter {
            Some('\t') => t.t("import.delimiter_tab").to_string(),
            Some(c) => c.to_string(),
            None => String::new(),
        },
        encodings: opts_of(t, ENCODINGS, &ch.encoding),
        delimiters: opts_of(t, DELIMITERS, &ch.delimiter),
        columns,
        required,
        modes: ["skip", "update", "create"]
            .iter()
            .map(|m| Opt {
                value: m.to_string(),
                label: t.t(&format!("import.mode_{m}")).to_string(),
                selected: *m == mode,
            })
            .collect(),
        owners: pick(d.owners, &ch.owner_id),
        pools: pick(d.pools, &ch.pool_id),
        dry_run: ch.dry_run,
        error,
        error_field,
        header: d.header,
        has_preview: d.preview.is_some(),
        preview,
        dry,
    }
}

// ----------------------------------------------------------------- status

/// A batch's progress and result.
struct StatusView {
    id: i64,
    status: String,
    status_label: String,
    total: i64,
    done: i64,
    percent: i64,
    created: i64,
    updated: i64,
    skipped: i64,
    rejected: i64,
    message: String,
    running: bool,
    finished: bool,
    undoable: bool,
    has_errors: bool,
    list_href: String,
}

fn status_view(t: Tr, b: &Batch) -> StatusView {
    let running = matches!(b.status.as_str(), "running" | "cancelling");
    let finished = b.status == "done";
    let total = b.rows_total.max(0);
    let done = if finished {
        total
    } else {
        b.rows_done.clamp(0, total)
    };
    StatusView {
        id: b.id,
        status: b.status.clone(),
        status_label: status_label(t, &b.status),
        total,
        done,
        percent: if total > 0 { done * 100 / total } else { 100 },
        created: b.created,
        updated: b.updated,
        skipped: b.skipped,
        rejected: b.rejected,
        message: b.message.clone(),
        running,
        finished,
        undoable: finished && b.undone_at.is_none(),
        has_errors: b.has_errors() && b.status != "undone",
        list_href: crate::crm::pages::objects::object(&b.entity)
            .map(|o| format!("/{}", o.key))
            .unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "io/status.html")]
struct StatusPart {
    c: Chrome,
    s: StatusView,
}

#[derive(Template)]
#[template(path = "io/batch.html")]
struct BatchPage {
    c: Chrome,
    s: StatusView,
    file_name: String,
    entity_label: String,
    created_at: String,
    notice: String,
    error: String,
}

async fn load_batch(ui: &Ui, state: &AppState, id: i64) -> Result<Batch, HtmlError> {
    let actor = ui.actor.clone();
    state
        .db(move |conn| import::visible_batch(conn, &actor, id))
        .await
        .map_err(|e| ui.fail(e))
}

fn batch_page(ui: &Ui, b: &Batch, notice: String, error: String) -> BatchPage {
    let t = ui.t();
    BatchPage {
        c: ui.chrome("import"),
        s: status_view(t, b),
        file_name: b.file_name.clone(),
        entity_label: entity_label(t, &b.entity),
        created_at: local_time(b.created_at, &ui.actor.user.time_zone),
        notice,
        error,
    }
}

/// `GET /imports/{id}`: the mapping screen while the batch waits, its
/// progress and result afterwards.
async fn batch_get(
    req: HttpRequest,
    ui: Ui,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    let b = load_batch(&ui, &state, id.into_inner()).await?;
    let f = FormData::parse(req.query_string().as_bytes());
    if b.status == "pending" {
        let ch = Choices::parse(&f);
        let (actor, b2, ch2) = (ui.actor.clone(), b.clone(), ch.clone());
        let d = state
            .db(move |conn| mapping_data(conn, &actor, &b2, &ch2))
            .await
            .map_err(|e| ui.fail(e))?;
        return Ok(html(
            StatusCode::OK,
            &mapping_page(&ui, &b, &ch, d, None, None),
        ));
    }
    let t = ui.t();
    let notice = match f.get("done").as_str() {
        "undo" => t.t("import.undone_notice").to_string(),
        "cancel" => t.t("import.cancel_notice").to_string(),
        _ => String::new(),
    };
    Ok(html(
        StatusCode::OK,
        &batch_page(&ui, &b, notice, String::new()),
    ))
}

/// `GET /imports/{id}/status`: the progress fragment (polled while running).
async fn status_part(
    ui: Ui,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    let b = load_batch(&ui, &state, id.into_inner()).await?;
    Ok(html(
        StatusCode::OK,
        &StatusPart {
            c: ui.chrome("import"),
            s: status_view(ui.t(), &b),
        },
    ))
}

/// `POST /imports/{id}/run` with the mapping screen's choices.
async fn run(
    ui: Ui,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    let id = id.into_inner();
    let b = load_batch(&ui, &state, id).await?;
    let ch = Choices::parse(&FormData::parse(&body));
    let (actor, ch2, path) = (ui.actor.clone(), ch.clone(), b.source_path.clone());
    let pool = state.pool.clone();
    let dir = api::import_dir(&state);
    let started = state
        .db(move |conn| {
            let header =
                super::read::open(Path::new(&path), ch2.encoding().as_deref(), ch2.delimiter())
                    .map(|s| s.header.clone())
                    .map_err(|e| AppError::invalid("file", e.0))?;
            let opts = ch2.options(&header)?;
            match api::start_run(conn, actor, pool, dir, id, opts) {
                Ok(r) => Ok(Ok(r)),
                Err(e) if shown_error(&e).is_some() => Ok(Err(e)),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let (status, error, dry) = match started {
        Ok((_, None)) => return Ok(see_other(&format!("/imports/{id}"))),
        Ok((_, Some(s))) => (
            StatusCode::OK,
            None,
            Some(DryRun {
                rows: s.rows,
                created: s.created,
                updated: s.updated,
                skipped: s.skipped,
                rejected: s.rejected,
                problems: s
                    .problems
                    .iter()
                    .map(|p| (p.line, p.column.clone(), reason_text(ui.t(), &p.reason)))
                    .collect(),
            }),
        ),
        Err(e) => (error_status(&e), Some(e), None),
    };
    let b = load_batch(&ui, &state, id).await?;
    if b.status != "pending" {
        // Someone else started it meanwhile.
        let msg = error.as_ref().and_then(shown_error).unwrap_or_default().1;
        return Ok(html(status, &batch_page(&ui, &b, String::new(), msg)));
    }
    let (actor, b2, ch2) = (ui.actor.clone(), b.clone(), ch.clone());
    let d = state
        .db(move |conn| mapping_data(conn, &actor, &b2, &ch2))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(html(status, &mapping_page(&ui, &b, &ch, d, error, dry)))
}

/// `POST /imports/{id}/cancel`
async fn cancel(
    ui: Ui,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    let id = id.into_inner();
    let actor = ui.actor.clone();
    match state.db(move |conn| api::cancel(conn, &actor, id)).await {
        Ok(_) => Ok(see_other(&format!("/imports/{id}?done=cancel"))),
        Err(AppError::Conflict(m)) => {
            let b = load_batch(&ui, &state, id).await?;
            Ok(html(
                StatusCode::CONFLICT,
                &batch_page(&ui, &b, String::new(), m),
            ))
        }
        Err(e) => Err(ui.fail(e)),
    }
}

/// `POST /imports/{id}/undo` (the form asks for confirmation first).
async fn undo(
    ui: Ui,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    let id = id.into_inner();
    let back = FormData::parse(&body).get("back");
    let actor = ui.actor.clone();
    match state.db(move |conn| import::undo(conn, &actor, id)).await {
        Ok(_) if back == "list" => Ok(see_other("/imports?undone=1")),
        Ok(_) => Ok(see_other(&format!("/imports/{id}?done=undo"))),
        Err(e) => match shown_error(&e) {
            Some((_, m)) => {
                let b = load_batch(&ui, &state, id).await?;
                Ok(html(
                    error_status(&e),
                    &batch_page(&ui, &b, String::new(), m),
                ))
            }
            None => Err(ui.fail(e)),
        },
    }
}

// ------------------------------------------------------------ batch list

struct BatchRow {
    id: i64,
    file_name: String,
    entity_label: String,
    status: String,
    status_label: String,
    created: i64,
    updated: i64,
    skipped: i64,
    rejected: i64,
    user: String,
    at: String,
    undoable: bool,
}

#[derive(Template)]
#[template(path = "io/imports.html")]
struct ImportsPage {
    c: Chrome,
    rows: Vec<BatchRow>,
    all_users: bool,
    can_import: bool,
    notice: String,
}

/// `GET /imports`
async fn imports_page(
    req: HttpRequest,
    ui: Ui,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    let t = ui.t();
    let actor = ui.actor.clone();
    let (list, names) = state
        .db(move |conn| {
            let list = import::list(conn, Some(&actor), 200)?;
            let names = crate::core::records::store::user_names(
                conn,
                list.iter().filter_map(|b| b.user_id),
            )?;
            Ok((list, names))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let zone = ui.actor.user.time_zone.clone();
    let rows = list
        .iter()
        .map(|b| BatchRow {
            id: b.id,
            file_name: b.file_name.clone(),
            entity_label: entity_label(t, &b.entity),
            status: b.status.clone(),
            status_label: status_label(t, &b.status),
            created: b.created,
            updated: b.updated,
            skipped: b.skipped,
            rejected: b.rejected,
            user: b
                .user_id
                .and_then(|u| names.get(&u).cloned())
                .unwrap_or_default(),
            at: local_time(b.created_at, &zone),
            undoable: b.status == "done" && b.undone_at.is_none(),
        })
        .collect();
    let f = FormData::parse(req.query_string().as_bytes());
    Ok(html(
        StatusCode::OK,
        &ImportsPage {
            c: ui.chrome("import"),
            rows,
            all_users: ui.actor.is_admin(),
            can_import: !importable(&ui.actor).is_empty(),
            notice: if f.get("undone").is_empty() {
                String::new()
            } else {
                t.t("import.undone_notice").to_string()
            },
        },
    ))
}

// ---------------------------------------------------------------- quality

struct MemberView {
    id: i64,
    name: String,
    contact: String,
    owner: String,
}

/// One field of a cluster whose members disagree: the value of each.
struct FieldChoice {
    key: String,
    label: String,
    /// Member id, value shown, checked.
    options: Vec<(i64, String, bool)>,
}

struct ClusterView {
    n: usize,
    reason: String,
    members: Vec<MemberView>,
    fields: Vec<FieldChoice>,
}

struct MergeView {
    id: i64,
    at: String,
    survivor_id: i64,
    survivor_name: String,
    merged: String,
    undone: bool,
}

struct UserScore {
    name: String,
    customers: i64,
    score: String,
    missing_phone: i64,
    missing_email: i64,
    invalid_email: i64,
    invalid_phone: i64,
    stale: i64,
}

struct ReportView {
    customers: i64,
    score: String,
    missing: Vec<(String, i64)>,
    invalid_emails: Vec<MemberView>,
    invalid_phones: Vec<MemberView>,
    stale_count: i64,
    stale: Vec<MemberView>,
    users: Vec<UserScore>,
}

#[derive(Template)]
#[template(path = "io/quality.html")]
struct QualityPage {
    c: Chrome,
    days: i64,
    clusters: Vec<ClusterView>,
    can_merge: bool,
    merges: Vec<MergeView>,
    report: ReportView,
    notice: String,
    error: String,
}

fn member_of(v: &Value, names: &HashMap<i64, String>) -> MemberView {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let contact = [s("mobile"), s("phone"), s("email")]
        .into_iter()
        .filter(|x| !x.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    MemberView {
        id: v["id"].as_i64().unwrap_or_default(),
        name: s("name"),
        contact,
        owner: v["owner_id"]
            .as_i64()
            .and_then(|o| names.get(&o).cloned())
            .unwrap_or_default(),
    }
}

fn shown_value(t: Tr, field: &str, v: &Value, names: &HashMap<i64, String>) -> String {
    match v {
        Value::Null => String::new(),
        Value::Number(n) if field == "owner_id" => n
            .as_i64()
            .and_then(|o| names.get(&o).cloned())
            .unwrap_or_else(|| n.to_string()),
        Value::String(s) if CHOICE_FIELDS.contains(&field) => {
            choice_label(t, "customers", field, s)
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Everything the quality page shows, read in one go.
struct QualityData {
    clusters: Vec<Value>,
    /// Per cluster, each member's editable fields.
    images: Vec<Vec<(i64, Value)>>,
    merges: Vec<quality::MergeEntry>,
    report: Value,
    names: HashMap<i64, String>,
}

fn quality_data(conn: &mut DbConn, actor: &Actor, days: i64) -> Result<QualityData, AppError> {
    use crate::crm::customers::model::{CustomerId, CustomerInput};
    let clusters = quality::duplicate_clusters(conn, actor, 30)?;
    let mut images = Vec::new();
    let mut owners: Vec<i64> = Vec::new();
    for c in &clusters {
        let mut one = Vec::new();
        for id in c["ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
        {
            let cust = crate::crm::customers::store::get(conn, actor, CustomerId(id))?;
            let image = serde_json::to_value(CustomerInput::from_customer(&cust))
                .map_err(|e| AppError::Internal(e.to_string()))?;
            owners.extend(image["owner_id"].as_i64());
            one.push((id, image));
        }
        images.push(one);
    }
    let merges = quality::merges(conn, actor, 20)?;
    let report = quality::report(conn, actor, days)?;
    for list in ["missing_contact_sample", "invalid_emails", "invalid_phones"] {
        for m in report[list].as_array().into_iter().flatten() {
            owners.extend(m["owner_id"].as_i64());
        }
    }
    for m in report["not_followed_up"]["sample"]
        .as_array()
        .into_iter()
        .flatten()
    {
        owners.extend(m["owner_id"].as_i64());
    }
    let names = crate::core::records::store::user_names(conn, owners.into_iter())?;
    Ok(QualityData {
        clusters,
        images,
        merges,
        report,
        names,
    })
}

fn quality_page(ui: &Ui, days: i64, d: QualityData, notice: String, error: String) -> QualityPage {
    let t = ui.t();
    let zone = &ui.actor.user.time_zone;
    let clusters = d
        .clusters
        .iter()
        .zip(d.images.iter())
        .enumerate()
        .map(|(n, (c, images))| {
            let key = c["key"].as_str().unwrap_or_default();
            let fields = MERGE_FIELDS
                .iter()
                .filter(|f| {
                    let first = images.first().map(|(_, i)| &i[**f]);
                    images.iter().any(|(_, i)| Some(&i[**f]) != first)
                })
                .map(|f| {
                    // The first member with a value is proposed.
                    let proposed = images
                        .iter()
                        .find(|(_, i)| !shown_value(t, f, &i[*f], &d.names).is_empty())
                        .or(images.first())
                        .map(|(id, _)| *id);
                    FieldChoice {
                        key: f.to_string(),
                        label: label(t, "customers", f),
                        options: images
                            .iter()
                            .map(|(id, i)| {
                                let v = shown_value(t, f, &i[*f], &d.names);
                                (*id, v, Some(*id) == proposed)
                            })
                            .collect(),
                    }
                })
                .collect();
            ClusterView {
                n,
                reason: format!(
                    "{} {}",
                    t.t(&format!("quality.same_{key}")),
                    c["value"].as_str().unwrap_or_default()
                ),
                members: c["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| member_of(m, &d.names))
                    .collect(),
                fields,
            }
        })
        .collect();
    let merges = d
        .merges
        .iter()
        .map(|m| MergeView {
            id: m.id,
            at: local_time(m.created_at, zone),
            survivor_id: m.survivor_id,
            survivor_name: if m.survivor_name.is_empty() {
                format!("#{}", m.survivor_id)
            } else {
                m.survivor_name.clone()
            },
            merged: m
                .merged
                .iter()
                .map(|(id, name)| format!("{name} (#{id})"))
                .collect::<Vec<_>>()
                .join(", "),
            undone: m.undone_at.is_some(),
        })
        .collect();
    let r = &d.report;
    let sample = |v: &Value| -> Vec<MemberView> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|m| member_of(m, &d.names))
            .collect()
    };
    let num = |v: &Value| v.as_i64().unwrap_or_default();
    let report = ReportView {
        customers: num(&r["customers"]),
        score: format!("{:.1}", r["company_score"].as_f64().unwrap_or_default()),
        missing: ["phone", "email", "address", "industry", "level", "owner"]
            .iter()
            .map(|k| {
                (
                    t.t(&format!("quality.missing_{k}")).to_string(),
                    num(&r["missing"][*k]),
                )
            })
            .collect(),
        invalid_emails: sample(&r["invalid_emails"]),
        invalid_phones: sample(&r["invalid_phones"]),
        stale_count: num(&r["not_followed_up"]["count"]),
        stale: sample(&r["not_followed_up"]["sample"]),
        users: r["users"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| UserScore {
                name: u["owner_name"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| t.t("quality.no_owner").to_string()),
                customers: num(&u["customers"]),
                score: format!("{:.1}", u["score"].as_f64().unwrap_or_default()),
                missing_phone: num(&u["missing_phone"]),
                missing_email: num(&u["missing_email"]),
                invalid_email: num(&u["invalid_email"]),
                invalid_phone: num(&u["invalid_phone"]),
                stale: num(&u["stale"]),
            })
            .collect(),
    };
    QualityPage {
        c: ui.chrome("quality"),
        days,
        clusters,
        can_merge: ui.actor.can("customers", "edit") && ui.actor.can("customers", "delete"),
        merges,
        report,
        notice,
        error,
    }
}

fn days_of(f: &FormData) -> i64 {
    f.get("days")
        .trim()
        .parse::<i64>()
        .unwrap_or(30)
        .clamp(1, 3650)
}

async fn render_quality(
    ui: &Ui,
    state: &AppState,
    days: i64,
    status: StatusCode,
    notice: String,
    error: String,
) -> Result<HttpResponse, HtmlError> {
    let actor = ui.actor.clone();
    let d = state
        .db(move |conn| quality_data(conn, &actor, days))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(html(status, &quality_page(ui, days, d, notice, error)))
}

/// `GET /quality?days=30`
async fn quality_get(
    req: HttpRequest,
    ui: Ui,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    let t = ui.t();
    let f = FormData::parse(req.query_string().as_bytes());
    let notice = if !f.get("merged").is_empty() {
        t.t("quality.merged_notice").to_string()
    } else if !f.get("unmerged").is_empty() {
        t.t("quality.unmerged_notice").to_string()
    } else {
        String::new()
    };
    render_quality(
        &ui,
        &state,
        days_of(&f),
        StatusCode::OK,
        notice,
        String::new(),
    )
    .await
}

/// `POST /quality/merge`: `survivor_id`, `ids` (the members to merge) and
/// `field.<name>` = the member whose value the survivor keeps.
async fn merge(
    ui: Ui,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    let f = FormData::parse(&body);
    let days = days_of(&f);
    let input = (|| -> Result<quality::MergeInput, AppError> {
        let survivor_id = f
            .opt_i64("survivor_id")?
            .ok_or_else(|| AppError::invalid("survivor_id", "choose the record that stays"))?;
        let mut fields = std::collections::BTreeMap::new();
        for (k, v) in &f.0 {
            if let Some(field) = k.strip_prefix("field.") {
                let from = v.trim().parse().map_err(|_| {
                    AppError::invalid("fields", format!("`{v}` is not a record id"))
                })?;
                fields.insert(field.to_string(), from);
            }
        }
        Ok(quality::MergeInput {
            survivor_id,
            merged_ids: f.i64s("ids")?,
            fields,
        })
    })();
    let actor = ui.actor.clone();
    let done = match input {
        Ok(m) => state.db(move |conn| quality::merge(conn, &actor, &m)).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(_) => Ok(see_other(&format!("/quality?days={days}&merged=1"))),
        Err(e) => match shown_error(&e) {
            Some((_, m)) => {
                let m = format!("{} {m}", ui.t().t("quality.merge_refused"));
                render_quality(&ui, &state, days, error_status(&e), String::new(), m).await
            }
            None => Err(ui.fail(e)),
        },
    }
}

/// `POST /quality/merges/{id}/undo`
async fn undo_merge(
    ui: Ui,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    let id = id.into_inner();
    let actor = ui.actor.clone();
    match state
        .db(move |conn| quality::undo_merge(conn, &actor, id))
        .await
    {
        Ok(_) => Ok(see_other("/quality?unmerged=1")),
        Err(e) => match shown_error(&e) {
            Some((_, m)) => {
                render_quality(&ui, &state, 30, error_status(&e), String::new(), m).await
            }
            None => Err(ui.fail(e)),
        },
    }
}

// ----------------------------------------------------------- export limits

struct LimitRow {
    id: i64,
    name: String,
    value: String,
    error: String,
}

#[derive(Template)]
#[template(path = "io/export_limits.html")]
struct LimitsPage {
    c: Chrome,
    rows: Vec<LimitRow>,
    saved: bool,
    error: String,
}

async fn limit_rows(
    ui: &Ui,
    state: &AppState,
    typed: Option<HashMap<i64, String>>,
) -> Result<Vec<LimitRow>, HtmlError> {
    let t = ui.t();
    let (roles, limits) = state
        .db(|conn| {
            Ok((
                crate::core::org::roles::list(conn)?,
                super::export::limits(conn)?,
            ))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(roles
        .into_iter()
        .map(|r| {
            let (name, _) =
                crate::core::i18n::role_text(t, r.builtin.as_deref(), &r.name, &r.description);
            let value = match &typed {
                Some(m) => m.get(&r.id).cloned().unwrap_or_default(),
                None => limits.get(&r.id).map(u64::to_string).unwrap_or_default(),
            };
            LimitRow {
                id: r.id,
                name,
                value,
                error: String::new(),
            }
        })
        .collect())
}

/// `GET /settings/export-limits`
async fn limits_page(
    req: HttpRequest,
    ui: Ui,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let rows = limit_rows(&ui, &state, None).await?;
    let saved = !FormData::parse(req.query_string().as_bytes())
        .get("saved")
        .is_empty();
    Ok(html(
        StatusCode::OK,
        &LimitsPage {
            c: ui.chrome("settings"),
            rows,
            saved,
            error: String::new(),
        },
    ))
}

/// `POST /settings/export-limits`: `limit.<role id>` = rows (empty: none).
async fn limits_save(
    ui: Ui,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let t = ui.t();
    let f = FormData::parse(&body);
    let mut typed = HashMap::new();
    let mut limits = HashMap::new();
    let mut bad = Vec::new();
    for (k, v) in &f.0 {
        let Some(id) = k.strip_prefix("limit.").and_then(|i| i.parse::<i64>().ok()) else {
            continue;
        };
        let v = v.trim().to_string();
        typed.insert(id, v.clone());
        if v.is_empty() {
            continue;
        }
        match v.parse::<u64>() {
            Ok(n) => {
                limits.insert(id.to_string(), n);
            }
            Err(_) => bad.push(id),
        }
    }
    if !bad.is_empty() {
        let mut rows = limit_rows(&ui, &state, Some(typed)).await?;
        for r in rows.iter_mut().filter(|r| bad.contains(&r.id)) {
            r.error = t.t("export_limits.not_a_number").to_string();
        }
        return Ok(html(
            StatusCode::BAD_REQUEST,
            &LimitsPage {
                c: ui.chrome("settings"),
                rows,
                saved: false,
                error: t.t("export_limits.fix").to_string(),
            },
        ));
    }
    let ctx = ui.actor.audit();
    match state
        .db(move |conn| api::set_limits(conn, &ctx, &limits))
        .await
    {
        Ok(_) => Ok(see_other("/settings/export-limits?saved=1")),
        Err(e) => match shown_error(&e) {
            Some((_, m)) => {
                let rows = limit_rows(&ui, &state, Some(typed)).await?;
                Ok(html(
                    error_status(&e),
                    &LimitsPage {
                        c: ui.chrome("settings"),
                        rows,
                        saved: false,
                        error: m,
                    },
                ))
            }
            None => Err(ui.fail(e)),
        },
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Uploads are limited by `import.max_upload_mb` as they are stored.
    cfg.service(
        web::resource("/import")
            .app_data(web::PayloadConfig::new(64 << 30))
            .route(web::get().to(upload_page))
            .route(web::post().to(upload)),
    )
    .route("/imports", web::get().to(imports_page))
    .route("/imports/{id:\\d+}", web::get().to(batch_get))
    .route("/imports/{id:\\d+}/status", web::get().to(status_part))
    .route("/imports/{id:\\d+}/run", web::post().to(run))
    .route("/imports/{id:\\d+}/cancel", web::post().to(cancel))
    .route("/imports/{id:\\d+}/undo", web::post().to(undo))
    .route("/quality", web::get().to(quality_get))
    .route("/quality/merge", web::post().to(merge))
    .route("/quality/merges/{id:\\d+}/undo", web::post().to(undo_merge))
    .route("/settings/export-limits", web::get().to(limits_page))
    .route("/settings/export-limits", web::post().to(limits_save));
}
