//! REST: imports (upload, preview, background run with progress, error
//! file, undo, list), exports of any list, per-role export limits, and data
//! quality (duplicate clusters, merge, undo of a merge, quality report).

use std::path::PathBuf;

use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::export::{self, CsvSink, Format, Formatter, Sink, XlsxSink};
use super::import::{self, Options};
use crate::app::AppState;
use crate::core::auth::actor::Actor;
use crate::core::error::AppError;
use crate::core::web::request_lang;

/// Where uploads and error files live.
pub fn import_dir(state: &AppState) -> PathBuf {
    state.settings.data_dir.join("imports")
}

#[derive(Deserialize)]
struct UploadQuery {
    entity: String,
    #[serde(default)]
    name: Option<String>,
}

/// `multipart/form-data; boundary=…` → the boundary.
fn boundary(req: &HttpRequest) -> Option<String> {
    let ct = req.headers().get("content-type")?.to_str().ok()?;
    if !ct.starts_with("multipart/form-data") {
        return None;
    }
    ct.split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Cut the first file part out of a stored multipart body (in place, by
/// copying its content to `dest`); returns the part's file name.
fn extract_part(
    raw: &std::path::Path,
    dest: &std::path::Path,
    boundary: &str,
) -> Result<String, AppError> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let bad = || {
        AppError::invalid(
            "file",
            "the upload is not a well-formed multipart form with a file",
        )
    };
    let mut f = std::fs::File::open(raw).map_err(|e| AppError::Internal(e.to_string()))?;
    let len = f
        .metadata()
        .map_err(|e| AppError::Internal(e.to_string()))?
        .len();
    let mut head = vec![0u8; len.min(64 * 1024) as usize];
    f.read_exact(&mut head)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let delim = format!("--{boundary}");
    // The part with a filename: its headers end at the first blank line after it.
    let mut pos = 0;
    let (start, name) = loop {
        let at = find(&head[pos..], delim.as_bytes()).ok_or_else(bad)? + pos;
        let hdr_end = find(&head[at..], b"\r\n\r\n").ok_or_else(bad)? + at;
        let hdr = String::from_utf8_lossy(&head[at..hdr_end]).to_string();
        if let Some(i) = hdr.find("filename=\"") {
            let rest = &hdr[i + 10..];
            let name = rest[..rest.find('"').unwrap_or(0)].to_string();
            break ((hdr_end + 4) as u64, name);
        }
        pos = hdr_end;
    };
    // It ends at the next delimiter, searched from the end (the file part is
    // the form's last).
    let tail_len = len.min(64 * 1024);
    f.seek(SeekFrom::Start(len - tail_len))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let mut tail = vec![0u8; tail_len as usize];
    f.read_exact(&mut tail)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let end_delim = format!("\r\n--{boundary}");
    let rel = tail
        .windows(end_delim.len())
        .rposition(|w| w == end_delim.as_bytes())
        .ok_or_else(bad)?;
    let end = len - tail_len + rel as u64;
    if end < start {
        return Err(bad());
    }
    f.seek(SeekFrom::Start(start))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let mut out = std::fs::File::create(dest).map_err(|e| AppError::Internal(e.to_string()))?;
    std::io::copy(&mut (&mut f).take(end - start), &mut out)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    out.flush().map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(name)
}

/// Store an upload (raw body or a multipart form's file) under the import
/// directory, refusing more than `import.max_upload_mb` with 413.
pub async fn store_upload(
    req: &HttpRequest,
    state: &AppState,
    mut payload: web::Payload,
) -> Result<(PathBuf, Option<String>), AppError> {
    use std::io::Write;
    let dir = import_dir(state);
    std::fs::create_dir_all(&dir)
        .map_err(|e| AppError::Internal(format!("{}: {e}", dir.display())))?;
    let max = state.settings.import.max_upload_mb * 1024 * 1024;
    let tag = crate::core::tls::random_hex(8);
    let raw = dir.join(format!("upload-{tag}.part"));
    let mut f = std::fs::File::create(&raw).map_err(|e| AppError::Internal(e.to_string()))?;
    let mut size = 0u64;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| AppError::invalid("file", format!("the upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > max {
            drop(f);
            let _ = std::fs::remove_file(&raw);
            return Err(AppError::TooLarge(format!(
                "the file is larger than the {} MiB an import upload may have; split it, or import it with `rapport import` on the server",
                state.settings.import.max_upload_mb
            )));
        }
        f.write_all(&chunk)
            .map_err(|e| AppError::Internal(e.to_string()))?;
    }
    drop(f);
    if size == 0 {
        let _ = std::fs::remove_file(&raw);
        return Err(AppError::invalid("file", "the file is empty"));
    }
    match boundary(req) {
        Some(b) => {
            let dest = dir.join(format!("upload-{tag}"));
            let name = extract_part(&raw, &dest, &b);
            let _ = std::fs::remove_file(&raw);
            Ok((dest, Some(name?)))
        }
        None => {
            let dest = dir.join(format!("upload-{tag}"));
            std::fs::rename(&raw, &dest).map_err(|e| AppError::Internal(e.to_string()))?;
            Ok((dest, None))
        }
    }
}

/// An uploaded file's name as kept: no control characters or path
/// separators, at most 200 characters, `upload` when nothing is left.
pub fn clean_file_name(name: &str) -> String {
    let name: String = name
        .chars()
        .filter(|c| !c.is_control() && *c != '/' && *c != '\\')
        .take(200)
        .collect();
    if name.trim().is_empty() {
        "upload".into()
    } else {
        name
    }
}

/// `POST /api/v1/imports?entity=customers&name=客户.csv` with the file as
/// the body (or a multipart form): stores it and answers with the preview.
async fn upload_api(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let spec = super::columns::entity(&q.entity)?;
    actor.require(spec.name, "import")?;
    actor.require(spec.name, "create")?;
    let (path, part_name) = store_upload(&req, &state, payload).await?;
    let name = clean_file_name(&part_name.or(q.name).unwrap_or_default());
    let out = state
        .db(move |conn| {
            let p = path.display().to_string();
            let id = import::new_batch(
                conn,
                &actor,
                spec.name,
                &name,
                &p,
                "pending",
                &Options::default(),
            )?;
            let preview = import::plan(conn, spec.name, &path, &Options::default())
                .and_then(|plan| import::preview(conn, &actor, plan, &Options::default(), 20));
            Ok(
                json!({"batch": import::batch(conn, id)?, "preview": match preview {
                    Ok(p) => json!(p),
                    Err(e) => json!({"error": e.to_string()}),
                }}),
            )
        })
        .await?;
    Ok(HttpResponse::Created().json(out))
}

#[derive(Deserialize, Default)]
struct PreviewQuery {
    encoding: Option<String>,
    delimiter: Option<char>,
    /// JSON object of header → field.
    mapping: Option<String>,
}

/// `GET /api/v1/imports/{id}/preview?encoding=gbk&mapping={…}`
#[get("/api/v1/imports/{id}/preview")]
async fn preview_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    q: web::Query<PreviewQuery>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let q = q.into_inner();
    let mapping = match q.mapping.as_deref() {
        Some(m) if !m.trim().is_empty() => {
            super::columns::parse_mapping(m).map_err(|e| AppError::invalid("mapping", e))?
        }
        _ => Default::default(),
    };
    let opts = Options {
        mapping,
        encoding: q.encoding.filter(|e| !e.is_empty()),
        delimiter: q.delimiter,
        ..Default::default()
    };
    let out = state
        .db(move |conn| {
            let b = import::visible_batch(conn, &actor, id)?;
            let plan = import::plan(conn, &b.entity, std::path::Path::new(&b.source_path), &opts)?;
            Ok(json!(import::preview(conn, &actor, plan, &opts, 20)?))
        })
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// `POST /api/v1/imports/{id}/run` with the options: runs in the
/// background; poll `GET /api/v1/imports/{id}` for progress.
#[post("/api/v1/imports/{id}/run")]
async fn run_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<Options>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let opts = body.into_inner();
    let pool = state.pool.clone();
    let dir = import_dir(&state);
    let b = state
        .db(move |conn| start_run(conn, actor, pool, dir, id, opts))
        .await?;
    match b {
        (batch, Some(summary)) => {
            Ok(HttpResponse::Ok().json(json!({"batch": batch, "summary": summary})))
        }
        (batch, None) => Ok(HttpResponse::Accepted().json(json!({"batch": batch}))),
    }
}

/// Start pending batch `id` with `opts`: a dry run answers at once with
/// its summary (the batch stays pending); a real run goes on in a thread of
/// its own (the batch is `running`; its progress is in the batch row).
pub fn start_run(
    conn: &mut crate::core::db::DbConn,
    actor: Actor,
    pool: crate::core::db::Pool,
    dir: PathBuf,
    id: i64,
    opts: Options,
) -> Result<(import::Batch, Option<import::Summary>), AppError> {
    let b = import::visible_batch(conn, &actor, id)?;
    if b.status != "pending" {
        return Err(AppError::Conflict(format!(
            "import {id} is {}; upload the file again to import it again",
            b.status
        )));
    }
    let path = PathBuf::from(&b.source_path);
    let plan = import::plan(conn, &b.entity, &path, &opts)?;
    let spec = plan.spec;
    actor.require(spec.name, "import")?;
    actor.require(spec.name, "create")?;
    if let Some(o) = opts.owner_id {
        crate::core::records::store::check_owner(
            conn,
            &actor,
            spec.name,
            spec.owner_col,
            o,
            "create",
        )?;
    }
    let total = import::count_rows(&path, &opts)?;
    use crate::core::db::schema::import_batches as ib;
    use diesel::prelude::*;
    let status = if opts.dry_run { "pending" } else { "running" };
    diesel::update(ib::table.find(id))
        .set((
            ib::status.eq(status),
            ib::rows_total.eq(total as i64),
            ib::options.eq(serde_json::to_string(&opts).unwrap_or_default()),
            ib::heartbeat_at.eq(Some(crate::core::db::now())),
        ))
        .execute(conn)?;
    if opts.dry_run {
        let s = import::run(
            conn,
            &actor,
            plan,
            &opts,
            None,
            dir.join(format!("batch-{id}-dry-run-errors.csv")),
            0,
            &mut |_, _| true,
        )?;
        return Ok((import::batch(conn, id)?, Some(s)));
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    std::thread::spawn(move || {
        let Ok(mut conn) = pool.get() else { return };
        let errors = dir.join(format!("batch-{id}-errors.csv"));
        let result = import::run(
            &mut conn,
            &actor,
            plan,
            &opts,
            Some(id),
            errors,
            size,
            &mut |conn, _| import::batch(conn, id).is_ok_and(|b| b.status != "cancelling"),
        );
        if let Err(e) = result {
            tracing::warn!(batch = id, error = %e, "import failed");
        }
    });
    Ok((import::batch(conn, id)?, None))
}

/// `GET /api/v1/imports/{id}`: the batch with its progress.
#[get("/api/v1/imports/{id}")]
async fn get_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let b = state
        .db(move |conn| import::visible_batch(conn, &actor, id))
        .await?;
    let has_errors = b.has_errors();
    Ok(HttpResponse::Ok().json(json!({"batch": b, "error_file": has_errors})))
}

/// `GET /api/v1/imports`: the caller's imports (administrators: all).
async fn list_api(actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let list = state
        .db(move |conn| import::list(conn, Some(&actor), 100))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"items": list})))
}

/// `POST /api/v1/imports/{id}/cancel`: a running import stops after its
/// current chunk and is rolled back.
#[post("/api/v1/imports/{id}/cancel")]
async fn cancel_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let b = state.db(move |conn| cancel(conn, &actor, id)).await?;
    Ok(HttpResponse::Accepted().json(json!({"batch": b})))
}

/// Ask running batch `id` to stop after its current chunk (it is then
/// rolled back).
pub fn cancel(
    conn: &mut crate::core::db::DbConn,
    actor: &Actor,
    id: i64,
) -> Result<import::Batch, AppError> {
    use crate::core::db::schema::import_batches as ib;
    use diesel::prelude::*;
    let b = import::visible_batch(conn, actor, id)?;
    if b.status != "running" {
        return Err(AppError::Conflict(format!(
            "import {id} is {}, not running",
            b.status
        )));
    }
    diesel::update(ib::table.find(id).filter(ib::status.eq("running")))
        .set(ib::status.eq("cancelling"))
        .execute(conn)?;
    import::batch(conn, id)
}

/// `POST /api/v1/imports/{id}/undo`
#[post("/api/v1/imports/{id}/undo")]
async fn undo_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let s = state.db(move |conn| import::undo(conn, &actor, id)).await?;
    Ok(HttpResponse::Ok().json(s))
}

#[derive(Deserialize, Default)]
struct FormatQuery {
    #[serde(default)]
    format: String,
}

/// `GET /api/v1/imports/{id}/errors?format=csv|xlsx`: the rejected rows.
#[get("/api/v1/imports/{id}/errors")]
async fn errors_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    q: web::Query<FormatQuery>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let format = Format::parse(&q.format)?;
    let tmp = state.settings.data_dir.join("tmp");
    let (bytes, name) = state
        .db(move |conn| {
            let b = import::visible_batch(conn, &actor, id)?;
            if !b.has_errors() {
                return Err(AppError::NotFound(format!("import {id} rejected no rows")));
            }
            let path = PathBuf::from(&b.error_file);
            let bytes = match format {
                Format::Csv => {
                    std::fs::read(&path).map_err(|e| AppError::Internal(e.to_string()))?
                }
                Format::Xlsx => csv_to_xlsx(&path, &tmp)?,
            };
            Ok((bytes, format!("import-{id}-errors.{}", format.ext())))
        })
        .await?;
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .body(bytes))
}

fn csv_to_xlsx(path: &std::path::Path, tmp: &std::path::Path) -> Result<Vec<u8>, AppError> {
    let src =
        super::read::open(path, Some("utf-8"), Some(',')).map_err(|e| AppError::Internal(e.0))?;
    let mut sink = XlsxSink::new(tmp)?;
    sink.row(&src.header)?;
    for r in src {
        let r = r.map_err(|e| AppError::Internal(e.0))?;
        for c in &r.cells {
            sink.field(&export::neutralise(c))?;
        }
        sink.end_row()?;
    }
    let out = tmp.join(format!("errors-{}.xlsx", crate::core::tls::random_hex(6)));
    sink.save(&out)?;
    let bytes = std::fs::read(&out).map_err(|e| AppError::Internal(e.to_string()));
    let _ = std::fs::remove_file(&out);
    bytes
}

/// `GET /api/v1/{entity}/export?format=csv|xlsx&view=&q=&filter=&sort=&columns=a,b`:
/// what the list would show, within the caller's export scope, streamed.
async fn export_api(
    req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    entity: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let spec = super::columns::entity(&entity.into_inner())?;
    actor.require(spec.name, "view")?;
    actor.require(spec.name, "export")?;
    let qs = req.query_string().to_string();
    let mut params = crate::core::list::parse_query(&qs)?;
    params.cursor = None;
    let mut format = Format::Csv;
    let mut columns: Vec<String> = Vec::new();
    for (k, v) in form_urlencoded::parse(qs.as_bytes()) {
        match k.as_ref() {
            "format" => format = Format::parse(&v)?,
            "columns" => {
                columns = v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            _ => {}
        }
    }
    let lang = request_lang(
        &req,
        Some(actor.user.language.as_str()).filter(|l| !l.is_empty()),
    );
    let name = format!(
        "{}-{}.{}",
        spec.name,
        chrono::Utc::now().format("%Y%m%d-%H%M%S"),
        format.ext()
    );
    // Check the limit and the columns before the first byte goes out.
    let (p2, a2, c2) = (params.clone(), actor.clone(), columns.clone());
    state
        .db(move |conn| {
            Formatter::new(conn, spec, lang, &c2)?;
            export::check_limit(conn, &a2, spec, &p2)
        })
        .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(8);
    let pool = state.pool.clone();
    let tmp = state.settings.data_dir.join("tmp");
    let query = json!({"query": qs});
    std::thread::spawn(move || {
        let send_err = |tx: &tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>,
                        e: AppError| {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        };
        let mut conn = match pool.get() {
            Ok(c) => c,
            Err(e) => return send_err(&tx, AppError::Internal(e.to_string())),
        };
        let result = (|| -> Result<u64, AppError> {
            let mut fmt = Formatter::new(&mut conn, spec, lang, &columns)?;
            let mut rows = 0u64;
            match format {
                Format::Csv => {
                    let out = ChannelWriter {
                        tx: tx.clone(),
                        buf: Vec::with_capacity(128 * 1024),
                    };
                    let mut sink = CsvSink::new(out)?;
                    sink.row(&fmt.header())?;
                    export::for_each_page(&mut conn, &actor, spec, &params, &mut |conn, recs| {
                        fmt.write_records(conn, spec, recs, &mut sink)?;
                        rows += recs.len() as u64;
                        Ok(true)
                    })?;
                    let mut out = sink.finish()?;
                    std::io::Write::flush(&mut out)
                        .map_err(|e| AppError::Internal(e.to_string()))?;
                }
                Format::Xlsx => {
                    let mut sink = XlsxSink::new(&tmp)?;
                    sink.row(&fmt.header())?;
                    export::for_each_page(&mut conn, &actor, spec, &params, &mut |conn, recs| {
                        fmt.write_records(conn, spec, recs, &mut sink)?;
                        rows += recs.len() as u64;
                        Ok(true)
                    })?;
                    let out = tmp.join(format!("export-{}.xlsx", crate::core::tls::random_hex(6)));
                    sink.save(&out)?;
                    let f =
                        std::fs::File::open(&out).map_err(|e| AppError::Internal(e.to_string()));
                    let _ = std::fs::remove_file(&out);
                    let mut f = f?;
                    let mut buf = vec![0u8; 256 * 1024];
                    loop {
                        let n = std::io::Read::read(&mut f, &mut buf)
                            .map_err(|e| AppError::Internal(e.to_string()))?;
                        if n == 0 {
                            break;
                        }
                        if tx
                            .blocking_send(Ok(web::Bytes::copy_from_slice(&buf[..n])))
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
            Ok(rows)
        })();
        match result {
            Ok(rows) => {
                if let Err(e) =
                    export::audit_export(&mut conn, &actor.audit(), spec.name, rows, format, query)
                {
                    tracing::warn!(error = %e, "export audit failed");
                }
            }
            Err(e) => send_err(&tx, e),
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{name}\""),
        ))
        .streaming(stream))
}

/// `GET /api/v1/admin/export-limits`: `{"limits": {"<role id>": rows}}`.
#[get("/api/v1/admin/export-limits")]
async fn limits_api(actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    actor.require("admin", "manage")?;
    let l = state.db(export::limits).await?;
    Ok(HttpResponse::Ok().json(json!({"limits": l})))
}

/// `PUT /api/v1/admin/export-limits` with `{"limits": {"<role id>": rows}}`
/// (a role left out has no limit).
#[put("/api/v1/admin/export-limits")]
async fn set_limits_api(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, AppError> {
    actor.require("admin", "manage")?;
    let limits: std::collections::HashMap<String, u64> = body
        .get("limits")
        .and_then(|l| serde_json::from_value(l.clone()).ok())
        .ok_or_else(|| {
            AppError::invalid("limits", "an object of role id to a whole number of rows")
        })?;
    let ctx = actor.audit();
    let out = state
        .db(move |conn| set_limits(conn, &ctx, &limits))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"limits": out})))
}

/// Replace the per-role export limits (role id → rows; a role left out has
/// no limit), audited; the limits as now stored.
pub fn set_limits(
    conn: &mut crate::core::db::DbConn,
    ctx: &crate::core::audit::AuditCtx,
    limits: &std::collections::HashMap<String, u64>,
) -> Result<std::collections::HashMap<i64, u64>, AppError> {
    use crate::core::db::schema::roles;
    use diesel::prelude::*;
    for k in limits.keys() {
        let id: i64 = k
            .parse()
            .map_err(|_| AppError::invalid("limits", format!("`{k}` is not a role id")))?;
        if roles::table.find(id).count().get_result::<i64>(conn)? == 0 {
            return Err(AppError::invalid(
                "limits",
                format!("role {id} does not exist"),
            ));
        }
    }
    let before = export::limits(conn)?;
    let text = json!(limits).to_string();
    crate::core::db::write_tx(conn, |conn| {
        crate::core::settings::set(conn, export::LIMITS_KEY, &text)?;
        crate::core::audit::record(
            conn,
            ctx,
            "update",
            "settings",
            None,
            &json!({export::LIMITS_KEY: [before, limits]}),
        )?;
        Ok::<_, AppError>(())
    })?;
    export::limits(conn)
}

/// Sends what is written to the response stream in pieces of about 128 KiB.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<web::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 128 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = web::Bytes::from(std::mem::take(&mut self.buf));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    let max = 64 << 30;
    cfg.service(
        web::resource("/api/v1/imports")
            .app_data(web::PayloadConfig::new(max))
            .route(web::post().to(upload_api))
            .route(web::get().to(list_api)),
    )
    .service(preview_api)
    .service(run_api)
    .service(get_api)
    .service(cancel_api)
    .service(undo_api)
    .service(errors_api)
    .service(limits_api)
    .service(set_limits_api);
    // Before the entities' own `/{id}` routes, which would take `export` for an id.
    cfg.route("/api/v1/{entity}/export", web::get().to(export_api));
    super::quality::routes(cfg);
}
