//! Group commit for the SQLite writers of the server.
//!
//! SQLite has one writer at a time, and every commit appends to the WAL each
//! page the transaction touched: a customer create changes ~120 pages (its
//! indexes, two search indexes, the audit row and its indexes), most of them
//! the pages the next create changes again. In the server, writers therefore
//! share one connection per database file, and a transaction stays open
//! while more writers are queued for it: each writer runs its closure in its
//! own savepoint, on its own thread, and the last one of a burst commits for
//! all (at most [`MAX_BATCH`] closures or [`MAX_OPEN`] per commit). A closure
//! that fails or panics rolls back to its savepoint only. A writer returns
//! its result only after the commit that holds its work, so nobody is told
//! "saved" for a write that could still be lost; a failed commit is the
//! error of every writer in it.
//!
//! The shared connection does not checkpoint the WAL itself (SQLite's
//! automatic checkpoint would copy pages into the database file and fsync it
//! twice while every writer waits, every ~25 creates): a thread per database
//! file does, on its own connection, at most every [`CHECKPOINT_PAUSE`] after
//! commits (`PASSIVE`, which never blocks the writers). Under a steady load
//! such a checkpoint never quite reaches the end of the WAL, so the WAL would
//! not start over; once it holds [`WAL_CAP`] frames the writer checkpoints
//! what is left itself, before it begins its next transaction. Its
//! sub-journal (savepoints) stays in memory (`temp_store = MEMORY`).
//!
//! CLI commands keep writing on their own connection (their bulk loads set
//! per-connection pragmas): [`enable`] is called by the server only.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::{ConnectionManager, DbConn, DbUrl};

/// Closures one commit takes at most.
const MAX_BATCH: usize = 64;
/// How long a transaction stays open for more writers at most.
const MAX_OPEN: Duration = Duration::from_millis(10);
/// A database's shared connection is closed after this long without a write.
const IDLE: Duration = Duration::from_secs(30);
/// The least time between two background checkpoints: a hot page (the last
/// leaf of an index by time) is then copied once for many commits.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(100);
/// WAL frames (pages) after which the writer checkpoints itself.
const WAL_CAP: u64 = 16_384;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Share one writing connection per database file from now on (the server).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// Whether this process shares writing connections (the server): a write
/// transaction then runs on the shared connection, not the caller's.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A database file: device and inode, so two paths to one file share a
/// writer, and a file swapped in by a restore gets its own.
type Key = (u64, u64);

/// The writers of one database file.
struct Writer {
    path: PathBuf,
    /// Writers blocked on `open` right now.
    waiting: AtomicUsize,
    open: Mutex<Open>,
    ended: Mutex<Ended>,
    ended_cv: Condvar,
    checkpoints: Arc<Checkpoints>,
}

/// What the writers and the checkpoint thread of one file share.
#[derive(Default)]
struct Checkpoints {
    /// Commits since the last background checkpoint.
    pending: Mutex<u64>,
    wake: Condvar,
    /// Frames in the WAL as the last checkpoint found them.
    frames: AtomicU64,
    started: AtomicBool,
}

/// The shared connection and the transaction open on it.
struct Open {
    conn: Option<DbConn>,
    /// The batch the open transaction belongs to.
    batch: Option<u64>,
    next: u64,
    joined: usize,
    since: Instant,
    last_used: Instant,
}

/// Which batches have ended, and the recent ones that did not commit.
struct Ended {
    upto: u64,
    failed: VecDeque<(u64, String)>,
}

impl Ended {
    fn failure(&self, batch: u64) -> Option<&str> {
        self.failed
            .iter()
            .find(|(b, _)| *b == batch)
            .map(|(_, m)| m.as_str())
    }
}

fn writers() -> &'static Mutex<HashMap<Key, Arc<Writer>>> {
    static WRITERS: OnceLock<Mutex<HashMap<Key, Arc<Writer>>>> = OnceLock::new();
    WRITERS.get_or_init(Default::default)
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The writer of `key`; closes the connections of databases idle for long.
fn writer(key: Key, path: PathBuf) -> Arc<Writer> {
    let mut all = relock(writers());
    all.retain(|k, w| {
        *k == key
            || Arc::strong_count(w) > 1
            || w.open
                .try_lock()
                .map(|o| o.batch.is_some() || o.last_used.elapsed() < IDLE)
                .unwrap_or(true)
    });
    all.entry(key)
        .or_insert_with(|| {
            Arc::new(Writer {
                path,
                waiting: AtomicUsize::new(0),
                open: Mutex::new(Open {
                    conn: None,
                    batch: None,
                    next: 1,
                    joined: 0,
                    since: Instant::now(),
                    last_used: Instant::now(),
                }),
                ended: Mutex::new(Ended {
                    upto: 0,
                    failed: VecDeque::new(),
                }),
                ended_cv: Condvar::new(),
                checkpoints: Arc::default(),
            })
        })
        .clone()
}

/// The file `c` has open and its key; `None` without a file.
fn file_of(c: &mut diesel::SqliteConnection) -> Result<Option<(Key, PathBuf)>, DieselError> {
    Ok(super::sqlite_file(c)?.and_then(|path| file_key(&path).map(|k| (k, path))))
}

#[cfg(unix)]
fn file_key(path: &std::path::Path) -> Option<Key> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_key(_: &std::path::Path) -> Option<Key> {
    None
}

fn depth(c: &mut diesel::SqliteConnection) -> Option<u32> {
    match AnsiTransactionManager::transaction_manager_status_mut(c).transaction_depth() {
        Ok(d) => d.map(|d| d.get()),
        Err(_) => Some(u32::MAX),
    }
}

/// The shared connection of an open writer.
fn sqlite<'a>(open: &'a mut MutexGuard<'_, Open>) -> &'a mut diesel::SqliteConnection {
    match open.conn.as_mut() {
        Some(DbConn::Sqlite(c)) => c,
        _ => unreachable!("the shared connection is open and SQLite"),
    }
}

fn failed(message: String) -> DieselError {
    DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message))
}

/// Run `f` in a write transaction of the database `conn` has open: on the
/// server's shared connection as part of a group commit, or (CLI, no file)
/// on `conn` itself. `conn` is a SQLite connection outside any transaction.
pub(super) fn write<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DieselError>,
{
    let DbConn::Sqlite(c) = conn else {
        return conn.transaction(f);
    };
    if ENABLED.load(Ordering::Relaxed)
        && let Some((key, path)) = file_of(c)?
    {
        return writer(key, path).run(f);
    }
    alone(conn, f)
}

/// The lock the writers of a process without group commit take in turn:
/// they queue here instead of in SQLite's busy handler, which sleeps in
/// growing steps (1, 2, 5, ... 100 ms) when two writers meet.
fn process_lock() -> &'static Mutex<()> {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| Mutex::new(()))
}

/// One transaction on the caller's own connection.
fn alone<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<DieselError>,
{
    let _turn = relock(process_lock());
    let DbConn::Sqlite(c) = conn else {
        return conn.transaction(f);
    };
    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
    let out = f(conn);
    let DbConn::Sqlite(c) = conn else {
        unreachable!("the variant cannot change inside the closure")
    };
    match out {
        Ok(v) => {
            AnsiTransactionManager::commit_transaction(c)?;
            Ok(v)
        }
        Err(e) => {
            AnsiTransactionManager::rollback_transaction(c)?;
            Err(e)
        }
    }
}

impl Writer {
    fn run<T, E>(&self, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DieselError>,
    {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut open = relock(&self.open);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        open.last_used = Instant::now();
        if open.conn.is_none() {
            let mut conn = ConnectionManager::new(DbUrl::Sqlite(self.path.clone()))
                .open()
                .map_err(|e| failed(e.to_string()))?;
            use diesel::connection::SimpleConnection;
            conn.batch_execute(
                "PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;
                 PRAGMA journal_size_limit = 67108864;",
            )?;
            open.conn = Some(conn);
            self.start_checkpoints();
        }
        let batch = match open.batch {
            Some(b) => b,
            None => {
                if self.checkpoints.frames.load(Ordering::Relaxed) >= WAL_CAP {
                    // Whatever the result, not again before the thread has
                    // looked at the WAL once more.
                    self.checkpoints.frames.store(0, Ordering::Relaxed);
                    let _ = checkpoint(sqlite(&mut open));
                }
                if let Err(e) = AnsiTransactionManager::begin_transaction_sql(
                    sqlite(&mut open),
                    "BEGIN IMMEDIATE",
                ) {
                    if depth(sqlite(&mut open)).is_some() {
                        open.conn = None;
                    }
                    return Err(e.into());
                }
                let b = open.next;
                open.next += 1;
                open.batch = Some(b);
                open.joined = 0;
                open.since = Instant::now();
                b
            }
        };
        let conn = open.conn.as_mut().expect("opened above");
        let out = catch_unwind(AssertUnwindSafe(|| conn.transaction(f)));
        let c = sqlite(&mut open);
        if out.is_err() && matches!(depth(c), Some(d) if d > 1 && d != u32::MAX) {
            // A panic skipped diesel's rollback of the savepoint.
            let _ = AnsiTransactionManager::rollback_transaction(c);
        }
        let healthy = depth(c) == Some(1);
        open.joined += 1;
        let end = !healthy
            || self.waiting.load(Ordering::SeqCst) == 0
            || open.joined >= MAX_BATCH
            || open.since.elapsed() >= MAX_OPEN;
        if end {
            // Some errors (disk full, I/O) make SQLite roll back the whole
            // transaction: then the batch is lost for every writer in it.
            let c = sqlite(&mut open);
            let failure = if healthy {
                AnsiTransactionManager::commit_transaction(c)
                    .err()
                    .map(|e| format!("the transaction did not commit: {e}"))
            } else {
                Some("a write in the same transaction failed and ended it".to_string())
            };
            if failure.is_some() {
                let _ = AnsiTransactionManager::rollback_transaction(c);
                if depth(c).is_some() {
                    // The transaction manager is broken: a new connection.
                    open.conn = None;
                }
            }
            open.batch = None;
            if failure.is_none() {
                *relock(&self.checkpoints.pending) += 1;
                self.checkpoints.wake.notify_one();
            }
            // Recorded before the next batch can begin, so batches end in order.
            let mut ended = relock(&self.ended);
            ended.upto = batch;
            if let Some(m) = &failure {
                ended.failed.push_back((batch, m.clone()));
                if ended.failed.len() > 64 {
                    ended.failed.pop_front();
                }
            }
            drop(ended);
            drop(open);
            self.ended_cv.notify_all();
            return finish(out, failure.as_deref());
        }
        drop(open);
        match out {
            // A failed closure was rolled back; its answer does not wait.
            Ok(Err(e)) => Err(e),
            Err(panic) => resume_unwind(panic),
            Ok(Ok(v)) => {
                let mut ended = relock(&self.ended);
                while ended.upto < batch {
                    ended = self.ended_cv.wait(ended).unwrap_or_else(|p| p.into_inner());
                }
                match ended.failure(batch) {
                    Some(m) => Err(E::from(failed(m.to_string()))),
                    None => Ok(v),
                }
            }
        }
    }
}

impl Writer {
    /// The checkpoint thread of this file, once.
    fn start_checkpoints(&self) {
        if self.checkpoints.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let (path, shared) = (self.path.clone(), self.checkpoints.clone());
        let spawned = std::thread::Builder::new()
            .name("rapport-checkpoint".into())
            .spawn(move || checkpoints(path, shared));
        if spawned.is_err() {
            // No thread: the writer's connection checkpoints as SQLite does.
            self.checkpoints.started.store(false, Ordering::SeqCst);
            if let Ok(mut open) = self.open.try_lock()
                && let Some(DbConn::Sqlite(c)) = open.conn.as_mut()
            {
                use diesel::connection::SimpleConnection;
                let _ = c.batch_execute("PRAGMA wal_autocheckpoint = 1000;");
            }
        }
    }
}

#[derive(QueryableByName)]
struct CheckpointResult {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
}

/// A `PASSIVE` checkpoint on `c`: how many frames the WAL holds. The WAL
/// starts over at the first write after a checkpoint that copied them all,
/// which a steady stream of commits never lets the background one do.
fn checkpoint(c: &mut diesel::SqliteConnection) -> Result<u64, DieselError> {
    let r: CheckpointResult = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(c)?;
    Ok(r.log.max(0) as u64)
}

/// The checkpoint thread of one database file: after commits, at most every
/// [`CHECKPOINT_PAUSE`]; ends when the file's writer is gone.
fn checkpoints(path: PathBuf, shared: Arc<Checkpoints>) {
    let mut conn: Option<DbConn> = None;
    let mut last = Instant::now();
    loop {
        let mut pending = relock(&shared.pending);
        while *pending == 0 {
            if Arc::strong_count(&shared) == 1 {
                return;
            }
            let (p, _) = shared
                .wake
                .wait_timeout(pending, Duration::from_secs(1))
                .unwrap_or_else(|p| p.into_inner());
            pending = p;
            if *pending == 0 && last.elapsed() >= IDLE {
                conn = None;
            }
        }
        drop(pending);
        let since = last.elapsed();
        if since < CHECKPOINT_PAUSE {
            std::thread::sleep(CHECKPOINT_PAUSE - since);
        }
        *relock(&shared.pending) = 0;
        last = Instant::now();
        if conn.is_none() {
            conn = ConnectionManager::new(DbUrl::Sqlite(path.clone()))
                .open()
                .ok();
        }
        let Some(DbConn::Sqlite(c)) = conn.as_mut() else {
            continue;
        };
        match checkpoint(c) {
            Ok(frames) => shared.frames.store(frames, Ordering::Relaxed),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "WAL checkpoint failed");
                conn = None;
            }
        }
    }
}

/// The caller's answer once its batch ended, `failure` if it did not commit.
fn finish<T, E>(out: std::thread::Result<Result<T, E>>, failure: Option<&str>) -> Result<T, E>
where
    E: From<DieselError>,
{
    match out {
        Err(panic) => resume_unwind(panic),
        Ok(Err(e)) => Err(e),
        Ok(Ok(_)) if failure.is_some() => {
            Err(E::from(failed(failure.unwrap_or_default().to_string())))
        }
        Ok(Ok(v)) => Ok(v),
    }
}
