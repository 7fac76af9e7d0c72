//! Storage: one connection enum over SQLite and PostgreSQL, an r2d2 pool whose
//! manager picks the backend from the URL, and the embedded migrations.
//!
//! Backend-specific SQL goes through [`with_backend!`], one small match on the
//! connection variant, never scattered through the stores.

pub mod bulk;
pub mod group;
pub mod migrations;
pub mod schema;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool as R2d2Pool, PooledConnection};

/// One connection to either backend.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Sqlite(diesel::SqliteConnection),
    Pg(diesel::PgConnection),
}

pub type Pool = R2d2Pool<ConnectionManager>;
pub type PooledConn = PooledConnection<ConnectionManager>;

/// Run the same diesel expression on whichever inner connection `conn` holds,
/// for the features the multi-backend derive does not offer (upsert, batch
/// insert, `RETURNING`): `with_backend!(conn, c => insert_into(t).values(&v).execute(c))`.
#[macro_export]
macro_rules! with_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::core::db::DbConn::Sqlite($c) => $body,
            $crate::core::db::DbConn::Pg($c) => $body,
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl DbConn {
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Sqlite(_) => Backend::Sqlite,
            DbConn::Pg(_) => Backend::Postgres,
        }
    }
}

/// Where the database lives, decided from the URL's scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DbUrl {
    /// `sqlite://PATH`, `sqlite:PATH`, a plain path, or `postgres(ql)://…`.
    /// Any other scheme is refused, so a mistyped Postgres URL never becomes a
    /// SQLite file.
    pub fn parse(url: &str) -> Result<DbUrl, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("is empty".into());
        }
        if let Some(rest) = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
        {
            if rest.is_empty() {
                return Err("postgres URL names no host or database".into());
            }
            return Ok(DbUrl::Postgres(url.to_string()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() || path == ":memory:" {
                return Err(
                    "a SQLite URL needs a file path, e.g. sqlite:///var/lib/rapport/rapport.db"
                        .into(),
                );
            }
            return Ok(DbUrl::Sqlite(PathBuf::from(path)));
        }
        if let Some(scheme) = scheme_of(url) {
            return Err(format!(
                "unsupported scheme `{scheme}:` in `{}`; use sqlite://PATH, a file path, or postgres://USER@HOST/DB",
                crate::config::redact_url(url)
            ));
        }
        Ok(DbUrl::Sqlite(PathBuf::from(url)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DbUrl::Sqlite(_) => Backend::Sqlite,
            DbUrl::Postgres(_) => Backend::Postgres,
        }
    }

    /// For messages: the path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            DbUrl::Sqlite(p) => format!("sqlite {}", p.display()),
            DbUrl::Postgres(u) => format!("postgres {}", crate::config::redact_url(u)),
        }
    }
}

/// `scheme` if `s` starts like `scheme:` (letters, digits, + - .).
fn scheme_of(s: &str) -> Option<&str> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        .then_some(scheme)
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to {target}: {message}")]
    Connect { target: String, message: String },
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    /// The database has migrations this binary does not know: a newer
    /// version (another node, a newer package) has upgraded it.
    #[error("{0}")]
    SchemaNewer(String),
    #[error("connection pool: {0}")]
    Pool(String),
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        DbError::Pool(e.to_string())
    }
}

/// r2d2 manager that opens the backend named by the URL and applies the
/// per-connection settings SQLite needs.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DbUrl,
}

/// Seconds to wait for SQLite's write lock before reporting "database is locked".
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5000;

impl ConnectionManager {
    pub fn new(url: DbUrl) -> Self {
        ConnectionManager { url }
    }

    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    pub fn open(&self) -> Result<DbConn, DbError> {
        match &self.url {
            DbUrl::Sqlite(path) => {
                let target = path.display().to_string();
                let fail = |message: String| DbError::Connect {
                    target: format!("sqlite {target}"),
                    message,
                };
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
                    && !parent.is_dir()
                {
                    return Err(fail(format!(
                        "directory {} does not exist",
                        parent.display()
                    )));
                }
                let mut conn = diesel::SqliteConnection::establish(&target)
                    .map_err(|e| fail(e.to_string()))?;
                // busy_timeout first: the other pragmas may already need the lock.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
                     PRAGMA foreign_keys = ON;
                     PRAGMA synchronous = NORMAL;"
                ))
                .map_err(|e| fail(e.to_string()))?;
                Ok(DbConn::Sqlite(conn))
            }
            DbUrl::Postgres(url) => {
                let conn =
                    diesel::PgConnection::establish(&with_connect_timeout(url)).map_err(|e| {
                        DbError::Connect {
                            target: format!("postgres {}", crate::config::redact_url(url)),
                            message: one_line(&e.to_string()),
                        }
                    })?;
                Ok(DbConn::Pg(conn))
            }
        }
    }
}

/// libpq waits forever for an unreachable host unless told otherwise.
fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&connect_timeout=5")
    } else {
        format!("{url}?connect_timeout=5")
    }
}

/// libpq messages span several lines with tabs; make them one clear line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConn;
    type Error = DbError;

    fn connect(&self) -> Result<DbConn, DbError> {
        self.open()
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), DbError> {
        conn.batch_execute("SELECT 1").map_err(DbError::Query)
    }

    /// A connection returned while a transaction is open (a panic inside
    /// `write_tx`) or broken must not be reused: it may hold SQLite's write lock.
    fn has_broken(&self, conn: &mut DbConn) -> bool {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        if std::thread::panicking() {
            return true;
        }
        let status = match conn {
            DbConn::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
            DbConn::Pg(c) => AnsiTransactionManager::transaction_manager_status_mut(c),
        };
        !matches!(status.transaction_depth(), Ok(None))
    }
}

/// One connection without a pool, for CLI commands: no background threads
/// that could still be talking to the server when the process exits. Sets
/// WAL on SQLite.
pub fn open_single(url: &DbUrl) -> Result<DbConn, DbError> {
    let mut conn = ConnectionManager::new(url.clone()).open()?;
    if let DbConn::Sqlite(c) = &mut conn {
        c.batch_execute("PRAGMA journal_mode = WAL;")
            .map_err(|e| DbError::Connect {
                target: url.describe(),
                message: e.to_string(),
            })?;
    }
    Ok(conn)
}

/// Open one connection first (so a bad password or missing server is
/// reported at once, not after a pool time-out), set WAL on SQLite, then
/// build the pool. A pool means concurrent writers: from now on the SQLite
/// writers of this process commit in groups.
pub fn open_pool(url: &DbUrl, size: u32) -> Result<Pool, DbError> {
    drop(open_single(url)?);
    group::enable();
    let manager = ConnectionManager::new(url.clone());
    Ok(R2d2Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        .test_on_check_out(false)
        .build_unchecked(manager))
}

/// Run `f` in a transaction that holds the write lock from its first
/// statement: on SQLite `BEGIN IMMEDIATE` (a deferred transaction that reads
/// first can fail with "database is locked" when it later writes), in the
/// server shared with the writers queued meanwhile (group commit, see
/// [`group`]), so `f` may get another connection to the same database; a
/// plain transaction on PostgreSQL. Nested `transaction` calls inside become
/// savepoints.
pub fn write_tx<T, E>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let outside = match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::transaction_manager_status_mut(c)
            .transaction_depth()?
            .is_none(),
        DbConn::Pg(_) => false,
    };
    if outside {
        group::write(conn, f)
    } else {
        // Already inside a transaction (or on PostgreSQL): a plain one, which
        // nests as a savepoint.
        conn.transaction(f)
    }
}

// SQLite's table-valued `PRAGMA database_list`, as a table so the query
// below has a fixed type and stays prepared on the connection (the group
// writer asks it once per write; as `sql_query` it was compiled anew each time).
diesel::table! {
    pragma_database_list (seq) {
        seq -> Integer,
        name -> Text,
        file -> Text,
    }
}

/// The file of the `main` database of `c`; `None` in memory.
pub fn sqlite_file(c: &mut diesel::SqliteConnection) -> QueryResult<Option<std::path::PathBuf>> {
    use pragma_database_list::dsl;
    let file: String = dsl::pragma_database_list
        .select(dsl::file)
        .filter(dsl::name.eq("main"))
        .get_result(c)?;
    Ok((!file.is_empty()).then(|| std::path::PathBuf::from(file)))
}

#[derive(QueryableByName)]
struct JournalMode {
    #[diesel(sql_type = diesel::sql_types::Text)]
    journal_mode: String,
}

/// The journal mode of `c` (`wal`, `memory`, `delete` …).
pub fn sqlite_journal_mode(c: &mut diesel::SqliteConnection) -> QueryResult<String> {
    diesel::sql_query("SELECT journal_mode FROM pragma_journal_mode")
        .get_result::<JournalMode>(c)
        .map(|j| j.journal_mode)
}

/// A stable 63-bit key (FNV-1a) for a PostgreSQL advisory lock named `name`.
pub fn advisory_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 1) as i64
}

/// Serialise changes to the organisation (users, roles, departments) on
/// PostgreSQL, whose READ COMMITTED transactions would otherwise let two
/// check-then-write invariants (one administrator left, no department or
/// supervisor cycle, unique e-mail) pass at the same time. SQLite's
/// `BEGIN IMMEDIATE` already serialises writers. Call first inside `write_tx`.
pub fn lock_org(conn: &mut DbConn) -> QueryResult<()> {
    if let DbConn::Pg(c) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(5391203)").execute(c)?;
    }
    Ok(())
}

/// The current time as stored in the database: naive UTC, whole microseconds
/// (what PostgreSQL keeps), so values compare the same on both backends.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{SubsecRound, Utc};
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// Is `path` a directory this process can create files in?
pub fn check_writable_dir(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let probe = path.join(format!(".rapport-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"ok")
        .map_err(|e| format!("{} is not writable: {e}", path.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_schemes() {
        assert_eq!(
            DbUrl::parse("sqlite:///var/lib/r.db").unwrap(),
            DbUrl::Sqlite("/var/lib/r.db".into())
        );
        assert_eq!(
            DbUrl::parse("sqlite:data/r.db").unwrap(),
            DbUrl::Sqlite("data/r.db".into())
        );
        assert_eq!(
            DbUrl::parse("./data/r.db").unwrap(),
            DbUrl::Sqlite("./data/r.db".into())
        );
        assert_eq!(
            DbUrl::parse("postgres://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DbUrl::parse("postgresql://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        for bad in [
            "postgress://u@h/db",
            "mysql://h/db",
            "postgres:/h/db",
            "http://x",
            "sqlite://",
        ] {
            assert!(DbUrl::parse(bad).is_err(), "{bad} accepted");
        }
        let e = DbUrl::parse("postgress://u:secret@h/db").unwrap_err();
        assert!(e.contains("postgress") && !e.contains("secret"), "{e}");
    }

    #[test]
    fn connect_timeout_added_once() {
        assert_eq!(
            with_connect_timeout("postgres://h/db"),
            "postgres://h/db?connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=disable"),
            "postgres://h/db?sslmode=disable&connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=1"),
            "postgres://h/db?connect_timeout=1"
        );
    }
}
