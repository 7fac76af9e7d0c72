//! One error type for handlers; renders as JSON `{error, message, field}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Conflict(String),
    /// The record changed since the caller read it; `current` is what it is now.
    #[error("{message}")]
    Stale {
        message: String,
        current: serde_json::Value,
    },
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// A record like this one exists; `candidates` are those the caller may
    /// see, `hidden` counts the others. Send `confirm_duplicates: true` to
    /// create it anyway.
    #[error("{message}")]
    Duplicate {
        message: String,
        candidates: serde_json::Value,
        hidden: i64,
    },
    /// The account is locked for a while (423).
    #[error("{0}")]
    Locked(String),
    /// The request body is larger than allowed (413).
    #[error("{0}")]
    TooLarge(String),
    /// Too many attempts; try again later (429).
    #[error("{0}")]
    TooMany(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Details are logged; the client sees only a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidates: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hidden: Option<i64>,
}

impl AppError {
    /// 409 for an update naming an old version, with the record as it is now.
    pub fn stale(what: &str, current: &impl Serialize) -> Self {
        AppError::Stale {
            message: format!(
                "{what} was changed by someone else since you read it; review the current version and try again"
            ),
            current: serde_json::to_value(current).unwrap_or_default(),
        }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::NotFound(_) => "not_found",
            AppError::Forbidden(_) => "forbidden",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Conflict(_) => "conflict",
            AppError::Stale { .. } => "stale",
            AppError::Duplicate { .. } => "duplicate",
            AppError::Invalid { .. } => "invalid",
            AppError::Unavailable(_) => "unavailable",
            AppError::Locked(_) => "locked",
            AppError::TooMany(_) => "too_many_requests",
            AppError::TooLarge(_) => "too_large",
            AppError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Conflict(_) | AppError::Stale { .. } | AppError::Duplicate { .. } => {
                StatusCode::CONFLICT
            }
            AppError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Locked(_) => StatusCode::LOCKED,
            AppError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error; the server log has the details under this request's X-Request-Id"
                    .to_string()
            }
            other => other.to_string(),
        };
        let field = match self {
            AppError::Invalid { field, .. } => field.as_deref(),
            _ => None,
        };
        let current = match self {
            AppError::Stale { current, .. } => Some(current),
            _ => None,
        };
        let (candidates, hidden) = match self {
            AppError::Duplicate {
                candidates, hidden, ..
            } => (Some(candidates), Some(*hidden)),
            _ => (None, None),
        };
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error: self.code(),
            message,
            field,
            current,
            candidates,
            hidden,
        })
    }
}

impl From<crate::core::db::DbError> for AppError {
    fn from(e: crate::core::db::DbError) -> Self {
        use crate::core::db::DbError;
        match e {
            DbError::Query(diesel::result::Error::NotFound) => {
                AppError::NotFound("record not found".into())
            }
            DbError::Query(diesel::result::Error::DatabaseError(kind, info)) => {
                use diesel::result::DatabaseErrorKind as K;
                match kind {
                    K::UniqueViolation => AppError::Conflict(format!(
                        "a record with the same unique value already exists ({})",
                        info.message()
                    )),
                    K::ForeignKeyViolation => AppError::Conflict(format!(
                        "the change refers to a record that does not exist or is still referenced ({})",
                        info.message()
                    )),
                    _ if info.message().contains("database is locked") => {
                        AppError::Unavailable("the database is busy; try again".into())
                    }
                    _ => AppError::Internal(info.message().to_string()),
                }
            }
            DbError::Connect { .. } | DbError::Pool(_) => AppError::Unavailable(e.to_string()),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        crate::core::db::DbError::Query(e).into()
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        AppError::Unavailable(format!("database pool: {e}"))
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        AppError::Internal(e.to_string())
    }
}

/// The JSON 404 for any path no route serves.
pub async fn no_route(req: actix_web::HttpRequest) -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}
