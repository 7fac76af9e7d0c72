//! The command line: one file per subcommand.
//!
//! Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.

/// `println!` for command reports. A closed stdout (`rapport … | head`) must
/// neither panic nor stop the work half-way (a restore or a demo run goes on
/// to the end), so a failed write to stdout is dropped; the work's own result
/// and its errors on stderr are what count.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod admin;
mod backup;
mod demo;
mod doctor;
mod export;
mod import;
mod migrate;
mod serve;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::StartError;
use crate::config::{self, ConfigError, Loaded};

#[derive(Parser, Debug)]
#[command(
    name = "rapport",
    version,
    about = "Rapport: an on-premise CRM appliance in one binary",
    long_about = "Rapport: an on-premise CRM appliance in one binary.\n\n\
        Configuration comes from built-in defaults, then the config file \
        (--config, else /etc/rapport/rapport.toml, else ./rapport.toml), then \
        RAPPORT_* environment variables (RAPPORT_DATABASE__URL for database.url)."
)]
pub struct Cli {
    /// Config file to read instead of /etc/rapport/rapport.toml or ./rapport.toml.
    #[arg(long, global = true, env = "RAPPORT_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web UI and API (applies pending migrations first).
    Serve,
    /// Apply pending database migrations, or list them with --status / --dry-run.
    Migrate {
        /// List applied and pending migrations without changing anything.
        #[arg(long, conflicts_with = "dry_run")]
        status: bool,
        /// List the migrations that would run (here or at the next `serve`)
        /// without changing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the effective configuration (secrets redacted) and check the installation.
    Doctor,
    /// Create the first administrator without the web setup page.
    Init(admin::InitArgs),
    /// Manage users.
    #[command(subcommand)]
    User(admin::UserCommand),
    /// Manage personal API tokens.
    #[command(subcommand)]
    Token(admin::TokenCommand),
    /// Check the audit trail.
    #[command(subcommand)]
    Audit(admin::AuditCommand),
    /// Fill a new database with a realistic demo company.
    Demo(demo::DemoArgs),
    /// Back up the database and attachments, check or list archives.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Restore an archive into an empty database (or replace one with --force).
    Restore(backup::RestoreArgs),
    /// Import customers, contacts, leads, products, opportunities or
    /// follow-ups from CSV/.xlsx/.xls; undo or list imports.
    Import(import::ImportArgs),
    /// Export records to CSV or .xlsx.
    Export(export::ExportArgs),
    /// TLS helpers.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
    /// Print the version.
    Version,
}

/// A failed command: what to print and which exit code to use.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn runtime(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::usage(e.0)
    }
}

impl From<StartError> for Failure {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Config(m) => Failure::usage(m),
            StartError::Runtime(m) => Failure::runtime(m),
        }
    }
}

impl From<crate::core::db::DbError> for Failure {
    fn from(e: crate::core::db::DbError) -> Self {
        Failure::runtime(e.to_string())
    }
}

fn load(cli: &Cli) -> Result<Loaded, Failure> {
    Ok(config::load(cli.config.as_deref())?)
}

/// Parse the command line, run the command, map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` sets up its own logging from the configuration.
    if !matches!(cli.command, Command::Serve) {
        crate::core::telemetry::init_cli();
    }
    let result = match &cli.command {
        Command::Serve => load(&cli).and_then(|l| serve::run(&l)),
        Command::Migrate { status, dry_run } => {
            let mode = match (status, dry_run) {
                (true, _) => migrate::Mode::Status,
                (_, true) => migrate::Mode::DryRun,
                _ => migrate::Mode::Apply,
            };
            load(&cli).and_then(|l| migrate::run(&l, mode))
        }
        Command::Doctor => load(&cli).and_then(|l| doctor::run(&l)),
        Command::Init(a) => load(&cli).and_then(|l| admin::init(&l, a)),
        Command::User(c) => load(&cli).and_then(|l| admin::user(&l, c)),
        Command::Token(c) => load(&cli).and_then(|l| admin::token_cmd(&l, c)),
        Command::Audit(c) => load(&cli).and_then(|l| admin::audit_cmd(&l, c)),
        Command::Demo(a) => load(&cli).and_then(|l| demo::run(&l, a)),
        Command::Backup(c) => load(&cli).and_then(|l| backup::run(&l, c)),
        Command::Restore(a) => load(&cli).and_then(|l| backup::restore(&l, a)),
        Command::Import(a) => load(&cli).and_then(|l| import::run(&l, a)),
        Command::Export(a) => load(&cli).and_then(|l| export::run(&l, a)),
        Command::Tls(cmd) => tls::run(cmd),
        Command::Version => {
            say!("rapport {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
