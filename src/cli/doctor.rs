//! `rapport doctor`: the effective configuration and a health check of the
//! installation. Exits 1 when any check fails.

use std::path::Path;

use crate::config::{Loaded, TlsMode};
use crate::core::db::{self, DbUrl, migrations};
use crate::core::tls;

use super::Failure;

/// Warn below this much free space in the data dir.
const LOW_DISK_BYTES: u64 = 1 << 30;

enum Check {
    Ok(String),
    Warn(String),
    Fail(String),
}

pub fn run(loaded: &Loaded) -> Result<(), Failure> {
    let s = &loaded.settings;
    match &loaded.file {
        Some(f) => say!("# configuration file: {}", f.display()),
        None => say!("# no configuration file; built-in defaults and RAPPORT_* environment"),
    }
    say!("# effective configuration (secrets redacted)");
    say!("{}", s.to_redacted_toml());
    say!("# checks");

    let mut checks = vec![check_data_dir(&s.data_dir)];
    checks.extend(check_database(loaded));
    checks.push(check_tls(loaded));
    checks.push(check_disk(&s.data_dir));

    let mut failed = 0;
    for c in &checks {
        match c {
            Check::Ok(m) => say!("ok    {m}"),
            Check::Warn(m) => say!("warn  {m}"),
            Check::Fail(m) => {
                failed += 1;
                say!("FAIL  {m}")
            }
        }
    }
    if failed > 0 {
        return Err(Failure::runtime(format!("{failed} check(s) failed")));
    }
    Ok(())
}

fn check_data_dir(dir: &Path) -> Check {
    if !dir.exists() {
        // Can it be created? Try the nearest existing parent.
        let parent = dir.ancestors().skip(1).find(|a| a.exists());
        return match parent.map(db::check_writable_dir) {
            Some(Ok(())) => Check::Warn(format!(
                "data dir {} does not exist yet; `rapport serve` creates it",
                dir.display()
            )),
            Some(Err(e)) => Check::Fail(format!(
                "data dir {} does not exist and cannot be created: {e}",
                dir.display()
            )),
            None => Check::Fail(format!("data dir {}: no existing parent", dir.display())),
        };
    }
    match db::check_writable_dir(dir) {
        Ok(()) => Check::Ok(format!("data dir {} is writable", dir.display())),
        Err(e) => Check::Fail(format!("data dir: {e}")),
    }
}

fn check_database(loaded: &Loaded) -> Vec<Check> {
    let url = match loaded.settings.database_url() {
        Ok(u) => u,
        Err(e) => return vec![Check::Fail(format!("database.url: {e}"))],
    };
    if let DbUrl::Sqlite(path) = &url
        && !path.exists()
    {
        return vec![Check::Warn(format!(
            "database file {} does not exist yet; `rapport migrate` or `rapport serve` creates it",
            path.display()
        ))];
    }
    let mut conn = match db::ConnectionManager::new(url.clone()).open() {
        Ok(c) => c,
        Err(e) => return vec![Check::Fail(e.to_string())],
    };
    let reachable = Check::Ok(format!("database reachable: {}", url.describe()));
    let migrations = match migrations::status(&mut conn) {
        Ok(list) => {
            let pending: Vec<_> = list.iter().filter(|m| !m.applied).collect();
            if pending.is_empty() {
                Check::Ok(format!(
                    "migrations current ({} applied, schema {})",
                    list.len(),
                    migrations::latest_known()
                ))
            } else {
                Check::Fail(format!(
                    "{} migration(s) pending (first: {}); run `rapport migrate`",
                    pending.len(),
                    pending[0].name
                ))
            }
        }
        Err(e) => Check::Fail(e.to_string()),
    };
    vec![reachable, migrations]
}

fn check_tls(loaded: &Loaded) -> Check {
    let s = &loaded.settings;
    let (cert, key) = match s.tls.mode {
        TlsMode::Off => return Check::Ok("TLS off (plain HTTP)".into()),
        TlsMode::Files => (s.tls.cert.clone(), s.tls.key.clone()),
        TlsMode::SelfSigned => {
            let dir = s.data_dir.join("tls");
            let cert = if s.tls.cert.as_os_str().is_empty() {
                dir.join("cert.pem")
            } else {
                s.tls.cert.clone()
            };
            let key = if s.tls.key.as_os_str().is_empty() {
                dir.join("key.pem")
            } else {
                s.tls.key.clone()
            };
            if !cert.exists() {
                return Check::Ok(format!(
                    "TLS self-signed; {} is generated on first start",
                    cert.display()
                ));
            }
            (cert, key)
        }
    };
    match tls::server_config(&cert, &key).and_then(|_| tls::file_fingerprint(&cert)) {
        Ok(fp) => Check::Ok(format!(
            "TLS certificate {} matches its key; SHA-256 {fp}",
            cert.display()
        )),
        Err(e) => Check::Fail(e),
    }
}

fn check_disk(dir: &Path) -> Check {
    let probe = if dir.exists() {
        dir.to_path_buf()
    } else {
        dir.ancestors()
            .find(|p| p.exists() && !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| ".".into())
    };
    match rustix::fs::statvfs(&probe) {
        Ok(st) => {
            let free = st.f_bavail.saturating_mul(st.f_frsize);
            let gib = free as f64 / (1u64 << 30) as f64;
            let msg = format!(
                "{gib:.1} GiB free on the file system of {}",
                probe.display()
            );
            if free < LOW_DISK_BYTES {
                Check::Warn(format!("only {msg}"))
            } else {
                Check::Ok(msg)
            }
        }
        Err(e) => Check::Warn(format!(
            "cannot read free space of {}: {e}",
            probe.display()
        )),
    }
}
