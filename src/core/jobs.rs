//! Background jobs on a schedule. With several nodes on one PostgreSQL,
//! each run takes a PostgreSQL advisory lock named after the job, so only one
//! node runs a job at a time; on SQLite (one node) a process-local lock does
//! the same. The time of the last run is kept in the database (`settings`
//! key `job.<name>.last_run`), so a job runs once per interval across all
//! nodes, not once per node. Time comes from a [`Clock`] so tests can move it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::core::db::{DbConn, Pool};
use crate::core::settings as kv;

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> NaiveDateTime;
}

/// The real clock (UTC, microseconds, as stored).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> NaiveDateTime {
        crate::core::db::now()
    }
}

/// A clock tests set and move by hand.
#[derive(Debug)]
pub struct ManualClock(Mutex<NaiveDateTime>);

impl ManualClock {
    pub fn new(start: NaiveDateTime) -> Self {
        ManualClock(Mutex::new(start))
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> NaiveDateTime {
        self.0.lock().map(|t| *t).unwrap_or_default()
    }
}

/// What a job gets when it runs.
pub struct JobCtx<'a> {
    pub clock: &'a dyn Clock,
    pub settings: &'a crate::config::Settings,
}

pub type JobFn = fn(&mut DbConn, &JobCtx) -> Result<String, crate::core::error::AppError>;

/// A job: a name (also its lock key), how often it runs, and what it does.
#[derive(Clone)]
pub struct Job {
    pub name: &'static str,
    pub every: Duration,
    pub run: JobFn,
}

/// The outcome of one attempt to run a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// It ran; the job's own summary.
    Done(String),
    /// Another node (or thread) holds the lock.
    Busy,
    /// It ran (here or on another node) less than an interval ago; due again
    /// in this long.
    NotDue(Duration),
    Failed(String),
}

/// A stable 63-bit key for a job name, used as the advisory lock id.
fn lock_key(name: &str) -> i64 {
    crate::core::db::advisory_key(name)
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

#[derive(QueryableByName)]
struct DbFile {
    #[diesel(sql_type = diesel::sql_types::Text)]
    file: String,
}

/// Per-job locks for one process (SQLite: one node), by database file and job.
type LocalLocks = Mutex<HashMap<String, Arc<Mutex<()>>>>;

fn local_locks() -> &'static LocalLocks {
    static LOCKS: OnceLock<LocalLocks> = OnceLock::new();
    LOCKS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Run `job` once if no one else is running it right now.
pub fn run_once(conn: &mut DbConn, job: &Job, ctx: &JobCtx) -> Ran {
    with_lock(conn, job, |conn| outcome((job.run)(conn, ctx)))
}

/// Run `job` if no one else is running it and its last run, on any node,
/// is at least `job.every` ago. The run is recorded before it starts, so a
/// job that crashes the process is not retried before the next interval.
pub fn run_if_due(conn: &mut DbConn, job: &Job, ctx: &JobCtx) -> Ran {
    with_lock(conn, job, |conn| {
        let now = ctx.clock.now();
        let key = last_run_key(job.name);
        let last = match kv::get(conn, &key) {
            Ok(v) => v.and_then(|t| NaiveDateTime::parse_from_str(&t, TIME_FORMAT).ok()),
            Err(e) => return Ran::Failed(e.to_string()),
        };
        if let Some(last) = last {
            let since = (now - last).to_std().unwrap_or(Duration::ZERO);
            if since < job.every {
                return Ran::NotDue(job.every - since);
            }
        }
        if let Err(e) = kv::set(conn, &key, &now.format(TIME_FORMAT).to_string()) {
            return Ran::Failed(e.to_string());
        }
        outcome((job.run)(conn, ctx))
    })
}

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

fn last_run_key(name: &str) -> String {
    format!("job.{name}.last_run")
}

/// When `job` last started on any node, if ever.
pub fn last_run(conn: &mut DbConn, name: &str) -> QueryResult<Option<NaiveDateTime>> {
    Ok(kv::get(conn, &last_run_key(name))?
        .and_then(|t| NaiveDateTime::parse_from_str(&t, TIME_FORMAT).ok()))
}

/// Call `f` holding the job's lock: a PostgreSQL advisory lock (all nodes),
/// or a process-local one on SQLite (one node).
fn with_lock(conn: &mut DbConn, job: &Job, f: impl FnOnce(&mut DbConn) -> Ran) -> Ran {
    let key = lock_key(job.name);
    match conn {
        DbConn::Pg(c) => {
            let got = diesel::sql_query(format!("SELECT pg_try_advisory_lock({key}) AS locked"))
                .get_result::<Locked>(c)
                .map(|l| l.locked);
            match got {
                Ok(true) => {}
                Ok(false) => return Ran::Busy,
                Err(e) => return Ran::Failed(e.to_string()),
            }
            let ran = f(conn);
            if let DbConn::Pg(c) = conn {
                let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({key})")).execute(c);
            }
            ran
        }
        DbConn::Sqlite(c) => {
            // Keyed by database file too, so two databases served by one
            // process (tests) do not hold each other's jobs.
            let file =
                diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
                    .get_result::<DbFile>(c)
                    .map(|f| f.file)
                    .unwrap_or_default();
            let key = format!("{file}\u{0}{}", job.name);
            let lock = match local_locks().lock() {
                Ok(mut map) => map.entry(key).or_default().clone(),
                Err(_) => return Ran::Failed("job lock table poisoned".into()),
            };
            let Ok(_guard) = lock.try_lock() else {
                return Ran::Busy;
            };
            f(conn)
        }
    }
}

fn outcome(r: Result<String, crate::core::error::AppError>) -> Ran {
    match r {
        Ok(s) => Ran::Done(s),
        Err(e) => Ran::Failed(e.to_string()),
    }
}

/// Longest wait before a new scheduler first looks at a job.
const FIRST_LOOK: Duration = Duration::from_secs(60);

/// The running scheduler; dropping it (or `stop`) ends the thread.
pub struct Scheduler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Scheduler {
    /// Start a thread that runs each job every `job.every` across all nodes
    /// ([`run_if_due`]). The first look is after a minute at most (sooner for
    /// shorter intervals); whether the job then runs depends on its last run
    /// in the database, so restarts neither repeat nor postpone it.
    pub fn start(
        pool: Pool,
        jobs: Vec<Job>,
        clock: Arc<dyn Clock>,
        settings: Arc<crate::config::Settings>,
    ) -> Scheduler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("rapport-jobs".into())
            .spawn(move || {
                let started = Instant::now();
                let mut next: Vec<Instant> = jobs
                    .iter()
                    .map(|j| started + j.every.min(FIRST_LOOK))
                    .collect();
                while !flag.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    for (job, due) in jobs.iter().zip(next.iter_mut()) {
                        if now < *due {
                            continue;
                        }
                        *due = now + job.every;
                        let Ok(mut conn) = pool.get() else {
                            tracing::warn!(job = job.name, "no database connection for the job");
                            continue;
                        };
                        let ctx = JobCtx {
                            clock: clock.as_ref(),
                            settings: &settings,
                        };
                        match run_if_due(&mut conn, job, &ctx) {
                            Ran::Done(summary) => {
                                tracing::info!(job = job.name, %summary, "job ran")
                            }
                            Ran::Busy => tracing::debug!(job = job.name, "job running elsewhere"),
                            // Ran elsewhere meanwhile: look again when it is due.
                            Ran::NotDue(left) => *due = now + left,
                            Ran::Failed(e) => {
                                tracing::warn!(job = job.name, error = %e, "job failed")
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
            .ok();
        Scheduler { stop, thread }
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Jobs of the kernel at their default intervals; business modules add theirs.
pub fn builtin_jobs() -> Vec<Job> {
    builtin_jobs_with(&crate::config::JobSettings::default())
}

/// Jobs of the kernel at the intervals of the `[jobs]` settings.
pub fn builtin_jobs_with(intervals: &crate::config::JobSettings) -> Vec<Job> {
    vec![
        Job {
            name: "purge-expired-sessions",
            every: Duration::from_secs(intervals.session_purge_seconds),
            run: |conn, ctx| {
                let n =
                    crate::core::auth::session::purge_expired(conn, ctx.settings.auth.lifetimes())?;
                Ok(format!("{n} expired session(s) removed"))
            },
        },
        Job {
            name: "remove-unused-attachment-files",
            every: Duration::from_secs(intervals.attachment_cleanup_seconds),
            run: |conn, ctx| {
                let n = crate::core::attachments::collect_garbage(
                    conn,
                    &ctx.settings.attachments_dir(),
                )?;
                Ok(format!("{n} unused attachment file(s) removed"))
            },
        },
        Job {
            name: "scheduled-backup",
            every: Duration::from_secs(60),
            run: crate::core::backup::schedule::run_job,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(
            lock_key("purge-expired-sessions"),
            lock_key("purge-expired-sessions")
        );
        assert_ne!(lock_key("a"), lock_key("b"));
        assert!(lock_key("x") >= 0);
    }
}
