//! Backup, verify and restore.
//!
//! [`create_archive`] writes one archive (see [`format`]) from a consistent
//! snapshot — one read transaction: SQLite's on WAL, PostgreSQL's
//! `REPEATABLE READ READ ONLY` — while the server keeps running, streaming
//! every table row by row, so memory stays flat for any size. Tables and
//! columns come from the database's catalogue ([`catalog`]), so tables added
//! by later migrations are included without changes here.
//!
//! [`verify_archive`] checks an archive without a database: structure, every
//! row against its column types, every checksum, the content hash and the
//! schema version. [`restore::restore_archive`] verifies first, builds the
//! new database beside the old one and swaps it in only when it is complete
//! and its checksums match.
//!
//! [`content_digest`] is the canonical hash of a live database's rows and
//! attachment files; two databases of either backend with the same content
//! have the same digest.

pub mod catalog;
mod copy;
pub mod format;
pub mod restore;
pub mod schedule;
mod snapshot;
pub mod web;

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::config::Settings;
use crate::core::db::{DbConn, migrations};
use catalog::{ColType, Table};
use format::{ArchiveWriter, EntryKind, FileSum, Header, Manifest, Passphrase, Sha256, TableSum};

pub use restore::{RestoreOptions, RestoreReport, restore_archive};

/// Why a backup, verification or restore did not happen.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackupError {
    /// The command must change (a missing flag or passphrase, a bad path).
    #[error("{0}")]
    Usage(String),
    /// The archive is damaged, truncated or not an archive.
    #[error("{0}")]
    Corrupt(String),
    #[error("{0}")]
    Passphrase(String),
    /// The archive's schema or format is newer than this Rapport.
    #[error("{0}")]
    Schema(String),
    #[error("{0}")]
    Database(String),
    #[error("{0}")]
    Io(String),
}

impl BackupError {
    /// Usage problems exit with 2, everything else with 1.
    pub fn is_usage(&self) -> bool {
        matches!(self, BackupError::Usage(_))
    }
}

impl From<diesel::result::Error> for BackupError {
    fn from(e: diesel::result::Error) -> Self {
        BackupError::Database(format!("database error: {e}"))
    }
}

impl From<crate::core::db::DbError> for BackupError {
    fn from(e: crate::core::db::DbError) -> Self {
        BackupError::Database(e.to_string())
    }
}

/// How to write an archive.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Encrypt with this passphrase (age, scrypt).
    pub passphrase: Option<Passphrase>,
    /// Override age's scrypt cost (log2 N); `None`: about one second.
    pub work_factor: Option<u8>,
    /// Read the finished archive back and check every checksum.
    pub verify: bool,
    /// SQLite only: copy the database file's pages (`sqlite_dbpage`) instead of
    /// its rows — faster, but it restores into SQLite only.
    pub sqlite_snapshot: bool,
}

/// What [`create_archive`] wrote.
#[derive(Debug, Clone)]
pub struct Summary {
    pub path: PathBuf,
    pub bytes: u64,
    pub manifest: Manifest,
    pub seconds: f64,
    pub verified: bool,
}

/// The row sums and file list of a database, and their content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub tables: Vec<TableSum>,
    pub files: Vec<FileSum>,
    pub hash: String,
}

impl Digest {
    pub fn rows(&self, table: &str) -> Option<u64> {
        self.tables.iter().find(|t| t.name == table).map(|t| t.rows)
    }
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    r: String,
}

#[derive(QueryableByName)]
struct OneText {
    #[diesel(sql_type = Text)]
    v: String,
}

/// Run `f` inside one read-only snapshot of the database.
pub fn in_snapshot<T>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, BackupError>,
) -> Result<T, BackupError> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN")?,
        DbConn::Pg(c) => AnsiTransactionManager::begin_transaction_sql(
            c,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )?,
    }
    let result = f(conn);
    let end = match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::rollback_transaction(c),
        DbConn::Pg(c) => AnsiTransactionManager::rollback_transaction(c),
    };
    let value = result?;
    end?;
    Ok(value)
}

/// Stream the canonical lines of `table` (columns as in `table`) to `sink`;
/// returns the row count. Inside a snapshot.
pub fn dump_table(
    conn: &mut DbConn,
    table: &Table,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), BackupError>,
) -> Result<u64, BackupError> {
    let sql = catalog::select_rows(conn, table, &table.columns);
    let types: Vec<ColType> = table.columns.iter().map(|c| c.ty).collect();
    let mut line = Vec::with_capacity(1024);
    let mut rows = 0u64;
    match conn {
        DbConn::Sqlite(c) => {
            use diesel::connection::DefaultLoadingMode;
            for row in diesel::sql_query(sql).load_iter::<JsonRow, DefaultLoadingMode>(c)? {
                let row = row?;
                line.clear();
                format::canonical_line(&row.r, table, &types, &mut line)?;
                sink(&line)?;
                rows += 1;
            }
        }
        DbConn::Pg(c) => {
            c.batch_execute(&format!(
                "DECLARE rapport_backup_rows NO SCROLL CURSOR FOR {sql}"
            ))?;
            loop {
                let batch: Vec<JsonRow> =
                    diesel::sql_query("FETCH FORWARD 2000 FROM rapport_backup_rows").load(c)?;
                if batch.is_empty() {
                    break;
                }
                for row in batch {
                    line.clear();
                    format::canonical_line(&row.r, table, &types, &mut line)?;
                    sink(&line)?;
                    rows += 1;
                }
            }
            c.batch_execute("CLOSE rapport_backup_rows")?;
        }
    }
    Ok(rows)
}

/// Attachment files the database refers to, by hash.
fn attachment_hashes(conn: &mut DbConn, tables: &[Table]) -> Result<Vec<String>, BackupError> {
    let Some(t) = tables.iter().find(|t| t.name == "attachments") else {
        return Ok(Vec::new());
    };
    if t.column("sha256").is_none() {
        return Ok(Vec::new());
    }
    let order = match conn {
        DbConn::Pg(_) => " COLLATE \"C\"",
        DbConn::Sqlite(_) => "",
    };
    let rows: Vec<OneText> = diesel::sql_query(format!(
        "SELECT sha256 AS v FROM attachments GROUP BY sha256 ORDER BY sha256{order}"
    ))
    .load(conn)?;
    rows.into_iter()
        .map(|r| {
            if format::is_sha256(&r.v) {
                Ok(r.v)
            } else {
                Err(BackupError::Database(format!(
                    "the attachments table holds `{}`, which is not a SHA-256",
                    r.v
                )))
            }
        })
        .collect()
}

/// Open an attachment file and check its size; its hash is checked as it
/// is read.
fn open_attachment(data_dir: &Path, sha: &str) -> Result<(File, u64), BackupError> {
    let path = crate::core::attachments::file_path(data_dir, sha);
    let f = File::open(&path).map_err(|e| {
        BackupError::Io(format!(
            "attachment file {} is missing or unreadable: {e}",
            path.display()
        ))
    })?;
    let size = f
        .metadata()
        .map_err(|e| BackupError::Io(format!("{}: {e}", path.display())))?
        .len();
    Ok((f, size))
}

/// Reads through to `inner` and hashes what passes.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
    read: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

fn schema_version(conn: &mut DbConn) -> Result<(String, String), BackupError> {
    // Read the bookkeeping table directly: diesel's own query would try to
    // create it, which a read-only snapshot refuses.
    let versions: Vec<OneText> =
        diesel::sql_query("SELECT version AS v FROM __diesel_schema_migrations ORDER BY version")
            .load(conn)
            .map_err(|e| {
                BackupError::Database(format!(
                    "the database has no Rapport schema ({e}); run `rapport migrate` first"
                ))
            })?;
    let Some(digits) = versions.last().map(|v| v.v.clone()) else {
        return Err(BackupError::Database(
            "the database has no Rapport schema yet; run `rapport migrate` first".into(),
        ));
    };
    let name = migrations::name_of_version(&digits).unwrap_or_else(|| digits.clone());
    Ok((name, digits))
}

/// The canonical digest of a live database and its attachment files, read
/// in one snapshot: what an archive of it would record.
pub fn content_digest(conn: &mut DbConn, data_dir: &Path) -> Result<Digest, BackupError> {
    in_snapshot(conn, |conn| {
        let tables = catalog::tables(conn)?;
        let mut sums = Vec::new();
        for t in &tables {
            let mut h = Sha256::new();
            let rows = dump_table(conn, t, &mut |line| {
                h.update(line);
                Ok(())
            })?;
            sums.push(TableSum {
                name: t.name.clone(),
                rows,
                sha256: h.finish(),
                next_id_after: 0,
            });
        }
        let mut files = Vec::new();
        for sha in attachment_hashes(conn, &tables)? {
            let (f, _) = open_attachment(data_dir, &sha)?;
            let mut r = HashingReader {
                inner: f,
                hash: Sha256::new(),
                read: 0,
            };
            io::copy(&mut r, &mut io::sink()).map_err(|e| BackupError::Io(e.to_string()))?;
            files.push(FileSum {
                sha256: r.hash.finish(),
                size: r.read,
            });
        }
        let hash = format::content_hash(&sums, &files, None);
        Ok(Digest {
            tables: sums,
            files,
            hash,
        })
    })
}

/// Refuse an output path where the web server hands out files.
fn check_not_served(settings: &Settings, path: &Path) -> Result<(), BackupError> {
    let served = settings.attachments_dir();
    let abs = |p: &Path| {
        std::path::absolute(p)
            .map(|a| normalise(&a))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let (p, s) = (abs(path), abs(&served));
    let p = p.parent().map(|d| {
        std::fs::canonicalize(d)
            .unwrap_or_else(|_| d.to_path_buf())
            .join(p.file_name().unwrap_or_default())
    });
    let s = std::fs::canonicalize(&s).unwrap_or(s);
    if p.is_some_and(|p| p.starts_with(&s)) {
        return Err(BackupError::Usage(format!(
            "{} is inside the attachments directory {}; write archives elsewhere (backup.dir)",
            path.display(),
            served.display()
        )));
    }
    Ok(())
}

/// `a/./b/../c` → `a/c` without touching the disk.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A file being written that is removed unless it is kept.
struct Partial {
    path: PathBuf,
    keep: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The name an archive is written under until it is complete.
pub fn partial_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_os_string();
    s.push(".partial");
    PathBuf::from(s)
}

/// Write an archive of the database behind `conn` (and the attachment files
/// under `settings.data_dir`) to `out`, which must not exist yet.
///
/// Safe while the server runs: everything is read in one snapshot. The file
/// is written as `OUT.partial` with mode 0600 and renamed when complete, so
/// a failure (disk full, a killed process) never leaves a file that looks
/// like an archive; the partial file is removed on any error. This is the
/// function `serve` calls before applying migrations.
pub fn create_archive(
    settings: &Settings,
    conn: &mut DbConn,
    out: &Path,
    opts: &CreateOptions,
) -> Result<Summary, BackupError> {
    let started = Instant::now();
    if opts.sqlite_snapshot && conn.backend() != crate::core::db::Backend::Sqlite {
        return Err(BackupError::Usage(
            "--sqlite-snapshot copies a SQLite database file, and this database is PostgreSQL: make a portable archive (leave out --sqlite-snapshot)".into(),
        ));
    }
    check_not_served(settings, out)?;
    if out.exists() {
        return Err(BackupError::Usage(format!(
            "{} already exists; choose another --out",
            out.display()
        )));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(BackupError::Usage(format!(
            "directory {} does not exist",
            dir.display()
        )));
    }
    let partial_at = partial_path(out);
    let file = open_private(&partial_at)?;
    let mut partial = Partial {
        path: partial_at.clone(),
        keep: false,
    };
    let write_err = write_error(out);
    let created = chrono::Utc::now();
    let mut w = ArchiveWriter::new(
        BufWriter::with_capacity(1 << 20, file),
        opts.passphrase.as_ref(),
        opts.work_factor,
        created.timestamp().max(0) as u64,
        if opts.sqlite_snapshot {
            format::Compression::Pages
        } else {
            format::Compression::Rows
        },
    )
    .map_err(&write_err)?;
    let data_dir = settings.attachments_dir();
    let manifest = if opts.sqlite_snapshot {
        snapshot::write(conn, &mut w, out, created, &data_dir)?
    } else {
        write_portable(conn, &mut w, out, created, &data_dir)?
    };
    let manifest_json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Io(e.to_string()))?;
    w.bytes(format::MANIFEST_ENTRY, &manifest_json)
        .map_err(&write_err)?;
    let buffered = w.finish().map_err(&write_err)?;
    let file = buffered
        .into_inner()
        .map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(&write_err)?;
    let bytes = file.metadata().map_err(&write_err)?.len();
    drop(file);
    let mut verified = false;
    if opts.verify {
        let v = verify_archive(&partial_at, opts.passphrase.as_ref())?;
        if v.manifest.content_hash != manifest.content_hash {
            return Err(BackupError::Corrupt(
                "the archive read back differs from what was written".into(),
            ));
        }
        verified = true;
    }
    std::fs::rename(&partial_at, out).map_err(write_err)?;
    partial.keep = true;
    sync_dir(out);
    Ok(Summary {
        path: out.to_path_buf(),
        bytes,
        manifest,
        seconds: started.elapsed().as_secs_f64(),
        verified,
    })
}

/// An error writing the archive `out`.
fn write_error(out: &Path) -> impl Fn(io::Error) -> BackupError + '_ {
    move |e| BackupError::Io(format!("writing {}: {e}", out.display()))
}

/// The header of an archive made now from the database behind `conn`.
fn new_header(
    conn: &mut DbConn,
    created: chrono::DateTime<chrono::Utc>,
    tables: Vec<Table>,
    sqlite_snapshot: bool,
) -> Result<Header, BackupError> {
    let (schema_version, digits) = schema_version(conn)?;
    Ok(Header {
        format: format::FORMAT_NAME.into(),
        format_version: if sqlite_snapshot {
            format::SNAPSHOT_FORMAT_VERSION
        } else {
            format::PORTABLE_FORMAT_VERSION
        },
        rapport_version: env!("CARGO_PKG_VERSION").into(),
        schema_version,
        schema_version_digits: digits,
        backend: conn.backend().name().into(),
        created_at: created.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        tables,
        sqlite_snapshot,
    })
}

fn write_header<W: Write>(
    w: &mut ArchiveWriter<W>,
    header: &Header,
    out: &Path,
) -> Result<(), BackupError> {
    let json = serde_json::to_vec_pretty(header).map_err(|e| BackupError::Io(e.to_string()))?;
    w.bytes(format::HEADER_ENTRY, &json)
        .map_err(write_error(out))
}

/// The rows of every table, read in one snapshot, then the attachments.
fn write_portable<W: Write>(
    conn: &mut DbConn,
    w: &mut ArchiveWriter<W>,
    out: &Path,
    created: chrono::DateTime<chrono::Utc>,
    data_dir: &Path,
) -> Result<Manifest, BackupError> {
    let write_err = write_error(out);
    in_snapshot(conn, |conn| {
        let tables = catalog::tables(conn)?;
        let header = new_header(conn, created, tables.clone(), false)?;
        write_header(w, &header, out)?;
        let mut sums = Vec::new();
        for t in &tables {
            let next_id_after = catalog::high_water(conn, t)?;
            let mut h = Sha256::new();
            let mut chunk: Vec<u8> = Vec::with_capacity(format::CHUNK_BYTES + 64 * 1024);
            let mut seq = 0u32;
            let rows = dump_table(conn, t, &mut |line| {
                h.update(line);
                chunk.extend_from_slice(line);
                if chunk.len() >= format::CHUNK_BYTES {
                    seq += 1;
                    w.bytes(&format::chunk_path(&t.name, seq), &chunk)
                        .map_err(&write_err)?;
                    chunk.clear();
                }
                Ok(())
            })?;
            if !chunk.is_empty() {
                seq += 1;
                w.bytes(&format::chunk_path(&t.name, seq), &chunk)
                    .map_err(&write_err)?;
            }
            sums.push(TableSum {
                name: t.name.clone(),
                rows,
                sha256: h.finish(),
                next_id_after,
            });
        }
        let files = write_files(w, data_dir, attachment_hashes(conn, &tables)?, out)?;
        let content_hash = format::content_hash(&sums, &files, None);
        Ok(Manifest {
            header,
            sums,
            attachments: files,
            database: None,
            content_hash,
        })
    })
}

/// Append the attachment files named by `hashes`, checking each against
/// its name as it is read.
fn write_files<W: Write>(
    w: &mut ArchiveWriter<W>,
    data_dir: &Path,
    hashes: Vec<String>,
    out: &Path,
) -> Result<Vec<FileSum>, BackupError> {
    let mut files = Vec::new();
    for sha in hashes {
        let (f, size) = open_attachment(data_dir, &sha)?;
        let mut r = HashingReader {
            inner: f.take(size),
            hash: Sha256::new(),
            read: 0,
        };
        w.entry(&format::file_path(&sha), size, &mut r)
            .map_err(write_error(out))?;
        let got = r.hash.finish();
        if got != sha || r.read != size {
            return Err(BackupError::Io(format!(
                "attachment file {} is damaged on disk: its content hashes to {got}",
                crate::core::attachments::file_path(data_dir, &sha).display()
            )));
        }
        files.push(FileSum { sha256: sha, size });
    }
    Ok(files)
}

/// Create `path` new, readable by its owner only.
fn open_private(path: &Path) -> Result<File, BackupError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                BackupError::Usage(format!(
                    "{} exists (another backup running, or one that was interrupted); remove it if no backup is running",
                    path.display()
                ))
            } else {
                BackupError::Io(format!("cannot create {}: {e}", path.display()))
            }
        })
}

/// Make a rename durable.
pub(crate) fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// The result of checking an archive.
#[derive(Debug, Clone)]
pub struct Verified {
    pub manifest: Manifest,
    pub bytes: u64,
    pub encrypted: bool,
}

/// Called by [`read_archive`] for each part of an archive, in order.
pub trait Visitor {
    /// The header, before any row: refuse early here.
    fn header(&mut self, _h: &Header) -> Result<(), BackupError> {
        Ok(())
    }
    /// One chunk of a table's lines, already checked line by line (its
    /// table checksum is only known at the end).
    fn rows(&mut self, _table: &Table, _lines: &[u8]) -> Result<(), BackupError> {
        Ok(())
    }
    /// Where to copy an attachment file while it is hashed; `None` skips.
    fn file_start(&mut self, _sha: &str) -> Result<Option<Sink>, BackupError> {
        Ok(None)
    }
    /// The file copied by `file_start` is complete and its hash matched.
    fn file_done(&mut self, _sha: &str) -> Result<(), BackupError> {
        Ok(())
    }
    /// Where to copy a snapshot's database file while it is hashed; `None`
    /// skips. Its checksum is compared with the manifest at the end.
    fn database_start(&mut self) -> Result<Option<Sink>, BackupError> {
        Ok(None)
    }
}

/// Where a [`Visitor`] has an entry copied.
pub type Sink = Box<dyn Write + Send>;

/// Read an entry to its end, hashing it and copying it into `copy`;
/// returns its SHA-256 and length. A large entry (a snapshot's database
/// file) is hashed and written on a second thread while this one
/// decompresses.
fn copy_hashed(
    entry: &mut impl Read,
    mut copy: Option<Sink>,
    what: &str,
    size: u64,
) -> Result<(String, u64), BackupError> {
    const BUF: usize = 1 << 20;
    let write_err = |e: io::Error| BackupError::Io(format!("writing {what}: {e}"));
    let fill = |entry: &mut dyn Read, buf: &mut Vec<u8>| -> Result<usize, BackupError> {
        buf.resize(BUF, 0);
        let mut n = 0;
        while n < BUF {
            match entry.read(&mut buf[n..]).map_err(format::damaged)? {
                0 => break,
                k => n += k,
            }
        }
        buf.truncate(n);
        Ok(n)
    };
    if size < 16 * BUF as u64 {
        let mut h = Sha256::new();
        let mut buf = Vec::new();
        let mut read = 0u64;
        while fill(entry, &mut buf)? > 0 {
            h.update(&buf);
            read += buf.len() as u64;
            if let Some(w) = copy.as_mut() {
                w.write_all(&buf).map_err(write_err)?;
            }
        }
        if let Some(mut w) = copy {
            w.flush().map_err(write_err)?;
        }
        return Ok((h.finish(), read));
    }
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let worker = scope.spawn(move || -> io::Result<String> {
            let mut h = Sha256::new();
            for buf in full_rx {
                h.update(&buf);
                if let Some(w) = copy.as_mut() {
                    w.write_all(&buf)?;
                }
                let _ = empty_tx.send(buf);
            }
            if let Some(w) = copy.as_mut() {
                w.flush()?;
            }
            Ok(h.finish())
        });
        let mut read = 0u64;
        let result = loop {
            let mut buf = empty_rx.try_recv().unwrap_or_default();
            match fill(entry, &mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => read += n as u64,
                Err(e) => break Err(e),
            }
            if full_tx.send(buf).is_err() {
                break Ok(()); // the worker failed: its error is reported below
            }
        };
        drop(full_tx);
        let hashed = worker
            .join()
            .map_err(|_| BackupError::Io(format!("writing {what}: the writer thread panicked")))?
            .map_err(write_err)?;
        result.map(|()| (hashed, read))
    })
}

struct NoVisit;
impl Visitor for NoVisit {}

/// Open an archive file for reading.
fn open_input(path: &Path) -> Result<(BufReader<File>, u64), BackupError> {
    let f = File::open(path)
        .map_err(|e| BackupError::Usage(format!("cannot open {}: {e}", path.display())))?;
    let bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((BufReader::with_capacity(1 << 20, f), bytes))
}

/// Is the archive at `path` encrypted?
pub fn is_encrypted(path: &Path) -> Result<bool, BackupError> {
    let (mut r, _) = open_input(path)?;
    format::sniff(&mut r)
}

/// Check everything in an archive without a database.
pub fn verify_archive(
    path: &Path,
    passphrase: Option<&Passphrase>,
) -> Result<Verified, BackupError> {
    let (r, bytes) = open_input(path)?;
    let mut probe = r;
    let encrypted = format::sniff(&mut probe)?;
    let manifest = read_archive(probe, passphrase, &mut NoVisit)?;
    Ok(Verified {
        manifest,
        bytes,
        encrypted,
    })
}

/// Read a whole archive, checking its structure, each line, every checksum
/// and the manifest, and show each part to `visit`. Returns the manifest
/// only when everything matched.
pub fn read_archive(
    input: BufReader<File>,
    passphrase: Option<&Passphrase>,
    visit: &mut dyn Visitor,
) -> Result<Manifest, BackupError> {
    let stream = format::open_stream(input, passphrase)?;
    let mut tar = tar::Archive::new(stream);
    let mut header: Option<Header> = None;
    let mut manifest: Option<Manifest> = None;
    // Per table in header order: (rows, hash, chunks seen).
    let mut sums: Vec<(u64, Sha256, u32)> = Vec::new();
    let mut current = 0usize;
    let mut files: Vec<FileSum> = Vec::new();
    let mut database: Option<FileSum> = None;
    let mut chunk = Vec::new();
    {
        let entries = tar.entries().map_err(format::damaged)?;
        for entry in entries {
            let mut entry = entry.map_err(format::damaged)?;
            if manifest.is_some() {
                return Err(BackupError::Corrupt(
                    "the archive has entries after its manifest".into(),
                ));
            }
            let path = entry
                .path()
                .map_err(format::damaged)?
                .to_string_lossy()
                .into_owned();
            let size = entry.size();
            let kind = format::entry_kind(&path).ok_or_else(|| {
                BackupError::Corrupt(format!(
                    "the archive is damaged: it holds an unexpected entry `{path}`"
                ))
            })?;
            let read_small = |entry: &mut tar::Entry<'_, Box<dyn Read>>, limit: u64| {
                if size > limit {
                    return Err(BackupError::Corrupt(format!(
                        "the archive is damaged: entry `{path}` is too large"
                    )));
                }
                let mut buf = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut buf).map_err(format::damaged)?;
                Ok(buf)
            };
            match (&kind, &header) {
                (EntryKind::Header, None) => {
                    let buf = read_small(&mut entry, 64 << 20)?;
                    let h: Header = serde_json::from_slice(&buf).map_err(|e| {
                        BackupError::Corrupt(format!("the archive header is damaged: {e}"))
                    })?;
                    format::check_header(&h)?;
                    visit.header(&h)?;
                    sums = h.tables.iter().map(|_| (0, Sha256::new(), 0)).collect();
                    header = Some(h);
                }
                (_, None) => {
                    return Err(BackupError::Corrupt(
                        "the archive does not start with its header".into(),
                    ));
                }
                (EntryKind::Header, Some(_)) => {
                    return Err(BackupError::Corrupt("the archive has two headers".into()));
                }
                (EntryKind::Chunk { table, .. }, Some(h)) if h.sqlite_snapshot => {
                    return Err(BackupError::Corrupt(format!(
                        "the archive is damaged: rows of {table} in a SQLite snapshot"
                    )));
                }
                (EntryKind::Database, Some(h)) => {
                    if !h.sqlite_snapshot {
                        return Err(BackupError::Corrupt(
                            "the archive is damaged: a database file in a portable archive".into(),
                        ));
                    }
                    if database.is_some() || !files.is_empty() {
                        return Err(BackupError::Corrupt(
                            "the archive is damaged: its database file is out of place".into(),
                        ));
                    }
                    let copy = visit.database_start()?;
                    let (sha256, read) = copy_hashed(&mut entry, copy, "the database file", size)?;
                    if read != size {
                        return Err(BackupError::Corrupt(
                            "the archive is truncated inside its database file".into(),
                        ));
                    }
                    database = Some(FileSum { sha256, size });
                }
                (EntryKind::Chunk { table, seq }, Some(h)) => {
                    if !files.is_empty() {
                        return Err(BackupError::Corrupt(format!(
                            "rows of {table} after the attachment files"
                        )));
                    }
                    let Some(idx) = h.tables[current..]
                        .iter()
                        .position(|t| &t.name == table)
                        .map(|i| i + current)
                    else {
                        return Err(BackupError::Corrupt(format!(
                            "the archive is damaged: rows of table {table}, which the header does not list (or out of order)"
                        )));
                    };
                    current = idx;
                    let t = &h.tables[idx];
                    let (rows, hash, chunks) = &mut sums[idx];
                    if *seq != *chunks + 1 {
                        return Err(BackupError::Corrupt(format!(
                            "the archive is damaged: table {table}: chunk {seq} where {} was expected",
                            *chunks + 1
                        )));
                    }
                    *chunks = *seq;
                    chunk.clear();
                    chunk = read_small(&mut entry, 256 << 20)?;
                    if !chunk.ends_with(b"\n") {
                        return Err(BackupError::Corrupt(format!(
                            "the archive is damaged: table {table}: chunk {seq} does not end with a whole row"
                        )));
                    }
                    for (i, line) in chunk[..chunk.len() - 1].split(|b| *b == b'\n').enumerate() {
                        format::check_line(line, t).map_err(|e| {
                            BackupError::Corrupt(format!(
                                "the archive is damaged: table {table}, row {}: {e}",
                                *rows + i as u64 + 1
                            ))
                        })?;
                    }
                    *rows += chunk.iter().filter(|b| **b == b'\n').count() as u64;
                    hash.update(&chunk);
                    visit.rows(t, &chunk)?;
                }
                (EntryKind::File { sha256 }, Some(_)) => {
                    if files.last().is_some_and(|f| f.sha256 >= *sha256) {
                        return Err(BackupError::Corrupt(format!(
                            "attachment {sha256} out of order or twice"
                        )));
                    }
                    let copy = visit.file_start(sha256)?;
                    let (got, read) =
                        copy_hashed(&mut entry, copy, &format!("attachment {sha256}"), size)?;
                    if got != *sha256 || read != size {
                        return Err(BackupError::Corrupt(format!(
                            "attachment {sha256} does not match its checksum"
                        )));
                    }
                    visit.file_done(sha256)?;
                    files.push(FileSum {
                        sha256: sha256.clone(),
                        size: read,
                    });
                }
                (EntryKind::Manifest, Some(h)) => {
                    let buf = read_small(&mut entry, 64 << 20)?;
                    let m: Manifest = serde_json::from_slice(&buf).map_err(|e| {
                        BackupError::Corrupt(format!("the manifest is damaged: {e}"))
                    })?;
                    if m.header != *h {
                        return Err(BackupError::Corrupt(
                            "the manifest does not match the archive header".into(),
                        ));
                    }
                    manifest = Some(m);
                }
            }
        }
    }
    // Read to the very end so zstd checks its frame checksum and age its
    // last chunk: a truncated or altered tail fails here.
    let mut rest = tar.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(format::damaged)?;
    let Some(header) = header else {
        return Err(BackupError::Corrupt("the archive has no header".into()));
    };
    let Some(m) = manifest else {
        return Err(BackupError::Corrupt(
            "the archive is truncated: its manifest is missing".into(),
        ));
    };
    if m.sums.len() != header.tables.len() {
        return Err(BackupError::Corrupt(
            "the manifest lists other tables than the header".into(),
        ));
    }
    if m.database != database {
        return Err(BackupError::Corrupt(match (&m.database, &database) {
            (Some(_), None) => "the archive is damaged: its database file is missing".into(),
            (None, Some(_)) => {
                "the archive is damaged: its manifest does not list its database file".into()
            }
            _ => "the archive is damaged: its database file does not match its checksum".into(),
        }));
    }
    for ((t, (rows, hash, _)), s) in header.tables.iter().zip(sums).zip(&m.sums) {
        if header.sqlite_snapshot {
            // Rows are counted when the snapshot is restored; the file's
            // checksum above covers them.
            if s.name != t.name {
                return Err(BackupError::Corrupt(
                    "the manifest lists other tables than the header".into(),
                ));
            }
            continue;
        }
        let got = hash.finish();
        if s.name != t.name || s.rows != rows || s.sha256 != got {
            return Err(BackupError::Corrupt(format!(
                "table {}: {rows} rows with checksum {got}, but the manifest says {} rows with {}",
                t.name, s.rows, s.sha256
            )));
        }
    }
    if m.attachments != files {
        return Err(BackupError::Corrupt(format!(
            "the archive holds {} attachment files but the manifest lists {}",
            files.len(),
            m.attachments.len()
        )));
    }
    if format::content_hash(&m.sums, &m.attachments, m.database.as_ref()) != m.content_hash {
        return Err(BackupError::Corrupt(
            "the manifest's content hash does not match its checksums".into(),
        ));
    }
    Ok(m)
}

/// Can this Rapport restore an archive of `h`'s schema?
pub fn check_schema_supported(h: &Header) -> Result<(), BackupError> {
    let latest = migrations::latest_known();
    let latest_digits = migrations::version_of(&latest);
    if h.schema_version_digits > latest_digits {
        return Err(BackupError::Schema(format!(
            "the archive's schema {} is newer than this Rapport {} knows (latest {latest}); restore it with the Rapport version that made it ({}) or newer",
            h.schema_version,
            env!("CARGO_PKG_VERSION"),
            h.rapport_version
        )));
    }
    if migrations::name_of_version(&h.schema_version_digits).is_none() {
        return Err(BackupError::Schema(format!(
            "the archive's schema {} is not one this Rapport {} knows",
            h.schema_version,
            env!("CARGO_PKG_VERSION")
        )));
    }
    Ok(())
}

/// Files of one archive in a backup directory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listed {
    pub path: PathBuf,
    pub bytes: u64,
    /// Seconds since it was written.
    pub age_seconds: u64,
    pub encrypted: bool,
    /// `verified`, `ok` (header readable, contents not checked), `encrypted`
    /// (not checked without the passphrase), `incomplete`, `corrupt: …`.
    pub status: String,
}

/// Archive names a directory holds: `rapport-YYYYMMDDTHHMMSSZ.tar.zst[.age]`.
pub fn archive_name(at: chrono::DateTime<chrono::Utc>, encrypted: bool) -> String {
    format!(
        "rapport-{}.tar.zst{}",
        at.format("%Y%m%dT%H%M%SZ"),
        if encrypted { ".age" } else { "" }
    )
}

/// When an archive of that name was taken.
pub fn archive_time(name: &str) -> Option<chrono::NaiveDateTime> {
    let stamp = name.strip_prefix("rapport-")?;
    let stamp = stamp
        .strip_suffix(".tar.zst")
        .or_else(|| stamp.strip_suffix(".tar.zst.age"))?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok()
}

/// The archives in `dir`, oldest first; `.partial` files too (an archive
/// still being written, or one whose writer was killed).
pub fn list_archives(
    dir: &Path,
    verify: bool,
    passphrase: Option<&Passphrase>,
) -> Result<Vec<Listed>, BackupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BackupError::Io(format!("{}: {e}", dir.display()))),
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let partial = name.strip_suffix(".partial");
        let Some(taken) = archive_time(partial.unwrap_or(&name)) else {
            continue;
        };
        let path = e.path();
        let bytes = e.metadata().map(|m| m.len()).unwrap_or(0);
        let age_seconds = (chrono::Utc::now().naive_utc() - taken)
            .num_seconds()
            .max(0) as u64;
        let encrypted = name.contains(".age");
        let status = if partial.is_some() {
            "incomplete".to_string()
        } else if verify && (!encrypted || passphrase.is_some()) {
            match verify_archive(&path, passphrase) {
                Ok(_) => "verified".into(),
                Err(e) => format!("corrupt: {e}"),
            }
        } else if encrypted {
            match is_encrypted(&path) {
                Ok(true) => "encrypted".into(),
                Ok(false) => "corrupt: named .age but not encrypted".into(),
                Err(e) => format!("corrupt: {e}"),
            }
        } else {
            match quick_check(&path) {
                Ok(()) => "ok".into(),
                Err(e) => format!("corrupt: {e}"),
            }
        };
        out.push(Listed {
            path,
            bytes,
            age_seconds,
            encrypted,
            status,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Is the header of an unencrypted archive readable?
fn quick_check(path: &Path) -> Result<(), BackupError> {
    read_header(path, None).map(|_| ())
}

/// The header of an archive (its first entry), checked; nothing else read.
pub fn read_header(path: &Path, passphrase: Option<&Passphrase>) -> Result<Header, BackupError> {
    let (r, _) = open_input(path)?;
    let stream = format::open_stream(r, passphrase)?;
    let mut tar = tar::Archive::new(stream);
    let mut entries = tar.entries().map_err(format::damaged)?;
    let first = entries
        .next()
        .ok_or_else(|| BackupError::Corrupt("the archive is empty".into()))?
        .map_err(format::damaged)?;
    let path_ok = first
        .path()
        .map(|p| p.to_string_lossy() == format::HEADER_ENTRY)
        .unwrap_or(false);
    if !path_ok {
        return Err(BackupError::Corrupt(
            "the archive does not start with its header".into(),
        ));
    }
    let h: Header = serde_json::from_reader(first.take(64 << 20))
        .map_err(|e| BackupError::Corrupt(format!("the archive is damaged: header: {e}")))?;
    format::check_header(&h)?;
    Ok(h)
}

/// Remove all but the newest `keep` archives in `dir` (0 keeps all), and
/// partial files older than a day. Returns the paths removed.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, BackupError> {
    let mut removed = Vec::new();
    let mut archives = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(BackupError::Io(format!("{}: {e}", dir.display()))),
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(base) = name.strip_suffix(".partial") {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 86_400);
            if archive_time(base).is_some() && old && std::fs::remove_file(e.path()).is_ok() {
                removed.push(e.path());
            }
        } else if let Some(t) = archive_time(&name) {
            archives.push((t, e.path()));
        }
    }
    if keep == 0 {
        return Ok(removed);
    }
    archives.sort();
    let excess = archives.len().saturating_sub(keep);
    for (_, p) in archives.into_iter().take(excess) {
        std::fs::remove_file(&p).map_err(|e| BackupError::Io(format!("{}: {e}", p.display())))?;
        removed.push(p);
    }
    Ok(removed)
}
