//! Embedded migrations, one tree per backend with identical names.

use diesel::RunQueryDsl;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{DbConn, DbError};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One migration and whether it has been applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationState {
    pub name: String,
    pub applied: bool,
}

fn err(e: impl std::fmt::Display) -> DbError {
    DbError::Migration(e.to_string())
}

/// Apply every pending migration; returns the names applied, in order.
///
/// Refuses, changing nothing, a database with migrations this binary does
/// not know ([`refuse_newer_schema`]). On PostgreSQL the migrations run under
/// an advisory lock, so nodes starting at once apply them once, one after
/// the other.
pub fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    with_migration_lock(conn, |conn| {
        refuse_newer_schema(conn)?;
        apply_pending(conn)
    })
}

/// Run `f` holding the PostgreSQL advisory lock on the schema (re-entrant
/// within one connection; nothing to hold on SQLite, which locks the file).
/// Even reading the applied list may create diesel's bookkeeping table, and
/// two nodes doing that at once collide; so do two nodes creating the
/// built-in rows at their first start.
pub fn with_migration_lock<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    if let DbConn::Pg(c) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_lock({})", migration_lock_key()))
            .execute(c)?;
    }
    let result = f(conn);
    if let DbConn::Pg(c) = conn {
        // Also released when the connection closes.
        let _ = diesel::sql_query(format!(
            "SELECT pg_advisory_unlock({})",
            migration_lock_key()
        ))
        .execute(c);
    }
    result
}

fn migration_lock_key() -> i64 {
    super::advisory_key("rapport-schema-migrations")
}

fn apply_pending(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let versions: Vec<String> = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE).map_err(err)?,
        DbConn::Pg(c) => c.run_pending_migrations(POSTGRES).map_err(err)?,
    }
    .iter()
    .map(|v| v.to_string())
    .collect();
    let all = status(conn)?;
    Ok(versions.iter().map(|v| name_for(&all, v)).collect())
}

/// Names of the migrations this binary would apply, in order; empty when
/// the schema is current. Changes nothing.
pub fn pending_migrations(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    Ok(status(conn)?
        .into_iter()
        .filter(|m| !m.applied)
        .map(|m| m.name)
        .collect())
}

/// Versions recorded as applied in the database that this binary does not
/// know, in order: the schema is newer than the binary.
pub fn unknown_applied(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let (applied, known) = applied_and_known(conn)?;
    let known: Vec<String> = known.iter().map(|n| version_of(n)).collect();
    let mut unknown: Vec<String> = applied.into_iter().filter(|v| !known.contains(v)).collect();
    unknown.sort();
    Ok(unknown)
}

/// An error naming the unknown migrations if the database schema is newer
/// than this binary; nothing is changed either way.
pub fn refuse_newer_schema(conn: &mut DbConn) -> Result<(), DbError> {
    let unknown = unknown_applied(conn)?;
    if unknown.is_empty() {
        return Ok(());
    }
    Err(DbError::SchemaNewer(format!(
        "the database schema is newer than this rapport {}: it has {} migration(s) this \
         version does not know ({}; this version ends at {}). A newer rapport (another node or \
         a newer package) has upgraded it. Install that version here too; nothing was changed",
        env!("CARGO_PKG_VERSION"),
        unknown.len(),
        unknown.join(", "),
        latest_known(),
    )))
}

fn applied_and_known(conn: &mut DbConn) -> Result<(Vec<String>, Vec<String>), DbError> {
    let (applied, known) = with_migration_lock(conn, |conn| match conn {
        DbConn::Sqlite(c) => Ok((c.applied_migrations().map_err(err)?, names(&SQLITE)?)),
        DbConn::Pg(c) => Ok((c.applied_migrations().map_err(err)?, names(&POSTGRES)?)),
    })?;
    Ok((applied.iter().map(|v| v.to_string()).collect(), known))
}

/// Every known migration in order, each marked applied or pending.
pub fn status(conn: &mut DbConn) -> Result<Vec<MigrationState>, DbError> {
    let (applied, known) = applied_and_known(conn)?;
    Ok(known
        .into_iter()
        .map(|name| {
            let applied = applied.iter().any(|v| *v == version_of(&name));
            MigrationState { name, applied }
        })
        .collect())
}

/// Number of migrations not yet applied.
pub fn pending_count(conn: &mut DbConn) -> Result<usize, DbError> {
    Ok(status(conn)?.iter().filter(|m| !m.applied).count())
}

/// Name of the newest migration this binary knows: the schema version.
pub fn latest_known() -> String {
    names(&SQLITE)
        .ok()
        .and_then(|n| n.last().cloned())
        .unwrap_or_default()
}

/// Revert every applied migration (tests and disaster recovery only).
pub fn revert_all(conn: &mut DbConn) -> Result<usize, DbError> {
    let reverted = match conn {
        DbConn::Sqlite(c) => c.revert_all_migrations(SQLITE).map_err(err)?,
        DbConn::Pg(c) => c.revert_all_migrations(POSTGRES).map_err(err)?,
    };
    Ok(reverted.len())
}

fn names(source: &EmbeddedMigrations) -> Result<Vec<String>, DbError> {
    use diesel::migration::MigrationSource;
    let migrations = MigrationSource::<diesel::sqlite::Sqlite>::migrations(source).map_err(err)?;
    let mut names: Vec<String> = migrations.iter().map(|m| m.name().to_string()).collect();
    names.sort();
    Ok(names)
}

/// Names of the migration directories in each tree (for the tree-parity test).
pub fn tree_names() -> Result<(Vec<String>, Vec<String>), DbError> {
    Ok((names(&SQLITE)?, names(&POSTGRES)?))
}

/// Apply pending migrations in order up to and including the one whose
/// version is `version` (a restore builds the schema an archive was made
/// with, loads it, then applies the rest). Returns the names applied.
pub fn run_up_to(conn: &mut DbConn, version: &str) -> Result<Vec<String>, DbError> {
    fn step<C: MigrationHarness<DB>, DB: diesel::backend::Backend>(
        c: &mut C,
        source: EmbeddedMigrations,
        version: &str,
    ) -> Result<Vec<String>, DbError>
    where
        EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
    {
        let mut applied = Vec::new();
        for m in c.pending_migrations(source).map_err(err)? {
            let name = m.name().to_string();
            if version_of(&name).as_str() > version {
                break;
            }
            c.run_migration(&*m).map_err(err)?;
            applied.push(name);
        }
        Ok(applied)
    }
    match conn {
        DbConn::Sqlite(c) => step(c, SQLITE, version),
        DbConn::Pg(c) => step(c, POSTGRES, version),
    }
}

/// Versions (diesel's digits) of the applied migrations, newest last,
/// including any this binary does not know.
pub fn applied_versions(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let mut v: Vec<String> = match conn {
        DbConn::Sqlite(c) => c.applied_migrations().map_err(err)?,
        DbConn::Pg(c) => c.applied_migrations().map_err(err)?,
    }
    .iter()
    .map(|v| v.to_string())
    .collect();
    v.sort();
    Ok(v)
}

/// The migration name for a version, if this binary knows it.
pub fn name_of_version(version: &str) -> Option<String> {
    names(&SQLITE)
        .ok()?
        .into_iter()
        .find(|n| version_of(n) == version)
}

/// diesel keeps the part before the first `_` as the version, without dashes.
pub fn version_of(name: &str) -> String {
    name.split('_').next().unwrap_or(name).replace('-', "")
}

fn name_for(all: &[MigrationState], version: &str) -> String {
    all.iter()
        .find(|m| version_of(&m.name) == version)
        .map(|m| m.name.clone())
        .unwrap_or_else(|| version.to_string())
}
