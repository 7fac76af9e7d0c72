//! Contacts (联系人): the people at a customer.

use serde_json::Value;

use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::records::{Dedupe, EntitySpec, Field, Kind, Record, field};
use crate::core::sql::Sql;

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

/// One primary contact per customer: marking one clears the others.
fn after_write(
    conn: &mut DbConn,
    _ctx: &crate::core::audit::AuditCtx,
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
    sql.push("UPDATE contacts SET is_primary = ")
        .bind(crate::core::sql::Bind::Bool(false))
        .push(", version = version + 1 WHERE customer_id = ")
        .int(customer)
        .push(" AND id <> ")
        .int(id)
        .push(" AND is_primary = ")
        .bind(crate::core::sql::Bind::Bool(true));
    sql.execute(conn)?;
    Ok(())
}
