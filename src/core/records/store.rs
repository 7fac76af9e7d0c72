//! The generic store. Every function takes the [`Actor`] and applies its data
//! scope in SQL: a record outside the scope is "not found".

use std::collections::HashMap;

use diesel::prelude::*;
use serde_json::{Map, Value, json};

use super::{EntitySpec, Kind, Record, derived, owner_col, validate};
use crate::core::access::{OwnerFilter, push_scope_on, shares};
use crate::core::audit;
use crate::core::auth::actor::Actor;
use crate::core::db::schema::users;
use crate::core::db::{Backend, DbConn, now, write_tx};
use crate::core::error::AppError;
use crate::core::fields::{self, FieldDef, parse_datetime};
use crate::core::list::ListParams;
use crate::core::listing::{self, Page, Table};
use crate::core::sql::{Bind, Sql};

#[derive(diesel::QueryableByName)]
pub struct JsonRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub data: String,
}

#[derive(diesel::QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

fn not_found(spec: &EntitySpec, id: i64) -> AppError {
    AppError::NotFound(format!("{} {id} not found", spec.singular))
}

/// Records of `spec` selected by the condition `cond` appends after `WHERE`
/// (no scope: callers add it with `push_scope_on`).
pub fn select_where(
    conn: &mut DbConn,
    spec: &EntitySpec,
    cond: impl FnOnce(&mut Sql),
) -> Result<Vec<Record>, AppError> {
    let t = spec.name;
    let mut sql = Sql::new(conn.backend());
    sql.push(&format!(
        "SELECT {} AS data FROM {t} WHERE ",
        spec.json_expr(conn.backend(), &format!("{t}."))
    ));
    cond(&mut sql);
    let rows: Vec<JsonRow> = sql.load(conn)?;
    Ok(rows.iter().map(|r| spec.normalize(&r.data)).collect())
}

/// Is record `id` of `entity` (any table with an owner column) visible to the actor?
pub fn visible(conn: &mut DbConn, actor: &Actor, entity: &str, id: i64) -> Result<bool, AppError> {
    reachable(conn, actor, entity, id, "view")
}

/// May the actor edit record `id` of `entity` (own scope or a writable share)?
pub fn editable(conn: &mut DbConn, actor: &Actor, entity: &str, id: i64) -> Result<bool, AppError> {
    reachable(conn, actor, entity, id, "edit")
}

/// Does the actor's scope for `action` on `entity` reach record `id`
/// (through ownership, or a share, writable unless the action is a read)?
fn reachable(
    conn: &mut DbConn,
    actor: &Actor,
    entity: &str,
    id: i64,
    action: &str,
) -> Result<bool, AppError> {
    if !actor.can(entity, action) {
        return Ok(false);
    }
    let owners = actor.owner_filter(conn, entity, action)?;
    let mut sql = Sql::new(conn.backend());
    sql.push(&format!("SELECT id FROM {entity} WHERE id = "))
        .int(id);
    push_scope_on(
        &mut sql,
        owner_col(entity),
        &owners,
        entity,
        actor.user_id(),
        action != "view",
    );
    Ok(!sql.load::<IdRow>(conn)?.is_empty())
}

/// The record if the actor may perform `action` on it (view scope for reads).
fn scoped(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    id: i64,
    action: &str,
) -> Result<Option<Record>, AppError> {
    let owners = actor.owner_filter(conn, spec.name, action)?;
    let me = actor.user_id();
    Ok(select_where(conn, spec, |sql| {
        sql.push("id = ").int(id);
        push_scope_on(
            sql,
            spec.owner_col,
            &owners,
            spec.name,
            me,
            action != "view",
        );
    })?
    .pop())
}

/// The names of these users, by id.
pub fn user_names(
    conn: &mut DbConn,
    ids: impl Iterator<Item = i64>,
) -> QueryResult<HashMap<i64, String>> {
    let mut ids: Vec<i64> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    if let [id] = ids[..] {
        // The common single owner: a statement diesel caches by type on the
        // backend's own connection (an IN list is built anew each time).
        let name: Option<String> = crate::with_backend!(conn, c => users::table
            .find(id)
            .select(users::name)
            .first(c)
            .optional())?;
        return Ok(name.into_iter().map(|n| (id, n)).collect());
    }
    Ok(users::table
        .filter(users::id.eq_any(&ids))
        .select((users::id, users::name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect())
}

/// Owner names for a set of records.
pub fn with_names(
    conn: &mut DbConn,
    spec: &EntitySpec,
    mut recs: Vec<Record>,
) -> Result<Vec<Record>, AppError> {
    let names = user_names(
        conn,
        recs.iter()
            .filter_map(|r| r.get(spec.owner_col).and_then(Value::as_i64)),
    )?;
    let key = format!("{}_name", spec.owner_col.trim_end_matches("_id"));
    for r in &mut recs {
        let name = r
            .get(spec.owner_col)
            .and_then(Value::as_i64)
            .and_then(|o| names.get(&o).cloned());
        r.insert(key.clone(), name.map_or(Value::Null, Value::from));
    }
    Ok(recs)
}

/// One record the actor may see.
pub fn get(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    id: i64,
) -> Result<Record, AppError> {
    actor.require(spec.name, "view")?;
    let r = scoped(conn, actor, spec, id, "view")?.ok_or_else(|| not_found(spec, id))?;
    Ok(with_names(conn, spec, vec![r])?.remove(0))
}

/// For an action that changes a record: 404 when the actor cannot see it,
/// 403 when they can see but not `action` it.
pub fn writable(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    id: i64,
    action: &str,
) -> Result<Record, AppError> {
    actor.require(spec.name, action)?;
    match scoped(conn, actor, spec, id, action)? {
        Some(r) => Ok(r),
        None => match scoped(conn, actor, spec, id, "view")? {
            Some(_) => Err(AppError::Forbidden(format!(
                "you may view {} {id} but not {action} it",
                spec.singular
            ))),
            None => Err(not_found(spec, id)),
        },
    }
}

/// Is `user` an active user the actor may give `entity` records to for `action`?
pub fn check_owner(
    conn: &mut DbConn,
    actor: &Actor,
    entity: &str,
    field: &str,
    user: i64,
    action: &str,
) -> Result<(), AppError> {
    check_user(conn, field, user)?;
    let allowed = match actor.owner_filter(conn, entity, action)? {
        OwnerFilter::All => true,
        OwnerFilter::Owners(ids) => ids.contains(&user),
        OwnerFilter::Nothing => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::invalid(
            field,
            format!("user {user} is outside the people you may give {entity} to"),
        ))
    }
}

/// Does `user` exist and is active?
pub fn check_user(conn: &mut DbConn, field: &str, user: i64) -> Result<(), AppError> {
    let active: Option<bool> = users::table
        .find(user)
        .select(users::active)
        .first(conn)
        .optional()?;
    match active {
        None => Err(AppError::invalid(
            field,
            format!("user {user} does not exist"),
        )),
        Some(false) => Err(AppError::invalid(field, format!("user {user} is disabled"))),
        Some(true) => Ok(()),
    }
}

/// References in fixed fields (those that changed) and custom values must
/// point at records the actor can see.
fn check_refs(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    rec: &Record,
    before: Option<&Record>,
    custom_refs: Vec<fields::RefCheck>,
) -> Result<(), AppError> {
    for f in spec.fields {
        let Some(id) = rec.get(f.name).and_then(Value::as_i64) else {
            continue;
        };
        if before.and_then(|b| b.get(f.name)) == rec.get(f.name) {
            continue;
        }
        match f.kind {
            Kind::Ref(entity) if !visible(conn, actor, entity, id)? => {
                return Err(AppError::invalid(
                    f.name,
                    format!("{entity} {id} does not exist or is not visible to you"),
                ));
            }
            Kind::User => check_user(conn, f.name, id)?,
            _ => {}
        }
    }
    for r in custom_refs {
        if !visible(conn, actor, r.entity, r.id)? {
            return Err(AppError::invalid(
                &format!("custom.{}", r.key),
                format!(
                    "{} {} does not exist or is not visible to you",
                    r.entity, r.id
                ),
            ));
        }
    }
    Ok(())
}

fn custom_defs(conn: &mut DbConn, spec: &EntitySpec) -> QueryResult<Vec<FieldDef>> {
    fields::list(conn, Some(spec.name), false)
}

fn audit_view(r: &Record) -> Value {
    let mut v = r.clone();
    for k in ["updated_at", "version", "updated_by"] {
        v.remove(k);
    }
    v.retain(|k, _| !k.ends_with("_name") || k == "name" || k == "company_name");
    Value::Object(v)
}

/// Duplicates among other records: those the actor may see, and how many
/// more exist that they may not.
fn duplicates(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    rec: &Record,
    exclude: Option<i64>,
) -> Result<(Vec<Record>, i64), AppError> {
    let Some(d) = spec.dedupe else {
        return Ok((vec![], 0));
    };
    let keys: HashMap<&str, String> = derived(spec, rec).into_iter().collect();
    let name = keys.get("dedupe_name").cloned().unwrap_or_default();
    let phone = keys.get("dedupe_phone").cloned().unwrap_or_default();
    let email = d
        .email
        .and_then(|e| rec.get(e).and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    if name.is_empty() && phone.is_empty() && email.is_empty() {
        return Ok((vec![], 0));
    }
    let owners = actor.owner_filter(conn, spec.name, "view")?;
    let me = actor.user_id();
    let cond = |sql: &mut Sql, scoped: Option<&OwnerFilter>| {
        let mut keys: Vec<(&str, String)> = Vec::new();
        if !name.is_empty() {
            keys.push(("dedupe_name", name.clone()));
        }
        if !phone.is_empty() {
            keys.push(("dedupe_phone", phone.clone()));
        }
        if let (false, Some(col)) = (email.is_empty(), d.email) {
            keys.push((col, email.clone()));
        }
        crate::core::sql::push_any_equal(sql, spec.name, &keys);
        if let Some(id) = exclude {
            sql.push(" AND id <> ").int(id);
        }
        if let Some(o) = scoped {
            push_scope_on(sql, spec.owner_col, o, spec.name, me, false);
        }
        sql.push(" ORDER BY id LIMIT 20");
    };
    let all = select_where(conn, spec, |s| cond(s, None))?;
    if all.is_empty() {
        return Ok((vec![], 0));
    }
    let seen = select_where(conn, spec, |s| cond(s, Some(&owners)))?;
    let hidden = (all.len() - seen.len()) as i64;
    Ok((with_names(conn, spec, seen)?, hidden))
}

/// The 409 offering the similar records found.
pub fn duplicate_error(
    singular: &str,
    titles: Vec<String>,
    candidates: Value,
    hidden: i64,
) -> AppError {
    let message = if titles.is_empty() {
        format!(
            "{hidden} similar {singular} record(s) exist, owned by colleagues; ask an administrator, or confirm to create anyway"
        )
    } else {
        format!(
            "similar {singular} record(s) exist: {}; open one of them, or confirm to go ahead anyway",
            titles.join(", ")
        )
    };
    AppError::Duplicate {
        message,
        candidates,
        hidden,
    }
}

fn check_duplicates(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    rec: &Record,
    exclude: Option<i64>,
) -> Result<(), AppError> {
    let (found, hidden) = duplicates(conn, actor, spec, rec, exclude)?;
    if found.is_empty() && hidden == 0 {
        return Ok(());
    }
    let titles = found
        .iter()
        .map(|r| {
            r.get(spec.title)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    Err(duplicate_error(
        spec.singular,
        titles,
        Value::from(found),
        hidden,
    ))
}

/// `rec` with the identifying fields that did not change blanked out, so an
/// update is checked only against what it changes: a duplicate that was
/// confirmed before does not come back with every later edit.
fn changed_identity(spec: &EntitySpec, rec: &Record, before: &Record) -> Record {
    let mut r = rec.clone();
    let Some(d) = spec.dedupe else { return r };
    let keys = |x: &Record| -> HashMap<&str, String> { derived(spec, x).into_iter().collect() };
    let (new, old) = (keys(rec), keys(before));
    if new.get("dedupe_name") == old.get("dedupe_name")
        && let Some(n) = d.name
    {
        r.insert(n.into(), Value::from(""));
    }
    if new.get("dedupe_phone") == old.get("dedupe_phone") {
        for p in d.phones {
            r.insert(p.to_string(), Value::from(""));
        }
    }
    if let Some(e) = d.email
        && rec.get(e) == before.get(e)
    {
        r.insert(e.into(), Value::from(""));
    }
    r
}

/// Bind a stored value of `kind`.
fn push_value(sql: &mut Sql, kind: Kind, v: &Value) {
    match kind {
        Kind::Bool => {
            sql.bind(Bind::Bool(v.as_bool().unwrap_or(false)));
        }
        Kind::Int | Kind::Ref(_) | Kind::User => match v.as_i64() {
            Some(n) => {
                sql.int(n);
            }
            None => {
                sql.push("NULL");
            }
        },
        Kind::DateTime => match v.as_str().and_then(parse_datetime) {
            Some(t) => {
                sql.ts(t);
            }
            None => {
                sql.push("NULL");
            }
        },
        Kind::Tags | Kind::Json => {
            sql.text(v.to_string());
        }
        _ => {
            sql.text(v.as_str().unwrap_or("").to_string());
        }
    }
}

/// The stored columns of a cleaned record with their kinds, owner first.
fn stored<'a>(spec: &'a EntitySpec, rec: &'a Record) -> Vec<(&'static str, Kind, &'a Value)> {
    let null = &Value::Null;
    let mut cols = vec![(
        spec.owner_col,
        Kind::User,
        rec.get(spec.owner_col).unwrap_or(null),
    )];
    for f in spec.fields {
        cols.push((f.name, f.kind, rec.get(f.name).unwrap_or(null)));
    }
    cols
}

/// A cleaned record ready to insert as is, with its times.
pub struct NewRow<'a> {
    pub rec: &'a Record,
    pub custom: &'a Map<String, Value>,
    pub by: Option<i64>,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

/// `INSERT INTO <table> (<columns>) VALUES ` for `spec`.
fn insert_head(sql: &mut Sql, spec: &EntitySpec, sample: &Record) {
    let mut names: Vec<&str> = stored(spec, sample).iter().map(|c| c.0).collect();
    names.extend(derived(spec, sample).iter().map(|e| e.0));
    names.extend([
        "custom",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
        "version",
    ]);
    sql.push(&format!(
        "INSERT INTO {} ({}) VALUES ",
        spec.name,
        names.join(", ")
    ));
}

/// `(v1, v2, ...)` of one row, in [`insert_head`]'s column order.
fn push_row(sql: &mut Sql, spec: &EntitySpec, row: &NewRow) {
    sql.push("(");
    for (i, (_, kind, v)) in stored(spec, row.rec).iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        push_value(sql, *kind, v);
    }
    for (_, v) in derived(spec, row.rec) {
        sql.push(", ").text(v);
    }
    sql.push(", ")
        .text(Value::Object(row.custom.clone()).to_string());
    for _ in 0..2 {
        sql.push(", ");
        push_value(sql, Kind::User, &row.by.map_or(Value::Null, Value::from));
    }
    sql.push(", ")
        .ts(row.created_at)
        .push(", ")
        .ts(row.updated_at)
        .push(", 1)");
}

/// Insert a cleaned record as is (create, lead conversion): no checks, no
/// audit; returns the new id.
pub fn insert(
    conn: &mut DbConn,
    spec: &EntitySpec,
    rec: &Record,
    custom: &Map<String, Value>,
    by: Option<i64>,
) -> Result<i64, AppError> {
    let t = now();
    let mut sql = Sql::new(conn.backend());
    insert_head(&mut sql, spec, rec);
    push_row(
        &mut sql,
        spec,
        &NewRow {
            rec,
            custom,
            by,
            created_at: t,
            updated_at: t,
        },
    );
    sql.push(" RETURNING id");
    sql.load::<IdRow>(conn)?
        .first()
        .map(|r| r.id)
        .ok_or_else(|| AppError::Internal(format!("insert into {} returned no id", spec.name)))
}

/// The statement inserting many cleaned records at once (demo data); all
/// rows must have the fields of the first. `None` for no rows. Built apart
/// from running it, so a bulk load can build the next statement on another
/// thread while one runs.
pub fn insert_many_sql(backend: Backend, spec: &EntitySpec, rows: &[NewRow]) -> Option<Sql> {
    let first = rows.first()?;
    let mut sql = Sql::new(backend);
    insert_head(&mut sql, spec, first.rec);
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        push_row(&mut sql, spec, row);
    }
    Some(sql)
}

/// A validated new record, its custom values and the definitions they were checked against.
type Prepared = (Record, Map<String, Value>, Vec<FieldDef>);

/// Validate `input` for a create: fields, owner, references, custom values
/// (the create path and imports).
pub fn prepare_new(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    input: &Map<String, Value>,
) -> Result<Prepared, AppError> {
    let (mut rec, custom_in) = validate(spec, input)?;
    if let Some(prepare) = spec.prepare {
        prepare(conn, actor, &mut rec, None)?;
    }
    let owner = rec
        .get(spec.owner_col)
        .and_then(Value::as_i64)
        .unwrap_or(actor.user_id());
    rec.insert(spec.owner_col.to_string(), Value::from(owner));
    if owner != actor.user_id() {
        check_owner(conn, actor, spec.name, spec.owner_col, owner, "create")?;
    }
    let defs = custom_defs(conn, spec)?;
    let (custom, refs) = fields::validate(conn, &defs, &custom_in, true)?;
    check_refs(conn, actor, spec, &rec, None, refs)?;
    Ok((rec, custom, defs))
}

/// Create a record. Similar records make it a 409 unless `confirm`; unique
/// custom fields are enforced outright.
pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    input: &Map<String, Value>,
    confirm: bool,
) -> Result<Record, AppError> {
    actor.require(spec.name, "create")?;
    let (rec, custom, defs) = prepare_new(conn, actor, spec, input)?;
    if !confirm {
        check_duplicates(conn, actor, spec, &rec, None)?;
    }
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        fields::check_unique(conn, spec.name, &defs, &custom, None)?;
        let id = insert(conn, spec, &rec, &custom, Some(actor.user_id()))?;
        let after = read(conn, spec, id)?;
        if let Some(hook) = spec.after_write {
            hook(conn, &ctx, None, Some(&after))?;
        }
        audit::record(
            conn,
            &ctx,
            "create",
            spec.name,
            Some(id),
            &audit::diff(&Value::Null, &audit_view(&after)),
        )?;
        Ok(after)
    })
}

/// A record by id, without a scope check (inside a write already checked).
pub fn read(conn: &mut DbConn, spec: &EntitySpec, id: i64) -> Result<Record, AppError> {
    let r = select_where(conn, spec, |sql| {
        sql.push("id = ").int(id);
    })?
    .pop()
    .ok_or_else(|| not_found(spec, id))?;
    Ok(with_names(conn, spec, vec![r])?.remove(0))
}

/// The client-settable state of a stored record, to merge a change into.
fn input_of(spec: &EntitySpec, r: &Record) -> Map<String, Value> {
    let mut m = Map::new();
    for f in spec.fields.iter().filter(|f| f.input) {
        m.insert(
            f.name.to_string(),
            r.get(f.name).cloned().unwrap_or(Value::Null),
        );
    }
    m.insert(
        spec.owner_col.to_string(),
        r.get(spec.owner_col).cloned().unwrap_or(Value::Null),
    );
    m.insert(
        "custom".into(),
        r.get("custom").cloned().unwrap_or(json!({})),
    );
    m
}

/// Change a record from the version the client read. `replace` resets the
/// fields left out (PUT); otherwise only the given fields change (PATCH),
/// custom values key by key (null removes one). A stale version is a 409
/// with the current record.
#[expect(clippy::too_many_arguments, reason = "one write request's parts")]
pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    id: i64,
    version: i32,
    changes: &Map<String, Value>,
    confirm: bool,
    replace: bool,
) -> Result<Record, AppError> {
    let before = writable(conn, actor, spec, id, "edit")?;
    if before.get("version").and_then(Value::as_i64) != Some(i64::from(version)) {
        return Err(AppError::stale(&spec.title_of(&before), &before));
    }
    let mut merged = if replace {
        Map::new()
    } else {
        input_of(spec, &before)
    };
    for (k, v) in changes {
        if k == "custom" && !replace && !v.is_null() {
            let Some(new) = v.as_object() else {
                return Err(AppError::invalid(
                    "custom",
                    "must be an object of field keys to values",
                ));
            };
            let cur = merged.entry("custom").or_insert_with(|| json!({}));
            if let Some(cur) = cur.as_object_mut() {
                for (ck, cv) in new {
                    cur.insert(ck.clone(), cv.clone());
                }
            }
        } else {
            merged.insert(k.clone(), v.clone());
        }
    }
    if let Some(Value::Object(c)) = merged.get_mut("custom") {
        c.retain(|_, v| !v.is_null());
    }
    let defs = custom_defs(conn, spec)?;
    let carried = fields::carry_inactive(
        &defs,
        before.get("custom").and_then(Value::as_object),
        changes.get("custom").and_then(Value::as_object),
        merged.get_mut("custom").and_then(Value::as_object_mut),
    );
    let (mut rec, custom_in) = validate(spec, &merged)?;
    // Server-kept fields stay as they are.
    for f in spec.fields.iter().filter(|f| !f.input) {
        rec.insert(
            f.name.to_string(),
            before.get(f.name).cloned().unwrap_or(Value::Null),
        );
    }
    if let Some(prepare) = spec.prepare {
        prepare(conn, actor, &mut rec, Some(&before))?;
    }
    if rec.get(spec.owner_col).is_none_or(Value::is_null) {
        rec.insert(
            spec.owner_col.to_string(),
            before.get(spec.owner_col).cloned().unwrap_or(Value::Null),
        );
    }
    if rec.get(spec.owner_col) != before.get(spec.owner_col) {
        actor.require(spec.name, "transfer")?;
        if let Some(o) = rec.get(spec.owner_col).and_then(Value::as_i64) {
            check_owner(conn, actor, spec.name, spec.owner_col, o, "transfer")?;
        }
    }
    let (mut custom, refs) = fields::validate(conn, &defs, &custom_in, false)?;
    custom.extend(carried);
    check_refs(conn, actor, spec, &rec, Some(&before), refs)?;
    if !confirm {
        check_duplicates(
            conn,
            actor,
            spec,
            &changed_identity(spec, &rec, &before),
            Some(id),
        )?;
    }
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        fields::check_unique(conn, spec.name, &defs, &custom, Some(id))?;
        let mut sql = Sql::new(conn.backend());
        sql.push(&format!("UPDATE {} SET ", spec.name));
        for (name, kind, v) in stored(spec, &rec) {
            // Server-kept fields are written only when this change sets them
            // (a finished task's time), never copied back from the read, so
            // a concurrent system update (follow-up dates) is not undone.
            if spec.field(name).is_some_and(|f| !f.input) && before.get(name) == Some(v) {
                continue;
            }
            sql.push(&format!("{name} = "));
            push_value(&mut sql, kind, v);
            sql.push(", ");
        }
        for (name, v) in derived(spec, &rec) {
            sql.push(&format!("{name} = ")).text(v).push(", ");
        }
        sql.push("custom = ")
            .text(Value::Object(custom.clone()).to_string())
            .push(", updated_by = ")
            .int(actor.user_id())
            .push(", updated_at = ")
            .ts(now())
            .push(", version = version + 1 WHERE id = ")
            .int(id)
            .push(" AND version = ")
            .int(i64::from(version));
        if sql.execute(conn)? == 0 {
            let current = read(conn, spec, id)?;
            return Err(AppError::stale(&spec.title_of(&current), &current));
        }
        let after = read(conn, spec, id)?;
        if let Some(hook) = spec.after_write {
            hook(conn, &ctx, Some(&before), Some(&after))?;
        }
        audit::record(
            conn,
            &ctx,
            "update",
            spec.name,
            Some(id),
            &audit::diff(&audit_view(&before), &audit_view(&after)),
        )?;
        Ok(after)
    })
}

/// Delete a record at the version the client read, with its shares and attachments.
pub fn delete(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    id: i64,
    version: i32,
) -> Result<(), AppError> {
    let before = writable(conn, actor, spec, id, "delete")?;
    if before.get("version").and_then(Value::as_i64) != Some(i64::from(version)) {
        return Err(AppError::stale(&spec.title_of(&before), &before));
    }
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        crate::core::attachments::delete_for(conn, &ctx, spec.name, id)?;
        let mut sql = Sql::new(conn.backend());
        sql.push(&format!("DELETE FROM {} WHERE id = ", spec.name))
            .int(id)
            .push(" AND version = ")
            .int(i64::from(version));
        if sql.execute(conn)? == 0 {
            return Err(AppError::Conflict(format!(
                "{} changed while deleting; reload and try again",
                spec.title_of(&before)
            )));
        }
        shares::remove_all(conn, spec.name, id)?;
        crate::core::follows::remove_all(conn, spec.name, id)?;
        if let Some(hook) = spec.after_write {
            hook(conn, &ctx, Some(&before), None)?;
        }
        audit::record(
            conn,
            &ctx,
            "delete",
            spec.name,
            Some(id),
            &audit::diff(&audit_view(&before), &Value::Null),
        )?;
        Ok(())
    })
}

/// Delete, with an audit row each, the records of `spec` whose `column`
/// points at a parent being deleted (a customer's contacts), with their
/// attachments, shares and follows. Call inside the parent's transaction.
pub fn delete_children(
    conn: &mut DbConn,
    ctx: &audit::AuditCtx,
    spec: &EntitySpec,
    column: &str,
    parent_id: i64,
) -> Result<usize, AppError> {
    let children = select_where(conn, spec, |sql| {
        sql.push(&format!("{column} = ")).int(parent_id);
    })?;
    for child in &children {
        let Some(id) = child.get("id").and_then(Value::as_i64) else {
            continue;
        };
        crate::core::attachments::delete_for(conn, ctx, spec.name, id)?;
        shares::remove_all(conn, spec.name, id)?;
        crate::core::follows::remove_all(conn, spec.name, id)?;
        audit::record(
            conn,
            ctx,
            "delete",
            spec.name,
            Some(id),
            &audit::diff(&audit_view(child), &Value::Null),
        )?;
    }
    let mut sql = Sql::new(conn.backend());
    sql.push(&format!("DELETE FROM {} WHERE {column} = ", spec.name))
        .int(parent_id);
    sql.execute(conn)?;
    Ok(children.len())
}

/// The value of a sort field on a record, as a list cursor stores it.
fn sort_value(spec: &EntitySpec, row: &JsonRow, field: &str) -> Value {
    let r = spec.normalize(&row.data);
    match field.strip_prefix("custom.") {
        Some(k) => match r.get("custom").and_then(|c| c.get(k)).cloned() {
            Some(v @ (Value::String(_) | Value::Number(_))) => v,
            Some(Value::Null) | None => Value::Null,
            Some(other) => Value::from(other.to_string()),
        },
        None => match r.get(field).cloned().unwrap_or(Value::Null) {
            Value::Bool(b) => Value::Bool(b),
            v => v,
        },
    }
}

/// A page of the records the actor may see.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &'static EntitySpec,
    p: &ListParams,
) -> Result<Page<Record>, AppError> {
    list_for(conn, actor, spec, p, "view")
}

/// A page of the records the actor may `action` (view, export): that
/// action's data scope applies.
pub fn list_for(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &'static EntitySpec,
    p: &ListParams,
    action: &str,
) -> Result<Page<Record>, AppError> {
    actor.require(spec.name, "view")?;
    actor.require(spec.name, action)?;
    let owners = actor.owner_filter(conn, spec.name, action)?;
    let defs = custom_defs(conn, spec)?;
    let p = crate::core::views::resolve(conn, actor, spec.name, p)?;
    let table = Table {
        name: spec.name,
        owner_col: spec.owner_col,
        default_sort: spec.default_sort,
    };
    let columns = spec.columns();
    let t = spec.name;
    let select_inner = format!(
        "{} AS data",
        spec.json_expr(conn.backend(), &format!("{t}."))
    );
    let sort_value = |r: &JsonRow, f: &str| sort_value(spec, r, f);
    let id_of = |r: &JsonRow| {
        spec.normalize(&r.data)
            .get("id")
            .and_then(Value::as_i64)
            .unwrap_or_default()
    };
    let lspec = listing::Spec {
        table: &table,
        columns: &columns,
        defs: &defs,
        extra_views: spec.extra_views,
        select_inner: &select_inner,
        select_outer: &select_inner,
        sort_value: &sort_value,
        id_of: &id_of,
    };
    let page = listing::page(conn, actor, &p, &owners, &lspec)?;
    let items = page.items.iter().map(|r| spec.normalize(&r.data)).collect();
    Ok(Page {
        items: with_names(conn, spec, items)?,
        next_cursor: page.next_cursor,
        total: page.total,
        sort: page.sort,
    })
}

/// Global search: the first few records matching `q` that the actor may see.
pub fn search(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &'static EntitySpec,
    q: &str,
    limit: i64,
) -> Result<Vec<Record>, AppError> {
    if !actor.can(spec.name, "view") {
        return Ok(vec![]);
    }
    let p = ListParams {
        q: Some(q.to_string()),
        limit: Some(limit),
        ..Default::default()
    };
    Ok(list(conn, actor, spec, &p)?.items)
}

/// Collaborators of a record the actor may see.
pub fn collaborators(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    id: i64,
) -> Result<Vec<shares::Share>, AppError> {
    get(conn, actor, spec, id)?;
    Ok(shares::list(conn, spec.name, id)?)
}

/// Share a record the actor may edit with a colleague (`Some`), or stop
/// sharing it (`None`).
pub fn set_collaborator(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    id: i64,
    user_id: i64,
    share: Option<(bool, Option<chrono::NaiveDateTime>)>,
) -> Result<Vec<shares::Share>, AppError> {
    writable(conn, actor, spec, id, "edit")?;
    match share {
        Some((can_write, until)) => shares::share(
            conn,
            &actor.audit(),
            spec.name,
            id,
            user_id,
            can_write,
            until,
        )?,
        None => shares::unshare(conn, &actor.audit(), spec.name, id, user_id)?,
    }
    Ok(shares::list(conn, spec.name, id)?)
}
