//! `GET /healthz` (the process answers) and `GET /readyz` (the database is
//! reachable and its schema is current).

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::app::AppState;
use crate::core::db::migrations;

#[get("/healthz")]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
    }))
}

#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    let backend = state.backend.name();
    let checked = web::block(move || -> Result<usize, String> {
        let mut conn = pool
            .get()
            .map_err(|e| format!("database unreachable: {e}"))?;
        migrations::pending_count(&mut conn).map_err(|e| format!("database unreachable: {e}"))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    match checked {
        Ok(0) => HttpResponse::Ok().json(json!({
            "status": "ready",
            "database": {"backend": backend, "reachable": true},
            "migrations": {"pending": 0, "schema_version": migrations::latest_known()},
        })),
        Ok(pending) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "not_ready",
            "reason": format!("{pending} migration(s) pending; run `rapport migrate`"),
            "database": {"backend": backend, "reachable": true},
            "migrations": {"pending": pending},
        })),
        Err(reason) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "not_ready",
            "reason": reason,
            "database": {"backend": backend, "reachable": false},
        })),
    }
}
