//! Lists for every entity: filters with operators, sort by indexed columns,
//! keyset pagination (never a large OFFSET), capped totals.
//!
//! A query string such as
//! `?filter=level:eq:A&filter=city:in:深圳,广州&sort=-updated_at&limit=50&cursor=…`
//! becomes SQL through [`Sql`]; every value is bound.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::sql_types::BigInt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::core::db::Backend;
use crate::core::error::AppError;
use crate::core::fields::{self, FieldDef};
use crate::core::sql::{Bind, Sql};

/// Largest page.
pub const MAX_LIMIT: i64 = 200;
/// Totals are exact up to this and reported as "10,000+" beyond it.
pub const COUNT_CAP: i64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    Empty,
    NotEmpty,
    Gt,
    Ge,
    Lt,
    Le,
    Between,
    In,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" | "=" => Op::Eq,
            "ne" | "!=" => Op::Ne,
            "contains" => Op::Contains,
            "not_contains" => Op::NotContains,
            "starts_with" => Op::StartsWith,
            "ends_with" => Op::EndsWith,
            "empty" => Op::Empty,
            "not_empty" => Op::NotEmpty,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "between" => Op::Between,
            "in" => Op::In,
            _ => return None,
        })
    }
}

/// One filter condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    pub field: String,
    pub op: Op,
    #[serde(default)]
    pub value: Vec<String>,
}

/// What a list request asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    pub q: Option<String>,
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Field name, `-` prefix for descending.
    #[serde(default)]
    pub sort: Option<String>,
    #[serde(default)]
    pub cursor: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    /// A built-in view key or a saved view id.
    #[serde(default)]
    pub view: Option<String>,
    /// Also count the matching rows (capped). Counting can cost more than
    /// the page itself on large tables, so it is asked for separately.
    #[serde(default)]
    pub total: bool,
}

/// Parse `filter=field:op:value` (repeatable), `q`, `sort`, `cursor`, `limit`, `view`.
pub fn parse_query(qs: &str) -> Result<ListParams, AppError> {
    let mut p = ListParams::default();
    for (k, v) in form_urlencoded::parse(qs.as_bytes()) {
        match k.as_ref() {
            "q" => p.q = Some(v.into_owned()).filter(|s| !s.trim().is_empty()),
            "sort" => p.sort = Some(v.into_owned()).filter(|s| !s.is_empty()),
            "cursor" => p.cursor = Some(v.into_owned()).filter(|s| !s.is_empty()),
            "view" => p.view = Some(v.into_owned()).filter(|s| !s.is_empty()),
            "limit" => {
                p.limit =
                    Some(v.parse().map_err(|_| {
                        AppError::invalid("limit", format!("`{v}` is not a number"))
                    })?)
            }
            "filter" => p.filters.push(parse_filter(&v)?),
            "total" => p.total = matches!(v.as_ref(), "1" | "true" | "yes"),
            _ => {}
        }
    }
    Ok(p)
}

fn parse_filter(s: &str) -> Result<Filter, AppError> {
    let mut parts = s.splitn(3, ':');
    let field = parts.next().unwrap_or("").trim().to_string();
    let op_s = parts.next().unwrap_or("");
    let op = Op::parse(op_s).ok_or_else(|| {
        AppError::invalid(
            "filter",
            format!("`{s}`: use field:op:value with op one of eq, ne, contains, not_contains, starts_with, ends_with, empty, not_empty, gt, ge, lt, le, between, in"),
        )
    })?;
    let raw = parts.next().unwrap_or("");
    let value = match op {
        Op::In | Op::Between => raw
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
        Op::Empty | Op::NotEmpty => vec![],
        _ => vec![raw.to_string()],
    };
    Ok(Filter { field, op, value })
}

/// How a column compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColKind {
    Text,
    Int,
    Bool,
    Time,
}

/// A field a list may filter (and maybe sort) by.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    /// SQL expression (a column name of the listed table).
    pub expr: &'static str,
    pub kind: ColKind,
    /// Backed by an index with `id` last, so keyset paging is cheap.
    pub sortable: bool,
    pub nullable: bool,
}

/// A resolved field: a fixed column or a custom field.
#[derive(Debug, Clone)]
struct Resolved {
    name: String,
    expr: String,
    kind: ColKind,
    sortable: bool,
    nullable: bool,
}

fn resolve(
    backend: Backend,
    columns: &[Column],
    custom: &[FieldDef],
    name: &str,
) -> Result<Resolved, AppError> {
    if let Some(c) = columns.iter().find(|c| c.name == name) {
        return Ok(Resolved {
            name: c.name.into(),
            expr: c.expr.into(),
            kind: c.kind,
            sortable: c.sortable,
            nullable: c.nullable,
        });
    }
    if let Some(key) = name.strip_prefix("custom.")
        && let Some(def) = custom.iter().find(|d| d.key == key && d.active)
    {
        let text = fields::json_text_expr(backend, &def.key);
        let (expr, kind) = match def.kind.as_str() {
            "integer" | "money" | "user" | "department" | "customer" | "contact" => (
                match backend {
                    Backend::Sqlite => format!("CAST({text} AS INTEGER)"),
                    Backend::Postgres => format!("CAST({text} AS BIGINT)"),
                },
                ColKind::Int,
            ),
            _ => (text, ColKind::Text),
        };
        return Ok(Resolved {
            name: name.into(),
            expr,
            kind,
            sortable: true,
            nullable: true,
        });
    }
    let known: Vec<&str> = columns.iter().map(|c| c.name).collect();
    Err(AppError::invalid(
        "filter",
        format!(
            "unknown field `{name}`; known: {}, and custom.<key>",
            known.join(", ")
        ),
    ))
}

fn parse_time(s: &str) -> Option<NaiveDateTime> {
    fields::parse_datetime(s).or_else(|| {
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })
}

fn bind_value(field: &Resolved, v: &str) -> Result<Bind, AppError> {
    let bad = |what: &str| {
        AppError::invalid(
            "filter",
            format!("`{v}` is not {what} for `{}`", field.name),
        )
    };
    Ok(match field.kind {
        ColKind::Text => Bind::Text(v.to_string()),
        ColKind::Int => Bind::I64(v.trim().parse().map_err(|_| bad("a number"))?),
        ColKind::Bool => Bind::Bool(match v.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(bad("true or false")),
        }),
        ColKind::Time => {
            Bind::Ts(parse_time(v).ok_or_else(|| bad("a date (YYYY-MM-DD) or date-time"))?)
        }
    })
}

/// Append ` AND <condition>` for each filter.
pub fn apply_filters(
    sql: &mut Sql,
    columns: &[Column],
    custom: &[FieldDef],
    filters: &[Filter],
) -> Result<(), AppError> {
    for f in filters {
        let field = resolve(sql.backend, columns, custom, &f.field)?;
        let e = field.expr.as_str();
        let like = match sql.backend {
            Backend::Sqlite => "LIKE",
            Backend::Postgres => "ILIKE",
        };
        let need = |n: usize| -> Result<(), AppError> {
            if f.value.len() < n
                || f.value
                    .iter()
                    .take(n)
                    .any(|v| v.is_empty() && field.kind != ColKind::Text)
            {
                Err(AppError::invalid(
                    "filter",
                    format!("`{}` needs {n} value(s) for {:?}", f.field, f.op),
                ))
            } else {
                Ok(())
            }
        };
        sql.push(" AND ");
        match f.op {
            Op::Empty => {
                if field.kind == ColKind::Text {
                    sql.push(&format!("({e} IS NULL OR {e} = '')"));
                } else {
                    sql.push(&format!("{e} IS NULL"));
                }
            }
            Op::NotEmpty => {
                if field.kind == ColKind::Text {
                    sql.push(&format!("({e} IS NOT NULL AND {e} <> '')"));
                } else {
                    sql.push(&format!("{e} IS NOT NULL"));
                }
            }
            Op::Contains | Op::NotContains | Op::StartsWith | Op::EndsWith => {
                if field.kind != ColKind::Text {
                    return Err(AppError::invalid(
                        "filter",
                        format!("{:?} works on text fields; `{}` is not text", f.op, f.field),
                    ));
                }
                need(1)?;
                let v = crate::core::text::like_escape(&f.value[0]);
                let pattern = match f.op {
                    Op::StartsWith => format!("{v}%"),
                    Op::EndsWith => format!("%{v}"),
                    _ => format!("%{v}%"),
                };
                let not = if f.op == Op::NotContains { "NOT " } else { "" };
                if f.op == Op::NotContains {
                    sql.push(&format!("({e} IS NULL OR "));
                }
                sql.push(&format!("{e} {not}{like} "))
                    .text(pattern)
                    .push(" ESCAPE '\\'");
                if f.op == Op::NotContains {
                    sql.push(")");
                }
            }
            Op::Eq | Op::Ne | Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                need(1)?;
                let op = match f.op {
                    Op::Eq => "=",
                    Op::Ne => "<>",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    Op::Lt => "<",
                    _ => "<=",
                };
                if f.op == Op::Ne {
                    sql.push(&format!("({e} IS NULL OR {e} <> "));
                    sql.bind(bind_value(&field, &f.value[0])?).push(")");
                } else {
                    sql.push(&format!("{e} {op} "));
                    sql.bind(bind_value(&field, &f.value[0])?);
                }
            }
            Op::Between => {
                need(2)?;
                sql.push(&format!("{e} BETWEEN "));
                sql.bind(bind_value(&field, &f.value[0])?).push(" AND ");
                sql.bind(bind_value(&field, &f.value[1])?);
            }
            Op::In => {
                need(1)?;
                sql.push(&format!("{e} IN ("));
                for (i, v) in f.value.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.bind(bind_value(&field, v)?);
                }
                sql.push(")");
            }
        }
    }
    Ok(())
}

/// Where the next page starts: the last row's sort value and id, and
/// whether paging has reached the rows whose sort value is empty (NULL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub v: Value,
    pub id: i64,
    #[serde(default)]
    pub nulls: bool,
}

impl Cursor {
    pub fn encode(&self) -> String {
        crate::core::tls::hex(serde_json::to_string(self).unwrap_or_default().as_bytes())
    }

    pub fn decode(s: &str) -> Result<Cursor, AppError> {
        let bad = || {
            AppError::invalid(
                "cursor",
                "not a cursor from this list; start again without it",
            )
        };
        if !s.len().is_multiple_of(2) || s.len() > 2000 {
            return Err(bad());
        }
        let bytes: Result<Vec<u8>, _> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16))
            .collect();
        let bytes = bytes.map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }
}

/// The sort a list uses.
#[derive(Debug, Clone)]
pub struct Sort {
    field: Resolved,
    pub desc: bool,
}

impl Sort {
    pub fn name(&self) -> &str {
        &self.field.name
    }

    /// The SQL expression sorted by.
    pub fn expr(&self) -> &str {
        &self.field.expr
    }
}

pub fn resolve_sort(
    backend: Backend,
    columns: &[Column],
    custom: &[FieldDef],
    sort: Option<&str>,
    default: &str,
) -> Result<Sort, AppError> {
    let s = sort.unwrap_or(default);
    let (desc, name) = match s.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, s),
    };
    let field = resolve(backend, columns, custom, name)
        .map_err(|_| AppError::invalid("sort", format!("cannot sort by `{name}`")))?;
    if !field.sortable {
        return Err(AppError::invalid(
            "sort",
            format!("cannot sort by `{name}`"),
        ));
    }
    Ok(Sort { field, desc })
}

fn cursor_bind(sort: &Sort, v: &Value) -> Result<Bind, AppError> {
    let bad = || AppError::invalid("cursor", "does not match the sort; start again without it");
    Ok(match sort.field.kind {
        ColKind::Text => Bind::Text(v.as_str().ok_or_else(bad)?.to_string()),
        ColKind::Int => Bind::I64(v.as_i64().ok_or_else(bad)?),
        ColKind::Bool => Bind::Bool(v.as_bool().ok_or_else(bad)?),
        ColKind::Time => Bind::Ts(v.as_str().and_then(parse_time).ok_or_else(bad)?),
    })
}

/// Which part of a nullable sort a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Rows with a sort value (all rows for a NOT NULL column).
    Values,
    /// Rows whose sort value is NULL, by id; they come last.
    Nulls,
}

/// Append the keyset condition, ORDER BY and LIMIT for `phase`.
pub fn apply_page(
    sql: &mut Sql,
    sort: &Sort,
    cursor: Option<&Cursor>,
    phase: Phase,
    limit: i64,
) -> Result<(), AppError> {
    let e = sort.field.expr.clone();
    let (cmp, dir) = if sort.desc {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    match phase {
        Phase::Values => {
            if sort.field.nullable {
                sql.push(&format!(" AND {e} IS NOT NULL"));
            }
            // Sorting by the id itself (or the search index's rowid, which
            // is the id) needs no tie-breaker, and a single ORDER BY term lets
            // a search index return rows in its own order.
            let by_id = sort.field.name == "id";
            if let Some(c) = cursor {
                if by_id {
                    sql.push(&format!(" AND {e} {cmp} ")).int(c.id);
                } else {
                    sql.push(&format!(" AND ({e}, id) {cmp} ("));
                    sql.bind(cursor_bind(sort, &c.v)?)
                        .push(", ")
                        .int(c.id)
                        .push(")");
                }
            }
            if by_id {
                sql.push(&format!(" ORDER BY {e} {dir}"));
            } else {
                sql.push(&format!(" ORDER BY {e} {dir}, id {dir}"));
            }
        }
        Phase::Nulls => {
            sql.push(&format!(" AND {e} IS NULL"));
            if let Some(c) = cursor.filter(|c| c.nulls) {
                sql.push(&format!(" AND id {cmp} ")).int(c.id);
            }
            sql.push(&format!(" ORDER BY id {dir}"));
        }
    }
    sql.push(" LIMIT ").int(limit);
    Ok(())
}

/// ORDER BY and LIMIT over the merged parts of a list (their columns, not
/// the tables'): the same order `apply_page` gave each part.
pub fn apply_outer_order(sql: &mut Sql, sort: &Sort, phase: Phase, limit: i64) {
    let dir = if sort.desc { "DESC" } else { "ASC" };
    let e = if sort.field.name == "id" {
        "id".to_string()
    } else {
        sort.field.expr.clone()
    };
    match phase {
        Phase::Values if sort.field.name != "id" => {
            sql.push(&format!(" ORDER BY {e} {dir}, id {dir}"))
        }
        _ => sql.push(&format!(" ORDER BY id {dir}")),
    };
    sql.push(" LIMIT ").int(limit);
}

/// The page size asked for, within 1..=MAX_LIMIT (default 50).
pub fn limit(p: &ListParams) -> Result<i64, AppError> {
    match p.limit {
        None => Ok(50),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(AppError::invalid(
            "limit",
            format!("{n} is out of range 1..={MAX_LIMIT}"),
        )),
    }
}

/// A capped total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Total {
    pub count: i64,
    /// True when there are more than `count` rows (shown as "10,000+").
    pub capped: bool,
}

#[derive(diesel::QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Count the rows `from_where` (`FROM … WHERE …`, binds numbered from 1)
/// selects, stopping at the cap.
pub fn count(conn: &mut crate::core::db::DbConn, from_where: Sql) -> Result<Total, AppError> {
    let mut sql = Sql::new(from_where.backend);
    // Nothing bound precedes `from_where`, so its placeholder numbers hold.
    sql.text = format!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 AS one {}",
        from_where.text
    );
    sql.binds = from_where.binds;
    sql.push(" LIMIT ").int(COUNT_CAP + 1).push(") counted");
    let n = sql.load::<CountRow>(conn)?.first().map_or(0, |r| r.n);
    Ok(Total {
        count: n.min(COUNT_CAP),
        capped: n > COUNT_CAP,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: &[Column] = &[
        Column {
            name: "name",
            expr: "name",
            kind: ColKind::Text,
            sortable: true,
            nullable: false,
        },
        Column {
            name: "owner_id",
            expr: "owner_id",
            kind: ColKind::Int,
            sortable: false,
            nullable: true,
        },
        Column {
            name: "next_follow_up_at",
            expr: "next_follow_up_at",
            kind: ColKind::Time,
            sortable: true,
            nullable: true,
        },
    ];

    #[test]
    fn parses_filters_and_builds_bound_sql() {
        let p = parse_query("q=%E7%A7%91%E6%8A%80&filter=name:contains:50%25_off&filter=owner_id:in:1,2&filter=next_follow_up_at:between:2026-01-01,2026-02-01&sort=-name&limit=20").unwrap();
        assert_eq!(p.q.as_deref(), Some("科技"));
        assert_eq!(p.filters.len(), 3);
        let mut sql = Sql::new(Backend::Postgres);
        sql.push("SELECT * FROM t WHERE 1=1");
        apply_filters(&mut sql, COLS, &[], &p.filters).unwrap();
        assert_eq!(
            sql.text,
            "SELECT * FROM t WHERE 1=1 AND name ILIKE $1 ESCAPE '\\' AND owner_id IN ($2, $3) AND next_follow_up_at BETWEEN $4 AND $5"
        );
        assert_eq!(sql.binds[0], Bind::Text("%50\\%\\_off%".into()));
        assert!(parse_query("filter=name:like:x").is_err());
        let mut sql = Sql::new(Backend::Sqlite);
        let bad = parse_query("filter=owner_id:eq:abc").unwrap();
        assert!(apply_filters(&mut sql, COLS, &[], &bad.filters).is_err());
        let unknown = parse_query("filter=password_hash:eq:x").unwrap();
        assert!(apply_filters(&mut sql, COLS, &[], &unknown.filters).is_err());
    }

    #[test]
    fn cursor_round_trip_and_tamper() {
        let c = Cursor {
            v: Value::from("星河"),
            id: 42,
            nulls: false,
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("zz").is_err());
        assert!(Cursor::decode("7b7d").is_err(), "{{}} lacks id");
    }

    #[test]
    fn keyset_for_nullable_sort() {
        let sort = resolve_sort(
            Backend::Sqlite,
            COLS,
            &[],
            Some("next_follow_up_at"),
            "name",
        )
        .unwrap();
        let mut sql = Sql::new(Backend::Sqlite);
        sql.push("SELECT id FROM t WHERE 1=1");
        let cur = Cursor {
            v: Value::from("2026-01-01T00:00:00"),
            id: 7,
            nulls: false,
        };
        apply_page(&mut sql, &sort, Some(&cur), Phase::Values, 10).unwrap();
        assert!(sql.text.contains("next_follow_up_at IS NOT NULL AND (next_follow_up_at, id) > (?, ?) ORDER BY next_follow_up_at ASC, id ASC LIMIT ?"), "{}", sql.text);
        assert!(resolve_sort(Backend::Sqlite, COLS, &[], Some("owner_id"), "name").is_err());
    }
}
