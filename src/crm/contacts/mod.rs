//! Contacts (联系人): the people at a customer.

use serde_json::Value;

use crate::core::db::{DbConn, now};
use crate::core::error::AppError;
use crate::core::records::{Dedupe, EntitySpec, Field, Kind, Record, field};
use crate::core::sql::{Bind, Sql};

pub const FIELDS: &[Field] = &[
    field("customer_id", Kind::Ref("customers")).required(),
    field("name", Kind::Text(100))
        .required()
        .sortable()
        .search(),
    field("title", Kind::Text(100)),
    field("department", Kind::Text(100)),
    field("mobile", Kind::Phone).search(),
    field("phone", Kind::Phone).search(),
    field("email", Kind::Email).search(),
    field("im", Kind::Text(100)).search(),
    field("is_primary", Kind::Bool),
    field("is_decision_maker", Kind::Bool),
    field("birthday", Kind::Date),
    field("notes", Kind::Text(10_000)).search(),
];

pub static SPEC: EntitySpec = EntitySpec {
    name: "contacts",
    singular: "contact",
    fields: FIELDS,
    owner_col: "owner_id",
    title: "name",
    default_sort: "-updated_at",
    dedupe: Some(Dedupe {
        name: None,
        phones: &["mobile", "phone"],
        email: Some("email"),
    }),
    prepare: None,
    after_write: Some(after_write),
    extra_views: None,
};

/// One primary contact per customer: marking one clears the others, each
/// with a new version and an audit row (they may be colleagues' records).
fn after_write(
    conn: &mut DbConn,
    ctx: &crate::core::audit::AuditCtx,
    _before: Option<&Record>,
    after: Option<&Record>,
) -> Result<(), AppError> {
    let Some(after) = after else { return Ok(()) };
    if after.get("is_primary") != Some(&Value::Bool(true)) {
        return Ok(());
    }
    let (Some(id), Some(customer)) = (
        after.get("id").and_then(Value::as_i64),
        after.get("customer_id").and_then(Value::as_i64),
    ) else {
        return Ok(());
    };
    let mut sql = Sql::new(conn.backend());
    sql.push("SELECT id FROM contacts WHERE customer_id = ")
        .int(customer)
        .push(" AND id <> ")
        .int(id)
        .push(" AND is_primary = ")
        .bind(Bind::Bool(true));
    let others: Vec<crate::core::fields::IdRow> = sql.load(conn)?;
    for other in others {
        let mut sql = Sql::new(conn.backend());
        sql.push("UPDATE contacts SET is_primary = ")
            .bind(Bind::Bool(false))
            .push(", updated_by = ");
        match ctx.user_id {
            Some(u) => sql.int(u),
            None => sql.push("NULL"),
        };
        sql.push(", updated_at = ")
            .ts(now())
            .push(", version = version + 1 WHERE id = ")
            .int(other.id);
        sql.execute(conn)?;
        crate::core::audit::record(
            conn,
            ctx,
            "update",
            "contacts",
            Some(other.id),
            &serde_json::json!({ "is_primary": [true, false], "because": [null, format!("contact {id} is now primary")] }),
        )?;
    }
    Ok(())
}
