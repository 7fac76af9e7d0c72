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
    for d in &defs {
        diesel::sql_query(d.def.clone()).execute(conn)?;
    }
    result.map(|t| (t, started.elapsed()))
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
