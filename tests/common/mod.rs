//! Test kit: a fresh database per test (SQLite temp file, or a new PostgreSQL
//! database when `RAPPORT_TEST_POSTGRES_URL` is set) and the real server on a
//! random port, talked to over HTTP.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the kit"
)]

pub mod browser;
pub mod process;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use rapport::app;
use rapport::config::Settings;
use rapport::core::db::{self, DbConn, DbUrl, Pool};

/// Which backend a test runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// Base URL of a PostgreSQL server where test databases may be created.
    Postgres(String),
}

impl Backend {
    /// The Postgres backend if `RAPPORT_TEST_POSTGRES_URL` is set.
    pub fn postgres() -> Option<Backend> {
        std::env::var("RAPPORT_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .map(Backend::Postgres)
    }
}

/// Generate one `#[test]` per backend for each listed `fn name(backend: Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name($crate::common::Backend::Sqlite) } )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    match $crate::common::Backend::postgres() {
                        Some(b) => super::$name(b),
                        None => eprintln!("skipped: RAPPORT_TEST_POSTGRES_URL is not set"),
                    }
                }
            )*
        }
    };
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A database of its own for one test; dropped (Postgres) or deleted with its
/// temp dir (SQLite) at the end.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub fn new(backend: &Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => TestDb {
                url: dir.path().join("test.db").display().to_string(),
                dir,
                pg: None,
            },
            Backend::Postgres(base) => {
                let name = format!(
                    "rapport_t_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    rapport::core::tls::random_hex(3)
                );
                let mut admin = PgConnection::establish(base)
                    .unwrap_or_else(|e| panic!("RAPPORT_TEST_POSTGRES_URL {base}: {e}"));
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create test database");
                TestDb {
                    url: replace_db_name(base, &name),
                    dir,
                    pg: Some((base.clone(), name)),
                }
            }
        }
    }

    pub fn db_url(&self) -> DbUrl {
        DbUrl::parse(&self.url).expect("test db url")
    }

    /// A pool on this database with migrations applied.
    pub fn migrated_pool(&self) -> Pool {
        let pool = db::open_pool(&self.db_url(), 4).expect("open pool");
        let mut conn = pool.get().expect("connection");
        db::migrations::run_pending(&mut conn).expect("migrate");
        drop(conn);
        pool
    }

    /// A single connection without migrations.
    pub fn connect(&self) -> DbConn {
        db::ConnectionManager::new(self.db_url())
            .open()
            .expect("connect")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, name)) = &self.pg
            && let Ok(mut admin) = PgConnection::establish(base)
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// `postgres://u@h:5432/postgres?x=y` with the database name replaced.
pub fn replace_db_name(base: &str, name: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (base, String::new()),
    };
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let root = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    format!("{root}/{name}{query}")
}

/// The real server, in-process on a random port with its own data dir.
pub struct TestServer {
    pub addr: SocketAddr,
    pub redirect_addr: Option<SocketAddr>,
    pub base: String,
    pub data_dir: PathBuf,
    pub agent: ureq::Agent,
    handles: Vec<actix_web::dev::ServerHandle>,
    thread: Option<JoinHandle<()>>,
    pub db: TestDb,
}

pub fn settings_for(db: &TestDb) -> Settings {
    let mut s = Settings {
        data_dir: db.dir.path().join("data"),
        ..Settings::default()
    };
    s.database.url = db.url.clone();
    s.database.pool_size = 4;
    s.server.listen = "127.0.0.1:0".into();
    s.server.workers = 2;
    s.server.shutdown_timeout = 2;
    s.log.keep = 0;
    s
}

impl TestServer {
    pub fn start(backend: &Backend) -> TestServer {
        Self::start_with(backend, |_| {})
    }

    pub fn start_with(backend: &Backend, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        Self::start_with_db(TestDb::new(backend), tweak)
    }

    /// Serve an existing test database (e.g. one a CLI command filled).
    pub fn start_with_db(db: TestDb, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        Self::start_with_clock(db, tweak, Arc::new(rapport::core::jobs::SystemClock))
    }

    /// A server whose business rules read "now" from `clock` (a test moves
    /// a `ManualClock` to let days pass).
    pub fn start_with_clock(
        db: TestDb,
        tweak: impl FnOnce(&mut Settings),
        clock: Arc<dyn rapport::core::jobs::Clock>,
    ) -> TestServer {
        let mut settings = settings_for(&db);
        tweak(&mut settings);
        let data_dir = settings.data_dir.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let started = (|| {
                    app::prepare_data_dir(&settings)?;
                    let tls = app::load_tls(&settings)?;
                    let pool = app::open_database(&settings)?;
                    app::bind_with_clock(Arc::new(settings), pool, tls, clock)
                })();
                match started {
                    Ok(running) => {
                        let _ = tx.send(Ok((
                            running.addr,
                            running.redirect_addr,
                            running.https,
                            running.handles(),
                        )));
                        let _ = running.wait().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            })
        });
        let (addr, redirect_addr, https, handles) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server thread answered")
            .unwrap_or_else(|e| panic!("server failed to start: {e}"));
        let scheme = if https { "https" } else { "http" };
        TestServer {
            addr,
            redirect_addr,
            base: format!("{scheme}://{addr}"),
            data_dir,
            agent: agent(None),
            handles,
            thread: Some(thread),
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> Response {
        Response::from(self.agent.get(&self.url(path)).call())
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Response {
        Response::from(self.agent.post(&self.url(path)).send_json(body))
    }

    /// Any request with the given headers (`Cookie`, `Origin`,
    /// `X-Forwarded-For` …) and an optional `(content type, body)`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &str)>,
    ) -> Response {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let result = match body {
            Some((content_type, b)) => self.agent.run(
                req.header("Content-Type", content_type)
                    .body(b.to_string())
                    .unwrap(),
            ),
            None => self.agent.run(req.body(()).unwrap()),
        };
        Response::from(result)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        for h in &self.handles {
            // Sends the stop command at once; the returned future only waits.
            drop(h.stop(false));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An HTTP client that returns 4xx/5xx as responses and trusts `root_pem`.
pub fn agent(root_pem: Option<&[u8]>) -> ureq::Agent {
    let mut cfg = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)));
    if let Some(pem) = root_pem {
        let cert = ureq::tls::Certificate::from_pem(pem).expect("root cert");
        cfg = cfg.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
                .build(),
        );
    }
    cfg.build().into()
}

/// Status, headers and body of one response.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable header (`Set-Cookie`).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The `Set-Cookie` value for cookie `name`, if the response sets it.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers_named("set-cookie")
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl From<Result<ureq::http::Response<ureq::Body>, ureq::Error>> for Response {
    fn from(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Self {
        let mut resp = r.unwrap_or_else(|e| panic!("request failed: {e}"));
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        Response {
            status,
            headers,
            body,
        }
    }
}

/// A logged-in client: session cookie + CSRF header, or a bearer token.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub agent: ureq::Agent,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

impl Client {
    pub fn anonymous(srv: &TestServer) -> Client {
        Client {
            base: srv.base.clone(),
            agent: srv.agent.clone(),
            cookie: None,
            csrf: None,
            bearer: None,
        }
    }

    pub fn with_token(srv: &TestServer, token: &str) -> Client {
        Client {
            bearer: Some(token.to_string()),
            ..Client::anonymous(srv)
        }
    }

    /// Log in through the API; panics unless it succeeds.
    pub fn login(srv: &TestServer, email: &str, password: &str) -> Client {
        let mut c = Client::anonymous(srv);
        let r = c.post(
            "/api/v1/auth/login",
            &serde_json::json!({"email": email, "password": password}),
        );
        assert_eq!(r.status, 200, "login {email}: {}", r.body);
        c.adopt_session(&r);
        c
    }

    /// Take the session cookie and CSRF token from a login or setup response.
    pub fn adopt_session(&mut self, r: &Response) {
        let set_cookie = r.header("set-cookie").expect("session cookie");
        self.cookie = Some(set_cookie.split(';').next().unwrap().to_string());
        self.csrf = r.json()["csrf_token"].as_str().map(str::to_string);
    }

    fn send(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Response {
        let url = format!("{}{path}", self.base);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        if let Some(t) = &self.csrf {
            req = req.header("X-CSRF-Token", t);
        }
        if let Some(b) = &self.bearer {
            req = req.header("Authorization", format!("Bearer {b}"));
        }
        let result = match body {
            Some(b) => {
                let req = req
                    .header("Content-Type", "application/json")
                    .body(b.to_string())
                    .unwrap();
                self.agent.run(req)
            }
            None => self.agent.run(req.body(()).unwrap()),
        };
        Response::from(result)
    }

    pub fn get(&self, path: &str) -> Response {
        self.send("GET", path, None)
    }
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Response {
        self.send("POST", path, Some(body))
    }
    pub fn put(&self, path: &str, body: &serde_json::Value) -> Response {
        self.send("PUT", path, Some(body))
    }
    pub fn patch(&self, path: &str, body: &serde_json::Value) -> Response {
        self.send("PATCH", path, Some(body))
    }

    /// POST a body as it is (for malformed JSON).
    pub fn post_raw(&self, path: &str, body: &str) -> Response {
        let mut req = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        if let Some(t) = &self.csrf {
            req = req.header("X-CSRF-Token", t);
        }
        Response::from(self.agent.run(req.body(body.to_string()).unwrap()))
    }
    pub fn delete(&self, path: &str) -> Response {
        self.send("DELETE", path, None)
    }

    /// POST raw bytes with a content type (file uploads).
    pub fn post_bytes(&self, path: &str, body: &[u8], content_type: &str) -> Response {
        let mut req = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}{path}", self.base))
            .header("Content-Type", content_type);
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        if let Some(t) = &self.csrf {
            req = req.header("X-CSRF-Token", t);
        }
        if let Some(b) = &self.bearer {
            req = req.header("Authorization", format!("Bearer {b}"));
        }
        Response::from(self.agent.run(req.body(body.to_vec()).unwrap()))
    }
}

/// Percent-encode a query value.
pub fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub const ADMIN_EMAIL: &str = "admin@example.cn";
pub const ADMIN_PASSWORD: &str = "Blue-Harbour-Lantern-7";

/// Run first-time setup through the API and return the admin's client.
pub fn setup_admin(srv: &TestServer) -> Client {
    let token = {
        let mut conn = srv.db.connect();
        rapport::core::setup::issue_token(&mut conn)
            .unwrap()
            .expect("no users yet")
    };
    let mut c = Client::anonymous(srv);
    let r = c.post(
        "/api/v1/setup",
        &serde_json::json!({
            "token": token,
            "company": "深圳市星河科技有限公司",
            "time_zone": "Asia/Shanghai",
            "language": "zh-CN",
            "admin_email": ADMIN_EMAIL,
            "admin_name": "管理员",
            "admin_password": ADMIN_PASSWORD,
        }),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    c.adopt_session(&r);
    c
}

/// The password the test kit gives the users it creates.
pub const PW: &str = "Quiet-River-Stone-42";

/// The id of the built-in role `key` (administrator, salesperson …).
pub fn role_id(admin: &Client, key: &str) -> serde_json::Value {
    admin.get("/api/v1/admin/roles").json()["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["builtin"] == key)
        .unwrap()["id"]
        .clone()
}

/// Create a user with one built-in role (and `extra` fields such as
/// `department_id`) through the admin API; returns the id.
pub fn user(admin: &Client, email: &str, role: &str, extra: serde_json::Value) -> i64 {
    let mut body = serde_json::json!({"email": email, "name": email.split('@').next().unwrap(), "password": PW, "roles": [role_id(admin, role)]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = admin.post("/api/v1/admin/users", &body);
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_i64().unwrap()
}

/// `POST /api/v1/<what>` that must answer 201; the created record.
pub fn create(c: &Client, what: &str, body: serde_json::Value) -> serde_json::Value {
    let r = c.post(&format!("/api/v1/{what}"), &body);
    assert_eq!(r.status, 201, "{what} {body}: {}", r.body);
    r.json()
}

pub fn id(v: &serde_json::Value) -> i64 {
    v["id"].as_i64().unwrap()
}

/// The ids on a list page, sorted.
pub fn ids(page: &serde_json::Value) -> Vec<i64> {
    let mut v: Vec<i64> = page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(id)
        .collect();
    v.sort_unstable();
    v
}

/// The field a 400 names.
pub fn field_of(r: &Response) -> String {
    r.json()["field"].as_str().unwrap_or("").to_string()
}
