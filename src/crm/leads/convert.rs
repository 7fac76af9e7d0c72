//! Lead conversion: a customer (new, or an existing one the user picks from
//! the duplicates offered) and a contact, with the lead's follow-ups and
//! attachments moved across and both sides linked, in one transaction.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::SPEC;
use crate::app::AppState;
use crate::core::audit;
use crate::core::auth::actor::Actor;
use crate::core::db::{DbConn, now, write_tx};
use crate::core::error::AppError;
use crate::core::records::{Record, store};
use crate::core::sql::Sql;
use crate::crm::customers::model::{CustomerId, CustomerInput};

/// What the user chose at conversion.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConvertInput {
    /// Attach the lead to this existing customer instead of creating one.
    pub customer_id: Option<i64>,
    /// Fields that replace what is carried over from the lead for the new customer.
    pub customer: Map<String, Value>,
    /// Create a contact from the lead's person (default true).
    pub create_contact: Option<bool>,
    /// Fields that replace what is carried over for the contact.
    pub contact: Map<String, Value>,
    /// Create the customer even though similar customers exist.
    pub confirm_duplicates: bool,
    /// Also open an opportunity for the customer with these fields (name,
    /// pipeline_id, amount, items …); the pipeline defaults to the first one
    /// open to the user.
    pub opportunity: Option<Map<String, Value>>,
}

fn s(r: &Record, k: &str) -> Value {
    r.get(k).cloned().unwrap_or(Value::Null)
}

/// The new customer from the lead: its company (or the person) and contact
/// data, address, classification, tags and notes; custom values whose key
/// the customers also define.
fn customer_from(
    conn: &mut DbConn,
    lead: &Record,
    overrides: &Map<String, Value>,
) -> Result<CustomerInput, AppError> {
    let company = lead
        .get("company")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    let name = if company.is_empty() {
        s(lead, "name")
    } else {
        Value::from(company)
    };
    let defs = crate::core::fields::list(conn, Some("customers"), false)?;
    let custom: Map<String, Value> = lead
        .get("custom")
        .and_then(Value::as_object)
        .map(|c| {
            c.iter()
                .filter(|(k, _)| defs.iter().any(|d| d.active && &d.key == *k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut m = json!({
        "name": name,
        "kind": if company.is_empty() { "person" } else { "company" },
        "phone": s(lead, "phone"), "mobile": s(lead, "mobile"), "email": s(lead, "email"),
        "website": s(lead, "website"), "industry": s(lead, "industry"), "source": s(lead, "source"),
        "province": s(lead, "province"), "city": s(lead, "city"), "district": s(lead, "district"),
        "address": s(lead, "address"), "tags": s(lead, "tags"), "notes": s(lead, "notes"),
        "owner_id": s(lead, "owner_id"), "next_follow_up_at": s(lead, "next_follow_up_at"),
        "custom": custom,
    });
    if let Some(obj) = m.as_object_mut() {
        obj.retain(|_, v| !v.is_null());
        for (k, v) in overrides {
            obj.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(m).map_err(|e| {
        let msg = e.to_string();
        let field = msg.split('`').nth(1).unwrap_or("customer").to_string();
        AppError::invalid(&format!("customer.{field}"), msg)
    })
}

/// Convert lead `id`. Returns the lead, the customer and the contact.
pub fn convert(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    input: &ConvertInput,
) -> Result<Value, AppError> {
    let lead = store::writable(conn, actor, &SPEC, id, "edit")?;
    if lead.get("status").and_then(Value::as_str) == Some("converted") {
        return Err(AppError::Conflict(format!(
            "lead {id} was already converted into customer {}",
            lead.get("converted_customer_id")
                .cloned()
                .unwrap_or(Value::Null)
        )));
    }
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        let customer = match input.customer_id {
            Some(cid) => {
                let found = crate::crm::customers::store::get(conn, actor, CustomerId(cid))
                    .map_err(|e| match e {
                        AppError::NotFound(m) => AppError::invalid("customer_id", m),
                        other => other,
                    })?;
                // The customer gains a contact, files and follow-ups: the
                // actor must be allowed to edit it, not only to see it.
                if !store::editable(conn, actor, "customers", cid)? {
                    return Err(AppError::Forbidden(format!(
                        "you may view customer {cid} but not add a converted lead to it"
                    )));
                }
                found
            }
            None => {
                let ci = customer_from(conn, &lead, &input.customer)?;
                crate::crm::customers::store::create(conn, actor, &ci, input.confirm_duplicates)?
            }
        };
        let cid = customer.id.0;
        let contact =
            if input.create_contact.unwrap_or(true) {
                let mut c: Map<String, Value> = ["name", "title", "mobile", "phone", "email", "im"]
                    .iter()
                    .map(|k| (k.to_string(), s(&lead, k)))
                    .filter(|(_, v)| !v.is_null())
                    .collect();
                c.insert("customer_id".into(), Value::from(cid));
                c.insert(
                    "is_primary".into(),
                    Value::Bool(input.customer_id.is_none()),
                );
                c.insert("owner_id".into(), Value::from(customer.owner_id));
                for (k, v) in &input.contact {
                    c.insert(k.clone(), v.clone());
                }
                // The customer was checked for duplicates just now; a second
                // question about the same person would only repeat it.
                let made = store::create(conn, actor, &crate::crm::contacts::SPEC, &c, true)
                    .map_err(|e| match e {
                        AppError::Invalid { field, message } => AppError::Invalid {
                            field: Some(format!("contact.{}", field.unwrap_or_default())),
                            message,
                        },
                        other => other,
                    })?;
                Some(made)
            } else {
                None
            };
        let contact_id = contact
            .as_ref()
            .and_then(|c| c.get("id"))
            .and_then(Value::as_i64);
        let opportunity = match &input.opportunity {
            None => None,
            Some(fields) => Some(open_opportunity(
                conn, actor, &lead, &customer, contact_id, fields, id,
            )?),
        };
        // The lead's follow-ups now also belong to the customer; attachments move.
        let mut sql = Sql::new(conn.backend());
        sql.push("UPDATE followups SET customer_id = ")
            .int(cid)
            .push(" WHERE lead_id = ")
            .int(id)
            .push(" AND customer_id IS NULL");
        let moved = sql.execute(conn)?;
        crate::crm::followups::refresh_dates(conn, "customers", "customer_id", cid)?;
        let files = crate::core::attachments::move_all(conn, ("leads", id), ("customers", cid))?;
        let mut sql = Sql::new(conn.backend());
        sql.push("UPDATE leads SET status = 'converted', converted_customer_id = ")
            .int(cid)
            .push(", converted_contact_id = ");
        match contact_id {
            Some(c) => sql.int(c),
            None => sql.push("NULL"),
        };
        sql.push(", converted_at = ")
            .ts(now())
            .push(", updated_by = ")
            .int(actor.user_id())
            .push(", updated_at = ")
            .ts(now())
            .push(", version = version + 1 WHERE id = ")
            .int(id)
            .push(" AND version = ")
            .int(
                lead.get("version")
                    .and_then(Value::as_i64)
                    .unwrap_or_default(),
            )
            .push(" AND status <> 'converted'");
        if sql.execute(conn)? == 0 {
            // Converted or changed by someone else meanwhile (a double
            // click): nothing of this attempt is kept.
            let current = store::read(conn, &SPEC, id)?;
            return Err(AppError::stale(&SPEC.title_of(&current), &current));
        }
        let after = store::read(conn, &SPEC, id)?;
        let customer = crate::crm::customers::store::get(conn, actor, CustomerId(cid))?;
        audit::record(
            conn,
            &ctx,
            "convert",
            "leads",
            Some(id),
            &json!({
                "status": [s(&lead, "status"), "converted"],
                "converted_customer_id": [null, cid],
                "converted_contact_id": [null, contact_id],
                "opportunity_id": [null, opportunity.as_ref().and_then(|o| o.get("id")).cloned()],
                "followups_moved": moved,
                "attachments_moved": files,
            }),
        )?;
        Ok(json!({
            "lead": after,
            "customer": customer,
            "contact": contact,
            "opportunity": opportunity,
        }))
    })
}

/// The opportunity a conversion opens: the user's fields over defaults
/// from the lead and the customer, linked back to the lead.
fn open_opportunity(
    conn: &mut DbConn,
    actor: &Actor,
    lead: &Record,
    customer: &crate::crm::customers::model::Customer,
    contact_id: Option<i64>,
    fields: &Map<String, Value>,
    lead_id: i64,
) -> Result<Record, AppError> {
    let spec = &crate::crm::opportunities::SPEC;
    let mut m = Map::new();
    m.insert("name".into(), Value::from(customer.name.clone()));
    m.insert("customer_id".into(), Value::from(customer.id.0));
    m.insert(
        "contact_ids".into(),
        json!(contact_id.into_iter().collect::<Vec<_>>()),
    );
    m.insert("owner_id".into(), json!(customer.owner_id));
    m.insert("source".into(), s(lead, "source"));
    if !fields.contains_key("pipeline_id") {
        let first = crate::crm::pipelines::list(conn, actor)?
            .into_iter()
            .find(|p| p.active && crate::crm::pipelines::usable_by(p, actor))
            .ok_or_else(|| {
                AppError::invalid(
                    "opportunity.pipeline_id",
                    "no pipeline is open to you; ask an administrator to set one up",
                )
            })?;
        m.insert("pipeline_id".into(), Value::from(first.id));
    }
    for (k, v) in fields {
        m.insert(k.clone(), v.clone());
    }
    let made = store::create(conn, actor, spec, &m, true).map_err(|e| match e {
        AppError::Invalid { field, message } => AppError::Invalid {
            field: Some(format!("opportunity.{}", field.unwrap_or_default())),
            message,
        },
        other => other,
    })?;
    let oid = made.get("id").and_then(Value::as_i64).unwrap_or_default();
    let mut sql = Sql::new(conn.backend());
    sql.push("UPDATE opportunities SET lead_id = ")
        .int(lead_id)
        .push(" WHERE id = ")
        .int(oid);
    sql.execute(conn)?;
    store::read(conn, spec, oid)
}

/// `POST /api/v1/leads/{id}/convert`
pub async fn convert_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    // No body converts with everything carried over from the lead.
    let input: ConvertInput = if body.iter().all(u8::is_ascii_whitespace) {
        ConvertInput::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            let msg = e.to_string();
            let field = msg.split('`').nth(1).unwrap_or("body").to_string();
            AppError::invalid(&field, msg)
        })?
    };
    let out = state.db(move |c| convert(c, &actor, id, &input)).await?;
    Ok(HttpResponse::Ok().json(out))
}
