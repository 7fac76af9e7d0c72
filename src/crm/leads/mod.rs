//! Leads (线索): prospects not yet customers, and their conversion into a
//! customer with a contact.

pub mod convert;

use serde_json::Value;

use crate::core::auth::actor::Actor;
use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::records::{Dedupe, EntitySpec, Field, Kind, Record, field};
use crate::core::sql::Sql;

pub const STATUSES: &[&str] = &["new", "contacted", "qualified", "unqualified", "converted"];

pub const FIELDS: &[Field] = &[
    field("name", Kind::Text(100))
        .required()
        .sortable()
        .search(),
    field("company", Kind::Text(200)).sortable().search(),
    field("title", Kind::Text(100)),
    field("mobile", Kind::Phone).search(),
    field("phone", Kind::Phone).search(),
    field("email", Kind::Email).search(),
    field("im", Kind::Text(100)).search(),
    field("website", Kind::Url),
    field("industry", Kind::Text(50)),
    field("source", Kind::Text(50)),
    field("status", Kind::Choice(STATUSES)),
    field("province", Kind::Text(50)),
    field("city", Kind::Text(50)),
    field("district", Kind::Text(50)),
    field("address", Kind::Text(300)),
    field("tags", Kind::Tags),
    field("notes", Kind::Text(10_000)).search(),
    field("next_follow_up_at", Kind::DateTime).sortable(),
    field("last_follow_up_at", Kind::DateTime)
        .sortable()
        .server(),
    field("converted_customer_id", Kind::Ref("customers")).server(),
    field("converted_contact_id", Kind::Ref("contacts")).server(),
    field("converted_at", Kind::DateTime).server(),
];

pub static SPEC: EntitySpec = EntitySpec {
    name: "leads",
    singular: "lead",
    fields: FIELDS,
    owner_col: "owner_id",
    title: "name",
    default_sort: "-updated_at",
    dedupe: Some(Dedupe {
        name: Some("company"),
        phones: &["mobile", "phone"],
        email: Some("email"),
    }),
    prepare: Some(prepare),
    after_write: None,
    extra_views: Some((extra_views, EXTRA_VIEWS)),
};

pub const EXTRA_VIEWS: &[&str] = &["open", "new_this_week"];

fn extra_views(
    _c: &mut DbConn,
    sql: &mut Sql,
    _actor: &Actor,
    view: &str,
) -> Result<bool, AppError> {
    match view {
        "open" => {
            sql.push(" AND status NOT IN ('converted', 'unqualified')");
        }
        "new_this_week" => {
            sql.push(" AND status = 'new' AND created_at >= ")
                .ts(crate::core::db::now() - chrono::Duration::days(7));
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Only conversion makes a lead converted, and a converted lead stays so.
fn prepare(
    _c: &mut DbConn,
    _a: &Actor,
    r: &mut Record,
    before: Option<&Record>,
) -> Result<(), AppError> {
    let status = |r: Option<&Record>| {
        r.and_then(|r| r.get("status"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (now, was) = (status(Some(r)), status(before));
    if now == "converted" && was != "converted" {
        return Err(AppError::invalid(
            "status",
            "a lead becomes converted by converting it (POST /api/v1/leads/{id}/convert)",
        ));
    }
    if was == "converted" && now != "converted" {
        return Err(AppError::invalid(
            "status",
            "a converted lead stays converted",
        ));
    }
    Ok(())
}
