//! Backup, verify and restore as an administrator relies on them: the
//! archive holds everything, restores into either backend with identical
//! content, is consistent while people keep working, and every bad archive
//! or target is refused with one clear line — the old database untouched.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Backend, Client, TestDb, TestServer, url_encode};
use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;
use rapport::core::backup::format::Passphrase;
use rapport::core::backup::{self, CreateOptions, RestoreOptions};
use rapport::core::db::DbConn;
use rapport::crm::demo::{self, Locale};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_rapport");

/// A database filled by the demo generator and attachments uploaded through
/// the API; returns the server and the demo administrator's client.
fn filled(backend: &Backend, customers: usize) -> (TestServer, Client, demo::Report) {
    let db = TestDb::new(backend);
    let report = {
        let mut conn = db.connect();
        rapport::core::db::migrations::run_pending(&mut conn).unwrap();
        demo::generate(&mut conn, customers, Locale::Mixed, 7, &mut |_| {}).unwrap()
    };
    let srv = TestServer::start_with_db(db, |_| {});
    let admin = Client::login(&srv, &report.admin_email, &report.password);
    for (entity, id, name, body) in [
        ("customers", 1, "报价单.pdf", &b"%PDF-1.4 quote for 1"[..]),
        ("customers", 2, "same.pdf", &b"%PDF-1.4 quote for 1"[..]),
        ("followups", 1, "notes.txt", "跟进记录：下周拜访".as_bytes()),
    ] {
        let r = admin.post_bytes(
            &format!(
                "/api/v1/attachments?entity={entity}&record_id={id}&name={}",
                url_encode(name)
            ),
            body,
            "application/octet-stream",
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    (srv, admin, report)
}

fn settings_of(srv: &TestServer) -> rapport::config::Settings {
    let mut s = common::settings_for(&srv.db);
    s.data_dir = srv.data_dir.clone();
    s
}

fn digest(db: &TestDb, data_dir: &Path) -> backup::Digest {
    backup::content_digest(&mut db.connect(), &data_dir.join("attachments")).unwrap()
}

fn archive_of(srv: &TestServer, out: &Path, opts: &CreateOptions) -> backup::Summary {
    backup::create_archive(&settings_of(srv), &mut srv.db.connect(), out, opts).unwrap()
}

fn targets() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    v.extend(Backend::postgres());
    v
}

/// SQLite→SQLite, SQLite→PostgreSQL, PostgreSQL→SQLite, PostgreSQL→PostgreSQL:
/// the restored database has the same canonical hash, and works: the same
/// people log in, search finds customers, files download, new ids continue.
fn round_trip_to_either_backend(backend: Backend) {
    let (srv, admin, report) = filled(&backend, 300);
    // A deleted newest customer: its id must not be handed out again.
    let last = admin
        .post("/api/v1/customers", &json!({"name": "临时客户"}))
        .json();
    let last_id = last["id"].as_i64().unwrap();
    assert_eq!(
        admin
            .delete(&format!("/api/v1/customers/{last_id}?version=1"))
            .status,
        200
    );
    let before = digest(&srv.db, &srv.data_dir);
    assert_eq!(before.files.len(), 2, "two distinct files");
    let out = srv.db.dir.path().join("a.tar.zst");
    let s = archive_of(&srv, &out, &CreateOptions::default());
    assert_eq!(s.manifest.content_hash, before.hash);
    let name_of_1 = admin.get("/api/v1/customers/1").json()["name"]
        .as_str()
        .unwrap()
        .to_string();

    for target in targets() {
        let db = TestDb::new(&target);
        let data_dir = db.dir.path().join("restored-data");
        let r = backup::restore_archive(
            &out,
            &db.db_url(),
            &data_dir.join("attachments"),
            &RestoreOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{backend:?} -> {target:?}: {e}"));
        assert!(r.tables.iter().all(|t| t.sha256 == t.restored_sha256));
        assert_eq!(r.files_written, 2);
        assert_eq!(
            digest(&db, &data_dir).hash,
            before.hash,
            "{backend:?} -> {target:?}"
        );
        let restored = TestServer::start_with_db(db, |s| s.data_dir = data_dir.clone());
        let c = Client::login(&restored, &report.admin_email, &report.password);
        let new_id = assert_restored_works(&c, &name_of_1, "恢复后新客户");
        assert!(new_id > last_id, "ids continue");
    }
}

/// On a restored server: search finds customer 1 (named `name_of_1`), its
/// attachment reads back, and a new customer `new_name` can be created; its id.
fn assert_restored_works(c: &Client, name_of_1: &str, new_name: &str) -> i64 {
    let found = c.get(&format!("/api/v1/customers?q={}", url_encode(name_of_1)));
    assert!(
        found.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == 1),
        "search after restore: {}",
        found.body
    );
    let files = c
        .get("/api/v1/attachments?entity=customers&record_id=1")
        .json();
    let fid = files["attachments"][0]["id"].as_i64().unwrap();
    assert_eq!(
        c.get(&format!("/api/v1/attachments/{fid}")).body,
        "%PDF-1.4 quote for 1"
    );
    let new = c.post("/api/v1/customers", &json!({"name": new_name}));
    assert_eq!(new.status, 201, "{}", new.body);
    new.json()["id"].as_i64().unwrap()
}

/// A colleague adding customers named `prefix…`, each with a contact, until
/// `stop` is set (at most 400); the thread returns how many it added.
fn keep_adding(
    admin: &Client,
    prefix: &'static str,
) -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<usize>,
) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (admin, flag) = (admin.clone(), stop.clone());
    let writer = std::thread::spawn(move || {
        let mut n = 0;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) && n < 400 {
            let c = admin.post(
                "/api/v1/customers",
                &json!({"name": format!("{prefix}{n}")}),
            );
            assert_eq!(c.status, 201, "{}", c.body);
            let id = c.json()["id"].as_i64().unwrap();
            let r = admin.post(
                "/api/v1/contacts",
                &json!({"customer_id": id, "name": format!("联系人{n}")}),
            );
            assert_eq!(r.status, 201, "{}", r.body);
            n += 1;
        }
        n
    });
    (stop, writer)
}

/// The number `sql` (a query selecting `n`) counts.
fn count(conn: &mut DbConn, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
}

/// The restored data of [`keep_adding`] is one moment: every contact's
/// customer is there, and every `prefix…` customer has the audit entry
/// written in its own transaction.
fn assert_one_moment(conn: &mut DbConn, prefix: &str) {
    assert_eq!(
        count(
            conn,
            "SELECT COUNT(*) AS n FROM contacts WHERE customer_id NOT IN (SELECT id FROM customers)"
        ),
        0
    );
    let customers = count(
        conn,
        &format!("SELECT COUNT(*) AS n FROM customers WHERE name LIKE '{prefix}%'"),
    );
    let audited = count(
        conn,
        &format!(
            "SELECT COUNT(*) AS n FROM audit_log WHERE entity = 'customers' AND action = 'create' AND changes LIKE '%{prefix}%'"
        ),
    );
    assert_eq!(
        customers, audited,
        "customers and their audit rows from one moment"
    );
}

/// A backup taken while a colleague keeps adding customers and contacts is
/// one moment: every contact's customer is there, and every customer has
/// the audit entry written in its own transaction.
fn backup_while_writing_is_one_moment(backend: Backend) {
    let (srv, admin, _) = filled(&backend, 200);
    let (stop, writer) = keep_adding(&admin, "并发客户");
    std::thread::sleep(Duration::from_millis(300));
    let out = srv.db.dir.path().join("live.tar.zst");
    let s = archive_of(&srv, &out, &CreateOptions::default());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 0);
    let db = TestDb::new(&Backend::Sqlite);
    let data_dir = db.dir.path().join("d");
    backup::restore_archive(
        &out,
        &db.db_url(),
        &data_dir.join("attachments"),
        &RestoreOptions::default(),
    )
    .unwrap();
    let mut conn = db.connect();
    assert_one_moment(&mut conn, "并发客户");
    assert_eq!(
        s.manifest
            .sums
            .iter()
            .find(|t| t.name == "customers")
            .unwrap()
            .rows as i64,
        count(&mut conn, "SELECT COUNT(*) AS n FROM customers")
    );
}

fn rapport(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args(args)
        .env_remove("RAPPORT_PASSPHRASE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run rapport")
}

/// Exit code and one `error:` line holding every needle.
fn assert_fails(o: &Output, code: i32, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` missing from: {}", lines[0]);
    }
    assert!(!err.contains("panicked"), "{err}");
}

fn env_for<'a>(db: &'a TestDb, data_dir: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("RAPPORT_DATABASE__URL", db.url.as_str()),
        ("RAPPORT_DATA_DIR", data_dir),
    ]
}

/// The commands as an administrator types them: create into backup.dir,
/// list, verify, a dry run, encryption with the passphrase from the
/// environment, and restore refusing a database that holds data.
#[test]
fn commands_create_list_verify_restore() {
    let (srv, _, _) = filled(&Backend::Sqlite, 100);
    let dir = srv.db.dir.path();
    let data = srv.data_dir.display().to_string();
    let env = env_for(&srv.db, &data);
    let o = rapport(dir, &["backup", "create"], &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let archives: Vec<PathBuf> = std::fs::read_dir(srv.data_dir.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(archives.len(), 1);
    let archive = &archives[0];
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(archive).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let o = rapport(dir, &["backup", "list"], &env);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains(" ok"), "{out}");
    let o = rapport(dir, &["backup", "verify", archive.to_str().unwrap()], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("every checksum matches"),
        "{out}"
    );
    assert!(out.contains("customers") && out.contains("100"), "{out}");

    // Restoring over the live database needs --force; a dry run changes nothing.
    let o = rapport(dir, &["restore", archive.to_str().unwrap()], &env);
    assert_fails(&o, 2, &["already holds data", "--force"]);
    let target = dir.join("new.db");
    let o = rapport(
        dir,
        &[
            "restore",
            archive.to_str().unwrap(),
            "--into",
            target.to_str().unwrap(),
            "--dry-run",
        ],
        &env,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!target.exists(), "dry run created nothing");
    let o = rapport(
        dir,
        &[
            "restore",
            archive.to_str().unwrap(),
            "--into",
            target.to_str().unwrap(),
        ],
        &env,
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("matches") && !out.contains("DIFFERS"), "{out}");

    // Encrypted: the passphrase from the environment, never an argument.
    let enc = dir.join("e.tar.zst.age");
    let mut env_pass = env.clone();
    env_pass.push(("RAPPORT_PASSPHRASE", "correct horse battery"));
    let o = rapport(
        dir,
        &[
            "backup",
            "create",
            "--encrypt",
            "--out",
            enc.to_str().unwrap(),
        ],
        &env_pass,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = rapport(dir, &["backup", "verify", enc.to_str().unwrap()], &env_pass);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = rapport(dir, &["backup", "verify", enc.to_str().unwrap()], &[]);
    assert_fails(&o, 2, &["passphrase"]);
    let wrong = dir.join("wrong");
    std::fs::write(&wrong, "battery horse correct\n").unwrap();
    let o = rapport(
        dir,
        &[
            "backup",
            "verify",
            enc.to_str().unwrap(),
            "--passphrase-file",
            wrong.to_str().unwrap(),
        ],
        &[],
    );
    assert_fails(&o, 1, &["wrong passphrase"]);
    let o = rapport(dir, &["backup", "create", "--passphrase"], &env);
    assert_eq!(o.status.code(), Some(2), "no passphrase as an argument");
}

/// Damaged archives, a newer schema, an unreachable target, a full disk:
/// each one clear line, nothing half-done.
#[test]
fn bad_archives_and_targets_are_refused() {
    let (srv, _, _) = filled(&Backend::Sqlite, 100);
    let dir = srv.db.dir.path();
    let good = dir.join("good.tar.zst");
    archive_of(&srv, &good, &CreateOptions::default());
    let bytes = std::fs::read(&good).unwrap();

    let truncated = dir.join("truncated.tar.zst");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let o = rapport(dir, &["backup", "verify", truncated.to_str().unwrap()], &[]);
    assert_fails(&o, 1, &["truncated"]);

    for at in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 20] {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x04;
        let f = dir.join(format!("flipped{at}.tar.zst"));
        std::fs::write(&f, &flipped).unwrap();
        let o = rapport(dir, &["backup", "verify", f.to_str().unwrap()], &[]);
        assert_fails(&o, 1, &["damaged"]);
        // Restore checks first: the target is never created.
        let target = dir.join(format!("t{at}.db"));
        let o = rapport(
            dir,
            &[
                "restore",
                f.to_str().unwrap(),
                "--into",
                target.to_str().unwrap(),
            ],
            &[("RAPPORT_DATA_DIR", dir.join("d").to_str().unwrap())],
        );
        assert_fails(&o, 1, &["damaged"]);
        assert!(!target.exists() && !dir.join(format!("t{at}.db.restoring")).exists());
    }

    let o = rapport(dir, &["backup", "verify", "/etc/hostname"], &[]);
    assert_fails(&o, 1, &["not a Rapport backup"]);

    // Wrong passphrase (a cheap scrypt cost keeps the test quick).
    let enc = dir.join("e.age");
    archive_of(
        &srv,
        &enc,
        &CreateOptions {
            passphrase: Some(Passphrase::new("right".into())),
            work_factor: Some(10),
            ..Default::default()
        },
    );
    let err = backup::verify_archive(&enc, Some(&Passphrase::new("wrong".into()))).unwrap_err();
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    backup::verify_archive(&enc, Some(&Passphrase::new("right".into()))).unwrap();

    // An archive of a newer Rapport's schema.
    srv.db
        .connect()
        .batch_execute(
            "INSERT INTO __diesel_schema_migrations (version, run_on) VALUES ('99991231000000', CURRENT_TIMESTAMP)",
        )
        .unwrap();
    let newer = dir.join("newer.tar.zst");
    archive_of(&srv, &newer, &CreateOptions::default());
    let target = dir.join("n.db");
    let o = rapport(
        dir,
        &[
            "restore",
            newer.to_str().unwrap(),
            "--into",
            target.to_str().unwrap(),
        ],
        &[("RAPPORT_DATA_DIR", dir.join("d").to_str().unwrap())],
    );
    assert_fails(&o, 1, &["newer than this Rapport"]);
    assert!(!target.exists());

    // Target unreachable.
    let o = rapport(
        dir,
        &[
            "restore",
            good.to_str().unwrap(),
            "--into",
            "postgres://rapport@127.0.0.1:1/crm",
        ],
        &[("RAPPORT_DATA_DIR", dir.join("d").to_str().unwrap())],
    );
    assert_fails(&o, 1, &["cannot connect", "127.0.0.1:1"]);

    // Disk full while writing: an 8 KiB file system.
    let small = dir.join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=8k",
            "tmpfs",
            small.to_str().unwrap(),
        ])
        .status()
        .is_ok_and(|s| s.success());
    if mounted {
        let data = srv.data_dir.display().to_string();
        let out = small.join("x.tar.zst");
        let o = rapport(
            dir,
            &["backup", "create", "--out", out.to_str().unwrap()],
            &env_for(&srv.db, &data),
        );
        let listing: Vec<_> = std::fs::read_dir(&small).unwrap().collect();
        let _ = Command::new("umount").arg(&small).status();
        assert_fails(&o, 1, &["No space left"]);
        assert!(listing.is_empty(), "partial file left: {listing:?}");
    } else {
        eprintln!("skipped the disk-full case: cannot mount a tmpfs here");
    }
}

/// The SQLite-only fast path: `--sqlite-snapshot` archives the database
/// file (a `VACUUM INTO` copy taken while a colleague keeps writing), is
/// verified like any archive, and restores into SQLite with the same
/// content, search and attachments; PostgreSQL is refused clearly both ways.
#[test]
fn sqlite_snapshot_is_a_fast_path_into_sqlite() {
    let (srv, admin, report) = filled(&Backend::Sqlite, 300);
    let dir = srv.db.dir.path();
    let data = srv.data_dir.display().to_string();
    let env = env_for(&srv.db, &data);
    let snapshot = |name: &str| -> PathBuf {
        let out = dir.join(name);
        let o = rapport(
            dir,
            &[
                "backup",
                "create",
                "--sqlite-snapshot",
                "--out",
                out.to_str().unwrap(),
            ],
            &env,
        );
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(stdout.contains("sqlite-snapshot archive"), "{stdout}");
        out
    };

    // A quiet moment first: the restored copy has the same content hash.
    let before = digest(&srv.db, &srv.data_dir);
    let quiet = snapshot("quiet.tar.zst");
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "scratch files left: {leftovers:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&quiet).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let o = rapport(dir, &["backup", "verify", quiet.to_str().unwrap()], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("SQLite snapshot: database file"),
        "{out}"
    );
    let target = TestDb::new(&Backend::Sqlite);
    let restored_data = target.dir.path().join("restored-data");
    let o = rapport(
        dir,
        &[
            "restore",
            quiet.to_str().unwrap(),
            "--into",
            target.url.as_str(),
        ],
        &[("RAPPORT_DATA_DIR", restored_data.to_str().unwrap())],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("customers") && !out.contains("DIFFERS"),
        "{out}"
    );
    assert_eq!(digest(&target, &restored_data).hash, before.hash);
    // Over a database that holds data: only with --force, old data kept until then.
    let o = rapport(
        dir,
        &[
            "restore",
            quiet.to_str().unwrap(),
            "--into",
            target.url.as_str(),
        ],
        &[("RAPPORT_DATA_DIR", restored_data.to_str().unwrap())],
    );
    assert_fails(&o, 2, &["already holds data", "--force"]);
    let restored = TestServer::start_with_db(target, |s| s.data_dir = restored_data.clone());
    let c = Client::login(&restored, &report.admin_email, &report.password);
    let name_of_1 = admin.get("/api/v1/customers/1").json()["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_restored_works(&c, &name_of_1, "快照恢复后新客户");

    // Taken while customers and their contacts keep arriving: one moment.
    let (stop, writer) = keep_adding(&admin, "快照并发");
    std::thread::sleep(Duration::from_millis(300));
    let live = snapshot("live.tar.zst");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    let db = TestDb::new(&Backend::Sqlite);
    let r = backup::restore_archive(
        &live,
        &db.db_url(),
        &db.dir.path().join("d"),
        &RestoreOptions::default(),
    )
    .unwrap();
    assert!(r.tables.iter().all(|t| t.rows == t.restored_rows));
    assert_one_moment(&mut db.connect(), "快照并发");

    // Damaged: a flipped byte inside the database file, or a cut-off tail.
    let bytes = std::fs::read(&quiet).unwrap();
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x04;
    let f = dir.join("flipped.tar.zst");
    std::fs::write(&f, &flipped).unwrap();
    let o = rapport(dir, &["backup", "verify", f.to_str().unwrap()], &[]);
    assert_fails(&o, 1, &["damaged"]);
    let cut = dir.join("cut.tar.zst");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let into = dir.join("cut.db");
    let o = rapport(
        dir,
        &[
            "restore",
            cut.to_str().unwrap(),
            "--into",
            into.to_str().unwrap(),
        ],
        &[("RAPPORT_DATA_DIR", dir.join("d").to_str().unwrap())],
    );
    assert_fails(&o, 1, &["truncated"]);
    assert!(!into.exists() && !dir.join("cut.db.restoring").exists());

    // PostgreSQL: no snapshot of it, and a snapshot does not restore into it.
    if let Some(pg) = Backend::postgres() {
        let pg_db = TestDb::new(&pg);
        let o = rapport(
            dir,
            &[
                "restore",
                quiet.to_str().unwrap(),
                "--into",
                pg_db.url.as_str(),
            ],
            &[("RAPPORT_DATA_DIR", dir.join("d").to_str().unwrap())],
        );
        assert_fails(
            &o,
            2,
            &["SQLite snapshot", "SQLite only", "portable archive"],
        );
        rapport::core::db::migrations::run_pending(&mut pg_db.connect()).unwrap();
        let o = rapport(
            dir,
            &[
                "backup",
                "create",
                "--sqlite-snapshot",
                "--out",
                dir.join("pg.tar.zst").to_str().unwrap(),
            ],
            &env_for(&pg_db, &data),
        );
        assert_fails(&o, 2, &["PostgreSQL", "portable archive"]);
        assert!(!dir.join("pg.tar.zst").exists());
    }
}

/// A restore killed half-way leaves the target exactly as it was; the next
/// restore completes.
fn killed_restore_leaves_target_intact(backend: Backend) {
    let (srv, _, _) = filled(&backend, 5_000);
    let keep = tempfile::tempdir().unwrap();
    let archive = keep.path().join("big.tar.zst");
    archive_of(&srv, &archive, &CreateOptions::default());
    drop(srv);

    let target_db = TestDb::new(&backend);
    {
        let mut conn = target_db.connect();
        rapport::core::db::migrations::run_pending(&mut conn).unwrap();
        demo::generate(&mut conn, 50, Locale::Zh, 3, &mut |_| {}).unwrap();
    }
    let target_data = target_db.dir.path().join("data");
    let before = digest(&target_db, &target_data);
    let data = target_data.display().to_string();
    let mut child = Command::new(BIN)
        .args(["restore", archive.to_str().unwrap(), "--force"])
        .env("RAPPORT_DATABASE__URL", &target_db.url)
        .env("RAPPORT_DATA_DIR", &data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill it once it is loading rows into the new copy.
    let started = Instant::now();
    let loading = || -> bool {
        match &backend {
            Backend::Sqlite => std::fs::metadata(format!("{}.restoring", target_db.url))
                .is_ok_and(|m| m.len() > 500_000),
            Backend::Postgres(base) => {
                #[derive(diesel::QueryableByName)]
                struct N {
                    #[diesel(sql_type = diesel::sql_types::BigInt)]
                    n: i64,
                }
                // Watched from another database: the restore refuses to
                // replace a database others are connected to.
                use diesel::Connection;
                let Ok(mut c) = diesel::PgConnection::establish(base) else {
                    return false;
                };
                let name = target_db.url.rsplit('/').next().unwrap_or_default();
                diesel::sql_query(
                    "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = $1 \
                     AND (query LIKE 'COPY %' OR query LIKE 'INSERT INTO%')",
                )
                .bind::<diesel::sql_types::Text, _>(name)
                .get_result::<N>(&mut c)
                .map(|r| r.n > 0)
                .unwrap_or(false)
            }
        }
    };
    while !loading() {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "restore ended before it was killed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "restore never started loading"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        digest(&target_db, &target_data).hash,
        before.hash,
        "target torn"
    );

    let o = rapport(
        target_db.dir.path(),
        &["restore", archive.to_str().unwrap(), "--force"],
        &env_for(&target_db, &data),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = backup::verify_archive(&archive, None).unwrap().manifest;
    assert_eq!(digest(&target_db, &target_data).hash, m.content_hash);
}

/// The server's job takes a verified backup when one is due, not again
/// until the next day, and keeps only `backup.keep` archives.
fn scheduled_backups_run_once_a_day_and_prune(backend: Backend) {
    use rapport::core::jobs::{Clock, JobCtx, ManualClock};
    let (srv, _, _) = filled(&backend, 50);
    let mut settings = settings_of(&srv);
    settings.backup.keep = 2;
    settings.backup.schedule = "daily 02:30".into();
    let clock = ManualClock::new(
        chrono::NaiveDateTime::parse_from_str("2026-12-03 12:00", "%Y-%m-%d %H:%M").unwrap(),
    );
    let mut conn = srv.db.connect();
    let run = |conn: &mut DbConn, clock: &ManualClock| {
        let ctx = JobCtx {
            clock,
            settings: &settings,
        };
        rapport::core::backup::schedule::run_job(conn, &ctx).unwrap()
    };
    assert!(run(&mut conn, &clock).contains("verified"));
    assert_eq!(run(&mut conn, &clock), "no backup due");
    for _ in 0..3 {
        clock.advance(chrono::Duration::days(1));
        assert!(run(&mut conn, &clock).contains("verified"));
    }
    let dir = srv.data_dir.join("backups");
    let list = backup::list_archives(&dir, true, None).unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|a| a.status == "verified"), "{list:?}");
    let newest = list[1]
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        newest,
        format!("rapport-{}.tar.zst", clock.now().format("%Y%m%dT%H%M%SZ"))
    );
}

both_backends!(
    round_trip_to_either_backend,
    backup_while_writing_is_one_moment,
    killed_restore_leaves_target_intact,
    scheduled_backups_run_once_a_day_and_prune,
);
