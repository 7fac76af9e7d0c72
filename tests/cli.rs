//! The `rapport` binary as an administrator runs it: exit codes, one clear
//! line per mistake, nothing half-created, graceful stop.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rapport");

fn rapport(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run rapport")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts the exit code and that stderr is one `error:` line containing every `needle`.
fn assert_fails(o: &Output, code: i32, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one clear error line expected, got: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` missing from: {}", lines[0]);
    }
    assert!(!err.contains("panicked"), "{err}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn help_and_version() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["doctor", "--help"],
        &["tls", "self-signed", "--help"],
        &["version", "--help"],
    ] {
        let o = rapport(dir.path(), args, &[]);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains("Usage"), "{args:?}");
    }
    let o = rapport(dir.path(), &["version"], &[]);
    assert_eq!(
        stdout(&o).trim(),
        format!("rapport {}", env!("CARGO_PKG_VERSION"))
    );
    let o = rapport(dir.path(), &["frobnicate"], &[]);
    assert_eq!(o.status.code(), Some(2), "usage error exits 2");
}

#[test]
fn configuration_mistakes_exit_2_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("typo.toml"),
        "[server]\nlisten = \"127.0.0.1:1\"\nlisen = 1\n",
    )
    .unwrap();
    std::fs::write(d.join("syntax.toml"), "[server\nlisten = 1\n").unwrap();
    std::fs::write(d.join("type.toml"), "[database]\npool_size = \"lots\"\n").unwrap();
    let before = entries(d);

    let o = rapport(d, &["--config", "typo.toml", "serve"], &[]);
    assert_fails(&o, 2, &["server.lisen", "typo.toml", "server.listen"]);
    let o = rapport(d, &["--config", "syntax.toml", "serve"], &[]);
    assert_fails(&o, 2, &["syntax.toml", "line 1"]);
    let o = rapport(d, &["--config", "type.toml", "serve"], &[]);
    assert_fails(&o, 2, &["database.pool_size", "type.toml"]);
    let o = rapport(d, &["--config", "absent.toml", "serve"], &[]);
    assert_fails(&o, 2, &["absent.toml"]);
    let o = rapport(
        d,
        &["serve"],
        &[("RAPPORT_DATABASE__URL", "postgress://rapport:pw@db/crm")],
    );
    assert_fails(
        &o,
        2,
        &["database.url", "postgress", "RAPPORT_DATABASE__URL"],
    );
    assert!(
        !stderr(&o).contains("pw@"),
        "password leaked: {}",
        stderr(&o)
    );
    let o = rapport(d, &["serve"], &[("RAPPORT_TLS__MODE", "files")]);
    assert_fails(&o, 2, &["tls.cert"]);
    let o = rapport(
        d,
        &["serve"],
        &[
            ("RAPPORT_TLS__MODE", "files"),
            ("RAPPORT_TLS__CERT", "missing-cert.pem"),
            ("RAPPORT_TLS__KEY", "missing-key.pem"),
        ],
    );
    assert_fails(&o, 2, &["tls.cert", "missing-cert.pem"]);

    assert_eq!(
        entries(d),
        before,
        "a failed start must not leave files behind"
    );
}

#[test]
fn mismatched_tls_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = rapport(
        d,
        &["tls", "self-signed", "--host", "a.lan", "--out", "a"],
        &[],
    );
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    let b = rapport(
        d,
        &["tls", "self-signed", "--host", "b.lan", "--out", "b"],
        &[],
    );
    assert_eq!(b.status.code(), Some(0));
    let o = rapport(
        d,
        &["serve"],
        &[
            ("RAPPORT_TLS__MODE", "files"),
            ("RAPPORT_TLS__CERT", "a/cert.pem"),
            ("RAPPORT_TLS__KEY", "b/key.pem"),
        ],
    );
    assert_fails(&o, 2, &["does not match", "b/key.pem", "a/cert.pem"]);
    std::fs::write(d.join("junk.pem"), "not a certificate").unwrap();
    let o = rapport(
        d,
        &["serve"],
        &[
            ("RAPPORT_TLS__MODE", "files"),
            ("RAPPORT_TLS__CERT", "junk.pem"),
            ("RAPPORT_TLS__KEY", "b/key.pem"),
        ],
    );
    assert_fails(&o, 2, &["tls.cert", "junk.pem"]);
}

#[test]
fn tls_self_signed_writes_private_key_and_refuses_to_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = [
        "tls",
        "self-signed",
        "--host",
        "crm.example.lan",
        "--host",
        "192.168.1.20",
        "--out",
        "certs",
    ];
    let o = rapport(d, &args, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("SHA-256"));
    let mode = std::fs::metadata(d.join("certs/key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let fp = rapport::core::tls::file_fingerprint(&d.join("certs/cert.pem")).unwrap();
    assert!(stdout(&o).contains(&fp));

    let o = rapport(d, &args, &[]);
    assert_fails(&o, 2, &["already exists", "--force"]);
    let mut forced = args.to_vec();
    forced.push("--force");
    assert_eq!(rapport(d, &forced, &[]).status.code(), Some(0));
    let o = rapport(
        d,
        &["tls", "self-signed", "--host", "bad host!", "--out", "x"],
        &[],
    );
    assert_fails(&o, 2, &["bad host!"]);
}

#[test]
fn runtime_failures_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Postgres that is not there: a quick, one-line error.
    let o = rapport(
        d,
        &["migrate"],
        &[(
            "RAPPORT_DATABASE__URL",
            "postgres://rapport:pw@127.0.0.1:1/crm",
        )],
    );
    assert_fails(&o, 1, &["cannot connect", "127.0.0.1", "****"]);
    // A data dir that cannot be created.
    std::fs::write(d.join("a-file"), "").unwrap();
    let o = rapport(d, &["serve"], &[("RAPPORT_DATA_DIR", "a-file/data")]);
    assert_fails(&o, 1, &["data_dir", "a-file/data"]);
    // A port that is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = rapport(
        d,
        &["serve"],
        &[
            ("RAPPORT_SERVER__LISTEN", &addr),
            ("RAPPORT_LOG__KEEP", "0"),
        ],
    );
    assert_fails(&o, 1, &["server.listen", &addr]);
}

/// `rapport … | head`: a reader that goes away early is not a crash.
#[test]
fn closed_stdout_is_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(rapport(d, &["migrate"], &[]).status.code(), Some(0));
    let mut child = Command::new(BIN)
        .current_dir(d)
        .args(["migrate", "--status"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the report is written.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn migrate_status_then_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = rapport(d, &["migrate", "--status"], &[]);
    assert_fails(&o, 1, &["does not exist yet"]);
    assert!(!d.join("rapport-data/rapport.db").exists());
    let o = rapport(d, &["migrate"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("applied"));
    let o = rapport(d, &["migrate", "--status"], &[]);
    let out = stdout(&o);
    assert!(out.contains("applied") && !out.contains("pending"), "{out}");
    let o = rapport(d, &["migrate"], &[]);
    assert!(stdout(&o).contains("up to date"));
}

#[test]
fn doctor_reports_and_redacts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(rapport(d, &["migrate"], &[]).status.code(), Some(0));
    let o = rapport(d, &["doctor"], &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    for needle in [
        "listen = \"127.0.0.1:8080\"",
        "ok    database reachable",
        "ok    migrations current",
        "GiB free",
    ] {
        assert!(out.contains(needle), "`{needle}` missing:\n{out}");
    }
    let o = rapport(
        d,
        &["doctor"],
        &[(
            "RAPPORT_DATABASE__URL",
            "postgres://rapport:s3cret@127.0.0.1:1/crm",
        )],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        !out.contains("s3cret") && out.contains("rapport:****@"),
        "{out}"
    );
    assert!(out.contains("FAIL  cannot connect"), "{out}");
}

struct Serve {
    child: Child,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_ready(url: &str) -> common::Response {
    let agent = common::agent(None);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = agent.get(url).call() {
            let r = common::Response::from(Ok(r));
            if r.status == 200 {
                return r;
            }
        }
        assert!(Instant::now() < deadline, "server not ready at {url}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn serve_until_sigterm(backend: common::Backend) {
    let db = common::TestDb::new(&backend);
    let d = db.dir.path();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(BIN)
        .current_dir(d)
        .arg("serve")
        .env("RAPPORT_SERVER__LISTEN", &listen)
        .env("RAPPORT_DATABASE__URL", &db.url)
        .env("RAPPORT_LOG__FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut serve = Serve { child };
    let ready = wait_ready(&format!("http://{listen}/readyz"));
    let request_id = ready.header("x-request-id").unwrap().to_string();

    let pid = serve.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = serve.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");

    let mut err = String::new();
    use std::io::Read;
    serve
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let logs_dir = d.join("rapport-data/logs");
    let files = entries(&logs_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let file_log = std::fs::read_to_string(logs_dir.join(&files[0])).unwrap();
    for log in [&err, &file_log] {
        let line = log
            .lines()
            .find(|l| l.contains(&request_id))
            .unwrap_or_else(|| panic!("request {request_id} not logged:\n{log}"));
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON log line");
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/readyz");
        assert_eq!(v["status"], 200);
        assert!(v["duration_ms"].is_number());
    }
}

fn rapport_stdin(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn admin_commands_from_the_shell(backend: common::Backend) {
    let db = common::TestDb::new(&backend);
    let d = db.dir.path();
    let env = [
        ("RAPPORT_DATABASE__URL", db.url.as_str()),
        ("RAPPORT_LOG__KEEP", "0"),
    ];
    let pw = "Amber-Orchard-Kite-58\n";

    let o = rapport_stdin(
        d,
        &[
            "init",
            "--admin-email",
            "Boss@Example.cn",
            "--password-stdin",
            "--company",
            "星河科技",
        ],
        &env,
        pw,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = rapport_stdin(
        d,
        &["init", "--admin-email", "x@example.cn", "--password-stdin"],
        &env,
        pw,
    );
    assert_fails(&o, 2, &["already complete"]);

    let o = rapport_stdin(
        d,
        &[
            "user",
            "add",
            "--email",
            "zhou@example.cn",
            "--name",
            "周杰",
            "--role",
            "salesperson",
            "--password-stdin",
        ],
        &env,
        "123456\n",
    );
    assert_fails(&o, 2, &["password"]);
    let o = rapport_stdin(
        d,
        &[
            "user",
            "add",
            "--email",
            "zhou@example.cn",
            "--name",
            "周杰",
            "--role",
            "salesperson",
            "--supervisor",
            "boss@example.cn",
            "--password-stdin",
        ],
        &env,
        pw,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = rapport(d, &["user", "list", "--json"], &env);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(stdout(&o).contains("周杰") && !stdout(&o).contains("argon2"));

    let o = rapport(
        d,
        &[
            "token",
            "create",
            "--user",
            "zhou@example.cn",
            "--name",
            "erp",
            "--read-only",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let token = stdout(&o);
    assert_eq!(token.lines().count(), 1, "the token alone on stdout");
    assert!(token.trim().starts_with("rpt_"));
    let o = rapport(d, &["token", "list", "--user", "zhou@example.cn"], &env);
    assert!(stdout(&o).contains("read-only") && !stdout(&o).contains(token.trim()));

    let o = rapport(
        d,
        &[
            "user",
            "roles",
            "zhou@example.cn",
            "--set",
            "sales_manager,read_only",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("department_and_children"));
    let o = rapport(
        d,
        &["user", "roles", "boss@example.cn", "--set", "read_only"],
        &env,
    );
    assert_fails(&o, 2, &["no active administrator"]);
    let o = rapport(d, &["user", "disable", "zhou@example.cn"], &env);
    assert_eq!(o.status.code(), Some(0));
    let o = rapport(d, &["token", "list", "--json"], &env);
    let tokens: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        tokens[0]["revoked_at"].is_string(),
        "disabling revokes tokens"
    );
    let o = rapport(d, &["user", "disable", "nobody@example.cn"], &env);
    assert_fails(&o, 2, &["nobody@example.cn"]);

    let o = rapport(d, &["audit", "verify"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("intact"));
    let next = {
        use diesel::prelude::*;
        use rapport::core::db::schema::audit_log;
        let mut conn = db.connect();
        let ids: Vec<i64> = audit_log::table
            .order(audit_log::id)
            .select(audit_log::id)
            .load(&mut conn)
            .unwrap();
        diesel::delete(audit_log::table.filter(audit_log::id.eq(ids[1])))
            .execute(&mut conn)
            .unwrap();
        ids[2]
    };
    let o = rapport(d, &["audit", "verify"], &env);
    assert_fails(&o, 1, &[&format!("broken at row {next}")]);
}

/// The SQLite search indexes `tables` agree with their tables row for row
/// (FTS5's own check against the content), and no scratch file of a
/// search index build is left in `dir`.
fn assert_search_intact(conn: &mut rapport::core::db::DbConn, dir: &Path, tables: &[&str]) {
    use diesel::RunQueryDsl;
    for t in tables {
        for k in ["tri", "cjk"] {
            let f = format!("fts_{t}_{k}");
            diesel::sql_query(format!(
                "INSERT INTO {f} ({f}, rank) VALUES ('integrity-check', 1)"
            ))
            .execute(&mut *conn)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".search-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `rapport demo`: clear errors for nonsense, a refusal on a database with
/// data, and searchable customers after its bulk load.
fn demo_data(backend: common::Backend) {
    let db = common::TestDb::new(&backend);
    let d = db.dir.path();
    let env = [
        ("RAPPORT_DATABASE__URL", db.url.as_str()),
        ("RAPPORT_LOG__KEEP", "0"),
    ];
    assert_fails(
        &rapport(d, &["demo", "--size", "lots"], &env),
        2,
        &["--size", "lots"],
    );
    assert_fails(
        &rapport(d, &["demo", "--locale", "fr"], &env),
        2,
        &["--locale"],
    );
    let o = rapport(d, &["demo", "--size", "300", "--seed", "7"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("300 customers"), "{out}");
    let admin = out
        .lines()
        .find_map(|l| l.strip_prefix("log in as "))
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert_fails(
        &rapport(d, &["demo", "--size", "small"], &env),
        2,
        &["already holds data"],
    );
    if let common::Backend::Sqlite = backend {
        // The search indexes were built beside the database and copied in.
        let mut conn = db.connect();
        assert_search_intact(&mut conn, d, &rapport::core::db::bulk::SEARCH_TABLES);
    }

    // The bulk-loaded rows are in the search index.
    let token = stdout(&rapport(d, &["token", "create", "--user", &admin], &env))
        .trim()
        .to_string();
    let srv = common::TestServer::start_with_db(db, |_| {});
    let c = common::Client::with_token(&srv, &token);
    let page = c.get("/api/v1/customers?limit=200&total=1").json();
    assert_eq!(page["total"]["count"], 300);
    let name = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .find(|n| n.contains("有限公司"))
        .unwrap();
    let needle: String = name.chars().skip(2).take(4).collect();
    let found = c
        .get(&format!(
            "/api/v1/customers?q={}",
            common::url_encode(&needle)
        ))
        .json();
    assert!(
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == name.as_str()),
        "{needle} in {name}"
    );
    // … and takes new rows.
    let r = c.post(
        "/api/v1/customers",
        &serde_json::json!({"name": "南湖索引校验有限公司", "confirm_duplicates": true}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let found = c
        .get(&format!(
            "/api/v1/customers?q={}",
            common::url_encode("索引校验")
        ))
        .json();
    assert_eq!(found["items"][0]["name"], "南湖索引校验有限公司", "{found}");
}

/// `init` refuses a time zone or language nobody knows (exit 2, nothing
/// created); every user and token command answers `--json` for scripts.
fn json_results_and_time_zone_checks(backend: common::Backend) {
    let db = common::TestDb::new(&backend);
    let d = db.dir.path();
    let env = [
        ("RAPPORT_DATABASE__URL", db.url.as_str()),
        ("RAPPORT_LOG__KEEP", "0"),
    ];
    let pw = "Amber-Orchard-Kite-58\n";
    let init = |extra: &[&str]| {
        let mut args = vec![
            "init",
            "--admin-email",
            "boss@example.cn",
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        rapport_stdin(d, &args, &env, pw)
    };
    assert_fails(
        &init(&["--time-zone", "Mars/Olympus"]),
        2,
        &["time_zone", "Mars/Olympus", "Asia/Shanghai"],
    );
    assert_fails(&init(&["--language", "fr"]), 2, &["language", "zh-CN"]);
    let o = rapport(d, &["user", "list", "--json"], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let none: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(none, serde_json::json!([]), "a refused init creates nobody");
    let o = init(&["--time-zone", "Europe/London", "--language", "en"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let json = |o: &Output| -> serde_json::Value {
        assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
    };
    let added = json(&rapport_stdin(
        d,
        &[
            "user",
            "add",
            "--email",
            "s2@example.cn",
            "--name",
            "孙二",
            "--role",
            "salesperson",
            "--password-stdin",
            "--json",
        ],
        &env,
        pw,
    ));
    let id = added["id"].clone();
    let v = json(&rapport_stdin(
        d,
        &[
            "user",
            "passwd",
            "s2@example.cn",
            "--password-stdin",
            "--json",
        ],
        &env,
        "Copper-Meadow-Finch-93\n",
    ));
    assert_eq!(v["id"], id);
    assert_eq!(v["email"], "s2@example.cn");
    assert_eq!(v["changed"], true);
    assert_eq!(v["tokens_revoked"], true);

    let v = json(&rapport(
        d,
        &["user", "disable", "s2@example.cn", "--json"],
        &env,
    ));
    assert_eq!(
        (v["id"].clone(), v["active"].clone()),
        (id.clone(), false.into())
    );
    assert!(v.get("password_hash").is_none(), "{v}");
    let v = json(&rapport(
        d,
        &["user", "enable", "s2@example.cn", "--json"],
        &env,
    ));
    assert_eq!(
        (v["id"].clone(), v["active"].clone()),
        (id.clone(), true.into())
    );
    assert_fails(
        &rapport(d, &["user", "enable", "nobody@example.cn", "--json"], &env),
        2,
        &["nobody@example.cn"],
    );

    let created = json(&rapport(
        d,
        &["token", "create", "--user", "s2@example.cn", "--json"],
        &env,
    ));
    let token_id = created["info"]["id"].as_i64().unwrap().to_string();
    let v = json(&rapport(d, &["token", "revoke", &token_id, "--json"], &env));
    assert_eq!(v["id"].as_i64().unwrap().to_string(), token_id);
    assert!(v["revoked_at"].is_string(), "{v}");
    assert!(v.get("token_hash").is_none(), "{v}");
    assert_fails(
        &rapport(d, &["token", "revoke", "99999", "--json"], &env),
        2,
        &["99999"],
    );
}

/// One text per row of `sql` (a query selecting `v`).
fn texts(conn: &mut rapport::core::db::DbConn, sql: &str) -> Vec<String> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    diesel::sql_query(sql)
        .load::<Row>(conn)
        .unwrap()
        .into_iter()
        .map(|r| r.v)
        .collect()
}

/// The same seed gives the same company on a new database (names, phones,
/// owners, contacts, follow-ups), the bulk load leaves the audit chain
/// intact, and a SQLite database is back in WAL mode afterwards.
fn demo_is_deterministic(backend: common::Backend) {
    let mut rows = Vec::new();
    for _ in 0..2 {
        let db = common::TestDb::new(&backend);
        let d = db.dir.path();
        let env = [
            ("RAPPORT_DATABASE__URL", db.url.as_str()),
            ("RAPPORT_LOG__KEEP", "0"),
        ];
        let o = rapport(d, &["demo", "--size", "200", "--seed", "9"], &env);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stdout(&o).contains("200 customers"), "{}", stdout(&o));
        let o = rapport(d, &["audit", "verify"], &env);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let mut conn = db.connect();
        let mut all = texts(
            &mut conn,
            "SELECT name || '|' || phone || '|' || mobile || '|' || email || '|' || level || '|' || city \
             || '|' || COALESCE(CAST(owner_id AS TEXT), '-') AS v FROM customers ORDER BY id",
        );
        all.extend(texts(
            &mut conn,
            "SELECT name || '|' || mobile || '|' || CAST(customer_id AS TEXT) AS v FROM contacts ORDER BY id",
        ));
        all.extend(texts(
            &mut conn,
            "SELECT content || '|' || CAST(customer_id AS TEXT) AS v FROM followups ORDER BY id",
        ));
        if backend == common::Backend::Sqlite {
            assert_eq!(
                texts(
                    &mut conn,
                    "SELECT journal_mode AS v FROM pragma_journal_mode"
                ),
                ["wal"]
            );
        }
        rows.push(all);
    }
    assert_eq!(rows[0].len(), 200 + 200 + 400);
    assert!(rows[0] == rows[1], "two runs with seed 9 differ");
}

/// `rapport import --bulk true` (the path a big customer file takes on
/// SQLite: every secondary index dropped, duplicate keys of existing
/// customers held in memory, indexes and search index rebuilt at the end):
/// duplicates of existing customers and within the file are found, an
/// update run changes the existing record, and afterwards the indexes, the
/// search index and the batch are as after any import.
fn bulk_import(backend: common::Backend) {
    let db = common::TestDb::new(&backend);
    let d = db.dir.path();
    let env = [
        ("RAPPORT_DATABASE__URL", db.url.as_str()),
        ("RAPPORT_LOG__KEEP", "0"),
    ];
    let o = rapport_stdin(
        d,
        &[
            "init",
            "--admin-email",
            "boss@example.cn",
            "--password-stdin",
        ],
        &env,
        "Amber-Orchard-Kite-58\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let first = d.join("first.csv");
    std::fs::write(
        &first,
        "客户名称,手机号,电子邮件,城市\n深圳市星河科技有限公司,13800000001,xinghe@example.cn,深圳\nGoldsmith Trading,13800000002,gold@example.com,Hong Kong\n",
    )
    .unwrap();
    let o = rapport(d, &["import", "customers", first.to_str().unwrap()], &env);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let indexes = |conn: &mut rapport::core::db::DbConn| -> Vec<String> {
        match backend {
            common::Backend::Sqlite => texts(
                conn,
                "SELECT name || ': ' || sql AS v FROM sqlite_master WHERE type = 'index' AND tbl_name = 'customers' AND sql IS NOT NULL ORDER BY name",
            ),
            _ => texts(
                conn,
                "SELECT indexname AS v FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'customers' ORDER BY indexname",
            ),
        }
    };
    let mut conn = db.connect();
    let before = indexes(&mut conn);
    assert!(before.len() > 10, "{before:?}");

    // 300 new customers, one with the phone of an existing one, one with
    // the e-mail of another, and a repeat of a row of the file.
    let mut csv = String::from("客户名称,手机号,电子邮件,城市,备注\n");
    for i in 0..300 {
        csv.push_str(&format!(
            "\"杭州云帆贸易{i}有限公司\",139{i:08},c{i}@example.cn,杭州,\"第一行\n第二行\"\n"
        ));
    }
    csv.push_str("深圳星河,13800000001,,深圳,\n");
    csv.push_str("Gold,,GOLD@example.com,,\n");
    csv.push_str("\"杭州云帆贸易7有限公司\",13900000007,c7@example.cn,杭州,\n");
    let file = d.join("bulk.csv");
    std::fs::write(&file, &csv).unwrap();
    let o = rapport(
        d,
        &[
            "import",
            "customers",
            file.to_str().unwrap(),
            "--bulk",
            "true",
            "--json",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(summary["status"], "done", "{summary}");
    assert_eq!(summary["created"], 300, "{summary}");
    assert_eq!(summary["skipped"], 3, "{summary}");
    if let common::Backend::Sqlite = backend {
        // The bulk path ran (PostgreSQL imports as always), its search
        // index built while the rows came in.
        assert!(
            summary["rebuild_seconds"].as_f64().unwrap() > 0.0,
            "{summary}"
        );
        assert_eq!(summary["search_built_during_load"], true, "{summary}");
        assert_search_intact(&mut conn, d, &["customers"]);
    } else {
        // Said, not silently ignored.
        assert!(
            stderr(&o).contains("--bulk applies to customer imports on SQLite"),
            "{}",
            stderr(&o)
        );
    }

    // The same existing customer, updated in bulk mode by its phone.
    let update = d.join("update.csv");
    std::fs::write(
        &update,
        "客户名称,手机号,城市\n深圳市星河科技有限公司,13800000001,广州\n",
    )
    .unwrap();
    let o = rapport(
        d,
        &[
            "import",
            "customers",
            update.to_str().unwrap(),
            "--bulk",
            "true",
            "--on-duplicate",
            "update",
            "--json",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(summary["updated"], 1, "{summary}");
    // Updated rows would change under a build that follows the load: the
    // search index is built from the table at the end instead.
    assert_eq!(summary["search_built_during_load"], false, "{summary}");
    assert_eq!(
        texts(
            &mut conn,
            "SELECT city AS v FROM customers WHERE name = '深圳市星河科技有限公司'"
        ),
        vec!["广州".to_string()]
    );

    // A bulk import that fails after its first chunk of 5,000 rows (a byte
    // that is not UTF-8 on its last line), in update mode so the load also
    // changes an existing customer's search entries: rolled back whole,
    // the existing customer as it was, the search index intact.
    let mut csv = String::from("客户名称,手机号,城市\n星河科技（深圳）,13800000001,上海\n");
    for i in 0..5_100 {
        csv.push_str(&format!("临时客户{i},137{i:08},北京\n"));
    }
    let mut bytes = csv.into_bytes();
    bytes.extend_from_slice(b"\xff\xfe broken,13700999999,\xff\n");
    let broken = d.join("broken.csv");
    std::fs::write(&broken, &bytes).unwrap();
    // A scratch file of this batch, as a process killed during its bulk
    // load leaves it: the rollback removes it (assert_search_intact).
    if let common::Backend::Sqlite = backend {
        let next = texts(
            &mut conn,
            "SELECT (COALESCE(MAX(id), 0) + 1) || '' AS v FROM import_batches",
        );
        std::fs::write(
            format!("{}.search-import-{}-f", db.url, next[0]),
            b"left over",
        )
        .unwrap();
    }
    let o = rapport(
        d,
        &[
            "import",
            "customers",
            broken.to_str().unwrap(),
            "--bulk",
            "true",
            "--on-duplicate",
            "update",
            "--encoding",
            "utf-8",
        ],
        &env,
    );
    assert_ne!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(
        texts(
            &mut conn,
            "SELECT name || ' ' || city AS v FROM customers WHERE id = (SELECT MIN(id) FROM customers)"
        ),
        vec!["深圳市星河科技有限公司 广州".to_string()]
    );
    assert_eq!(
        texts(
            &mut conn,
            "SELECT status AS v FROM import_batches ORDER BY id DESC LIMIT 1"
        ),
        vec!["failed".to_string()]
    );
    assert_eq!(indexes(&mut conn), before, "the indexes come back");
    assert_eq!(
        texts(&mut conn, "SELECT COUNT(*) || '' AS v FROM customers"),
        vec!["302".to_string()]
    );
    assert!(
        texts(
            &mut conn,
            "SELECT key AS v FROM settings WHERE key = 'search.bulk_load'"
        )
        .is_empty()
    );
    if let common::Backend::Sqlite = backend {
        assert_search_intact(&mut conn, d, &["customers"]);
    }
    // Searchable through the server, old and new customers alike.
    let token = stdout(&rapport(
        d,
        &["token", "create", "--user", "boss@example.cn"],
        &env,
    ))
    .trim()
    .to_string();
    drop(conn);
    let srv = common::TestServer::start_with_db(db, |_| {});
    let c = common::Client::with_token(&srv, &token);
    for (q, n) in [
        ("云帆贸易123有限", 1),
        ("smith", 1),
        ("星河", 1),
        ("杭州云帆", 300),
    ] {
        let page = c
            .get(&format!(
                "/api/v1/customers?total=1&q={}",
                common::url_encode(q)
            ))
            .json();
        assert_eq!(page["total"]["count"], n, "{q}: {page}");
    }
}

both_backends!(
    serve_until_sigterm,
    admin_commands_from_the_shell,
    demo_data,
    demo_is_deterministic,
    json_results_and_time_zone_checks,
    bulk_import
);
