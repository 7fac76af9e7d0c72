//! Follow-up records (跟进记录): a call, visit, e-mail, meeting, message or
//! note with a customer, contact or lead, and when to follow up next.
//! Writing one moves the customer's (and lead's) follow-up dates.

use serde_json::Value;

use crate::core::audit::AuditCtx;
use crate::core::auth::actor::Actor;
use crate::core::db::{DbConn, now};
use crate::core::error::AppError;
use crate::core::records::{EntitySpec, Field, Kind, Record, field};
use crate::core::sql::Sql;

/// Follow-up types when the setting `followups.types` (a JSON list) is not set.
pub const DEFAULT_TYPES: &[&str] = &["call", "visit", "email", "meeting", "message", "note"];
pub const TYPES_SETTING: &str = "followups.types";

pub const FIELDS: &[Field] = &[
    field("kind", Kind::Text(30)),
    field("content", Kind::Text(10_000)).required().search(),
    field("occurred_at", Kind::DateTime).sortable(),
    field("next_follow_up_at", Kind::DateTime).sortable(),
    field("customer_id", Kind::Ref("customers")),
    field("contact_id", Kind::Ref("contacts")),
    field("lead_id", Kind::Ref("leads")),
    field("opportunity_id", Kind::Ref("opportunities")),
];

pub static SPEC: EntitySpec = EntitySpec {
    name: "followups",
    singular: "follow-up",
    fields: FIELDS,
    owner_col: "owner_id",
    title: "content",
    default_sort: "-occurred_at",
    dedupe: None,
    prepare: Some(prepare),
    after_write: Some(after_write),
    extra_views: None,
};

/// The configured follow-up types.
pub fn types(conn: &mut DbConn) -> Result<Vec<String>, AppError> {
    let configured = crate::core::settings::get(conn, TYPES_SETTING)?
        .and_then(|s| serde_json::from_str::<Vec<String>>(&s).ok())
        .filter(|v| !v.is_empty());
    Ok(configured.unwrap_or_else(|| DEFAULT_TYPES.iter().map(|s| s.to_string()).collect()))
}

/// Replace the follow-up types (administrators): each name trimmed, 1 to
/// 30 characters, duplicates dropped, 1 to 30 types in the order given.
/// Audited. The REST API and the settings page both call this.
pub fn set_types(
    conn: &mut DbConn,
    actor: &Actor,
    list: Vec<String>,
) -> Result<Vec<String>, AppError> {
    actor.require("admin", "manage")?;
    let mut clean: Vec<String> = Vec::new();
    for (i, t) in list.into_iter().enumerate() {
        let t = t.trim().to_string();
        if t.is_empty() || t.chars().count() > 30 {
            return Err(AppError::invalid(
                &format!("types[{i}]"),
                "each type has 1 to 30 characters",
            ));
        }
        if !clean.contains(&t) {
            clean.push(t);
        }
    }
    if clean.is_empty() || clean.len() > 30 {
        return Err(AppError::invalid("types", "between 1 and 30 types"));
    }
    let ctx = actor.audit();
    let before = types(conn)?;
    crate::core::db::write_tx(conn, |c| {
        let saved = serde_json::json!(clean);
        crate::core::settings::set(c, TYPES_SETTING, &saved.to_string())?;
        crate::core::audit::record(
            c,
            &ctx,
            "update",
            "settings",
            None,
            &serde_json::json!({ TYPES_SETTING: [before, saved] }),
        )?;
        Ok::<_, AppError>(())
    })?;
    Ok(clean)
}

#[derive(diesel::QueryableByName)]
struct CustomerOf {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    customer_id: i64,
}

fn prepare(
    conn: &mut DbConn,
    actor: &Actor,
    r: &mut Record,
    _before: Option<&Record>,
) -> Result<(), AppError> {
    let kinds = types(conn)?;
    let kind = r
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if kind.is_empty() {
        r.insert(
            "kind".into(),
            Value::from(kinds.first().cloned().unwrap_or_else(|| "note".into())),
        );
    } else if !kinds.contains(&kind) {
        return Err(AppError::invalid(
            "kind",
            format!("`{kind}`; one of {}", kinds.join(", ")),
        ));
    }
    if r.get("occurred_at").is_none_or(Value::is_null) {
        r.insert(
            "occurred_at".into(),
            serde_json::to_value(now()).unwrap_or(Value::Null),
        );
    }
    // A contact's follow-up belongs to the contact's customer.
    if let Some(contact) = r.get("contact_id").and_then(Value::as_i64) {
        // Say nothing about a contact the actor cannot see.
        if !crate::core::records::store::visible(conn, actor, "contacts", contact)? {
            return Err(AppError::invalid(
                "contact_id",
                format!("contacts {contact} does not exist or is not visible to you"),
            ));
        }
        let mut sql = Sql::new(conn.backend());
        sql.push("SELECT customer_id FROM contacts WHERE id = ")
            .int(contact);
        let of = sql.load::<CustomerOf>(conn)?.first().map(|c| c.customer_id);
        match (of, r.get("customer_id").and_then(Value::as_i64)) {
            (Some(c), None) => {
                r.insert("customer_id".into(), Value::from(c));
            }
            (Some(c), Some(given)) if c != given => {
                return Err(AppError::invalid(
                    "contact_id",
                    format!("contact {contact} belongs to customer {c}, not {given}"),
                ));
            }
            _ => {}
        }
    }
    // An opportunity's follow-up belongs to the opportunity's customer
    // (the link itself is checked for visibility by the record kernel).
    if let Some(opp) = r.get("opportunity_id").and_then(Value::as_i64) {
        let mut sql = Sql::new(conn.backend());
        sql.push("SELECT customer_id FROM opportunities WHERE id = ")
            .int(opp);
        let of = sql.load::<CustomerOf>(conn)?.first().map(|c| c.customer_id);
        match (of, r.get("customer_id").and_then(Value::as_i64)) {
            (Some(c), None) => {
                r.insert("customer_id".into(), Value::from(c));
            }
            (Some(c), Some(given)) if c != given => {
                return Err(AppError::invalid(
                    "opportunity_id",
                    format!("opportunity {opp} belongs to customer {c}, not {given}"),
                ));
            }
            _ => {}
        }
    }
    if r.get("customer_id").is_none_or(Value::is_null)
        && r.get("lead_id").is_none_or(Value::is_null)
    {
        return Err(AppError::invalid(
            "customer_id",
            "a follow-up is about a customer, a contact or a lead",
        ));
    }
    Ok(())
}

/// Recompute the follow-up dates of a customer or lead from its follow-ups:
/// the last is the latest one's time; the next is the latest one's "next
/// follow-up", kept as it is when that one names none.
pub fn refresh_dates(
    conn: &mut DbConn,
    table: &str,
    column: &str,
    id: i64,
) -> Result<(), AppError> {
    let mut sql = Sql::new(conn.backend());
    sql.push(&format!(
        "UPDATE {table} SET last_follow_up_at = (SELECT MAX(occurred_at) FROM followups WHERE {column} = "
    ))
    .int(id)
    .push("), next_follow_up_at = COALESCE((SELECT next_follow_up_at FROM followups WHERE ")
    .push(&format!("{column} = "))
    .int(id)
    .push(" ORDER BY occurred_at DESC, id DESC LIMIT 1), next_follow_up_at) WHERE id = ")
    .int(id);
    sql.execute(conn)?;
    Ok(())
}

fn after_write(
    conn: &mut DbConn,
    _ctx: &AuditCtx,
    before: Option<&Record>,
    after: Option<&Record>,
) -> Result<(), AppError> {
    for (table, column) in [("customers", "customer_id"), ("leads", "lead_id")] {
        let mut ids: Vec<i64> = [before, after]
            .into_iter()
            .flatten()
            .filter_map(|r| r.get(column).and_then(Value::as_i64))
            .collect();
        ids.dedup();
        for id in ids {
            refresh_dates(conn, table, column, id)?;
        }
    }
    Ok(())
}
