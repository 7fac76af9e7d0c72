//! `rapport migrate [--status]`.

use crate::config::Loaded;
use crate::core::db::{self, DbUrl, migrations};

use super::Failure;

pub fn run(loaded: &Loaded, status: bool) -> Result<(), Failure> {
    let settings = &loaded.settings;
    let url = settings
        .database_url()
        .map_err(|e| Failure::usage(format!("database.url: {e}")))?;
    if let DbUrl::Sqlite(path) = &url {
        if status && !path.exists() {
            return Err(Failure::runtime(format!(
                "database file {} does not exist yet; `rapport migrate` or `rapport serve` creates it",
                path.display()
            )));
        }
        if settings.database.url.trim().is_empty() {
            crate::app::prepare_data_dir(settings)?;
        }
    }
    let mut conn = db::open_single(&url)?;
    if status {
        println!("database: {}", url.describe());
        for m in migrations::status(&mut conn)? {
            println!(
                "{:<8} {}",
                if m.applied { "applied" } else { "pending" },
                m.name
            );
        }
        return Ok(());
    }
    let applied = migrations::run_pending(&mut conn)?;
    if applied.is_empty() {
        println!(
            "{}: schema is up to date ({})",
            url.describe(),
            migrations::latest_known()
        );
    } else {
        for name in applied {
            println!("applied  {name}");
        }
    }
    Ok(())
}
