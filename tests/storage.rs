//! Storage on both backends: migrations up → down → up, both trees alike,
//! schema.rs matches what the migrations build.

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestDb};
use diesel::prelude::*;
use diesel::sql_types::Text;
use rapport::core::db::{self, DbConn, DbUrl, migrations};

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Tables (and their columns) in the connected database, without diesel's own.
fn tables_in_db(conn: &mut DbConn) -> Vec<(String, BTreeSet<String>)> {
    let tables: Vec<Name> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'fts_%' \
             AND name <> '__diesel_schema_migrations' ORDER BY name",
        )
        .load(c),
        DbConn::Pg(c) => diesel::sql_query(
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name <> '__diesel_schema_migrations' \
             ORDER BY table_name",
        )
        .load(c),
    }
    .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let cols: Vec<Name> = match conn {
                DbConn::Sqlite(c) => {
                    diesel::sql_query(format!("SELECT name FROM pragma_table_info('{}')", t.name))
                        .load(c)
                }
                DbConn::Pg(c) => diesel::sql_query(format!(
                    "SELECT column_name AS name FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = '{}'",
                    t.name
                ))
                .load(c),
            }
            .unwrap();
            (t.name, cols.into_iter().map(|c| c.name).collect())
        })
        .collect()
}

/// What schema.rs declares, read from the SQL diesel generates for each table.
fn tables_in_schema() -> Vec<(String, BTreeSet<String>)> {
    use rapport::core::db::schema::*;
    fn columns<Q: diesel::query_builder::QueryFragment<diesel::sqlite::Sqlite>>(
        name: &str,
        q: Q,
    ) -> (String, BTreeSet<String>) {
        let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&q).to_string();
        let list = sql
            .trim_start_matches("SELECT ")
            .split(" FROM ")
            .next()
            .unwrap();
        let cols = list
            .split(", ")
            .map(|c| c.rsplit('.').next().unwrap().trim_matches('`').to_string())
            .collect();
        (name.to_string(), cols)
    }
    macro_rules! tables {
        ($($t:ident),*) => { vec![$(columns(stringify!($t), $t::table.select($t::all_columns))),*] };
    }
    let mut v = tables!(
        settings,
        departments,
        users,
        roles,
        user_roles,
        sessions,
        api_tokens,
        login_log,
        audit_log,
        record_shares,
        customers,
        custom_fields,
        saved_views,
        contacts,
        leads,
        followups,
        tasks,
        attachments,
        record_follows,
        pipelines,
        pipeline_stages,
        product_categories,
        products,
        opportunities,
        opportunity_stage_history,
        pools,
        pool_members,
        pool_events,
        opportunity_sums,
        import_batches,
        import_items,
        record_merges
    );
    v.sort();
    v
}

fn migrations_up_down_up_match_schema(backend: Backend) {
    let db = TestDb::new(&backend);
    let mut conn = db.connect();
    let all = migrations::status(&mut conn).unwrap();
    assert!(!all.is_empty() && all.iter().all(|m| !m.applied));

    let applied = migrations::run_pending(&mut conn).unwrap();
    assert_eq!(applied.len(), all.len());
    assert_eq!(applied.last().unwrap(), &migrations::latest_known());
    assert_eq!(migrations::pending_count(&mut conn).unwrap(), 0);
    assert_eq!(tables_in_db(&mut conn), tables_in_schema());

    let reverted = migrations::revert_all(&mut conn).unwrap();
    assert_eq!(reverted, all.len());
    assert!(
        tables_in_db(&mut conn).is_empty(),
        "down.sql leaves tables behind"
    );

    migrations::run_pending(&mut conn).unwrap();
    assert_eq!(tables_in_db(&mut conn), tables_in_schema());
    assert!(migrations::run_pending(&mut conn).unwrap().is_empty());
}

fn pool_gives_working_connections(backend: Backend) {
    let db = TestDb::new(&backend);
    let pool = db.migrated_pool();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut c = pool.get().unwrap();
                rapport::core::settings::set(&mut c, &format!("k{i}"), "客户").unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut c = pool.get().unwrap();
    for i in 0..4 {
        assert_eq!(
            rapport::core::settings::get(&mut c, &format!("k{i}"))
                .unwrap()
                .as_deref(),
            Some("客户")
        );
    }
}

/// Concurrent writers (grouped into shared commits on SQLite): each one's
/// work is kept exactly when it said so, a failing or panicking writer loses
/// only its own work, and a writer sees its write as soon as it returns.
fn concurrent_writers_keep_exactly_their_own_work(backend: Backend) {
    use rapport::core::settings;
    let db = TestDb::new(&backend);
    let pool = db.migrated_pool();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut kept = Vec::new();
                for i in 0..60 {
                    // A fresh connection per write, as a request gets: one a
                    // panic left inside a transaction is not given out again.
                    let mut c = pool.get().unwrap();
                    let key = format!("gc.{t}.{i}");
                    let fate = (t * 60 + i) % 7;
                    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        db::write_tx(&mut c, |conn| -> Result<(), diesel::result::Error> {
                            settings::set(conn, &key, "写入")?;
                            match fate {
                                0 => Err(diesel::result::Error::RollbackTransaction),
                                1 => panic!("writer {key} panics"),
                                _ => Ok(()),
                            }
                        })
                    }));
                    match (fate, out) {
                        (0, Ok(Err(_))) | (1, Err(_)) => {}
                        (2.., Ok(Ok(()))) => {
                            // Visible on the writer's own connection at once.
                            assert_eq!(
                                settings::get(&mut c, &key).unwrap().as_deref(),
                                Some("写入")
                            );
                            kept.push(key);
                        }
                        (f, o) => panic!("{key}: fate {f} gave {:?}", o.map(|r| r.is_ok())),
                    }
                }
                kept
            })
        })
        .collect();
    let kept: BTreeSet<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(kept.len(), (0..8 * 60).filter(|n| n % 7 >= 2).count());
    let mut c = pool.get().unwrap();
    let stored: BTreeSet<String> =
        diesel::sql_query("SELECT key AS name FROM settings WHERE key LIKE 'gc.%'")
            .load::<Name>(&mut c)
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect();
    assert_eq!(stored, kept);
}

both_backends!(
    migrations_up_down_up_match_schema,
    pool_gives_working_connections,
    concurrent_writers_keep_exactly_their_own_work
);

#[test]
fn both_migration_trees_have_the_same_names() {
    let (sqlite, postgres) = migrations::tree_names().unwrap();
    assert_eq!(sqlite, postgres);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for tree in ["sqlite", "postgres"] {
        for name in &sqlite {
            for file in ["up.sql", "down.sql"] {
                assert!(
                    root.join(tree).join(name).join(file).is_file(),
                    "{tree}/{name}/{file}"
                );
            }
        }
    }
}

#[derive(QueryableByName)]
struct Pragma {
    #[diesel(sql_type = Text)]
    v: String,
}

#[test]
fn sqlite_connections_have_wal_foreign_keys_and_busy_timeout() {
    let db = TestDb::new(&Backend::Sqlite);
    let pool = db.migrated_pool();
    let mut conn = pool.get().unwrap();
    let DbConn::Sqlite(c) = &mut *conn else {
        panic!("sqlite expected")
    };
    let q = |c: &mut diesel::SqliteConnection, sql: &str| {
        diesel::sql_query(sql).get_result::<Pragma>(c).unwrap().v
    };
    assert_eq!(
        q(
            c,
            "SELECT CAST(journal_mode AS TEXT) AS v FROM pragma_journal_mode"
        ),
        "wal"
    );
    assert_eq!(
        q(
            c,
            "SELECT CAST(foreign_keys AS TEXT) AS v FROM pragma_foreign_keys"
        ),
        "1"
    );
    assert_eq!(
        q(
            c,
            "SELECT CAST(timeout AS TEXT) AS v FROM pragma_busy_timeout"
        ),
        "5000"
    );
    // synchronous: 1 = NORMAL
    assert_eq!(
        q(
            c,
            "SELECT CAST(synchronous AS TEXT) AS v FROM pragma_synchronous"
        ),
        "1"
    );
    // The bundled SQLite is built with the query planner stability
    // guarantee (.cargo/config.toml): without it every statement with a
    // bound LIMIT is compiled again on each use.
    assert_eq!(
        q(
            c,
            "SELECT CAST(sqlite_compileoption_used('ENABLE_QPSG') AS TEXT) AS v"
        ),
        "1"
    );
    // … and with the `sqlite_dbpage` table the SQLite snapshot reads.
    assert_eq!(
        q(
            c,
            "SELECT CAST(sqlite_compileoption_used('ENABLE_DBPAGE_VTAB') AS TEXT) AS v"
        ),
        "1"
    );
}

/// The server's writers share one connection that leaves checkpoints to a
/// background thread: soon after the writes stop, the database file itself
/// (read without its WAL) holds every one of them, with no connection
/// closed and no write after them.
#[test]
fn sqlite_writes_reach_the_database_file_without_waiting_for_a_close() {
    use rapport::core::settings;
    let db = TestDb::new(&Backend::Sqlite);
    let pool = db.migrated_pool();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for i in 0..150 {
                    let mut c = pool.get().unwrap();
                    db::write_tx(&mut c, |conn| {
                        settings::set(conn, &format!("ck.{t}.{i}"), "检查点")
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // `immutable=1`: the file as it is on disk, WAL ignored.
    let file = format!("file:{}?immutable=1", db.url);
    let in_file = || {
        let mut c = diesel::SqliteConnection::establish(&file).unwrap();
        diesel::sql_query("SELECT CAST(COUNT(*) AS TEXT) AS v FROM settings WHERE key LIKE 'ck.%'")
            .get_result::<Pragma>(&mut c)
            .map(|p| p.v)
            .unwrap_or_default()
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while in_file() != "600" && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(in_file(), "600");
    // The shared connection runs no checkpoint of its own on commit.
    let mut c = pool.get().unwrap();
    #[derive(QueryableByName)]
    struct Auto {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        wal_autocheckpoint: i32,
    }
    let auto = db::write_tx(&mut c, |conn| {
        diesel::sql_query("PRAGMA wal_autocheckpoint").get_result::<Auto>(conn)
    })
    .unwrap();
    assert_eq!(auto.wal_autocheckpoint, 0);
}

#[test]
fn mistyped_urls_never_create_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "postgress://u@localhost/db",
        "postgres:/localhost/db",
        "mysql://x/y",
    ] {
        assert!(DbUrl::parse(url).is_err(), "{url}");
    }
    // A SQLite path in a missing directory is an error, not a crash.
    let err = db::open_pool(&DbUrl::Sqlite(dir.path().join("missing/x.db")), 1)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn unreachable_postgres_is_a_quick_clear_error() {
    let started = std::time::Instant::now();
    let err = db::open_pool(
        &DbUrl::parse("postgres://postgres@127.0.0.1:1/rapport").unwrap(),
        2,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("127.0.0.1") && err.contains("refused"),
        "{err}"
    );
    assert!(!err.contains('\n'));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// `NewCustomer::insert_sqlite` (a hand-written statement with its own
/// column list) stores every field in the same column as diesel's own
/// insert of the same row: each field holds a value of its own, and the
/// two rows are compared column by column.
#[test]
fn sqlite_prepared_customer_insert_matches_diesels() {
    use chrono::NaiveDate;
    use rapport::core::db::schema::customers;
    use rapport::crm::customers::model::NewCustomer;
    let db = TestDb::new(&Backend::Sqlite);
    let pool = db.migrated_pool();
    let mut conn = pool.get().unwrap();
    let DbConn::Sqlite(c) = &mut *conn else {
        panic!("sqlite expected")
    };
    let t = |d: u32| {
        NaiveDate::from_ymd_opt(2026, 1, d)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap()
    };
    let row = NewCustomer {
        name: "深圳市星河科技有限公司".into(),
        short_name: "星河".into(),
        kind: "company".into(),
        industry: "电子".into(),
        level: "A".into(),
        source: "展会".into(),
        status: "active".into(),
        phone: "0755-1".into(),
        mobile: "13800000001".into(),
        email: "a@example.cn".into(),
        website: "https://x.example".into(),
        province: "广东".into(),
        city: "深圳".into(),
        district: "南山".into(),
        address: "科技园1号".into(),
        tags: "[\"vip\"]".into(),
        notes: "备注".into(),
        owner_id: None,
        locked: true,
        deal_status: "won".into(),
        last_follow_up_at: Some(t(2)),
        next_follow_up_at: Some(t(3)),
        custom: "{\"k\":1}".into(),
        dedupe_name: "星河科技".into(),
        dedupe_phone: "13800000001x".into(),
        search_text: "search text".into(),
        search_cjk: "星 河".into(),
        created_by: Some(7),
        updated_by: Some(8),
        created_at: t(4),
        updated_at: t(5),
        version: 3,
    };
    let ours = NewCustomer::insert_sqlite(c, std::slice::from_ref(&row)).unwrap()[0];
    let theirs: i64 = diesel::insert_into(customers::table)
        .values(&row)
        .returning(customers::id)
        .get_result(c)
        .unwrap();
    let columns: Vec<Name> =
        diesel::sql_query("SELECT name FROM pragma_table_info('customers') WHERE name <> 'id'")
            .load(c)
            .unwrap();
    assert!(columns.len() > 30);
    let dump = |c: &mut diesel::SqliteConnection, id: i64| -> Vec<String> {
        columns
            .iter()
            .map(|col| {
                diesel::sql_query(format!(
                    "SELECT '{0}=' || quote({0}) AS v FROM customers WHERE id = {id}",
                    col.name
                ))
                .get_result::<Pragma>(c)
                .unwrap()
                .v
            })
            .collect()
    };
    assert_eq!(dump(c, ours), dump(c, theirs));
    assert!(dump(c, ours).contains(&"updated_by=8".to_string()));
}
