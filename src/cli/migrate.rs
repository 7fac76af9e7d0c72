//! `rapport migrate [--status | --dry-run]`.

use crate::config::Loaded;
use crate::core::db::{self, DbUrl, migrations};

use super::Failure;

/// What `rapport migrate` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply pending migrations.
    Apply,
    /// List applied and pending migrations.
    Status,
    /// List the migrations `Apply` (or the next `rapport serve`) would run.
    DryRun,
}

pub fn run(loaded: &Loaded, mode: Mode) -> Result<(), Failure> {
    let settings = &loaded.settings;
    let url = settings
        .database_url()
        .map_err(|e| Failure::usage(format!("database.url: {e}")))?;
    if let DbUrl::Sqlite(path) = &url
        && !path.exists()
    {
        match mode {
            Mode::Status => {
                return Err(Failure::runtime(format!(
                    "database file {} does not exist yet; `rapport migrate` or `rapport serve` creates it",
                    path.display()
                )));
            }
            Mode::DryRun => {
                // Nothing is created: a new database would get every migration.
                let (all, _) = migrations::tree_names()?;
                say!(
                    "database file {} does not exist yet; {} migration(s) would run:",
                    path.display(),
                    all.len()
                );
                for name in all {
                    say!("would apply  {name}");
                }
                return Ok(());
            }
            Mode::Apply => {
                if settings.database.url.trim().is_empty() {
                    crate::app::prepare_data_dir(settings)?;
                }
            }
        }
    }
    let mut conn = db::open_single(&url)?;
    match mode {
        Mode::Status => {
            say!("database: {}", url.describe());
            for m in migrations::status(&mut conn)? {
                say!(
                    "{:<8} {}",
                    if m.applied { "applied" } else { "pending" },
                    m.name
                );
            }
            for version in migrations::unknown_applied(&mut conn)? {
                say!("unknown  {version} (applied by a newer rapport)");
            }
            Ok(())
        }
        Mode::DryRun => {
            migrations::refuse_newer_schema(&mut conn)?;
            let pending = migrations::pending_migrations(&mut conn)?;
            if pending.is_empty() {
                say!(
                    "{}: schema is up to date ({}); nothing would run",
                    url.describe(),
                    migrations::latest_known()
                );
            } else {
                say!(
                    "{}: {} migration(s) would run:",
                    url.describe(),
                    pending.len()
                );
                for name in pending {
                    say!("would apply  {name}");
                }
            }
            Ok(())
        }
        Mode::Apply => {
            let applied = migrations::run_pending(&mut conn)?;
            if applied.is_empty() {
                say!(
                    "{}: schema is up to date ({})",
                    url.describe(),
                    migrations::latest_known()
                );
            } else {
                for name in applied {
                    say!("applied  {name}");
                }
            }
            Ok(())
        }
    }
}
