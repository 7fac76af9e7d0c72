//! Forms for every object, generated from its fields and custom fields:
//! inputs by kind, the typed values kept after an error, the error shown
//! next to its field, and the form's values turned into the JSON the store
//! takes (the same validation as the API).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::Opt;
use super::objects::{self, UiObject, choice_label, custom_label, input_time_value, money};
use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::fields::FieldDef;
use crate::core::i18n::Tr;
use crate::core::records::{Kind, Record};
use crate::core::web::form::FormData;

/// One input of a form.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The form name: a field, or `custom.<key>`.
    pub name: String,
    pub id: String,
    pub label: String,
    /// text, textarea, email, tel, url, number, money, decimal, date,
    /// datetime, checkbox, select, multi, ref, tags.
    pub kind: &'static str,
    pub value: String,
    pub checked: bool,
    pub required: bool,
    pub maxlength: usize,
    pub options: Vec<Opt>,
    /// For `ref`: the entity searched and the chosen record's name.
    pub ref_entity: &'static str,
    pub ref_label: String,
    pub help: String,
    pub error: String,
    /// Wide inputs take the whole row.
    pub wide: bool,
}

/// Choices the form needs from the database.
#[derive(Default)]
pub struct Choices {
    pub users: Vec<Opt>,
    /// Those the record's owner may be: the actor's scope for creating, and
    /// whoever owns it now.
    pub owners: Vec<Opt>,
    pub pipelines: Vec<Opt>,
    pub stages: Vec<Opt>,
    pub categories: Vec<Opt>,
    pub followup_types: Vec<String>,
    pub departments: Vec<Opt>,
    /// Names of referenced records already chosen.
    pub ref_names: HashMap<(&'static str, i64), String>,
}

impl Choices {
    pub fn load(
        conn: &mut DbConn,
        actor: &crate::core::auth::actor::Actor,
        obj: &UiObject,
        values: &HashMap<String, Vec<String>>,
        defs: &[FieldDef],
    ) -> Result<Choices, AppError> {
        let users = super::people(conn)?;
        let current: Vec<String> = values.get(obj.spec.owner_col).cloned().unwrap_or_default();
        let owners = match actor.owner_filter(conn, obj.key, "create")? {
            crate::core::access::OwnerFilter::Owners(ids) => users
                .iter()
                .filter(|u| {
                    current.contains(&u.value)
                        || u.value.parse::<i64>().is_ok_and(|id| ids.contains(&id))
                })
                .cloned()
                .collect(),
            _ => users.clone(),
        };
        let mut ch = Choices {
            users,
            owners,
            ..Choices::default()
        };
        if obj.key == "opportunities" {
            for p in crate::crm::pipelines::list(conn, actor)? {
                ch.pipelines
                    .push(Opt::new(p.id.to_string(), p.name.clone()));
                for s in &p.stages {
                    ch.stages.push(Opt::new(
                        s.id.to_string(),
                        format!("{} / {}", p.name, s.name),
                    ));
                }
            }
        }
        if obj.key == "products" {
            ch.categories = crate::crm::products::categories(conn)?
                .into_iter()
                .map(|c| Opt::new(c.id.to_string(), c.name))
                .collect();
        }
        if obj.key == "followups" {
            ch.followup_types = crate::crm::followups::types(conn)?;
        }
        if defs.iter().any(|d| d.kind == "department") {
            ch.departments = crate::core::org::departments::list(conn)?
                .into_iter()
                .map(|d| Opt::new(d.id.to_string(), d.name))
                .collect();
        }
        let mut wanted: HashMap<&'static str, Vec<i64>> = HashMap::new();
        for (name, vals) in values {
            let entity = match obj.kind_of(name) {
                Some(Kind::Ref(e)) => Some(e),
                _ => name.strip_prefix("custom.").and_then(|k| {
                    defs.iter()
                        .find(|d| d.key == k)
                        .and_then(|d| match d.kind.as_str() {
                            "customer" => Some("customers"),
                            "contact" => Some("contacts"),
                            _ => None,
                        })
                }),
            };
            if let Some(e) = entity
                && let Some(id) = vals.first().and_then(|v| v.parse::<i64>().ok())
            {
                wanted.entry(e).or_default().push(id);
            }
        }
        ch.ref_names = objects::ref_names(conn, actor, &wanted)?;
        Ok(ch)
    }
}

/// A stored record as form values (times in the reader's zone, money with
/// decimals).
pub fn values_of(
    obj: &UiObject,
    rec: &Record,
    defs: &[FieldDef],
    tz: &str,
) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for name in obj.form {
        let v = rec.get(*name).cloned().unwrap_or(Value::Null);
        let s = match obj.kind_of(name) {
            Some(Kind::DateTime) => input_time_value(&v, tz),
            Some(Kind::Int) if obj.is_money(name) => v
                .as_i64()
                .map(|m| money(m).replace(',', ""))
                .unwrap_or_default(),
            Some(Kind::Bool) => {
                if v.as_bool() == Some(true) {
                    "1".into()
                } else {
                    String::new()
                }
            }
            Some(Kind::Tags) => v
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            _ => super::display::plain(&v),
        };
        out.insert(name.to_string(), vec![s]);
    }
    let custom = rec
        .get("custom")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for d in defs {
        let v = custom.get(&d.key).cloned().unwrap_or(Value::Null);
        let vals = match d.kind.as_str() {
            "multi_select" => v
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            "money" => vec![
                v.as_i64()
                    .map(|m| money(m).replace(',', ""))
                    .unwrap_or_default(),
            ],
            "datetime" => vec![input_time_value(&v, tz)],
            "boolean" => vec![if v.as_bool() == Some(true) {
                "1".into()
            } else {
                String::new()
            }],
            _ => vec![super::display::plain(&v)],
        };
        out.insert(format!("custom.{}", d.key), vals);
    }
    out
}

/// The values a posted form holds, by name.
pub fn values_posted(f: &FormData) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in &f.0 {
        out.entry(k.clone()).or_default().push(v.clone());
    }
    out
}

fn first(values: &HashMap<String, Vec<String>>, name: &str) -> String {
    values
        .get(name)
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default()
}

fn is_on(v: &str) -> bool {
    matches!(v, "1" | "on" | "true" | "yes")
}

/// The inputs of `obj`'s form with `values`, the error shown at `error_field`.
pub fn inputs(
    t: Tr,
    obj: &UiObject,
    defs: &[FieldDef],
    ch: &Choices,
    values: &HashMap<String, Vec<String>>,
    error_field: &str,
    error: &str,
) -> Vec<Input> {
    let mut out = Vec::new();
    for name in obj.form {
        let Some(f) = obj.form_field(name) else {
            continue;
        };
        let value = first(values, name);
        let mut input = Input {
            name: name.to_string(),
            id: format!("f-{name}"),
            label: objects::label(t, obj.key, name),
            required: f.required,
            value: value.clone(),
            ..Input::default()
        };
        input.kind = match (obj.key, *name, f.kind) {
            ("opportunities", "pipeline_id", _) => {
                input.options = with_selected(&ch.pipelines, &value, None);
                "select"
            }
            ("opportunities", "stage_id", _) => {
                input.options = with_selected(&ch.stages, &value, Some(t.t("common.none")));
                "select"
            }
            ("products", "category_id", _) => {
                input.options = with_selected(&ch.categories, &value, Some(t.t("common.none")));
                "select"
            }
            ("followups", "kind", _) => {
                let opts: Vec<Opt> = ch
                    .followup_types
                    .iter()
                    .map(|k| Opt::new(k.clone(), choice_label(t, "followups", "kind", k)))
                    .collect();
                input.options = with_selected(&opts, &value, None);
                "select"
            }
            (_, _, Kind::Text(n)) => {
                input.maxlength = n;
                if n > 300 {
                    input.wide = true;
                    "textarea"
                } else {
                    "text"
                }
            }
            (_, _, Kind::Email) => "email",
            (_, _, Kind::Phone) => "tel",
            (_, _, Kind::Url) => "url",
            (_, _, Kind::Bool) => {
                input.checked = is_on(&value);
                "checkbox"
            }
            (_, _, Kind::Int) if obj.is_money(name) => "money",
            (_, _, Kind::Int) => "number",
            (_, _, Kind::Date) => "date",
            (_, _, Kind::DateTime) => "datetime",
            (_, _, Kind::Choice(vals)) => {
                input.options = vals
                    .iter()
                    .map(|v| Opt {
                        value: v.to_string(),
                        label: if v.is_empty() {
                            t.t("common.none").to_string()
                        } else {
                            choice_label(t, obj.key, name, v)
                        },
                        selected: *v == value,
                    })
                    .collect();
                "select"
            }
            (_, _, Kind::User) => {
                let list = if *name == obj.spec.owner_col {
                    &ch.owners
                } else {
                    &ch.users
                };
                input.options = with_selected(list, &value, Some(t.t("common.none")));
                "select"
            }
            (_, _, Kind::Ref(e)) => {
                input.ref_entity = e;
                input.ref_label = value
                    .parse::<i64>()
                    .ok()
                    .and_then(|id| ch.ref_names.get(&(e, id)).cloned())
                    .unwrap_or_default();
                "ref"
            }
            (_, _, Kind::Tags) => "tags",
            (_, _, Kind::Json) => continue,
        };
        if *name == error_field {
            input.error = error.to_string();
        }
        out.push(input);
    }
    for d in defs.iter().filter(|d| d.active) {
        let name = format!("custom.{}", d.key);
        let vals = values.get(&name).cloned().unwrap_or_default();
        let value = vals.first().cloned().unwrap_or_default();
        let mut input = Input {
            id: format!("f-custom-{}", d.key),
            label: custom_label(t, d),
            required: d.required,
            help: d.help.clone(),
            value: value.clone(),
            ..Input::default()
        };
        input.kind = match d.kind.as_str() {
            "long_text" => {
                input.wide = true;
                input.maxlength = 10_000;
                "textarea"
            }
            "integer" => "number",
            "money" => "money",
            "decimal" => "decimal",
            "date" => "date",
            "datetime" => "datetime",
            "single_select" | "multi_select" => {
                input.options = d
                    .options
                    .iter()
                    .map(|o| Opt {
                        value: o.clone(),
                        label: o.clone(),
                        selected: vals.contains(o),
                    })
                    .collect();
                if d.kind == "single_select" {
                    input
                        .options
                        .insert(0, Opt::new(String::new(), t.t("common.none").to_string()));
                    "select"
                } else {
                    "multi"
                }
            }
            "boolean" => {
                input.checked = is_on(&value);
                "checkbox"
            }
            "email" => "email",
            "phone" => "tel",
            "url" => "url",
            "user" => {
                input.options = with_selected(&ch.users, &value, Some(t.t("common.none")));
                "select"
            }
            "department" => {
                input.options = with_selected(&ch.departments, &value, Some(t.t("common.none")));
                "select"
            }
            "customer" | "contact" => {
                let e = if d.kind == "customer" {
                    "customers"
                } else {
                    "contacts"
                };
                input.ref_entity = e;
                input.ref_label = value
                    .parse::<i64>()
                    .ok()
                    .and_then(|id| ch.ref_names.get(&(e, id)).cloned())
                    .unwrap_or_default();
                "ref"
            }
            _ => {
                input.maxlength = 500;
                "text"
            }
        };
        if error_field == name {
            input.error = error.to_string();
        }
        input.name = name;
        out.push(input);
    }
    out
}

fn with_selected(opts: &[Opt], value: &str, none: Option<&str>) -> Vec<Opt> {
    let mut out: Vec<Opt> = none
        .map(|n| Opt::new(String::new(), n.to_string()))
        .into_iter()
        .collect();
    out.extend(opts.iter().map(|o| Opt {
        value: o.value.clone(),
        label: o.label.clone(),
        selected: o.value == value,
    }));
    if !out.iter().any(|o| o.selected)
        && let Some(o) = out.first_mut()
        && none.is_some()
    {
        o.selected = value.is_empty();
    }
    out
}

fn int_value(name: &str, s: &str) -> Result<Value, AppError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Value::Null);
    }
    s.parse::<i64>()
        .map(Value::from)
        .map_err(|_| AppError::invalid(name, format!("`{s}` is not a whole number")))
}

/// The JSON the store takes for a posted form. Only the form's fields are
/// set, so an edit is a partial update.
pub fn to_json(
    obj: &UiObject,
    defs: &[FieldDef],
    values: &HashMap<String, Vec<String>>,
    tz: &str,
) -> Result<Map<String, Value>, AppError> {
    let mut out = Map::new();
    for name in obj.form {
        let Some(f) = obj.form_field(name) else {
            continue;
        };
        let raw = first(values, name);
        let v = match f.kind {
            Kind::Bool => Value::Bool(is_on(&raw)),
            Kind::Int if obj.is_money(name) => {
                objects::parse_money(name, &raw)?.map_or(Value::Null, Value::from)
            }
            Kind::Int | Kind::Ref(_) | Kind::User => int_value(name, &raw)?,
            Kind::DateTime => {
                objects::utc_from_input(name, &raw, tz)?.map_or(Value::Null, Value::from)
            }
            Kind::Tags => Value::from(
                raw.split([',', '，', ';', '；'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            ),
            Kind::Json => continue,
            _ => Value::from(raw.trim().to_string()),
        };
        out.insert(name.to_string(), v);
    }
    let mut custom = Map::new();
    for d in defs.iter().filter(|d| d.active) {
        let name = format!("custom.{}", d.key);
        let vals = values.get(&name).cloned().unwrap_or_default();
        let raw = vals.first().cloned().unwrap_or_default();
        let v = match d.kind.as_str() {
            "integer" | "user" | "department" | "customer" | "contact" => int_value(&name, &raw)?,
            "money" => objects::parse_money(&name, &raw)?.map_or(Value::Null, Value::from),
            "boolean" => Value::Bool(is_on(&raw)),
            "multi_select" => Value::from(
                vals.into_iter()
                    .filter(|v| !v.is_empty())
                    .collect::<Vec<_>>(),
            ),
            "datetime" => {
                objects::utc_from_input(&name, &raw, tz)?.map_or(Value::Null, Value::from)
            }
            _ => Value::from(raw.trim().to_string()),
        };
        custom.insert(d.key.clone(), v);
    }
    if !defs.is_empty() {
        out.insert("custom".into(), Value::Object(custom));
    }
    Ok(out)
}
