//! `rapport demo [--size small|medium|large|N] [--locale zh|en|mixed] [--seed S] [--force]`.

use std::io::Write;

use clap::Args;

use crate::config::Loaded;
use crate::crm::demo::{self, Locale};

use super::Failure;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// small (≈1k customers), medium (100k), large (1M), or a number.
    #[arg(long, default_value = "small")]
    size: String,
    /// zh, en or mixed names and addresses.
    #[arg(long, default_value = "mixed")]
    locale: String,
    /// The same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Add demo data even though the database already holds data.
    #[arg(long)]
    force: bool,
}

pub fn run(loaded: &Loaded, a: &DemoArgs) -> Result<(), Failure> {
    let size = demo::parse_size(&a.size).ok_or_else(|| {
        Failure::usage(format!(
            "--size `{}`: use small, medium, large or a number from 1 to 20000000",
            a.size
        ))
    })?;
    let locale = Locale::parse(&a.locale)
        .ok_or_else(|| Failure::usage(format!("--locale `{}`: use zh, en or mixed", a.locale)))?;
    let mut conn = crate::app::open_connection(&loaded.settings)?;
    if !a.force && demo::has_data(&mut conn).map_err(|e| Failure::runtime(e.to_string()))? {
        return Err(Failure::usage(
            "this database already holds data; demo data goes into a new database (or pass --force to add it anyway)",
        ));
    }
    let mut last = 0;
    let mut fill = |conn: &mut crate::core::db::DbConn| {
        demo::generate(conn, size, locale, a.seed, &mut |n| {
            if n - last >= 100_000 || n == size {
                last = n;
                eprint!("\r{n} / {size} customers");
                let _ = std::io::stderr().flush();
            }
        })
    };
    // A new database is filled without journal writes and fsync (SQLite);
    // one that already holds data (--force) keeps every safeguard.
    let mut report = if a.force {
        fill(&mut conn)
    } else {
        crate::core::db::bulk::unjournaled(&mut conn, fill)
    }
    .map_err(|e| Failure::runtime(e.to_string()))?;
    // Without fsync during the fill, gigabytes may still wait in the page
    // cache: write them out now, so the demo is on disk when it says so
    // (and the server's first checkpoint does not wait for all of it).
    if !a.force
        && let Ok(crate::core::db::DbUrl::Sqlite(path)) = loaded.settings.database_url()
    {
        let t = std::time::Instant::now();
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| Failure::runtime(format!("{}: {e}", path.display())))?;
        let secs = t.elapsed().as_secs_f64();
        report.steps.push(("writing to disk (fsync)", secs));
        report.seconds += secs;
    }
    eprintln!();
    say!(
        "demo data: {} departments, {} users, {} customers ({} in the pool), {} contacts, {} leads, {} follow-ups, {} tasks, {} products, {} opportunities in {:.1} s",
        report.departments,
        report.users,
        report.customers,
        report.pooled,
        report.contacts,
        report.leads,
        report.followups,
        report.tasks,
        report.products,
        report.opportunities,
        report.seconds
    );
    for (name, secs) in &report.steps {
        eprintln!("  {name}: {secs:.1} s");
    }
    say!(
        "log in as {} with the password {}",
        report.admin_email,
        report.password
    );
    say!("(every demo user has that password; their addresses end in @demo.rapport.local)");
    Ok(())
}
