//! `rapport serve`: check the configuration, open the database, migrate,
//! listen; SIGHUP re-reads the TLS certificate and key.

use std::sync::Arc;

use crate::app;
use crate::config::{Loaded, Settings, TlsMode};
use crate::core::db::migrations;
use crate::core::{telemetry, tls};

use super::Failure;

pub fn run(loaded: &Loaded) -> Result<(), Failure> {
    let settings = &loaded.settings;
    // Certificate files named in the config are checked before anything is
    // created on disk.
    let file_tls = match settings.tls.mode {
        TlsMode::SelfSigned => None,
        _ => app::load_reloadable_tls(settings)?,
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

fn start(loaded: &Loaded, file_tls: Option<app::Tls>) -> Result<(), Failure> {
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
        TlsMode::SelfSigned => app::load_reloadable_tls(settings)?,
        _ => file_tls,
    };
    let pending = pending_migrations(settings)?;
    if !pending.is_empty() {
        backup_before_upgrade(settings)?;
        tracing::info!(
            count = pending.len(),
            migrations = %pending.join(", "),
            schema = %migrations::latest_known(),
            "database schema upgrade: applying pending migrations"
        );
    }
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
            crate::core::jobs::builtin_jobs_with(&settings.jobs)
                .into_iter()
                .chain(crate::crm::jobs())
                .chain(crate::io::jobs())
                .collect(),
            Arc::new(crate::core::jobs::SystemClock),
            settings.clone(),
        );
        let (config, certs) = match tls {
            Some(t) => (Some(t.config), Some(t.certs)),
            None => (None, None),
        };
        reload_on_hangup(certs);
        let running = app::bind(settings, pool, config)?;
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

/// The migrations this start will apply, in order; refuses (changing
/// nothing) a database whose schema is newer than this binary.
fn pending_migrations(settings: &Settings) -> Result<Vec<String>, Failure> {
    let mut conn = app::connect(settings)?;
    migrations::refuse_newer_schema(&mut conn)?;
    Ok(migrations::pending_migrations(&mut conn)?)
}

/// Before migrating a database that already holds data, take a verified
/// backup into `backup.dir` (unless `backup.before_upgrade = false`); a
/// backup that fails stops the start before anything changes.
fn backup_before_upgrade(settings: &Settings) -> Result<(), Failure> {
    if !settings.backup.before_upgrade {
        tracing::warn!("backup.before_upgrade = false: upgrading the schema without a backup");
        return Ok(());
    }
    let mut conn = app::connect(settings)?;
    if migrations::applied_versions(&mut conn)?.is_empty() {
        return Ok(()); // a new installation: nothing to keep
    }
    use crate::core::backup::schedule;
    let refuse = |e: String| {
        Failure::runtime(format!(
            "the automatic backup before the schema upgrade failed: {e}; nothing was changed \
             (fix it, or set backup.before_upgrade = false to upgrade without one)"
        ))
    };
    let passphrase = schedule::scheduled_passphrase(settings).map_err(|e| refuse(e.to_string()))?;
    let (s, _) = schedule::backup_now(settings, &mut conn, passphrase, chrono::Utc::now())
        .map_err(|e| refuse(e.to_string()))?;
    tracing::info!(
        path = %s.path.display(),
        bytes = s.bytes,
        seconds = s.seconds,
        "automatic backup before the schema upgrade"
    );
    Ok(())
}

/// On SIGHUP (`systemctl reload rapport`) read the certificate and key
/// files again: new connections get the new pair, open ones keep theirs; a
/// pair that does not load is logged and the one in use stays. Without TLS
/// SIGHUP is logged and otherwise ignored (it no longer ends the process).
/// Call inside the actix System.
fn reload_on_hangup(certs: Option<Arc<tls::ReloadableCert>>) {
    use actix_web::rt::signal::unix::{SignalKind, signal};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reloading TLS files needs a restart");
            return;
        }
    };
    actix_web::rt::spawn(async move {
        while hangup.recv().await.is_some() {
            let Some(certs) = &certs else {
                tracing::info!("SIGHUP: nothing to reload (tls.mode = \"off\")");
                continue;
            };
            match certs.reload() {
                Ok(fp) => tracing::info!(
                    cert = %certs.cert_path().display(),
                    sha256 = %fp,
                    "SIGHUP: TLS certificate reloaded; new connections use it"
                ),
                Err(e) => tracing::error!(
                    error = %e,
                    "SIGHUP: TLS certificate not reloaded; the previous one stays in use"
                ),
            }
        }
    });
}
