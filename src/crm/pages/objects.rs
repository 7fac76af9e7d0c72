//! The business objects as the pages see them: which fields a list shows
//! and a form edits, and one set of operations over the customer store and
//! the generic record store, so every page works for every object.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use crate::core::auth::actor::Actor;
use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::fields::FieldDef;
use crate::core::i18n::{Tr, has_key};
use crate::core::list::ListParams;
use crate::core::listing::{COMMON_VIEWS, Page};
use crate::core::records::{EntitySpec, Field, Kind, Record, store as records};
use crate::crm::customers::model::{CustomerId, CustomerInput, DOC_SPEC};
use crate::crm::customers::store as customers;
use crate::crm::{contacts, followups, leads, opportunities, products, tasks};

/// One object's pages.
pub struct UiObject {
    /// URL segment, entity and permission module: `customers`.
    pub key: &'static str,
    pub spec: &'static EntitySpec,
    /// Columns a list shows until the user chooses others.
    pub columns: &'static [&'static str],
    /// Fields the form edits, in order.
    pub form: &'static [&'static str],
    /// Built-in views offered as tabs, besides the saved ones.
    pub views: &'static [&'static str],
}

pub static OBJECTS: &[UiObject] = &[
    UiObject {
        key: "customers",
        spec: &DOC_SPEC,
        columns: &[
            "name",
            "level",
            "industry",
            "city",
            "owner_id",
            "last_follow_up_at",
            "next_follow_up_at",
        ],
        form: &[
            "name",
            "short_name",
            "kind",
            "level",
            "industry",
            "source",
            "status",
            "phone",
            "mobile",
            "email",
            "website",
            "province",
            "city",
            "district",
            "address",
            "tags",
            "owner_id",
            "next_follow_up_at",
            "notes",
        ],
        views: &[
            "all",
            "mine",
            "subordinates",
            "shared",
            "followed",
            "due_today",
            "stale_30_days",
        ],
    },
    UiObject {
        key: "contacts",
        spec: &contacts::SPEC,
        columns: &[
            "name",
            "customer_id",
            "title",
            "mobile",
            "email",
            "owner_id",
        ],
        form: &[
            "customer_id",
            "name",
            "title",
            "department",
            "mobile",
            "phone",
            "email",
            "im",
            "is_primary",
            "is_decision_maker",
            "birthday",
            "owner_id",
            "notes",
        ],
        views: &["all", "mine", "subordinates", "shared", "followed"],
    },
    UiObject {
        key: "leads",
        spec: &leads::SPEC,
        columns: &[
            "name",
            "company",
            "mobile",
            "source",
            "status",
            "owner_id",
            "created_at",
        ],
        form: &[
            "name",
            "company",
            "title",
            "mobile",
            "phone",
            "email",
            "im",
            "website",
            "industry",
            "source",
            "status",
            "province",
            "city",
            "district",
            "address",
            "tags",
            "owner_id",
            "next_follow_up_at",
            "notes",
        ],
        views: &[
            "all",
            "mine",
            "subordinates",
            "open",
            "new_this_week",
            "followed",
        ],
    },
    UiObject {
        key: "opportunities",
        spec: &opportunities::SPEC,
        columns: &[
            "name",
            "customer_id",
            "stage_id",
            "amount",
            "expected_close_date",
            "status",
            "owner_id",
        ],
        form: &[
            "name",
            "customer_id",
            "pipeline_id",
            "stage_id",
            "amount",
            "currency",
            "expected_close_date",
            "source",
            "owner_id",
            "notes",
        ],
        views: &[
            "all",
            "mine",
            "subordinates",
            "open",
            "closing_this_month",
            "won",
            "lost",
            "followed",
        ],
    },
    UiObject {
        key: "products",
        spec: &products::SPEC,
        columns: &[
            "code",
            "name",
            "category_id",
            "unit",
            "list_price",
            "active",
        ],
        form: &[
            "code",
            "name",
            "category_id",
            "unit",
            "list_price",
            "currency",
            "active",
            "description",
        ],
        views: &["all"],
    },
    UiObject {
        key: "tasks",
        spec: &tasks::SPEC,
        columns: &["title", "due_at", "priority", "status", "assignee_id"],
        form: &[
            "title",
            "description",
            "due_at",
            "remind_at",
            "priority",
            "status",
            "assignee_id",
            "related_entity",
            "related_id",
        ],
        views: &[
            "open",
            "due_today",
            "overdue",
            "all",
            "mine",
            "subordinates",
        ],
    },
    UiObject {
        key: "followups",
        spec: &followups::SPEC,
        columns: &["occurred_at", "kind", "content", "customer_id", "owner_id"],
        form: &[
            "kind",
            "content",
            "occurred_at",
            "next_follow_up_at",
            "customer_id",
            "contact_id",
            "lead_id",
            "opportunity_id",
            "owner_id",
        ],
        views: &["all", "mine", "subordinates"],
    },
];

/// Amounts kept as integer minor units (fen, cents).
const MONEY: &[(&str, &str)] = &[("opportunities", "amount"), ("products", "list_price")];

pub fn object(key: &str) -> Option<&'static UiObject> {
    OBJECTS.iter().find(|o| o.key == key)
}

impl UiObject {
    pub fn is_money(&self, field: &str) -> bool {
        MONEY.contains(&(self.key, field))
    }

    /// The kind of a column: a field of the spec, the owner, or a system column.
    pub fn kind_of(&self, name: &str) -> Option<Kind> {
        if name == self.spec.owner_col || name == "created_by" || name == "updated_by" {
            return Some(Kind::User);
        }
        if name == "created_at" || name == "updated_at" {
            return Some(Kind::DateTime);
        }
        if name == "id" {
            return Some(Kind::Int);
        }
        self.spec.field(name).map(|f| f.kind)
    }

    /// Every column a list may show: the fixed ones, then the system ones.
    pub fn all_columns(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self
            .spec
            .fields
            .iter()
            .filter(|f| !matches!(f.kind, Kind::Json) && f.name != "notes")
            .map(|f| f.name)
            .collect();
        v.push(self.spec.owner_col);
        v.extend(["created_at", "updated_at"]);
        v
    }

    /// Which built-in views this object knows.
    pub fn knows_view(&self, v: &str) -> bool {
        self.views.contains(&v) || COMMON_VIEWS.contains(&v)
    }

    /// A field of the form (`owner_id` is the owner column, not a spec field).
    pub fn form_field(&self, name: &str) -> Option<Field> {
        if name == self.spec.owner_col {
            return Some(crate::core::records::field(self.spec.owner_col, Kind::User));
        }
        self.spec.field(name).copied()
    }

    pub fn can(&self, actor: &Actor, action: &str) -> bool {
        actor.can(self.key, action)
    }
}

/// A field's label: `field.<object>.<name>`, else `field.<name>`.
pub fn label(t: Tr, obj: &str, name: &str) -> String {
    let own = format!("field.{obj}.{name}");
    if has_key(&own) {
        return t.t(&own).to_string();
    }
    let common = format!("field.{name}");
    if has_key(&common) {
        return t.t(&common).to_string();
    }
    name.to_string()
}

/// A choice's label: `choice.<object>.<field>.<value>`, else `choice.<field>.<value>`.
pub fn choice_label(t: Tr, obj: &str, field: &str, value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    for key in [
        format!("choice.{obj}.{field}.{value}"),
        format!("choice.{field}.{value}"),
    ] {
        if has_key(&key) {
            return t.t(&key).to_string();
        }
    }
    value.to_string()
}

/// A custom field's label in the reader's language.
pub fn custom_label(t: Tr, d: &FieldDef) -> String {
    match t.lang {
        crate::core::i18n::Lang::En if !d.label_en.is_empty() => d.label_en.clone(),
        _ if !d.label_zh.is_empty() => d.label_zh.clone(),
        _ => d.key.clone(),
    }
}

// ---------------------------------------------------------------- operations

fn customer_record(c: &crate::crm::customers::model::Customer) -> Record {
    match serde_json::to_value(c) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// A page of the object's records the actor may see.
pub fn list(
    conn: &mut DbConn,
    actor: &Actor,
    obj: &UiObject,
    p: &ListParams,
) -> Result<Page<Record>, AppError> {
    if obj.key == "customers" {
        let page = customers::list(conn, actor, p)?;
        return Ok(Page {
            items: page.items.iter().map(customer_record).collect(),
            next_cursor: page.next_cursor,
            total: page.total,
            sort: page.sort,
        });
    }
    records::list(conn, actor, obj.spec, p)
}

pub fn get(conn: &mut DbConn, actor: &Actor, obj: &UiObject, id: i64) -> Result<Record, AppError> {
    if obj.key == "customers" {
        return Ok(customer_record(&customers::get(
            conn,
            actor,
            CustomerId(id),
        )?));
    }
    records::get(conn, actor, obj.spec, id)
}

pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    obj: &UiObject,
    input: &Map<String, Value>,
    confirm: bool,
) -> Result<Record, AppError> {
    if obj.key == "customers" {
        let input: CustomerInput = serde_json::from_value(Value::Object(input.clone()))
            .map_err(|e| AppError::invalid("body", e.to_string()))?;
        return Ok(customer_record(&customers::create(
            conn, actor, &input, confirm,
        )?));
    }
    records::create(conn, actor, obj.spec, input, confirm)
}

pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    obj: &UiObject,
    id: i64,
    version: i32,
    changes: &Map<String, Value>,
    confirm: bool,
) -> Result<Record, AppError> {
    if obj.key == "customers" {
        let c = customers::update(
            conn,
            actor,
            CustomerId(id),
            version,
            &Value::Object(changes.clone()),
            confirm,
        )?;
        return Ok(customer_record(&c));
    }
    records::update(conn, actor, obj.spec, id, version, changes, confirm, false)
}

pub fn delete(
    conn: &mut DbConn,
    actor: &Actor,
    obj: &UiObject,
    id: i64,
    version: i32,
) -> Result<(), AppError> {
    if obj.key == "customers" {
        return customers::delete(conn, actor, CustomerId(id), version);
    }
    records::delete(conn, actor, obj.spec, id, version)
}

/// The titles of referenced records the actor may see, per entity and id,
/// for showing a contact's customer by name. The names come through the
/// reader's view scope, so an id typed into an address never reveals a
/// record's name; a record out of scope shows as its number.
pub fn ref_names(
    conn: &mut DbConn,
    actor: &Actor,
    wanted: &HashMap<&'static str, Vec<i64>>,
) -> Result<HashMap<(&'static str, i64), String>, AppError> {
    use crate::core::sql::Sql;
    use diesel::sql_types::{BigInt, Text};
    #[derive(diesel::QueryableByName)]
    struct Named {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Text)]
        name: String,
    }
    let mut out = HashMap::new();
    for (entity, ids) in wanted {
        let mut ids = ids.clone();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            continue;
        }
        // (table, title column, scoped by the reader's view scope)
        let (table, col, scoped) = match *entity {
            "customers" | "contacts" | "leads" | "opportunities" => (*entity, "name", true),
            "products" => ("products", "name", false),
            "tasks" => ("tasks", "title", true),
            "followups" => ("followups", "content", true),
            "pipelines" => ("pipelines", "name", false),
            "stages" => ("pipeline_stages", "name", false),
            "product_categories" => ("product_categories", "name", false),
            _ => continue,
        };
        if scoped && !actor.can(table, "view") {
            continue;
        }
        let mut sql = Sql::new(conn.backend());
        sql.push(&format!(
            "SELECT id, {col} AS name FROM {table} WHERE id IN "
        ))
        .int_list(&ids);
        if scoped {
            let owners = actor.owner_filter(conn, table, "view")?;
            crate::core::access::push_scope_on(
                &mut sql,
                crate::core::records::owner_col(table),
                &owners,
                table,
                actor.user_id(),
                false,
            );
        }
        for r in sql.load::<Named>(conn)? {
            let name: String = r.name.chars().take(60).collect();
            out.insert((*entity, r.id), name);
        }
    }
    Ok(out)
}

/// Local `YYYY-MM-DD HH:MM` for a stored UTC time.
pub fn local_time(t: NaiveDateTime, zone: &str) -> String {
    let off = crate::core::time::offset_at(zone, t);
    (t + chrono::Duration::seconds(i64::from(off.local_minus_utc())))
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A stored time value (`2026-12-04T01:02:03`) in the reader's zone.
pub fn local_time_value(v: &Value, zone: &str) -> String {
    v.as_str()
        .and_then(crate::core::fields::parse_datetime)
        .map(|t| local_time(t, zone))
        .unwrap_or_default()
}

/// What a `datetime-local` input shows for a stored UTC time.
pub fn input_time_value(v: &Value, zone: &str) -> String {
    local_time_value(v, zone).replace(' ', "T")
}

/// A `datetime-local` value typed in `zone` as the UTC time the API takes.
pub fn utc_from_input(field: &str, s: &str, zone: &str) -> Result<Option<String>, AppError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let local = crate::core::fields::parse_datetime(s)
        .ok_or_else(|| AppError::invalid(field, format!("`{s}` is not a date and time")))?;
    // The offset at the local time is the offset at the UTC instant except
    // within an hour of a DST change; close enough for a form.
    let off = crate::core::time::offset_at(zone, local);
    let utc = local - chrono::Duration::seconds(i64::from(off.local_minus_utc()));
    Ok(Some(utc.format("%Y-%m-%dT%H:%M:%S").to_string()))
}

/// Minor units as `1,234.50`.
pub fn money(minor: i64) -> String {
    let neg = minor < 0;
    let m = minor.unsigned_abs();
    let whole = (m / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{}{grouped}.{:02}", if neg { "-" } else { "" }, m % 100)
}

/// `1234.5` / `1,234.50` typed in a form as minor units.
pub fn parse_money(field: &str, s: &str) -> Result<Option<i64>, AppError> {
    let s: String = s
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != ' ')
        .collect();
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || AppError::invalid(field, format!("`{s}` is not an amount (e.g. 1234.50)"));
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.as_str()),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || frac.len() > 2
    {
        return Err(bad());
    }
    let w: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let f: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let v = w
        .checked_mul(100)
        .and_then(|x| x.checked_add(f))
        .ok_or_else(bad)?;
    Ok(Some(if neg { -v } else { v }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::i18n::Lang;

    #[test]
    fn money_round_trips() {
        assert_eq!(money(123_456_789), "1,234,567.89");
        assert_eq!(money(-5), "-0.05");
        assert_eq!(money(100_000), "1,000.00");
        assert_eq!(parse_money("amount", "1,234.5").unwrap(), Some(123_450));
        assert_eq!(parse_money("amount", " 12 ").unwrap(), Some(1200));
        assert_eq!(parse_money("amount", "").unwrap(), None);
        assert!(parse_money("amount", "1.234").is_err());
        assert!(parse_money("amount", "abc").is_err());
        assert!(parse_money("amount", ".").is_err());
    }

    #[test]
    fn every_field_view_and_choice_has_a_label_in_both_languages() {
        let mut missing = Vec::new();
        for o in OBJECTS {
            for name in o.all_columns().into_iter().chain(o.form.iter().copied()) {
                if !has_key(&format!("field.{}.{name}", o.key))
                    && !has_key(&format!("field.{name}"))
                {
                    missing.push(format!("{}.{name}", o.key));
                }
                if let Some(Kind::Choice(values)) = o.kind_of(name) {
                    for v in values.iter().filter(|v| !v.is_empty()) {
                        let zh = choice_label(Tr::new(Lang::Zh), o.key, name, v);
                        if zh == *v {
                            missing.push(format!("choice {}.{name}.{v}", o.key));
                        }
                    }
                }
            }
            for v in o.views {
                if !has_key(&format!("view.{v}")) {
                    missing.push(format!("view.{v}"));
                }
            }
            if !has_key(&format!("object.{}", o.key)) || !has_key(&format!("object.{}.one", o.key))
            {
                missing.push(format!("object.{}", o.key));
            }
        }
        assert!(missing.is_empty(), "labels missing: {missing:#?}");
    }

    #[test]
    fn times_show_in_the_readers_zone() {
        let v = Value::from("2026-12-04T01:30:00");
        assert_eq!(local_time_value(&v, "Asia/Shanghai"), "2026-12-04 09:30");
        assert_eq!(input_time_value(&v, "Asia/Shanghai"), "2026-12-04T09:30");
        assert_eq!(
            utc_from_input("due_at", "2026-12-04T09:30", "Asia/Shanghai")
                .unwrap()
                .as_deref(),
            Some("2026-12-04T01:30:00")
        );
        assert!(utc_from_input("due_at", "tomorrow", "UTC").is_err());
    }
}
