//! The real server over HTTP and HTTPS, on both backends.

mod common;

use common::{Backend, TestServer, agent};
use rapport::config::TlsMode;

fn health_and_readiness(backend: Backend) {
    let srv = TestServer::start(&backend);
    let r = srv.get("/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(r.json()["version"], env!("CARGO_PKG_VERSION"));

    let r = srv.get("/readyz");
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["migrations"]["pending"], 0);
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres(_) => "postgres",
    };
    assert_eq!(body["database"]["backend"], expected);
}

fn request_ids_and_security_headers(backend: Backend) {
    let srv = TestServer::start(&backend);
    let a = srv.get("/healthz");
    let b = srv.get("/healthz");
    let id_a = a.header("x-request-id").expect("X-Request-Id");
    let id_b = b.header("x-request-id").expect("X-Request-Id");
    assert_eq!(id_a.len(), 16);
    assert_ne!(id_a, id_b, "each request gets its own id");
    assert_eq!(a.header("x-frame-options"), Some("DENY"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    let csp = a.header("content-security-policy").expect("CSP");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(
        a.header("strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );
}

fn unknown_path_is_json_404(backend: Backend) {
    let srv = TestServer::start(&backend);
    let r = srv.get("/no/such/page");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("/no/such/page")
    );
    assert!(r.header("x-request-id").is_some());
}

fn instance_id_survives_restart(backend: Backend) {
    use rapport::core::settings;
    let db = common::TestDb::new(&backend);
    let pool = db.migrated_pool();
    let mut conn = pool.get().unwrap();
    let first = settings::instance_id(&mut conn).unwrap();
    assert_eq!(first.len(), 32);
    assert_eq!(settings::instance_id(&mut conn).unwrap(), first);
    settings::set(&mut conn, "company.name", "深圳市星河科技有限公司").unwrap();
    settings::set(&mut conn, "company.name", "星河科技").unwrap();
    assert_eq!(
        settings::get(&mut conn, "company.name").unwrap().as_deref(),
        Some("星河科技")
    );
    assert_eq!(settings::get(&mut conn, "missing").unwrap(), None);
}

both_backends!(
    health_and_readiness,
    request_ids_and_security_headers,
    unknown_path_is_json_404,
    instance_id_survives_restart,
);

/// Write a self-signed pair for 127.0.0.1 into `dir`; returns the cert PEM.
fn write_cert(dir: &std::path::Path) -> Vec<u8> {
    let pair = rapport::core::tls::generate_self_signed(&["localhost".into(), "127.0.0.1".into()])
        .unwrap();
    rapport::core::tls::write_pair(&dir.join("cert.pem"), &dir.join("key.pem"), &pair).unwrap();
    pair.cert_pem.into_bytes()
}

#[test]
fn https_with_certificate_files_and_redirect() {
    let certs = tempfile::tempdir().unwrap();
    let root = write_cert(certs.path());
    let srv = TestServer::start_with(&Backend::Sqlite, |s| {
        s.tls.mode = TlsMode::Files;
        s.tls.cert = certs.path().join("cert.pem");
        s.tls.key = certs.path().join("key.pem");
        s.tls.redirect_from = "127.0.0.1:0".into();
    });
    assert!(srv.base.starts_with("https://"));
    let client = agent(Some(&root));
    let r: common::Response = client.get(&srv.url("/healthz")).call().into();
    assert_eq!(r.status, 200);
    assert!(
        r.header("strict-transport-security").is_some(),
        "HSTS under TLS"
    );

    // A client that does not trust the certificate is refused.
    let untrusting = agent(None);
    assert!(untrusting.get(&srv.url("/healthz")).call().is_err());

    // The plain listener redirects to the same path over HTTPS.
    let redirect = srv.redirect_addr.expect("redirect listener");
    let r: common::Response = agent(None)
        .get(&format!("http://{redirect}/readyz?x=1"))
        .call()
        .into();
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some(format!("https://127.0.0.1:{}/readyz?x=1", srv.addr.port()).as_str())
    );
}

#[test]
fn self_signed_mode_generates_once_and_keeps_the_key_private() {
    use std::os::unix::fs::PermissionsExt;
    let srv = TestServer::start_with(&Backend::Sqlite, |s| s.tls.mode = TlsMode::SelfSigned);
    let cert = srv.data_dir.join("tls/cert.pem");
    let key = srv.data_dir.join("tls/key.pem");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key must be owner-only");
    let pem = std::fs::read(&cert).unwrap();
    let r: common::Response = agent(Some(&pem)).get(&srv.url("/healthz")).call().into();
    assert_eq!(r.status, 200);
    let fp = rapport::core::tls::file_fingerprint(&cert).unwrap();
    assert_eq!(fp.len(), 32 * 3 - 1);
    drop(srv);
}
