//! Embedded migrations, one tree per backend with identical names.

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
pub fn run_pending(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
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

/// Every known migration in order, each marked applied or pending.
pub fn status(conn: &mut DbConn) -> Result<Vec<MigrationState>, DbError> {
    let (applied, known) = match conn {
        DbConn::Sqlite(c) => (c.applied_migrations().map_err(err)?, names(&SQLITE)?),
        DbConn::Pg(c) => (c.applied_migrations().map_err(err)?, names(&POSTGRES)?),
    };
    let applied: Vec<String> = applied.iter().map(|v| v.to_string()).collect();
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
