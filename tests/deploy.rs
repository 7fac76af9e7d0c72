//! Running Rapport as an appliance: the systemd units, the Debian package
//! metadata and scripts, TLS reload on SIGHUP, and upgrades over an older
//! (or refusing a newer) database.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::process::{BIN, Node};
use common::{Backend, TestDb};
use diesel::connection::SimpleConnection;
use rapport::core::db::DbConn;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const SERVICES: &[&str] = &["rapport.service", "rapport-backup.service"];
const UNITS: &[&str] = &[
    "rapport.service",
    "rapport-backup.service",
    "rapport-backup.timer",
];

/// The exposure score `systemd-analyze security` gives a service.
fn exposure(unit: &Path) -> f64 {
    let o = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(unit)
        .output()
        .expect("systemd-analyze");
    let out = text(&o);
    let line = out
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score for {}:\n{out}", unit.display()));
    line.split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score in `{line}`"))
}

#[test]
fn units_are_valid_and_hardened() {
    if !have("systemd-analyze") {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // `verify` checks that ExecStart= exists: point it at the binary under test.
    let mut copies = Vec::new();
    for unit in UNITS {
        let src = std::fs::read_to_string(root().join("systemd").join(unit)).unwrap();
        let dst = dir.path().join(unit);
        std::fs::write(&dst, src.replace("/usr/bin/rapport", BIN)).unwrap();
        copies.push(dst);
    }
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&copies)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success() && out.trim().is_empty(), "{out}");

    for unit in SERVICES {
        let score = exposure(&root().join("systemd").join(unit));
        eprintln!("{unit}: exposure {score}");
        assert!(score <= 2.5, "{unit}: exposure {score} > 2.5");
    }
    let service = std::fs::read_to_string(root().join("systemd/rapport.service")).unwrap();
    for line in [
        "User=rapport",
        "StateDirectory=rapport",
        "LogsDirectory=rapport",
        "ConfigurationDirectory=rapport",
        "ExecStart=/usr/bin/rapport serve --config /etc/rapport/rapport.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "SystemCallFilter=@system-service",
    ] {
        assert!(service.lines().any(|l| l == line), "`{line}` missing");
    }
    let backup = std::fs::read_to_string(root().join("systemd/rapport-backup.service")).unwrap();
    assert!(
        backup.contains(
            "ExecStart=/usr/bin/rapport backup create --config /etc/rapport/rapport.toml"
        )
    );
}

#[test]
fn shell_scripts_parse() {
    let mut scripts = vec![
        root().join("deploy/install.sh"),
        root().join("deploy/check-deb.sh"),
    ];
    for s in ["postinst", "prerm", "postrm"] {
        let p = root().join("debian").join(s);
        let body = std::fs::read_to_string(&p).unwrap();
        // cargo-deb puts the generated systemd snippets at this token.
        assert!(
            body.contains("#DEBHELPER#"),
            "{} lacks #DEBHELPER#",
            p.display()
        );
        scripts.push(p);
    }
    for p in scripts {
        let o = Command::new("sh").arg("-n").arg(&p).output().unwrap();
        assert!(o.status.success(), "{}: {}", p.display(), text(&o));
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&p).unwrap().permissions());
        assert!(mode & 0o111 != 0, "{} is not executable", p.display());
    }
}

#[test]
fn deb_metadata_names_files_that_exist() {
    let manifest: toml::Table = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let deb = &manifest["package"]["metadata"]["deb"];
    let scripts = deb["maintainer-scripts"].as_str().unwrap();
    assert!(root().join(scripts).is_dir());
    let mut targets = Vec::new();
    for asset in deb["assets"].as_array().unwrap() {
        let a = asset.as_array().unwrap();
        let (src, dst) = (a[0].as_str().unwrap(), a[1].as_str().unwrap());
        targets.push(dst.to_string());
        if src.starts_with("target/") {
            continue; // built by cargo
        }
        assert!(root().join(src).is_file(), "asset {src} does not exist");
    }
    assert!(targets.iter().any(|t| t == "usr/bin/"), "{targets:?}");
    assert!(
        targets.iter().any(|t| t == "etc/rapport/rapport.toml"),
        "{targets:?}"
    );
    for unit in deb["systemd-units"].as_array().unwrap() {
        let dir = unit["unit-scripts"].as_str().unwrap();
        let name = unit["unit-name"].as_str().unwrap();
        assert!(
            root().join(dir).join(format!("{name}.service")).is_file(),
            "{name}"
        );
    }
}

/// The packaged /etc/rapport/rapport.toml is config.example.toml with the
/// appliance's values: it loads, documents every key, and keeps data and
/// logs where systemd creates them.
#[test]
fn packaged_config_is_the_example_with_appliance_paths() {
    let path = root().join("deploy/rapport.toml");
    let s = rapport::config::load_from(Some(&path), &Default::default()).unwrap();
    assert_eq!(s.data_dir, Path::new("/var/lib/rapport"));
    assert_eq!(s.logs_dir(), Path::new("/var/log/rapport"));
    assert_eq!(s.server.listen, "0.0.0.0:8443");
    assert_eq!(s.tls.mode, rapport::config::TlsMode::SelfSigned);
    let table: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let mut keys = std::collections::BTreeSet::new();
    collect(&toml::Value::Table(table), "", &mut keys);
    assert_eq!(
        keys,
        rapport::config::known_keys(),
        "deploy/rapport.toml must show every key"
    );
}

fn collect(v: &toml::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    if let toml::Value::Table(t) = v {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if v.is_table() {
                collect(v, &key, out);
            } else {
                out.insert(key);
            }
        }
    }
}

// ---- TLS reload on SIGHUP ----------------------------------------------

/// Accepts any certificate and remembers the one the server showed.
#[derive(Debug)]
struct Recorder {
    seen: Mutex<Option<Vec<u8>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _name: &rustls_pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end_entity.to_vec());
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// One kept-alive HTTPS connection and the fingerprint of the certificate
/// its handshake saw.
struct Conn {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    fingerprint: String,
}

impl Conn {
    fn open(addr: &str) -> Conn {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let recorder = Arc::new(Recorder {
            seen: Mutex::new(None),
            provider: provider.clone(),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        let der = recorder
            .seen
            .lock()
            .unwrap()
            .clone()
            .expect("a certificate");
        Conn {
            tls,
            fingerprint: rapport::core::tls::fingerprint(&der),
        }
    }

    /// `GET path` on this connection; the status code.
    fn get(&mut self, path: &str) -> u16 {
        write!(
            self.tls,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n"
        )
        .unwrap();
        self.tls.flush().unwrap();
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            let n = self.tls.read(&mut byte).unwrap();
            assert_eq!(n, 1, "connection closed");
            buf.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&buf).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        self.tls.read_exact(&mut body).unwrap();
        head.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

fn write_pair(dir: &Path) -> String {
    let pair = rapport::core::tls::generate_self_signed(&["localhost".into()]).unwrap();
    rapport::core::tls::write_pair(&dir.join("cert.pem"), &dir.join("key.pem"), &pair).unwrap();
    pair.fingerprint
}

#[test]
fn sighup_reloads_tls_files_and_keeps_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tls = d.join("tls");
    let first = write_pair(&tls);
    let cert = tls.join("cert.pem").display().to_string();
    let key = tls.join("key.pem").display().to_string();
    let node = Node::start(
        d,
        &[
            ("RAPPORT_TLS__MODE", "files"),
            ("RAPPORT_TLS__CERT", &cert),
            ("RAPPORT_TLS__KEY", &key),
        ],
    );
    let mut open = Conn::open(&node.addr);
    assert_eq!(open.fingerprint, first);
    assert_eq!(open.get("/healthz"), 200);

    // The administrator renews the certificate and runs `systemctl reload`.
    let second = write_pair(&tls);
    assert_ne!(first, second);
    let before = node.log_len();
    node.signal("HUP");
    node.wait_log_after(before, "TLS certificate reloaded", Duration::from_secs(10));
    assert_eq!(
        Conn::open(&node.addr).fingerprint,
        second,
        "new connections"
    );
    assert_eq!(open.get("/healthz"), 200, "the open connection still works");
    assert_eq!(open.fingerprint, first);

    // A broken renewal keeps the working certificate and says why.
    std::fs::write(tls.join("cert.pem"), "not a certificate\n").unwrap();
    let before = node.log_len();
    node.signal("HUP");
    let line = node.wait_log_after(before, "not reloaded", Duration::from_secs(10));
    assert!(line.contains("tls.cert") && line.contains(&cert), "{line}");
    let mut again = Conn::open(&node.addr);
    assert_eq!(again.fingerprint, second);
    assert_eq!(again.get("/readyz"), 200);
    assert_eq!(open.get("/healthz"), 200);
}

#[test]
fn sighup_without_tls_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path(), &[]);
    let before = node.log_len();
    node.signal("HUP");
    node.wait_log_after(before, "nothing to reload", Duration::from_secs(10));
    let agent = common::agent(None);
    let r = common::Response::from(agent.get(&node.url("http", "/healthz")).call());
    assert_eq!(r.status, 200);
    assert_eq!(node.stop().code(), Some(0));
}

// ---- Upgrades ----------------------------------------------------------

fn rapport(dir: &Path, args: &[&str], url: &str) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env("RAPPORT_DATABASE__URL", url)
        .env("RAPPORT_LOG__KEEP", "0")
        .output()
        .unwrap()
}

fn tree(backend: &Backend) -> PathBuf {
    root().join("migrations").join(match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres(_) => "postgres",
    })
}

/// Apply every migration but the newest, as the previous release left the
/// database; returns the name of the one left out.
fn apply_previous_release(db: &TestDb, backend: &Backend) -> String {
    use diesel::migration::MigrationSource;
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};
    let source = FileBasedMigrations::from_path(tree(backend)).unwrap();
    let mut conn = db.connect();
    let newest = match &mut conn {
        DbConn::Sqlite(c) => {
            let mut all = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&source).unwrap();
            all.sort_by_key(|m| m.name().to_string());
            let newest = all.pop().unwrap().name().to_string();
            c.applied_migrations().unwrap(); // creates the bookkeeping table
            for m in &all {
                c.run_migration(m).unwrap();
            }
            newest
        }
        DbConn::Pg(c) => {
            let mut all = MigrationSource::<diesel::pg::Pg>::migrations(&source).unwrap();
            all.sort_by_key(|m| m.name().to_string());
            let newest = all.pop().unwrap().name().to_string();
            c.applied_migrations().unwrap(); // creates the bookkeeping table
            for m in &all {
                c.run_migration(m).unwrap();
            }
            newest
        }
    };
    // Something the users of the old release saved.
    conn.batch_execute(
        "INSERT INTO settings (key, value, updated_at) \
         VALUES ('company.name', '深圳市星河科技有限公司', '2026-01-01 00:00:00')",
    )
    .unwrap();
    newest
}

fn company(db: &TestDb) -> Option<String> {
    rapport::core::settings::get(&mut db.connect(), "company.name").unwrap()
}

fn upgrade_over_the_previous_release(backend: Backend) {
    let db = TestDb::new(&backend);
    let d = db.dir.path();
    let newest = apply_previous_release(&db, &backend);

    // The dry run lists what the new version will do, and does nothing.
    let o = rapport(d, &["migrate", "--dry-run"], &db.url);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains(&format!("would apply  {newest}")), "{out}");
    assert_eq!(out.matches("would apply").count(), 1, "{out}");
    let o = rapport(d, &["migrate", "--status"], &db.url);
    assert!(
        text(&o).contains(&format!("pending  {newest}")),
        "{}",
        text(&o)
    );

    // The new version just starts over the old database.
    let mut node = Node::start(d, &[("RAPPORT_DATABASE__URL", &db.url)]);
    let upgrade = node.events("database schema upgrade");
    assert_eq!(upgrade.len(), 1, "{:?}", node.log());
    assert_eq!(upgrade[0]["migrations"], newest.as_str());
    assert_eq!(node.events("applied migration").len(), 1);
    // ... after a verified backup of the old database.
    let backups = node.events("automatic backup before the schema upgrade");
    assert_eq!(backups.len(), 1, "{:?}", node.log());
    // Relative to the server's working directory, like its data dir.
    let archive = d.join(backups[0]["path"].as_str().unwrap());
    assert!(
        archive
            .parent()
            .is_some_and(|p| p.ends_with("rapport-data/backups")),
        "{archive:?}"
    );
    let o = rapport(d, &["backup", "verify", archive.to_str().unwrap()], &db.url);
    assert!(o.status.success(), "{}", text(&o));
    let agent = common::agent(None);
    let r = common::Response::from(agent.get(&node.url("http", "/readyz")).call());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(node.stop().code(), Some(0));

    assert_eq!(company(&db).as_deref(), Some("深圳市星河科技有限公司"));
    let o = rapport(d, &["migrate", "--dry-run"], &db.url);
    assert!(text(&o).contains("nothing would run"), "{}", text(&o));
    // A second start has nothing to upgrade.
    let mut node = Node::start(d, &[("RAPPORT_DATABASE__URL", &db.url)]);
    assert!(node.events("database schema upgrade").is_empty());
    node.stop();
}

fn newer_schema_is_refused_untouched(backend: Backend) {
    let db = TestDb::new(&backend);
    let d = db.dir.path();
    let o = rapport(d, &["migrate"], &db.url);
    assert!(o.status.success(), "{}", text(&o));
    // A newer rapport (another node, a newer package) migrated further.
    let mut conn = db.connect();
    conn.batch_execute(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ('20991231000001')",
    )
    .unwrap();
    drop(conn);

    let mut node = Node::spawn(
        d,
        &[("RAPPORT_DATABASE__URL", &db.url)],
        common::process::free_port(),
    );
    let status = node.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1));
    let log = node.log().join("\n");
    let err = log
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line:\n{log}"));
    for needle in ["newer", "20991231000001", "nothing was changed"] {
        assert!(err.contains(needle), "`{needle}` missing from {err}");
    }
    // Stopped before touching anything: no setup link was issued.
    let token = rapport::core::settings::get(&mut db.connect(), "setup.token_hash").unwrap();
    assert_eq!(token, None);

    for args in [&["migrate"][..], &["migrate", "--dry-run"]] {
        let o = rapport(d, args, &db.url);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(text(&o).contains("20991231000001"), "{}", text(&o));
    }
    let o = rapport(d, &["migrate", "--status"], &db.url);
    assert!(text(&o).contains("unknown  20991231000001"), "{}", text(&o));
}

both_backends!(
    upgrade_over_the_previous_release,
    newer_schema_is_refused_untouched
);

#[test]
fn dry_run_on_a_new_install_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = Command::new(BIN)
        .current_dir(d)
        .args(["migrate", "--dry-run"])
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let (all, _) = rapport::core::db::migrations::tree_names().unwrap();
    assert_eq!(out.matches("would apply").count(), all.len(), "{out}");
    assert!(
        !d.join("rapport-data").exists(),
        "dry run created the data dir"
    );
}
