//! Attachments of any record: files kept under `storage.attachments_dir`
//! (default `<data_dir>/attachments/`; a shared mount with several nodes)
//! by their SHA-256 (outside any web root), their type decided by sniffing
//! the content, never by the name or the client's word; served only as
//! downloads, never inline, and HTML, SVG, scripts and programs are refused.

use std::path::{Path, PathBuf};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, web};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::core::audit::{self, AuditCtx};
use crate::core::auth::actor::Actor;
use crate::core::db::schema::attachments;
use crate::core::db::{DbConn, now, write_tx};
use crate::core::error::AppError;

/// Largest file accepted.
pub const MAX_BYTES: usize = 20 * 1024 * 1024;

/// Records that can carry attachments.
pub const ENTITIES: &[&str] = &["customers", "contacts", "leads", "followups", "tasks"];

#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = attachments)]
pub struct Attachment {
    pub id: i64,
    pub entity: String,
    pub record_id: i64,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
}

/// The type of a file from its first bytes, checked against its name's
/// extension. Refuses what a browser could run (HTML, SVG, XML, scripts)
/// and programs, and a name that disguises its content.
pub fn sniff(name: &str, data: &[u8]) -> Result<&'static str, AppError> {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let refuse = |what: &str| {
        Err(AppError::invalid(
            "file",
            format!("{what} files are not accepted as attachments"),
        ))
    };
    if data.is_empty() {
        return Err(AppError::invalid("file", "the file is empty"));
    }
    let starts = |m: &[u8]| data.starts_with(m);
    let (kind, exts): (&'static str, &[&str]) = if starts(b"%PDF-") {
        ("application/pdf", &["pdf"])
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        ("image/png", &["png"])
    } else if starts(b"\xff\xd8\xff") {
        ("image/jpeg", &["jpg", "jpeg"])
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        ("image/gif", &["gif"])
    } else if data.len() > 12 && starts(b"RIFF") && &data[8..12] == b"WEBP" {
        ("image/webp", &["webp"])
    } else if starts(b"PK\x03\x04") {
        match ext.as_str() {
            "docx" => (
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                &["docx"],
            ),
            "xlsx" => (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                &["xlsx"],
            ),
            "pptx" => (
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                &["pptx"],
            ),
            _ => ("application/zip", &["zip"]),
        }
    } else if starts(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        match ext.as_str() {
            "xls" => ("application/vnd.ms-excel", &["xls"]),
            "ppt" => ("application/vnd.ms-powerpoint", &["ppt"]),
            _ => ("application/msword", &["doc"]),
        }
    } else if starts(b"MZ") || starts(b"\x7fELF") || starts(b"\xcf\xfa\xed\xfe") {
        return refuse("Program");
    } else if starts(b"#!") {
        return refuse("Script");
    } else if let Ok(text) = std::str::from_utf8(data) {
        let head: String = text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .chars()
            .take(512)
            .collect::<String>()
            .to_ascii_lowercase();
        if [
            "<!doctype",
            "<html",
            "<head",
            "<body",
            "<script",
            "<svg",
            "<?xml",
            "<iframe",
        ]
        .iter()
        .any(|m| head.starts_with(m))
            || head.contains("<script")
            || head.contains("<svg")
        {
            return refuse("HTML, SVG and XML");
        }
        if text.contains('\0') {
            return refuse("Unrecognised binary");
        }
        match ext.as_str() {
            "csv" => ("text/csv; charset=utf-8", &["csv"]),
            _ => (
                "text/plain; charset=utf-8",
                &["txt", "csv", "md", "log", ""],
            ),
        }
    } else if looks_like_legacy_text(data) && matches!(ext.as_str(), "txt" | "csv") {
        // Text in a legacy encoding such as GBK/GB18030 (Chinese Windows):
        // kept as plain text without claiming a charset.
        let head: String = data
            .iter()
            .take(512)
            .filter(|b| b.is_ascii())
            .map(|b| char::from(*b).to_ascii_lowercase())
            .collect();
        if head.contains("<script") || head.contains("<svg") || head.contains("<html") {
            return refuse("HTML, SVG and XML");
        }
        if ext == "csv" {
            ("text/csv", &["csv"])
        } else {
            ("text/plain", &["txt"])
        }
    } else {
        return refuse("Unrecognised binary");
    };
    if !exts.contains(&ext.as_str()) {
        return Err(AppError::invalid(
            "file",
            format!(
                "the name says .{ext} but the content is {kind}; rename the file or upload the right one"
            ),
        ));
    }
    Ok(kind)
}

/// No NUL or control bytes besides tab, newlines and form feed: text in an
/// 8-bit or double-byte encoding rather than a binary format.
fn looks_like_legacy_text(data: &[u8]) -> bool {
    data.iter()
        .all(|b| *b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
}

/// A file name safe to keep and send back: no path, no control characters.
fn clean_name(name: &str) -> Result<String, AppError> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let base: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .collect();
    if base.is_empty() || base.chars().count() > 200 {
        return Err(AppError::invalid(
            "name",
            "a file name of 1 to 200 characters",
        ));
    }
    Ok(base)
}

/// `<root>/<first two hex digits>/<sha256>`, `root` being
/// [`crate::config::Settings::attachments_dir`].
fn path_for(root: &Path, sha: &str) -> PathBuf {
    root.join(sha.get(..2).unwrap_or("00")).join(sha)
}

/// Where the file with SHA-256 `sha` (64 hex digits) is kept under the
/// attachments directory `root` (backups read and restore these).
pub fn file_path(root: &Path, sha: &str) -> PathBuf {
    path_for(root, sha)
}

/// Can the actor see (or, with `write`, change) record `id` of `entity`?
fn reachable(
    conn: &mut DbConn,
    actor: &Actor,
    entity: &str,
    id: i64,
    write: bool,
) -> Result<(), AppError> {
    if !ENTITIES.contains(&entity) {
        return Err(AppError::invalid(
            "entity",
            format!("`{entity}`; one of {}", ENTITIES.join(", ")),
        ));
    }
    if !crate::core::records::store::visible(conn, actor, entity, id)? {
        return Err(AppError::NotFound(format!("{entity} {id} not found")));
    }
    if write && !crate::core::records::store::editable(conn, actor, entity, id)? {
        return Err(AppError::Forbidden(format!(
            "you may view {entity} {id} but not add or remove its files"
        )));
    }
    Ok(())
}

/// Attachments of one record, newest first.
pub fn list_for(conn: &mut DbConn, entity: &str, id: i64) -> QueryResult<Vec<Attachment>> {
    attachments::table
        .filter(attachments::entity.eq(entity))
        .filter(attachments::record_id.eq(id))
        .order(attachments::id.desc())
        .select(Attachment::as_select())
        .load(conn)
}

/// Remove the attachment rows of a record being deleted (inside its
/// transaction); the files go with the next clean-up once nothing refers
/// to them.
pub fn delete_for(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    entity: &str,
    id: i64,
) -> Result<(), AppError> {
    for a in list_for(conn, entity, id)? {
        audit::record(
            conn,
            ctx,
            "delete",
            "attachments",
            Some(a.id),
            &json!({"file_name": [a.file_name, null], "record": [format!("{entity}/{id}"), null]}),
        )?;
    }
    diesel::delete(
        attachments::table
            .filter(attachments::entity.eq(entity))
            .filter(attachments::record_id.eq(id)),
    )
    .execute(conn)?;
    Ok(())
}

/// Move every attachment of one record to another (lead conversion).
pub fn move_all(conn: &mut DbConn, from: (&str, i64), to: (&str, i64)) -> QueryResult<usize> {
    diesel::update(
        attachments::table
            .filter(attachments::entity.eq(from.0))
            .filter(attachments::record_id.eq(from.1)),
    )
    .set((
        attachments::entity.eq(to.0),
        attachments::record_id.eq(to.1),
    ))
    .execute(conn)
}

/// Delete files under the attachments directory `root` that no attachment
/// refers to any more; returns how many.
pub fn collect_garbage(conn: &mut DbConn, root: &Path) -> Result<usize, AppError> {
    let Ok(shards) = std::fs::read_dir(root) else {
        return Ok(0);
    };
    let mut removed = 0;
    for shard in shards.flatten() {
        let Ok(files) = std::fs::read_dir(shard.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().to_string();
            if name.len() != 64 {
                continue;
            }
            let used: i64 = attachments::table
                .filter(attachments::sha256.eq(&name))
                .count()
                .get_result(conn)?;
            // Leave files younger than an hour: an upload may be between
            // writing its file and committing its row.
            let young = f
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_none_or(|age| age.as_secs() < 3600);
            if used == 0 && !young && std::fs::remove_file(f.path()).is_ok() {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[derive(Deserialize)]
struct Target {
    entity: String,
    record_id: i64,
    name: Option<String>,
}

/// `GET /api/v1/attachments?entity=customers&record_id=5`
async fn list_api(
    actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<Target>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let items = state
        .db(move |conn| {
            reachable(conn, &actor, &q.entity, q.record_id, false)?;
            Ok(list_for(conn, &q.entity, q.record_id)?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "attachments": items })))
}

/// `POST /api/v1/attachments?entity=followups&record_id=5&name=报价单.pdf`
/// with the file as the body.
async fn upload_api(
    actor: Actor,
    state: web::Data<AppState>,
    q: web::Query<Target>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let name = clean_name(q.name.as_deref().unwrap_or(""))?;
    let kind = sniff(&name, &body)?;
    let sha = crate::core::tls::hex(ring::digest::digest(&ring::digest::SHA256, &body).as_ref());
    let root = state.settings.attachments_dir();
    let a = state
        .db(move |conn| {
            reachable(conn, &actor, &q.entity, q.record_id, true)?;
            let path = path_for(&root, &sha);
            // A file already there is the same content: refresh its time so
            // the clean-up (which spares young files) does not take it away
            // between here and the row's commit.
            let reused = std::fs::File::options()
                .append(true)
                .open(&path)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()))
                .is_ok();
            if !reused {
                let parent = path.parent().unwrap_or(&root).to_path_buf();
                std::fs::create_dir_all(&parent)
                    .map_err(|e| AppError::Internal(format!("{}: {e}", parent.display())))?;
                let tmp = parent.join(format!(
                    ".{sha}.{}.{}",
                    std::process::id(),
                    crate::core::tls::random_hex(8)
                ));
                std::fs::write(&tmp, &body)
                    .and_then(|()| std::fs::rename(&tmp, &path))
                    .map_err(|e| AppError::Internal(format!("{}: {e}", path.display())))?;
            }
            let ctx = actor.audit();
            write_tx(conn, |conn| {
                let id: i64 = diesel::insert_into(attachments::table)
                    .values((
                        attachments::entity.eq(&q.entity),
                        attachments::record_id.eq(q.record_id),
                        attachments::file_name.eq(&name),
                        attachments::content_type.eq(kind),
                        attachments::size.eq(body.len() as i64),
                        attachments::sha256.eq(&sha),
                        attachments::created_by.eq(Some(actor.user_id())),
                        attachments::created_at.eq(now()),
                    ))
                    .returning(attachments::id)
                    .get_result(conn)?;
                audit::record(
                    conn,
                    &ctx,
                    "create",
                    "attachments",
                    Some(id),
                    &json!({"file_name": [null, name], "record": [null, format!("{}/{}", q.entity, q.record_id)], "size": [null, body.len()]}),
                )?;
                Ok::<_, AppError>(
                    attachments::table
                        .find(id)
                        .select(Attachment::as_select())
                        .first(conn)?,
                )
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(a))
}

fn find(conn: &mut DbConn, actor: &Actor, id: i64, write: bool) -> Result<Attachment, AppError> {
    let a: Attachment = attachments::table
        .find(id)
        .select(Attachment::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("attachment {id} not found")))?;
    reachable(conn, actor, &a.entity, a.record_id, write).map_err(|e| match e {
        AppError::NotFound(_) => AppError::NotFound(format!("attachment {id} not found")),
        other => other,
    })?;
    Ok(a)
}

/// The file, always as a download.
#[get("/api/v1/attachments/{id}")]
async fn download_api(
    _req: HttpRequest,
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let root = state.settings.attachments_dir();
    let (a, bytes) = state
        .db(move |conn| {
            let a = find(conn, &actor, id, false)?;
            let bytes = std::fs::read(path_for(&root, &a.sha256))
                .map_err(|e| AppError::Internal(format!("attachment {id}: {e}")))?;
            Ok((a, bytes))
        })
        .await?;
    let ascii: String = a
        .file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = form_urlencoded::byte_serialize(a.file_name.as_bytes()).collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, a.content_type.clone()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
                encoded.replace('+', "%20")
            ),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ))
        .body(bytes))
}

#[delete("/api/v1/attachments/{id}")]
async fn delete_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    state
        .db(move |conn| {
            let a = find(conn, &actor, id, true)?;
            let ctx = actor.audit();
            write_tx(conn, |conn| {
                diesel::delete(attachments::table.find(id)).execute(conn)?;
                audit::record(
                    conn,
                    &ctx,
                    "delete",
                    "attachments",
                    Some(id),
                    &json!({"file_name": [a.file_name, null], "record": [format!("{}/{}", a.entity, a.record_id), null]}),
                )?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "deleted": id })))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/attachments")
            .app_data(web::PayloadConfig::new(MAX_BYTES))
            .route(web::get().to(list_api))
            .route(web::post().to(upload_api)),
    )
    .service(download_api)
    .service(delete_api);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_trusts_content_not_names() {
        assert_eq!(
            sniff("合同.pdf", b"%PDF-1.7 ...").unwrap(),
            "application/pdf"
        );
        assert_eq!(
            sniff("photo.JPG", b"\xff\xd8\xff\xe0....").unwrap(),
            "image/jpeg"
        );
        assert!(
            sniff("notes.txt", "拜访纪要：客户要报价".as_bytes())
                .unwrap()
                .starts_with("text/plain")
        );
        for (name, data) in [
            ("invoice.pdf", &b"<html><script>alert(1)</script>"[..]),
            ("logo.svg", b"<?xml version=\"1.0\"?><svg onload=alert(1)>"),
            ("page.txt", b"  <!DOCTYPE html><p>x"),
            ("setup.pdf", b"MZ\x90\x00"),
            ("photo.png", b"%PDF-1.4"),
            ("run.txt", b"#!/bin/sh\nrm -rf /"),
            ("empty.txt", b""),
            ("blob.bin", b"\x00\x01\x02\xff\xfe"),
        ] {
            assert!(sniff(name, data).is_err(), "{name}");
        }
        // "拜访纪要" in GBK, as Chinese Windows saves a .txt.
        let gbk: &[u8] = b"\xb0\xdd\xb7\xc3\xbc\xcd\xd2\xaa\r\n";
        assert_eq!(sniff("纪要.txt", gbk).unwrap(), "text/plain");
        assert!(sniff("纪要.pdf", gbk).is_err());
        assert_eq!(clean_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(
            clean_name("C:\\Users\\报价 单.xlsx").unwrap(),
            "报价 单.xlsx"
        );
        assert!(clean_name("  ").is_err());
    }
}
