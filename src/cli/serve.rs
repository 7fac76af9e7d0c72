//! `rapport serve`: check the configuration, open the database, migrate, listen.

use std::sync::Arc;

use crate::app;
use crate::config::{Loaded, TlsMode};
use crate::core::telemetry;

use super::Failure;

pub fn run(loaded: &Loaded) -> Result<(), Failure> {
    let settings = &loaded.settings;
    // Certificate files named in the config are checked before anything is
    // created on disk.
    let file_tls = match settings.tls.mode {
        TlsMode::SelfSigned => None,
        _ => app::load_tls(settings)?,
    };
    let created = Created::before_start(settings);
    let result = start(loaded, file_tls);
    if result.is_err() {
        created.remove();
    }
    result
}

/// What a start creates on disk, so a start that fails (database
/// unreachable, port in use) leaves nothing half-made behind.
struct Created {
    data_dir: Option<std::path::PathBuf>,
    logs_dir: Option<std::path::PathBuf>,
    sqlite: Option<std::path::PathBuf>,
}

impl Created {
    fn before_start(settings: &crate::config::Settings) -> Created {
        let missing = |p: std::path::PathBuf| (!p.exists()).then_some(p);
        Created {
            data_dir: missing(settings.data_dir.clone()),
            logs_dir: missing(settings.logs_dir()),
            sqlite: match settings.database_url() {
                Ok(crate::core::db::DbUrl::Sqlite(p)) => missing(p),
                _ => None,
            },
        }
    }

    fn remove(&self) {
        if let Some(d) = &self.data_dir {
            let _ = std::fs::remove_dir_all(d);
            return;
        }
        if let Some(d) = &self.logs_dir {
            let _ = std::fs::remove_dir_all(d);
        }
        if let Some(f) = &self.sqlite {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut p = f.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

fn start(loaded: &Loaded, file_tls: Option<rustls::ServerConfig>) -> Result<(), Failure> {
    let settings = &loaded.settings;
    app::prepare_data_dir(settings)?;
    let _log_guard =
        telemetry::init_server(&settings.log, &settings.logs_dir()).map_err(Failure::runtime)?;
    match &loaded.file {
        Some(f) => tracing::info!(config = %f.display(), "configuration file"),
        None => {
            tracing::info!("no configuration file; built-in defaults and RAPPORT_* environment")
        }
    }
    let tls = match settings.tls.mode {
        TlsMode::SelfSigned => app::load_tls(settings)?,
        _ => file_tls,
    };
    let pool = app::open_database(settings)?;
    let settings = Arc::new(settings.clone());
    actix_web::rt::System::new().block_on(async move {
        let setup_token = {
            let mut conn = pool
                .get()
                .map_err(|e| Failure::runtime(format!("database pool: {e}")))?;
            crate::core::setup::issue_token(&mut conn).map_err(|e| Failure::runtime(e.to_string()))?
        };
        let mut jobs = crate::core::jobs::Scheduler::start(
            pool.clone(),
            crate::core::jobs::builtin_jobs()
                .into_iter()
                .chain(crate::crm::jobs())
                .collect(),
            Arc::new(crate::core::jobs::SystemClock),
            settings.clone(),
        );
        let running = app::bind(settings, pool, tls)?;
        if let Some(token) = setup_token {
            let scheme = if running.https { "https" } else { "http" };
            let host = match running.addr.ip() {
                ip if ip.is_unspecified() => "127.0.0.1".to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            tracing::warn!(
                "No administrator yet. Open {scheme}://{host}:{}/setup?token={token} to create one \
                 (or run `rapport init` on the server). The link works until an administrator exists; \
                 each start issues a new one.",
                running.addr.port()
            );
        }
        running
            .wait()
            .await
            .map_err(|e| Failure::runtime(format!("server stopped with an error: {e}")))?;
        jobs.stop();
        tracing::info!("Rapport stopped");
        Ok(())
    })
}
