//! The administrators' backup page: the archives in the backup directory
//! (size, age, status), "back up now" in a background thread with its
//! progress, download and verification of an archive, the `[backup]`
//! settings and the last scheduled run. Every action is audited.
//!
//! The schedule and retention are shown, not edited: they live in
//! `rapport.toml`, which `rapport backup create` and the systemd timer read
//! too, so a second copy in the database would let them disagree.
//!
//! A manual run takes the scheduled backup's job lock (on PostgreSQL an
//! advisory lock, so with several nodes one backup runs at a time) and
//! keeps its state in the `settings` table (`backup.run`), with a heartbeat
//! every second: any node, and a reload, show it; a run whose heartbeat
//! stopped (the process died) is shown as interrupted.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::schedule::{self, LastRun, Schedule};
use crate::app::AppState;
use crate::config::Settings;
use crate::core::audit::{self, AuditCtx};
use crate::core::db::{DbConn, Pool, write_tx};
use crate::core::error::AppError;
use crate::core::i18n::Tr;
use crate::core::jobs::{self, Job, JobCtx, Ran, SystemClock};
use crate::core::settings as kv;
use crate::core::web::{Chrome, HtmlError, Ui, html, see_other};

/// The `settings` key of the manual run's state.
pub const RUN_SETTING: &str = "backup.run";
/// The `settings` key listing archives fully verified by this server.
pub const VERIFIED_SETTING: &str = "backup.verified";
/// A running backup whose heartbeat is older than this is taken as dead.
const HEARTBEAT_STALE_SECS: i64 = 15;

/// The state of the last manual backup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// `running`, `done` or `failed`.
    pub state: String,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub heartbeat: Option<NaiveDateTime>,
    pub user: String,
    /// The archive written (file name).
    pub file: String,
    pub bytes: u64,
    pub message: String,
}

impl RunState {
    fn running_now(&self, now: NaiveDateTime) -> bool {
        self.state == "running"
            && self
                .heartbeat
                .is_some_and(|h| (now - h).num_seconds() < HEARTBEAT_STALE_SECS)
    }
}

fn now() -> NaiveDateTime {
    crate::core::db::now()
}

fn read_state(conn: &mut DbConn) -> Result<Option<RunState>, AppError> {
    Ok(kv::get(conn, RUN_SETTING)?.and_then(|s| serde_json::from_str(&s).ok()))
}

fn write_state(conn: &mut DbConn, s: &RunState) -> Result<(), AppError> {
    kv::set(
        conn,
        RUN_SETTING,
        &serde_json::to_string(s).unwrap_or_default(),
    )?;
    Ok(())
}

fn verified_names(conn: &mut DbConn) -> Result<Vec<String>, AppError> {
    Ok(kv::get(conn, VERIFIED_SETTING)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

/// Remember that `name` passed a full verification; names of archives no
/// longer in `dir` are dropped.
fn mark_verified(conn: &mut DbConn, dir: &Path, name: &str) -> Result<(), AppError> {
    let mut names = verified_names(conn)?;
    names.retain(|n| dir.join(n).is_file());
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
    kv::set(conn, VERIFIED_SETTING, &json!(names).to_string())?;
    Ok(())
}

fn record(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    action: &str,
    changes: serde_json::Value,
) -> Result<(), AppError> {
    write_tx(conn, |c| {
        audit::record(c, ctx, action, "backups", None, &changes)?;
        Ok::<_, AppError>(())
    })
}

/// An archive's file name as the backup directory names them, and its
/// path there; anything else (`../x`, `a/b`, another file) is not found.
fn archive_path(dir: &Path, name: &str) -> Result<PathBuf, AppError> {
    let not_found = || AppError::NotFound(format!("no archive named {name}"));
    let plain = !name.contains(['/', '\\', '\0']) && !name.starts_with('.');
    if !plain || super::archive_time(name).is_none() {
        return Err(not_found());
    }
    let path = dir.join(name);
    let canon_dir = std::fs::canonicalize(dir).map_err(|_| not_found())?;
    let canon = std::fs::canonicalize(&path).map_err(|_| not_found())?;
    if canon.parent() != Some(canon_dir.as_path()) || !canon.is_file() {
        return Err(not_found());
    }
    Ok(canon)
}

// ---------------------------------------------------------------- running

/// The job run by "back up now": the scheduled backup's lock, a verified
/// archive named after the current time, pruning to `backup.keep`.
fn manual_job(conn: &mut DbConn, ctx: &JobCtx) -> Result<String, AppError> {
    let passphrase = schedule::scheduled_passphrase(ctx.settings)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let (s, _removed) = schedule::backup_now(ctx.settings, conn, passphrase, chrono::Utc::now())
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let name = s
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(json!({"file": name, "bytes": s.bytes}).to_string())
}

/// Manual runs started by this process and not finished yet.
static RUNNING_HERE: AtomicBool = AtomicBool::new(false);

/// Run a backup in a background thread, keeping [`RunState`] up to date.
fn spawn_run(pool: Pool, settings: Arc<Settings>, ctx: AuditCtx, user: String) {
    let started = now();
    let mut state = RunState {
        state: "running".into(),
        started_at: Some(started),
        heartbeat: Some(started),
        user,
        ..RunState::default()
    };
    let spawned = std::thread::Builder::new()
        .name("rapport-backup".into())
        .spawn(move || {
            let Ok(mut conn) = pool.get() else {
                RUNNING_HERE.store(false, Ordering::SeqCst);
                return;
            };
            let _ = write_state(&mut conn, &state);
            let worker_pool = pool.clone();
            let worker_settings = settings.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            let worker = std::thread::Builder::new()
                .name("rapport-backup-worker".into())
                .spawn(move || {
                    let ran = match worker_pool.get() {
                        Ok(mut c) => {
                            let job = Job {
                                name: "scheduled-backup",
                                every: Duration::from_secs(60),
                                run: manual_job,
                            };
                            let jctx = JobCtx {
                                clock: &SystemClock,
                                settings: &worker_settings,
                            };
                            jobs::run_once(&mut c, &job, &jctx)
                        }
                        Err(e) => Ran::Failed(e.to_string()),
                    };
                    let _ = tx.send(ran);
                });
            let ran = match worker {
                Ok(_) => loop {
                    match rx.recv_timeout(Duration::from_secs(1)) {
                        Ok(ran) => break ran,
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                            state.heartbeat = Some(now());
                            let _ = write_state(&mut conn, &state);
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                            break Ran::Failed("the backup thread stopped".into());
                        }
                    }
                },
                Err(e) => Ran::Failed(e.to_string()),
            };
            state.finished_at = Some(now());
            state.heartbeat = state.finished_at;
            match ran {
                Ran::Done(summary) => {
                    let v: serde_json::Value = serde_json::from_str(&summary).unwrap_or_default();
                    state.state = "done".into();
                    state.file = v["file"].as_str().unwrap_or("").to_string();
                    state.bytes = v["bytes"].as_u64().unwrap_or(0);
                    let dir = schedule::backup_dir(&settings);
                    let _ = mark_verified(&mut conn, &dir, &state.file);
                }
                Ran::Busy => {
                    state.state = "failed".into();
                    state.message = "busy".into();
                }
                Ran::Failed(e) => {
                    state.state = "failed".into();
                    state.message = e;
                }
                // run_once does not look at the schedule.
                Ran::NotDue(_) => {
                    state.state = "failed".into();
                    state.message = "not due".into();
                }
            }
            let _ = write_state(&mut conn, &state);
            let _ = record(
                &mut conn,
                &ctx,
                "backup",
                json!({"state": state.state, "file": state.file, "bytes": state.bytes, "message": state.message}),
            );
            RUNNING_HERE.store(false, Ordering::SeqCst);
        });
    if spawned.is_err() {
        RUNNING_HERE.store(false, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------- pages

struct ArchiveRow {
    name: String,
    size: String,
    age: String,
    /// `verified`, `ok`, `encrypted`, `incomplete` or `corrupt`.
    status: &'static str,
    detail: String,
    downloadable: bool,
}

/// `12.3 MB`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn human_age(t: Tr, secs: u64) -> String {
    let (n, unit) = match secs {
        s if s < 3600 => (s / 60, "backups.age.minutes"),
        s if s < 86_400 => (s / 3600, "backups.age.hours"),
        s => (s / 86_400, "backups.age.days"),
    };
    t.t(unit).replace("{n}", &n.to_string())
}

/// What the page shows of the manual run.
struct RunView {
    /// `idle`, `running`, `done`, `failed` or `interrupted`.
    state: &'static str,
    started: String,
    finished: String,
    user: String,
    file: String,
    size: String,
    message: String,
    /// Bytes written so far (the archive's `.partial` file).
    written: String,
    elapsed: u64,
}

fn run_view(t: Tr, s: Option<RunState>, dir: &Path) -> RunView {
    let at = |x: Option<NaiveDateTime>| {
        x.map(|x| x.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default()
    };
    let Some(s) = s else {
        return RunView {
            state: "idle",
            started: String::new(),
            finished: String::new(),
            user: String::new(),
            file: String::new(),
            size: String::new(),
            message: String::new(),
            written: String::new(),
            elapsed: 0,
        };
    };
    let n = now();
    let state = match s.state.as_str() {
        "running" if s.running_now(n) => "running",
        "running" => "interrupted",
        "done" => "done",
        _ => "failed",
    };
    let written = if state == "running" {
        std::fs::read_dir(dir)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .filter_map(|e| e.metadata().ok().map(|m| m.len()))
            .max()
            .map(human_bytes)
            .unwrap_or_default()
    } else {
        String::new()
    };
    let message = if s.message == "busy" {
        t.t("backups.busy").to_string()
    } else {
        s.message.clone()
    };
    RunView {
        state,
        started: at(s.started_at),
        finished: at(s.finished_at),
        user: s.user,
        file: s.file,
        size: if s.bytes > 0 {
            human_bytes(s.bytes)
        } else {
            String::new()
        },
        message,
        written,
        elapsed: s
            .started_at
            .map_or(0, |st| (n - st).num_seconds().max(0) as u64),
    }
}

#[derive(Template)]
#[template(path = "admin/backup_status.html")]
struct StatusFragment {
    c: Chrome,
    run: RunView,
}

struct LastView {
    at: String,
    ok: bool,
    file: String,
    size: String,
    message: String,
}

#[derive(Template)]
#[template(path = "admin/backups.html")]
struct BackupsPage {
    c: Chrome,
    run: RunView,
    archives: Vec<ArchiveRow>,
    dir: String,
    schedule: String,
    zone: String,
    keep: usize,
    encrypted: bool,
    before_upgrade: bool,
    last: Option<LastView>,
    last_check: String,
    notice: String,
    error: String,
}

fn archive_rows(t: Tr, dir: &Path, verified: &[String]) -> Result<Vec<ArchiveRow>, AppError> {
    let listed =
        super::list_archives(dir, false, None).map_err(|e| AppError::Internal(e.to_string()))?;
    let mut rows: Vec<ArchiveRow> = listed
        .into_iter()
        .rev()
        .map(|a| {
            let name = a
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (status, detail) = match a.status.as_str() {
                "incomplete" => ("incomplete", String::new()),
                _ if verified.contains(&name) => ("verified", String::new()),
                "ok" => ("ok", String::new()),
                "encrypted" => ("encrypted", String::new()),
                other => (
                    "corrupt",
                    other.strip_prefix("corrupt: ").unwrap_or(other).to_string(),
                ),
            };
            ArchiveRow {
                downloadable: status != "incomplete",
                name,
                size: human_bytes(a.bytes),
                age: human_age(t, a.age_seconds),
                status,
                detail,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.name.cmp(&a.name));
    Ok(rows)
}

async fn render(
    ui: &Ui,
    state: &AppState,
    status: StatusCode,
    notice: String,
    error: String,
) -> Result<HttpResponse, HtmlError> {
    let settings = state.settings.clone();
    let dir = schedule::backup_dir(&settings);
    let d2 = dir.clone();
    let (run, verified, last, last_check, zone) = state
        .db(move |c| {
            let zone = kv::get(c, "company.time_zone")?.unwrap_or_else(|| "UTC".into());
            Ok((
                read_state(c)?,
                verified_names(c)?,
                schedule::last_run(c)?,
                jobs::last_run(c, "scheduled-backup")?,
                zone,
            ))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.t();
    let archives = archive_rows(t, &d2, &verified).map_err(|e| ui.fail(e))?;
    let schedule_text = match schedule::parse(&settings.backup.schedule) {
        Ok(Schedule::Off) => t.t("backups.schedule.off").to_string(),
        Ok(Schedule::Daily(at)) => t
            .t("backups.schedule.daily")
            .replace("{time}", &at.format("%H:%M").to_string()),
        Err(e) => e,
    };
    let encrypted = schedule::scheduled_passphrase(&settings)
        .map(|p| p.is_some())
        .unwrap_or(false);
    Ok(html(
        status,
        &BackupsPage {
            c: ui.chrome("backups"),
            run: run_view(t, run, &dir),
            archives,
            dir: dir.display().to_string(),
            schedule: schedule_text,
            zone,
            keep: settings.backup.keep,
            encrypted,
            before_upgrade: settings.backup.before_upgrade,
            last: last.map(|l: LastRun| LastView {
                at: l.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                ok: l.ok,
                size: human_bytes(l.bytes),
                file: l.file,
                message: l.message,
            }),
            last_check: last_check
                .map(|x| x.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default(),
            notice,
            error,
        },
    ))
}

#[derive(Deserialize)]
struct PageQuery {
    started: Option<String>,
    busy: Option<String>,
}

/// `GET /admin/backups`.
async fn page(
    ui: Ui,
    state: web::Data<AppState>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let t = ui.t();
    let notice = if q.started.is_some() {
        t.t("backups.started").to_string()
    } else {
        String::new()
    };
    let error = if q.busy.is_some() {
        t.t("backups.busy").to_string()
    } else {
        String::new()
    };
    render(&ui, &state, StatusCode::OK, notice, error).await
}

/// `GET /admin/backups/status`: the run's state; polled every second by
/// htmx while a backup runs. When a polled run has finished, the page
/// reloads to list the new archive.
async fn status(
    req: HttpRequest,
    ui: Ui,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let run = state.db(read_state).await.map_err(|e| ui.fail(e))?;
    let view = run_view(ui.t(), run, &schedule::backup_dir(&state.settings));
    let finished = view.state != "running";
    let mut resp = html(
        StatusCode::OK,
        &StatusFragment {
            c: ui.chrome("backups"),
            run: view,
        },
    );
    let polled = req.headers().contains_key("hx-request");
    if polled && finished {
        resp.headers_mut().insert(
            header::HeaderName::from_static("hx-refresh"),
            header::HeaderValue::from_static("true"),
        );
    }
    Ok(resp)
}

/// `POST /admin/backups/run`: start a backup in the background.
async fn run(ui: Ui, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let current = state.db(read_state).await.map_err(|e| ui.fail(e))?;
    let busy_elsewhere = current.is_some_and(|s| s.running_now(now()));
    if busy_elsewhere || RUNNING_HERE.swap(true, Ordering::SeqCst) {
        return Ok(see_other("/admin/backups?busy=1"));
    }
    spawn_run(
        state.pool.clone(),
        state.settings.clone(),
        ui.actor.audit(),
        ui.actor.user.name.clone(),
    );
    Ok(see_other("/admin/backups?started=1"))
}

/// `GET /admin/backups/download/{name}`: the archive as a download,
/// streamed; only files of the backup directory by their archive name.
async fn download(
    ui: Ui,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let name = name.into_inner();
    let dir = schedule::backup_dir(&state.settings);
    let path = archive_path(&dir, &name).map_err(|e| ui.fail(e))?;
    let file = std::fs::File::open(&path)
        .map_err(|e| ui.fail(AppError::Internal(format!("{}: {e}", path.display()))))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let ctx = ui.actor.audit();
    let n2 = name.clone();
    state
        .db(move |c| record(c, &ctx, "download", json!({"file": n2, "bytes": len})))
        .await
        .map_err(|e| ui.fail(e))?;
    let stream = futures_util::stream::unfold(Some(file), |f| async move {
        let mut f = f?;
        let read = web::block(move || {
            let mut buf = vec![0u8; 256 * 1024];
            let n = f.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((f, buf))
        })
        .await;
        match read {
            Ok(Ok((_, buf))) if buf.is_empty() => None,
            Ok(Ok((f, buf))) => Some((Ok::<_, actix_web::Error>(web::Bytes::from(buf)), Some(f))),
            Ok(Err(e)) => Some((Err(e.into()), None)),
            Err(e) => Some((Err(e.into()), None)),
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .no_chunking(len)
        .streaming(stream))
}

/// `POST /admin/backups/verify/{name}`: read the whole archive back and
/// check every checksum (encrypted ones with the scheduled passphrase).
async fn verify(
    ui: Ui,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let name = name.into_inner();
    let dir = schedule::backup_dir(&state.settings);
    let path = archive_path(&dir, &name).map_err(|e| ui.fail(e))?;
    let settings = state.settings.clone();
    let ctx = ui.actor.audit();
    let n2 = name.clone();
    let outcome = state
        .db(move |c| {
            let result = schedule::scheduled_passphrase(&settings)
                .and_then(|p| super::verify_archive(&path, p.as_ref()));
            let message = match &result {
                Ok(_) => {
                    mark_verified(c, &dir, &n2)?;
                    String::new()
                }
                Err(e) => e.to_string(),
            };
            record(
                c,
                &ctx,
                "verify",
                json!({"file": n2, "ok": result.is_ok(), "message": message}),
            )?;
            Ok(result.map(|_| ()).map_err(|_| message))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let t = ui.t();
    match outcome {
        Ok(()) => {
            let notice = t.t("backups.verified_ok").replace("{file}", &name);
            render(&ui, &state, StatusCode::OK, notice, String::new()).await
        }
        Err(m) => {
            let error = format!(
                "{} {m}",
                t.t("backups.verify_failed").replace("{file}", &name)
            );
            render(&ui, &state, StatusCode::OK, String::new(), error).await
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/backups", web::get().to(page))
        .route("/admin/backups/status", web::get().to(status))
        .route("/admin/backups/run", web::post().to(run))
        .route("/admin/backups/download/{name}", web::get().to(download))
        .route("/admin/backups/verify/{name}", web::post().to(verify));
}
