//! What a database holds, read from its own catalogue (`pragma_table_list`
//! and `pragma_table_xinfo` on SQLite, `pg_class`/`pg_attribute` on
//! PostgreSQL), so that a table added by any later migration is backed up
//! without anyone editing this code. Column types are mapped onto one small
//! neutral set shared by both backends.
//!
//! Left out on purpose: the migration bookkeeping (the schema version is
//! recorded in the manifest instead), SQLite's internal tables, virtual
//! tables and their shadow tables (FTS5 indexes, rebuilt on restore), and
//! generated or `tsvector` columns (derived, recomputed by the database).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use serde::{Deserialize, Serialize};

use crate::core::db::DbConn;

/// The neutral column types of an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColType {
    Int,
    Real,
    Text,
    Bool,
    /// Naive UTC, kept to the precision stored (PostgreSQL: microseconds).
    Timestamp,
    /// JSON kept as its text.
    Json,
    Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColType,
    /// The backend's own type (PostgreSQL `format_type`, SQLite declared
    /// type); restore casts to the target's.
    #[serde(skip)]
    pub sql_type: String,
    /// PostgreSQL `timestamp with time zone`: read and written as UTC.
    #[serde(skip)]
    pub tz: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    /// Sorted by name, so the archive does not depend on column positions.
    pub columns: Vec<Column>,
    /// Primary key columns, the order rows are written in (all columns for
    /// a table without a primary key).
    pub key: Vec<String>,
    /// The auto-incremented id column, whose counter a restore carries over.
    pub serial: Option<String>,
    /// PostgreSQL: the sequence behind `serial`.
    #[serde(skip)]
    pub sequence: Option<String>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Double-quote an identifier for either backend.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Tables never archived: migration bookkeeping.
const SKIPPED_TABLES: &[&str] = &["__diesel_schema_migrations"];

#[derive(QueryableByName)]
struct NameType {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    decl: String,
    #[diesel(sql_type = BigInt)]
    pk: i64,
    #[diesel(sql_type = BigInt)]
    hidden: i64,
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    sql_type: String,
    #[diesel(sql_type = Bool)]
    generated: bool,
    #[diesel(sql_type = Nullable<Text>)]
    seq: Option<String>,
}

#[derive(QueryableByName)]
struct OneText {
    #[diesel(sql_type = Text)]
    v: String,
}

#[derive(QueryableByName)]
struct OneInt {
    #[diesel(sql_type = Nullable<BigInt>)]
    v: Option<i64>,
}

/// Every archived table of the database `conn` is on (PostgreSQL: of its
/// `current_schema()`), sorted by name.
pub fn tables(conn: &mut DbConn) -> QueryResult<Vec<Table>> {
    match conn {
        DbConn::Sqlite(c) => sqlite_tables(c),
        DbConn::Pg(c) => pg_tables(c),
    }
}

fn sqlite_type(decl: &str) -> ColType {
    let d = decl.to_ascii_uppercase();
    if d.contains("BOOL") {
        ColType::Bool
    } else if d.contains("INT") {
        ColType::Int
    } else if d.contains("TIMESTAMP") || d.contains("DATETIME") {
        ColType::Timestamp
    } else if d.contains("JSON") {
        ColType::Json
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        ColType::Real
    } else if d.contains("BLOB") || d.contains("BINARY") || d.contains("BYTEA") {
        ColType::Bytes
    } else {
        ColType::Text
    }
}

fn sqlite_tables(c: &mut diesel::SqliteConnection) -> QueryResult<Vec<Table>> {
    let names: Vec<NameType> = diesel::sql_query(
        "SELECT name, type AS kind FROM pragma_table_list WHERE schema = 'main' ORDER BY name",
    )
    .load(c)?;
    let mut out = Vec::new();
    for t in names {
        if t.kind != "table" || t.name.starts_with("sqlite_") || SKIPPED_TABLES.contains(&&*t.name)
        {
            continue;
        }
        let cols: Vec<SqliteColumn> = diesel::sql_query(
            "SELECT name, type AS decl, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid",
        )
        .bind::<Text, _>(&t.name)
        .load(c)?;
        let mut key: Vec<(i64, String)> = cols
            .iter()
            .filter(|c| c.pk > 0)
            .map(|c| (c.pk, c.name.clone()))
            .collect();
        key.sort();
        let autoincrement: Vec<OneText> = diesel::sql_query(
            "SELECT name AS v FROM sqlite_master WHERE type = 'table' AND name = ? AND upper(sql) LIKE '%AUTOINCREMENT%'",
        )
        .bind::<Text, _>(&t.name)
        .load(c)?;
        let serial = match (&key[..], autoincrement.is_empty()) {
            ([(_, k)], false) => Some(k.clone()),
            _ => None,
        };
        let mut columns: Vec<Column> = cols
            .into_iter()
            .filter(|c| c.hidden == 0)
            .map(|c| Column {
                ty: sqlite_type(&c.decl),
                sql_type: c.decl,
                name: c.name,
                tz: false,
            })
            .collect();
        columns.sort_by(|a, b| a.name.cmp(&b.name));
        let key = if key.is_empty() {
            columns.iter().map(|c| c.name.clone()).collect()
        } else {
            key.into_iter().map(|(_, k)| k).collect()
        };
        out.push(Table {
            name: t.name,
            columns,
            key,
            serial,
            sequence: None,
        });
    }
    Ok(out)
}

/// `None` for a column that is derived and left out.
fn pg_type(sql_type: &str) -> Option<(ColType, bool)> {
    let base = sql_type.split('(').next().unwrap_or(sql_type).trim();
    Some(match base {
        "bigint" | "integer" | "smallint" => (ColType::Int, false),
        "boolean" => (ColType::Bool, false),
        "double precision" | "real" => (ColType::Real, false),
        "json" | "jsonb" => (ColType::Json, false),
        "bytea" => (ColType::Bytes, false),
        "tsvector" => return None,
        _ if base.starts_with("timestamp") => {
            (ColType::Timestamp, sql_type.contains("with time zone"))
        }
        _ => (ColType::Text, false),
    })
}

fn pg_tables(c: &mut diesel::PgConnection) -> QueryResult<Vec<Table>> {
    let names: Vec<OneText> = diesel::sql_query(
        "SELECT c.relname::text AS v FROM pg_class c \
         WHERE c.relnamespace = current_schema()::regnamespace \
           AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
         ORDER BY c.relname::text COLLATE \"C\"",
    )
    .load(c)?;
    let mut out = Vec::new();
    for OneText { v: name } in names {
        if SKIPPED_TABLES.contains(&name.as_str()) {
            continue;
        }
        let cols: Vec<PgColumn> = diesel::sql_query(
            "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS sql_type, \
                    a.attgenerated <> '' AS generated, \
                    pg_get_serial_sequence(quote_ident($1), a.attname) AS seq \
             FROM pg_attribute a \
             WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        )
        .bind::<Text, _>(&name)
        .load(c)?;
        let key: Vec<OneText> = diesel::sql_query(
            "SELECT a.attname::text AS v FROM pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = to_regclass(quote_ident($1)) AND i.indisprimary \
             ORDER BY k.ord",
        )
        .bind::<Text, _>(&name)
        .load(c)?;
        let key: Vec<String> = key.into_iter().map(|k| k.v).collect();
        let mut serial = None;
        let mut sequence = None;
        let mut columns = Vec::new();
        for col in cols {
            if col.generated {
                continue;
            }
            let Some((ty, tz)) = pg_type(&col.sql_type) else {
                continue;
            };
            if let Some(seq) = col.seq
                && serial.is_none()
            {
                serial = Some(col.name.clone());
                sequence = Some(seq);
            }
            columns.push(Column {
                name: col.name,
                ty,
                sql_type: col.sql_type,
                tz,
            });
        }
        columns.sort_by(|a, b| a.name.cmp(&b.name));
        let key = if key.is_empty() {
            columns.iter().map(|c| c.name.clone()).collect()
        } else {
            key
        };
        out.push(Table {
            name,
            columns,
            key,
            serial,
            sequence,
        });
    }
    Ok(out)
}

/// The last id handed out for `table`'s serial column (0 when none was),
/// which can be above the largest id still present.
pub fn high_water(conn: &mut DbConn, table: &Table) -> QueryResult<i64> {
    let Some(serial) = &table.serial else {
        return Ok(0);
    };
    let from_counter = match conn {
        DbConn::Sqlite(c) => {
            let has_sequence_table: Vec<OneText> = diesel::sql_query(
                "SELECT name AS v FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'",
            )
            .load(c)?;
            if has_sequence_table.is_empty() {
                None
            } else {
                diesel::sql_query("SELECT seq AS v FROM sqlite_sequence WHERE name = ?")
                    .bind::<Text, _>(&table.name)
                    .load::<OneInt>(c)?
                    .into_iter()
                    .next()
                    .and_then(|r| r.v)
            }
        }
        DbConn::Pg(c) => match &table.sequence {
            Some(seq) => {
                diesel::sql_query("SELECT pg_sequence_last_value(to_regclass($1)) AS v")
                    .bind::<Text, _>(seq)
                    .get_result::<OneInt>(c)?
                    .v
            }
            None => None,
        },
    };
    let max: OneInt = diesel::sql_query(format!(
        "SELECT CAST(MAX({}) AS BIGINT) AS v FROM {}",
        ident(serial),
        ident(&table.name)
    ))
    .get_result(conn)?;
    Ok(from_counter.unwrap_or(0).max(max.v.unwrap_or(0)))
}

/// `SELECT <one JSON array per row> AS r FROM table ORDER BY key`: the
/// database renders each row (in column-name order) as JSON, which
/// [`super::format`] turns into the canonical line. Columns are rendered in
/// groups (PostgreSQL functions take at most 100 arguments) whose arrays
/// follow each other in the text.
pub fn select_rows(conn: &DbConn, table: &Table, columns: &[Column]) -> String {
    let pg = matches!(conn, DbConn::Pg(_));
    let exprs: Vec<String> = columns
        .iter()
        .map(|c| {
            let q = ident(&c.name);
            match (pg, c.ty) {
                (false, ColType::Bytes) => {
                    format!("CASE WHEN {q} IS NULL THEN NULL ELSE hex({q}) END")
                }
                (false, ColType::Real) => {
                    format!("CASE WHEN {q} IS NULL THEN NULL ELSE printf('%!.17g', {q}) END")
                }
                (false, _) => q,
                (true, ColType::Bytes) => format!("encode({q}, 'hex')"),
                (true, ColType::Json | ColType::Text) => format!("{q}::text"),
                (true, ColType::Timestamp) if c.tz => format!("({q} AT TIME ZONE 'UTC')"),
                (true, ColType::Real) => format!("{q}::text"),
                (true, _) => q,
            }
        })
        .collect();
    let func = if pg { "json_build_array" } else { "json_array" };
    let cast = if pg { "::text" } else { "" };
    let groups: Vec<String> = exprs
        .chunks(90)
        .map(|g| format!("{func}({}){cast}", g.join(", ")))
        .collect();
    let row = if groups.is_empty() {
        format!("{func}(){cast}")
    } else {
        groups.join(" || ")
    };
    let order: Vec<String> = table
        .key
        .iter()
        .map(|k| {
            let text_key = table
                .column(k)
                .is_some_and(|c| matches!(c.ty, ColType::Text | ColType::Json));
            match (pg, text_key) {
                (true, true) => format!("{} COLLATE \"C\" NULLS FIRST", ident(k)),
                (true, false) => format!("{} NULLS FIRST", ident(k)),
                (false, _) => ident(k),
            }
        })
        .collect();
    format!(
        "SELECT {row} AS r FROM {}{}",
        ident(&table.name),
        if order.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", order.join(", "))
        }
    )
}
