//! Export: records to CSV (UTF-8 with BOM, so Excel reads Chinese) or .xlsx
//! (written row by row in constant memory), with headers in the reader's
//! language and every cell that a spreadsheet would take for a formula
//! neutralised. The REST export pages through the list engine with the
//! caller's `export` data scope (in SQL); the CLI scans the table by id.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::columns::{self, Col, ColKind};
use crate::core::auth::actor::Actor;
use crate::core::db::{Backend, DbConn};
use crate::core::error::AppError;
use crate::core::i18n::Lang;
use crate::core::list::{self, ListParams};
use crate::core::records::{EntitySpec, Kind, store as rstore};
use crate::core::sql::Sql;

/// The most rows one .xlsx sheet holds (with the header).
pub const XLSX_MAX_ROWS: u64 = 1_048_575;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, AppError> {
        match s {
            "" | "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            other => Err(AppError::invalid(
                "format",
                format!("`{other}`: csv or xlsx"),
            )),
        }
    }
    pub fn ext(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab,
/// CR first) gets a leading `'`; plain numbers such as `-5` stay.
pub fn neutralise(s: &str) -> Cow<'_, str> {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && s.trim().parse::<f64>().is_err() {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Where rows go: cell by cell, each row ended by `end_row`.
pub trait Sink {
    fn field(&mut self, cell: &str) -> Result<(), AppError>;
    fn end_row(&mut self) -> Result<(), AppError>;
    fn row(&mut self, cells: &[String]) -> Result<(), AppError> {
        for c in cells {
            self.field(c)?;
        }
        self.end_row()
    }
}

fn io_err(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("export: {e}"))
}

/// CSV with a UTF-8 BOM.
pub struct CsvSink<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> CsvSink<W> {
    pub fn new(mut out: W) -> Result<Self, AppError> {
        out.write_all(b"\xEF\xBB\xBF").map_err(io_err)?;
        Ok(CsvSink {
            w: csv::WriterBuilder::new().from_writer(out),
        })
    }
    pub fn finish(self) -> Result<W, AppError> {
        self.w.into_inner().map_err(|e| io_err(e.error()))
    }
}

impl<W: Write> Sink for CsvSink<W> {
    fn field(&mut self, cell: &str) -> Result<(), AppError> {
        self.w.write_field(cell).map_err(io_err)
    }
    fn end_row(&mut self) -> Result<(), AppError> {
        self.w.write_record(None::<&[u8]>).map_err(io_err)
    }
}

/// An .xlsx sheet written in constant memory (rows go to a temp file).
pub struct XlsxSink {
    book: rust_xlsxwriter::Workbook,
    sheet: rust_xlsxwriter::Worksheet,
    bold: rust_xlsxwriter::Format,
    next: u32,
    col: u16,
}

impl XlsxSink {
    pub fn new(tmp_dir: &std::path::Path) -> Result<Self, AppError> {
        let mut book = rust_xlsxwriter::Workbook::new();
        std::fs::create_dir_all(tmp_dir).map_err(io_err)?;
        book.set_tempdir(tmp_dir).map_err(io_err)?;
        let sheet = book.new_worksheet_with_constant_memory().map_err(io_err)?;
        Ok(XlsxSink {
            book,
            sheet,
            bold: rust_xlsxwriter::Format::new().set_bold(),
            next: 0,
            col: 0,
        })
    }

    pub fn save(mut self, path: &std::path::Path) -> Result<(), AppError> {
        self.book.push_worksheet(self.sheet);
        self.book.save(path).map_err(io_err)
    }
}

impl Sink for XlsxSink {
    fn field(&mut self, cell: &str) -> Result<(), AppError> {
        if u64::from(self.next) > XLSX_MAX_ROWS {
            return Err(AppError::invalid(
                "format",
                "an .xlsx sheet holds at most 1,048,575 rows; export as CSV or narrow the filter",
            ));
        }
        let c = self.col;
        self.col = self.col.saturating_add(1);
        if cell.is_empty() {
            return Ok(());
        }
        let res = if self.next == 0 {
            self.sheet
                .write_string_with_format(self.next, c, cell, &self.bold)
        } else {
            self.sheet.write_string(self.next, c, cell)
        };
        res.map(|_| ()).map_err(io_err)
    }
    fn end_row(&mut self) -> Result<(), AppError> {
        self.next += 1;
        self.col = 0;
        Ok(())
    }
}

/// Turns stored records into cells: names for owners and references.
pub struct Formatter {
    pub cols: Vec<Col>,
    lang: Lang,
    users: HashMap<i64, String>,
    names: HashMap<(&'static str, i64), String>,
}

#[derive(diesel::QueryableByName)]
struct NameRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

fn ref_table(spec: &EntitySpec, c: &Col) -> Option<&'static str> {
    match &c.kind {
        ColKind::Field(Kind::Ref(e)) => Some(e),
        ColKind::Field(Kind::Int) => match (spec.name, c.key.as_str()) {
            ("opportunities", "pipeline_id") => Some("pipelines"),
            ("opportunities", "stage_id") => Some("pipeline_stages"),
            ("products", "category_id") => Some("product_categories"),
            _ => None,
        },
        ColKind::Custom(k) if k == "customer" => Some("customers"),
        ColKind::Custom(k) if k == "contact" => Some("contacts"),
        _ => None,
    }
}

impl Formatter {
    /// `columns`: the keys asked for (all when empty).
    pub fn new(
        conn: &mut DbConn,
        spec: &EntitySpec,
        lang: Lang,
        columns: &[String],
    ) -> Result<Formatter, AppError> {
        let all = columns::columns(conn, spec)?;
        let cols = if columns.is_empty() {
            all
        } else {
            let mut picked = Vec::new();
            for k in columns {
                let c = all.iter().find(|c| &c.key == k).ok_or_else(|| {
                    AppError::invalid(
                        "columns",
                        format!(
                            "unknown column `{k}`; one of {}",
                            all.iter()
                                .map(|c| c.key.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
                picked.push(c.clone());
            }
            picked
        };
        use crate::core::db::schema::users;
        use diesel::prelude::*;
        let users: HashMap<i64, String> = users::table
            .select((users::id, users::name))
            .load::<(i64, String)>(conn)?
            .into_iter()
            .collect();
        Ok(Formatter {
            cols,
            lang,
            users,
            names: HashMap::new(),
        })
    }

    pub fn header(&self) -> Vec<String> {
        self.cols
            .iter()
            .map(|c| c.label(self.lang).to_string())
            .collect()
    }

    /// Look up the names of the records a page refers to: `ids(i)` gives
    /// the ids in column `i` of the page.
    fn load_names(
        &mut self,
        conn: &mut DbConn,
        spec: &EntitySpec,
        ids: &dyn Fn(usize) -> Vec<i64>,
    ) -> Result<(), AppError> {
        if self.names.len() > 200_000 {
            self.names.clear();
        }
        for (i, c) in self.cols.iter().enumerate() {
            let Some(table) = ref_table(spec, c) else {
                continue;
            };
            let mut wanted: Vec<i64> = ids(i)
                .into_iter()
                .filter(|id| !self.names.contains_key(&(table, *id)))
                .collect();
            wanted.sort_unstable();
            wanted.dedup();
            if wanted.is_empty() {
                continue;
            }
            let mut sql = Sql::new(conn.backend());
            sql.push(&format!("SELECT id, name FROM {table} WHERE id IN "))
                .int_list(&wanted);
            for r in sql.load::<NameRow>(conn)? {
                self.names.insert((table, r.id), r.name);
            }
        }
        Ok(())
    }

    fn yes_no(&self, b: bool) -> &'static str {
        match (self.lang, b) {
            (Lang::Zh, true) => "是",
            (Lang::Zh, false) => "否",
            (Lang::En, true) => "yes",
            (Lang::En, false) => "no",
        }
    }

    /// The text of one cell: names for owners and references, 是/否 (yes/no)
    /// for booleans, lists joined with ", ".
    fn text<'a>(&'a self, spec: &EntitySpec, c: &Col, cell: Cell<'a>) -> Cow<'a, str> {
        if let (Some(table), Some(id)) = (ref_table(spec, c), cell.id()) {
            return self
                .names
                .get(&(table, id))
                .map_or_else(|| Cow::Owned(id.to_string()), |n| Cow::Borrowed(n.as_str()));
        }
        let user = matches!(c.kind, ColKind::Owner | ColKind::Field(Kind::User))
            || matches!(&c.kind, ColKind::Custom(k) if k == "user");
        if let (true, Some(id)) = (user, cell.id()) {
            return self
                .users
                .get(&id)
                .map_or_else(|| Cow::Owned(id.to_string()), |n| Cow::Borrowed(n.as_str()));
        }
        match cell {
            Cell::Null => Cow::Borrowed(""),
            Cell::Bool(b) => Cow::Borrowed(self.yes_no(b)),
            // SQLite keeps booleans as 0 and 1.
            Cell::Num(n) if c.kind == ColKind::Field(Kind::Bool) && (n == "0" || n == "1") => {
                Cow::Borrowed(self.yes_no(n == "1"))
            }
            Cell::Num(n) => n,
            Cell::Str(s) => match c.kind {
                // SQLite's text is already `YYYY-MM-DD HH:MM:SS[.fff…]`;
                // JSON's has a `T`, and PostgreSQL's drops the fraction's
                // trailing zeros: printed the one way for both.
                ColKind::Field(Kind::DateTime) if s.contains('T') => {
                    match crate::core::fields::parse_datetime(&s) {
                        Some(t) => Cow::Owned(t.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
                        None => Cow::Owned(s.replacen('T', " ", 1)),
                    }
                }
                // Stored as a JSON array in a text column.
                ColKind::Field(Kind::Tags) if s.starts_with('[') => {
                    match serde_json::from_str::<Value>(&s) {
                        Ok(v) => Cow::Owned(joined(&v)),
                        Err(_) => s,
                    }
                }
                _ => s,
            },
            Cell::Json(v) => Cow::Owned(joined(&v)),
        }
    }

    /// Write one row: the cell of each column, neutralised.
    fn write_row<'a>(
        &self,
        spec: &EntitySpec,
        cells: impl Iterator<Item = Cell<'a>>,
        sink: &mut dyn Sink,
    ) -> Result<(), AppError> {
        for (c, cell) in self.cols.iter().zip(cells) {
            sink.field(&neutralise(&self.text(spec, c, cell)))?;
        }
        sink.end_row()
    }

    /// Write a page of records as the list engine returns them.
    pub fn write_records(
        &mut self,
        conn: &mut DbConn,
        spec: &EntitySpec,
        recs: &[Map<String, Value>],
        sink: &mut dyn Sink,
    ) -> Result<(), AppError> {
        let cols = self.cols.clone();
        self.load_names(conn, spec, &|i| {
            recs.iter()
                .filter_map(|r| value_of(r, &cols[i].key).as_i64())
                .collect()
        })?;
        for r in recs {
            let cells = self
                .cols
                .iter()
                .map(|c| Cell::of_value(value_of(r, &c.key)));
            self.write_row(spec, cells, sink)?;
        }
        Ok(())
    }

    /// Write a page of [`scan_all_into`]: each row one JSON array of the
    /// columns' stored values, as the database built it.
    fn write_raw(
        &mut self,
        conn: &mut DbConn,
        spec: &EntitySpec,
        page: &[RawRow],
        sink: &mut dyn Sink,
    ) -> Result<(), AppError> {
        let n = self.cols.len();
        let mut values: Vec<&RawValue> = Vec::with_capacity(page.len() * n);
        for r in page {
            let chunks: Vec<Vec<&RawValue>> = serde_json::from_str(&r.data)
                .map_err(|e| AppError::Internal(format!("export: row {}: {e}", r.id)))?;
            let before = values.len();
            values.extend(chunks.into_iter().flatten());
            if values.len() - before != n {
                return Err(AppError::Internal(format!(
                    "export: row {} has {} values for {n} columns",
                    r.id,
                    values.len() - before
                )));
            }
        }
        self.load_names(conn, spec, &|i| {
            values
                .iter()
                .skip(i)
                .step_by(n.max(1))
                .filter_map(|v| Cell::of_raw(v).id())
                .collect()
        })?;
        for row in values.chunks(n.max(1)) {
            self.write_row(spec, row.iter().map(|v| Cell::of_raw(v)), sink)?;
        }
        Ok(())
    }

    /// The SQL expression of column `c` of `spec`'s table for [`scan_all_into`].
    fn column_expr(&self, backend: Backend, c: &Col) -> String {
        let custom = c.key.strip_prefix("custom.").filter(|k| {
            k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
        if c.key.starts_with("custom.") && custom.is_none() {
            // Not a key Rapport defines (a hand-edited definition): empty.
            return "NULL".into();
        }
        match (custom, backend) {
            // Keys are [a-z0-9_] (checked when a field is defined). Every
            // write stores an object; anything else reads as empty rather
            // than failing the export.
            (Some(k), Backend::Sqlite) => {
                format!("CASE WHEN json_valid(custom) THEN custom -> '$.{k}' END")
            }
            // `json`, not `jsonb`: it keeps numbers as written and takes
            // what serde reads (a `\u0000` in a text, the last of two keys).
            (Some(k), Backend::Postgres) => {
                format!("CASE WHEN custom LIKE '{{%}}' THEN CAST(custom AS json) -> '{k}' END")
            }
            (None, _) => c.key.clone(),
        }
    }

    /// `json_array(json_array(c1, …), …)`: the exported columns of a row as
    /// JSON, in chunks of 50 (PostgreSQL takes at most 100 arguments).
    fn row_expr(&self, backend: Backend) -> String {
        let f = match backend {
            Backend::Sqlite => "json_array",
            Backend::Postgres => "json_build_array",
        };
        let chunks: Vec<String> = self
            .cols
            .chunks(50)
            .map(|cs| {
                let parts: Vec<String> = cs.iter().map(|c| self.column_expr(backend, c)).collect();
                format!("{f}({})", parts.join(", "))
            })
            .collect();
        match backend {
            Backend::Sqlite => format!("{f}({})", chunks.join(", ")),
            Backend::Postgres => format!("CAST({f}({}) AS TEXT)", chunks.join(", ")),
        }
    }
}

/// A stored value as the export sees it, borrowed where it can be.
enum Cell<'a> {
    Null,
    Bool(bool),
    /// A number, as its text.
    Num(Cow<'a, str>),
    Str(Cow<'a, str>),
    /// An array or an object.
    Json(Cow<'a, Value>),
}

impl<'a> Cell<'a> {
    fn of_value(v: &'a Value) -> Cell<'a> {
        match v {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => Cell::Num(Cow::Owned(n.to_string())),
            Value::String(s) => Cell::Str(Cow::Borrowed(s)),
            _ => Cell::Json(Cow::Borrowed(v)),
        }
    }

    fn of_raw(v: &'a RawValue) -> Cell<'a> {
        let s = v.get();
        match s.as_bytes().first() {
            None | Some(b'n') => Cell::Null,
            Some(b't') => Cell::Bool(true),
            Some(b'f') => Cell::Bool(false),
            // Borrowed unless the string has escapes.
            Some(b'"') => Cell::Str(match serde_json::from_str::<&str>(s) {
                Ok(b) => Cow::Borrowed(b),
                Err(_) => Cow::Owned(serde_json::from_str::<String>(s).unwrap_or_default()),
            }),
            Some(b'[' | b'{') => {
                Cell::Json(Cow::Owned(serde_json::from_str(s).unwrap_or(Value::Null)))
            }
            _ => Cell::Num(Cow::Borrowed(s)),
        }
    }

    fn id(&self) -> Option<i64> {
        match self {
            Cell::Num(n) => n.parse().ok(),
            _ => None,
        }
    }
}

/// A list's items joined with ", "; an object as JSON.
fn joined(v: &Value) -> String {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn value_of<'a>(r: &'a Map<String, Value>, key: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    match key.strip_prefix("custom.") {
        Some(k) => r.get("custom").and_then(|c| c.get(k)).unwrap_or(&NULL),
        None => r.get(key).unwrap_or(&NULL),
    }
}

/// Called with each page of records; false stops.
pub type PageFn<'a> = dyn FnMut(&mut DbConn, &[Map<String, Value>]) -> Result<bool, AppError> + 'a;

/// Pages of records (as JSON objects) the caller may export, in list
/// order: through the list engine with the `export` scope.
pub fn for_each_page(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &'static EntitySpec,
    params: &ListParams,
    f: &mut PageFn<'_>,
) -> Result<(), AppError> {
    let mut p = params.clone();
    p.limit = Some(list::MAX_LIMIT);
    p.total = false;
    loop {
        let (items, next) = if spec.name == "customers" {
            let page = crate::crm::customers::store::list_for(conn, actor, &p, "export")?;
            let items = page
                .items
                .into_iter()
                .map(|c| match serde_json::to_value(c) {
                    Ok(Value::Object(m)) => m,
                    _ => Map::new(),
                })
                .collect();
            (items, page.next_cursor)
        } else {
            let page = rstore::list_for(conn, actor, spec, &p, "export")?;
            (page.items, page.next_cursor)
        };
        if !f(conn, &items)? {
            return Ok(());
        }
        match next {
            Some(c) => p.cursor = Some(c),
            None => return Ok(()),
        }
    }
}

/// One row of [`scan_all_into`]: its id and its exported columns as JSON.
#[derive(diesel::QueryableByName)]
struct RawRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    data: String,
}

/// Every record of `spec` matching `filters` (no scope: administrators on
/// the command line) into `sink` after the header, by id; the number of
/// rows written. The database builds each row's exported columns as one
/// JSON array (no per-record map), read in pages of 5,000 on a second
/// thread with its own connection (`reader`) while this one formats and
/// writes the previous page with `conn`.
pub fn scan_all_into(
    reader: &mut DbConn,
    conn: &mut DbConn,
    spec: &'static EntitySpec,
    filters: &[list::Filter],
    fmt: &mut Formatter,
    sink: &mut dyn Sink,
) -> Result<u64, AppError> {
    sink.row(&fmt.header())?;
    let row_expr = fmt.row_expr(reader.backend());
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<RawRow>, AppError>>(2);
    // Written pages go back to be freed by the thread that allocated them:
    // glibc's allocator is several times slower freeing another thread's
    // memory, which made the two threads slower than one.
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Vec<RawRow>>();
    let mut rows = 0u64;
    std::thread::scope(|scope| {
        let read = scope.spawn(move || {
            let result = read_pages(reader, spec, &row_expr, filters, &mut |page| {
                done_rx.try_iter().for_each(drop);
                tx.send(Ok(page)).is_ok()
            });
            if let Err(e) = result {
                let _ = tx.send(Err(e));
            }
            drop(tx);
            // Free what the writer hands back until it is done.
            done_rx.iter().for_each(drop);
        });
        let mut written = Ok(());
        for page in rx.iter() {
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    written = Err(e);
                    break;
                }
            };
            let result = fmt.write_raw(conn, spec, &page, sink);
            rows += page.len() as u64;
            let _ = done_tx.send(page);
            if let Err(e) = result {
                written = Err(e);
                break;
            }
        }
        // Dropping the receiver stops the reader at its next page.
        drop(rx);
        drop(done_tx);
        read.join()
            .map_err(|_| AppError::Internal("the export reader failed".into()))?;
        written
    })?;
    Ok(rows)
}

/// The pages of [`scan_all_into`], each handed to `send` until it says stop.
fn read_pages(
    conn: &mut DbConn,
    spec: &'static EntitySpec,
    row_expr: &str,
    filters: &[list::Filter],
    send: &mut dyn FnMut(Vec<RawRow>) -> bool,
) -> Result<(), AppError> {
    const PAGE: usize = 5000;
    let defs = if crate::core::fields::ENTITIES.contains(&spec.name) {
        crate::core::fields::list(conn, Some(spec.name), true)?
    } else {
        vec![]
    };
    let cols: Vec<list::Column> = if spec.name == "customers" {
        crate::crm::customers::store::COLUMNS.to_vec()
    } else {
        spec.columns()
    };
    let t = spec.name;
    let mut last = 0i64;
    loop {
        let mut sql = Sql::new(conn.backend());
        sql.push(&format!(
            "SELECT id, {row_expr} AS data FROM {t} WHERE id > "
        ))
        .int(last);
        list::apply_filters(&mut sql, &cols, &defs, filters)?;
        sql.push(&format!(" ORDER BY id LIMIT {PAGE}"));
        let rows: Vec<RawRow> = sql.load(conn)?;
        let Some(l) = rows.last().map(|r| r.id) else {
            return Ok(());
        };
        last = l;
        let n = rows.len();
        if !send(rows) || n < PAGE {
            return Ok(());
        }
    }
}

/// The settings key holding the per-role export limits (`{"role id": rows}`).
pub const LIMITS_KEY: &str = "export.max_rows";

/// The per-role limits as stored.
pub fn limits(conn: &mut DbConn) -> Result<HashMap<i64, u64>, AppError> {
    let raw = crate::core::settings::get(conn, LIMITS_KEY)?.unwrap_or_default();
    let m: HashMap<String, u64> = serde_json::from_str(&raw).unwrap_or_default();
    Ok(m.into_iter()
        .filter_map(|(k, v)| k.parse().ok().map(|k| (k, v)))
        .collect())
}

/// The most rows the actor may export from `module` at once: the largest
/// limit among their roles that grant the export (none: unlimited).
pub fn max_rows(conn: &mut DbConn, actor: &Actor, module: &str) -> Result<Option<u64>, AppError> {
    let limits = limits(conn)?;
    let perm = format!("{module}.export");
    let mut best: Option<u64> = Some(0);
    for r in crate::core::org::roles::for_user(conn, actor.user_id())? {
        if !r.permissions.contains(&perm) {
            continue;
        }
        best = match (best, limits.get(&r.id)) {
            (_, None) => None,
            (None, _) => None,
            (Some(a), Some(b)) => Some(a.max(*b)),
        };
    }
    Ok(best)
}

/// Refuse an export larger than the actor's role allows (403 with the
/// limit), counting at most limit + 1 rows.
pub fn check_limit(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &'static EntitySpec,
    params: &ListParams,
) -> Result<(), AppError> {
    let Some(limit) = max_rows(conn, actor, spec.name)? else {
        return Ok(());
    };
    let mut n = 0u64;
    for_each_page(conn, actor, spec, params, &mut |_, items| {
        n += items.len() as u64;
        Ok(n <= limit)
    })?;
    if n > limit {
        return Err(AppError::Forbidden(format!(
            "your role allows exports of at most {limit} {} at a time and this one has more; narrow it with a view or filters",
            spec.name
        )));
    }
    Ok(())
}

/// Record an export in the audit trail.
pub fn audit_export(
    conn: &mut DbConn,
    ctx: &crate::core::audit::AuditCtx,
    entity: &str,
    rows: u64,
    format: Format,
    what: Value,
) -> Result<(), AppError> {
    crate::core::db::write_tx(conn, |conn| {
        crate::core::audit::record(
            conn,
            ctx,
            "export",
            entity,
            None,
            &json!({"rows": rows, "format": format.ext(), "query": what}),
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_numbers_are_not() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+86 755 8888"), "'+86 755 8888");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("\tx"), "'\tx");
        assert_eq!(neutralise("-5"), "-5");
        assert_eq!(neutralise("深圳"), "深圳");
        assert_eq!(columns::unneutralise(&neutralise("=1+1")), "=1+1");
    }
}
