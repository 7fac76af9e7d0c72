//! Restore an archive into either backend.
//!
//! 1. The whole archive is verified (and its schema checked against this
//!    binary) before the target is touched.
//! 2. The new database is built beside the old one: SQLite in
//!    `TARGET.restoring`, PostgreSQL in the schema `rapport_restore` of the
//!    target database. Migrations build the schema the archive was made
//!    with; secondary indexes, foreign keys and (SQLite) triggers are set
//!    aside while the rows load and put back after, which also checks every
//!    foreign key; id counters are carried over; SQLite's FTS5 indexes are
//!    rebuilt; the restored rows are read back and compared with the
//!    archive's checksums; newer migrations are applied.
//! 3. Only then is it swapped in: SQLite by an atomic rename over the old
//!    file, PostgreSQL by renaming the schemas in one transaction. A restore
//!    that fails or is killed before that leaves the old database as it was
//!    (a stale `.restoring` file or `rapport_restore` schema is cleared by the
//!    next restore).
//!
//! Attachment files are written into the data directory under their hash
//! before the swap (content-addressed: an existing file is the same file).
//! Stop the server before restoring over its database.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::catalog::{self, ColType, Table, ident};
use super::copy::CopyPlan;
use super::format::{Header, Manifest, Passphrase, Sha256, TableSum};
use super::{BackupError, Sink, Visitor};
use crate::core::db::{self, DbConn, DbUrl, migrations};

/// How to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    pub passphrase: Option<Passphrase>,
    /// Replace a database that already holds data.
    pub force: bool,
    /// Verify and report what would happen; change nothing.
    pub dry_run: bool,
}

/// One table after a restore: what the archive says and what was read back.
#[derive(Debug, Clone)]
pub struct Checked {
    pub name: String,
    pub rows: u64,
    pub sha256: String,
    pub restored_rows: u64,
    pub restored_sha256: String,
}

/// What [`restore_archive`] did (or, with `dry_run`, would do).
#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub manifest: Manifest,
    pub target: String,
    /// The target held data that was replaced (or would be).
    pub replaces: Option<String>,
    pub dry_run: bool,
    pub tables: Vec<Checked>,
    pub files_written: usize,
    pub migrations_applied: Vec<String>,
    pub seconds: f64,
}

/// Tables a new installation fills by itself; rows there do not make a
/// database "hold data".
const SELF_FILLED: &[&str] = &["settings", "roles"];

#[derive(QueryableByName)]
struct OneInt {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

#[derive(QueryableByName)]
struct OneText {
    #[diesel(sql_type = Text)]
    v: String,
}

#[derive(QueryableByName)]
struct Saved {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    def: String,
}

/// "3 users, 1200 customers" when the database holds data.
fn holds_data(conn: &mut DbConn) -> Result<Option<String>, BackupError> {
    let mut parts = Vec::new();
    for t in catalog::tables(conn)? {
        if SELF_FILLED.contains(&t.name.as_str()) {
            continue;
        }
        let n: OneInt = diesel::sql_query(format!("SELECT COUNT(*) AS v FROM {}", ident(&t.name)))
            .get_result(conn)?;
        if n.v > 0 {
            parts.push((n.v, t.name));
        }
    }
    parts.sort_by(|a, b| b.cmp(a));
    let shown: Vec<String> = parts
        .iter()
        .take(3)
        .map(|(n, t)| format!("{n} {t}"))
        .collect();
    Ok((!parts.is_empty()).then(|| {
        let more = parts.len().saturating_sub(3);
        if more > 0 {
            format!("{} and {more} more tables", shown.join(", "))
        } else {
            shown.join(", ")
        }
    }))
}

/// Refuses a schema newer than this binary as soon as the header is read.
struct SchemaCheck;
impl Visitor for SchemaCheck {
    fn header(&mut self, h: &Header) -> Result<(), BackupError> {
        super::check_schema_supported(h)
    }
}

pub(super) fn open_archive(path: &Path) -> Result<std::io::BufReader<File>, BackupError> {
    let f = File::open(path)
        .map_err(|e| BackupError::Usage(format!("cannot open {}: {e}", path.display())))?;
    Ok(std::io::BufReader::with_capacity(1 << 20, f))
}

/// Restore `archive` into `target`, attachment files into `data_dir`.
pub fn restore_archive(
    archive: &Path,
    target: &DbUrl,
    data_dir: &Path,
    opts: &RestoreOptions,
) -> Result<RestoreReport, BackupError> {
    let started = Instant::now();
    let header = super::read_header(archive, opts.passphrase.as_ref())?;
    super::check_schema_supported(&header)?;
    if header.sqlite_snapshot && matches!(target, DbUrl::Postgres(_)) {
        return Err(BackupError::Usage(format!(
            "{} is a SQLite snapshot (backup create --sqlite-snapshot), which restores into SQLite only; to move to PostgreSQL, restore it into SQLite and make a portable archive (backup create without --sqlite-snapshot)",
            archive.display()
        )));
    }
    // A snapshot is verified in the same pass that writes its database file
    // beside the target (nothing is swapped in before every checksum has
    // matched); a portable archive is verified whole before a row is loaded.
    let manifest = if header.sqlite_snapshot && !opts.dry_run {
        Manifest {
            header,
            sums: Vec::new(),
            attachments: Vec::new(),
            database: None,
            content_hash: String::new(),
        }
    } else {
        super::read_archive(
            open_archive(archive)?,
            opts.passphrase.as_ref(),
            &mut SchemaCheck,
        )?
    };
    let replaces = match target {
        DbUrl::Sqlite(path) if !path.exists() => None,
        _ => {
            let mut conn = db::ConnectionManager::new(target.clone()).open()?;
            holds_data(&mut conn)?
        }
    };
    if let Some(what) = &replaces
        && !opts.force
    {
        return Err(BackupError::Usage(format!(
            "the target database {} already holds data ({what}); pass --force to replace it (the old data stays until the restored copy is complete and checked)",
            target.describe()
        )));
    }
    let mut report = RestoreReport {
        manifest,
        target: target.describe(),
        replaces,
        dry_run: opts.dry_run,
        tables: Vec::new(),
        files_written: 0,
        migrations_applied: Vec::new(),
        seconds: 0.0,
    };
    if opts.dry_run {
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    match target {
        DbUrl::Sqlite(path) => restore_sqlite(archive, path, data_dir, opts, &mut report)?,
        DbUrl::Postgres(_) => restore_pg(archive, target, data_dir, opts, &mut report)?,
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Loads rows into the new database and files into the data dir.
struct Loader<'a> {
    conn: &'a mut DbConn,
    targets: HashMap<String, Table>,
    plans: HashMap<String, Plan>,
    files: FileWriter,
}

/// Writes an archive's attachment files into the data directory, each
/// under a temporary name until its hash has matched.
pub(super) struct FileWriter {
    data_dir: PathBuf,
    tmp: Option<(PathBuf, PathBuf)>,
    written: usize,
}

impl FileWriter {
    pub(super) fn new(data_dir: &Path) -> Result<Self, BackupError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| BackupError::Io(format!("cannot create {}: {e}", data_dir.display())))?;
        Ok(FileWriter {
            data_dir: data_dir.to_path_buf(),
            tmp: None,
            written: 0,
        })
    }

    /// Files written that were not there before.
    pub(super) fn written(&self) -> usize {
        self.written
    }

    /// Where to copy the file `sha`; `None` when it is already there.
    pub(super) fn start(&mut self, sha: &str) -> Result<Option<Sink>, BackupError> {
        let path = crate::core::attachments::file_path(&self.data_dir, sha);
        if path.is_file() {
            return Ok(None);
        }
        let parent = path.parent().unwrap_or(&self.data_dir).to_path_buf();
        std::fs::create_dir_all(&parent)
            .map_err(|e| BackupError::Io(format!("cannot create {}: {e}", parent.display())))?;
        let tmp = parent.join(format!(".{sha}.restore.{}", std::process::id()));
        let f = File::create(&tmp)
            .map_err(|e| BackupError::Io(format!("cannot create {}: {e}", tmp.display())))?;
        self.tmp = Some((tmp, path));
        Ok(Some(Box::new(std::io::BufWriter::new(f))))
    }

    /// The file begun by `start` is complete and its hash matched.
    pub(super) fn done(&mut self) -> Result<(), BackupError> {
        if let Some((tmp, path)) = self.tmp.take() {
            std::fs::rename(&tmp, &path)
                .map_err(|e| BackupError::Io(format!("{}: {e}", path.display())))?;
            self.written += 1;
        }
        Ok(())
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if let Some((tmp, _)) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// How one archive table's rows are loaded.
enum Plan {
    /// SQLite: a chunk's rows arrive as one JSON array of row arrays,
    /// bound as a single parameter of this statement.
    Insert(String),
    /// PostgreSQL: `COPY … FROM STDIN`.
    Copy(CopyPlan),
}

fn plan(conn: &DbConn, archived: &Table, target: &Table) -> Result<Plan, BackupError> {
    let mut targets = Vec::with_capacity(archived.columns.len());
    for c in &archived.columns {
        let Some(t) = target.column(&c.name) else {
            return Err(BackupError::Schema(format!(
                "the archive's table {} has a column {} that this schema does not have",
                archived.name, c.name
            )));
        };
        targets.push(t);
    }
    if matches!(conn, DbConn::Pg(_)) {
        return Ok(Plan::Copy(CopyPlan::new(archived, target)));
    }
    let cols: Vec<String> = archived.columns.iter().map(|c| ident(&c.name)).collect();
    let exprs: Vec<String> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| match t.ty {
            ColType::Bytes => format!("unhex(json_extract(value, '$[{i}]'))"),
            _ => format!("json_extract(value, '$[{i}]')"),
        })
        .collect();
    Ok(Plan::Insert(format!(
        "INSERT INTO {} ({}) SELECT {} FROM json_each(?)",
        ident(&archived.name),
        cols.join(", "),
        exprs.join(", ")
    )))
}

impl Visitor for Loader<'_> {
    fn header(&mut self, h: &Header) -> Result<(), BackupError> {
        for t in &h.tables {
            let Some(target) = self.targets.get(&t.name) else {
                return Err(BackupError::Schema(format!(
                    "the archive has a table {} that this schema does not have",
                    t.name
                )));
            };
            let plan = plan(self.conn, t, target)?;
            self.plans.insert(t.name.clone(), plan);
        }
        Ok(())
    }

    fn rows(&mut self, table: &Table, lines: &[u8]) -> Result<(), BackupError> {
        const BATCH_BYTES: usize = 1 << 20;
        let plan = match (self.plans.get(&table.name), &mut *self.conn) {
            (Some(Plan::Insert(sql)), _) => sql,
            (Some(Plan::Copy(copy)), DbConn::Pg(pg)) => return copy.load(pg, &table.name, lines),
            _ => {
                return Err(BackupError::Corrupt(format!(
                    "rows of unknown table {}",
                    table.name
                )));
            }
        };
        let mut payload = Vec::with_capacity(BATCH_BYTES + 64 * 1024);
        let conn = &mut *self.conn;
        conn.transaction(|conn| {
            let flush = |payload: &mut Vec<u8>, conn: &mut DbConn| -> Result<(), BackupError> {
                if payload.is_empty() {
                    return Ok(());
                }
                payload.push(b']');
                let text = String::from_utf8(std::mem::take(payload)).map_err(|_| {
                    BackupError::Corrupt(format!("table {}: rows are not UTF-8", table.name))
                })?;
                diesel::sql_query(plan.as_str())
                    .bind::<Text, _>(text)
                    .execute(conn)
                    .map_err(|e| {
                        BackupError::Database(format!("restoring table {}: {e}", table.name))
                    })?;
                Ok(())
            };
            for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                payload.push(if payload.is_empty() { b'[' } else { b',' });
                payload.extend_from_slice(line);
                if payload.len() >= BATCH_BYTES {
                    flush(&mut payload, conn)?;
                }
            }
            flush(&mut payload, conn)
        })
    }

    fn file_start(&mut self, sha: &str) -> Result<Option<Sink>, BackupError> {
        self.files.start(sha)
    }

    fn file_done(&mut self, _sha: &str) -> Result<(), BackupError> {
        self.files.done()
    }
}

/// Load the archive's rows and files through a [`Loader`].
fn load(
    archive: &Path,
    conn: &mut DbConn,
    data_dir: &Path,
    opts: &RestoreOptions,
) -> Result<(Manifest, usize), BackupError> {
    let files = FileWriter::new(data_dir)?;
    let targets = catalog::tables(conn)?
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let mut loader = Loader {
        conn,
        targets,
        plans: HashMap::new(),
        files,
    };
    let m = super::read_archive(
        open_archive(archive)?,
        opts.passphrase.as_ref(),
        &mut loader,
    )?;
    Ok((m, loader.files.written()))
}

/// Read the restored tables back (archive columns only) and compare.
fn compare(conn: &mut DbConn, m: &Manifest) -> Result<Vec<Checked>, BackupError> {
    conn.transaction(|conn| compare_in_tx(conn, m))
}

fn compare_in_tx(conn: &mut DbConn, m: &Manifest) -> Result<Vec<Checked>, BackupError> {
    let targets: HashMap<String, Table> = catalog::tables(conn)?
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let mut out = Vec::new();
    for (archived, sum) in m.header.tables.iter().zip(&m.sums) {
        let Some(target) = targets.get(&archived.name) else {
            return Err(BackupError::Database(format!(
                "table {} vanished",
                archived.name
            )));
        };
        let mut t = target.clone();
        t.columns = archived
            .columns
            .iter()
            .filter_map(|c| target.column(&c.name).cloned())
            .collect();
        let mut h = Sha256::new();
        let rows = super::dump_table(conn, &t, &mut |line| {
            h.update(line);
            Ok(())
        })?;
        out.push(Checked {
            name: sum.name.clone(),
            rows: sum.rows,
            sha256: sum.sha256.clone(),
            restored_rows: rows,
            restored_sha256: h.finish(),
        });
    }
    if let Some(bad) = out
        .iter()
        .find(|c| c.rows != c.restored_rows || c.sha256 != c.restored_sha256)
    {
        return Err(BackupError::Database(format!(
            "table {} restored as {} rows (checksum {}) but the archive holds {} rows (checksum {}); the old database was left as it was",
            bad.name, bad.restored_rows, bad.restored_sha256, bad.rows, bad.sha256
        )));
    }
    Ok(out)
}

fn sums_by_name(m: &Manifest) -> HashMap<&str, &TableSum> {
    m.sums.iter().map(|s| (s.name.as_str(), s)).collect()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn remove_sqlite_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(with_suffix(path, suffix));
    }
}

fn restore_sqlite(
    archive: &Path,
    path: &Path,
    data_dir: &Path,
    opts: &RestoreOptions,
    report: &mut RestoreReport,
) -> Result<(), BackupError> {
    let staging = with_suffix(path, ".restoring");
    remove_sqlite_files(&staging);
    let result = if report.manifest.header.sqlite_snapshot {
        super::snapshot::build_sqlite(archive, &staging, data_dir, opts, report)
    } else {
        build_sqlite(archive, &staging, data_dir, opts, report)
    };
    if result.is_err() {
        remove_sqlite_files(&staging);
        return result;
    }
    // The old file's write-ahead log goes into the file before it is
    // replaced, so no stale log can ever be applied to the new one.
    if path.exists() {
        let mut old = db::ConnectionManager::new(DbUrl::Sqlite(path.to_path_buf())).open()?;
        #[derive(QueryableByName)]
        struct Checkpoint {
            #[diesel(sql_type = BigInt)]
            busy: i64,
        }
        let DbConn::Sqlite(c) = &mut old else {
            unreachable!("a SQLite URL opens SQLite")
        };
        let cp: Checkpoint = diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result(c)?;
        if cp.busy != 0 {
            remove_sqlite_files(&staging);
            return Err(BackupError::Usage(format!(
                "{} is in use (is the server running?); stop it before restoring over its database",
                path.display()
            )));
        }
        drop(old);
    }
    std::fs::rename(&staging, path)
        .map_err(|e| BackupError::Io(format!("replacing {}: {e}", path.display())))?;
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(with_suffix(path, suffix));
    }
    super::sync_dir(path);
    Ok(())
}

fn build_sqlite(
    archive: &Path,
    staging: &Path,
    data_dir: &Path,
    opts: &RestoreOptions,
    report: &mut RestoreReport,
) -> Result<(), BackupError> {
    let m = &report.manifest;
    if let Some(dir) = staging.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| BackupError::Io(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut conn = db::ConnectionManager::new(DbUrl::Sqlite(staging.to_path_buf())).open()?;
    migrations::run_up_to(&mut conn, &m.header.schema_version_digits)?;
    // Memory stays flat for any size: the page cache is capped and the
    // index builds' sorters, which may hold as much as the cache before they
    // spill, spill to temporary files rather than to memory.
    conn.batch_execute(
        "PRAGMA foreign_keys = OFF; PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
         PRAGMA cache_size = -65536; PRAGMA temp_store = FILE;",
    )?;
    // Indexes and triggers (the FTS5 ones) come back after the load.
    let saved: Vec<Saved> = diesel::sql_query(
        "SELECT type AS kind, name, tbl_name AS tbl, sql AS def FROM sqlite_master \
         WHERE type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name",
    )
    .load(&mut conn)?;
    for s in &saved {
        let what = if s.kind == "index" {
            "INDEX"
        } else {
            "TRIGGER"
        };
        conn.batch_execute(&format!("DROP {what} {}", ident(&s.name)))?;
    }
    let (loaded, files) = load(archive, &mut conn, data_dir, opts)?;
    if loaded.content_hash != m.content_hash {
        return Err(BackupError::Corrupt(
            "the archive changed while it was being restored".into(),
        ));
    }
    report.files_written = files;
    db::bulk::index_builds(&mut conn, |conn| -> QueryResult<()> {
        for s in saved.iter().filter(|s| s.kind == "index") {
            conn.batch_execute(&s.def)?;
        }
        Ok(())
    })?;
    for s in saved.iter().filter(|s| s.kind == "trigger") {
        conn.batch_execute(&s.def)?;
    }
    let fts: Vec<OneText> = diesel::sql_query(
        "SELECT name AS v FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%' AND lower(sql) LIKE '%using fts5%'",
    )
    .load(&mut conn)?;
    for OneText { v } in fts {
        crate::core::db::bulk::rebuild_search(&mut conn, &ident(&v))?;
    }
    let sums = sums_by_name(m);
    for t in m.header.tables.iter().filter(|t| t.serial.is_some()) {
        let Some(s) = sums.get(t.name.as_str()).filter(|s| s.next_id_after > 0) else {
            continue;
        };
        let has_seq: Vec<OneText> =
            diesel::sql_query("SELECT name AS v FROM sqlite_master WHERE name = 'sqlite_sequence'")
                .load(&mut conn)?;
        let autoincrement: Vec<OneText> = diesel::sql_query(
            "SELECT name AS v FROM sqlite_master WHERE type = 'table' AND name = ? AND upper(sql) LIKE '%AUTOINCREMENT%'",
        )
        .bind::<Text, _>(&t.name)
        .load(&mut conn)?;
        if has_seq.is_empty() || autoincrement.is_empty() {
            continue;
        }
        diesel::sql_query("DELETE FROM sqlite_sequence WHERE name = ?")
            .bind::<Text, _>(&t.name)
            .execute(&mut conn)?;
        diesel::sql_query("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)")
            .bind::<Text, _>(&t.name)
            .bind::<BigInt, _>(s.next_id_after)
            .execute(&mut conn)?;
    }
    #[derive(QueryableByName)]
    struct FkViolation {
        #[diesel(sql_type = Text)]
        table: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
        rowid: Option<i64>,
        #[diesel(sql_type = Text)]
        parent: String,
    }
    let bad: Vec<FkViolation> =
        diesel::sql_query("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check LIMIT 5")
            .load(&mut conn)?;
    if let Some(v) = bad.first() {
        return Err(BackupError::Database(format!(
            "the restored rows break a foreign key: {} row {} refers to a missing {} row",
            v.table,
            v.rowid.map_or("?".into(), |r| r.to_string()),
            v.parent
        )));
    }
    report.tables = compare(&mut conn, m)?;
    conn.batch_execute("PRAGMA foreign_keys = ON;")?;
    report.migrations_applied = finish_sqlite(conn, staging, "ANALYZE;")?;
    Ok(())
}

/// The end of building a staged SQLite file (from rows or from pages):
/// newer migrations, with the rollback journal while they run, then `last`
/// (SQL), WAL mode back, the file closed and synced; the migrations applied.
pub(super) fn finish_sqlite(
    mut conn: DbConn,
    staging: &Path,
    last: &str,
) -> Result<Vec<String>, BackupError> {
    conn.batch_execute("PRAGMA journal_mode = DELETE;")?;
    let applied = migrations::run_pending(&mut conn)?;
    conn.batch_execute(&format!("{last} PRAGMA journal_mode = WAL;"))?;
    drop(conn);
    File::open(staging)
        .and_then(|f| f.sync_all())
        .map_err(|e| BackupError::Io(format!("{}: {e}", staging.display())))?;
    Ok(applied)
}

const STAGING_SCHEMA: &str = "rapport_restore";
const REPLACED_SCHEMA: &str = "rapport_replaced";

fn restore_pg(
    archive: &Path,
    target: &DbUrl,
    data_dir: &Path,
    opts: &RestoreOptions,
    report: &mut RestoreReport,
) -> Result<(), BackupError> {
    let mut conn = db::open_single(target)?;
    let others: OneInt = diesel::sql_query(
        "SELECT COUNT(*) AS v FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
    )
    .get_result(&mut conn)?;
    if others.v > 0 && report.replaces.is_some() {
        return Err(BackupError::Usage(format!(
            "{} other session(s) are connected to {}; stop the Rapport server (and other clients) before restoring over its database",
            others.v,
            target.describe()
        )));
    }
    #[derive(QueryableByName)]
    struct MaybeText {
        #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
        v: Option<String>,
    }
    let live: MaybeText =
        diesel::sql_query("SELECT current_schema()::text AS v").get_result(&mut conn)?;
    let live = live.v.unwrap_or_else(|| "public".into());
    // One transaction from the new schema to the swap: a restore that fails
    // or is killed anywhere leaves no trace, and the swap is all or nothing.
    conn.transaction(|conn| -> Result<(), BackupError> {
        conn.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {STAGING_SCHEMA} CASCADE; CREATE SCHEMA {STAGING_SCHEMA}; \
             SET search_path TO {STAGING_SCHEMA}, {}; SET TIME ZONE 'UTC'; SET DateStyle = ISO;",
            ident(&live)
        ))?;
        build_pg(archive, conn, data_dir, opts, report)?;
        let exists: OneInt = diesel::sql_query(
            "SELECT COUNT(*) AS v FROM pg_namespace WHERE nspname = $1",
        )
        .bind::<Text, _>(&live)
        .get_result(conn)?;
        let live_q = ident(&live);
        conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {REPLACED_SCHEMA} CASCADE"))?;
        if exists.v > 0 {
            let owner: OneText = diesel::sql_query(
                "SELECT nspowner::regrole::text AS v FROM pg_namespace WHERE nspname = $1",
            )
            .bind::<Text, _>(&live)
            .get_result(conn)?;
            let public_usage: OneInt = diesel::sql_query(
                "SELECT CASE WHEN has_schema_privilege('public', $1, 'USAGE') THEN 1 ELSE 0 END::bigint AS v",
            )
            .bind::<Text, _>(&live)
            .get_result(conn)?;
            conn.batch_execute(&format!(
                "ALTER SCHEMA {live_q} RENAME TO {REPLACED_SCHEMA}; \
                 ALTER SCHEMA {STAGING_SCHEMA} RENAME TO {live_q}; \
                 ALTER SCHEMA {live_q} OWNER TO {};",
                owner.v
            ))?;
            if public_usage.v == 1 {
                conn.batch_execute(&format!("GRANT USAGE ON SCHEMA {live_q} TO PUBLIC"))?;
            }
        } else {
            conn.batch_execute(&format!("ALTER SCHEMA {STAGING_SCHEMA} RENAME TO {live_q}"))?;
        }
        // Extensions (pg_trgm) living in the replaced schema move over
        // before it is dropped, with everything that depends on them.
        let exts: Vec<OneText> = diesel::sql_query(
            "SELECT e.extname::text AS v FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE n.nspname = $1",
        )
        .bind::<Text, _>(REPLACED_SCHEMA)
        .load(conn)?;
        for OneText { v } in exts {
            conn.batch_execute(&format!("ALTER EXTENSION {} SET SCHEMA {live_q}", ident(&v)))?;
        }
        conn.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {REPLACED_SCHEMA} CASCADE; SET search_path TO {live_q}"
        ))?;
        Ok(())
    })?;
    Ok(())
}

fn build_pg(
    archive: &Path,
    conn: &mut DbConn,
    data_dir: &Path,
    opts: &RestoreOptions,
    report: &mut RestoreReport,
) -> Result<(), BackupError> {
    let m = report.manifest.clone();
    migrations::run_up_to(conn, &m.header.schema_version_digits)?;
    // Foreign keys and secondary indexes come back after the load: faster,
    // and re-adding a foreign key checks every row.
    let saved: Vec<Saved> = diesel::sql_query(format!(
        "SELECT 'fk' AS kind, c.conname::text AS name, c.conrelid::regclass::text AS tbl, pg_get_constraintdef(c.oid) AS def \
         FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = '{STAGING_SCHEMA}'::regnamespace \
         UNION ALL \
         SELECT 'index', ci.relname::text, i.indrelid::regclass::text, pg_get_indexdef(i.indexrelid) \
         FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid \
         WHERE ci.relnamespace = '{STAGING_SCHEMA}'::regnamespace \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) \
         ORDER BY 1, 2"
    ))
    .load(conn)?;
    for s in &saved {
        if s.kind == "fk" {
            conn.batch_execute(&format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                s.tbl,
                ident(&s.name)
            ))?;
        } else {
            conn.batch_execute(&format!("DROP INDEX {STAGING_SCHEMA}.{}", ident(&s.name)))?;
        }
    }
    // Triggers that keep derived tables (the board's opportunity_sums) stay
    // off during the load: those tables are restored as they were.
    let tables = catalog::tables(conn)?;
    for t in &tables {
        conn.batch_execute(&format!(
            "ALTER TABLE {} DISABLE TRIGGER USER",
            ident(&t.name)
        ))?;
    }
    let (loaded, files) = load(archive, conn, data_dir, opts)?;
    if loaded.content_hash != m.content_hash {
        return Err(BackupError::Corrupt(
            "the archive changed while it was being restored".into(),
        ));
    }
    for t in &tables {
        conn.batch_execute(&format!(
            "ALTER TABLE {} ENABLE TRIGGER USER",
            ident(&t.name)
        ))?;
    }
    report.files_written = files;
    for s in saved.iter().filter(|s| s.kind == "index") {
        conn.batch_execute(&s.def)?;
    }
    for s in saved.iter().filter(|s| s.kind == "fk") {
        conn.batch_execute(&format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {}",
            s.tbl,
            ident(&s.name),
            s.def
        ))
        .map_err(|e| {
            BackupError::Database(format!(
                "the restored rows break the foreign key {} of {}: {e}",
                s.name, s.tbl
            ))
        })?;
    }
    let sums = sums_by_name(&m);
    for t in catalog::tables(conn)? {
        let (Some(serial), Some(seq)) = (&t.serial, &t.sequence) else {
            continue;
        };
        let after = sums.get(t.name.as_str()).map_or(0, |s| s.next_id_after);
        diesel::sql_query(format!(
            "SELECT setval($1, GREATEST($2, (SELECT COALESCE(MAX({}), 0) FROM {}), 1), \
             GREATEST($2, (SELECT COALESCE(MAX({}), 0) FROM {})) > 0) AS v",
            ident(serial),
            ident(&t.name),
            ident(serial),
            ident(&t.name)
        ))
        .bind::<Text, _>(seq)
        .bind::<BigInt, _>(after)
        .execute(conn)?;
    }
    report.tables = compare(conn, &m)?;
    report.migrations_applied = migrations::run_pending(conn)?;
    for t in catalog::tables(conn)? {
        conn.batch_execute(&format!("ANALYZE {}", ident(&t.name)))?;
    }
    Ok(())
}
