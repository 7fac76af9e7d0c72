//! Small request helpers shared by the JSON APIs.

use actix_web::HttpRequest;
use serde_json::Value;

use crate::core::error::AppError;

/// The record version a write names: the `version` body field, else the
/// `If-Match` header (`3`, `"3"` or `W/"3"`).
pub fn version(req: &HttpRequest, body: Option<&Value>) -> Result<i32, AppError> {
    if let Some(v) = body.and_then(|b| b.get("version")) {
        return v
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .ok_or_else(|| AppError::invalid("version", "must be the integer version you read"));
    }
    if let Some(h) = req.headers().get(actix_web::http::header::IF_MATCH) {
        let s = h
            .to_str()
            .unwrap_or("")
            .trim()
            .trim_start_matches("W/")
            .trim_matches('"');
        return s
            .parse()
            .map_err(|_| AppError::invalid("version", "If-Match must hold the version you read"));
    }
    Err(AppError::invalid(
        "version",
        "name the version you read (a `version` field or an If-Match header) so a colleague's change is not overwritten",
    ))
}

/// Split `confirm_duplicates` (and `version`) off a JSON body.
pub fn take_flags(body: &mut Value) -> Result<bool, AppError> {
    let Some(obj) = body.as_object_mut() else {
        return Err(AppError::invalid("body", "send a JSON object"));
    };
    obj.remove("version");
    match obj.remove("confirm_duplicates") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(_) => Err(AppError::invalid("confirm_duplicates", "true or false")),
    }
}

/// Fields a record carries when read that a client cannot set: dropped from
/// a write so a record read, changed and sent back is accepted (`extra`: the
/// object's derived names such as `owner_name`).
pub fn strip_read_only(body: &mut Value, extra: &[&str]) {
    if let Some(obj) = body.as_object_mut() {
        for k in ["id", "created_at", "updated_at", "created_by", "updated_by"]
            .iter()
            .chain(extra)
        {
            obj.remove(*k);
        }
    }
}
