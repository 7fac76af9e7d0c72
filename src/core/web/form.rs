//! Form bodies and the errors a form shows next to its fields.

use crate::core::error::AppError;

/// A urlencoded form body, keeping repeated keys (checkbox groups).
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> FormData {
        FormData(form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, key: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>, AppError> {
        let v = self.get(key);
        if v.trim().is_empty() {
            return Ok(None);
        }
        v.trim()
            .parse()
            .map(Some)
            .map_err(|_| AppError::invalid(key, format!("`{v}` is not a number")))
    }

    pub fn i64s(&self, key: &str) -> Result<Vec<i64>, AppError> {
        self.all(key)
            .iter()
            .map(|v| {
                v.parse()
                    .map_err(|_| AppError::invalid(key, format!("`{v}` is not a number")))
            })
            .collect()
    }

    pub fn version(&self) -> Result<i32, AppError> {
        self.get("version")
            .trim()
            .parse()
            .map_err(|_| AppError::invalid("version", "missing record version; reload the page"))
    }
}

/// The message and field of an error a form can show inline; `None` for
/// errors that deserve an error page.
pub fn inline_error(e: &AppError) -> Option<(String, String)> {
    match e {
        AppError::Invalid { field, message } => {
            Some((message.clone(), field.clone().unwrap_or_default()))
        }
        AppError::Conflict(m) => Some((m.clone(), String::new())),
        _ => None,
    }
}
