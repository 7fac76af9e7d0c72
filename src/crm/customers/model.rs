//! Customers: the stored row, what the API shows, and the validated input.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::db::schema::customers;
use crate::core::error::AppError;
use crate::core::fields::{is_phone, is_url, parse_datetime};
use crate::core::text;

/// Typed id: a contact id can never be passed where a customer id is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomerId(pub i64);

#[derive(Debug, Clone, PartialEq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = customers)]
pub struct CustomerRow {
    pub id: i64,
    pub name: String,
    pub short_name: String,
    pub kind: String,
    pub industry: String,
    pub level: String,
    pub source: String,
    pub status: String,
    pub phone: String,
    pub mobile: String,
    pub email: String,
    pub website: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub address: String,
    pub tags: String,
    pub notes: String,
    pub owner_id: Option<i64>,
    pub locked: bool,
    pub deal_status: String,
    pub last_follow_up_at: Option<NaiveDateTime>,
    pub next_follow_up_at: Option<NaiveDateTime>,
    pub custom: String,
    pub dedupe_name: String,
    pub dedupe_phone: String,
    pub search_text: String,
    pub search_cjk: String,
    pub created_by: Option<i64>,
    pub updated_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
    pub pool_id: Option<i64>,
    pub pooled_at: Option<NaiveDateTime>,
    pub pool_reason: String,
    pub previous_owner_id: Option<i64>,
    pub owner_since: Option<NaiveDateTime>,
    pub last_opportunity_at: Option<NaiveDateTime>,
}

/// A customer as the API and pages show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Customer {
    pub id: CustomerId,
    pub name: String,
    pub short_name: String,
    pub kind: String,
    pub industry: String,
    pub level: String,
    pub source: String,
    pub status: String,
    pub phone: String,
    pub mobile: String,
    pub email: String,
    pub website: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub address: String,
    pub tags: Vec<String>,
    pub notes: String,
    pub owner_id: Option<i64>,
    /// Filled in by lists and reads.
    pub owner_name: Option<String>,
    pub locked: bool,
    pub deal_status: String,
    pub last_follow_up_at: Option<NaiveDateTime>,
    pub next_follow_up_at: Option<NaiveDateTime>,
    pub custom: Map<String, Value>,
    pub created_by: Option<i64>,
    pub updated_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
    /// The pool the customer sits in (no owner) or was last claimed from.
    pub pool_id: Option<i64>,
    pub pooled_at: Option<NaiveDateTime>,
    pub pool_reason: String,
    pub previous_owner_id: Option<i64>,
    /// Since when the current owner has the customer (pool rules count from it).
    pub owner_since: Option<NaiveDateTime>,
    pub last_opportunity_at: Option<NaiveDateTime>,
}

impl From<CustomerRow> for Customer {
    fn from(r: CustomerRow) -> Self {
        Customer {
            id: CustomerId(r.id),
            name: r.name,
            short_name: r.short_name,
            kind: r.kind,
            industry: r.industry,
            level: r.level,
            source: r.source,
            status: r.status,
            phone: r.phone,
            mobile: r.mobile,
            email: r.email,
            website: r.website,
            province: r.province,
            city: r.city,
            district: r.district,
            address: r.address,
            tags: serde_json::from_str(&r.tags).unwrap_or_default(),
            notes: r.notes,
            owner_id: r.owner_id,
            owner_name: None,
            locked: r.locked,
            deal_status: r.deal_status,
            last_follow_up_at: r.last_follow_up_at,
            next_follow_up_at: r.next_follow_up_at,
            custom: serde_json::from_str(&r.custom).unwrap_or_default(),
            created_by: r.created_by,
            updated_by: r.updated_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
            pool_id: r.pool_id,
            pooled_at: r.pooled_at,
            pool_reason: r.pool_reason,
            previous_owner_id: r.previous_owner_id,
            owner_since: r.owner_since,
            last_opportunity_at: r.last_opportunity_at,
        }
    }
}

/// The customer's fields in the record kernel's terms, for the API
/// description (customers keep their own typed store).
pub static DOC_SPEC: crate::core::records::EntitySpec = {
    use crate::core::records::{EntitySpec, Kind, field};
    EntitySpec {
        name: "customers",
        singular: "customer",
        fields: &[
            field("name", Kind::Text(200)).required(),
            field("short_name", Kind::Text(100)),
            field("kind", Kind::Choice(KINDS)),
            field("industry", Kind::Text(50)),
            field("level", Kind::Text(20)),
            field("source", Kind::Text(50)),
            field("status", Kind::Text(50)),
            field("phone", Kind::Phone),
            field("mobile", Kind::Phone),
            field("email", Kind::Email),
            field("website", Kind::Url),
            field("province", Kind::Text(50)),
            field("city", Kind::Text(50)),
            field("district", Kind::Text(50)),
            field("address", Kind::Text(300)),
            field("tags", Kind::Tags),
            field("notes", Kind::Text(10_000)),
            field("locked", Kind::Bool),
            field("deal_status", Kind::Choice(DEAL_STATUSES)),
            field("next_follow_up_at", Kind::DateTime),
            field("last_follow_up_at", Kind::DateTime).server(),
        ],
        owner_col: "owner_id",
        title: "name",
        default_sort: "-updated_at",
        dedupe: None,
        prepare: None,
        after_write: None,
        extra_views: None,
    }
};

pub const KINDS: &[&str] = &["company", "person"];
pub const DEAL_STATUSES: &[&str] = &["none", "won", "lost"];

/// The fields a client may set. Unknown fields are refused, so a typo never
/// silently loses data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CustomerInput {
    pub name: String,
    pub short_name: String,
    pub kind: String,
    pub industry: String,
    pub level: String,
    pub source: String,
    pub status: String,
    pub phone: String,
    pub mobile: String,
    pub email: String,
    pub website: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub address: String,
    pub tags: Vec<String>,
    pub notes: String,
    /// Defaults to the creating user.
    pub owner_id: Option<i64>,
    pub locked: bool,
    pub deal_status: String,
    /// `YYYY-MM-DDTHH:MM[:SS]`, UTC.
    pub next_follow_up_at: Option<String>,
    pub custom: Value,
}

impl CustomerInput {
    /// The editable fields of a stored customer, for merging a partial update.
    pub fn from_customer(c: &Customer) -> CustomerInput {
        CustomerInput {
            name: c.name.clone(),
            short_name: c.short_name.clone(),
            kind: c.kind.clone(),
            industry: c.industry.clone(),
            level: c.level.clone(),
            source: c.source.clone(),
            status: c.status.clone(),
            phone: c.phone.clone(),
            mobile: c.mobile.clone(),
            email: c.email.clone(),
            website: c.website.clone(),
            province: c.province.clone(),
            city: c.city.clone(),
            district: c.district.clone(),
            address: c.address.clone(),
            tags: c.tags.clone(),
            notes: c.notes.clone(),
            owner_id: c.owner_id,
            locked: c.locked,
            deal_status: c.deal_status.clone(),
            next_follow_up_at: c
                .next_follow_up_at
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string()),
            custom: Value::Object(c.custom.clone()),
        }
    }
}

/// Input after validation, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanCustomer {
    pub name: String,
    pub short_name: String,
    pub kind: String,
    pub industry: String,
    pub level: String,
    pub source: String,
    pub status: String,
    pub phone: String,
    pub mobile: String,
    pub email: String,
    pub website: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub address: String,
    pub tags: Vec<String>,
    pub notes: String,
    pub owner_id: Option<i64>,
    pub locked: bool,
    pub deal_status: String,
    pub next_follow_up_at: Option<NaiveDateTime>,
    pub dedupe_name: String,
    pub dedupe_phone: String,
    pub search_text: String,
    pub search_cjk: String,
}

/// A row to insert (create, import, demo data).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = customers)]
pub struct NewCustomer {
    pub name: String,
    pub short_name: String,
    pub kind: String,
    pub industry: String,
    pub level: String,
    pub source: String,
    pub status: String,
    pub phone: String,
    pub mobile: String,
    pub email: String,
    pub website: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub address: String,
    pub tags: String,
    pub notes: String,
    pub owner_id: Option<i64>,
    pub locked: bool,
    pub deal_status: String,
    pub last_follow_up_at: Option<NaiveDateTime>,
    pub next_follow_up_at: Option<NaiveDateTime>,
    pub custom: String,
    pub dedupe_name: String,
    pub dedupe_phone: String,
    pub search_text: String,
    pub search_cjk: String,
    pub created_by: Option<i64>,
    pub updated_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

impl NewCustomer {
    /// The row of cleaned input `c`, whose strings move into it (an import
    /// of a million customers spent a tenth of its writing time copying
    /// and freeing them).
    pub fn from_clean(
        c: CleanCustomer,
        custom: String,
        by: Option<i64>,
        created_at: NaiveDateTime,
        updated_at: NaiveDateTime,
        last_follow_up_at: Option<NaiveDateTime>,
    ) -> NewCustomer {
        NewCustomer {
            name: c.name,
            short_name: c.short_name,
            kind: c.kind,
            industry: c.industry,
            level: c.level,
            source: c.source,
            status: c.status,
            phone: c.phone,
            mobile: c.mobile,
            email: c.email,
            website: c.website,
            province: c.province,
            city: c.city,
            district: c.district,
            address: c.address,
            tags: serde_json::to_string(&c.tags).unwrap_or_else(|_| "[]".into()),
            notes: c.notes,
            owner_id: c.owner_id,
            locked: c.locked,
            deal_status: c.deal_status,
            last_follow_up_at,
            next_follow_up_at: c.next_follow_up_at,
            custom,
            dedupe_name: c.dedupe_name,
            dedupe_phone: c.dedupe_phone,
            search_text: c.search_text,
            search_cjk: c.search_cjk,
            created_by: by,
            updated_by: by,
            created_at,
            updated_at,
            version: 1,
        }
    }

    /// Insert `rows` on SQLite one by one through one prepared statement,
    /// returning their ids: [`InsertOne`], whose type is the statement
    /// cache's key. diesel's own insert of one row is cached by its SQL
    /// text, which it builds again for every row (four walks over 32
    /// columns per row: the text, "cacheable?", the bind count, the binds),
    /// and at a million imported customers that cost more than SQLite's
    /// own work; a multi-row insert is even compiled anew each time, and
    /// literal values instead of binds moved the cost into SQLite's parser.
    pub fn insert_sqlite(
        c: &mut diesel::SqliteConnection,
        rows: &[NewCustomer],
    ) -> QueryResult<Vec<i64>> {
        rows.iter().map(|r| InsertOne(r).get_result(c)).collect()
    }
}

/// `INSERT INTO customers (…) VALUES (…) RETURNING id` of one
/// [`NewCustomer`] on SQLite, with a static query id: diesel prepares it
/// once per connection and then only binds the values.
pub struct InsertOne<'a>(pub &'a NewCustomer);

impl diesel::query_builder::QueryId for InsertOne<'_> {
    type QueryId = InsertOne<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::Query for InsertOne<'_> {
    type SqlType = diesel::sql_types::BigInt;
}

impl RunQueryDsl<diesel::SqliteConnection> for InsertOne<'_> {}

/// The columns of [`NewCustomer`] and their SQL types, once: the SQL text
/// and the binds of [`InsertOne`] come from the same list.
macro_rules! insert_one {
    ($first:ident: $fty:ty $(, $col:ident: $ty:ty)* $(,)?) => {
        impl diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite> for InsertOne<'_> {
            fn walk_ast<'b>(
                &'b self,
                mut out: diesel::query_builder::AstPass<'_, 'b, diesel::sqlite::Sqlite>,
            ) -> QueryResult<()> {
                use diesel::sql_types::*;
                let r = self.0;
                // Every field named: a field added to `NewCustomer` but not
                // here does not compile.
                let NewCustomer { $first: _, $($col: _,)* } = r;
                out.push_sql(concat!(
                    "INSERT INTO customers (",
                    stringify!($first),
                    $(", ", stringify!($col),)*
                    ") VALUES ("
                ));
                out.push_bind_param::<$fty, _>(&r.$first)?;
                $(
                    out.push_sql(", ");
                    out.push_bind_param::<$ty, _>(&r.$col)?;
                )*
                out.push_sql(") RETURNING id");
                Ok(())
            }
        }
    };
}

insert_one!(
    name: Text, short_name: Text, kind: Text, industry: Text, level: Text, source: Text,
    status: Text, phone: Text, mobile: Text, email: Text, website: Text, province: Text,
    city: Text, district: Text, address: Text, tags: Text, notes: Text,
    owner_id: Nullable<BigInt>, locked: Bool, deal_status: Text,
    last_follow_up_at: Nullable<Timestamp>, next_follow_up_at: Nullable<Timestamp>,
    custom: Text, dedupe_name: Text, dedupe_phone: Text, search_text: Text, search_cjk: Text,
    created_by: Nullable<BigInt>, updated_by: Nullable<BigInt>,
    created_at: Timestamp, updated_at: Timestamp, version: Integer,
);

use crate::core::records::limited;

/// Check every fixed field (custom fields are checked by `core::fields`).
pub fn validate(input: &CustomerInput) -> Result<CleanCustomer, AppError> {
    let name = limited("name", &input.name, 200)?;
    if name.is_empty() {
        return Err(AppError::invalid("name", "a customer needs a name"));
    }
    let kind = if input.kind.trim().is_empty() {
        "company".to_string()
    } else {
        input.kind.trim().to_string()
    };
    if !KINDS.contains(&kind.as_str()) {
        return Err(AppError::invalid("kind", "company or person"));
    }
    let deal_status = if input.deal_status.trim().is_empty() {
        "none".to_string()
    } else {
        input.deal_status.trim().to_string()
    };
    if !DEAL_STATUSES.contains(&deal_status.as_str()) {
        return Err(AppError::invalid("deal_status", "none, won or lost"));
    }
    let phone = limited("phone", &input.phone, 40)?;
    if !phone.is_empty() && !is_phone(&phone) {
        return Err(AppError::invalid(
            "phone",
            format!("`{phone}` is not a phone number"),
        ));
    }
    let mobile = limited("mobile", &input.mobile, 40)?;
    if !mobile.is_empty() && !is_phone(&mobile) {
        return Err(AppError::invalid(
            "mobile",
            format!("`{mobile}` is not a phone number"),
        ));
    }
    let email = text::normalize_email(&limited("email", &input.email, 254)?);
    if !email.is_empty() {
        crate::core::org::users::normalize_email(&email)?;
    }
    let mut website = limited("website", &input.website, 300)?;
    if !website.is_empty() {
        if !website.contains("://") {
            website = format!("https://{website}");
        }
        if !is_url(&website) {
            return Err(AppError::invalid(
                "website",
                format!("`{}` is not a web address", input.website.trim()),
            ));
        }
    }
    let mut tags: Vec<String> = Vec::new();
    for t in &input.tags {
        let t = limited("tags", t, 30)?;
        if !t.is_empty() && !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() > 20 {
        return Err(AppError::invalid("tags", "at most 20 tags"));
    }
    let next_follow_up_at = match input.next_follow_up_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(parse_datetime(s).ok_or_else(|| {
            AppError::invalid(
                "next_follow_up_at",
                format!("`{s}` is not a date-time (YYYY-MM-DDTHH:MM:SS)"),
            )
        })?),
    };
    let short_name = limited("short_name", &input.short_name, 100)?;
    let notes = limited("notes", &input.notes, 10_000)?;
    let clean = CleanCustomer {
        dedupe_name: text::normalize_name(&name),
        dedupe_phone: text::normalize_phone(if mobile.is_empty() { &phone } else { &mobile }),
        search_text: text::search_text(&[&name, &short_name, &email, &notes], &[&phone, &mobile]),
        search_cjk: text::search_cjk(&[&name, &short_name, &notes]),
        name,
        short_name,
        kind,
        industry: limited("industry", &input.industry, 50)?,
        level: limited("level", &input.level, 20)?,
        source: limited("source", &input.source, 50)?,
        status: limited("status", &input.status, 50)?,
        phone,
        mobile,
        email,
        website,
        province: limited("province", &input.province, 50)?,
        city: limited("city", &input.city, 50)?,
        district: limited("district", &input.district, 50)?,
        address: limited("address", &input.address, 300)?,
        tags,
        notes,
        owner_id: input.owner_id,
        locked: input.locked,
        deal_status,
        next_follow_up_at,
    };
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let ok = validate(&CustomerInput {
            name: " 深圳市星河科技有限公司 ".into(),
            phone: "+86 755-8888 6666".into(),
            email: "Info@XingHe.CN".into(),
            website: "www.xinghe.cn".into(),
            tags: vec!["VIP".into(), "VIP".into(), "华南".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.name, "深圳市星河科技有限公司");
        assert_eq!(ok.email, "info@xinghe.cn");
        assert_eq!(ok.website, "https://www.xinghe.cn");
        assert_eq!(ok.tags, vec!["VIP", "华南"]);
        assert_eq!(ok.dedupe_name, "深圳星河科技");
        for (input, field) in [
            (CustomerInput::default(), "name"),
            (
                CustomerInput {
                    name: "x".repeat(201),
                    ..Default::default()
                },
                "name",
            ),
            (
                CustomerInput {
                    name: "a".into(),
                    email: "nope".into(),
                    ..Default::default()
                },
                "email",
            ),
            (
                CustomerInput {
                    name: "a".into(),
                    phone: "call me".into(),
                    ..Default::default()
                },
                "phone",
            ),
            (
                CustomerInput {
                    name: "a".into(),
                    kind: "robot".into(),
                    ..Default::default()
                },
                "kind",
            ),
            (
                CustomerInput {
                    name: "a".into(),
                    next_follow_up_at: Some("tomorrow".into()),
                    ..Default::default()
                },
                "next_follow_up_at",
            ),
        ] {
            match validate(&input) {
                Err(AppError::Invalid { field: Some(f), .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
