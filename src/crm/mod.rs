//! The business objects, one folder each.

pub mod customers;
pub mod demo;

use actix_web::web;

/// Every business module's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    customers::routes(cfg);
    crate::core::views::routes(cfg);
    cfg.service(search_api);
}

#[derive(serde::Deserialize)]
struct SearchQuery {
    q: String,
    limit: Option<i64>,
}

/// `GET /api/v1/search?q=`: results grouped by type, each filtered by the
/// caller's data scope.
#[actix_web::get("/api/v1/search")]
async fn search_api(
    actor: crate::core::auth::actor::Actor,
    state: web::Data<crate::app::AppState>,
    q: web::Query<SearchQuery>,
) -> Result<actix_web::HttpResponse, crate::core::error::AppError> {
    let q = q.into_inner();
    if q.q.trim().is_empty() {
        return Err(crate::core::error::AppError::invalid(
            "q",
            "type something to search for",
        ));
    }
    let limit = q.limit.unwrap_or(10).clamp(1, 50);
    let customers = state
        .db(move |c| customers::store::search(c, &actor, &q.q, limit))
        .await?;
    Ok(actix_web::HttpResponse::Ok().json(serde_json::json!({ "customers": customers })))
}
