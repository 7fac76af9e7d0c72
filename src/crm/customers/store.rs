//! Customer queries. Every function takes the [`Actor`] and applies its data
//! scope in SQL: a customer outside the scope is "not found".

use diesel::prelude::*;
use serde_json::{Value, json};

use super::model::{
    CleanCustomer, Customer, CustomerId, CustomerInput, CustomerRow, NewCustomer, validate,
};
use crate::core::access::{OwnerFilter, push_scope, shares};
use crate::core::audit;
use crate::core::auth::actor::Actor;
use crate::core::db::schema::customers;
use crate::core::db::{Backend, DbConn, now, write_tx};
use crate::core::error::AppError;
use crate::core::fields::{self, FieldDef};
use crate::core::list::{ColKind, Column, ListParams};
use crate::core::listing::{self, Table};
use crate::core::sql::Sql;
use crate::core::text;

/// Permission module, share entity and audit entity name.
pub const ENTITY: &str = "customers";

/// What lists may filter and sort by. Sortable columns have an index ending
/// in id; categorical ones are indexed together with the default sort instead.
pub const COLUMNS: &[Column] = &[
    col("id", ColKind::Int, true, false),
    col("name", ColKind::Text, true, false),
    col("short_name", ColKind::Text, false, false),
    col("kind", ColKind::Text, false, false),
    col("industry", ColKind::Text, false, false),
    col("level", ColKind::Text, false, false),
    col("source", ColKind::Text, false, false),
    col("status", ColKind::Text, false, false),
    col("phone", ColKind::Text, false, false),
    col("mobile", ColKind::Text, false, false),
    col("email", ColKind::Text, false, false),
    col("website", ColKind::Text, false, false),
    col("province", ColKind::Text, false, false),
    col("city", ColKind::Text, false, false),
    col("district", ColKind::Text, false, false),
    col("address", ColKind::Text, false, false),
    col("tags", ColKind::Text, false, false),
    col("owner_id", ColKind::Int, false, true),
    col("locked", ColKind::Bool, false, false),
    col("deal_status", ColKind::Text, false, false),
    col("last_follow_up_at", ColKind::Time, true, true),
    col("next_follow_up_at", ColKind::Time, true, true),
    col("created_by", ColKind::Int, false, true),
    col("created_at", ColKind::Time, true, false),
    col("updated_at", ColKind::Time, true, false),
    col("pool_id", ColKind::Int, false, true),
    col("pooled_at", ColKind::Time, false, true),
    col("owner_since", ColKind::Time, false, true),
    col("last_opportunity_at", ColKind::Time, false, true),
];

const fn col(name: &'static str, kind: ColKind, sortable: bool, nullable: bool) -> Column {
    Column {
        name,
        expr: name,
        kind,
        sortable,
        nullable,
    }
}

pub const DEFAULT_SORT: &str = "-updated_at";

fn custom_defs(conn: &mut DbConn) -> QueryResult<Vec<FieldDef>> {
    fields::list(conn, Some(ENTITY), false)
}

/// Owner names for a set of customers.
fn with_owner_names(conn: &mut DbConn, rows: Vec<CustomerRow>) -> QueryResult<Vec<Customer>> {
    let names =
        crate::core::records::store::user_names(conn, rows.iter().filter_map(|r| r.owner_id))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let owner = r.owner_id.and_then(|o| names.get(&o).cloned());
            let mut c = Customer::from(r);
            c.owner_name = owner;
            c
        })
        .collect())
}

/// The row if the actor may perform `action` on it (view scope for reads).
fn scoped_row(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    action: &str,
) -> Result<Option<CustomerRow>, AppError> {
    let owners = actor.owner_filter(conn, ENTITY, action)?;
    let mut sql = Sql::new(conn.backend());
    sql.push("SELECT * FROM customers WHERE id = ").int(id);
    push_scope(&mut sql, &owners, ENTITY, actor.user_id(), action != "view");
    Ok(sql.load::<CustomerRow>(conn)?.into_iter().next())
}

fn not_found(id: i64) -> AppError {
    AppError::NotFound(format!("customer {id} not found"))
}

/// One customer the actor may see.
pub fn get(conn: &mut DbConn, actor: &Actor, id: CustomerId) -> Result<Customer, AppError> {
    actor.require(ENTITY, "view")?;
    let row = scoped_row(conn, actor, id.0, "view")?.ok_or_else(|| not_found(id.0))?;
    Ok(with_owner_names(conn, vec![row])?.remove(0))
}

/// For an action that changes a customer: 404 when the actor cannot see it,
/// 403 when they can see but not `action` it.
fn writable_row(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    action: &str,
) -> Result<CustomerRow, AppError> {
    actor.require(ENTITY, action)?;
    match scoped_row(conn, actor, id, action)? {
        Some(row) => Ok(row),
        None => match scoped_row(conn, actor, id, "view")? {
            Some(_) => Err(AppError::Forbidden(format!(
                "you may view customer {id} but not {action} it"
            ))),
            None => Err(not_found(id)),
        },
    }
}

/// Is `owner` an active user the actor may give customers to for `action`?
fn check_owner(conn: &mut DbConn, actor: &Actor, owner: i64, action: &str) -> Result<(), AppError> {
    crate::core::records::store::check_owner(conn, actor, ENTITY, "owner_id", owner, action)
}

/// Duplicates of `clean` among other customers: those the actor may see,
/// and how many more exist that they may not.
fn duplicates(
    conn: &mut DbConn,
    actor: &Actor,
    clean: &CleanCustomer,
    exclude: Option<i64>,
) -> Result<(Vec<Customer>, i64), AppError> {
    let build = |backend: Backend, scoped: Option<&OwnerFilter>| {
        let mut sql = Sql::new(backend);
        let mut keys = Vec::new();
        if !clean.dedupe_name.is_empty() {
            keys.push(("dedupe_name", clean.dedupe_name.clone()));
        }
        if !clean.dedupe_phone.is_empty() {
            keys.push(("dedupe_phone", clean.dedupe_phone.clone()));
        }
        if !clean.email.is_empty() {
            keys.push(("email", clean.email.clone()));
        }
        sql.push("SELECT * FROM customers WHERE ");
        crate::core::sql::push_any_equal(&mut sql, "customers", &keys);
        if let Some(id) = exclude {
            sql.push(" AND id <> ").int(id);
        }
        if let Some(owners) = scoped {
            push_scope(&mut sql, owners, ENTITY, actor.user_id(), false);
        }
        sql.push(" ORDER BY id LIMIT 20");
        sql
    };
    if clean.dedupe_name.is_empty() && clean.dedupe_phone.is_empty() && clean.email.is_empty() {
        return Ok((vec![], 0));
    }
    // Most writes have no duplicate: ask first with one statement of fixed
    // text, which the connection keeps prepared (the full query below is
    // built as text and prepared anew, a tenth of a create's time). An empty
    // key binds NULL, which equals nothing.
    let key = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let probe = customers::table
        .select(customers::id)
        .filter(
            customers::dedupe_name
                .nullable()
                .eq(key(&clean.dedupe_name))
                .or(customers::dedupe_phone
                    .nullable()
                    .eq(key(&clean.dedupe_phone)))
                .or(customers::email.nullable().eq(key(&clean.email))),
        )
        .filter(customers::id.ne(exclude.unwrap_or(0)))
        .limit(1);
    let any: Option<i64> = crate::with_backend!(conn, c => probe.get_result(c).optional())?;
    if any.is_none() {
        return Ok((vec![], 0));
    }
    let all: Vec<CustomerRow> = build(conn.backend(), None).load(conn)?;
    if all.is_empty() {
        return Ok((vec![], 0));
    }
    let owners = actor.owner_filter(conn, ENTITY, "view")?;
    let visible: Vec<CustomerRow> = build(conn.backend(), Some(&owners)).load(conn)?;
    let hidden = (all.len() - visible.len()) as i64;
    Ok((with_owner_names(conn, visible)?, hidden))
}

fn duplicate_error(found: Vec<Customer>, hidden: i64) -> AppError {
    let names: Vec<String> = found.iter().map(|c| c.name.clone()).collect();
    let message = if found.is_empty() {
        format!(
            "{hidden} customer(s) with the same name, phone or e-mail exist, owned by colleagues; ask an administrator, or confirm to create anyway"
        )
    } else {
        format!(
            "similar customer(s) exist: {}; open one of them, or confirm to create anyway",
            names.join(", ")
        )
    };
    AppError::Duplicate {
        message,
        candidates: serde_json::to_value(&found).unwrap_or_default(),
        hidden,
    }
}

/// Validate custom values and the references they hold.
fn clean_custom(
    conn: &mut DbConn,
    actor: &Actor,
    defs: &[FieldDef],
    custom: &Value,
    creating: bool,
) -> Result<serde_json::Map<String, Value>, AppError> {
    let (values, refs) = fields::validate(conn, defs, custom, creating)?;
    for r in refs {
        let visible = crate::core::records::store::visible(conn, actor, r.entity, r.id)?;
        if !visible {
            return Err(AppError::invalid(
                &format!("custom.{}", r.key),
                format!(
                    "{} {} does not exist or is not visible to you",
                    r.entity, r.id
                ),
            ));
        }
    }
    Ok(values)
}

fn audit_view(c: &Customer) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        for k in ["updated_at", "version", "owner_name", "updated_by"] {
            o.remove(k);
        }
    }
    v
}

/// Create a customer. Similar existing customers make it a 409 unless
/// `confirm_duplicates`; unique custom fields are enforced outright.
pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    input: &CustomerInput,
    confirm_duplicates: bool,
) -> Result<Customer, AppError> {
    actor.require(ENTITY, "create")?;
    let mut clean = validate(input)?;
    let owner = clean.owner_id.unwrap_or(actor.user_id());
    clean.owner_id = Some(owner);
    if owner != actor.user_id() {
        check_owner(conn, actor, owner, "create")?;
    }
    let defs = custom_defs(conn)?;
    let custom = clean_custom(conn, actor, &defs, &input.custom, true)?;
    if !confirm_duplicates {
        let (found, hidden) = duplicates(conn, actor, &clean, None)?;
        if !found.is_empty() || hidden > 0 {
            return Err(duplicate_error(found, hidden));
        }
    }
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        fields::check_unique(conn, "customers", &defs, &custom, None)?;
        let t = now();
        let row = NewCustomer::from_clean(
            clean.clone(),
            Value::Object(custom.clone()).to_string(),
            Some(actor.user_id()),
            t,
            t,
            None,
        );
        // On the backend's own connection, one statement: diesel's
        // multi-backend wrapper builds the SQL text of every query anew.
        let row: CustomerRow = crate::with_backend!(conn, c => diesel::insert_into(customers::table)
            .values(&row)
            .returning(CustomerRow::as_returning())
            .get_result(c))?;
        let id = row.id;
        let c = with_owner_names(conn, vec![row])?.remove(0);
        audit::record(
            conn,
            &ctx,
            "create",
            ENTITY,
            Some(id),
            &audit::diff(&Value::Null, &audit_view(&c)),
        )?;
        Ok(c)
    })
}

type Values<'a> = (
    diesel::dsl::Eq<customers::name, &'a str>,
    diesel::dsl::Eq<customers::short_name, &'a str>,
    diesel::dsl::Eq<customers::kind, &'a str>,
    diesel::dsl::Eq<customers::industry, &'a str>,
    diesel::dsl::Eq<customers::level, &'a str>,
    diesel::dsl::Eq<customers::source, &'a str>,
    diesel::dsl::Eq<customers::status, &'a str>,
    diesel::dsl::Eq<customers::phone, &'a str>,
    diesel::dsl::Eq<customers::mobile, &'a str>,
    diesel::dsl::Eq<customers::email, &'a str>,
    diesel::dsl::Eq<customers::website, &'a str>,
    diesel::dsl::Eq<customers::province, &'a str>,
    diesel::dsl::Eq<customers::city, &'a str>,
    diesel::dsl::Eq<customers::district, &'a str>,
    diesel::dsl::Eq<customers::address, &'a str>,
    diesel::dsl::Eq<customers::tags, String>,
    diesel::dsl::Eq<customers::notes, &'a str>,
    diesel::dsl::Eq<customers::owner_id, Option<i64>>,
    diesel::dsl::Eq<customers::locked, bool>,
    diesel::dsl::Eq<customers::deal_status, &'a str>,
    diesel::dsl::Eq<customers::next_follow_up_at, Option<chrono::NaiveDateTime>>,
    diesel::dsl::Eq<customers::custom, String>,
    diesel::dsl::Eq<customers::dedupe_name, &'a str>,
    diesel::dsl::Eq<customers::dedupe_phone, &'a str>,
    diesel::dsl::Eq<customers::search_text, &'a str>,
    diesel::dsl::Eq<customers::search_cjk, &'a str>,
);

/// The columns an update sets from a validated customer.
fn values<'a>(c: &'a CleanCustomer, custom: &serde_json::Map<String, Value>) -> Values<'a> {
    (
        customers::name.eq(c.name.as_str()),
        customers::short_name.eq(c.short_name.as_str()),
        customers::kind.eq(c.kind.as_str()),
        customers::industry.eq(c.industry.as_str()),
        customers::level.eq(c.level.as_str()),
        customers::source.eq(c.source.as_str()),
        customers::status.eq(c.status.as_str()),
        customers::phone.eq(c.phone.as_str()),
        customers::mobile.eq(c.mobile.as_str()),
        customers::email.eq(c.email.as_str()),
        customers::website.eq(c.website.as_str()),
        customers::province.eq(c.province.as_str()),
        customers::city.eq(c.city.as_str()),
        customers::district.eq(c.district.as_str()),
        customers::address.eq(c.address.as_str()),
        customers::tags.eq(serde_json::to_string(&c.tags).unwrap_or_else(|_| "[]".into())),
        customers::notes.eq(c.notes.as_str()),
        customers::owner_id.eq(c.owner_id),
        customers::locked.eq(c.locked),
        customers::deal_status.eq(c.deal_status.as_str()),
        customers::next_follow_up_at.eq(c.next_follow_up_at),
        customers::custom.eq(Value::Object(custom.clone()).to_string()),
        customers::dedupe_name.eq(c.dedupe_name.as_str()),
        customers::dedupe_phone.eq(c.dedupe_phone.as_str()),
        customers::search_text.eq(c.search_text.as_str()),
        customers::search_cjk.eq(c.search_cjk.as_str()),
    )
}

/// Apply a partial update (`patch` holds only the fields to change) to the
/// version the client read. A stale version is a 409 with the current record.
pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: CustomerId,
    version: i32,
    patch: &Value,
    confirm_duplicates: bool,
) -> Result<Customer, AppError> {
    let row = writable_row(conn, actor, id.0, "edit")?;
    let before = with_owner_names(conn, vec![row])?.remove(0);
    if before.version != version {
        return Err(AppError::stale(
            &format!("customer \"{}\"", before.name),
            &before,
        ));
    }
    let Value::Object(changes) = patch else {
        return Err(AppError::invalid(
            "body",
            "send a JSON object with the fields to change",
        ));
    };
    let mut merged =
        serde_json::to_value(CustomerInput::from_customer(&before)).unwrap_or_default();
    if let Some(m) = merged.as_object_mut() {
        for (k, v) in changes {
            if k == "custom" && v.is_null() {
                // No custom values at all (a replacing PUT, or clearing them).
                m.insert(k.clone(), json!({}));
            } else if k == "custom" {
                // Custom values merge key by key; null removes one.
                let cur = m.entry("custom").or_insert_with(|| json!({}));
                if let (Some(cur), Some(new)) = (cur.as_object_mut(), v.as_object()) {
                    for (ck, cv) in new {
                        cur.insert(ck.clone(), cv.clone());
                    }
                } else {
                    return Err(AppError::invalid(
                        "custom",
                        "must be an object of field keys to values",
                    ));
                }
            } else {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    let defs = custom_defs(conn)?;
    let carried = fields::carry_inactive(
        &defs,
        Some(&before.custom),
        changes.get("custom").and_then(Value::as_object),
        merged.get_mut("custom").and_then(Value::as_object_mut),
    );
    let input: CustomerInput =
        serde_json::from_value(merged).map_err(|e| AppError::invalid("body", e.to_string()))?;
    let mut clean = validate(&input)?;
    if clean.owner_id.is_none() {
        clean.owner_id = before.owner_id;
    }
    if clean.owner_id != before.owner_id {
        actor.require(ENTITY, "transfer")?;
        if let Some(o) = clean.owner_id {
            check_owner(conn, actor, o, "transfer")?;
        }
    }
    let mut custom = clean_custom(conn, actor, &defs, &input.custom, false)?;
    custom.extend(carried);
    let identity_changed = clean.dedupe_name != text::normalize_name(&before.name)
        || clean.email != before.email
        || clean.phone != before.phone
        || clean.mobile != before.mobile;
    if identity_changed && !confirm_duplicates {
        let (found, hidden) = duplicates(conn, actor, &clean, Some(id.0))?;
        if !found.is_empty() || hidden > 0 {
            return Err(duplicate_error(found, hidden));
        }
    }
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        fields::check_unique(conn, "customers", &defs, &custom, Some(id.0))?;
        let n = diesel::update(
            customers::table
                .filter(customers::id.eq(id.0))
                .filter(customers::version.eq(version)),
        )
        .set((
            values(&clean, &custom),
            customers::updated_by.eq(Some(actor.user_id())),
            customers::updated_at.eq(now()),
            customers::version.eq(customers::version + 1),
        ))
        .execute(conn)?;
        if n == 0 {
            let current = customers::table
                .find(id.0)
                .select(CustomerRow::as_select())
                .first(conn)?;
            return Err(AppError::stale(
                &format!("customer \"{}\"", current.name),
                &Customer::from(current),
            ));
        }
        if clean.owner_id != before.owner_id {
            // A new owner: the pool rules count from now, and a pooled
            // customer given to someone leaves its pool.
            diesel::update(customers::table.find(id.0))
                .set((
                    customers::owner_since.eq(Some(now())),
                    customers::previous_owner_id.eq(before.owner_id),
                    customers::pooled_at.eq(None::<chrono::NaiveDateTime>),
                ))
                .execute(conn)?;
        }
        let row = customers::table
            .find(id.0)
            .select(CustomerRow::as_select())
            .first(conn)?;
        let after = with_owner_names(conn, vec![row])?.remove(0);
        audit::record(
            conn,
            &ctx,
            "update",
            ENTITY,
            Some(id.0),
            &audit::diff(&audit_view(&before), &audit_view(&after)),
        )?;
        Ok(after)
    })
}

pub fn delete(
    conn: &mut DbConn,
    actor: &Actor,
    id: CustomerId,
    version: i32,
) -> Result<(), AppError> {
    let row = writable_row(conn, actor, id.0, "delete")?;
    let before = Customer::from(row);
    if before.version != version {
        return Err(AppError::stale(
            &format!("customer \"{}\"", before.name),
            &before,
        ));
    }
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        // Sales history is not thrown away with a customer.
        let deals: i64 = crate::core::db::schema::opportunities::table
            .filter(crate::core::db::schema::opportunities::customer_id.eq(id.0))
            .count()
            .get_result(conn)?;
        if deals > 0 {
            return Err(AppError::Conflict(format!(
                "customer \"{}\" has {deals} opportunities; delete them first, or keep the customer",
                before.name
            )));
        }
        // Its contacts go with it, each with its own audit row.
        crate::core::records::store::delete_children(
            conn,
            &ctx,
            &crate::crm::contacts::SPEC,
            "customer_id",
            id.0,
        )?;
        let n = diesel::delete(
            customers::table
                .filter(customers::id.eq(id.0))
                .filter(customers::version.eq(version)),
        )
        .execute(conn)?;
        if n == 0 {
            return Err(AppError::Conflict(format!(
                "customer {} changed while deleting; reload and try again",
                id.0
            )));
        }
        shares::remove_all(conn, ENTITY, id.0)?;
        crate::core::attachments::delete_for(conn, &ctx, ENTITY, id.0)?;
        crate::core::follows::remove_all(conn, ENTITY, id.0)?;
        audit::record(
            conn,
            &ctx,
            "delete",
            ENTITY,
            Some(id.0),
            &audit::diff(&audit_view(&before), &Value::Null),
        )?;
        Ok(())
    })
}

pub use crate::core::listing::Page;

/// The list engine's view of the customers table.
pub const TABLE: Table = Table {
    name: ENTITY,
    owner_col: "owner_id",
    default_sort: DEFAULT_SORT,
};

/// Built-in views besides the common ones (mine, subordinates, all, shared).
pub const EXTRA_VIEWS: &[&str] = &["due_today", "stale_30_days"];

fn extra_views(
    _conn: &mut DbConn,
    sql: &mut Sql,
    actor: &Actor,
    view: &str,
) -> Result<bool, AppError> {
    match view {
        "due_today" => {
            let (start, end) = crate::core::time::today_utc_range(&actor.user.time_zone);
            sql.push(" AND next_follow_up_at >= ")
                .ts(start)
                .push(" AND next_follow_up_at < ")
                .ts(end);
        }
        "stale_30_days" => {
            sql.push(" AND (last_follow_up_at IS NULL OR last_follow_up_at < ")
                .ts(now() - chrono::Duration::days(30))
                .push(")");
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// A page of the customers the actor may see.
pub fn list(conn: &mut DbConn, actor: &Actor, p: &ListParams) -> Result<Page<Customer>, AppError> {
    list_for(conn, actor, p, "view")
}

/// A page of the customers the actor may `action` (view, export): that
/// action's data scope applies.
pub fn list_for(
    conn: &mut DbConn,
    actor: &Actor,
    p: &ListParams,
    action: &str,
) -> Result<Page<Customer>, AppError> {
    actor.require(ENTITY, "view")?;
    actor.require(ENTITY, action)?;
    let owners = actor.owner_filter(conn, ENTITY, action)?;
    let defs = custom_defs(conn)?;
    let p = crate::core::views::resolve(conn, actor, ENTITY, p)?;
    let spec = listing::Spec {
        table: &TABLE,
        columns: COLUMNS,
        defs: &defs,
        extra_views: Some((extra_views, EXTRA_VIEWS)),
        select_inner: "customers.*",
        select_outer: "*",
        sort_value: &sort_value,
        id_of: &|r: &CustomerRow| r.id,
    };
    let page = listing::page(conn, actor, &p, &owners, &spec)?;
    Ok(Page {
        items: with_owner_names(conn, page.items)?,
        next_cursor: page.next_cursor,
        total: page.total,
        sort: page.sort,
    })
}

/// A page of the customers sitting in pool `pool_id` (no owner); the
/// caller has checked that the actor belongs to the pool.
pub fn list_pool(
    conn: &mut DbConn,
    actor: &Actor,
    pool_id: i64,
    p: &ListParams,
) -> Result<Page<Customer>, AppError> {
    let defs = custom_defs(conn)?;
    let mut p = p.clone();
    if p.view.is_some() {
        return Err(AppError::invalid(
            "view",
            "a pool's list has no views; filter it instead",
        ));
    }
    p.filters.push(crate::core::list::Filter {
        field: "pool_id".into(),
        op: crate::core::list::Op::Eq,
        value: vec![pool_id.to_string()],
    });
    p.filters.push(crate::core::list::Filter {
        field: "owner_id".into(),
        op: crate::core::list::Op::Empty,
        value: vec![],
    });
    let spec = listing::Spec {
        table: &TABLE,
        columns: COLUMNS,
        defs: &defs,
        extra_views: None,
        select_inner: "customers.*",
        select_outer: "*",
        sort_value: &sort_value,
        id_of: &|r: &CustomerRow| r.id,
    };
    let page = listing::page(conn, actor, &p, &OwnerFilter::All, &spec)?;
    Ok(Page {
        items: with_owner_names(conn, page.items)?,
        next_cursor: page.next_cursor,
        total: page.total,
        sort: page.sort,
    })
}

/// The value of the sort field on a row, as the cursor stores it.
fn sort_value(r: &CustomerRow, field: &str) -> Value {
    let ts = |t: Option<chrono::NaiveDateTime>| {
        t.map_or(Value::Null, |t| {
            Value::from(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
        })
    };
    match field {
        "id" => Value::from(r.id),
        "name" => Value::from(r.name.clone()),
        "industry" => Value::from(r.industry.clone()),
        "level" => Value::from(r.level.clone()),
        "source" => Value::from(r.source.clone()),
        "status" => Value::from(r.status.clone()),
        "deal_status" => Value::from(r.deal_status.clone()),
        "created_at" => ts(Some(r.created_at)),
        "updated_at" => ts(Some(r.updated_at)),
        "last_follow_up_at" => ts(r.last_follow_up_at),
        "next_follow_up_at" => ts(r.next_follow_up_at),
        other => other
            .strip_prefix("custom.")
            .and_then(|k| {
                serde_json::from_str::<serde_json::Map<String, Value>>(&r.custom)
                    .ok()?
                    .get(k)
                    .cloned()
            })
            .map(|v| match v {
                Value::String(_) | Value::Number(_) => v,
                other => Value::from(other.to_string()),
            })
            .unwrap_or(Value::Null),
    }
}

/// Global search: the first few customers matching `q` that the actor may see.
pub fn search(
    conn: &mut DbConn,
    actor: &Actor,
    q: &str,
    limit: i64,
) -> Result<Vec<Customer>, AppError> {
    if !actor.can(ENTITY, "view") {
        return Ok(vec![]);
    }
    let p = ListParams {
        q: Some(q.to_string()),
        limit: Some(limit),
        ..Default::default()
    };
    Ok(list(conn, actor, &p)?.items)
}

/// Collaborators of a customer the actor may see.
pub fn collaborators(
    conn: &mut DbConn,
    actor: &Actor,
    id: CustomerId,
) -> Result<Vec<shares::Share>, AppError> {
    get(conn, actor, id)?;
    Ok(shares::list(conn, ENTITY, id.0)?)
}

/// Share a customer the actor may edit with a colleague.
pub fn add_collaborator(
    conn: &mut DbConn,
    actor: &Actor,
    id: CustomerId,
    user_id: i64,
    can_write: bool,
    until: Option<chrono::NaiveDateTime>,
) -> Result<Vec<shares::Share>, AppError> {
    writable_row(conn, actor, id.0, "edit")?;
    shares::share(
        conn,
        &actor.audit(),
        ENTITY,
        id.0,
        user_id,
        can_write,
        until,
    )?;
    Ok(shares::list(conn, ENTITY, id.0)?)
}

pub fn remove_collaborator(
    conn: &mut DbConn,
    actor: &Actor,
    id: CustomerId,
    user_id: i64,
) -> Result<Vec<shares::Share>, AppError> {
    writable_row(conn, actor, id.0, "edit")?;
    shares::unshare(conn, &actor.audit(), ENTITY, id.0, user_id)?;
    Ok(shares::list(conn, ENTITY, id.0)?)
}
