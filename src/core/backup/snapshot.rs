//! The SQLite-only fast path: an archive holding the database file itself.
//!
//! Inside one read transaction (writers keep going on WAL) the database's
//! pages are read in order through the `sqlite_dbpage` table and streamed
//! straight into the archive — the same bytes `sqlite3 .backup` copies,
//! without writing a second database file first; the row count of each
//! table and the file's SHA-256 go into the manifest. Restoring writes the
//! file beside the target, counts the rows against the manifest, applies
//! newer migrations and swaps it in like a portable restore. It restores
//! into SQLite only; the portable archive stays the default and the way
//! between backends.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary};

use super::catalog::{self, ident};
use super::format::{self, ArchiveWriter, FileSum, Header, Manifest, TableSum};
use super::restore::{Checked, FileWriter, RestoreOptions, RestoreReport};
use super::{BackupError, Sha256, Sink, Visitor};
use crate::core::db::{self, DbConn, DbUrl};

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

fn pragma(conn: &mut DbConn, name: &str) -> Result<u64, BackupError> {
    let n: Count =
        diesel::sql_query(format!("SELECT {name} AS v FROM pragma_{name}")).get_result(conn)?;
    Ok(n.v.max(0) as u64)
}

#[derive(QueryableByName)]
struct Page {
    #[diesel(sql_type = BigInt)]
    pgno: i64,
    #[diesel(sql_type = Binary)]
    data: Vec<u8>,
}

/// The database file as a reader: its pages in order, hashed as they pass.
struct Pages<I> {
    pages: I,
    page_size: usize,
    next: i64,
    buf: Vec<u8>,
    pos: usize,
    hash: Sha256,
    read: u64,
}

impl<I: Iterator<Item = QueryResult<Page>>> Read for Pages<I> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            let page = match self.pages.next() {
                None => return Ok(0),
                Some(p) => {
                    p.map_err(|e| io::Error::other(format!("reading the database pages: {e}")))?
                }
            };
            if page.pgno != self.next || page.data.len() != self.page_size {
                return Err(io::Error::other(format!(
                    "reading the database pages: page {} of {} bytes where page {} of {} was expected",
                    page.pgno,
                    page.data.len(),
                    self.next,
                    self.page_size
                )));
            }
            self.next += 1;
            self.hash.update(&page.data);
            self.buf = page.data;
            self.pos = 0;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.read += n as u64;
        Ok(n)
    }
}

/// Write a snapshot's header, database file and attachments, all from one
/// read transaction.
pub(super) fn write<W: Write>(
    conn: &mut DbConn,
    w: &mut ArchiveWriter<W>,
    out: &Path,
    created: chrono::DateTime<chrono::Utc>,
    data_dir: &Path,
) -> Result<Manifest, BackupError> {
    // The page table exists only when SQLite was built with it (this
    // repository's .cargo/config.toml does; a build from elsewhere may not).
    let n: Count = diesel::sql_query("SELECT sqlite_compileoption_used('ENABLE_DBPAGE_VTAB') AS v")
        .get_result(conn)?;
    if n.v == 0 {
        return Err(BackupError::Usage(
            "this rapport binary's SQLite has no sqlite_dbpage table (built without SQLITE_ENABLE_DBPAGE_VTAB), so it cannot take a --sqlite-snapshot; take a portable archive (without --sqlite-snapshot)".into(),
        ));
    }
    super::in_snapshot(conn, |conn| {
        let tables = catalog::tables(conn)?;
        let header = super::new_header(conn, created, tables.clone(), true)?;
        let mut sums = Vec::with_capacity(tables.len());
        for t in &tables {
            sums.push(TableSum {
                name: t.name.clone(),
                rows: count_rows(conn, &t.name)?,
                sha256: String::new(),
                next_id_after: catalog::high_water(conn, t)?,
            });
        }
        let hashes = super::attachment_hashes(conn, &tables)?;
        let page_size = pragma(conn, "page_size")?;
        let size = pragma(conn, "page_count")? * page_size;
        super::write_header(w, &header, out)?;
        let DbConn::Sqlite(c) = conn else {
            unreachable!("create_archive refuses a snapshot of PostgreSQL")
        };
        let pages = diesel::sql_query("SELECT pgno, data FROM sqlite_dbpage")
            .load_iter::<Page, DefaultLoadingMode>(c)
            .map_err(|e| BackupError::Database(format!("reading the database pages: {e}")))?;
        let mut r = Pages {
            pages,
            page_size: page_size as usize,
            next: 1,
            buf: Vec::new(),
            pos: 0,
            hash: Sha256::new(),
            read: 0,
        };
        w.entry(format::DATABASE_ENTRY, size, &mut r)
            .map_err(super::write_error(out))?;
        let Pages { hash, read, .. } = r;
        if read != size {
            return Err(BackupError::Database(format!(
                "the database had {read} bytes of pages where {size} were counted"
            )));
        }
        let database = FileSum {
            sha256: hash.finish(),
            size,
        };
        let files = super::write_files(w, data_dir, hashes, out)?;
        let content_hash = format::content_hash(&sums, &files, Some(&database));
        Ok(Manifest {
            header,
            sums,
            attachments: files,
            database: Some(database),
            content_hash,
        })
    })
}

/// A new empty file only the owner can read.
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

    fn database_start(&mut self) -> Result<Option<Sink>, BackupError> {
        let f = scratch_file(&self.staging)?;
        Ok(Some(Box::new(BufWriter::with_capacity(1 << 20, f))))
    }

    fn file_start(&mut self, sha: &str) -> Result<Option<Sink>, BackupError> {
        self.files.start(sha)
    }

    fn file_done(&mut self, _sha: &str) -> Result<(), BackupError> {
        self.files.done()
    }
}

/// Build the restored SQLite database at `staging` from a snapshot archive,
/// verifying it on the way; fills in the report's manifest.
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
    report.manifest = m;
    report.migrations_applied = super::restore::finish_sqlite(conn, staging, "")?;
    Ok(())
}
