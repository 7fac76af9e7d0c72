//! Products (产品): the company's catalogue, in a category tree. Everyone
//! with `products.view` sees every product (the catalogue is company-wide,
//! see `access::COMPANY_WIDE`); changing it takes `products.edit`.

use actix_web::{HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::core::audit;
use crate::core::auth::actor::Actor;
use crate::core::db::schema::{product_categories as pc, products};
use crate::core::db::{DbConn, now, write_tx};
use crate::core::error::AppError;
use crate::core::records::{EntitySpec, Field, Kind, Record, field, limited};

pub const FIELDS: &[Field] = &[
    field("code", Kind::Text(50)).sortable().search(),
    field("name", Kind::Text(200))
        .required()
        .sortable()
        .search(),
    field("category_id", Kind::Int),
    field("unit", Kind::Text(20)),
    // Minor units of `currency` (fen for CNY); empty: price on request.
    field("list_price", Kind::Int).sortable(),
    field("currency", Kind::Text(3)),
    field("active", Kind::Bool).default_on(),
    field("description", Kind::Text(10_000)).search(),
];

pub static SPEC: EntitySpec = EntitySpec {
    name: "products",
    singular: "product",
    fields: FIELDS,
    owner_col: "owner_id",
    title: "name",
    default_sort: "name",
    dedupe: None,
    prepare: Some(prepare),
    after_write: None,
    extra_views: None,
};

/// A currency code as stored: three ASCII letters, upper case; CNY when empty.
pub fn currency(field: &str, v: Option<&Value>) -> Result<String, AppError> {
    let c = v
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_uppercase();
    if c.is_empty() {
        return Ok("CNY".into());
    }
    if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(AppError::invalid(
            field,
            format!("`{c}` is not a currency code (three letters, e.g. CNY, USD)"),
        ));
    }
    Ok(c)
}

/// The price is not negative, the category exists, the code is free.
fn prepare(
    conn: &mut DbConn,
    _actor: &Actor,
    r: &mut Record,
    before: Option<&Record>,
) -> Result<(), AppError> {
    if r.get("list_price")
        .and_then(Value::as_i64)
        .is_some_and(|p| p < 0)
    {
        return Err(AppError::invalid(
            "list_price",
            "a price cannot be negative",
        ));
    }
    let cur = currency("currency", r.get("currency"))?;
    r.insert("currency".into(), Value::from(cur));
    if let Some(cat) = r.get("category_id").and_then(Value::as_i64)
        && before.is_none_or(|b| b.get("category_id") != r.get("category_id"))
    {
        let found: i64 = pc::table.filter(pc::id.eq(cat)).count().get_result(conn)?;
        if found == 0 {
            return Err(AppError::invalid(
                "category_id",
                format!("product category {cat} does not exist"),
            ));
        }
    }
    let code = r
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !code.is_empty() {
        let me = before.and_then(|b| b.get("id")).and_then(Value::as_i64);
        let other: Option<(i64, String)> = products::table
            .filter(products::code.eq(&code))
            .filter(products::id.ne(me.unwrap_or(0)))
            .select((products::id, products::name))
            .first(conn)
            .optional()?;
        if let Some((id, name)) = other {
            return Err(AppError::invalid(
                "code",
                format!("code `{code}` is already used by product {id} \"{name}\""),
            ));
        }
    }
    Ok(())
}

/// A product as a line item sees it: name, unit, list price, active.
pub type ItemProduct = (String, String, Option<i64>, bool);

/// Product `id` from the catalogue, if it exists.
pub fn for_line_item(conn: &mut DbConn, id: i64) -> Result<Option<ItemProduct>, AppError> {
    Ok(products::table
        .find(id)
        .select((
            products::name,
            products::unit,
            products::list_price,
            products::active,
        ))
        .first(conn)
        .optional()?)
}

// ---- categories ---------------------------------------------------------

#[derive(Debug, Clone, Serialize, Queryable)]
pub struct Category {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    pub position: i32,
    pub created_at: chrono::NaiveDateTime,
    pub updated_at: chrono::NaiveDateTime,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    pub name: String,
    #[serde(default)]
    pub parent_id: Option<i64>,
    #[serde(default)]
    pub position: i32,
}

/// Every category, parents before children, siblings by position.
pub fn categories(conn: &mut DbConn) -> Result<Vec<Category>, AppError> {
    let all: Vec<Category> = pc::table.order((pc::position, pc::id)).load(conn)?;
    let mut out = Vec::with_capacity(all.len());
    fn walk(all: &[Category], parent: Option<i64>, out: &mut Vec<Category>, depth: usize) {
        if depth > 32 {
            return;
        }
        for c in all.iter().filter(|c| c.parent_id == parent) {
            out.push(c.clone());
            walk(all, Some(c.id), out, depth + 1);
        }
    }
    walk(&all, None, &mut out, 0);
    Ok(out)
}

/// The parent exists and is not `id` itself or below it.
fn check_parent(conn: &mut DbConn, id: Option<i64>, parent: Option<i64>) -> Result<(), AppError> {
    let Some(mut p) = parent else { return Ok(()) };
    for _ in 0..64 {
        if Some(p) == id {
            return Err(AppError::invalid(
                "parent_id",
                "a category cannot be placed under itself or one of its subcategories",
            ));
        }
        let up: Option<Option<i64>> = pc::table
            .find(p)
            .select(pc::parent_id)
            .first(conn)
            .optional()?;
        match up {
            None => {
                return Err(AppError::invalid(
                    "parent_id",
                    format!("product category {p} does not exist"),
                ));
            }
            Some(None) => return Ok(()),
            Some(Some(next)) => p = next,
        }
    }
    Err(AppError::invalid(
        "parent_id",
        "the category tree is too deep",
    ))
}

fn save_category(
    conn: &mut DbConn,
    actor: &Actor,
    id: Option<i64>,
    input: CategoryInput,
) -> Result<Category, AppError> {
    actor.require("products", "edit")?;
    let name = limited("name", &input.name, 100)?;
    if name.is_empty() {
        return Err(AppError::invalid("name", "is required"));
    }
    check_parent(conn, id, input.parent_id)?;
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        let t = now();
        let (id, before) = match id {
            None => {
                let id: i64 = diesel::insert_into(pc::table)
                    .values((
                        pc::name.eq(&name),
                        pc::parent_id.eq(input.parent_id),
                        pc::position.eq(input.position),
                        pc::created_at.eq(t),
                        pc::updated_at.eq(t),
                    ))
                    .returning(pc::id)
                    .get_result(conn)?;
                (id, Value::Null)
            }
            Some(id) => {
                let before: Category =
                    pc::table.find(id).first(conn).optional()?.ok_or_else(|| {
                        AppError::NotFound(format!("product category {id} not found"))
                    })?;
                diesel::update(pc::table.find(id))
                    .set((
                        pc::name.eq(&name),
                        pc::parent_id.eq(input.parent_id),
                        pc::position.eq(input.position),
                        pc::updated_at.eq(t),
                    ))
                    .execute(conn)?;
                (id, json!(before))
            }
        };
        let after: Category = pc::table.find(id).first(conn)?;
        audit::record(
            conn,
            &ctx,
            if before.is_null() { "create" } else { "update" },
            "product_categories",
            Some(id),
            &audit::diff(&before, &json!(after)),
        )?;
        Ok(after)
    })
}

fn delete_category(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), AppError> {
    actor.require("products", "edit")?;
    let ctx = actor.audit();
    write_tx(conn, |conn| {
        let before: Category = pc::table
            .find(id)
            .first(conn)
            .optional()?
            .ok_or_else(|| AppError::NotFound(format!("product category {id} not found")))?;
        let children: i64 = pc::table
            .filter(pc::parent_id.eq(id))
            .count()
            .get_result(conn)?;
        let used: i64 = products::table
            .filter(products::category_id.eq(id))
            .count()
            .get_result(conn)?;
        if children > 0 || used > 0 {
            return Err(AppError::Conflict(format!(
                "category \"{}\" still has {children} subcategories and {used} products; move them first",
                before.name
            )));
        }
        diesel::delete(pc::table.find(id)).execute(conn)?;
        audit::record(
            conn,
            &ctx,
            "delete",
            "product_categories",
            Some(id),
            &audit::diff(&json!(before), &Value::Null),
        )?;
        Ok(())
    })
}

/// `GET /api/v1/product-categories`: the tree, parents first.
#[actix_web::get("/api/v1/product-categories")]
async fn list_api(actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    actor.require("products", "view")?;
    let items = state.db(categories).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `POST /api/v1/product-categories`: `{"name", "parent_id", "position"}`.
#[actix_web::post("/api/v1/product-categories")]
async fn create_api(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<CategoryInput>,
) -> Result<HttpResponse, AppError> {
    let c = state
        .db(move |c| save_category(c, &actor, None, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(c))
}

/// `PUT /api/v1/product-categories/{id}`.
#[actix_web::put("/api/v1/product-categories/{id}")]
async fn update_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<CategoryInput>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let c = state
        .db(move |c| save_category(c, &actor, Some(id), body.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(c))
}

/// `DELETE /api/v1/product-categories/{id}`: only an empty category.
#[actix_web::delete("/api/v1/product-categories/{id}")]
async fn delete_api(
    actor: Actor,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    state.db(move |c| delete_category(c, &actor, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_api)
        .service(create_api)
        .service(update_api)
        .service(delete_api);
}
