//! Custom fields: definitions per entity (admin API) and the validation every
//! write path (API, UI, import) runs on a record's `custom` values.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::audit::{self, AuditCtx};
use crate::core::db::schema::{custom_fields, departments, users};
use crate::core::db::{Backend, DbConn, now, write_tx};
use crate::core::error::AppError;
use crate::core::sql::Sql;

/// Entities that carry custom fields.
pub const ENTITIES: &[&str] = &["customers", "contacts", "leads", "followups", "tasks"];

/// Field types.
pub const KINDS: &[&str] = &[
    "text",
    "long_text",
    "integer",
    "decimal",
    "money",
    "date",
    "datetime",
    "single_select",
    "multi_select",
    "boolean",
    "email",
    "phone",
    "url",
    "user",
    "department",
    "customer",
    "contact",
];

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = custom_fields)]
pub struct FieldRow {
    pub id: i64,
    pub entity: String,
    pub key: String,
    pub label_zh: String,
    pub label_en: String,
    pub kind: String,
    pub required: bool,
    pub unique_value: bool,
    pub default_value: String,
    pub options: String,
    pub help: String,
    pub sort_order: i32,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

/// A definition as the API shows it (options and default parsed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDef {
    pub id: i64,
    pub entity: String,
    pub key: String,
    pub label_zh: String,
    pub label_en: String,
    pub kind: String,
    pub required: bool,
    pub unique: bool,
    pub default: Value,
    pub options: Vec<String>,
    pub help: String,
    pub sort_order: i32,
    pub active: bool,
    pub version: i32,
}

impl From<FieldRow> for FieldDef {
    fn from(r: FieldRow) -> Self {
        FieldDef {
            id: r.id,
            entity: r.entity,
            key: r.key,
            label_zh: r.label_zh,
            label_en: r.label_en,
            kind: r.kind,
            required: r.required,
            unique: r.unique_value,
            default: serde_json::from_str(&r.default_value).unwrap_or(Value::Null),
            options: serde_json::from_str(&r.options).unwrap_or_default(),
            help: r.help,
            sort_order: r.sort_order,
            active: r.active,
            version: r.version,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldInput {
    pub entity: String,
    pub key: String,
    pub label_zh: String,
    #[serde(default)]
    pub label_en: String,
    pub kind: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub default: Value,
    #[serde(default)]
    pub options: Vec<String>,
    #[serde(default)]
    pub help: String,
    #[serde(default)]
    pub sort_order: i32,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

fn validate_def(conn: &mut DbConn, input: &FieldInput) -> Result<(), AppError> {
    if !ENTITIES.contains(&input.entity.as_str()) {
        return Err(AppError::invalid(
            "entity",
            format!("one of {}", ENTITIES.join(", ")),
        ));
    }
    let key_ok = !input.key.is_empty()
        && input.key.len() <= 40
        && input.key.starts_with(|c: char| c.is_ascii_lowercase())
        && input
            .key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !key_ok {
        return Err(AppError::invalid(
            "key",
            "lower-case letters, digits and _, starting with a letter, at most 40",
        ));
    }
    if input.label_zh.trim().is_empty()
        || input.label_zh.chars().count() > 100
        || input.label_en.chars().count() > 100
    {
        return Err(AppError::invalid(
            "label_zh",
            "a label of 1 to 100 characters is required",
        ));
    }
    if !KINDS.contains(&input.kind.as_str()) {
        return Err(AppError::invalid(
            "kind",
            format!("one of {}", KINDS.join(", ")),
        ));
    }
    let selects = matches!(input.kind.as_str(), "single_select" | "multi_select");
    if selects && (input.options.is_empty() || input.options.iter().any(|o| o.trim().is_empty())) {
        return Err(AppError::invalid(
            "options",
            "a select field needs a list of non-empty options",
        ));
    }
    if input.unique
        && matches!(
            input.kind.as_str(),
            "long_text" | "boolean" | "multi_select"
        )
    {
        return Err(AppError::invalid(
            "unique",
            format!("a {} field cannot be unique", input.kind),
        ));
    }
    if !input.default.is_null() {
        let def = FieldDef {
            id: 0,
            entity: input.entity.clone(),
            key: input.key.clone(),
            label_zh: input.label_zh.clone(),
            label_en: input.label_en.clone(),
            kind: input.kind.clone(),
            required: false,
            unique: false,
            default: Value::Null,
            options: input.options.clone(),
            help: String::new(),
            sort_order: 0,
            active: true,
            version: 0,
        };
        check_value(conn, &def, &input.default).map_err(|e| match e {
            AppError::Invalid { message, .. } => AppError::invalid("default", message),
            other => other,
        })?;
    }
    Ok(())
}

pub fn list(
    conn: &mut DbConn,
    entity: Option<&str>,
    active_only: bool,
) -> QueryResult<Vec<FieldDef>> {
    // Typed queries on the backend's own connection stay prepared (every
    // create and update reads the definitions); a boxed one was built as
    // SQL text and compiled anew each time.
    let order = (
        custom_fields::entity,
        custom_fields::sort_order,
        custom_fields::id,
    );
    let rows: Vec<FieldRow> = match entity {
        Some(e) => crate::with_backend!(conn, c => custom_fields::table
            .filter(custom_fields::entity.eq(e))
            .order(order)
            .select(FieldRow::as_select())
            .load(c))?,
        None => crate::with_backend!(conn, c => custom_fields::table
            .order(order)
            .select(FieldRow::as_select())
            .load(c))?,
    };
    Ok(rows
        .into_iter()
        .filter(|r| !active_only || r.active)
        .map(FieldDef::from)
        .collect())
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<FieldDef, AppError> {
    custom_fields::table
        .find(id)
        .select(FieldRow::as_select())
        .first(conn)
        .optional()?
        .map(FieldDef::from)
        .ok_or_else(|| AppError::NotFound(format!("custom field {id} not found")))
}

pub fn create(conn: &mut DbConn, ctx: &AuditCtx, input: &FieldInput) -> Result<FieldDef, AppError> {
    validate_def(conn, input)?;
    write_tx(conn, |conn| {
        let exists: i64 = custom_fields::table
            .filter(custom_fields::entity.eq(&input.entity))
            .filter(custom_fields::key.eq(&input.key))
            .count()
            .get_result(conn)?;
        if exists > 0 {
            return Err(AppError::invalid(
                "key",
                format!("{} already has a field `{}`", input.entity, input.key),
            ));
        }
        let t = now();
        let id: i64 = diesel::insert_into(custom_fields::table)
            .values((
                custom_fields::entity.eq(&input.entity),
                custom_fields::key.eq(&input.key),
                custom_fields::label_zh.eq(input.label_zh.trim()),
                custom_fields::label_en.eq(input.label_en.trim()),
                custom_fields::kind.eq(&input.kind),
                custom_fields::required.eq(input.required),
                custom_fields::unique_value.eq(input.unique),
                custom_fields::default_value.eq(input.default.to_string()),
                custom_fields::options
                    .eq(serde_json::to_string(&input.options).unwrap_or_default()),
                custom_fields::help.eq(input.help.trim()),
                custom_fields::sort_order.eq(input.sort_order),
                custom_fields::active.eq(input.active),
                custom_fields::created_at.eq(t),
                custom_fields::updated_at.eq(t),
                custom_fields::version.eq(1),
            ))
            .returning(custom_fields::id)
            .get_result(conn)?;
        let def = get(conn, id)?;
        audit::record(
            conn,
            ctx,
            "create",
            "custom_field",
            Some(id),
            &audit::diff(
                &Value::Null,
                &serde_json::to_value(&def).unwrap_or_default(),
            ),
        )?;
        Ok(def)
    })
}

/// Change labels, flags, options, order and activity; entity, key and kind
/// stay (values already stored depend on them).
pub fn update(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: i64,
    version: i32,
    input: &FieldInput,
) -> Result<FieldDef, AppError> {
    write_tx(conn, |conn| {
        let before = get(conn, id)?;
        if before.entity != input.entity || before.key != input.key || before.kind != input.kind {
            return Err(AppError::invalid(
                "kind",
                "entity, key and kind cannot change; create a new field instead",
            ));
        }
        validate_def(conn, input)?;
        let n = diesel::update(
            custom_fields::table
                .filter(custom_fields::id.eq(id))
                .filter(custom_fields::version.eq(version)),
        )
        .set((
            custom_fields::label_zh.eq(input.label_zh.trim()),
            custom_fields::label_en.eq(input.label_en.trim()),
            custom_fields::required.eq(input.required),
            custom_fields::unique_value.eq(input.unique),
            custom_fields::default_value.eq(input.default.to_string()),
            custom_fields::options.eq(serde_json::to_string(&input.options).unwrap_or_default()),
            custom_fields::help.eq(input.help.trim()),
            custom_fields::sort_order.eq(input.sort_order),
            custom_fields::active.eq(input.active),
            custom_fields::updated_at.eq(now()),
            custom_fields::version.eq(custom_fields::version + 1),
        ))
        .execute(conn)?;
        if n == 0 {
            return Err(AppError::stale(
                &format!("custom field `{}`", before.key),
                &before,
            ));
        }
        let after = get(conn, id)?;
        audit::record(
            conn,
            ctx,
            "update",
            "custom_field",
            Some(id),
            &audit::diff(
                &serde_json::to_value(&before).unwrap_or_default(),
                &serde_json::to_value(&after).unwrap_or_default(),
            ),
        )?;
        Ok(after)
    })
}

pub fn delete(conn: &mut DbConn, ctx: &AuditCtx, id: i64) -> Result<(), AppError> {
    write_tx(conn, |conn| {
        let before = get(conn, id)?;
        diesel::delete(custom_fields::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            ctx,
            "delete",
            "custom_field",
            Some(id),
            &audit::diff(
                &serde_json::to_value(&before).unwrap_or_default(),
                &Value::Null,
            ),
        )?;
        Ok(())
    })
}

fn bad(def: &FieldDef, msg: impl Into<String>) -> AppError {
    AppError::invalid(&format!("custom.{}", def.key), msg)
}

/// Check one value against its definition; returns the value as stored.
pub fn check_value(conn: &mut DbConn, def: &FieldDef, v: &Value) -> Result<Value, AppError> {
    let text = || {
        v.as_str()
            .map(str::trim)
            .ok_or_else(|| bad(def, "must be text"))
    };
    let id = || {
        v.as_i64()
            .ok_or_else(|| bad(def, "must be a record id (integer)"))
    };
    Ok(match def.kind.as_str() {
        "text" | "long_text" => {
            let s = text()?;
            let max = if def.kind == "text" { 500 } else { 10_000 };
            if s.chars().count() > max {
                return Err(bad(def, format!("at most {max} characters")));
            }
            Value::String(s.to_string())
        }
        "integer" | "money" => Value::from(v.as_i64().ok_or_else(|| {
            bad(
                def,
                if def.kind == "money" {
                    "an amount in fen (integer minor units)"
                } else {
                    "must be a whole number"
                },
            )
        })?),
        "decimal" => {
            let s = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.trim().to_string(),
                _ => return Err(bad(def, "must be a decimal number")),
            };
            let digits = s.strip_prefix('-').unwrap_or(&s);
            let ok = !digits.is_empty()
                && digits.split('.').count() <= 2
                && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
                && !digits.starts_with('.')
                && !digits.ends_with('.');
            if !ok {
                return Err(bad(def, format!("`{s}` is not a decimal number")));
            }
            Value::String(s)
        }
        "date" => {
            let s = text()?;
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| bad(def, format!("`{s}` is not a date (YYYY-MM-DD)")))?;
            Value::String(s.to_string())
        }
        "datetime" => {
            let s = text()?;
            let t = parse_datetime(s).ok_or_else(|| {
                bad(
                    def,
                    format!("`{s}` is not a date-time (YYYY-MM-DDTHH:MM:SS, UTC)"),
                )
            })?;
            Value::String(t.format("%Y-%m-%dT%H:%M:%S").to_string())
        }
        "single_select" => {
            let s = text()?;
            if !def.options.iter().any(|o| o == s) {
                return Err(bad(
                    def,
                    format!("`{s}` is not one of: {}", def.options.join(", ")),
                ));
            }
            Value::String(s.to_string())
        }
        "multi_select" => {
            let items = v
                .as_array()
                .ok_or_else(|| bad(def, "must be a list of options"))?;
            let mut out = Vec::new();
            for it in items {
                let s = it.as_str().unwrap_or("");
                if !def.options.iter().any(|o| o == s) {
                    return Err(bad(
                        def,
                        format!("`{s}` is not one of: {}", def.options.join(", ")),
                    ));
                }
                if !out.contains(&s.to_string()) {
                    out.push(s.to_string());
                }
            }
            Value::from(out)
        }
        "boolean" => Value::Bool(
            v.as_bool()
                .ok_or_else(|| bad(def, "must be true or false"))?,
        ),
        "email" => {
            let s = text()?.to_lowercase();
            crate::core::org::users::normalize_email(&s)
                .map_err(|_| bad(def, format!("`{s}` is not an e-mail address")))?;
            Value::String(s)
        }
        "phone" => {
            let s = text()?;
            if !is_phone(s) {
                return Err(bad(def, format!("`{s}` is not a phone number")));
            }
            Value::String(s.to_string())
        }
        "url" => {
            let s = text()?;
            if !is_url(s) {
                return Err(bad(
                    def,
                    format!("`{s}` is not a web address (http:// or https://)"),
                ));
            }
            Value::String(s.to_string())
        }
        "user" => {
            let uid = id()?;
            let n: i64 = users::table.find(uid).count().get_result(conn)?;
            if n == 0 {
                return Err(bad(def, format!("user {uid} does not exist")));
            }
            Value::from(uid)
        }
        "department" => {
            let did = id()?;
            let n: i64 = departments::table.find(did).count().get_result(conn)?;
            if n == 0 {
                return Err(bad(def, format!("department {did} does not exist")));
            }
            Value::from(did)
        }
        // Visibility of referenced records is checked by the caller, which
        // knows the actor (see `RefCheck`).
        "customer" | "contact" => Value::from(id()?),
        other => return Err(bad(def, format!("unknown field type {other}"))),
    })
}

/// A reference field pointing at a record that must exist and be visible.
pub struct RefCheck {
    pub key: String,
    pub entity: &'static str,
    pub id: i64,
}

/// Validate a record's `custom` object against the active definitions:
/// unknown keys and wrong types are refused, required fields checked,
/// defaults filled in on create. Returns the cleaned object and the
/// references the caller must check for visibility.
pub fn validate(
    conn: &mut DbConn,
    defs: &[FieldDef],
    input: &Value,
    creating: bool,
) -> Result<(Map<String, Value>, Vec<RefCheck>), AppError> {
    let empty = Map::new();
    let given = match input {
        Value::Null => &empty,
        Value::Object(m) => m,
        _ => {
            return Err(AppError::invalid(
                "custom",
                "must be an object of field keys to values",
            ));
        }
    };
    for key in given.keys() {
        if !defs.iter().any(|d| d.active && &d.key == key) {
            return Err(AppError::invalid(
                &format!("custom.{key}"),
                format!("unknown custom field `{key}`"),
            ));
        }
    }
    let mut out = Map::new();
    let mut refs = Vec::new();
    for def in defs.iter().filter(|d| d.active) {
        let mut v = given.get(&def.key).cloned().unwrap_or(Value::Null);
        if v.is_null() && creating && !def.default.is_null() {
            v = def.default.clone();
        }
        let blank = v.is_null()
            || v.as_str().is_some_and(|s| s.trim().is_empty())
            || v.as_array().is_some_and(|a| a.is_empty());
        if blank {
            if def.required {
                return Err(bad(def, "is required"));
            }
            continue;
        }
        let clean = check_value(conn, def, &v)?;
        if let Some(entity) = match def.kind.as_str() {
            "customer" => Some("customers"),
            "contact" => Some("contacts"),
            _ => None,
        } {
            refs.push(RefCheck {
                key: def.key.clone(),
                entity,
                id: clean.as_i64().unwrap_or_default(),
            });
        }
        out.insert(def.key.clone(), clean);
    }
    Ok((out, refs))
}

/// Stored custom values of fields that are no longer active (deactivated or
/// deleted definitions) that a change does not mention: taken out of
/// `merged` so validation does not refuse them, and returned to be kept as
/// they are.
pub fn carry_inactive(
    defs: &[FieldDef],
    stored: Option<&Map<String, Value>>,
    changed: Option<&Map<String, Value>>,
    merged: Option<&mut Map<String, Value>>,
) -> Map<String, Value> {
    let mut carried = Map::new();
    let Some(stored) = stored else {
        return carried;
    };
    for (k, v) in stored {
        let active = defs.iter().any(|d| d.active && &d.key == k);
        let mentioned = changed.is_some_and(|c| c.contains_key(k));
        if !active && !mentioned {
            carried.insert(k.clone(), v.clone());
        }
    }
    if let Some(m) = merged {
        for k in carried.keys() {
            m.remove(k);
        }
    }
    carried
}

/// The SQL expression for a custom field's value as text.
pub fn json_text_expr(backend: Backend, key: &str) -> String {
    // `key` is validated at definition time: [a-z0-9_] only.
    match backend {
        Backend::Sqlite => format!("CAST(json_extract(custom, '$.{key}') AS TEXT)"),
        Backend::Postgres => format!("(custom::jsonb ->> '{key}')"),
    }
}

/// Refuse a value that another record of `table` already has for a unique field.
pub fn check_unique(
    conn: &mut DbConn,
    table: &str,
    defs: &[FieldDef],
    values: &Map<String, Value>,
    exclude_id: Option<i64>,
) -> Result<(), AppError> {
    // PostgreSQL's READ COMMITTED would let two writers both pass the check;
    // one lock per table makes them take turns (SQLite's writers already do).
    if let DbConn::Pg(c) = conn
        && defs.iter().any(|d| d.active && d.unique)
    {
        let key = crate::core::db::advisory_key(&format!("unique:{table}"));
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({key})")).execute(c)?;
    }
    for def in defs.iter().filter(|d| d.active && d.unique) {
        let Some(v) = values.get(&def.key) else {
            continue;
        };
        let as_text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut q = Sql::new(conn.backend());
        q.push("SELECT id FROM ").push(table).push(" WHERE ");
        q.push(&json_text_expr(conn.backend(), &def.key))
            .push(" = ")
            .text(as_text.clone());
        if let Some(id) = exclude_id {
            q.push(" AND id <> ").int(id);
        }
        q.push(" LIMIT 1");
        let hit: Vec<IdRow> = q.load(conn)?;
        if !hit.is_empty() {
            return Err(AppError::invalid(
                &format!("custom.{}", def.key),
                format!("`{as_text}` is already used by another record; this field must be unique"),
            ));
        }
    }
    Ok(())
}

#[derive(QueryableByName)]
pub struct IdRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
}

/// `2026-12-03T08:30:00`, with or without seconds, a `Z`, an offset, or a space.
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return in_range(t.naive_utc());
    }
    let s = s.trim_end_matches('Z').replace(' ', "T");
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(&s, f).ok())
    .and_then(in_range)
}

/// Years both backends store (PostgreSQL refuses some that chrono parses),
/// at the microsecond precision they share.
fn in_range(t: NaiveDateTime) -> Option<NaiveDateTime> {
    use chrono::{Datelike, SubsecRound};
    (1..=9999).contains(&t.year()).then(|| t.trunc_subsecs(6))
}

pub fn is_phone(s: &str) -> bool {
    let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
    (5..=20).contains(&digits)
        && s.chars()
            .all(|c| c.is_ascii_digit() || " +-()#".contains(c))
        && s.len() <= 40
}

pub fn is_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://"))
        && s.len() > 10
        && s.len() <= 500
        && !s.contains(char::is_whitespace)
}
