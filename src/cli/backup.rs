//! `rapport backup create|verify|list` and `rapport restore`.
//!
//! Passphrases come from `--passphrase-file`, the `RAPPORT_PASSPHRASE`
//! environment variable, or a prompt on a terminal — never from an argument,
//! which other users could read from the process list.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use crate::config::Loaded;
use crate::core::backup::format::{Manifest, Passphrase};
use crate::core::backup::{self, BackupError, CreateOptions, RestoreOptions, schedule};
use crate::core::db::{self, DbUrl};

use super::Failure;

#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Write an archive of the database and attachments (safe while the server runs).
    Create {
        /// Where to write; default: a new file in backup.dir.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Encrypt with a passphrase (age, scrypt).
        #[arg(long)]
        encrypt: bool,
        /// Read the passphrase from the first line of this file.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Read the archive back and check every checksum before keeping it.
        #[arg(long)]
        verify: bool,
        /// SQLite only, the fast path: archive the database file's pages
        /// instead of its rows; it restores into SQLite only.
        #[arg(long)]
        sqlite_snapshot: bool,
        #[arg(long)]
        json: bool,
    },
    /// Check an archive's structure, checksums and schema version (no database needed).
    Verify {
        file: PathBuf,
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// List the archives in backup.dir with size, age and status.
    List {
        /// Fully check each archive (encrypted ones need the passphrase).
        #[arg(long)]
        verify: bool,
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The archive to restore.
    file: PathBuf,
    /// Target database (sqlite://PATH, a path, or postgres://…); default: database.url.
    #[arg(long, value_name = "DATABASE_URL")]
    into: Option<String>,
    /// Replace a database that already holds data (built beside it, swapped in when complete).
    #[arg(long)]
    force: bool,
    /// Verify the archive and report what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

impl From<BackupError> for Failure {
    fn from(e: BackupError) -> Self {
        if e.is_usage() {
            Failure::usage(e.to_string())
        } else {
            Failure::runtime(e.to_string())
        }
    }
}

fn prompt_hidden(prompt: &str) -> Result<String, Failure> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let saved = tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = &saved {
        let _ = tcsetattr(&stdin, OptionalActions::Now, t);
    }
    eprintln!();
    read.map_err(|e| Failure::runtime(format!("reading the passphrase: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// The passphrase from the file, the environment, or a prompt; `None` when
/// there is none and `needed` is false.
fn passphrase(
    file: Option<&Path>,
    needed: bool,
    confirm: bool,
) -> Result<Option<Passphrase>, Failure> {
    if let Some(f) = file {
        return Ok(Some(schedule::read_passphrase_file(f)?));
    }
    if let Ok(p) = std::env::var("RAPPORT_PASSPHRASE")
        && !p.is_empty()
    {
        return Ok(Some(Passphrase::new(p)));
    }
    if !needed {
        return Ok(None);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "a passphrase is needed: give --passphrase-file FILE or set RAPPORT_PASSPHRASE",
        ));
    }
    let p = prompt_hidden("Passphrase: ")?;
    if p.is_empty() {
        return Err(Failure::usage("the passphrase is empty"));
    }
    if confirm && prompt_hidden("Passphrase again: ")? != p {
        return Err(Failure::usage("the two passphrases differ"));
    }
    Ok(Some(Passphrase::new(p)))
}

fn print_json(v: &serde_json::Value) {
    say!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

/// `12.3 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn human_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// The first characters of a checksum; a snapshot's tables have none.
fn short_sum(sha: &str) -> &str {
    sha.get(..16).unwrap_or("(in the file)")
}

fn archive_kind(m: &Manifest) -> &'static str {
    if m.header.sqlite_snapshot {
        "sqlite-snapshot"
    } else {
        "portable"
    }
}

fn print_tables(m: &Manifest) {
    if let Some(d) = &m.database {
        say!(
            "  SQLite snapshot: database file {} with sha256 {}",
            human_bytes(d.size),
            d.sha256
        );
    }
    say!("  {:<28} {:>12}  sha256", "table", "rows");
    for s in &m.sums {
        say!("  {:<28} {:>12}  {}", s.name, s.rows, short_sum(&s.sha256));
    }
}

fn manifest_json(m: &Manifest) -> serde_json::Value {
    json!({
        "kind": archive_kind(m),
        "database": m.database,
        "rapport_version": m.header.rapport_version,
        "schema_version": m.header.schema_version,
        "backend": m.header.backend,
        "created_at": m.header.created_at,
        "tables": m.sums,
        "attachments": m.attachments.len(),
        "attachment_bytes": m.attachments.iter().map(|a| a.size).sum::<u64>(),
        "content_hash": m.content_hash,
    })
}

pub fn run(loaded: &Loaded, cmd: &BackupCommand) -> Result<(), Failure> {
    let settings = &loaded.settings;
    match cmd {
        BackupCommand::Create {
            out,
            encrypt,
            passphrase_file,
            verify,
            sqlite_snapshot,
            json,
        } => {
            if passphrase_file.is_some() && !encrypt {
                return Err(Failure::usage("--passphrase-file needs --encrypt"));
            }
            let pass = if *encrypt {
                passphrase(passphrase_file.as_deref(), true, true)?
            } else {
                None
            };
            let url = settings
                .database_url()
                .map_err(|e| Failure::usage(format!("database.url: {e}")))?;
            if let DbUrl::Sqlite(p) = &url
                && !p.exists()
            {
                return Err(Failure::runtime(format!(
                    "database file {} does not exist; nothing to back up",
                    p.display()
                )));
            }
            // Into the backup directory (the systemd timer's way): the
            // archives beyond `backup.keep` are pruned afterwards, as the
            // server's own schedule does.
            let into_dir = out.is_none();
            let out = match out {
                Some(o) => o.clone(),
                None => {
                    let dir = schedule::backup_dir(settings);
                    schedule::create_dir_private(&dir)?;
                    dir.join(backup::archive_name(chrono::Utc::now(), pass.is_some()))
                }
            };
            let mut conn = db::open_single(&url)?;
            let opts = CreateOptions {
                passphrase: pass,
                work_factor: None,
                verify: *verify,
                sqlite_snapshot: *sqlite_snapshot,
            };
            let s = backup::create_archive(settings, &mut conn, &out, &opts)?;
            let pruned = if into_dir {
                backup::prune(&schedule::backup_dir(settings), settings.backup.keep)?
            } else {
                Vec::new()
            };
            for p in &pruned {
                eprintln!(
                    "removed old archive {} (backup.keep = {})",
                    p.display(),
                    settings.backup.keep
                );
            }
            let rows: u64 = s.manifest.sums.iter().map(|t| t.rows).sum();
            if *json {
                let mut v = manifest_json(&s.manifest);
                v["path"] = json!(s.path);
                v["bytes"] = json!(s.bytes);
                v["encrypted"] = json!(opts.passphrase.is_some());
                v["verified"] = json!(s.verified);
                v["seconds"] = json!(s.seconds);
                print_json(&v);
            } else {
                say!(
                    "backup written: {} ({}{}{}) in {:.1} s",
                    s.path.display(),
                    human_bytes(s.bytes),
                    if opts.passphrase.is_some() {
                        ", encrypted"
                    } else {
                        ""
                    },
                    if s.verified { ", verified" } else { "" },
                    s.seconds
                );
                say!(
                    "  {} archive: {} rows in {} tables, {} attachment files; schema {} on {}",
                    archive_kind(&s.manifest),
                    rows,
                    s.manifest.sums.len(),
                    s.manifest.attachments.len(),
                    s.manifest.header.schema_version,
                    s.manifest.header.backend
                );
                say!("  content hash {}", s.manifest.content_hash);
            }
            Ok(())
        }
        BackupCommand::Verify {
            file,
            passphrase_file,
            json,
        } => {
            let encrypted = backup::is_encrypted(file)?;
            let pass = passphrase(passphrase_file.as_deref(), encrypted, false)?;
            let v = backup::verify_archive(file, pass.as_ref())?;
            let m = &v.manifest;
            let supported = backup::check_schema_supported(&m.header);
            if *json {
                let mut j = manifest_json(m);
                j["path"] = json!(file);
                j["bytes"] = json!(v.bytes);
                j["encrypted"] = json!(v.encrypted);
                j["restorable"] = json!(supported.is_ok());
                print_json(&j);
            } else {
                say!(
                    "ok: {} is complete and every checksum matches ({}{})",
                    file.display(),
                    human_bytes(v.bytes),
                    if v.encrypted { ", encrypted" } else { "" }
                );
                say!(
                    "  made by Rapport {} from {} at {}, schema {}",
                    m.header.rapport_version,
                    m.header.backend,
                    m.header.created_at,
                    m.header.schema_version
                );
                print_tables(m);
                say!(
                    "  {} attachment files, {}",
                    m.attachments.len(),
                    human_bytes(m.attachments.iter().map(|a| a.size).sum())
                );
                say!("  content hash {}", m.content_hash);
            }
            supported.map_err(Failure::from)
        }
        BackupCommand::List {
            verify,
            passphrase_file,
            json,
        } => {
            let pass = passphrase(passphrase_file.as_deref(), false, false)?;
            let dir = schedule::backup_dir(settings);
            let list = backup::list_archives(&dir, *verify, pass.as_ref())?;
            if *json {
                print_json(&json!({ "dir": dir, "archives": list }));
                return Ok(());
            }
            if list.is_empty() {
                say!("no archives in {}", dir.display());
                return Ok(());
            }
            say!("archives in {}:", dir.display());
            say!("  {:<44} {:>10} {:>9}  status", "file", "size", "age");
            for a in &list {
                say!(
                    "  {:<44} {:>10} {:>9}  {}",
                    a.path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    human_bytes(a.bytes),
                    human_age(a.age_seconds),
                    a.status
                );
            }
            if list.iter().any(|a| a.status.starts_with("corrupt")) {
                return Err(Failure::runtime("some archives are corrupt"));
            }
            Ok(())
        }
    }
}

pub fn restore(loaded: &Loaded, a: &RestoreArgs) -> Result<(), Failure> {
    let settings = &loaded.settings;
    let target = match &a.into {
        Some(u) => DbUrl::parse(u).map_err(|e| Failure::usage(format!("--into: {e}")))?,
        None => settings
            .database_url()
            .map_err(|e| Failure::usage(format!("database.url: {e}")))?,
    };
    let encrypted = backup::is_encrypted(&a.file)?;
    let pass = passphrase(a.passphrase_file.as_deref(), encrypted, false)?;
    if let DbUrl::Sqlite(p) = &target
        && settings.database.url.trim().is_empty()
        && a.into.is_none()
        && let Some(dir) = p.parent()
    {
        db::check_writable_dir(dir).map_err(Failure::runtime)?;
    }
    let opts = RestoreOptions {
        passphrase: pass,
        force: a.force,
        dry_run: a.dry_run,
    };
    let r = backup::restore_archive(&a.file, &target, &settings.attachments_dir(), &opts)?;
    let m = &r.manifest;
    if a.json {
        let mut j = manifest_json(m);
        j["target"] = json!(r.target);
        j["dry_run"] = json!(r.dry_run);
        j["replaced"] = json!(r.replaces);
        j["files_written"] = json!(r.files_written);
        j["migrations_applied"] = json!(r.migrations_applied);
        j["checked"] = json!(
            r.tables
                .iter()
                .map(|c| json!({"table": c.name, "rows": c.restored_rows, "sha256": c.restored_sha256, "matches": c.rows == c.restored_rows && c.sha256 == c.restored_sha256}))
                .collect::<Vec<_>>()
        );
        j["seconds"] = json!(r.seconds);
        print_json(&j);
        return Ok(());
    }
    if r.dry_run {
        say!(
            "dry run: {} is complete and every checksum matches; nothing was changed",
            a.file.display()
        );
        say!(
            "would restore into {}{}",
            r.target,
            match &r.replaces {
                Some(what) => format!(", replacing what it holds now ({what})"),
                None => " (empty)".into(),
            }
        );
        say!(
            "  from {} at {}, schema {}",
            m.header.backend,
            m.header.created_at,
            m.header.schema_version
        );
        print_tables(m);
        say!(
            "  {} attachment files ({}) into {}",
            m.attachments.len(),
            human_bytes(m.attachments.iter().map(|f| f.size).sum()),
            settings.attachments_dir().display()
        );
        return Ok(());
    }
    say!(
        "restored {} into {} in {:.1} s{}",
        a.file.display(),
        r.target,
        r.seconds,
        if r.replaces.is_some() {
            " (the previous data was replaced)"
        } else {
            ""
        }
    );
    say!(
        "  {:<28} {:>12} {:>12}  checksum",
        "table",
        "archive",
        "restored"
    );
    for c in &r.tables {
        say!(
            "  {:<28} {:>12} {:>12}  {} {}",
            c.name,
            c.rows,
            c.restored_rows,
            short_sum(&c.restored_sha256),
            if c.rows == c.restored_rows && c.sha256 == c.restored_sha256 {
                "matches"
            } else {
                "DIFFERS"
            }
        );
    }
    say!(
        "  {} attachment files ({} new in {})",
        m.attachments.len(),
        r.files_written,
        settings.attachments_dir().display()
    );
    for name in &r.migrations_applied {
        say!("  then applied migration {name}");
    }
    say!("  content hash {}", m.content_hash);
    Ok(())
}
