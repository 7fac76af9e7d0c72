//! Tasks (任务): something to do by a time, for an assignee, linked to any record.

use serde_json::Value;

use crate::core::auth::actor::Actor;
use crate::core::db::{DbConn, now};
use crate::core::error::AppError;
use crate::core::records::{EntitySpec, Field, Kind, Record, field};
use crate::core::sql::Sql;

/// Records a task can be about.
pub const RELATED: &[&str] = &[
    "",
    "customers",
    "contacts",
    "leads",
    "followups",
    "opportunities",
];
pub const STATUSES: &[&str] = &["open", "in_progress", "done", "cancelled"];

pub const FIELDS: &[Field] = &[
    field("title", Kind::Text(200))
        .required()
        .sortable()
        .search(),
    field("description", Kind::Text(10_000)).search(),
    field("due_at", Kind::DateTime).sortable(),
    field("remind_at", Kind::DateTime),
    field(
        "priority",
        Kind::Choice(&["normal", "high", "urgent", "low"]),
    ),
    field("status", Kind::Choice(STATUSES)),
    field("related_entity", Kind::Choice(RELATED)),
    field("related_id", Kind::Int),
    field("completed_at", Kind::DateTime).server(),
];

pub static SPEC: EntitySpec = EntitySpec {
    name: "tasks",
    singular: "task",
    fields: FIELDS,
    owner_col: "assignee_id",
    title: "title",
    default_sort: "due_at",
    dedupe: None,
    prepare: Some(prepare),
    after_write: None,
    extra_views: Some((extra_views, EXTRA_VIEWS)),
};

pub const EXTRA_VIEWS: &[&str] = &["open", "overdue", "due_today"];

fn extra_views(
    _c: &mut DbConn,
    sql: &mut Sql,
    actor: &Actor,
    view: &str,
) -> Result<bool, AppError> {
    match view {
        "open" => {
            sql.push(" AND status IN ('open', 'in_progress')");
        }
        "overdue" => {
            sql.push(" AND status IN ('open', 'in_progress') AND due_at < ")
                .ts(now());
        }
        "due_today" => {
            let (start, end) = crate::core::time::today_utc_range(&actor.user.time_zone);
            sql.push(" AND status IN ('open', 'in_progress') AND due_at >= ")
                .ts(start)
                .push(" AND due_at < ")
                .ts(end);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The link names both a type and a record the actor can see; finishing a
/// task stamps when.
fn prepare(
    conn: &mut DbConn,
    actor: &Actor,
    r: &mut Record,
    before: Option<&Record>,
) -> Result<(), AppError> {
    let entity = r
        .get("related_entity")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let id = r.get("related_id").and_then(Value::as_i64);
    match (entity.is_empty(), id) {
        (true, None) => {}
        (false, Some(id)) => {
            let changed = before.is_none_or(|b| {
                b.get("related_entity") != r.get("related_entity")
                    || b.get("related_id") != r.get("related_id")
            });
            if changed && !crate::core::records::store::visible(conn, actor, &entity, id)? {
                return Err(AppError::invalid(
                    "related_id",
                    format!("{entity} {id} does not exist or is not visible to you"),
                ));
            }
        }
        (true, Some(_)) => {
            return Err(AppError::invalid(
                "related_entity",
                "which kind of record is related_id?",
            ));
        }
        (false, None) => {
            return Err(AppError::invalid(
                "related_id",
                format!("which {entity} record?"),
            ));
        }
    }
    let done = r.get("status").and_then(Value::as_str) == Some("done");
    let was_done = before.and_then(|b| b.get("status")).and_then(Value::as_str) == Some("done");
    let completed = match (done, was_done) {
        (true, true) => before
            .and_then(|b| b.get("completed_at"))
            .cloned()
            .unwrap_or(Value::Null),
        (true, false) => serde_json::to_value(now()).unwrap_or(Value::Null),
        (false, _) => Value::Null,
    };
    r.insert("completed_at".into(), completed);
    Ok(())
}
