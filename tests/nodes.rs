//! Several `rapport serve` processes on one PostgreSQL database behave as
//! one: sessions and login lockouts are shared, a scheduled job runs once
//! across all nodes, attachments live in a shared directory, and restarting
//! one node costs the other nothing. PostgreSQL only: skipped without
//! RAPPORT_TEST_POSTGRES_URL.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::process::{Node, free_port};
use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Client, TestDb};
use serde_json::json;

/// Two nodes on one database, each with its own data dir and a shared
/// attachments directory (as an NFS mount would be).
struct Cluster {
    db: TestDb,
    a: Node,
    b: Node,
    env: Vec<(String, String)>,
}

impl Cluster {
    fn start(extra: &[(&str, &str)]) -> Option<Cluster> {
        let Some(backend) = Backend::postgres() else {
            eprintln!("skipped: RAPPORT_TEST_POSTGRES_URL is not set");
            return None;
        };
        let db = TestDb::new(&backend);
        let shared = db.dir.path().join("shared-attachments");
        let mut env: Vec<(String, String)> = vec![
            ("RAPPORT_DATABASE__URL".into(), db.url.clone()),
            (
                "RAPPORT_STORAGE__ATTACHMENTS_DIR".into(),
                shared.display().to_string(),
            ),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        for n in ["a", "b"] {
            std::fs::create_dir_all(db.dir.path().join(n)).unwrap();
        }
        // Started together: they race for the migrations.
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| Self::node(&db, &env, "a", free_port()));
            let b = s.spawn(|| Self::node(&db, &env, "b", free_port()));
            (a.join().unwrap(), b.join().unwrap())
        });
        Some(Cluster { db, a, b, env })
    }

    fn node(db: &TestDb, env: &[(String, String)], name: &str, port: u16) -> Node {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Node::start_on(&db.dir.path().join(name), &env, port)
    }

    fn client(node: &Node) -> Client {
        Client {
            base: node.url("http", ""),
            agent: common::agent(None),
            cookie: None,
            csrf: None,
            bearer: None,
        }
    }

    /// First-time setup through node A; the admin's client on A.
    fn setup_admin(&self) -> Client {
        let token = rapport::core::setup::issue_token(&mut self.db.connect())
            .unwrap()
            .expect("no users yet");
        let mut c = Self::client(&self.a);
        let r = c.post(
            "/api/v1/setup",
            &json!({
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
}

/// The same cookie and CSRF token against another node.
fn on(node: &Node, c: &Client) -> Client {
    Client {
        base: node.url("http", ""),
        ..c.clone()
    }
}

#[test]
fn a_session_and_a_lockout_hold_on_every_node() {
    let Some(cluster) = Cluster::start(&[]) else {
        return;
    };
    let admin_a = cluster.setup_admin();
    let admin_b = on(&cluster.b, &admin_a);
    let me = admin_b.get("/api/v1/me");
    assert_eq!(
        me.status, 200,
        "session made on A refused on B: {}",
        me.body
    );
    assert_eq!(me.json()["user"]["email"], ADMIN_EMAIL);

    // A change made through B is seen through A (CSRF token of the session).
    let r = admin_b.post(
        "/api/v1/customers",
        &json!({"name": "宁波海曙贸易有限公司"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    assert_eq!(admin_a.get(&format!("/api/v1/customers/{id}")).status, 200);

    // An attachment uploaded through A downloads through B.
    let pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";
    let r = admin_a.post_bytes(
        &format!("/api/v1/attachments?entity=customers&record_id={id}&name=offer.pdf"),
        pdf,
        "application/pdf",
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let file = r.json()["id"].as_i64().unwrap();
    let r = admin_b.get(&format!("/api/v1/attachments/{file}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body.as_bytes(), pdf);

    // Logging out on B ends the session on A too.
    assert_eq!(admin_b.post("/api/v1/auth/logout", &json!({})).status, 200);
    assert_eq!(admin_a.get("/api/v1/me").status, 401);

    // Wrong passwords spread over both nodes still lock the account.
    let threshold = 5;
    for i in 0..threshold {
        let node = if i % 2 == 0 { &cluster.a } else { &cluster.b };
        let r = Cluster::client(node).post(
            "/api/v1/auth/login",
            &json!({"email": ADMIN_EMAIL, "password": "wrong-password-1"}),
        );
        assert_ne!(r.status, 200);
    }
    for node in [&cluster.a, &cluster.b] {
        let r = Cluster::client(node).post(
            "/api/v1/auth/login",
            &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
        );
        assert_eq!(r.status, 423, "locked on {}: {}", node.addr, r.body);
    }
}

/// Start times (seconds since the epoch) of one job's runs on a node.
fn runs(node: &Node, job: &str) -> Vec<f64> {
    node.events("job ran")
        .iter()
        .filter(|v| v["job"] == job)
        .filter_map(|v| v["timestamp"].as_str())
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_micros() as f64 / 1e6)
        .collect()
}

#[test]
fn a_scheduled_job_runs_once_per_interval_across_nodes() {
    let every = 2.0;
    let Some(cluster) = Cluster::start(&[("RAPPORT_JOBS__SESSION_PURGE_SECONDS", "2")]) else {
        return;
    };
    std::thread::sleep(Duration::from_secs_f64(every * 4.5));
    let job = "purge-expired-sessions";
    let (a, b) = (runs(&cluster.a, job), runs(&cluster.b, job));
    let mut all: Vec<f64> = a.iter().chain(&b).copied().collect();
    all.sort_by(f64::total_cmp);
    // Each node alone would have run it about four times.
    assert!((2..=5).contains(&all.len()), "runs: A {a:?}, B {b:?}");
    for pair in all.windows(2) {
        assert!(
            pair[1] - pair[0] >= every - 0.3,
            "two runs {:.2} s apart (interval {every} s): A {a:?}, B {b:?}",
            pair[1] - pair[0]
        );
    }
    let mut conn = cluster.db.connect();
    assert!(
        rapport::core::jobs::last_run(&mut conn, job)
            .unwrap()
            .is_some()
    );
}

#[test]
fn restarting_one_node_loses_no_request_of_the_other() {
    let Some(mut cluster) = Cluster::start(&[]) else {
        return;
    };
    let admin = cluster.setup_admin();
    let on_b = on(&cluster.b, &admin);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        std::thread::spawn(move || {
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = on_b.get("/api/v1/me");
                if r.status == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    errors.push(format!("{} {}", r.status, r.body));
                }
            }
            errors
        })
    };

    // Rolling restart of A: stop (SIGTERM, as systemctl does), start again
    // on the same port, as an upgrade would.
    let port: u16 = cluster.a.addr.rsplit(':').next().unwrap().parse().unwrap();
    let during_stop = ok.load(Ordering::Relaxed);
    assert_eq!(cluster.a.stop().code(), Some(0));
    let started = Instant::now();
    cluster.a = Cluster::node(&cluster.db, &cluster.env, "a", port);
    let restart = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let errors = load.join().unwrap();

    assert!(errors.is_empty(), "requests to B failed: {errors:?}");
    assert!(
        ok.load(Ordering::Relaxed) > during_stop + 10,
        "B served only {} requests while A restarted ({restart:?})",
        ok.load(Ordering::Relaxed) - during_stop
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    // The session outlives the restart of the node that created it.
    assert_eq!(admin.get("/api/v1/me").status, 200);
}
