//! Bulk loading: drop a table's secondary indexes, load, then recreate them
//! from their own saved definitions (one sorted build is far cheaper than a
//! million random index updates). Used for demo data and large imports into
//! a table nobody else is writing to.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::DbConn;
use crate::core::sql::Sql;

#[derive(QueryableByName)]
struct IndexDef {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    def: String,
}

/// The secondary index definitions of `table`, as the database stores them.
fn secondary_indexes(conn: &mut DbConn, table: &str) -> QueryResult<Vec<IndexDef>> {
    let mut sql = Sql::new(conn.backend());
    match conn.backend() {
        super::Backend::Sqlite => sql
            .push("SELECT name, sql AS def FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = ")
            .text(table),
        super::Backend::Postgres => sql
            .push("SELECT i.indexname AS name, i.indexdef AS def FROM pg_indexes i WHERE i.schemaname = current_schema() AND i.tablename = ")
            .text(table)
            .push(" AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = ")
            .text(table)
            .push("::regclass)"),
    };
    sql.load(conn)
}

/// Run `load` with the secondary indexes of `table` dropped, then rebuild
/// them; the indexes come back even if `load` fails.
pub fn without_indexes<T, E>(
    conn: &mut DbConn,
    table: &str,
    load: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    without_indexes_timed(conn, table, load).map(|(t, _)| t)
}

/// [`without_indexes`], also telling how long the rebuild took.
pub fn without_indexes_timed<T, E>(
    conn: &mut DbConn,
    table: &str,
    load: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<(T, std::time::Duration), E>
where
    E: From<diesel::result::Error>,
{
    let defs = secondary_indexes(conn, table)?;
    for d in &defs {
        diesel::sql_query(format!("DROP INDEX {}", d.name)).execute(conn)?;
    }
    let result = load(conn);
    let started = std::time::Instant::now();
    index_builds(conn, |conn| -> QueryResult<()> {
        for d in &defs {
            diesel::sql_query(d.def.clone()).execute(conn)?;
        }
        Ok(())
    })?;
    result.map(|t| (t, started.elapsed()))
}

#[derive(QueryableByName)]
struct PragmaValue {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    v: i64,
}

/// Run `f` with the SQLite connection's integer pragmas `set` (name, value)
/// changed, then put their values back (also when `f` fails). PostgreSQL:
/// `f` runs as it is. Only outside a transaction: changing `temp_store`
/// drops the connection's temporary tables.
pub fn with_pragmas<T, E>(
    conn: &mut DbConn,
    set: &[(&str, i64)],
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::SimpleConnection;
    let DbConn::Sqlite(c) = conn else {
        return f(conn);
    };
    let mut before = Vec::with_capacity(set.len());
    for (name, _) in set {
        let v: PragmaValue =
            diesel::sql_query(format!("SELECT {name} AS v FROM pragma_{name}")).get_result(c)?;
        before.push((*name, v.v));
    }
    let pragmas = |list: &[(&str, i64)]| -> String {
        list.iter()
            .map(|(name, v)| format!("PRAGMA {name} = {v};"))
            .collect()
    };
    c.batch_execute(&pragmas(set))?;
    let result = f(conn);
    if let DbConn::Sqlite(c) = conn {
        c.batch_execute(&pragmas(&before))?;
    }
    result
}

/// Run `build` (a run of `CREATE INDEX`) with SQLite's sorter set up for
/// it, then put the connection's settings back (also when `build` fails):
/// a 4 MiB page cache, which is also the size of the sorted runs the sorter
/// writes to temporary files, and one helper thread per core (up to 4) that
/// sorts those runs in parallel. At 1,000,000 rows this halves an index
/// build against one large in-memory sort (3.2 s → 1.5 s for a three-column
/// index of 2,000,000 follow-ups); runs of 4 MiB (which fit the CPU's
/// caches) build a fifth faster again than runs of 16 MiB (two follow-up
/// indexes on the 1M demo: 4.0 s → 3.2–3.5 s; 64 MiB: 5.3 s). The runs only go to worker threads when
/// temporary files are files (`temp_store` other than `MEMORY`), the
/// default. PostgreSQL: `build` runs as it is.
pub fn index_builds<T, E>(
    conn: &mut DbConn,
    build: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    with_pragmas(
        conn,
        &[("cache_size", -4096), ("threads", threads as i64)],
        build,
    )
}

/// Run `load` (many inserts into a big table, e.g. an import's chunks) with
/// a 64 MiB page cache, so the pages of the indexes it updates stay in
/// memory instead of being spilled and read back, and the statement journal
/// in memory (`temp_store = MEMORY`): a statement that may fail halfway
/// inside a transaction (a multi-row insert, an update through triggers)
/// keeps the original of each page it changes, and on a file that was a
/// quarter of an import's insert time.
/// Settings put back afterwards; PostgreSQL: `load` runs as it is.
pub fn big_writes<T, E>(
    conn: &mut DbConn,
    load: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    with_pragmas(conn, &[("cache_size", -65536), ("temp_store", 2)], load)
}

/// Run `load` on a SQLite database that nobody else has open with the
/// rollback journal in memory and without fsync, then put WAL and
/// `synchronous = NORMAL` back (also when `load` fails). Each page is then
/// written once instead of to the WAL and again at the checkpoint. A crash
/// during `load` can leave a damaged file, so this is only for filling a new
/// database (`rapport demo` without `--force`), never one that holds data.
/// PostgreSQL: `load` runs as it is.
pub fn unjournaled<T, E>(
    conn: &mut DbConn,
    load: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::SimpleConnection;
    if let DbConn::Sqlite(c) = conn {
        c.batch_execute("PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;")?;
    } else {
        return load(conn);
    }
    let result = load(conn);
    if let DbConn::Sqlite(c) = conn {
        c.batch_execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    }
    result
}

/// Rebuild the FTS5 table `fts` (an SQL identifier) from its content
/// table, then merge it into one segment (`optimize`). A rebuild leaves
/// several large segments on the lowest levels, and FTS5 merges a level
/// whole once single-row writes have added 16 segments to it: without the
/// optimize, the first interactive writes after a rebuild stalled for
/// seconds (on 1M customers the 13th write, then about the 250th and the
/// 4,000th). The optimized segment sits above every other level, so later
/// writes merge among themselves; one segment also keeps searches fast.
/// Costs about a fifth of the rebuild (1M customers: 3.6 s after 21 s).
pub fn rebuild_search(
    c: &mut impl diesel::connection::SimpleConnection,
    fts: &str,
) -> diesel::QueryResult<()> {
    c.batch_execute(&format!(
        "INSERT INTO {fts} ({fts}) VALUES ('rebuild');
         INSERT INTO {fts} ({fts}) VALUES ('optimize');"
    ))
}

/// One FTS5 table of a SQLite database and where it takes its text from:
/// column `column` of table `content`, rowid `id` (the project's convention).
pub struct SearchBuild {
    pub fts: String,
    pub content: String,
    pub column: String,
}

/// The tables with a search index (migrations): each has two FTS5 tables,
/// `fts_{table}_tri` (trigrams of `search_text`) and `fts_{table}_cjk`
/// (one token per CJK character, of `search_cjk`).
pub const SEARCH_TABLES: [&str; 7] = [
    "customers",
    "contacts",
    "leads",
    "followups",
    "tasks",
    "products",
    "opportunities",
];

impl SearchBuild {
    /// The two search indexes of `table` (one of [`SEARCH_TABLES`]).
    pub fn of(table: &str) -> [SearchBuild; 2] {
        [("tri", "search_text"), ("cjk", "search_cjk")].map(|(kind, column)| SearchBuild {
            fts: format!("fts_{table}_{kind}"),
            content: table.to_string(),
            column: column.to_string(),
        })
    }
}

#[derive(QueryableByName)]
struct Def {
    #[diesel(sql_type = Text)]
    def: String,
}

#[derive(QueryableByName)]
struct MaxId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

pub fn quoted(path: &std::path::Path) -> String {
    path.display().to_string().replace('\'', "''")
}

/// The SQL text `ATTACH DATABASE … AS {schema}` of `path` opened read only
/// (a URI: `%`, `?` and `#` in the path are escaped, `'` quoted).
fn attach_read_only(path: &std::path::Path, schema: &str) -> String {
    let uri = quoted(path)
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    format!("ATTACH DATABASE 'file:{uri}?mode=ro' AS {schema};")
}

/// A scratch database beside `path` for a search index build named `tag`.
pub fn scratch_path(path: &std::path::Path, tag: impl std::fmt::Display) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".search-{tag}"));
    std::path::PathBuf::from(name)
}

/// A connection to the SQLite file `p` that waits up to 5 s for another
/// connection's lock (a scratch file is briefly read by the connection
/// that attaches it) instead of failing at once.
fn open_file(p: &std::path::Path) -> Result<diesel::SqliteConnection, String> {
    use diesel::connection::SimpleConnection;
    let mut c = diesel::SqliteConnection::establish(&p.display().to_string())
        .map_err(|e| format!("{}: {e}", p.display()))?;
    c.batch_execute("PRAGMA busy_timeout = 5000;")
        .map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(c)
}

/// Build search index `b` of the SQLite database `src` (opened read only,
/// so it reads what was committed when it starts) into the new database
/// `file` (absent or empty), as [`rebuild_search`] builds it: rows in rowid
/// order with FTS5's own buffer, then `optimize`.
pub fn build_scratch(
    src: &std::path::Path,
    file: &std::path::Path,
    b: &SearchBuild,
) -> Result<(), String> {
    use diesel::connection::SimpleConnection;
    let mut c = open_scratch(src, file, std::slice::from_ref(b))?;
    c.batch_execute(&format!(
        "BEGIN;
         INSERT INTO {fts} (rowid, {col}) SELECT id, {col} FROM src.{content} ORDER BY id;
         COMMIT;
         INSERT INTO {fts} ({fts}) VALUES ('optimize');
         DETACH DATABASE src;",
        fts = b.fts,
        col = b.column,
        content = b.content,
    ))
    .map_err(|e| format!("search index {}: {e}", b.fts))
}

/// Open (or create) the scratch database `file` for building the search
/// indexes `builds` of the SQLite database `src`: no journal, no fsync, a
/// 64 MiB page cache, `src` attached read only as `src`, and each FTS5
/// table created empty as `src` defines it.
fn open_scratch(
    src: &std::path::Path,
    file: &std::path::Path,
    builds: &[SearchBuild],
) -> Result<diesel::SqliteConnection, String> {
    use diesel::connection::SimpleConnection;
    let mut c = open_file(file)?;
    let fail = |e: diesel::result::Error| format!("search index in {}: {e}", file.display());
    c.batch_execute(&format!(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -65536;
         {}",
        attach_read_only(src, "src")
    ))
    .map_err(fail)?;
    for b in builds {
        let def: Def = diesel::sql_query(
            "SELECT sql AS def FROM src.sqlite_master WHERE type = 'table' AND name = ?",
        )
        .bind::<Text, _>(&b.fts)
        .get_result(&mut c)
        .map_err(|e| format!("search index {}: {e}", b.fts))?;
        c.batch_execute(&def.def)
            .map_err(|e| format!("search index {}: {e}", b.fts))?;
    }
    Ok(c)
}

/// The SQL that replaces search index `b` of `main` by the one built in
/// the attached database `schema` (its shadow tables: `_data`, `_idx`,
/// `_docsize`; the index is nothing else).
pub fn copy_built_sql(schema: &str, b: &SearchBuild) -> String {
    ["data", "idx", "docsize"]
        .iter()
        .map(|shadow| {
            format!(
                "DELETE FROM main.{f}_{shadow}; INSERT INTO main.{f}_{shadow} SELECT * FROM {schema}.{f}_{shadow};",
                f = b.fts
            )
        })
        .collect()
}

/// Build the FTS5 tables `builds` of the SQLite database `path` at once, one
/// per core, each in a scratch database beside it, then copy their shadow
/// tables (`_data`, `_idx`, `_docsize`: the index is nothing else) into
/// `path`. A `rebuild` runs in the one writer's thread; this way the index
/// builds of a 1M demo share both cores and the copies are page appends.
/// Each is built as [`rebuild_search`] builds it: rows in rowid order with
/// FTS5's own buffer, then `optimize`.
///
/// Only for a database nobody else has open and whose search tables are
/// empty: a new demo database, loaded without journal (`unjournaled`); the
/// copies run the same way. The scratch files are removed in every case.
pub fn build_search_beside(path: &std::path::Path, builds: &[SearchBuild]) -> Result<(), String> {
    use diesel::connection::SimpleConnection;
    use std::sync::Mutex;
    let open = open_file;
    let scratch = |i: usize| scratch_path(path, i);
    // Largest first (taken from the end), so the last to finish is a small one.
    let mut order: Vec<(usize, i64)> = {
        let mut c = open(path)?;
        builds
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let n: MaxId = diesel::sql_query(format!(
                    "SELECT COALESCE(MAX(id), 0) AS n FROM {}",
                    b.content
                ))
                .get_result(&mut c)
                .map_err(|e| format!("{}: {e}", b.content))?;
                let weight = if b.fts.ends_with("_tri") { 3 } else { 1 };
                Ok((i, n.n * weight))
            })
            .collect::<Result<_, String>>()?
    };
    order.sort_by_key(|&(_, w)| w);
    let queue = Mutex::new(order.into_iter().map(|(i, _)| i).collect::<Vec<_>>());
    let build_one = |i: usize| {
        let _ = std::fs::remove_file(scratch(i));
        build_scratch(path, &scratch(i), &builds[i])
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, builds.len().max(1));
    let started = std::time::Instant::now();
    let built = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<(), String> {
                    loop {
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).pop();
                        match next {
                            Some(i) => build_one(i)?,
                            None => return Ok(()),
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a search index build panicked".into()))
            })
            .collect::<Result<Vec<()>, String>>()
    });
    let build_seconds = started.elapsed().as_secs_f64();
    let copied = built.and_then(|_| {
        let mut c = open(path)?;
        c.batch_execute("PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;")
            .map_err(|e| e.to_string())?;
        for (i, b) in builds.iter().enumerate() {
            let sql = format!(
                "ATTACH DATABASE '{}' AS built; BEGIN; {} COMMIT; DETACH DATABASE built;",
                quoted(&scratch(i)),
                copy_built_sql("built", b)
            );
            c.batch_execute(&sql)
                .map_err(|e| format!("search index {}: {e}", b.fts))?;
        }
        tracing::info!(
            indexes = builds.len(),
            build_seconds,
            copy_seconds = started.elapsed().as_secs_f64() - build_seconds,
            "search indexes built beside the database"
        );
        Ok(())
    });
    for i in 0..builds.len() {
        let _ = std::fs::remove_file(scratch(i));
    }
    copied
}

/// The two search indexes of a table, built in a scratch database beside
/// the SQLite database while a bulk load writes to the table: a thread of
/// its own indexes each committed row in id order as the load commits it,
/// on the core the load leaves idle, so that at the end only the last rows
/// and the `optimize` are left instead of the whole build.
///
/// It keeps a checksum of what it indexed (each row's id and text, read in
/// the same snapshot as the index took them), and [`SearchFollower::finish`]
/// compares it with the table as it is then: a row changed or deleted
/// meanwhile (by someone in the server, say) makes the build unusable, and
/// the caller builds the index from the table as before.
pub struct SearchFollower {
    finish: Option<std::sync::mpsc::Sender<()>>,
    /// Taken by [`SearchFollower::finish`].
    thread: Option<std::thread::JoinHandle<Result<bool, String>>>,
    file: std::path::PathBuf,
}

impl Drop for SearchFollower {
    /// Not finished (given up, or an error on the way): stop the thread
    /// (after the catch-up under way, if any) and remove its file.
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            drop(self.finish.take());
            let _ = thread.join();
            let _ = std::fs::remove_file(&self.file);
        }
    }
}

/// How many rows one catch-up takes at most (one transaction of the
/// scratch database: one new segment per index, merged as FTS5 goes).
const FOLLOW_ROWS: i64 = 50_000;

#[derive(QueryableByName)]
struct FollowedRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = Text)]
    b: String,
}

/// Rows and an order-free sum of their hashes, keyed by `keys` (random per
/// follower, so edits cannot be chosen to cancel out in the sum).
struct Checksum {
    keys: std::hash::RandomState,
    rows: u64,
    sum: u64,
}

impl Checksum {
    fn new(keys: &std::hash::RandomState) -> Checksum {
        Checksum {
            keys: keys.clone(),
            rows: 0,
            sum: 0,
        }
    }

    fn add(&mut self, r: &FollowedRow) {
        use std::hash::BuildHasher;
        self.rows += 1;
        self.sum = self
            .sum
            .wrapping_add(self.keys.hash_one((r.id, &r.a, &r.b)));
    }

    /// Read rows of `table` (attached as `src`) by the `where_` clause in
    /// id order, adding each; returns the highest id read.
    fn read(
        &mut self,
        c: &mut diesel::SqliteConnection,
        b: &[SearchBuild; 2],
        where_: &str,
    ) -> diesel::QueryResult<Option<i64>> {
        let sql = format!(
            "SELECT id, {} AS a, {} AS b FROM src.{} {where_} ORDER BY id",
            b[0].column, b[1].column, b[0].content
        );
        let mut high = None;
        for r in diesel::sql_query(sql)
            .load_iter::<FollowedRow, diesel::connection::DefaultLoadingMode>(c)?
        {
            let r = r?;
            self.add(&r);
            high = Some(r.id);
        }
        Ok(high)
    }
}

impl SearchFollower {
    /// Start following `table` of the SQLite database `src`, building its
    /// two search indexes into `file` (removed first if it exists).
    pub fn start(
        src: &std::path::Path,
        table: &str,
        file: std::path::PathBuf,
    ) -> Result<SearchFollower, String> {
        let _ = std::fs::remove_file(&file);
        let (finish, finished) = std::sync::mpsc::channel();
        let (src, path, b) = (src.to_path_buf(), file.clone(), SearchBuild::of(table));
        let thread = std::thread::Builder::new()
            .name("search-follower".into())
            .spawn(move || follow(&src, &path, &b, &finished))
            .map_err(|e| e.to_string())?;
        Ok(SearchFollower {
            finish: Some(finish),
            thread: Some(thread),
            file,
        })
    }

    /// The scratch database the indexes are built in.
    pub fn file(&self) -> &std::path::Path {
        &self.file
    }

    /// Index the rows committed since the last catch-up, merge each index
    /// into one segment and check the build against the table. Call it when
    /// nobody writes to the table any more (inside the transaction that
    /// holds the write lock). `Ok(true)`: the scratch indexes match the
    /// table exactly; `Ok(false)`: rows changed under the build.
    pub fn finish(mut self) -> Result<bool, String> {
        // A send fails only when the thread has already stopped (an
        // error), which the join reports.
        if let Some(finish) = self.finish.take() {
            let _ = finish.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err("the search index follower panicked".into())),
            None => Err("the search index follower has stopped".into()),
        }
    }
}

/// The follower's thread: see [`SearchFollower`].
fn follow(
    src: &std::path::Path,
    file: &std::path::Path,
    b: &[SearchBuild; 2],
    finished: &std::sync::mpsc::Receiver<()>,
) -> Result<bool, String> {
    use diesel::connection::SimpleConnection;
    use std::sync::mpsc::RecvTimeoutError;
    let mut c = open_scratch(src, file, b)?;
    let fail = |e: diesel::result::Error| format!("search index {}: {e}", b[0].content);
    let keys = std::hash::RandomState::new();
    let mut indexed = Checksum::new(&keys);
    let mut last = 0i64;
    // One transaction: the rows read for the checksum and the rows indexed
    // come from the same snapshot of `src`.
    let mut catch_up = |c: &mut diesel::SqliteConnection| -> diesel::QueryResult<i64> {
        c.transaction(|c| {
            let before = indexed.rows;
            let Some(high) = indexed.read(
                c,
                b,
                &format!("WHERE id > {last} AND id <= (SELECT COALESCE(MAX(id), 0) FROM (SELECT id FROM src.{} WHERE id > {last} ORDER BY id LIMIT {FOLLOW_ROWS}))", b[0].content),
            )?
            else {
                return Ok(0);
            };
            for one in b {
                c.batch_execute(&format!(
                    "INSERT INTO {fts} (rowid, {col}) SELECT id, {col} FROM src.{content} WHERE id > {last} AND id <= {high} ORDER BY id;",
                    fts = one.fts,
                    col = one.column,
                    content = one.content,
                ))?;
            }
            last = high;
            Ok((indexed.rows - before) as i64)
        })
    };
    loop {
        // Behind: look for the signal without waiting; caught up: wait a
        // little for more rows.
        let signal = if catch_up(&mut c).map_err(fail)? == FOLLOW_ROWS {
            finished
                .try_recv()
                .map_err(|e| e == std::sync::mpsc::TryRecvError::Disconnected)
        } else {
            finished
                .recv_timeout(std::time::Duration::from_millis(200))
                .map_err(|e| e == RecvTimeoutError::Disconnected)
        };
        match signal {
            Ok(()) => break,
            Err(false) => {}
            Err(true) => return Err("the search index build was abandoned".into()),
        }
    }
    let started = std::time::Instant::now();
    while catch_up(&mut c).map_err(fail)? == FOLLOW_ROWS {}
    let caught_up = started.elapsed().as_secs_f64();
    let mut now = Checksum::new(&keys);
    now.read(&mut c, b, "").map_err(fail)?;
    let checked = started.elapsed().as_secs_f64();
    if (now.rows, now.sum) != (indexed.rows, indexed.sum) {
        return Ok(false);
    }
    for one in b {
        c.batch_execute(&format!(
            "INSERT INTO {fts} ({fts}) VALUES ('optimize');",
            fts = one.fts
        ))
        .map_err(fail)?;
    }
    c.batch_execute("DETACH DATABASE src;").map_err(fail)?;
    tracing::info!(
        table = b[0].content,
        rows = indexed.rows,
        last_rows_seconds = caught_up,
        check_seconds = checked - caught_up,
        optimize_seconds = started.elapsed().as_secs_f64() - checked,
        "search index built during a bulk load"
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;

    /// A database with a `customers` table and its two search indexes as
    /// the migrations create them (external content, rowid `id`).
    fn database(dir: &std::path::Path) -> (std::path::PathBuf, diesel::SqliteConnection) {
        let path = dir.join("r.db");
        let mut c = open_file(&path).unwrap();
        c.batch_execute(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE customers (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
                 search_text TEXT NOT NULL, search_cjk TEXT NOT NULL);
             CREATE VIRTUAL TABLE fts_customers_tri USING fts5(
                 search_text, content = 'customers', content_rowid = 'id', tokenize = 'trigram');
             CREATE VIRTUAL TABLE fts_customers_cjk USING fts5(
                 search_cjk, content = 'customers', content_rowid = 'id', tokenize = 'unicode61');",
        )
        .unwrap();
        (path, c)
    }

    /// `n` rows in one transaction, as a bulk load commits a chunk.
    fn load(c: &mut diesel::SqliteConnection, from: usize, n: usize) {
        let mut sql = String::from("BEGIN;");
        for i in from..from + n {
            sql.push_str(&format!(
                "INSERT INTO customers (search_text, search_cjk) VALUES ('acme trading {i}', '杭 州 云 帆 {i}');"
            ));
        }
        sql.push_str("COMMIT;");
        c.batch_execute(&sql).unwrap();
    }

    fn count(c: &mut diesel::SqliteConnection, sql: &str) -> i64 {
        diesel::sql_query(sql).get_result::<MaxId>(c).unwrap().n
    }

    /// A database of `rows` customers and a follower started on it.
    fn following(rows: usize) -> (tempfile::TempDir, diesel::SqliteConnection, SearchFollower) {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut c) = database(dir.path());
        load(&mut c, 0, rows);
        let f = SearchFollower::start(&path, "customers", scratch_path(&path, "t-f")).unwrap();
        (dir, c, f)
    }

    /// Rows committed before and while it follows (more than one catch-up's
    /// worth) end up in its indexes, which copied in are whole and find
    /// every row.
    #[test]
    fn follower_indexes_every_committed_row() {
        let (_dir, mut c, f) = following(1_000);
        let file = f.file().to_path_buf();
        for i in 0..6 {
            load(&mut c, 1_000 + i * 10_000, 10_000);
        }
        assert!(f.finish().unwrap(), "nothing changed under the build");
        c.batch_execute(&format!("ATTACH DATABASE '{}' AS followed;", quoted(&file)))
            .unwrap();
        for b in SearchBuild::of("customers") {
            c.batch_execute(&copy_built_sql("followed", &b)).unwrap();
        }
        c.batch_execute("DETACH DATABASE followed;").unwrap();
        std::fs::remove_file(&file).unwrap();
        for f in ["fts_customers_tri", "fts_customers_cjk"] {
            c.batch_execute(&format!(
                "INSERT INTO {f} ({f}, rank) VALUES ('integrity-check', 1);"
            ))
            .unwrap();
        }
        let tri = "SELECT COUNT(*) AS n FROM fts_customers_tri WHERE fts_customers_tri MATCH";
        assert_eq!(count(&mut c, &format!("{tri} '\"acme trading\"'")), 61_000);
        assert_eq!(count(&mut c, &format!("{tri} '\"trading 60999\"'")), 1);
        assert_eq!(count(&mut c, &format!("{tri} '\"trading 0\"'")), 1);
        let cjk = "SELECT COUNT(*) AS n FROM fts_customers_cjk WHERE fts_customers_cjk MATCH";
        assert_eq!(count(&mut c, &format!("{cjk} '云 帆'")), 61_000);
    }

    /// A row the follower had indexed changes (or goes) before the end: its
    /// build is refused, so the caller builds from the table.
    #[test]
    fn follower_refuses_a_build_rows_changed_under() {
        for change in [
            "UPDATE customers SET search_text = 'changed' WHERE id = 3",
            "DELETE FROM customers WHERE id = 3",
        ] {
            let (_dir, mut c, f) = following(100);
            // Until the follower has indexed the first rows.
            let started = std::time::Instant::now();
            let indexed = |file: &std::path::Path| {
                let mut s = open_file(file).ok()?;
                diesel::sql_query("SELECT COUNT(*) AS n FROM fts_customers_cjk_docsize")
                    .get_result::<MaxId>(&mut s)
                    .ok()
                    .map(|c| c.n)
            };
            while indexed(f.file()) != Some(100) {
                assert!(
                    started.elapsed().as_secs() < 30,
                    "the follower never started"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            c.batch_execute(change).unwrap();
            load(&mut c, 100, 100);
            let file = f.file().to_path_buf();
            assert!(!f.finish().unwrap(), "{change}");
            std::fs::remove_file(file).unwrap();
        }
    }

    /// A data directory whose name holds URI characters and CJK text.
    #[test]
    fn follower_reads_a_database_at_an_odd_path() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("客户 #1 %41 ?x");
        std::fs::create_dir(&odd).unwrap();
        let (path, mut c) = database(&odd);
        load(&mut c, 0, 100);
        let f = SearchFollower::start(&path, "customers", scratch_path(&path, "t-f")).unwrap();
        let file = f.file().to_path_buf();
        assert_eq!(f.finish(), Ok(true));
        std::fs::remove_file(file).unwrap();
    }

    /// Dropped unfinished, it stops and leaves no file.
    #[test]
    fn abandoned_follower_leaves_nothing() {
        let (_dir, _c, f) = following(100);
        let file = f.file().to_path_buf();
        drop(f);
        assert!(!file.exists());
    }
}
