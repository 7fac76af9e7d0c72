//! Settings: built-in defaults < config file < `RAPPORT_*` environment.
//!
//! Every option is declared once below, with its default and a doc comment.
//! `config.example.toml` mirrors these defaults; a test fails when they drift.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::core::db::DbUrl;

/// Config files looked for, in order, when `--config` is not given.
pub const DEFAULT_CONFIG_PATHS: &[&str] = &["/etc/rapport/rapport.toml", "./rapport.toml"];

/// Environment variables that start with `RAPPORT_` but are not settings.
const NON_SETTING_ENV: &[&str] = &["RAPPORT_CONFIG", "RAPPORT_PASSPHRASE"];
const NON_SETTING_ENV_PREFIXES: &[&str] = &["RAPPORT_TEST_", "RAPPORT_BENCH_"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Directory for the SQLite database, logs, attachments and generated
    /// certificates. Relative paths are taken from the working directory.
    pub data_dir: PathBuf,
    pub database: DatabaseSettings,
    pub server: ServerSettings,
    pub tls: TlsSettings,
    pub log: LogSettings,
    pub auth: AuthSettings,
    pub backup: BackupSettings,
    pub storage: StorageSettings,
    pub jobs: JobSettings,
    pub import: ImportSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportSettings {
    /// Largest file (MiB) the web upload for imports accepts; larger ones
    /// get 413. The command line (`rapport import`) has no limit.
    pub max_upload_mb: u64,
}

impl Default for ImportSettings {
    fn default() -> Self {
        ImportSettings { max_upload_mb: 100 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Directory for attachment files. Empty: `<data_dir>/attachments`.
    /// With several nodes, a directory every node mounts (NFS, SMB, CephFS).
    pub attachments_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobSettings {
    /// Seconds between removals of expired sessions.
    pub session_purge_seconds: u64,
    /// Seconds between removals of attachment files no record refers to.
    pub attachment_cleanup_seconds: u64,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            session_purge_seconds: 600,
            attachment_cleanup_seconds: 21_600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupSettings {
    /// Directory for archives (scheduled ones and `rapport backup create`
    /// without `--out`). Empty: `<data_dir>/backups`. Never inside the
    /// attachments directory.
    pub dir: PathBuf,
    /// When the server takes a backup: `daily HH:MM` in the company's time
    /// zone, or `off`. With several nodes only one takes it.
    pub schedule: String,
    /// Archives kept in `dir`; older ones are removed after each scheduled
    /// backup. 0 keeps all.
    pub keep: usize,
    /// File whose first line is the passphrase that encrypts scheduled
    /// archives. Empty: the `RAPPORT_PASSPHRASE` environment variable if
    /// set, else archives are not encrypted.
    pub passphrase_file: PathBuf,
    /// Take a (verified) backup into `dir` before `serve` applies pending
    /// migrations to a database that already holds data.
    pub before_upgrade: bool,
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            dir: PathBuf::new(),
            schedule: "daily 02:30".into(),
            keep: 7,
            passphrase_file: PathBuf::new(),
            before_upgrade: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH`, a plain file path, or `postgres://user:pass@host/db`.
    /// Empty: the SQLite file `rapport.db` inside `data_dir`.
    pub url: String,
    /// Largest number of open database connections.
    pub pool_size: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port the web UI and API listen on.
    pub listen: String,
    /// Worker threads serving HTTP; 0 means one per CPU core.
    pub workers: usize,
    /// Seconds that in-flight requests get to finish at shutdown.
    pub shutdown_timeout: u64,
    /// IP addresses of reverse proxies (e.g. `127.0.0.1` for nginx on the same
    /// host) whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed:
    /// the client is the right-most forwarded address that is not itself a
    /// trusted proxy, and `X-Forwarded-Proto: https` counts as HTTPS (Secure
    /// cookies, HSTS). From any other peer these headers are ignored.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain HTTP (behind a reverse proxy that terminates TLS, or for trials).
    Off,
    /// HTTPS with the certificate and key named by `tls.cert` and `tls.key`.
    Files,
    /// HTTPS with a certificate Rapport generates on first start.
    SelfSigned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// `off`, `files` or `self-signed`.
    pub mode: TlsMode,
    /// PEM certificate chain. With `self-signed`, empty means `<data_dir>/tls/cert.pem`.
    pub cert: PathBuf,
    /// PEM private key. With `self-signed`, empty means `<data_dir>/tls/key.pem`.
    pub key: PathBuf,
    /// Optional plain-HTTP address (e.g. `0.0.0.0:80`) that redirects to HTTPS.
    pub redirect_from: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `human` or `json`.
    pub format: LogFormat,
    /// Level or filter directives, e.g. `info` or `info,rapport=debug`.
    pub level: String,
    /// Daily log files kept in `dir`; 0 turns file logs off.
    pub keep: usize,
    /// Directory of the daily log files. Empty: `<data_dir>/logs`.
    pub dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Minutes without a request after which a session ends.
    pub session_idle_minutes: u32,
    /// Hours after login after which a session ends regardless.
    pub session_max_hours: u32,
    /// Wrong passwords in a row that lock an account.
    pub lockout_threshold: u32,
    /// Minutes an account stays locked; also the window of the per-address limit.
    pub lockout_minutes: u32,
    /// Failed logins from one address within `lockout_minutes` before it is refused.
    pub ip_max_failures: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            session_idle_minutes: 480,
            session_max_hours: 168,
            lockout_threshold: 5,
            lockout_minutes: 15,
            ip_max_failures: 30,
        }
    }
}

impl AuthSettings {
    pub fn lifetimes(&self) -> crate::core::auth::session::Lifetimes {
        crate::core::auth::session::Lifetimes {
            idle: chrono::Duration::minutes(i64::from(self.session_idle_minutes)),
            absolute: chrono::Duration::hours(i64::from(self.session_max_hours)),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./rapport-data"),
            database: DatabaseSettings::default(),
            server: ServerSettings::default(),
            tls: TlsSettings::default(),
            log: LogSettings::default(),
            auth: AuthSettings::default(),
            storage: StorageSettings::default(),
            import: ImportSettings::default(),
            jobs: JobSettings::default(),
            backup: BackupSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: String::new(),
            pool_size: 8,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            workers: 0,
            shutdown_timeout: 15,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            mode: TlsMode::Off,
            cert: PathBuf::new(),
            key: PathBuf::new(),
            redirect_from: String::new(),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Human,
            level: "info".into(),
            keep: 14,
            dir: PathBuf::new(),
        }
    }
}

/// A configuration problem, always naming the key and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The settings in force plus the file they were read from (if any).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub file: Option<PathBuf>,
}

/// Which config file to read: the explicit one, else the first default that exists.
pub fn locate(explicit: Option<&Path>) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = explicit {
        if !path.is_file() {
            return Err(ConfigError(format!(
                "config file {} does not exist or is not a file",
                path.display()
            )));
        }
        return Ok(Some(path.to_path_buf()));
    }
    Ok(DEFAULT_CONFIG_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file()))
}

/// Load settings from `file` (if any) and the process environment.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
    let file = locate(explicit)?;
    let env: HashMap<String, String> = std::env::vars().collect();
    let settings = load_from(file.as_deref(), &env)?;
    Ok(Loaded { settings, file })
}

/// Load settings from an optional file and an explicit environment map.
pub fn load_from(
    file: Option<&Path>,
    env: &HashMap<String, String>,
) -> Result<Settings, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        // Parse once ourselves for a precise syntax error with line and column.
        if let Err(e) = text.parse::<toml::Table>() {
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid TOML");
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!(" at line {line}")
                })
                .unwrap_or_default();
            return Err(ConfigError(format!(
                "config file {}{at}: {first}",
                path.display()
            )));
        }
        builder = builder.add_source(
            config::File::from(path)
                .format(config::FileFormat::Toml)
                .required(true),
        );
    }
    let mut from_env = HashMap::new();
    for (name, value) in env {
        if !name.starts_with("RAPPORT_")
            || NON_SETTING_ENV.contains(&name.as_str())
            || NON_SETTING_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
        {
            continue;
        }
        from_env.insert(name.clone(), value.clone());
    }
    builder = builder.add_source(
        config::Environment::with_prefix("RAPPORT")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("server.trusted_proxies")
            .source(Some(from_env)),
    );
    let cfg = builder
        .build()
        .map_err(|e| ConfigError(format!("configuration: {e}")))?;

    check_unknown_keys(&cfg, file)?;
    let settings: Settings = cfg
        .clone()
        .try_deserialize()
        .map_err(|e| ConfigError(describe_config_error(&cfg, file, e)))?;
    settings.validate(&|key| origin_of(&cfg, file, key))?;
    Ok(settings)
}

/// Dotted names of every known leaf key (`database.url`, `log.keep`, …).
pub fn known_keys() -> BTreeSet<String> {
    let value = toml::Value::try_from(Settings::default()).unwrap_or(toml::Value::Boolean(false));
    let mut keys = BTreeSet::new();
    collect_keys(&value, "", &mut keys);
    keys
}

fn collect_keys(value: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let toml::Value::Table(table) = value {
        for (k, v) in table {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if v.is_table() {
                collect_keys(v, &key, out);
            } else {
                out.insert(key);
            }
        }
    }
}

fn check_unknown_keys(cfg: &config::Config, file: Option<&Path>) -> Result<(), ConfigError> {
    let known = known_keys();
    let sections: BTreeSet<String> = known
        .iter()
        .filter_map(|k| k.split_once('.').map(|(s, _)| s.to_string()))
        .collect();
    let table = cfg
        .cache
        .clone()
        .into_table()
        .map_err(|e| ConfigError(format!("configuration: {e}")))?;
    let mut present = Vec::new();
    for (key, value) in table {
        flatten(&key, &value, file, &mut present);
    }
    for (key, origin) in present {
        let top = key.split('.').next().unwrap_or("");
        if known.contains(&key) {
            continue;
        }
        // A leaf that is really a known section given a scalar value.
        let what = if sections.contains(&key) {
            "must be a table (section), not a value"
        } else if !sections.contains(top) && key.contains('.') {
            "unknown section"
        } else {
            "unknown key"
        };
        return Err(ConfigError(format!(
            "{what} `{key}` in {}{}",
            origin.unwrap_or_else(|| "configuration".into()),
            suggestion(&key, &known)
        )));
    }
    Ok(())
}

fn flatten(
    prefix: &str,
    value: &config::Value,
    file: Option<&Path>,
    out: &mut Vec<(String, Option<String>)>,
) {
    match value.clone().into_table() {
        Ok(table) if !table.is_empty() => {
            for (k, v) in table {
                flatten(&format!("{prefix}.{k}"), &v, file, out);
            }
        }
        _ => out.push((
            prefix.to_string(),
            value.origin().map(|o| describe_origin(o, file, prefix)),
        )),
    }
}

/// The config crate names a file relative to the working directory; use the
/// path as the user gave it instead.
fn describe_origin(origin: &str, file: Option<&Path>, key: &str) -> String {
    if origin.contains("environment") {
        format!(
            "the environment variable RAPPORT_{}",
            key.replace('.', "__").to_uppercase()
        )
    } else {
        file.map_or_else(|| origin.to_string(), |f| f.display().to_string())
    }
}

fn suggestion(key: &str, known: &BTreeSet<String>) -> String {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    let close: Vec<&String> = known
        .iter()
        .filter(|k| {
            let kl = k.rsplit('.').next().unwrap_or(k);
            kl == leaf || edit_distance(kl, leaf) <= 2
        })
        .collect();
    match close.first() {
        Some(k) => format!(" (did you mean `{k}`?)"),
        None => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn origin_of(cfg: &config::Config, file: Option<&Path>, key: &str) -> String {
    let mut value = &cfg.cache;
    for part in key.split('.') {
        match &value.kind {
            config::ValueKind::Table(map) => match map.get(part) {
                Some(v) => value = v,
                None => return "the built-in default".into(),
            },
            _ => return "the built-in default".into(),
        }
    }
    value
        .origin()
        .map(|o| describe_origin(o, file, key))
        .unwrap_or_else(|| "the built-in default".into())
}

fn describe_config_error(
    cfg: &config::Config,
    file: Option<&Path>,
    err: config::ConfigError,
) -> String {
    match &err {
        config::ConfigError::Type {
            key: Some(key),
            unexpected,
            expected,
            ..
        } => format!(
            "invalid value for `{key}` in {}: expected {expected}, found {unexpected}",
            origin_of(cfg, file, key)
        ),
        _ => {
            // serde messages for enums carry no key; find which enum key is bad.
            let msg = err.to_string();
            for key in ["tls.mode", "log.format"] {
                if let Ok(v) = cfg.get::<String>(key) {
                    let ok = match key {
                        "tls.mode" => ["off", "files", "self-signed"].contains(&v.as_str()),
                        _ => ["human", "json"].contains(&v.as_str()),
                    };
                    if !ok {
                        let allowed = if key == "tls.mode" {
                            "`off`, `files` or `self-signed`"
                        } else {
                            "`human` or `json`"
                        };
                        return format!(
                            "invalid value for `{key}` in {}: `{v}`; expected {allowed}",
                            origin_of(cfg, file, key)
                        );
                    }
                }
            }
            format!("invalid configuration: {msg}")
        }
    }
}

impl Settings {
    /// Check values that types alone cannot; `origin` names where a key came from.
    pub fn validate(&self, origin: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: String| {
            Err(ConfigError(format!(
                "invalid value for `{key}` in {}: {msg}",
                origin(key)
            )))
        };
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir", "must not be empty".into());
        }
        if let Err(e) = self.database_url() {
            return bad("database.url", e);
        }
        if self.database.pool_size == 0 || self.database.pool_size > 500 {
            return bad(
                "database.pool_size",
                format!("{} is out of range 1..=500", self.database.pool_size),
            );
        }
        if let Err(e) = parse_addr(&self.server.listen) {
            return bad("server.listen", e);
        }
        if self.server.workers > 256 {
            return bad(
                "server.workers",
                format!("{} is out of range 0..=256", self.server.workers),
            );
        }
        if let Some(p) = self
            .server
            .trusted_proxies
            .iter()
            .find(|p| !p.trim().is_empty() && p.trim().parse::<IpAddr>().is_err())
        {
            return bad(
                "server.trusted_proxies",
                format!("`{p}` is not an IP address, e.g. \"127.0.0.1\" or \"::1\""),
            );
        }
        if self.tls.mode == TlsMode::Files {
            // The missing key has no origin of its own: name where the mode
            // that needs it was set.
            for (key, what) in [
                ("tls.cert", "a PEM certificate"),
                ("tls.key", "a PEM private key"),
            ] {
                let missing = match key {
                    "tls.cert" => self.tls.cert.as_os_str().is_empty(),
                    _ => self.tls.key.as_os_str().is_empty(),
                };
                if missing {
                    return Err(ConfigError(format!(
                        "`{key}` is missing: tls.mode = \"files\" (set in {}) needs the path to {what}",
                        origin("tls.mode")
                    )));
                }
            }
        }
        if !self.tls.redirect_from.is_empty() {
            if self.tls.mode == TlsMode::Off {
                return bad(
                    "tls.redirect_from",
                    "only makes sense with tls.mode = \"files\" or \"self-signed\"".into(),
                );
            }
            if let Err(e) = parse_addr(&self.tls.redirect_from) {
                return bad("tls.redirect_from", e);
            }
        }
        for (key, value, range) in [
            (
                "auth.session_idle_minutes",
                self.auth.session_idle_minutes,
                1..=525_600,
            ),
            (
                "auth.session_max_hours",
                self.auth.session_max_hours,
                1..=8_760,
            ),
            (
                "auth.lockout_threshold",
                self.auth.lockout_threshold,
                1..=100,
            ),
            (
                "auth.lockout_minutes",
                self.auth.lockout_minutes,
                1..=10_080,
            ),
            (
                "auth.ip_max_failures",
                self.auth.ip_max_failures,
                1..=100_000,
            ),
        ] {
            if !range.contains(&value) {
                return bad(
                    key,
                    format!(
                        "{value} is out of range {}..={}",
                        range.start(),
                        range.end()
                    ),
                );
            }
        }
        for (key, value) in [
            (
                "jobs.session_purge_seconds",
                self.jobs.session_purge_seconds,
            ),
            (
                "jobs.attachment_cleanup_seconds",
                self.jobs.attachment_cleanup_seconds,
            ),
        ] {
            if !(1..=604_800).contains(&value) {
                return bad(key, format!("{value} is out of range 1..=604800 (a week)"));
            }
        }
        if let Err(e) = crate::core::backup::schedule::parse(&self.backup.schedule) {
            return bad("backup.schedule", e);
        }
        if self.backup.keep > 100_000 {
            return bad(
                "backup.keep",
                format!("{} is out of range 0..=100000", self.backup.keep),
            );
        }
        let backups = crate::core::backup::schedule::backup_dir(self);
        if backups.starts_with(self.attachments_dir()) {
            return bad(
                "backup.dir",
                format!(
                    "{} is inside the attachments directory; archives must not sit where files are served",
                    backups.display()
                ),
            );
        }
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.log.level) {
            return bad("log.level", format!("`{}`: {e}", self.log.level));
        }
        Ok(())
    }

    /// The database to use: `database.url`, or SQLite inside `data_dir`.
    pub fn database_url(&self) -> Result<DbUrl, String> {
        if self.database.url.trim().is_empty() {
            Ok(DbUrl::Sqlite(self.data_dir.join("rapport.db")))
        } else {
            DbUrl::parse(self.database.url.trim())
        }
    }

    pub fn listen_addr(&self) -> SocketAddr {
        parse_addr(&self.server.listen).unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        if self.tls.redirect_from.is_empty() {
            None
        } else {
            parse_addr(&self.tls.redirect_from).ok()
        }
    }

    /// Is `peer` one of `server.trusted_proxies`?
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.server
            .trusted_proxies
            .iter()
            .any(|p| p.trim().parse::<IpAddr>().map(|p| p.to_canonical()) == Ok(peer))
    }

    pub fn logs_dir(&self) -> PathBuf {
        if self.log.dir.as_os_str().is_empty() {
            self.data_dir.join("logs")
        } else {
            self.log.dir.clone()
        }
    }

    /// Where attachment files live: `storage.attachments_dir`, else
    /// `<data_dir>/attachments`.
    pub fn attachments_dir(&self) -> PathBuf {
        if self.storage.attachments_dir.as_os_str().is_empty() {
            self.data_dir.join("attachments")
        } else {
            self.storage.attachments_dir.clone()
        }
    }

    /// The settings as TOML, with the database password replaced by `****`.
    pub fn to_redacted_toml(&self) -> String {
        let mut copy = self.clone();
        copy.database.url = redact_url(&copy.database.url);
        toml::to_string_pretty(&copy).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>().map_err(|_| {
        format!("`{s}` is not an address with a port, e.g. \"127.0.0.1:8080\" or \"[::]:443\"")
    })
}

/// Replace the password in a `scheme://user:password@host` URL.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:****{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &rest[at..]
                ),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        use std::io::Write;
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_without_file_or_env() {
        let s = load_from(None, &env(&[])).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.server.listen, "127.0.0.1:8080");
        assert_eq!(
            s.database_url().unwrap(),
            DbUrl::Sqlite(PathBuf::from("./rapport-data/rapport.db"))
        );
    }

    #[test]
    fn example_file_matches_defaults_and_names_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let s = load_from(Some(&path), &env(&[])).unwrap();
        assert_eq!(
            s,
            Settings::default(),
            "config.example.toml drifted from the defaults"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let table: toml::Table = text.parse().unwrap();
        let mut in_file = BTreeSet::new();
        collect_keys(&toml::Value::Table(table), "", &mut in_file);
        assert_eq!(
            in_file,
            known_keys(),
            "config.example.toml must document every key"
        );
    }

    #[test]
    fn env_overrides_file_overrides_default() {
        let f = write("[server]\nlisten = \"0.0.0.0:9000\"\n[database]\npool_size = 3\n");
        let s = load_from(
            Some(f.path()),
            &env(&[
                ("RAPPORT_DATABASE__POOL_SIZE", "5"),
                ("RAPPORT_TLS__MODE", "self-signed"),
                ("RAPPORT_TEST_POSTGRES_URL", "postgres://ignored"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.listen, "0.0.0.0:9000");
        assert_eq!(s.database.pool_size, 5);
        assert_eq!(s.tls.mode, TlsMode::SelfSigned);
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let f = write("[database]\nurll = \"x\"\n");
        let e = load_from(Some(f.path()), &env(&[])).unwrap_err().0;
        assert!(e.contains("`database.urll`"), "{e}");
        assert!(e.contains(&f.path().display().to_string()), "{e}");
        assert!(e.contains("did you mean `database.url`"), "{e}");
    }

    #[test]
    fn unknown_env_key_is_named() {
        let e = load_from(None, &env(&[("RAPPORT_SERVER__LISTN", "x")]))
            .unwrap_err()
            .0;
        assert!(
            e.contains("`server.listn`") && e.contains("RAPPORT_SERVER__LISTN"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_key_and_origin() {
        let f = write("[database]\npool_size = \"many\"\n");
        let e = load_from(Some(f.path()), &env(&[])).unwrap_err().0;
        assert!(e.contains("`database.pool_size`"), "{e}");

        let f = write("[tls]\nmode = \"sometimes\"\n");
        let e = load_from(Some(f.path()), &env(&[])).unwrap_err().0;
        assert!(e.contains("`tls.mode`") && e.contains("self-signed"), "{e}");

        let e = load_from(None, &env(&[("RAPPORT_SERVER__LISTEN", "localhost")]))
            .unwrap_err()
            .0;
        assert!(
            e.contains("`server.listen`") && e.contains("RAPPORT_SERVER__LISTEN"),
            "{e}"
        );

        let e = load_from(None, &env(&[("RAPPORT_DATABASE__URL", "mysql://x/y")]))
            .unwrap_err()
            .0;
        assert!(e.contains("`database.url`") && e.contains("mysql"), "{e}");

        let f = write("[tls]\nmode = \"files\"\n");
        let e = load_from(Some(f.path()), &env(&[])).unwrap_err().0;
        assert!(
            e.contains("`tls.cert`") && e.contains(&f.path().display().to_string()),
            "{e}"
        );
        let e = load_from(None, &env(&[("RAPPORT_TLS__MODE", "files")]))
            .unwrap_err()
            .0;
        assert!(e.contains("RAPPORT_TLS__MODE"), "{e}");
    }

    #[test]
    fn trusted_proxies_from_file_and_env() {
        let f = write("[server]\ntrusted_proxies = [\"127.0.0.1\"]\n");
        let s = load_from(Some(f.path()), &env(&[])).unwrap();
        assert!(s.is_trusted_proxy("127.0.0.1".parse().unwrap()));
        assert!(s.is_trusted_proxy("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!s.is_trusted_proxy("10.0.0.1".parse().unwrap()));

        let s = load_from(
            None,
            &env(&[("RAPPORT_SERVER__TRUSTED_PROXIES", "10.0.0.1, ::1")]),
        )
        .unwrap();
        assert!(s.is_trusted_proxy("10.0.0.1".parse().unwrap()));
        assert!(s.is_trusted_proxy("::1".parse().unwrap()));

        let f = write("[server]\ntrusted_proxies = [\"nginx\"]\n");
        let e = load_from(Some(f.path()), &env(&[])).unwrap_err().0;
        assert!(
            e.contains("`server.trusted_proxies`") && e.contains("nginx"),
            "{e}"
        );
    }

    #[test]
    fn toml_syntax_error_names_file_and_line() {
        let f = write("[server]\nlisten = \"127.0.0.1:80\"\nworkers = = 2\n");
        let e = load_from(Some(f.path()), &env(&[])).unwrap_err().0;
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn redacts_password() {
        assert_eq!(
            redact_url("postgres://rapport:s3cret@db.lan:5432/crm"),
            "postgres://rapport:****@db.lan:5432/crm"
        );
        assert_eq!(redact_url("postgres://db.lan/crm"), "postgres://db.lan/crm");
    }
}
