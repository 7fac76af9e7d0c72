//! The SQLite-only fast path: an archive holding the database file itself.
//!
//! `VACUUM INTO` writes a compact copy of the database from one read
//! transaction (writers keep going on WAL), so the copy is consistent; the
//! archive then carries that file instead of the rows, with the row count of
//! each table and the file's SHA-256 in the manifest. Restoring it writes the
//! file beside the target, counts the rows against the manifest, applies
//! newer migrations and swaps it in like a portable restore. It restores
//! into SQLite only; the portable archive stays the default and the way
//! between backends.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::catalog::{self, ident};
use super::format::{self, ArchiveWriter, FileSum, Header, Manifest, TableSum};
use super::restore::{Checked, FileWriter, RestoreOptions, RestoreReport};
use super::{BackupError, HashingReader, Sha256, Visitor};
use crate::core::db::{self, DbConn, DbUrl, migrations};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

fn count_rows(conn: &mut DbConn, table: &str) -> Result<u64, BackupError> {
    let n: Count = diesel::sql_query(format!("SELECT COUNT(*) AS v FROM {}", ident(table)))
        .get_result(conn)?;
    Ok(n.v.max(0) as u64)
}

/// Removes a file when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.0.as_os_str().to_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Where the database copy is made while an archive is written: beside the
/// partial archive (`OUT.partial.db`), owner-only, removed afterwards.
pub fn copy_path(partial: &Path) -> PathBuf {
    let mut p = partial.as_os_str().to_os_string();
    p.push(".db");
    PathBuf::from(p)
}

/// Write a snapshot's header, database file and attachments.
pub(super) fn write<W: Write>(
    conn: &mut DbConn,
    w: &mut ArchiveWriter<W>,
    partial: &Path,
    out: &Path,
    created: chrono::DateTime<chrono::Utc>,
    data_dir: &Path,
) -> Result<Manifest, BackupError> {
    let path = copy_path(partial);
    let scratch = Scratch(path.clone());
    drop(scratch_file(&path)?);
    let Some(target) = path.to_str() else {
        return Err(BackupError::Usage(format!(
            "{} is not a UTF-8 path; choose another --out",
            out.display()
        )));
    };
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(target)
        .execute(conn)
        .map_err(|e| {
            BackupError::Database(format!("copying the database into {}: {e}", path.display()))
        })?;
    // Everything the manifest says is read from the copy, so it describes
    // exactly the snapshot.
    let mut copy = db::ConnectionManager::new(DbUrl::Sqlite(path.clone())).open()?;
    let tables = catalog::tables(&mut copy)?;
    let header = super::new_header(&mut copy, created, tables.clone(), true)?;
    let mut sums = Vec::with_capacity(tables.len());
    for t in &tables {
        sums.push(TableSum {
            name: t.name.clone(),
            rows: count_rows(&mut copy, &t.name)?,
            sha256: String::new(),
            next_id_after: catalog::high_water(&mut copy, t)?,
        });
    }
    let hashes = super::attachment_hashes(&mut copy, &tables)?;
    drop(copy);
    super::write_header(w, &header, out)?;
    let f = File::open(&path).map_err(|e| BackupError::Io(format!("{}: {e}", path.display())))?;
    let size = f
        .metadata()
        .map_err(|e| BackupError::Io(format!("{}: {e}", path.display())))?
        .len();
    let mut r = HashingReader {
        inner: f.take(size),
        hash: Sha256::new(),
        read: 0,
    };
    w.entry(format::DATABASE_ENTRY, size, &mut r)
        .map_err(super::write_error(out))?;
    if r.read != size {
        return Err(BackupError::Io(format!(
            "the database copy {} changed while it was archived",
            path.display()
        )));
    }
    let database = FileSum {
        sha256: r.hash.finish(),
        size,
    };
    drop(scratch);
    let files = super::write_files(w, data_dir, hashes, out)?;
    let content_hash = format::content_hash(&sums, &files, Some(&database));
    Ok(Manifest {
        header,
        sums,
        attachments: files,
        database: Some(database),
        content_hash,
    })
}

/// An empty file only the owner can read, for `VACUUM INTO` to fill.
fn scratch_file(path: &Path) -> Result<File, BackupError> {
    let _ = std::fs::remove_file(path);
    super::open_private(path)
}

/// Writes the database file to the staging path and the attachment files
/// into the data directory.
struct Loader {
    staging: PathBuf,
    files: FileWriter,
}

impl Visitor for Loader {
    fn header(&mut self, h: &Header) -> Result<(), BackupError> {
        super::check_schema_supported(h)
    }

    fn database_start(&mut self) -> Result<Option<Box<dyn Write>>, BackupError> {
        let f = scratch_file(&self.staging)?;
        Ok(Some(Box::new(BufWriter::with_capacity(1 << 20, f))))
    }

    fn file_start(&mut self, sha: &str) -> Result<Option<Box<dyn Write>>, BackupError> {
        self.files.start(sha)
    }

    fn file_done(&mut self, _sha: &str) -> Result<(), BackupError> {
        self.files.done()
    }
}

/// Build the restored SQLite database at `staging` from a snapshot archive
/// (already verified once by the caller).
pub(super) fn build_sqlite(
    archive: &Path,
    staging: &Path,
    data_dir: &Path,
    opts: &RestoreOptions,
    report: &mut RestoreReport,
) -> Result<(), BackupError> {
    let mut loader = Loader {
        staging: staging.to_path_buf(),
        files: FileWriter::new(data_dir)?,
    };
    let m = super::read_archive(
        super::restore::open_archive(archive)?,
        opts.passphrase.as_ref(),
        &mut loader,
    )?;
    if m.content_hash != report.manifest.content_hash {
        return Err(BackupError::Corrupt(
            "the archive changed while it was being restored".into(),
        ));
    }
    report.files_written = loader.files.written();
    let mut conn = db::ConnectionManager::new(DbUrl::Sqlite(staging.to_path_buf())).open()?;
    let mut checked = Vec::with_capacity(m.sums.len());
    for s in &m.sums {
        let rows = count_rows(&mut conn, &s.name)?;
        if rows != s.rows {
            return Err(BackupError::Database(format!(
                "table {} restored with {rows} rows but the archive counted {}; the old database was left as it was",
                s.name, s.rows
            )));
        }
        checked.push(Checked {
            name: s.name.clone(),
            rows: s.rows,
            sha256: String::new(),
            restored_rows: rows,
            restored_sha256: String::new(),
        });
    }
    report.tables = checked;
    conn.batch_execute("PRAGMA journal_mode = DELETE;")?;
    report.migrations_applied = migrations::run_pending(&mut conn)?;
    conn.batch_execute("PRAGMA journal_mode = WAL;")?;
    drop(conn);
    File::open(staging)
        .and_then(|f| f.sync_all())
        .map_err(|e| BackupError::Io(format!("{}: {e}", staging.display())))?;
    Ok(())
}
