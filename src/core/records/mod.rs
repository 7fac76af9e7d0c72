//! Generic records: one store, one validator and one JSON API for every
//! business object described by an [`EntitySpec`] (contacts, leads,
//! follow-ups, tasks, and the later waves' objects).
//!
//! Each such table has the spec's fields plus the system columns `id`, the
//! owner column, `custom`, `search_text`, `search_cjk`, (`dedupe_name`,
//! `dedupe_phone` when the spec checks duplicates), `created_by`,
//! `updated_by`, `created_at`, `updated_at` and `version`. Rows are read as
//! one JSON object built by the database (`json_object` on SQLite,
//! `json_build_object` on PostgreSQL) and normalised by the field kinds, so
//! a new object needs a spec and a migration, not another store.

pub mod api;
pub mod store;

use chrono::NaiveDate;
use serde_json::{Map, Value};

use crate::core::audit::AuditCtx;
use crate::core::auth::actor::Actor;
use crate::core::db::{Backend, DbConn};
use crate::core::error::AppError;
use crate::core::fields::{is_phone, is_url, parse_datetime};
use crate::core::list::{ColKind, Column};
use crate::core::listing::ExtraViews;
use crate::core::text;

/// How a field is stored, validated and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text up to this many characters (`''` when empty).
    Text(usize),
    Email,
    Phone,
    Url,
    Bool,
    Int,
    /// `YYYY-MM-DD`, stored as text (`''` when empty).
    Date,
    /// Naive UTC timestamp, NULL when empty.
    DateTime,
    /// One of these values; the first is the default.
    Choice(&'static [&'static str]),
    /// The id of a record of this entity the actor can see; NULL when empty.
    Ref(&'static str),
    /// The id of an active user; NULL when empty.
    User,
    /// A list of short labels, stored as a JSON array.
    Tags,
    /// A JSON array or object stored as text; the spec's `prepare` hook
    /// checks its shape (an opportunity's line items, its contacts).
    Json,
}

impl Kind {
    fn nullable(self) -> bool {
        matches!(self, Kind::Int | Kind::DateTime | Kind::Ref(_) | Kind::User)
    }

    fn col_kind(self) -> ColKind {
        match self {
            Kind::Bool => ColKind::Bool,
            Kind::Int | Kind::Ref(_) | Kind::User => ColKind::Int,
            Kind::DateTime => ColKind::Time,
            _ => ColKind::Text,
        }
    }

    /// The value of an empty field.
    fn empty(self) -> Value {
        match self {
            Kind::Bool => Value::Bool(false),
            Kind::Tags | Kind::Json => Value::Array(vec![]),
            Kind::Choice(options) => Value::from(options.first().copied().unwrap_or("")),
            k if k.nullable() => Value::Null,
            _ => Value::from(""),
        }
    }
}

/// One field of an entity.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    /// Clients may set it (false: kept by the server, e.g. a lead's link to
    /// the customer it became).
    pub input: bool,
    /// An index with `id` last backs sorting by it.
    pub sortable: bool,
    /// Part of the text search.
    pub search: bool,
    /// A boolean that is true when left out (a product is active).
    pub default_on: bool,
}

/// A field with the usual properties: optional, client-set, not sorted, not searched.
pub const fn field(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
        input: true,
        sortable: false,
        search: false,
        default_on: false,
    }
}

impl Field {
    pub const fn required(mut self) -> Field {
        self.required = true;
        self
    }
    pub const fn sortable(mut self) -> Field {
        self.sortable = true;
        self
    }
    pub const fn search(mut self) -> Field {
        self.search = true;
        self
    }
    pub const fn server(mut self) -> Field {
        self.input = false;
        self
    }
    pub const fn default_on(mut self) -> Field {
        self.default_on = true;
        self
    }
}

/// Which fields identify a duplicate.
#[derive(Debug, Clone, Copy)]
pub struct Dedupe {
    /// Normalised into `dedupe_name` (full-/half-width, spaces, company suffixes).
    pub name: Option<&'static str>,
    /// The first non-empty one, as digits, goes into `dedupe_phone`.
    pub phones: &'static [&'static str],
    /// Compared lower-cased.
    pub email: Option<&'static str>,
}

/// Fills in or checks fields across each other before a write: `record` is
/// the validated new state, `before` the stored one on update.
pub type Prepare = fn(
    &mut DbConn,
    &Actor,
    &mut Map<String, Value>,
    Option<&Map<String, Value>>,
) -> Result<(), AppError>;

/// Runs inside the write's transaction after it: keeps other records in step
/// (a follow-up moves its customer's follow-up dates).
pub type AfterWrite = fn(
    &mut DbConn,
    &AuditCtx,
    Option<&Map<String, Value>>,
    Option<&Map<String, Value>>,
) -> Result<(), AppError>;

/// A business object the generic store and API serve.
pub struct EntitySpec {
    /// Table name, permission module, share, audit and custom-field entity.
    pub name: &'static str,
    /// "contact": used in messages.
    pub singular: &'static str,
    pub fields: &'static [Field],
    /// The column the data scope applies to (owner or assignee).
    pub owner_col: &'static str,
    /// The field that names a record in messages and search results.
    pub title: &'static str,
    pub default_sort: &'static str,
    pub dedupe: Option<Dedupe>,
    pub prepare: Option<Prepare>,
    pub after_write: Option<AfterWrite>,
    pub extra_views: Option<(ExtraViews, &'static [&'static str])>,
}

/// A stored record as the API shows it.
pub type Record = Map<String, Value>;

/// Columns every generic table has besides its fields.
const SYSTEM_TIMES: &[&str] = &["created_at", "updated_at"];

impl EntitySpec {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// What lists may filter and sort by.
    pub fn columns(&self) -> Vec<Column> {
        let mut cols = vec![
            Column {
                name: "id",
                expr: "id",
                kind: ColKind::Int,
                sortable: true,
                nullable: false,
            },
            Column {
                name: self.owner_col,
                expr: self.owner_col,
                kind: ColKind::Int,
                sortable: false,
                nullable: true,
            },
            Column {
                name: "created_by",
                expr: "created_by",
                kind: ColKind::Int,
                sortable: false,
                nullable: true,
            },
        ];
        for t in SYSTEM_TIMES {
            cols.push(Column {
                name: t,
                expr: t,
                kind: ColKind::Time,
                sortable: true,
                nullable: false,
            });
        }
        for f in self.fields {
            cols.push(Column {
                name: f.name,
                expr: f.name,
                kind: f.kind.col_kind(),
                sortable: f.sortable,
                nullable: f.kind.nullable(),
            });
        }
        cols
    }

    /// Every stored column, in select order.
    fn all_columns(&self) -> Vec<(&'static str, Kind)> {
        let mut cols: Vec<(&'static str, Kind)> =
            vec![("id", Kind::Int), (self.owner_col, Kind::User)];
        cols.extend(self.fields.iter().map(|f| (f.name, f.kind)));
        cols.extend([
            ("created_by", Kind::User),
            ("updated_by", Kind::User),
            ("created_at", Kind::DateTime),
            ("updated_at", Kind::DateTime),
            ("version", Kind::Int),
        ]);
        cols
    }

    /// The SQL expression that reads a row of this table (its columns
    /// prefixed with `prefix`, e.g. `contacts.`) as one JSON text.
    pub fn json_expr(&self, backend: Backend, prefix: &str) -> String {
        let mut parts: Vec<String> = self
            .all_columns()
            .iter()
            .map(|(c, _)| format!("'{c}', {prefix}{c}"))
            .collect();
        parts.push(format!("'custom', {prefix}custom"));
        match backend {
            Backend::Sqlite => format!("json_object({})", parts.join(", ")),
            Backend::Postgres => format!("CAST(json_build_object({}) AS TEXT)", parts.join(", ")),
        }
    }

    /// A row's JSON as the database built it, normalised: booleans as
    /// booleans, times as `YYYY-MM-DDTHH:MM:SS[.ffffff]`, tags and custom
    /// values as JSON.
    pub fn normalize(&self, raw: &str) -> Record {
        let mut m: Record = serde_json::from_str(raw).unwrap_or_default();
        for (name, kind) in self.all_columns() {
            let Some(v) = m.get_mut(name) else { continue };
            match kind {
                Kind::Bool => {
                    *v = Value::Bool(v.as_bool().unwrap_or_else(|| v.as_i64() == Some(1)));
                }
                Kind::DateTime => {
                    if let Some(t) = v.as_str().and_then(parse_datetime) {
                        *v = serde_json::to_value(t).unwrap_or(Value::Null);
                    }
                }
                Kind::Tags | Kind::Json => {
                    if let Some(s) = v.as_str() {
                        *v = serde_json::from_str(s).unwrap_or(Value::Array(vec![]));
                    }
                }
                _ => {}
            }
        }
        if let Some(v) = m.get_mut("custom")
            && let Some(s) = v.as_str()
        {
            *v = serde_json::from_str(s).unwrap_or(Value::Object(Map::new()));
        }
        m
    }

    /// The record's name in messages.
    pub fn title_of(&self, r: &Record) -> String {
        let t = r.get(self.title).and_then(Value::as_str).unwrap_or("");
        let t: String = t.chars().take(40).collect();
        format!("{} \"{}\"", self.singular, t)
    }
}

/// `v` trimmed, or a 400 naming `field` when it has more than `max` characters.
pub fn limited(field: &str, v: &str, max: usize) -> Result<String, AppError> {
    let v = v.trim();
    if v.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}

fn as_text(name: &str, v: &Value) -> Result<String, AppError> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(AppError::invalid(name, "must be text")),
    }
}

/// Check one value of a fixed field; returns it as stored.
fn clean_value(f: &Field, v: &Value) -> Result<Value, AppError> {
    let name = f.name;
    let blank = v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty());
    if f.kind == Kind::Bool && v.is_null() {
        return Ok(Value::Bool(f.default_on));
    }
    if blank && f.kind != Kind::Bool {
        if f.required {
            return Err(AppError::invalid(name, "is required"));
        }
        return Ok(f.kind.empty());
    }
    Ok(match f.kind {
        Kind::Text(max) => Value::from(limited(name, &as_text(name, v)?, max)?),
        Kind::Email => {
            let e = text::normalize_email(&limited(name, &as_text(name, v)?, 254)?);
            crate::core::org::users::normalize_email(&e)
                .map_err(|_| AppError::invalid(name, format!("`{e}` is not an e-mail address")))?;
            Value::from(e)
        }
        Kind::Phone => {
            let p = limited(name, &as_text(name, v)?, 40)?;
            if !is_phone(&p) {
                return Err(AppError::invalid(
                    name,
                    format!("`{p}` is not a phone number"),
                ));
            }
            Value::from(p)
        }
        Kind::Url => {
            let mut u = limited(name, &as_text(name, v)?, 300)?;
            if !u.contains("://") {
                u = format!("https://{u}");
            }
            if !is_url(&u) {
                return Err(AppError::invalid(
                    name,
                    format!("`{u}` is not a web address"),
                ));
            }
            Value::from(u)
        }
        Kind::Bool => match v {
            Value::Null => Value::Bool(false),
            Value::Bool(b) => Value::Bool(*b),
            _ => return Err(AppError::invalid(name, "true or false")),
        },
        Kind::Int | Kind::Ref(_) | Kind::User => match v {
            Value::Number(n) if n.is_i64() => v.clone(),
            Value::String(s) if s.trim().parse::<i64>().is_ok() => {
                Value::from(s.trim().parse::<i64>().unwrap_or_default())
            }
            _ => return Err(AppError::invalid(name, "must be a whole number (an id)")),
        },
        Kind::Date => {
            let s = as_text(name, v)?;
            let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
                AppError::invalid(name, format!("`{s}` is not a date (YYYY-MM-DD)"))
            })?;
            Value::from(d.format("%Y-%m-%d").to_string())
        }
        Kind::DateTime => {
            let s = as_text(name, v)?;
            let t = parse_datetime(&s).ok_or_else(|| {
                AppError::invalid(
                    name,
                    format!("`{s}` is not a date-time (YYYY-MM-DDTHH:MM:SS)"),
                )
            })?;
            serde_json::to_value(t).unwrap_or(Value::Null)
        }
        Kind::Choice(options) => {
            let s = as_text(name, v)?;
            let s = s.trim();
            if !options.contains(&s) {
                return Err(AppError::invalid(
                    name,
                    format!("`{s}`; one of {}", options.join(", ")),
                ));
            }
            Value::from(s)
        }
        Kind::Json => match v {
            Value::Array(_) | Value::Object(_) => v.clone(),
            _ => return Err(AppError::invalid(name, "a JSON list or object")),
        },
        Kind::Tags => {
            let Value::Array(items) = v else {
                return Err(AppError::invalid(name, "a list of labels"));
            };
            let mut tags: Vec<String> = Vec::new();
            for t in items {
                let t = limited(name, &as_text(name, t)?, 30)?;
                if !t.is_empty() && !tags.contains(&t) {
                    tags.push(t);
                }
            }
            if tags.len() > 20 {
                return Err(AppError::invalid(name, "at most 20 labels"));
            }
            Value::from(tags)
        }
    })
}

/// Validate a whole input object for `spec`: unknown and server-kept fields
/// are refused so a typo never silently loses data; returns the fixed fields
/// (every one of them, defaults for those left out) and the custom object.
pub fn validate(
    spec: &EntitySpec,
    input: &Map<String, Value>,
) -> Result<(Record, Value), AppError> {
    for k in input.keys() {
        if k == "custom" || k == spec.owner_col {
            continue;
        }
        match spec.field(k) {
            Some(f) if f.input => {}
            Some(_) => {
                return Err(AppError::invalid(
                    k,
                    format!("`{k}` is kept by Rapport and cannot be set"),
                ));
            }
            None => return Err(AppError::invalid(k, format!("unknown field `{k}`"))),
        }
    }
    let mut out = Record::new();
    for f in spec.fields {
        let v = input.get(f.name).unwrap_or(&Value::Null);
        out.insert(f.name.to_string(), clean_value(f, v)?);
    }
    let owner = match input.get(spec.owner_col) {
        None | Some(Value::Null) => Value::Null,
        Some(v) => clean_value(&field(spec.owner_col, Kind::User), v)?,
    };
    out.insert(spec.owner_col.to_string(), owner);
    Ok((out, input.get("custom").cloned().unwrap_or(Value::Null)))
}

/// The derived columns: search text and duplicate keys.
pub fn derived(spec: &EntitySpec, r: &Record) -> Vec<(&'static str, String)> {
    let s = |name: &str| {
        r.get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let texts: Vec<String> = spec
        .fields
        .iter()
        .filter(|f| f.search && !matches!(f.kind, Kind::Phone))
        .map(|f| s(f.name))
        .collect();
    let phones: Vec<String> = spec
        .fields
        .iter()
        .filter(|f| f.search && matches!(f.kind, Kind::Phone))
        .map(|f| s(f.name))
        .collect();
    let t: Vec<&str> = texts.iter().map(String::as_str).collect();
    let p: Vec<&str> = phones.iter().map(String::as_str).collect();
    let mut out = vec![
        ("search_text", text::search_text(&t, &p)),
        ("search_cjk", text::search_cjk(&t)),
    ];
    if let Some(d) = spec.dedupe {
        out.push((
            "dedupe_name",
            d.name
                .map(|n| text::normalize_name(&s(n)))
                .unwrap_or_default(),
        ));
        let phone = d
            .phones
            .iter()
            .map(|p| s(p))
            .find(|p| !p.trim().is_empty())
            .unwrap_or_default();
        out.push(("dedupe_phone", text::normalize_phone(&phone)));
    }
    out
}

/// Tables whose owner column is not `owner_id`.
const OWNER_COLUMNS: &[(&str, &str)] = &[("tasks", "assignee_id")];

/// The owner column of `entity`'s table.
pub fn owner_col(entity: &str) -> &'static str {
    OWNER_COLUMNS
        .iter()
        .find(|(e, _)| *e == entity)
        .map_or("owner_id", |(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &[Field] = &[
        field("name", Kind::Text(10)).required().search(),
        field("mobile", Kind::Phone).search(),
        field("email", Kind::Email),
        field("birthday", Kind::Date),
        field("status", Kind::Choice(&["new", "done"])),
        field("primary", Kind::Bool),
        field("due_at", Kind::DateTime),
        field("converted", Kind::Ref("customers")).server(),
    ];
    const SPEC: EntitySpec = EntitySpec {
        name: "things",
        singular: "thing",
        fields: FIELDS,
        owner_col: "owner_id",
        title: "name",
        default_sort: "-updated_at",
        dedupe: Some(Dedupe {
            name: Some("name"),
            phones: &["mobile"],
            email: Some("email"),
        }),
        prepare: None,
        after_write: None,
        extra_views: None,
    };

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn validation_cleans_and_names_the_field() {
        let (r, _) = validate(
            &SPEC,
            &obj(
                serde_json::json!({"name": " 张伟 ", "mobile": "138 0013 8000", "email": "A@B.CN",
                                    "birthday": "1990-02-03", "due_at": "2026-12-03 08:30"}),
            ),
        )
        .unwrap();
        assert_eq!(r["name"], "张伟");
        assert_eq!(r["email"], "a@b.cn");
        assert_eq!(r["status"], "new");
        assert_eq!(r["primary"], false);
        assert_eq!(r["due_at"], "2026-12-03T08:30:00");
        assert_eq!(r["converted"], Value::Null);
        let d = derived(&SPEC, &r);
        assert!(
            d.iter()
                .any(|(k, v)| *k == "search_text" && v.contains("13800138000"))
        );
        assert!(d.iter().any(|(k, v)| *k == "search_cjk" && v == "张 伟"));
        for (input, f) in [
            (serde_json::json!({}), "name"),
            (serde_json::json!({"name": "x".repeat(11)}), "name"),
            (
                serde_json::json!({"name": "a", "mobile": "call me"}),
                "mobile",
            ),
            (serde_json::json!({"name": "a", "email": "nope"}), "email"),
            (
                serde_json::json!({"name": "a", "birthday": "1990-13-01"}),
                "birthday",
            ),
            (
                serde_json::json!({"name": "a", "status": "maybe"}),
                "status",
            ),
            (
                serde_json::json!({"name": "a", "primary": "yes"}),
                "primary",
            ),
            (serde_json::json!({"name": "a", "colour": "red"}), "colour"),
            (
                serde_json::json!({"name": "a", "converted": 3}),
                "converted",
            ),
            (
                serde_json::json!({"name": "a", "owner_id": "me"}),
                "owner_id",
            ),
        ] {
            match validate(&SPEC, &obj(input.clone())) {
                Err(AppError::Invalid { field: Some(x), .. }) => assert_eq!(x, f, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn rows_read_back_the_same_on_both_backends() {
        let sqlite = r#"{"id":1,"owner_id":2,"name":"a","primary":1,"due_at":"2026-12-03 08:30:00.000000","custom":"{\"x\":1}","created_at":"2026-12-03 08:30:00","updated_at":"2026-12-03 08:30:00","version":1}"#;
        let pg = r#"{"id":1,"owner_id":2,"name":"a","primary":true,"due_at":"2026-12-03T08:30:00","custom":"{\"x\":1}","created_at":"2026-12-03T08:30:00","updated_at":"2026-12-03T08:30:00","version":1}"#;
        assert_eq!(SPEC.normalize(sqlite), SPEC.normalize(pg));
        assert_eq!(SPEC.normalize(pg)["custom"]["x"], 1);
        assert!(
            SPEC.json_expr(Backend::Sqlite, "t.")
                .starts_with("json_object('id', t.id")
        );
    }
}
