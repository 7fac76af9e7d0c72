//! The import engine: a file's rows become records through the same
//! validation as the API (the customer validator, the record kernel's
//! `prepare_new`, custom fields), with duplicates found by normalised name,
//! phone and e-mail within the file and against the database.
//!
//! Every run is a batch (`import_batches`). Rows are written in chunks, one
//! transaction each, with the batch marked `running`; what each chunk
//! created (id ranges) and updated (before-images) goes into `import_items`
//! in the same transaction. A run that stops half-way (a crash, a kill, a
//! cancel) is **rolled back**, never resumed: [`recover`] (run when the
//! server starts, by the recovery job and before every CLI import) undoes
//! the chunks of every batch whose heartbeat is older than
//! [`STALE_SECONDS`], so no half batch stays. A finished batch can be
//! undone ([`undo`]).
//!
//! The audit trail gets one row per batch with its counts (and one per
//! undo); the records' own history is the batch's item list, so a million
//! rows do not mean a million audit rows.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::columns::{self, Col, ColKind};
use super::read::{self, Row};
use crate::core::audit::{self, AuditCtx};
use crate::core::auth::actor::Actor;
use crate::core::db::schema::{customers, import_batches as ib, import_items as ii};
use crate::core::db::{Backend, DbConn, bulk, now, write_tx};
use crate::core::error::AppError;
use crate::core::fields::{self, FieldDef};
use crate::core::records::{self, EntitySpec, Kind, store as rstore};
use crate::core::sql::Sql;
use crate::crm::customers::model::{CleanCustomer, CustomerInput, NewCustomer};
use crate::with_backend;

/// Rows per transaction.
const CHUNK: usize = 5000;
/// Rows per INSERT statement.
const PER_STATEMENT: usize = 100;
/// A running batch whose heartbeat is older than this is taken as dead.
pub const STALE_SECONDS: i64 = 120;

/// What to do with a row that matches an existing record (or an earlier row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnDuplicate {
    #[default]
    Skip,
    Update,
    Create,
}

impl OnDuplicate {
    pub fn parse(s: &str) -> Option<OnDuplicate> {
        match s {
            "skip" => Some(OnDuplicate::Skip),
            "update" => Some(OnDuplicate::Update),
            "create" => Some(OnDuplicate::Create),
            _ => None,
        }
    }
}

/// How to import a file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Options {
    /// Header → field (null: leave the column out) over the automatic mapping.
    pub mapping: HashMap<String, Option<String>>,
    pub on_duplicate: OnDuplicate,
    /// Owner of rows without one (default: the importing user).
    pub owner_id: Option<i64>,
    /// Customers go into this pool (no owner).
    pub pool_id: Option<i64>,
    pub dry_run: bool,
    pub encoding: Option<String>,
    pub delimiter: Option<char>,
    /// SQLite bulk load (secondary indexes dropped and rebuilt, search index
    /// rebuilt once); `None`: for customer files over 32 MiB.
    pub bulk: Option<bool>,
}

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub line: u64,
    /// The file's header of the column at fault (empty for the whole row).
    pub column: String,
    pub reason: String,
}

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub batch_id: Option<i64>,
    pub entity: String,
    pub status: String,
    pub format: String,
    pub encoding: String,
    pub delimiter: Option<String>,
    /// Header → field, in file order.
    pub mapping: Vec<(String, Option<String>)>,
    pub unmapped: Vec<String>,
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub rejected: u64,
    pub seconds: f64,
    /// Of `seconds`, the end of a bulk load: rebuilding the indexes and
    /// the search index (0 otherwise).
    pub rebuild_seconds: f64,
    /// A bulk load's customer search index was built while the rows came
    /// in, leaving only its last rows to the end.
    pub search_built_during_load: bool,
    pub rows_per_second: f64,
    pub error_file: Option<String>,
    /// The first problems (all are in the error file).
    pub problems: Vec<Problem>,
    pub dry_run: bool,
}

/// A file opened and mapped, ready to run or preview.
pub struct Plan {
    pub spec: &'static EntitySpec,
    pub source: read::Source,
    pub cols: Vec<Col>,
    /// Per header cell, the column key it fills.
    pub mapping: Vec<Option<String>>,
}

impl Plan {
    pub fn summary_mapping(&self) -> Vec<(String, Option<String>)> {
        self.source
            .header
            .iter()
            .cloned()
            .zip(self.mapping.iter().cloned())
            .collect()
    }

    fn header_of(&self, key: &str) -> String {
        self.mapping
            .iter()
            .position(|m| m.as_deref() == Some(key))
            .and_then(|i| self.source.header.get(i).cloned())
            .unwrap_or_else(|| key.to_string())
    }
}

/// Open and map `path` for `entity`.
pub fn plan(
    conn: &mut DbConn,
    entity: &str,
    path: &Path,
    opts: &Options,
) -> Result<Plan, AppError> {
    let spec = columns::entity(entity)?;
    let source = read::open(path, opts.encoding.as_deref(), opts.delimiter)
        .map_err(|e| AppError::invalid("file", e.0))?;
    let cols = columns::columns(conn, spec)?;
    let auto = columns::auto_map(&source.header, &cols);
    let mapping = columns::apply_mapping(&source.header, &cols, auto, &opts.mapping)?;
    if mapping.iter().all(Option::is_none) {
        return Err(AppError::invalid(
            "file",
            format!(
                "none of the columns ({}) is a {} field; name them like the fields (e.g. {}) or give a mapping",
                source.header.join(", "),
                spec.singular,
                cols.iter()
                    .take(4)
                    .map(|c| c.label_zh.as_str())
                    .collect::<Vec<_>>()
                    .join("/")
            ),
        ));
    }
    for c in cols
        .iter()
        .filter(|c| c.required && matches!(c.kind, ColKind::Field(_)))
    {
        if !mapping.iter().any(|m| m.as_deref() == Some(c.key.as_str())) {
            return Err(AppError::invalid(
                "file",
                format!(
                    "the file has no column for the required field {} ({} / {})",
                    c.key, c.label_zh, c.label_en
                ),
            ));
        }
    }
    Ok(Plan {
        spec,
        source,
        cols,
        mapping,
    })
}

/// A stable 64-bit key for a duplicate key.
fn key_hash(kind: u8, v: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    kind.hash(&mut h);
    v.hash(&mut h);
    h.finish()
}

/// A row ready to write.
enum Ready {
    Customer(Box<CleanCustomer>, Map<String, Value>),
    Record(Box<records::Record>, Map<String, Value>),
}

struct Prepared {
    line: u64,
    ready: Ready,
    /// The mapped, non-empty values (what an update changes).
    patch: Map<String, Value>,
    /// (kind, normalised value): 0 name, 1 phone, 2 e-mail.
    keys: Vec<(u8, String)>,
}

/// Caches of the lookups rows repeat (owners, customers by name …).
#[derive(Default)]
struct Lookups {
    users: HashMap<String, Result<i64, String>>,
    owners_ok: HashMap<i64, Result<(), String>>,
    refs: HashMap<(String, String), Result<i64, String>>,
    defs: Option<Vec<FieldDef>>,
}

#[derive(diesel::QueryableByName)]
struct IdName {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

fn find_user(conn: &mut DbConn, lk: &mut Lookups, text: &str) -> Result<i64, String> {
    if let Some(r) = lk.users.get(text) {
        return r.clone();
    }
    use crate::core::db::schema::users;
    let t = text.trim();
    let found: Vec<i64> = if let Ok(id) = t.parse::<i64>() {
        users::table
            .filter(users::id.eq(id))
            .select(users::id)
            .load(conn)
    } else {
        users::table
            .filter(users::name.eq(t).or(users::email.eq(t.to_lowercase())))
            .select(users::id)
            .load(conn)
    }
    .map_err(|e| e.to_string())?;
    let r = match found.as_slice() {
        [id] => Ok(*id),
        [] => Err(format!("no user named `{t}` (give the name, e-mail or id)")),
        _ => Err(format!(
            "{} users are named `{t}`; give the e-mail",
            found.len()
        )),
    };
    if lk.users.len() < 10_000 {
        lk.users.insert(text.to_string(), r.clone());
    }
    r
}

/// The id of the `entity` record a cell names (by id, name, code), among
/// those the actor may see.
fn find_ref(
    conn: &mut DbConn,
    actor: &Actor,
    lk: &mut Lookups,
    entity: &str,
    text: &str,
    pipeline: Option<i64>,
) -> Result<i64, String> {
    let t = text.trim().to_string();
    let cache_key = (format!("{entity}:{}", pipeline.unwrap_or(0)), t.clone());
    if let Some(r) = lk.refs.get(&cache_key) {
        return r.clone();
    }
    let r = (|| -> Result<i64, String> {
        let backend = conn.backend();
        let mut sql = Sql::new(backend);
        let (table, scoped) = match entity {
            "customers" | "contacts" | "leads" | "opportunities" => (entity, true),
            "pipelines" | "pipeline_stages" | "product_categories" | "products" => (entity, false),
            other => return Err(format!("cannot look up {other}")),
        };
        sql.push(&format!("SELECT id FROM {table} WHERE ("));
        if let Ok(id) = t.parse::<i64>() {
            sql.push("id = ").int(id).push(" OR ");
        }
        sql.push("name = ").text(t.clone());
        if entity == "customers" {
            sql.push(" OR dedupe_name = ")
                .text(crate::core::text::normalize_name(&t));
        }
        if entity == "products" {
            sql.push(" OR code = ").text(t.clone());
        }
        sql.push(")");
        if let (Some(p), "pipeline_stages") = (pipeline, entity) {
            sql.push(" AND pipeline_id = ").int(p);
        }
        if scoped {
            let owners = actor
                .owner_filter(conn, entity, "view")
                .map_err(|e| e.to_string())?;
            crate::core::access::push_scope_on(
                &mut sql,
                records::owner_col(entity),
                &owners,
                entity,
                actor.user_id(),
                false,
            );
        }
        sql.push(" ORDER BY id LIMIT 3");
        let ids: Vec<IdName> = sql.load(conn).map_err(|e| e.to_string())?;
        let what = entity.trim_end_matches('s').replace('_', " ");
        match ids.as_slice() {
            [one] => Ok(one.id),
            [] => Err(format!("no {what} `{t}` that you can see")),
            _ => Err(format!(
                "several {what} records are called `{t}`; give the id"
            )),
        }
    })();
    if lk.refs.len() < 100_000 {
        lk.refs.insert(cache_key, r.clone());
    }
    r
}

/// Int fields that name another table's rows.
fn int_ref(entity: &str, field: &str) -> Option<&'static str> {
    match (entity, field) {
        ("opportunities", "pipeline_id") => Some("pipelines"),
        ("opportunities", "stage_id") => Some("pipeline_stages"),
        ("products", "category_id") => Some("product_categories"),
        _ => None,
    }
}

/// The problem an API error names, on the file's column.
fn problem_of(plan: &Plan, line: u64, e: AppError) -> Problem {
    match e {
        AppError::Invalid { field, message } => {
            let f = field.unwrap_or_default();
            let column = if f.is_empty() || f == "body" {
                String::new()
            } else {
                plan.header_of(&f)
            };
            Problem {
                line,
                column,
                reason: message,
            }
        }
        other => Problem {
            line,
            column: String::new(),
            reason: other.to_string(),
        },
    }
}

/// A row's cells as the input object the API would have been sent.
fn input_of(
    conn: &mut DbConn,
    actor: &Actor,
    plan: &Plan,
    lk: &mut Lookups,
    opts: &Options,
    row: &Row,
) -> Result<Map<String, Value>, Problem> {
    let width = plan.source.header.len();
    let extra = row.cells.iter().skip(width).any(|c| !c.trim().is_empty());
    if extra {
        return Err(Problem {
            line: row.line,
            column: String::new(),
            reason: format!(
                "the row has {} fields, the header {width}: a delimiter or quote is out of place",
                row.cells.len()
            ),
        });
    }
    let filled = row.cells.len().min(width);
    if filled < width && plan.source.format == read::Format::Csv && filled > 0 {
        return Err(Problem {
            line: row.line,
            column: String::new(),
            reason: format!("the row has {filled} fields, the header {width}"),
        });
    }
    let mut input = Map::new();
    let mut custom = Map::new();
    let bad = |i: usize, reason: String| Problem {
        line: row.line,
        column: plan.source.header.get(i).cloned().unwrap_or_default(),
        reason,
    };
    // The pipeline first: stages are looked up within it.
    let mut order: Vec<usize> = (0..filled).collect();
    order.sort_by_key(|i| plan.mapping[*i].as_deref() != Some("pipeline_id"));
    for i in order {
        let Some(key) = plan.mapping[i].as_deref() else {
            continue;
        };
        let text = columns::unneutralise(row.cells[i].trim());
        if text.is_empty() {
            continue;
        }
        let Some(col) = plan.cols.iter().find(|c| c.key == key) else {
            continue;
        };
        let v = match &col.kind {
            ColKind::Owner => Value::from(find_user(conn, lk, text).map_err(|r| bad(i, r))?),
            ColKind::Field(Kind::Ref(entity)) => {
                Value::from(find_ref(conn, actor, lk, entity, text, None).map_err(|r| bad(i, r))?)
            }
            ColKind::Field(Kind::User) => {
                Value::from(find_user(conn, lk, text).map_err(|r| bad(i, r))?)
            }
            ColKind::Field(Kind::Int) if int_ref(plan.spec.name, key).is_some() => {
                let pipeline = input.get("pipeline_id").and_then(Value::as_i64);
                let table = int_ref(plan.spec.name, key).unwrap_or_default();
                Value::from(
                    find_ref(conn, actor, lk, table, text, pipeline).map_err(|r| bad(i, r))?,
                )
            }
            ColKind::Custom(k) if k == "user" => {
                Value::from(find_user(conn, lk, text).map_err(|r| bad(i, r))?)
            }
            ColKind::Custom(k) if k == "customer" || k == "contact" => {
                let entity = if k == "customer" {
                    "customers"
                } else {
                    "contacts"
                };
                Value::from(find_ref(conn, actor, lk, entity, text, None).map_err(|r| bad(i, r))?)
            }
            ColKind::Custom(k) if k == "department" => match text.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => return Err(bad(i, format!("`{text}` is not a department id"))),
            },
            kind => columns::convert(kind, text).map_err(|r| bad(i, r))?,
        };
        match key.strip_prefix("custom.") {
            Some(k) => {
                custom.insert(k.to_string(), v);
            }
            None => {
                input.insert(key.to_string(), v);
            }
        }
    }
    let owner_col = plan.spec.owner_col;
    if opts.pool_id.is_some() {
        input.remove(owner_col);
    } else if !input.contains_key(owner_col)
        && let Some(o) = opts.owner_id
    {
        input.insert(owner_col.to_string(), Value::from(o));
    }
    if !custom.is_empty() {
        input.insert("custom".into(), Value::Object(custom));
    }
    Ok(input)
}

/// Validate a row like the API's create does.
fn prepare(
    conn: &mut DbConn,
    actor: &Actor,
    plan: &Plan,
    lk: &mut Lookups,
    line: u64,
    input: Map<String, Value>,
) -> Result<Prepared, Problem> {
    let spec = plan.spec;
    let p = |e: AppError| problem_of(plan, line, e);
    if spec.name == "customers" {
        let mut ci: CustomerInput =
            serde_json::from_value(Value::Object(input.clone())).map_err(|e| Problem {
                line,
                column: String::new(),
                reason: e.to_string(),
            })?;
        if ci.owner_id.is_none() && !input.contains_key("owner_id") {
            ci.owner_id = None;
        }
        let mut clean = crate::crm::customers::model::validate(&ci).map_err(p)?;
        let owner = clean.owner_id.unwrap_or(actor.user_id());
        clean.owner_id = Some(owner);
        if owner != actor.user_id() {
            let ok = match lk.owners_ok.get(&owner) {
                Some(r) => r.clone(),
                None => {
                    let r =
                        rstore::check_owner(conn, actor, spec.name, "owner_id", owner, "create")
                            .map_err(|e| e.to_string());
                    lk.owners_ok.insert(owner, r.clone());
                    r
                }
            };
            ok.map_err(|reason| Problem {
                line,
                column: plan.header_of("owner_id"),
                reason,
            })?;
        }
        if lk.defs.is_none() {
            lk.defs = Some(fields::list(conn, Some(spec.name), false).map_err(|e| p(e.into()))?);
        }
        let defs = lk.defs.clone().unwrap_or_default();
        let (custom, refs) = fields::validate(conn, &defs, &ci.custom, true).map_err(p)?;
        for r in refs {
            if !rstore::visible(conn, actor, r.entity, r.id).map_err(p)? {
                return Err(Problem {
                    line,
                    column: plan.header_of(&format!("custom.{}", r.key)),
                    reason: format!(
                        "{} {} does not exist or is not visible to you",
                        r.entity, r.id
                    ),
                });
            }
        }
        let keys = vec![
            (0, clean.dedupe_name.clone()),
            (1, clean.dedupe_phone.clone()),
            (2, clean.email.clone()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        return Ok(Prepared {
            line,
            ready: Ready::Customer(Box::new(clean), custom),
            patch: input,
            keys,
        });
    }
    let (rec, custom, _defs) = rstore::prepare_new(conn, actor, spec, &input).map_err(p)?;
    let mut keys = Vec::new();
    if let Some(d) = spec.dedupe {
        for (k, v) in records::derived(spec, &rec) {
            match k {
                "dedupe_name" if !v.is_empty() => keys.push((0, v)),
                "dedupe_phone" if !v.is_empty() => keys.push((1, v)),
                _ => {}
            }
        }
        if let Some(e) = d.email.and_then(|e| rec.get(e)).and_then(Value::as_str)
            && !e.is_empty()
        {
            keys.push((2, e.to_string()));
        }
    }
    Ok(Prepared {
        line,
        ready: Ready::Record(Box::new(rec), custom),
        patch: input,
        keys,
    })
}

#[derive(diesel::QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    k: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

/// Existing records holding any of `keys` (one indexed lookup per key kind).
fn existing(
    conn: &mut DbConn,
    spec: &EntitySpec,
    keys: &[(u8, String)],
) -> Result<HashMap<u64, Vec<i64>>, AppError> {
    let email_col = if spec.name == "customers" {
        Some("email")
    } else {
        spec.dedupe.and_then(|d| d.email)
    };
    let mut out: HashMap<u64, Vec<i64>> = HashMap::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let mut sql = Sql::new(conn.backend());
    let mut first = true;
    for (kind, col) in [
        (0u8, Some("dedupe_name")),
        (1, Some("dedupe_phone")),
        (2, email_col),
    ] {
        let Some(col) = col else { continue };
        let mut vals: Vec<&str> = keys
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, v)| v.as_str())
            .collect();
        vals.sort_unstable();
        vals.dedup();
        if vals.is_empty() {
            continue;
        }
        if !first {
            sql.push(" UNION ALL ");
        }
        first = false;
        sql.push(&format!(
            "SELECT id, '{kind}' AS k, {col} AS v FROM {} WHERE {col} IN (",
            spec.name
        ));
        for (i, v) in vals.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.text(v.to_string());
        }
        sql.push(")");
    }
    if first {
        return Ok(out);
    }
    for r in sql.load::<KeyRow>(conn)? {
        let kind: u8 = r.k.parse().unwrap_or(0);
        out.entry(key_hash(kind, &r.v)).or_default().push(r.id);
    }
    Ok(out)
}

/// `[1,2,3,7,9,10]` as `1-3,7,9-10`.
pub fn encode_ranges(ids: &[i64]) -> String {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let start = ids[i];
        let mut end = start;
        while i + 1 < ids.len() && ids[i + 1] == end + 1 {
            i += 1;
            end = ids[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

pub fn decode_ranges(s: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<i64>().ok()),
        }
    }
    out
}

/// Counts kept while a batch runs.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    rows: u64,
    created: u64,
    updated: u64,
    skipped: u64,
    rejected: u64,
}

/// Writes rejected rows: the file's own columns (so the fixed file imports
/// again) and where and why. UTF-8 with BOM.
struct ErrorFile {
    path: PathBuf,
    w: Option<csv::Writer<std::io::BufWriter<std::fs::File>>>,
    header: Vec<String>,
}

impl ErrorFile {
    fn add(&mut self, row: &[String], p: &Problem) -> Result<(), AppError> {
        let io = |e: std::io::Error| AppError::Internal(format!("error file: {e}"));
        if self.w.is_none() {
            if let Some(parent) = self.path.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            let mut f = std::io::BufWriter::new(std::fs::File::create(&self.path).map_err(io)?);
            std::io::Write::write_all(&mut f, b"\xEF\xBB\xBF").map_err(io)?;
            let mut w = csv::Writer::from_writer(f);
            let mut h = self.header.clone();
            h.extend(columns::ERROR_COLUMNS.iter().map(|s| s.to_string()));
            w.write_record(&h)
                .map_err(|e| AppError::Internal(e.to_string()))?;
            self.w = Some(w);
        }
        let width = self.header.len();
        let mut rec: Vec<String> = row.iter().take(width).cloned().collect();
        rec.resize(width, String::new());
        rec.extend([p.line.to_string(), p.column.clone(), p.reason.clone()]);
        if let Some(w) = self.w.as_mut() {
            w.write_record(&rec)
                .map_err(|e| AppError::Internal(e.to_string()))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Option<PathBuf>, AppError> {
        match self.w.take() {
            Some(mut w) => {
                w.flush().map_err(|e| AppError::Internal(e.to_string()))?;
                Ok(Some(self.path))
            }
            None => Ok(None),
        }
    }
}

/// Create a batch row in state `status`.
pub fn new_batch(
    conn: &mut DbConn,
    actor: &Actor,
    entity: &str,
    file_name: &str,
    source_path: &str,
    status: &str,
    opts: &Options,
) -> Result<i64, AppError> {
    let t = now();
    let id: i64 = with_backend!(conn, c => diesel::insert_into(ib::table)
        .values((
            ib::entity.eq(entity),
            ib::file_name.eq(file_name),
            ib::status.eq(status),
            ib::options.eq(serde_json::to_string(opts).unwrap_or_default()),
            ib::user_id.eq(Some(actor.user_id())),
            ib::source_path.eq(source_path),
            ib::heartbeat_at.eq(Some(t)),
            ib::created_at.eq(t),
        ))
        .returning(ib::id)
        .get_result(c))?;
    Ok(id)
}

/// What a batch's bulk load changed, to put back.
#[derive(Debug, Default, Serialize, Deserialize)]
struct BulkState {
    /// (name, definition) of the indexes dropped.
    indexes: Vec<(String, String)>,
    /// Highest id of each searchable table when the load began: tables
    /// written meanwhile get their search index rebuilt too.
    high: Vec<(String, i64)>,
}

/// The duplicate keys of the customers that were there when a bulk load
/// began: the load drops the duplicate-key indexes with the others (at a
/// million rows, every chunk's random inserts into them rewrote tens of
/// megabytes of index pages) and looks existing records up here instead.
/// Keys are 64-bit hashes, as for the duplicates within the file.
#[derive(Default)]
struct KnownKeys {
    one: HashMap<u64, i64>,
    more: HashMap<u64, Vec<i64>>,
}

#[derive(diesel::QueryableByName)]
struct KeysOfRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    dedupe_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    dedupe_phone: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    email: String,
}

impl KnownKeys {
    fn load(conn: &mut DbConn) -> Result<KnownKeys, AppError> {
        let mut known = KnownKeys::default();
        let mut after = 0i64;
        loop {
            let page: Vec<KeysOfRow> = diesel::sql_query(
                "SELECT id, dedupe_name, dedupe_phone, email FROM customers WHERE id > ? ORDER BY id LIMIT 10000",
            )
            .bind::<diesel::sql_types::BigInt, _>(after)
            .load(conn)?;
            let Some(last) = page.last() else {
                return Ok(known);
            };
            after = last.id;
            for r in &page {
                for (kind, v) in [(0u8, &r.dedupe_name), (1, &r.dedupe_phone), (2, &r.email)] {
                    if !v.is_empty() {
                        known.add(key_hash(kind, v), r.id);
                    }
                }
            }
        }
    }

    fn add(&mut self, h: u64, id: i64) {
        match self.one.get(&h) {
            None => {
                self.one.insert(h, id);
            }
            Some(first) if *first != id => {
                let ids = self.more.entry(h).or_insert_with(|| vec![*first]);
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Some(_) => {}
        }
    }

    /// The records holding any of `keys`, by key hash (as [`existing`]):
    /// the candidates the map knows, checked by id against their current
    /// values, so a customer deleted or changed since the load began no
    /// longer matches.
    fn found(
        &self,
        conn: &mut DbConn,
        keys: &[(u8, String)],
    ) -> Result<HashMap<u64, Vec<i64>>, AppError> {
        let mut wanted: Vec<(u8, &str, u64, Vec<i64>)> = Vec::new();
        for (kind, v) in keys {
            let h = key_hash(*kind, v);
            if let Some(id) = self.one.get(&h) {
                let ids = self.more.get(&h).cloned().unwrap_or_else(|| vec![*id]);
                wanted.push((*kind, v.as_str(), h, ids));
            }
        }
        let mut ids: Vec<i64> = wanted.iter().flat_map(|w| w.3.iter().copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut rows: HashMap<i64, KeysOfRow> = HashMap::new();
        for part in ids.chunks(500) {
            let mut sql = Sql::new(conn.backend());
            sql.push("SELECT id, dedupe_name, dedupe_phone, email FROM customers WHERE id IN ")
                .int_list(part);
            for r in sql.load::<KeysOfRow>(conn)? {
                rows.insert(r.id, r);
            }
        }
        let mut out = HashMap::new();
        for (kind, v, h, ids) in wanted {
            let now: Vec<i64> = ids
                .into_iter()
                .filter(|id| {
                    rows.get(id).is_some_and(|r| match kind {
                        0 => r.dedupe_name == v,
                        1 => r.dedupe_phone == v,
                        _ => r.email == v,
                    })
                })
                .collect();
            if !now.is_empty() {
                out.insert(h, now);
            }
        }
        Ok(out)
    }
}

#[derive(diesel::QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    def: String,
}

#[derive(diesel::QueryableByName)]
struct MaxId {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    m: Option<i64>,
}

fn max_id(conn: &mut DbConn, table: &str) -> QueryResult<i64> {
    Ok(
        diesel::sql_query(format!("SELECT MAX(id) AS m FROM {table}"))
            .load::<MaxId>(conn)?
            .first()
            .and_then(|r| r.m)
            .unwrap_or(0),
    )
}

fn begin_bulk(conn: &mut DbConn, batch: i64, table: &str) -> Result<(), AppError> {
    let defs: Vec<IndexDef> = diesel::sql_query(format!(
        "SELECT name, sql AS def FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = '{table}'"
    ))
    .load(conn)?;
    let mut state = BulkState::default();
    for t in bulk::SEARCH_TABLES {
        state.high.push((t.to_string(), max_id(conn, t)?));
    }
    state.indexes = defs.into_iter().map(|d| (d.name, d.def)).collect();
    write_tx(conn, |conn| -> Result<(), AppError> {
        diesel::update(ib::table.find(batch))
            .set(ib::state.eq(serde_json::to_string(&state).unwrap_or_default()))
            .execute(conn)?;
        crate::core::settings::set(conn, "search.bulk_load", &format!("import {batch}"))?;
        for (name, _) in &state.indexes {
            diesel::sql_query(format!("DROP INDEX IF EXISTS {name}")).execute(conn)?;
        }
        Ok(())
    })
}

/// The SQLite database file a command-line import writes to, beside which
/// its search indexes are built; `None` in the server (whose writes run on
/// the shared connection and rebuild in place) and on PostgreSQL.
fn beside(conn: &mut DbConn) -> Result<Option<PathBuf>, AppError> {
    Ok(match conn {
        DbConn::Sqlite(c) if !crate::core::db::group::enabled() => crate::core::db::sqlite_file(c)?,
        _ => None,
    })
}

/// A scratch database of batch `batch`'s search index builds beside the
/// SQLite database `path`: `0` and `1` for the two indexes built from the
/// table, [`FOLLOWED`] for the follower's; per batch, so two imports never
/// share one.
fn scratch(path: &Path, batch: i64, tag: impl std::fmt::Display) -> PathBuf {
    bulk::scratch_path(path, format!("import-{batch}-{tag}"))
}

/// The tag of the follower's scratch database (see [`scratch`]).
const FOLLOWED: &str = "f";

/// Put back what a bulk load dropped: indexes, per-row search indexing,
/// and the search index of every table written meanwhile. `follower`: the
/// customers' search indexes, built while the load ran (see
/// [`bulk::SearchFollower`]). True when the follower's build was used.
fn end_bulk(
    conn: &mut DbConn,
    batch: i64,
    follower: Option<bulk::SearchFollower>,
) -> Result<bool, AppError> {
    let raw: String = ib::table.find(batch).select(ib::state).first(conn)?;
    let state: BulkState = serde_json::from_str(&raw).unwrap_or_default();
    let beside = beside(conn)?;
    let builds: Vec<bulk::SearchBuild> = match &beside {
        Some(_) if state.high.iter().any(|(t, _)| t == "customers") => {
            bulk::SearchBuild::of("customers").into()
        }
        _ => Vec::new(),
    };
    // Nothing to build (dropped: its thread stops, its file goes).
    let follower = follower.filter(|_| !builds.is_empty());
    if state.indexes.is_empty() && state.high.is_empty() {
        return Ok(false);
    }
    // The command line writes on its own connection: the customers' two
    // search indexes are then built on the other core, in scratch databases
    // beside this one, while this connection rebuilds the table indexes,
    // and copied in. Built by the follower as the rows came in, only the
    // last rows are left; without it (or when rows changed under it), each
    // index is built from the table, in a scratch file of its own. The
    // builders finish inside the transaction that holds the write lock, so
    // they read exactly the rows it sees. In the server a write runs on the
    // shared connection, which rebuilds in place.
    //
    // Per batch, so two imports never share a scratch file; left over by
    // a crash of an earlier end of this batch, they go now.
    let files: Vec<PathBuf> = match &beside {
        Some(path) => (0..builds.len()).map(|i| scratch(path, batch, i)).collect(),
        None => Vec::new(),
    };
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    let followed_file = follower.as_ref().map(|f| f.file().to_path_buf());
    let work = |conn: &mut DbConn| -> Result<bool, AppError> {
        // The first statement writes, so the transaction holds the write
        // lock before the builders read what is left.
        diesel::sql_query("DELETE FROM settings WHERE key = 'search.bulk_load'").execute(conn)?;
        let followed = std::thread::scope(|s| -> Result<bool, AppError> {
            let search = beside.as_deref().filter(|_| !builds.is_empty()).map(|path| {
                let (builds, files) = (&builds, &files);
                s.spawn(move || -> Result<bool, String> {
                    if let Some(f) = follower {
                        match f.finish() {
                            Ok(true) => return Ok(true),
                            Ok(false) => tracing::info!(
                                batch,
                                "customers changed during the import: search index built from the table"
                            ),
                            Err(e) => tracing::warn!(batch, error = %e, "search index follower failed: search index built from the table"),
                        }
                    }
                    std::thread::scope(|s| {
                        let builders: Vec<_> = builds
                            .iter()
                            .zip(files)
                            .map(|(b, f)| s.spawn(move || bulk::build_scratch(path, f, b)))
                            .collect();
                        for h in builders {
                            h.join()
                                .unwrap_or_else(|_| Err("a search index build panicked".into()))?;
                        }
                        Ok(false)
                    })
                })
            });
            let started = Instant::now();
            let indexes = bulk::index_builds(conn, |conn| -> QueryResult<()> {
                for (_, def) in &state.indexes {
                    let def = def.replacen("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1);
                    diesel::sql_query(def).execute(conn)?;
                }
                Ok(())
            });
            let indexed = started.elapsed().as_secs_f64();
            let followed = match search {
                Some(h) => h
                    .join()
                    .unwrap_or_else(|_| Err("a search index build panicked".into()))
                    .map_err(AppError::Internal)?,
                None => false,
            };
            indexes?;
            tracing::info!(
                batch,
                indexes = state.indexes.len(),
                index_seconds = indexed,
                with_search_seconds = started.elapsed().as_secs_f64(),
                search_built_during_load = followed,
                "bulk load: indexes rebuilt"
            );
            Ok(followed)
        })?;
        if let DbConn::Sqlite(c) = conn {
            use diesel::connection::SimpleConnection;
            for (i, b) in builds.iter().enumerate() {
                let from = if followed {
                    "followed".to_string()
                } else {
                    format!("built{i}")
                };
                c.batch_execute(&bulk::copy_built_sql(&from, b))?;
            }
        }
        // Tables others wrote to while per-row search indexing was off
        // (asked inside the transaction: nobody writes now).
        let mut in_place = Vec::new();
        for (t, high) in &state.high {
            let built = !builds.is_empty() && t == "customers";
            if !built && (max_id(conn, t)? > *high || t == "customers") {
                in_place.push(t.clone());
            }
        }
        for t in &in_place {
            for b in bulk::SearchBuild::of(t) {
                bulk::rebuild_search(conn, &b.fts)?;
            }
        }
        diesel::update(ib::table.find(batch))
            .set(ib::state.eq("{}"))
            .execute(conn)?;
        Ok(followed)
    };
    let done = match &beside {
        Some(path) if !files.is_empty() => {
            // On a connection of its own, closed afterwards (which detaches
            // the scratch files): FTS5 keeps each index's segment list in
            // memory and reloads it only when another connection has
            // committed, so the connection that copied the new segments in
            // would go on writing from the old list. `BEGIN IMMEDIATE` (what
            // `write_tx` opens) would also lock the attached scratch files
            // against their builders: a deferred transaction locks each
            // database when it first uses it. All are attached before it
            // starts: `ATTACH` cannot run inside a transaction.
            let url = crate::core::db::DbUrl::Sqlite(path.clone());
            (|| -> Result<bool, AppError> {
                let mut own = crate::core::db::open_single(&url)
                    .map_err(|e| AppError::Internal(e.to_string()))?;
                let named = files
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (format!("built{i}"), f))
                    .chain(followed_file.iter().map(|f| ("followed".to_string(), f)));
                for (name, f) in named {
                    diesel::sql_query(format!("ATTACH DATABASE '{}' AS {name}", bulk::quoted(f)))
                        .execute(&mut own)?;
                }
                own.transaction(work)
            })()
        }
        _ => write_tx(conn, work),
    };
    for f in files.iter().chain(&followed_file) {
        let _ = std::fs::remove_file(f);
    }
    done
}

/// Run an import of `plan` as batch `batch` (already created as `running`;
/// `None` for a dry run). `tick` is called after every chunk with the rows
/// done; it returning false cancels (the batch is rolled back).
#[expect(clippy::too_many_arguments, reason = "one import's parts")]
pub fn run(
    conn: &mut DbConn,
    actor: &Actor,
    mut plan: Plan,
    opts: &Options,
    batch: Option<i64>,
    error_path: PathBuf,
    file_size: u64,
    tick: &mut dyn FnMut(&mut DbConn, u64) -> bool,
) -> Result<Summary, AppError> {
    let started = Instant::now();
    let spec = plan.spec;
    actor.require(spec.name, "create")?;
    actor.require(spec.name, "import")?;
    if let Some(o) = opts.owner_id {
        rstore::check_owner(conn, actor, spec.name, spec.owner_col, o, "create")?;
    }
    if let Some(pool) = opts.pool_id {
        if spec.name != "customers" {
            return Err(AppError::invalid("pool", "only customers go into a pool"));
        }
        check_pool(conn, actor, pool)?;
    }
    let mut summary = Summary {
        batch_id: batch,
        entity: spec.name.to_string(),
        format: format!("{:?}", plan.source.format).to_lowercase(),
        encoding: plan.source.encoding.clone(),
        delimiter: plan.source.delimiter.map(|d| d.to_string()),
        mapping: plan.summary_mapping(),
        unmapped: plan
            .summary_mapping()
            .into_iter()
            .filter(|(h, m)| {
                m.is_none() && !h.is_empty() && !columns::ERROR_COLUMNS.contains(&h.as_str())
            })
            .map(|(h, _)| h)
            .collect(),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let bulk = batch.is_some()
        && conn.backend() == Backend::Sqlite
        && spec.name == "customers"
        && opts.bulk.unwrap_or(file_size >= 32 << 20);
    let known = match (bulk, batch) {
        (true, Some(b)) => {
            let known = (opts.on_duplicate != OnDuplicate::Create)
                .then(|| KnownKeys::load(conn))
                .transpose()?;
            begin_bulk(conn, b, spec.name)?;
            known
        }
        _ => None,
    };
    // The customers' search indexes are built as the rows come in, on the
    // core the load leaves idle. Not when updating: changed rows would
    // make the build unusable at the end (see `end_bulk`).
    let follower = match (bulk, batch) {
        (true, Some(b)) if opts.on_duplicate != OnDuplicate::Update => match beside(conn)? {
            Some(path) => {
                let file = scratch(&path, b, FOLLOWED);
                bulk::SearchFollower::start(&path, spec.name, file)
                    .inspect_err(
                        |e| tracing::warn!(error = %e, "search index follower did not start"),
                    )
                    .ok()
            }
            None => None,
        },
        _ => None,
    };
    let mut errors = ErrorFile {
        path: error_path,
        w: None,
        header: plan.source.header.clone(),
    };
    let mut counts = Counts::default();
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let mut lk = Lookups::default();
    let ctx = actor.audit();
    // With a bigger page cache and the statement journal in memory (the
    // server's shared writer already keeps its own in memory).
    let outcome = bulk::big_writes(conn, |conn| -> Result<bool, AppError> {
        loop {
            let mut rows: Vec<Row> = Vec::with_capacity(CHUNK);
            for r in plan.source.by_ref().take(CHUNK) {
                match r {
                    Ok(row) => rows.push(row),
                    Err(e) => return Err(AppError::invalid("file", e.0)),
                }
            }
            if rows.is_empty() {
                return Ok(true);
            }
            chunk(
                conn,
                actor,
                &plan,
                opts,
                batch,
                &ctx,
                &rows,
                &mut counts,
                &mut seen,
                known.as_ref(),
                &mut lk,
                &mut errors,
                &mut summary.problems,
            )?;
            if !tick(conn, counts.rows) {
                return Ok(false);
            }
        }
    });
    // A failing end of the bulk load fails the batch like a failing row
    // would: it is rolled back below (which tries the end again) instead of
    // staying `running` with its indexes dropped until the recovery job.
    let outcome = match (bulk, batch) {
        (true, Some(b)) => {
            let rebuild = Instant::now();
            let ended = end_bulk(conn, b, follower);
            summary.rebuild_seconds = rebuild.elapsed().as_secs_f64();
            summary.search_built_during_load = matches!(ended, Ok(true));
            match (outcome, ended) {
                (Ok(_), Err(e)) => Err(e),
                (outcome, _) => outcome,
            }
        }
        _ => outcome,
    };
    let error_file = errors.finish()?;
    summary.rows = counts.rows;
    summary.created = counts.created;
    summary.updated = counts.updated;
    summary.skipped = counts.skipped;
    summary.rejected = counts.rejected;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.rows_per_second = counts.rows as f64 / summary.seconds.max(1e-6);
    summary.error_file = error_file.as_ref().map(|p| p.display().to_string());
    let Some(b) = batch else {
        summary.status = "dry_run".into();
        return outcome.map(|_| summary);
    };
    match outcome {
        Ok(true) => {
            write_tx(conn, |conn| -> Result<(), AppError> {
                diesel::update(ib::table.find(b))
                    .set((
                        ib::status.eq("done"),
                        ib::finished_at.eq(Some(now())),
                        ib::error_file.eq(summary.error_file.clone().unwrap_or_default()),
                        ib::rows_total.eq(counts.rows as i64),
                    ))
                    .execute(conn)?;
                audit::record(
                    conn,
                    &ctx,
                    "import",
                    spec.name,
                    Some(b),
                    &json!({"batch": b, "rows": counts.rows, "created": counts.created,
                            "updated": counts.updated, "skipped": counts.skipped,
                            "rejected": counts.rejected}),
                )?;
                Ok(())
            })?;
            summary.status = "done".into();
            Ok(summary)
        }
        Ok(false) => {
            rollback(conn, actor, b, "cancelled")?;
            summary.status = "cancelled".into();
            Ok(summary)
        }
        Err(e) => {
            let msg = e.to_string();
            rollback(conn, actor, b, "failed")?;
            diesel::update(ib::table.find(b))
                .set(ib::message.eq(&msg))
                .execute(conn)?;
            Err(e)
        }
    }
}

/// May the actor put customers into `pool`?
fn check_pool(conn: &mut DbConn, actor: &Actor, pool: i64) -> Result<(), AppError> {
    use crate::core::db::schema::pools;
    let active: Option<bool> = pools::table
        .find(pool)
        .select(pools::active)
        .first(conn)
        .optional()?;
    match active {
        None => Err(AppError::invalid(
            "pool",
            format!("pool {pool} does not exist"),
        )),
        Some(false) => Err(AppError::invalid(
            "pool",
            format!("pool {pool} is not active"),
        )),
        Some(true) => {
            if actor.can("pool", "manage") || actor.can("customers", "transfer") {
                Ok(())
            } else {
                Err(AppError::Forbidden(
                    "putting imported customers into a pool needs the permission pool.manage or customers.transfer".into(),
                ))
            }
        }
    }
}

/// Validate, deduplicate and write one chunk of rows.
#[expect(clippy::too_many_arguments, reason = "the running import's state")]
fn chunk(
    conn: &mut DbConn,
    actor: &Actor,
    plan: &Plan,
    opts: &Options,
    batch: Option<i64>,
    ctx: &AuditCtx,
    rows: &[Row],
    counts: &mut Counts,
    seen: &mut HashMap<u64, u64>,
    known: Option<&KnownKeys>,
    lk: &mut Lookups,
    errors: &mut ErrorFile,
    problems: &mut Vec<Problem>,
) -> Result<(), AppError> {
    let spec = plan.spec;
    let mut reject = |row: &Row, p: Problem, counts: &mut Counts| -> Result<(), AppError> {
        counts.rejected += 1;
        errors.add(&row.cells, &p)?;
        if problems.len() < 100 {
            problems.push(p);
        }
        Ok(())
    };
    let mut ready: Vec<(usize, Prepared)> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        counts.rows += 1;
        let prepared = input_of(conn, actor, plan, lk, opts, row)
            .and_then(|input| prepare(conn, actor, plan, lk, row.line, input));
        match prepared {
            Ok(p) => ready.push((i, p)),
            Err(p) => reject(row, p, counts)?,
        }
    }
    // Duplicates within the file.
    let mut fresh: Vec<(usize, Prepared)> = Vec::with_capacity(ready.len());
    for (i, p) in ready {
        let hashes: Vec<u64> = p.keys.iter().map(|(k, v)| key_hash(*k, v)).collect();
        if opts.on_duplicate != OnDuplicate::Create && hashes.iter().any(|h| seen.contains_key(h)) {
            counts.skipped += 1;
            continue;
        }
        for h in hashes {
            seen.entry(h).or_insert(p.line);
        }
        fresh.push((i, p));
    }
    // Against the database: one lookup per key kind for the whole chunk.
    let found = if opts.on_duplicate == OnDuplicate::Create {
        HashMap::new()
    } else {
        let keys: Vec<(u8, String)> = fresh.iter().flat_map(|(_, p)| p.keys.clone()).collect();
        match known {
            Some(k) => k.found(conn, &keys)?,
            None => existing(conn, spec, &keys)?,
        }
    };
    let mut creates: Vec<Prepared> = Vec::new();
    let mut updates: Vec<(usize, i64, Prepared)> = Vec::new();
    for (i, p) in fresh {
        let mut ids: Vec<i64> = p
            .keys
            .iter()
            .filter_map(|(k, v)| found.get(&key_hash(*k, v)))
            .flatten()
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        match (ids.as_slice(), opts.on_duplicate) {
            ([], _) | (_, OnDuplicate::Create) => creates.push(p),
            (_, OnDuplicate::Skip) => counts.skipped += 1,
            ([one], OnDuplicate::Update) => updates.push((i, *one, p)),
            (many, OnDuplicate::Update) => {
                let line = p.line;
                reject(
                    &rows[i],
                    Problem {
                        line,
                        column: String::new(),
                        reason: format!(
                            "matches several existing {} ({}); merge them first or import with another duplicate mode",
                            spec.name,
                            many.iter()
                                .map(i64::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    },
                    counts,
                )?;
            }
        }
    }
    let Some(b) = batch else {
        // A dry run: count what would happen.
        counts.created += creates.len() as u64;
        for (i, id, p) in updates {
            if rstore::editable(conn, actor, spec.name, id)? {
                counts.updated += 1;
            } else {
                reject(&rows[i], not_editable(spec, id, p.line), counts)?;
            }
        }
        return Ok(());
    };
    write_tx(conn, |conn| -> Result<(), AppError> {
        let ids = insert_all(conn, actor, spec, ctx, opts, creates)?;
        counts.created += ids.len() as u64;
        if !ids.is_empty() {
            with_backend!(conn, c => diesel::insert_into(ii::table)
                .values((
                    ii::batch_id.eq(b),
                    ii::action.eq("created"),
                    ii::record_ids.eq(encode_ranges(&ids)),
                ))
                .execute(c))?;
        }
        for (i, id, p) in updates {
            match update_one(conn, actor, spec, id, &p)? {
                Ok((before, version)) => {
                    counts.updated += 1;
                    with_backend!(conn, c => diesel::insert_into(ii::table)
                        .values((
                            ii::batch_id.eq(b),
                            ii::action.eq("updated"),
                            ii::record_id.eq(Some(id)),
                            ii::line.eq(p.line as i64),
                            ii::before.eq(before.to_string()),
                            ii::version.eq(version),
                        ))
                        .execute(c))?;
                }
                Err(problem) => reject(&rows[i], problem, counts)?,
            }
        }
        diesel::update(ib::table.find(b))
            .set((
                ib::rows_done.eq(counts.rows as i64),
                ib::created.eq(counts.created as i64),
                ib::updated.eq(counts.updated as i64),
                ib::skipped.eq(counts.skipped as i64),
                ib::rejected.eq(counts.rejected as i64),
                ib::heartbeat_at.eq(Some(now())),
            ))
            .execute(conn)?;
        Ok(())
    })
}

fn not_editable(spec: &EntitySpec, id: i64, line: u64) -> Problem {
    Problem {
        line,
        column: String::new(),
        reason: format!(
            "duplicate of {} {id}, which you may not change; ask its owner or import with another duplicate mode",
            spec.singular
        ),
    }
}

/// Insert the new records; returns their ids.
fn insert_all(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    ctx: &AuditCtx,
    opts: &Options,
    creates: Vec<Prepared>,
) -> Result<Vec<i64>, AppError> {
    let t = now();
    let by = Some(actor.user_id());
    let mut ids: Vec<i64> = Vec::with_capacity(creates.len());
    if spec.name == "customers" {
        let mut rows: Vec<NewCustomer> = creates
            .into_iter()
            .filter_map(|p| match p.ready {
                Ready::Customer(c, custom) => Some(NewCustomer::from_clean(
                    *c,
                    Value::Object(custom).to_string(),
                    by,
                    t,
                    t,
                    None,
                )),
                Ready::Record(..) => None,
            })
            .collect();
        if opts.pool_id.is_some() {
            for r in &mut rows {
                r.owner_id = None;
            }
        }
        match conn {
            DbConn::Sqlite(c) => ids = NewCustomer::insert_sqlite(c, &rows)?,
            DbConn::Pg(c) => {
                for part in rows.chunks(PER_STATEMENT) {
                    let new: Vec<i64> = diesel::insert_into(customers::table)
                        .values(part)
                        .returning(customers::id)
                        .get_results(c)?;
                    ids.extend(new);
                }
            }
        }
        if let Some(pool) = opts.pool_id {
            for part in ids.chunks(500) {
                diesel::update(customers::table.filter(customers::id.eq_any(part)))
                    .set((
                        customers::pool_id.eq(Some(pool)),
                        customers::pooled_at.eq(Some(t)),
                        customers::pool_reason.eq("import"),
                    ))
                    .execute(conn)?;
            }
        }
        return Ok(ids);
    }
    for p in creates {
        let Ready::Record(rec, custom) = p.ready else {
            continue;
        };
        let defs = fields::list(conn, Some(spec.name), false)?;
        fields::check_unique(conn, spec.name, &defs, &custom, None)?;
        let id = rstore::insert(conn, spec, &rec, &custom, by)?;
        if let Some(hook) = spec.after_write {
            let after = rstore::read(conn, spec, id)?;
            hook(conn, ctx, None, Some(&after))?;
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Change existing record `id` with the row's non-empty values through the
/// store's update (its checks, history and audit); returns its editable
/// state before and the version after, or the row's problem.
fn update_one(
    conn: &mut DbConn,
    actor: &Actor,
    spec: &EntitySpec,
    id: i64,
    p: &Prepared,
) -> Result<Result<(Value, i32), Problem>, AppError> {
    if !rstore::editable(conn, actor, spec.name, id)? {
        return Ok(Err(not_editable(spec, id, p.line)));
    }
    let mut patch = p.patch.clone();
    // The owner changes only when the file names one.
    let result = if spec.name == "customers" {
        use crate::crm::customers::{model::CustomerId, store};
        let before = store::get(conn, actor, CustomerId(id))?;
        let image = serde_json::to_value(CustomerInput::from_customer(&before)).unwrap_or_default();
        if patch.get("owner_id") == Some(&Value::from(actor.user_id())) && before.owner_id.is_some()
        {
            patch.remove("owner_id");
        }
        store::update(
            conn,
            actor,
            CustomerId(id),
            before.version,
            &Value::Object(patch),
            true,
        )
        .map(|after| (image, after.version))
    } else {
        let before = rstore::get(conn, actor, spec, id)?;
        let version = before.get("version").and_then(Value::as_i64).unwrap_or(0) as i32;
        let image = editable_image(spec, &before);
        rstore::update(conn, actor, spec, id, version, &patch, true, false).map(|after| {
            (
                image,
                after.get("version").and_then(Value::as_i64).unwrap_or(0) as i32,
            )
        })
    };
    Ok(match result {
        Ok(v) => Ok(v),
        Err(e @ (AppError::Invalid { .. } | AppError::Forbidden(_) | AppError::Conflict(_))) => {
            Err(Problem {
                line: p.line,
                column: match &e {
                    AppError::Invalid { field: Some(f), .. } => f.clone(),
                    _ => String::new(),
                },
                reason: e.to_string(),
            })
        }
        Err(e) => return Err(e),
    })
}

/// The client-settable fields of a kernel record, to restore on undo.
fn editable_image(spec: &EntitySpec, r: &records::Record) -> Value {
    let mut m = Map::new();
    for f in spec.fields.iter().filter(|f| f.input) {
        m.insert(
            f.name.to_string(),
            r.get(f.name).cloned().unwrap_or(Value::Null),
        );
    }
    m.insert(
        spec.owner_col.to_string(),
        r.get(spec.owner_col).cloned().unwrap_or(Value::Null),
    );
    m.insert(
        "custom".into(),
        r.get("custom").cloned().unwrap_or(json!({})),
    );
    Value::Object(m)
}

/// A batch as the API shows it.
#[derive(Debug, Clone, Serialize, Queryable, Selectable)]
#[diesel(table_name = ib)]
pub struct Batch {
    pub id: i64,
    pub entity: String,
    pub file_name: String,
    pub status: String,
    #[serde(skip)]
    pub options: String,
    pub user_id: Option<i64>,
    pub rows_total: i64,
    pub rows_done: i64,
    pub created: i64,
    pub updated: i64,
    pub skipped: i64,
    pub rejected: i64,
    #[serde(skip)]
    pub source_path: String,
    #[serde(skip)]
    pub error_file: String,
    pub message: String,
    #[serde(skip)]
    pub state: String,
    pub heartbeat_at: Option<chrono::NaiveDateTime>,
    pub created_at: chrono::NaiveDateTime,
    pub finished_at: Option<chrono::NaiveDateTime>,
    pub undone_at: Option<chrono::NaiveDateTime>,
}

impl Batch {
    pub fn has_errors(&self) -> bool {
        !self.error_file.is_empty()
    }
}

pub fn batch(conn: &mut DbConn, id: i64) -> Result<Batch, AppError> {
    ib::table
        .find(id)
        .select(Batch::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("import {id} not found")))
}

/// A batch the actor may see: their own, or any for administrators.
pub fn visible_batch(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<Batch, AppError> {
    let b = batch(conn, id)?;
    if b.user_id == Some(actor.user_id()) || actor.is_admin() {
        Ok(b)
    } else {
        Err(AppError::NotFound(format!("import {id} not found")))
    }
}

/// The actor's batches (administrators: everyone's), newest first.
pub fn list(conn: &mut DbConn, actor: Option<&Actor>, limit: i64) -> Result<Vec<Batch>, AppError> {
    let mut q = ib::table
        .select(Batch::as_select())
        .order(ib::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(a) = actor.filter(|a| !a.is_admin()) {
        q = q.filter(ib::user_id.eq(a.user_id()));
    }
    Ok(q.load(conn)?)
}

/// What an undo did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UndoSummary {
    pub batch_id: i64,
    pub deleted: u64,
    pub reverted: u64,
    /// Records changed by someone since the import: left as they are.
    pub kept_changed: Vec<i64>,
}

/// Undo a finished batch: delete what it created, put back what it updated.
pub fn undo(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<UndoSummary, AppError> {
    let b = visible_batch(conn, actor, id)?;
    if b.status != "done" {
        return Err(AppError::Conflict(format!(
            "import {id} is {}; only a finished import can be undone",
            b.status
        )));
    }
    actor.require(&b.entity, "delete").or_else(|_| {
        if b.user_id == Some(actor.user_id()) {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "undoing another user's import needs the delete permission".into(),
            ))
        }
    })?;
    let s = revert(conn, actor, &b)?;
    write_tx(conn, |conn| -> Result<(), AppError> {
        diesel::update(ib::table.find(id))
            .set((ib::status.eq("undone"), ib::undone_at.eq(Some(now()))))
            .execute(conn)?;
        audit::record(
            conn,
            &actor.audit(),
            "import_undo",
            &b.entity,
            Some(id),
            &json!({"batch": id, "deleted": s.deleted, "reverted": s.reverted,
                    "kept_changed": s.kept_changed.len()}),
        )?;
        Ok(())
    })?;
    Ok(s)
}

/// Roll a batch that did not finish back, leaving it in `status`.
fn rollback(conn: &mut DbConn, actor: &Actor, id: i64, status: &str) -> Result<(), AppError> {
    let b = batch(conn, id)?;
    if b.state.len() > 2 && conn.backend() == Backend::Sqlite {
        end_bulk(conn, id, None)?;
    }
    // The scratch files of its search index builds, which a command-line
    // import that died during its bulk load leaves beside the database
    // (the server's recovery does not build beside it).
    if let DbConn::Sqlite(c) = conn
        && let Some(path) = crate::core::db::sqlite_file(c)?
    {
        for tag in ["0", "1", FOLLOWED] {
            let _ = std::fs::remove_file(scratch(&path, id, tag));
        }
    }
    let s = revert(conn, actor, &b)?;
    write_tx(conn, |conn| -> Result<(), AppError> {
        diesel::update(ib::table.find(id))
            .set((ib::status.eq(status), ib::finished_at.eq(Some(now()))))
            .execute(conn)?;
        audit::record(
            conn,
            &actor.audit(),
            "import_rollback",
            &b.entity,
            Some(id),
            &json!({"batch": id, "status": status, "deleted": s.deleted, "reverted": s.reverted}),
        )?;
        Ok(())
    })
}

fn revert(conn: &mut DbConn, actor: &Actor, b: &Batch) -> Result<UndoSummary, AppError> {
    let spec = columns::entity(&b.entity)?;
    let items: Vec<(String, String, Option<i64>, String, i32)> = ii::table
        .filter(ii::batch_id.eq(b.id))
        .order(ii::id)
        .select((
            ii::action,
            ii::record_ids,
            ii::record_id,
            ii::before,
            ii::version,
        ))
        .load(conn)?;
    let mut created: Vec<i64> = Vec::new();
    let mut s = UndoSummary {
        batch_id: b.id,
        ..Default::default()
    };
    for (action, ranges, _, _, _) in &items {
        if action == "created" {
            created.extend(decode_ranges(ranges));
        }
    }
    if spec.name == "customers" {
        use crate::core::db::schema::opportunities as o;
        let mut held = 0i64;
        for part in created.chunks(500) {
            held += o::table
                .filter(o::customer_id.eq_any(part))
                .count()
                .get_result::<i64>(conn)?;
        }
        if held > 0 {
            return Err(AppError::Conflict(format!(
                "{held} opportunities were added to customers of this import since; delete them (or the customers) first"
            )));
        }
    }
    // Updates first, newest last-in first-out.
    for (action, _, rid, before, version) in items.iter().rev() {
        let (Some(rid), "updated") = (rid, action.as_str()) else {
            continue;
        };
        let before: Value = serde_json::from_str(before).unwrap_or_default();
        let done = if spec.name == "customers" {
            use crate::crm::customers::{model::CustomerId, store};
            let cur = store::get(conn, actor, CustomerId(*rid));
            match cur {
                Ok(c) if c.version == *version => {
                    store::update(conn, actor, CustomerId(*rid), c.version, &before, true)?;
                    true
                }
                _ => false,
            }
        } else {
            match rstore::get(conn, actor, spec, *rid) {
                Ok(r) if r.get("version").and_then(Value::as_i64) == Some(i64::from(*version)) => {
                    let changes = before.as_object().cloned().unwrap_or_default();
                    rstore::update(conn, actor, spec, *rid, *version, &changes, true, true)?;
                    true
                }
                _ => false,
            }
        };
        if done {
            s.reverted += 1;
        } else {
            s.kept_changed.push(*rid);
        }
    }
    let ctx = actor.audit();
    for part in created.chunks(500) {
        write_tx(conn, |conn| -> Result<(), AppError> {
            s.deleted += delete_ids(conn, &ctx, spec, part)? as u64;
            Ok(())
        })?;
    }
    Ok(s)
}

/// Delete records by id with what hangs on them (shares, follows,
/// attachments; a customer's contacts).
pub fn delete_ids(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    spec: &EntitySpec,
    ids: &[i64],
) -> Result<usize, AppError> {
    use crate::core::db::schema::{attachments, record_follows, record_shares};
    if ids.is_empty() {
        return Ok(0);
    }
    let mut deleted = 0;
    if let Some(hook) = spec.after_write {
        // Records whose removal moves others (a follow-up's customer dates)
        // go one by one through the hook.
        for id in ids {
            if let Ok(before) = rstore::read(conn, spec, *id) {
                let mut sql = Sql::new(conn.backend());
                sql.push(&format!("DELETE FROM {} WHERE id = ", spec.name))
                    .int(*id);
                deleted += sql.execute(conn)?;
                hook(conn, ctx, Some(&before), None)?;
            }
        }
    }
    if spec.name == "customers" {
        use crate::core::db::schema::contacts;
        let kids: Vec<i64> = contacts::table
            .filter(contacts::customer_id.eq_any(ids))
            .select(contacts::id)
            .load(conn)?;
        for part in kids.chunks(500) {
            delete_ids(conn, ctx, &crate::crm::contacts::SPEC, part)?;
        }
    }
    {
        let table = spec.name;
        diesel::delete(
            record_shares::table
                .filter(record_shares::entity.eq(table))
                .filter(record_shares::record_id.eq_any(ids)),
        )
        .execute(conn)?;
        diesel::delete(
            record_follows::table
                .filter(record_follows::entity.eq(table))
                .filter(record_follows::record_id.eq_any(ids)),
        )
        .execute(conn)?;
        diesel::delete(
            attachments::table
                .filter(attachments::entity.eq(table))
                .filter(attachments::record_id.eq_any(ids)),
        )
        .execute(conn)?;
    }
    let mut sql = Sql::new(conn.backend());
    sql.push(&format!("DELETE FROM {} WHERE id IN ", spec.name))
        .int_list(ids);
    Ok(deleted + sql.execute(conn)?)
}

/// Roll back every batch left `running` by a process that died (no
/// heartbeat for [`STALE_SECONDS`]); returns how many.
pub fn recover(conn: &mut DbConn) -> Result<usize, AppError> {
    let cutoff = now() - chrono::Duration::seconds(STALE_SECONDS);
    let stale: Vec<(i64, Option<i64>)> = ib::table
        .filter(ib::status.eq_any(["running", "cancelling"]))
        .filter(ib::heartbeat_at.lt(cutoff).or(ib::heartbeat_at.is_null()))
        .select((ib::id, ib::user_id))
        .load(conn)?;
    let mut n = 0;
    for (id, user) in stale {
        let actor = match user {
            Some(u) => crate::io::system_actor(conn, Some(u))?,
            None => crate::io::system_actor(conn, None)?,
        };
        rollback(conn, &actor, id, "rolled_back")?;
        n += 1;
    }
    Ok(n)
}

/// The recovery job: rolls back imports whose process died.
pub fn recovery_job() -> crate::core::jobs::Job {
    crate::core::jobs::Job {
        name: "import-recovery",
        every: std::time::Duration::from_secs(60),
        run: |conn, _ctx| {
            let n = recover(conn)?;
            Ok(format!("{n} interrupted import(s) rolled back"))
        },
    }
}

/// One previewed row: its cells and what is wrong with them.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewRow {
    pub line: u64,
    pub cells: Vec<String>,
    pub problems: Vec<Problem>,
}

/// What the file looks like: detection, the mapping, the first rows checked
/// as the import would check them (nothing written).
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub format: String,
    pub encoding: String,
    pub delimiter: Option<String>,
    pub header: Vec<String>,
    pub mapping: Vec<(String, Option<String>)>,
    /// Every column the entity has: key, zh label, en label.
    pub fields: Vec<(String, String, String)>,
    pub rows: Vec<PreviewRow>,
}

pub fn preview(
    conn: &mut DbConn,
    actor: &Actor,
    mut plan: Plan,
    opts: &Options,
    n: usize,
) -> Result<Preview, AppError> {
    let mut lk = Lookups::default();
    let mut rows = Vec::new();
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let taken: Vec<Row> = plan
        .source
        .by_ref()
        .take(n)
        .collect::<Result<_, _>>()
        .map_err(|e| AppError::invalid("file", e.0))?;
    for row in taken {
        let checked = input_of(conn, actor, &plan, &mut lk, opts, &row)
            .and_then(|input| prepare(conn, actor, &plan, &mut lk, row.line, input));
        let mut problems = Vec::new();
        match checked {
            Err(p) => problems.push(p),
            Ok(p) => {
                for (k, v) in &p.keys {
                    if let Some(first) = seen.get(&key_hash(*k, v)) {
                        problems.push(Problem {
                            line: row.line,
                            column: String::new(),
                            reason: format!("duplicate of line {first}"),
                        });
                        break;
                    }
                }
                for (k, v) in &p.keys {
                    seen.entry(key_hash(*k, v)).or_insert(row.line);
                }
                let found = existing(conn, plan.spec, &p.keys)?;
                let mut ids: Vec<i64> = p
                    .keys
                    .iter()
                    .filter_map(|(k, v)| found.get(&key_hash(*k, v)))
                    .flatten()
                    .copied()
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                if !ids.is_empty() {
                    problems.push(Problem {
                        line: row.line,
                        column: String::new(),
                        reason: format!(
                            "matches existing {} {}",
                            plan.spec.singular,
                            ids.iter()
                                .map(i64::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                }
            }
        }
        rows.push(PreviewRow {
            line: row.line,
            cells: row.cells,
            problems,
        });
    }
    Ok(Preview {
        format: format!("{:?}", plan.source.format).to_lowercase(),
        encoding: plan.source.encoding.clone(),
        delimiter: plan.source.delimiter.map(|d| d.to_string()),
        header: plan.source.header.clone(),
        mapping: plan.summary_mapping(),
        fields: plan
            .cols
            .iter()
            .map(|c| (c.key.clone(), c.label_zh.clone(), c.label_en.clone()))
            .collect(),
        rows,
    })
}

/// Rows in the file (for a progress bar), read quickly without checking.
pub fn count_rows(path: &Path, opts: &Options) -> Result<u64, AppError> {
    let src = read::open(path, opts.encoding.as_deref(), opts.delimiter)
        .map_err(|e| AppError::invalid("file", e.0))?;
    Ok(src.filter(Result::is_ok).count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_ranges_round_trip() {
        let ids = vec![5, 1, 2, 3, 9, 10, 12];
        let s = encode_ranges(&ids);
        assert_eq!(s, "1-3,5,9-10,12");
        assert_eq!(decode_ranges(&s), vec![1, 2, 3, 5, 9, 10, 12]);
        assert_eq!(decode_ranges(""), Vec::<i64>::new());
    }
}
