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
    let defs = secondary_indexes(conn, table)?;
    for d in &defs {
        diesel::sql_query(format!("DROP INDEX {}", d.name)).execute(conn)?;
    }
    let result = load(conn);
    for d in &defs {
        diesel::sql_query(d.def.clone()).execute(conn)?;
    }
    result
}
