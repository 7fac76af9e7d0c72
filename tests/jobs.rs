//! Background jobs: one runner at a time across nodes, and the kernel's jobs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Backend, TestDb};
use rapport::config::Settings;
use rapport::core::jobs::{Job, JobCtx, Ran, SystemClock, builtin_jobs, run_once};

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MAX_SEEN: AtomicUsize = AtomicUsize::new(0);

fn slow_job() -> Job {
    Job {
        name: "test-slow-job",
        every: Duration::from_secs(60),
        run: |_, _| {
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            MAX_SEEN.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(400));
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            Ok("slept".into())
        },
    }
}

/// Two "nodes" (separate connections, as two servers would have) start the
/// same job at once: exactly one runs it.
fn one_node_runs_a_job_at_a_time(backend: Backend) {
    let db = TestDb::new(&backend);
    let pool = db.migrated_pool();
    let settings = Settings::default();
    let results: Vec<Ran> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let pool = pool.clone();
                let settings = &settings;
                s.spawn(move || {
                    std::thread::sleep(Duration::from_millis(i * 50));
                    let mut conn = pool.get().unwrap();
                    let ctx = JobCtx {
                        clock: &SystemClock,
                        settings,
                    };
                    run_once(&mut conn, &slow_job(), &ctx)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.contains(&Ran::Done("slept".into())), "{results:?}");
    assert!(results.contains(&Ran::Busy), "{results:?}");
    assert_eq!(MAX_SEEN.load(Ordering::SeqCst), 1);
    // Free again afterwards.
    let mut conn = pool.get().unwrap();
    let ctx = JobCtx {
        clock: &SystemClock,
        settings: &settings,
    };
    assert_eq!(
        run_once(&mut conn, &slow_job(), &ctx),
        Ran::Done("slept".into())
    );
}

fn purge_job_removes_only_expired_sessions(backend: Backend) {
    use diesel::prelude::*;
    use rapport::core::db::schema::sessions;
    let db = TestDb::new(&backend);
    let pool = db.migrated_pool();
    let mut conn = pool.get().unwrap();
    let ctx = rapport::core::audit::AuditCtx::cli();
    let user = rapport::core::org::users::create(
        &mut conn,
        &ctx,
        &rapport::core::org::users::NewUser {
            email: "a@example.cn".into(),
            name: "甲".into(),
            password: "Tidal-Cedar-Glass-11".into(),
            department_id: None,
            supervisor_id: None,
            language: String::new(),
            time_zone: String::new(),
            roles: vec![],
        },
    )
    .unwrap();
    let (_, fresh) =
        rapport::core::auth::session::create(&mut conn, user.id, "127.0.0.1", "t").unwrap();
    let (_, old) =
        rapport::core::auth::session::create(&mut conn, user.id, "127.0.0.1", "t").unwrap();
    diesel::update(sessions::table.find(&old.id))
        .set(sessions::last_seen_at.eq(rapport::core::db::now() - chrono::Duration::days(2)))
        .execute(&mut conn)
        .unwrap();
    let settings = Settings::default();
    let job = builtin_jobs()
        .into_iter()
        .find(|j| j.name == "purge-expired-sessions")
        .unwrap();
    let ran = run_once(
        &mut conn,
        &job,
        &JobCtx {
            clock: &SystemClock,
            settings: &settings,
        },
    );
    assert_eq!(ran, Ran::Done("1 expired session(s) removed".into()));
    let left: Vec<String> = sessions::table
        .select(sessions::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(left, vec![fresh.id]);
}

both_backends!(purge_job_removes_only_expired_sessions);

/// The two variants share the counters above, so they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial(backend: Backend) {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    MAX_SEEN.store(0, Ordering::SeqCst);
    one_node_runs_a_job_at_a_time(backend);
}

#[test]
fn one_node_runs_a_job_at_a_time_sqlite() {
    serial(Backend::Sqlite);
}

#[test]
fn one_node_runs_a_job_at_a_time_postgres() {
    match Backend::postgres() {
        Some(b) => serial(b),
        None => eprintln!("skipped: RAPPORT_TEST_POSTGRES_URL is not set"),
    }
}
