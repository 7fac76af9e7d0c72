//! Values as pages show them: labels for choices, names for references and
//! users, money with two decimals, times in the reader's zone.

use std::collections::HashMap;

use serde_json::Value;

use super::objects::{self, UiObject, choice_label, custom_label, local_time_value, money};
use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::fields::FieldDef;
use crate::core::i18n::Tr;
use crate::core::records::{Kind, Record, store as records};

/// One shown value.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    /// The column's label (lists show it beside the value on a phone).
    pub label: String,
    pub text: String,
    /// A link for the value (the referenced record, mailto:, tel:).
    pub href: String,
    /// Tags and multi-select values.
    pub badges: Vec<String>,
    /// `num` for amounts, `wrap` for long text.
    pub class: &'static str,
}

/// An integer field that names a row of another table.
fn int_ref(obj: &str, field: &str) -> Option<&'static str> {
    match (obj, field) {
        ("opportunities", "pipeline_id") => Some("pipelines"),
        ("opportunities", "stage_id") => Some("stages"),
        ("products", "category_id") => Some("product_categories"),
        _ => None,
    }
}

/// The entity a reference column of `rec` points at.
fn ref_entity(obj: &UiObject, rec: &Record, field: &str) -> Option<&'static str> {
    if let Some(Kind::Ref(e)) = obj.kind_of(field) {
        return Some(e);
    }
    if obj.key == "tasks" && field == "related_id" {
        let e = rec.get("related_entity").and_then(Value::as_str)?;
        return crate::crm::tasks::RELATED
            .iter()
            .copied()
            .find(|r| *r == e && !r.is_empty());
    }
    int_ref(obj.key, field)
}

/// The page a record of `entity` lives on.
pub fn href(entity: &str, id: i64) -> String {
    match entity {
        "stages" | "pipelines" | "product_categories" => String::new(),
        e => format!("/{e}/{id}"),
    }
}

/// Everything needed to show values of some records.
pub struct Shower {
    pub t: Tr,
    pub tz: String,
    pub defs: Vec<FieldDef>,
    names: HashMap<(&'static str, i64), String>,
    users: HashMap<i64, String>,
}

impl Shower {
    /// Loads the names the `columns` of `recs` refer to.
    pub fn load(
        conn: &mut DbConn,
        actor: &crate::core::auth::actor::Actor,
        t: Tr,
        tz: &str,
        obj: &UiObject,
        recs: &[Record],
        columns: &[String],
    ) -> Result<Shower, AppError> {
        let defs = crate::core::fields::list(conn, Some(obj.key), false)?;
        let mut wanted: HashMap<&'static str, Vec<i64>> = HashMap::new();
        let mut user_ids = Vec::new();
        for rec in recs {
            for col in columns {
                let Some(id) = rec.get(col.as_str()).and_then(Value::as_i64) else {
                    if let Some(key) = col.strip_prefix("custom.")
                        && let Some(d) = defs.iter().find(|d| d.key == key)
                        && let Some(v) = rec
                            .get("custom")
                            .and_then(|c| c.get(key))
                            .and_then(Value::as_i64)
                    {
                        match d.kind.as_str() {
                            "user" => user_ids.push(v),
                            "customer" => wanted.entry("customers").or_default().push(v),
                            "contact" => wanted.entry("contacts").or_default().push(v),
                            _ => {}
                        }
                    }
                    continue;
                };
                if let Some(e) = ref_entity(obj, rec, col) {
                    wanted.entry(e).or_default().push(id);
                } else if obj.kind_of(col) == Some(Kind::User) {
                    user_ids.push(id);
                }
            }
        }
        let names = objects::ref_names(conn, actor, &wanted)?;
        let users = records::user_names(conn, user_ids.into_iter())?;
        Ok(Shower {
            t,
            tz: tz.to_string(),
            defs,
            names,
            users,
        })
    }

    pub fn user(&self, id: i64) -> String {
        self.users
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("#{id}"))
    }

    /// The label of a column (custom fields included).
    pub fn label(&self, obj: &UiObject, col: &str) -> String {
        match col.strip_prefix("custom.") {
            Some(key) => self
                .defs
                .iter()
                .find(|d| d.key == key)
                .map(|d| custom_label(self.t, d))
                .unwrap_or_else(|| key.to_string()),
            None => objects::label(self.t, obj.key, col),
        }
    }

    /// The value of `col` in `rec` as shown in a list or on a detail page.
    pub fn cell(&self, obj: &UiObject, rec: &Record, col: &str) -> Cell {
        if let Some(key) = col.strip_prefix("custom.") {
            let v = rec
                .get("custom")
                .and_then(|c| c.get(key))
                .cloned()
                .unwrap_or(Value::Null);
            return match self.defs.iter().find(|d| d.key == key) {
                Some(d) => self.custom_cell(d, &v),
                None => Cell::default(),
            };
        }
        let v = rec.get(col).cloned().unwrap_or(Value::Null);
        if v.is_null() {
            return Cell::default();
        }
        if let Some(e) = ref_entity(obj, rec, col)
            && let Some(id) = v.as_i64()
        {
            return Cell {
                text: self
                    .names
                    .get(&(e, id))
                    .cloned()
                    .unwrap_or_else(|| format!("#{id}")),
                href: href(e, id),
                ..Cell::default()
            };
        }
        let Some(kind) = obj.kind_of(col) else {
            return Cell {
                text: plain(&v),
                ..Cell::default()
            };
        };
        match kind {
            Kind::User => {
                let id = v.as_i64().unwrap_or_default();
                let named = format!("{}_name", col.trim_end_matches("_id"));
                Cell {
                    text: rec
                        .get(&named)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| self.user(id)),
                    ..Cell::default()
                }
            }
            Kind::Int if obj.is_money(col) => Cell {
                text: v.as_i64().map(money).unwrap_or_default(),
                class: "num",
                ..Cell::default()
            },
            Kind::Int => Cell {
                text: plain(&v),
                class: "num",
                ..Cell::default()
            },
            Kind::DateTime => Cell {
                text: local_time_value(&v, &self.tz),
                ..Cell::default()
            },
            Kind::Bool => Cell {
                text: if v.as_bool() == Some(true) {
                    self.t.t("common.yes").to_string()
                } else {
                    String::new()
                },
                ..Cell::default()
            },
            Kind::Choice(_) => Cell {
                text: choice_label(self.t, obj.key, col, v.as_str().unwrap_or("")),
                ..Cell::default()
            },
            Kind::Tags => Cell {
                badges: v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                ..Cell::default()
            },
            Kind::Email => link_cell(&v, "mailto:"),
            Kind::Phone => link_cell(&v, "tel:"),
            Kind::Url => {
                let s = v.as_str().unwrap_or("").to_string();
                Cell {
                    href: s.clone(),
                    text: s,
                    ..Cell::default()
                }
            }
            Kind::Text(n) if n > 300 => Cell {
                text: v.as_str().unwrap_or("").chars().take(120).collect(),
                class: "wrap",
                ..Cell::default()
            },
            Kind::Json => Cell::default(),
            _ => Cell {
                text: plain(&v),
                ..Cell::default()
            },
        }
    }

    fn custom_cell(&self, d: &FieldDef, v: &Value) -> Cell {
        if v.is_null() {
            return Cell::default();
        }
        match d.kind.as_str() {
            "money" => Cell {
                text: v.as_i64().map(money).unwrap_or_default(),
                class: "num",
                ..Cell::default()
            },
            "boolean" => Cell {
                text: if v.as_bool() == Some(true) {
                    self.t.t("common.yes").to_string()
                } else {
                    self.t.t("common.no").to_string()
                },
                ..Cell::default()
            },
            "multi_select" => Cell {
                badges: v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                ..Cell::default()
            },
            "datetime" => Cell {
                text: local_time_value(v, &self.tz),
                ..Cell::default()
            },
            "user" => Cell {
                text: v.as_i64().map(|id| self.user(id)).unwrap_or_default(),
                ..Cell::default()
            },
            "customer" | "contact" => {
                let e = if d.kind == "customer" {
                    "customers"
                } else {
                    "contacts"
                };
                let id = v.as_i64().unwrap_or_default();
                Cell {
                    text: self
                        .names
                        .get(&(e, id))
                        .cloned()
                        .unwrap_or_else(|| format!("#{id}")),
                    href: href(e, id),
                    ..Cell::default()
                }
            }
            "email" => link_cell(v, "mailto:"),
            "phone" => link_cell(v, "tel:"),
            _ => Cell {
                text: plain(v),
                ..Cell::default()
            },
        }
    }
}

fn link_cell(v: &Value, scheme: &str) -> Cell {
    let s = v.as_str().unwrap_or("").to_string();
    Cell {
        href: if s.is_empty() {
            String::new()
        } else {
            format!("{scheme}{s}")
        },
        text: s,
        ..Cell::default()
    }
}

/// A JSON value as plain text.
pub fn plain(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(plain).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}
