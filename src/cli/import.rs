//! `rapport import ENTITY FILE [--mapping FILE|auto] [--on-duplicate skip|update|create]
//! [--owner USER] [--pool POOL] [--dry-run] [--encoding E] [--json]`,
//! `rapport import undo BATCH`, `rapport import list`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::config::Loaded;
use crate::io::import::{self, OnDuplicate, Options};

use super::Failure;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ImportArgs {
    #[command(subcommand)]
    command: Option<ImportCommand>,
    #[command(flatten)]
    run: Option<RunArgs>,
}

#[derive(Subcommand, Debug)]
enum ImportCommand {
    /// Undo a finished import: delete what it created, put back what it updated.
    Undo {
        batch: i64,
        #[arg(long)]
        json: bool,
    },
    /// The latest imports.
    List {
        #[arg(long, default_value_t = 20)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
struct RunArgs {
    /// customers, contacts, leads, products, opportunities or followups.
    entity: String,
    /// A .csv, .xlsx or .xls file.
    file: PathBuf,
    /// A JSON or TOML file mapping column headers to fields, or `auto`.
    #[arg(long, default_value = "auto")]
    mapping: String,
    /// What to do with a row matching an existing record or an earlier row.
    #[arg(long, default_value = "skip")]
    on_duplicate: String,
    /// Owner of rows that name none (user name, e-mail or id).
    #[arg(long)]
    owner: Option<String>,
    /// Put the imported customers into this pool (id or name).
    #[arg(long)]
    pool: Option<String>,
    /// Check everything and report, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The file's encoding (utf-8, gb18030/gbk, utf-16le …) instead of detecting it.
    #[arg(long)]
    encoding: Option<String>,
    /// The CSV delimiter instead of detecting it.
    #[arg(long)]
    delimiter: Option<char>,
    /// Import as this user (default: the first administrator).
    #[arg(long = "as")]
    as_user: Option<String>,
    /// SQLite bulk load on or off (default: on for customer files over 32 MiB).
    #[arg(long)]
    bulk: Option<bool>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

fn fail(e: crate::core::error::AppError) -> Failure {
    match e {
        crate::core::error::AppError::Invalid { field, message } => Failure::usage(match field {
            Some(f) if f != "file" => format!("{f}: {message}"),
            _ => message,
        }),
        other => Failure::runtime(other.to_string()),
    }
}

pub fn run(loaded: &Loaded, a: &ImportArgs) -> Result<(), Failure> {
    let mut conn = crate::app::open_connection(&loaded.settings)?;
    match (&a.command, &a.run) {
        (Some(ImportCommand::Undo { batch, json }), _) => {
            import::recover(&mut conn).map_err(fail)?;
            let b = import::batch(&mut conn, *batch).map_err(fail)?;
            let actor = crate::io::system_actor(&mut conn, b.user_id)
                .or_else(|_| crate::io::system_actor(&mut conn, None))
                .map_err(fail)?;
            let s = import::undo(&mut conn, &actor, *batch).map_err(fail)?;
            if *json {
                say!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
            } else {
                say!(
                    "import {batch} undone: {} deleted, {} put back, {} changed since and kept",
                    s.deleted,
                    s.reverted,
                    s.kept_changed.len()
                );
            }
            Ok(())
        }
        (Some(ImportCommand::List { limit, json }), _) => {
            import::recover(&mut conn).map_err(fail)?;
            let list = import::list(&mut conn, None, *limit).map_err(fail)?;
            if *json {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
                return Ok(());
            }
            say!(
                "{:>6}  {:<13} {:<12} {:>9} {:>8} {:>8} {:>8} {:>8}  file",
                "batch",
                "entity",
                "status",
                "rows",
                "created",
                "updated",
                "skipped",
                "rejected"
            );
            for b in list {
                say!(
                    "{:>6}  {:<13} {:<12} {:>9} {:>8} {:>8} {:>8} {:>8}  {}",
                    b.id,
                    b.entity,
                    b.status,
                    b.rows_done,
                    b.created,
                    b.updated,
                    b.skipped,
                    b.rejected,
                    b.file_name
                );
            }
            Ok(())
        }
        (None, Some(r)) => run_import(loaded, &mut conn, r),
        (None, None) => Err(Failure::usage(
            "usage: rapport import ENTITY FILE [options], rapport import undo BATCH, rapport import list",
        )),
    }
}

fn run_import(
    loaded: &Loaded,
    conn: &mut crate::core::db::DbConn,
    r: &RunArgs,
) -> Result<(), Failure> {
    import::recover(conn).map_err(fail)?;
    let on_duplicate = OnDuplicate::parse(&r.on_duplicate).ok_or_else(|| {
        Failure::usage(format!(
            "--on-duplicate `{}`: skip, update or create",
            r.on_duplicate
        ))
    })?;
    let mapping = if r.mapping == "auto" {
        Default::default()
    } else {
        let text = std::fs::read_to_string(&r.mapping)
            .map_err(|e| Failure::usage(format!("--mapping {}: {e}", r.mapping)))?;
        crate::io::columns::parse_mapping(&text)
            .map_err(|e| Failure::usage(format!("--mapping {}: {e}", r.mapping)))?
    };
    let as_user = match &r.as_user {
        Some(u) => Some(crate::io::find_user(conn, u).map_err(fail)?),
        None => None,
    };
    let actor = crate::io::system_actor(conn, as_user).map_err(fail)?;
    let owner_id = match &r.owner {
        Some(o) => Some(crate::io::find_user(conn, o).map_err(fail)?),
        None => None,
    };
    let pool_id = match &r.pool {
        Some(p) => Some(find_pool(conn, p)?),
        None => None,
    };
    let opts = Options {
        mapping,
        on_duplicate,
        owner_id,
        pool_id,
        dry_run: r.dry_run,
        encoding: r.encoding.clone(),
        delimiter: r.delimiter,
        bulk: r.bulk,
    };
    let size = std::fs::metadata(&r.file)
        .map_err(|e| Failure::usage(format!("{}: {e}", r.file.display())))?
        .len();
    let plan = import::plan(conn, &r.entity, &r.file, &opts).map_err(fail)?;
    if r.bulk == Some(true)
        && (conn.backend() != crate::core::db::Backend::Sqlite || plan.spec.name != "customers")
    {
        eprintln!(
            "note: --bulk applies to customer imports on SQLite; this import keeps its indexes"
        );
    }
    let file_name = r
        .file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let batch = if r.dry_run {
        None
    } else {
        Some(
            import::new_batch(
                conn,
                &actor,
                &r.entity,
                &file_name,
                &r.file.display().to_string(),
                "running",
                &opts,
            )
            .map_err(fail)?,
        )
    };
    let dir = loaded.settings.data_dir.join("imports");
    let error_path = match batch {
        Some(b) => dir.join(format!("batch-{b}-errors.csv")),
        None => {
            std::env::temp_dir().join(format!("rapport-dry-run-{}-errors.csv", std::process::id()))
        }
    };
    let quiet = r.json;
    let mut last = 0;
    let s = import::run(
        conn,
        &actor,
        plan,
        &opts,
        batch,
        error_path,
        size,
        &mut |_, n| {
            if !quiet && n - last >= 100_000 {
                last = n;
                eprint!("\r{n} rows");
                let _ = std::io::stderr().flush();
            }
            true
        },
    )
    .map_err(fail)?;
    if !quiet && last > 0 {
        eprintln!();
    }
    if r.json {
        say!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
        return Ok(());
    }
    let what = if s.dry_run {
        "dry run (nothing written)"
    } else {
        "import"
    };
    say!(
        "{what}{}: {} rows of {} in {:.1} s ({:.0} rows/s): {} created, {} updated, {} skipped as duplicates, {} rejected",
        s.batch_id.map(|b| format!(" {b}")).unwrap_or_default(),
        s.rows,
        s.entity,
        s.seconds,
        s.rows_per_second,
        s.created,
        s.updated,
        s.skipped,
        s.rejected
    );
    if s.rebuild_seconds > 0.0 {
        say!(
            "bulk load: {:.1} s loading rows, {:.1} s rebuilding the indexes and the search index",
            s.seconds - s.rebuild_seconds,
            s.rebuild_seconds
        );
    }
    say!(
        "file: {}, encoding {}{}",
        s.format,
        s.encoding,
        s.delimiter
            .as_ref()
            .map(|d| format!(", delimiter {d:?}"))
            .unwrap_or_default()
    );
    if !s.unmapped.is_empty() {
        say!("columns not imported: {}", s.unmapped.join(", "));
    }
    for p in s.problems.iter().take(10) {
        say!("  line {} {}: {}", p.line, p.column, p.reason);
    }
    if let Some(f) = &s.error_file {
        say!("rejected rows with their reasons: {f}");
    }
    if let Some(b) = s.batch_id {
        say!("undo with: rapport import undo {b}");
    }
    Ok(())
}

fn find_pool(conn: &mut crate::core::db::DbConn, p: &str) -> Result<i64, Failure> {
    use crate::core::db::schema::pools;
    use diesel::prelude::*;
    let found: Vec<i64> = match p.parse::<i64>() {
        Ok(id) => pools::table
            .filter(pools::id.eq(id))
            .select(pools::id)
            .load(conn),
        Err(_) => pools::table
            .filter(pools::name.eq(p))
            .select(pools::id)
            .load(conn),
    }
    .map_err(|e| Failure::runtime(e.to_string()))?;
    found
        .first()
        .copied()
        .ok_or_else(|| Failure::usage(format!("--pool `{p}`: no such pool")))
}
