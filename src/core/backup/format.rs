//! The archive: a tar stream, compressed with zstd, optionally encrypted
//! with age (scrypt passphrase). Entries, in this order:
//!
//! - `header.json`: format and schema versions, source backend, the tables
//!   and their columns (so a reader can refuse early);
//! - `tables/<table>/<n>.jsonl`: the rows, one JSON array per line in column
//!   order, split into chunks of a few MiB so nothing is held whole;
//! - `sqlite/rapport.sqlite` (SQLite snapshots only, instead of the
//!   table chunks): the database file itself, its pages read through `sqlite_dbpage`
//!   inside the backup's read transaction;
//! - `files/<sha256>`: each attachment file once;
//! - `manifest.json`: everything in the header plus per-table row counts and
//!   SHA-256 of the table's lines, the id counters, the attachment list and
//!   the content hash. Last, because it is only known at the end.
//!
//! A **snapshot** (`rapport backup create --sqlite-snapshot`, format
//! version 2) is the SQLite-only fast path: pages instead of rows, so it
//! restores into SQLite only. Its manifest holds the row count of each table
//! (no per-table checksum) and the SHA-256 of the database file; its content
//! hash covers that file, so it is not comparable with a portable archive's.
//! Portable archives stay format version 1, which every Rapport reads.
//!
//! Values in a line: `null`, integers, reals (non-finite ones as the strings
//! `"NaN"`, `"Infinity"`, `"-Infinity"`), booleans, strings for text and
//! JSON, timestamps as `"YYYY-MM-DD HH:MM:SS[.fff[fff]]"` (the text diesel
//! writes on SQLite), bytes as lowercase hex.
//!
//! Anyone can look inside: `zstd -dc FILE | tar -tv` (after `age -d` for an
//! encrypted one).

use std::io::{self, BufRead, BufReader, Read, Write};

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::BackupError;
use super::catalog::{ColType, Table};

pub const FORMAT_NAME: &str = "rapport-backup";
/// The newest format this Rapport reads (and writes, for snapshots).
pub const FORMAT_VERSION: u32 = 2;
/// Portable archives (rows as lines).
pub const PORTABLE_FORMAT_VERSION: u32 = 1;
/// SQLite snapshots: the first format version that has them.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 2;
pub const DATABASE_ENTRY: &str = "sqlite/rapport.sqlite";
pub const HEADER_ENTRY: &str = "header.json";
pub const MANIFEST_ENTRY: &str = "manifest.json";
/// Table chunks are cut once they pass this size.
pub const CHUNK_BYTES: usize = 4 << 20;
const AGE_MAGIC: &[u8] = b"age-encryption.org/";
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// What is known before the rows are read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub format_version: u32,
    pub rapport_version: String,
    /// Name of the newest applied migration (or its bare version when this
    /// Rapport does not know it).
    pub schema_version: String,
    /// Its diesel version digits, which order migrations.
    pub schema_version_digits: String,
    pub backend: String,
    pub created_at: String,
    pub tables: Vec<Table>,
    /// A SQLite snapshot (the database file) rather than portable rows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sqlite_snapshot: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSum {
    pub name: String,
    pub rows: u64,
    pub sha256: String,
    /// Last id handed out (0 when the table has no serial id).
    pub next_id_after: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(flatten)]
    pub header: Header,
    pub sums: Vec<TableSum>,
    pub attachments: Vec<FileSum>,
    /// The database file of a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<FileSum>,
    /// [`content_hash`] over `sums`, `attachments` and `database`.
    pub content_hash: String,
}

/// The canonical hash of a database's logical content: SHA-256 over one
/// line per table (`table NAME ROWS SHA256`, by name) and one per
/// attachment file (`file SHA256 SIZE`, by hash). Equal for two databases
/// of either backend holding the same rows and files. A snapshot's starts
/// with `database SHA256 SIZE` (its tables have no checksums of their own).
pub fn content_hash(sums: &[TableSum], files: &[FileSum], database: Option<&FileSum>) -> String {
    let mut sums: Vec<&TableSum> = sums.iter().collect();
    sums.sort_by(|a, b| a.name.cmp(&b.name));
    let mut files: Vec<&FileSum> = files.iter().collect();
    files.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    let mut h = Sha256::new();
    if let Some(d) = database {
        h.update(format!("database {} {}\n", d.sha256, d.size).as_bytes());
    }
    for s in sums {
        h.update(format!("table {} {} {}\n", s.name, s.rows, s.sha256).as_bytes());
    }
    for f in files {
        h.update(format!("file {} {}\n", f.sha256, f.size).as_bytes());
    }
    h.finish()
}

/// Incremental SHA-256 (ring).
pub struct Sha256(ring::digest::Context);

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    pub fn new() -> Self {
        Sha256(ring::digest::Context::new(&ring::digest::SHA256))
    }
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    pub fn finish(self) -> String {
        crate::core::tls::hex(self.0.finish().as_ref())
    }
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(String),
    Ts(NaiveDateTime),
    Bytes(Vec<u8>),
}

const TS_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

fn parse_ts(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, TS_FORMAT)
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A value as a database or an archive line gave it, read as `ty`.
/// `None` when it does not fit the type.
pub fn from_json(v: Json, ty: ColType) -> Option<Value> {
    Some(match (ty, v) {
        (_, Json::Null) => Value::Null,
        (ColType::Int, Json::Number(n)) => Value::Int(n.as_i64()?),
        (ColType::Int, Json::String(s)) => Value::Int(s.trim().parse().ok()?),
        (ColType::Int, Json::Bool(b)) => Value::Int(i64::from(b)),
        (ColType::Real, Json::Number(n)) => Value::Real(n.as_f64()?),
        (ColType::Real, Json::String(s)) => Value::Real(match s.trim() {
            "NaN" => f64::NAN,
            "Infinity" | "inf" => f64::INFINITY,
            "-Infinity" | "-inf" => f64::NEG_INFINITY,
            t => t.parse().ok()?,
        }),
        (ColType::Bool, Json::Bool(b)) => Value::Bool(b),
        (ColType::Bool, Json::Number(n)) => match n.as_i64()? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            _ => return None,
        },
        (ColType::Bool, Json::String(s)) => match s.as_str() {
            "true" | "t" | "1" => Value::Bool(true),
            "false" | "f" | "0" => Value::Bool(false),
            _ => return None,
        },
        (ColType::Timestamp, Json::String(s)) => Value::Ts(parse_ts(&s)?),
        (ColType::Text | ColType::Json, Json::String(s)) => Value::Text(s),
        (ColType::Text | ColType::Json, Json::Number(n)) => Value::Text(n.to_string()),
        (ColType::Bytes, Json::String(s)) => Value::Bytes(parse_hex(&s)?),
        _ => return None,
    })
}

/// Append `v` in canonical form.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Real(f) if f.is_nan() => out.extend_from_slice(b"\"NaN\""),
        Value::Real(f) if f.is_infinite() => out.extend_from_slice(if *f > 0.0 {
            b"\"Infinity\"".as_slice()
        } else {
            b"\"-Infinity\"".as_slice()
        }),
        Value::Real(f) => {
            // serde_json prints the shortest text that reads back the same.
            let _ = serde_json::to_writer(&mut *out, f);
        }
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Text(s) => {
            let _ = serde_json::to_writer(&mut *out, s);
        }
        Value::Ts(t) => {
            out.push(b'"');
            out.extend_from_slice(t.format(TS_FORMAT).to_string().as_bytes());
            out.push(b'"');
        }
        Value::Bytes(b) => {
            out.push(b'"');
            out.extend_from_slice(crate::core::tls::hex(b).as_bytes());
            out.push(b'"');
        }
    }
}

/// Append `v`, read as `ty`, in canonical form; `false` when it does not fit
/// the type. The common cases are written straight from the JSON value.
fn write_canonical(out: &mut Vec<u8>, v: &Json, ty: ColType) -> bool {
    match (ty, v) {
        (_, Json::Null) => out.extend_from_slice(b"null"),
        (ColType::Int, Json::Number(n)) if n.is_i64() => {
            let _ = serde_json::to_writer(&mut *out, n);
        }
        (ColType::Text | ColType::Json, Json::String(s)) => {
            let _ = serde_json::to_writer(&mut *out, s);
        }
        (ColType::Bool, Json::Bool(b)) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" });
        }
        _ => match from_json(v.clone(), ty) {
            Some(value) => write_value(out, &value),
            None => return false,
        },
    }
    true
}

/// Turn the JSON a database rendered for one row (one or more arrays one
/// after another, see [`super::catalog::select_rows`]) into the canonical
/// line, newline included.
pub fn canonical_line(
    rendered: &str,
    table: &Table,
    types: &[ColType],
    out: &mut Vec<u8>,
) -> Result<(), BackupError> {
    let bad = |what: String| {
        BackupError::Database(format!(
            "table {}: a row the backup cannot read ({what})",
            table.name
        ))
    };
    let mut values = Vec::with_capacity(types.len());
    for part in serde_json::Deserializer::from_str(rendered).into_iter::<Vec<Json>>() {
        values.extend(part.map_err(|e| bad(e.to_string()))?);
    }
    if values.len() != types.len() {
        return Err(bad(format!(
            "{} values for {} columns",
            values.len(),
            types.len()
        )));
    }
    out.push(b'[');
    for (i, (v, ty)) in values.into_iter().zip(types).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if !write_canonical(out, &v, *ty) {
            let col = &table.columns[i].name;
            return Err(bad(format!(
                "column {col}: {} is not a {ty:?} value",
                v.to_string().chars().take(60).collect::<String>()
            )));
        }
    }
    out.extend_from_slice(b"]\n");
    Ok(())
}

/// Check one archived line against its table's columns.
pub fn check_line(line: &[u8], table: &Table) -> Result<(), String> {
    let values: Vec<Json> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    if values.len() != table.columns.len() {
        return Err(format!(
            "{} values for {} columns",
            values.len(),
            table.columns.len()
        ));
    }
    for (v, c) in values.into_iter().zip(&table.columns) {
        if from_json(v, c.ty).is_none() {
            return Err(format!(
                "column {} does not hold a {:?} value",
                c.name, c.ty
            ));
        }
    }
    Ok(())
}

/// A passphrase, kept out of `Debug` output.
#[derive(Clone)]
pub struct Passphrase(pub age::secrecy::SecretString);

impl Passphrase {
    pub fn new(s: String) -> Self {
        Passphrase(age::secrecy::SecretString::from(s))
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(****)")
    }
}

/// The output layers, finished innermost first.
enum Sink<W: Write> {
    Plain(zstd::Encoder<'static, W>),
    Encrypted(zstd::Encoder<'static, age::stream::StreamWriter<W>>),
}

/// Writes the entries of an archive to `W`.
pub struct ArchiveWriter<W: Write> {
    tar: tar::Builder<Sink<W>>,
    mtime: u64,
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(z) => z.write(buf),
            Sink::Encrypted(z) => z.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(z) => z.flush(),
            Sink::Encrypted(z) => z.flush(),
        }
    }
}

impl<W: Write> ArchiveWriter<W> {
    /// zstd with frame checksums; with a passphrase, the compressed
    /// stream is encrypted with age (scrypt). `work_factor` overrides age's
    /// calibrated scrypt cost (about one second).
    pub fn new(
        out: W,
        passphrase: Option<&Passphrase>,
        work_factor: Option<u8>,
        mtime: u64,
        compression: Compression,
    ) -> io::Result<Self> {
        let sink = match passphrase {
            None => Sink::Plain(compressor(out, compression)?),
            Some(p) => {
                let mut recipient = age::scrypt::Recipient::new(p.0.clone());
                if let Some(n) = work_factor.filter(|n| (1..64).contains(n)) {
                    recipient.set_work_factor(n);
                }
                let enc = age::Encryptor::with_recipients(std::iter::once(
                    &recipient as &dyn age::Recipient,
                ))
                .map_err(io::Error::other)?;
                Sink::Encrypted(compressor(enc.wrap_output(out)?, compression)?)
            }
        };
        let mut tar = tar::Builder::new(sink);
        tar.mode(tar::HeaderMode::Deterministic);
        Ok(ArchiveWriter { tar, mtime })
    }

    /// Append one entry of `size` bytes read from `data`.
    pub fn entry(&mut self, path: &str, size: u64, data: impl Read) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o600);
        h.set_mtime(self.mtime);
        h.set_entry_type(tar::EntryType::Regular);
        self.tar.append_data(&mut h, path, data)
    }

    pub fn bytes(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        self.entry(path, data.len() as u64, data)
    }

    /// Close every layer; returns the underlying writer.
    pub fn finish(self) -> io::Result<W> {
        match self.tar.into_inner()? {
            Sink::Plain(z) => z.finish(),
            Sink::Encrypted(z) => z.finish()?.finish(),
        }
    }
}

/// How hard to compress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Rows: level 3 on one worker thread, so compressing overlaps with
    /// reading the rows.
    Rows,
    /// Database pages (a SQLite snapshot): level 1 on every core (≤ 4); the
    /// pages come faster than one core compresses them, and level 3 makes
    /// the file only 2 % smaller.
    Pages,
}

fn compressor<W: Write>(out: W, how: Compression) -> io::Result<zstd::Encoder<'static, W>> {
    let (level, workers) = match how {
        Compression::Rows => (3, 1),
        Compression::Pages => (
            1,
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4)) as u32,
        ),
    };
    let mut z = zstd::Encoder::new(out, level)?;
    z.include_checksum(true)?;
    z.multithread(workers)?;
    Ok(z)
}

/// Is the file at the start of `r` encrypted? Errors for something that is
/// not an archive at all.
pub fn sniff(r: &mut impl BufRead) -> Result<bool, BackupError> {
    let head = r
        .fill_buf()
        .map_err(|e| BackupError::Io(format!("cannot read the archive: {e}")))?;
    if head.starts_with(AGE_MAGIC) {
        Ok(true)
    } else if head.starts_with(ZSTD_MAGIC) {
        Ok(false)
    } else if head.is_empty() {
        Err(BackupError::Corrupt("the archive is empty".into()))
    } else {
        Err(BackupError::Corrupt(
            "this is not a Rapport backup archive (neither zstd nor age data)".into(),
        ))
    }
}

/// The decrypted, decompressed tar stream of an archive.
pub fn open_stream<R: BufRead + 'static>(
    mut input: R,
    passphrase: Option<&Passphrase>,
) -> Result<Box<dyn Read>, BackupError> {
    let encrypted = sniff(&mut input)?;
    let plain: Box<dyn BufRead> = if encrypted {
        let Some(p) = passphrase else {
            return Err(BackupError::Usage(
                "the archive is encrypted: give its passphrase with --passphrase-file FILE or the RAPPORT_PASSPHRASE environment variable".into(),
            ));
        };
        let dec = age::Decryptor::new_buffered(input).map_err(|e| match e {
            age::DecryptError::Io(e) => {
                BackupError::Corrupt(format!("the archive is damaged: {e}"))
            }
            other => BackupError::Corrupt(format!(
                "the archive's encryption header is damaged: {other}"
            )),
        })?;
        let identity = age::scrypt::Identity::new(p.0.clone());
        let reader = dec
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::DecryptionFailed
                | age::DecryptError::KeyDecryptionFailed
                | age::DecryptError::NoMatchingKeys => BackupError::Passphrase(
                    "wrong passphrase: the archive cannot be decrypted with it".into(),
                ),
                age::DecryptError::InvalidMac => BackupError::Passphrase(
                    "wrong passphrase, or the archive's header is damaged".into(),
                ),
                other => BackupError::Corrupt(format!("cannot decrypt the archive: {other}")),
            })?;
        Box::new(BufReader::with_capacity(1 << 16, reader))
    } else {
        if passphrase.is_some() {
            tracing::debug!("passphrase given for an archive that is not encrypted");
        }
        Box::new(input)
    };
    let z = zstd::Decoder::with_buffer(plain)
        .map_err(|e| BackupError::Corrupt(format!("the archive is damaged: {e}")))?;
    Ok(Box::new(z))
}

/// A read error inside the archive, as a message for the user.
pub fn damaged(e: io::Error) -> BackupError {
    let msg = e.to_string();
    if e.kind() == io::ErrorKind::UnexpectedEof || msg.contains("incomplete") {
        BackupError::Corrupt(format!("the archive is truncated ({msg})"))
    } else {
        BackupError::Corrupt(format!("the archive is damaged ({msg})"))
    }
}

/// What kind of entry a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Header,
    Manifest,
    Chunk { table: String, seq: u32 },
    Database,
    File { sha256: String },
}

pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn is_table_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub fn chunk_path(table: &str, seq: u32) -> String {
    format!("tables/{table}/{seq:06}.jsonl")
}

pub fn file_path(sha256: &str) -> String {
    format!("files/{sha256}")
}

pub fn entry_kind(path: &str) -> Option<EntryKind> {
    match path {
        HEADER_ENTRY => return Some(EntryKind::Header),
        MANIFEST_ENTRY => return Some(EntryKind::Manifest),
        DATABASE_ENTRY => return Some(EntryKind::Database),
        _ => {}
    }
    let parts: Vec<&str> = path.split('/').collect();
    match parts[..] {
        ["tables", table, file] if is_table_name(table) => {
            let seq = file.strip_suffix(".jsonl")?.parse().ok()?;
            Some(EntryKind::Chunk {
                table: table.to_string(),
                seq,
            })
        }
        ["files", sha] if is_sha256(sha) => Some(EntryKind::File {
            sha256: sha.to_string(),
        }),
        _ => None,
    }
}

/// Check a header this Rapport can read.
pub fn check_header(h: &Header) -> Result<(), BackupError> {
    if h.format != FORMAT_NAME {
        return Err(BackupError::Corrupt(format!(
            "not a Rapport backup (format `{}`)",
            h.format
        )));
    }
    if h.format_version > FORMAT_VERSION {
        return Err(BackupError::Schema(format!(
            "the archive has format version {} but this Rapport {} reads version {FORMAT_VERSION} at most; restore it with a newer Rapport",
            h.format_version,
            env!("CARGO_PKG_VERSION")
        )));
    }
    if h.sqlite_snapshot && (h.format_version < SNAPSHOT_FORMAT_VERSION || h.backend != "sqlite") {
        return Err(BackupError::Corrupt(format!(
            "the archive header is damaged: a SQLite snapshot of format version {} from {}",
            h.format_version, h.backend
        )));
    }
    for t in &h.tables {
        if !is_table_name(&t.name) {
            return Err(BackupError::Corrupt(format!(
                "the archive names a table `{}` that is not a plain name",
                t.name
            )));
        }
        for c in &t.columns {
            if !is_table_name(&c.name) {
                return Err(BackupError::Corrupt(format!(
                    "table {} names a column `{}` that is not a plain name",
                    t.name, c.name
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::core::backup::catalog::Column;

    /// A table `t` with columns `c0`, `c1`, … of `types`.
    pub(in crate::core::backup) fn table(types: &[ColType]) -> Table {
        Table {
            name: "t".into(),
            columns: types
                .iter()
                .enumerate()
                .map(|(i, ty)| Column {
                    name: format!("c{i}"),
                    ty: *ty,
                    sql_type: String::new(),
                    tz: false,
                })
                .collect(),
            key: vec!["c0".into()],
            serial: None,
            sequence: None,
        }
    }

    #[test]
    fn both_backends_render_the_same_line() {
        use ColType::*;
        let types = [Int, Bool, Timestamp, Text, Real, Bytes, Json];
        let t = table(&types);
        let mut sqlite = Vec::new();
        canonical_line(
            r#"[7,1,"2026-12-03 10:00:00.1234","张伟 \"x\"","0.30000000000000004","00ff",null]"#,
            &t,
            &types,
            &mut sqlite,
        )
        .unwrap();
        let mut pg = Vec::new();
        canonical_line(
            r#"[7,true,"2026-12-03T10:00:00.1234"]["张伟 \"x\"","0.30000000000000004","00ff",null]"#,
            &t,
            &types,
            &mut pg,
        )
        .unwrap();
        assert_eq!(sqlite, pg);
        assert_eq!(
            String::from_utf8(sqlite).unwrap(),
            "[7,true,\"2026-12-03 10:00:00.123400\",\"张伟 \\\"x\\\"\",0.30000000000000004,\"00ff\",null]\n"
        );
        check_line(
            b"[7,true,\"2026-12-03 10:00:00.123400\",\"a\",1.5,\"00\",\"{}\"]",
            &t,
        )
        .unwrap();
        assert!(check_line(b"[7,true]", &t).is_err());
        assert!(check_line(b"[\"x\",true,null,null,null,null,null]", &t).is_err());
    }

    #[test]
    fn entry_names() {
        assert_eq!(
            entry_kind("tables/customers/000003.jsonl"),
            Some(EntryKind::Chunk {
                table: "customers".into(),
                seq: 3
            })
        );
        assert_eq!(entry_kind("tables/../x/1.jsonl"), None);
        assert_eq!(entry_kind("files/abc"), None);
        assert_eq!(entry_kind(HEADER_ENTRY), Some(EntryKind::Header));
        assert_eq!(entry_kind(DATABASE_ENTRY), Some(EntryKind::Database));
    }
}
