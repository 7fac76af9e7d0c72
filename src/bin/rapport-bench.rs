//! `rapport-bench`: the whole performance table in one command.
//!
//! ```text
//! cargo build --release
//! cargo run --release --bin rapport-bench -- --size large [--backend sqlite|postgres]
//!     [--database-url URL] [--connections N] [--duration S] [--warmup S]
//!     [--json FILE] [--data-dir DIR [--reuse]] [--port P] [--seed S] [--only a,b]
//! ```
//!
//! Uses the release binaries next to itself (`target/release/rapport` and
//! `target/release/hello`, both built by `cargo build --release`). Generates
//! the demo data with `rapport demo` into a fresh data dir (or reuses one
//! this command filled before, with `--reuse`), times the cold start of
//! `rapport serve` to the first 200 on `/readyz`, reads its idle RSS, logs
//! in, then loads each endpoint with a fixed number of keep-alive
//! connections for a fixed time after a warm-up, and finally loads the bare
//! actix-web hello-world the same way. Prints a table, writes JSON.
//!
//! The load generator is plain blocking HTTP/1.1 over `TcpStream`, one
//! thread per connection, closed loop (each connection sends its next
//! request when the answer to the previous one is in).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

/// Where the demo command leaves what a reuse needs.
const MARKER: &str = "rapport-bench.json";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "rapport-bench",
    about = "Rapport's performance table: demo data, cold start, RSS and HTTP load per endpoint, with the ratio to a bare actix-web hello-world",
    after_help = "Build first: `cargo build --release` (the harness runs target/release/rapport and target/release/hello)."
)]
pub struct Args {
    /// Demo data size: small (1k customers), medium (100k), large (1M) or a number.
    #[arg(long, default_value = "small")]
    size: String,
    /// Storage backend of the server under test.
    #[arg(long, default_value = "sqlite", value_parser = ["sqlite", "postgres"])]
    backend: String,
    /// PostgreSQL database for `--backend postgres`; it must exist and be empty
    /// (or hold this harness's demo data, with --reuse).
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/rapport_bench"
    )]
    database_url: String,
    /// Concurrent keep-alive connections per endpoint.
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Seconds measured per endpoint.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of unmeasured load per endpoint before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Data dir to fill and keep (default: a temporary one, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Measure the demo data that an earlier run left in --data-dir (same size and seed).
    #[arg(long, requires = "data_dir")]
    reuse: bool,
    /// Port for the server under test (default: a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Demo data seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Measure only the endpoints whose label contains one of these words (comma separated).
    #[arg(long)]
    only: Option<String>,
}

type Fail = String;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rapport-bench: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Checked arguments.
struct Plan {
    size: usize,
    rapport: PathBuf,
    hello: PathBuf,
    data_dir: PathBuf,
    temporary: bool,
    reuse: bool,
    port: u16,
    db_url: Option<String>,
}

fn plan(a: &Args, bin_dir: &Path) -> Result<Plan, Fail> {
    let size = rapport::crm::demo::parse_size(&a.size).ok_or_else(|| {
        format!(
            "--size `{}`: use small, medium, large or a number from 1 to 20000000",
            a.size
        )
    })?;
    if a.connections == 0 || a.connections > 1024 {
        return Err(format!("--connections {}: use 1 to 1024", a.connections));
    }
    if !(a.duration > 0.0 && a.duration <= 3600.0) {
        return Err(format!(
            "--duration {}: use 0 < S <= 3600 seconds",
            a.duration
        ));
    }
    if !(a.warmup >= 0.0 && a.warmup <= 600.0) {
        return Err(format!("--warmup {}: use 0 <= S <= 600 seconds", a.warmup));
    }
    let rapport = bin_dir.join("rapport");
    let hello = bin_dir.join("hello");
    for b in [&rapport, &hello] {
        if !b.is_file() {
            return Err(format!(
                "{} is missing: run `cargo build --release` first",
                b.display()
            ));
        }
    }
    let port = match a.port {
        Some(p) => {
            TcpListener::bind(("127.0.0.1", p))
                .map_err(|e| format!("--port {p}: cannot listen on 127.0.0.1:{p}: {e}"))?;
            p
        }
        None => free_port()?,
    };
    let db_url = (a.backend == "postgres").then(|| a.database_url.clone());
    if let Some(u) = &db_url
        && !(u.starts_with("postgres://") || u.starts_with("postgresql://"))
    {
        return Err(format!(
            "--database-url `{u}`: use postgres://user@host:port/database"
        ));
    }
    let (data_dir, temporary) = match &a.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("rapport-bench-{}", std::process::id())),
            true,
        ),
    };
    let mut reuse = false;
    if data_dir.exists() {
        let marker = data_dir.join(MARKER);
        let mut entries = std::fs::read_dir(&data_dir)
            .map_err(|e| format!("--data-dir {}: {e}", data_dir.display()))?;
        if marker.is_file() {
            let m: Value = std::fs::read_to_string(&marker)
                .ok()
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(Value::Null);
            let same = m["size"].as_u64() == Some(size as u64)
                && m["seed"].as_u64() == Some(a.seed)
                && m["backend"].as_str() == Some(a.backend.as_str())
                && m["database_url"].as_str() == db_url.as_deref();
            if !same {
                return Err(format!(
                    "--data-dir {} holds demo data of another size, seed or backend ({}); use a new directory",
                    data_dir.display(),
                    marker.display()
                ));
            }
            if !a.reuse {
                return Err(format!(
                    "--data-dir {} already holds this demo data: pass --reuse to measure it again, or use a new directory",
                    data_dir.display()
                ));
            }
            reuse = true;
        } else if entries.next().is_some() {
            return Err(format!(
                "--data-dir {} already holds data that this harness did not generate; use a new (or empty) directory",
                data_dir.display()
            ));
        } else if a.reuse {
            return Err(format!(
                "--reuse: {} holds no demo data from an earlier run",
                data_dir.display()
            ));
        }
    } else if a.reuse {
        return Err(format!("--reuse: {} does not exist", data_dir.display()));
    }
    Ok(Plan {
        size,
        rapport,
        hello,
        data_dir,
        temporary,
        reuse,
        port,
        db_url,
    })
}

fn free_port() -> Result<u16, Fail> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

/// A child process that is stopped when dropped.
struct Proc(Child);

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }
    fn stop(&mut self) {
        // SIGTERM first (a clean shutdown), then SIGKILL.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.stop();
        }
    }
}

/// `VmRSS` and `VmHWM` of a process, in kB.
fn rss_kb(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    json!({
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu": cpu,
        "ram_gib": (mem_kb as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "load_average": loadavg(),
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn rapport_cmd(p: &Plan, bin: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env("RAPPORT_DATA_DIR", &p.data_dir)
        .env("RAPPORT_LOG__LEVEL", "warn")
        .env("RAPPORT_LOG__KEEP", "0")
        .env("RAPPORT_SERVER__LISTEN", format!("127.0.0.1:{}", p.port));
    if let Some(u) = &p.db_url {
        c.env("RAPPORT_DATABASE__URL", u);
    }
    c
}

fn run(a: &Args) -> Result<(), Fail> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let bin_dir = exe.parent().unwrap_or(Path::new(".")).to_path_buf();
    let p = plan(a, &bin_dir)?;
    if bin_dir.file_name().and_then(|n| n.to_str()) != Some("release") {
        eprintln!(
            "rapport-bench: warning: {} is not a release build directory; figures will not be comparable",
            bin_dir.display()
        );
    }
    let result = measure(a, &p);
    if p.temporary {
        let _ = std::fs::remove_dir_all(&p.data_dir);
    }
    result
}

fn measure(a: &Args, p: &Plan) -> Result<(), Fail> {
    let machine_before = machine();
    // 1. Demo data.
    let demo = if p.reuse {
        let m: Value = std::fs::read_to_string(p.data_dir.join(MARKER))
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or("cannot read the marker file of --data-dir")?;
        eprintln!("reusing the demo data in {}", p.data_dir.display());
        m
    } else {
        std::fs::create_dir_all(&p.data_dir)
            .map_err(|e| format!("{}: {e}", p.data_dir.display()))?;
        eprintln!(
            "generating demo data (--size {}, seed {}) into {}",
            p.size,
            a.seed,
            p.db_url
                .as_deref()
                .unwrap_or(&p.data_dir.display().to_string())
        );
        let started = Instant::now();
        let out = rapport_cmd(p, &p.rapport)
            .args([
                "demo",
                "--size",
                &p.size.to_string(),
                "--seed",
                &a.seed.to_string(),
            ])
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("{}: {e}", p.rapport.display()))?;
        let secs = started.elapsed().as_secs_f64();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            return Err(format!(
                "`rapport demo` failed ({}); its error is printed above",
                out.status
            ));
        }
        let login = stdout
            .lines()
            .find_map(|l| l.strip_prefix("log in as "))
            .and_then(|l| l.split_once(" with the password "))
            .ok_or_else(|| format!("unexpected output of `rapport demo`: {stdout}"))?;
        let m = json!({
            "size": p.size, "seed": a.seed, "backend": a.backend,
            "database_url": p.db_url,
            "summary": stdout.lines().next().unwrap_or("").trim_start_matches("demo data: "),
            "seconds": (secs * 10.0).round() / 10.0,
            "admin": login.0, "password": login.1.trim(),
        });
        std::fs::write(p.data_dir.join(MARKER), m.to_string())
            .map_err(|e| format!("{}: {e}", p.data_dir.display()))?;
        m
    };
    let admin = demo["admin"].as_str().unwrap_or_default().to_string();
    let password = demo["password"].as_str().unwrap_or_default().to_string();
    let salesperson = "sales0000@demo.rapport.local";
    let token = |user: &str| -> Result<String, Fail> {
        let out = rapport_cmd(p, &p.rapport)
            .args(["token", "create", "--user", user, "--name", "rapport-bench"])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "`rapport token create --user {user}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let admin_token = token(&admin)?;
    let sales_token = token(salesperson)?;

    // 2. Cold start: process start to the first 200 on /readyz.
    let addr: SocketAddr = ([127, 0, 0, 1], p.port).into();
    let log = std::fs::File::create(p.data_dir.join("rapport-bench-serve.log"))
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut server = Proc(
        rapport_cmd(p, &p.rapport)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", p.rapport.display()))?,
    );
    let cold = wait_ready(addr, "/readyz", started, &mut server.0)?;
    std::thread::sleep(Duration::from_secs(1));
    let (idle_rss, _) = rss_kb(server.pid());
    eprintln!(
        "cold start {:.0} ms, idle RSS {:.1} MB",
        cold.as_secs_f64() * 1000.0,
        idle_rss as f64 / 1024.0
    );

    // 3. Log in (a session for the HTML pages) and find ids to read.
    let mut c = Conn::new(addr);
    let body = json!({"email": admin, "password": password}).to_string();
    let r = c
        .send(&Req::new("POST", "/api/v1/auth/login", Auth::None).body(body))
        .map_err(|e| format!("login: {e}"))?;
    if r.status != 200 {
        return Err(format!("login as {admin} failed: HTTP {}", r.status));
    }
    let session = r
        .set_cookie
        .iter()
        .find(|c| c.starts_with("rapport_session="))
        .and_then(|c| c.split(';').next())
        .ok_or("login gave no session cookie")?
        .to_string();
    let admin_auth = Auth::Bearer(admin_token);
    let sales_auth = Auth::Bearer(sales_token);
    let cookie = Auth::Cookie(session);
    let get_json = |c: &mut Conn, path: &str, auth: &Auth| -> Result<Value, Fail> {
        let r = c
            .send(&Req::new("GET", path, auth.clone()))
            .map_err(|e| format!("{path}: {e}"))?;
        if r.status != 200 {
            return Err(format!("{path}: HTTP {}", r.status));
        }
        serde_json::from_slice(&r.body).map_err(|e| format!("{path}: {e}"))
    };
    let ids: Vec<i64> =
        get_json(&mut c, "/api/v1/customers?limit=50&sort=name", &admin_auth)?["items"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["id"].as_i64()).collect())
            .unwrap_or_default();
    if ids.is_empty() {
        return Err("the demo database lists no customers".into());
    }
    let pipelines = get_json(&mut c, "/api/v1/pipelines", &admin_auth)?;
    let pipeline = pipelines["items"]
        .as_array()
        .or(pipelines.as_array())
        .and_then(|a| a.first())
        .and_then(|p| p["id"].as_i64())
        .ok_or("the demo database has no pipeline")?;

    // 4. The endpoints.
    let q = |s: &str| urlencode(s);
    let by_id =
        |prefix: &str| -> Vec<String> { ids.iter().map(|i| format!("{prefix}{i}")).collect() };
    let endpoints: Vec<Endpoint> = vec![
        Endpoint::get(
            "list, first page (admin, all)",
            &admin_auth,
            vec!["/api/v1/customers?limit=50".into()],
        ),
        Endpoint::get(
            "list, first page (salesperson, self)",
            &sales_auth,
            vec!["/api/v1/customers?limit=50".into()],
        ),
        Endpoint::get(
            "filtered: level A in Shenzhen (admin)",
            &admin_auth,
            vec![format!(
                "/api/v1/customers?limit=50&filter={}&filter={}",
                q("level:eq:A"),
                q("city:eq:深圳")
            )],
        ),
        Endpoint::get(
            "filtered + sorted by name (salesperson)",
            &sales_auth,
            vec![format!(
                "/api/v1/customers?limit=50&sort=name&filter={}",
                q("level:eq:A")
            )],
        ),
        Endpoint::get(
            "search 科技 (admin)",
            &admin_auth,
            vec![format!("/api/v1/customers?limit=50&q={}", q("科技"))],
        ),
        Endpoint::get(
            "search 张伟 (admin)",
            &admin_auth,
            vec![format!("/api/v1/customers?limit=50&q={}", q("张伟"))],
        ),
        Endpoint::get(
            "search smith (admin)",
            &admin_auth,
            vec!["/api/v1/customers?limit=50&q=smith".into()],
        ),
        Endpoint::get(
            "search 张伟 (salesperson)",
            &sales_auth,
            vec![format!("/api/v1/customers?limit=50&q={}", q("张伟"))],
        ),
        Endpoint::get(
            "global search 科技 (salesperson)",
            &sales_auth,
            vec![format!("/api/v1/search?q={}", q("科技"))],
        ),
        Endpoint::get(
            "get by id (admin)",
            &admin_auth,
            by_id("/api/v1/customers/"),
        ),
        Endpoint::get(
            "pipeline board (admin)",
            &admin_auth,
            vec![format!("/api/v1/pipelines/{pipeline}/board")],
        ),
        Endpoint::get(
            "to-do /api/v1/todo (salesperson)",
            &sales_auth,
            vec!["/api/v1/todo".into()],
        ),
        Endpoint::get("page / (admin)", &cookie, vec!["/".into()]),
        Endpoint::get(
            "page /customers (admin)",
            &cookie,
            vec!["/customers".into()],
        ),
        Endpoint::get(
            "page /customers/{id} (admin)",
            &cookie,
            by_id("/customers/"),
        ),
        Endpoint {
            label: "create customer (salesperson)".into(),
            auth: sales_auth.clone(),
            work: Work::Create,
        },
        Endpoint {
            label: "update customer (admin)".into(),
            auth: admin_auth.clone(),
            work: Work::Update,
        },
        Endpoint::get("/healthz (rapport)", &Auth::None, vec!["/healthz".into()]),
    ];
    let only: Vec<String> = a
        .only
        .as_deref()
        .map(|o| {
            o.split(',')
                .map(|w| w.trim().to_lowercase())
                .filter(|w| !w.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let wanted = |l: &str| only.is_empty() || only.iter().any(|w| l.to_lowercase().contains(w));
    let load = Load {
        connections: a.connections,
        warmup: Duration::from_secs_f64(a.warmup),
        duration: Duration::from_secs_f64(a.duration),
    };
    eprintln!(
        "load: {} connections, {} s warm-up + {} s per endpoint",
        a.connections, a.warmup, a.duration
    );
    let mut results = Vec::new();
    for e in endpoints.iter().filter(|e| wanted(&e.label)) {
        let r = load.run(addr, e)?;
        eprintln!("  {} {:>9.1} req/s", pad(&e.label, 42), r.rps);
        results.push(r);
    }
    let (rss_after, peak_rss) = rss_kb(server.pid());
    server.stop();

    // 5. The yardstick: a bare actix-web hello-world under the same load.
    let hport = free_port()?;
    let haddr: SocketAddr = ([127, 0, 0, 1], hport).into();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let hstart = Instant::now();
    let mut hello = Proc(
        Command::new(&p.hello)
            .args([haddr.to_string(), workers.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", p.hello.display()))?,
    );
    wait_ready(haddr, "/healthz", hstart, &mut hello.0)?;
    let h = load.run(
        haddr,
        &Endpoint::get(
            "actix-web hello-world /healthz",
            &Auth::None,
            vec!["/healthz".into()],
        ),
    )?;
    hello.stop();

    // 6. Report.
    let machine_after = machine();
    println!(
        "rapport-bench: {} customers on {}, {} connections, {} s per endpoint (+{} s warm-up)",
        p.size, a.backend, a.connections, a.duration, a.warmup
    );
    println!(
        "machine: {} cores, {}, {} GiB RAM; load average before {} / after {}",
        machine_before["cores"],
        machine_before["cpu"].as_str().unwrap_or("?"),
        machine_before["ram_gib"],
        machine_before["load_average"].as_str().unwrap_or(""),
        machine_after["load_average"].as_str().unwrap_or("")
    );
    println!(
        "demo data: {} ({} s{})",
        demo["summary"].as_str().unwrap_or(""),
        demo["seconds"],
        if p.reuse { ", reused" } else { "" }
    );
    println!(
        "cold start to first 200 on /readyz: {:.0} ms; RSS idle {:.1} MB, after the load {:.1} MB, peak {:.1} MB",
        cold.as_secs_f64() * 1000.0,
        idle_rss as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
    println!(
        "{:<42} {:>10} {:>9} {:>9} {:>9} {:>7} {:>7}",
        "endpoint", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "ratio"
    );
    let row = |r: &Outcome| {
        println!(
            "{} {:>10.1} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>7.3}",
            pad(&r.label, 42),
            r.rps,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.errors,
            if h.rps > 0.0 { r.rps / h.rps } else { 0.0 }
        )
    };
    for r in &results {
        row(r);
    }
    row(&h);
    if let Some(path) = &a.json {
        let ep = |r: &Outcome| {
            json!({
                "endpoint": r.label, "requests": r.requests, "requests_per_s": r.rps,
                "p50_ms": r.p50_ms, "p95_ms": r.p95_ms, "p99_ms": r.p99_ms,
                "max_ms": r.max_ms, "errors": r.errors, "first_error": r.first_error,
                "ratio_to_hello": if h.rps > 0.0 { r.rps / h.rps } else { 0.0 },
            })
        };
        let doc = json!({
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "size": p.size, "seed": a.seed, "backend": a.backend,
            "connections": a.connections, "duration_s": a.duration, "warmup_s": a.warmup,
            "machine": machine_before,
            "load_average_after": machine_after["load_average"],
            "demo": demo,
            "cold_start_ms": cold.as_secs_f64() * 1000.0,
            "rss_idle_mb": idle_rss as f64 / 1024.0,
            "rss_after_load_mb": rss_after as f64 / 1024.0,
            "rss_peak_mb": peak_rss as f64 / 1024.0,
            "hello": ep(&h),
            "endpoints": results.iter().map(ep).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("--json {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Poll `path` until it answers 200; the time since `started`.
fn wait_ready(
    addr: SocketAddr,
    path: &str,
    started: Instant,
    child: &mut Child,
) -> Result<Duration, Fail> {
    loop {
        if let Ok(mut c) = TcpStream::connect(addr).map(|s| Conn::from_stream(addr, s))
            && let Ok(r) = c.send(&Req::new("GET", path, Auth::None))
            && r.status == 200
        {
            return Ok(started.elapsed());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the server exited ({status}) before answering {path}; its log is in the data dir"
            ));
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(format!("{path} did not answer 200 within 60 s"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `s` padded with spaces to `width` terminal columns (CJK characters take two).
fn pad(s: &str, width: usize) -> String {
    let cols: usize = s
        .chars()
        .map(|c| {
            if ('\u{2E80}'..='\u{FFEF}').contains(&c) {
                2
            } else {
                1
            }
        })
        .sum();
    format!("{s}{}", " ".repeat(width.saturating_sub(cols)))
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Clone, Debug)]
enum Auth {
    None,
    Bearer(String),
    Cookie(String),
}

struct Req {
    method: &'static str,
    path: String,
    auth: Auth,
    body: Option<String>,
}

impl Req {
    fn new(method: &'static str, path: &str, auth: Auth) -> Req {
        Req {
            method,
            path: path.to_string(),
            auth,
            body: None,
        }
    }
    fn body(mut self, b: String) -> Req {
        self.body = Some(b);
        self
    }
    fn write_to(&self, out: &mut Vec<u8>) {
        out.clear();
        let _ = write!(
            out,
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: rapport-bench\r\n",
            self.method, self.path
        );
        match &self.auth {
            Auth::None => {}
            Auth::Bearer(t) => {
                let _ = write!(out, "Authorization: Bearer {t}\r\n");
            }
            Auth::Cookie(c) => {
                let _ = write!(out, "Cookie: {c}\r\n");
            }
        }
        if let Some(b) = &self.body {
            let _ = write!(
                out,
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            );
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
}

struct Resp {
    status: u16,
    body: Vec<u8>,
    set_cookie: Vec<String>,
}

/// One keep-alive HTTP/1.1 connection; reconnects when the server closes it.
struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(64 * 1024),
            out: Vec::with_capacity(1024),
        }
    }
    fn from_stream(addr: SocketAddr, s: TcpStream) -> Conn {
        let mut c = Conn::new(addr);
        c.stream = Some(s);
        c
    }

    fn send(&mut self, req: &Req) -> io::Result<Resp> {
        req.write_to(&mut self.out);
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            self.stream = Some(s);
            self.buf.clear();
        }
        let r = self.exchange();
        if r.is_err() {
            self.stream = None;
        }
        r
    }

    fn exchange(&mut self) -> io::Result<Resp> {
        let Some(s) = self.stream.as_mut() else {
            return Err(io::Error::other("not connected"));
        };
        s.write_all(&self.out)?;
        // Head.
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            fill(s, &mut self.buf)?;
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| io::Error::other("bad status line"))?;
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        let mut set_cookie = Vec::new();
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let v = v.trim();
            match k.to_ascii_lowercase().as_str() {
                "content-length" => length = v.parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "connection" => close = v.eq_ignore_ascii_case("close"),
                "set-cookie" => set_cookie.push(v.to_string()),
                _ => {}
            }
        }
        self.buf.drain(..head_end);
        let body = if chunked {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(i) = find(&self.buf, b"\r\n") {
                        break i;
                    }
                    fill(s, &mut self.buf)?;
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).to_string();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| io::Error::other("bad chunk size"))?;
                while self.buf.len() < line_end + 2 + size + 2 {
                    fill(s, &mut self.buf)?;
                }
                body.extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
                self.buf.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break body;
                }
            }
        } else if let Some(n) = length {
            while self.buf.len() < n {
                fill(s, &mut self.buf)?;
            }
            self.buf.drain(..n).collect()
        } else if status == 204 || status == 304 || (100..200).contains(&status) {
            Vec::new()
        } else {
            // Body until the server closes.
            loop {
                match fill(s, &mut self.buf) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            close = true;
            std::mem::take(&mut self.buf)
        };
        if close {
            self.stream = None;
        }
        Ok(Resp {
            status,
            body,
            set_cookie,
        })
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = s.read(&mut chunk)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

#[derive(Clone)]
enum Work {
    /// GET these paths in turn.
    Get(Vec<String>),
    /// POST a new customer with a unique name (duplicate check, search
    /// index and audit row each time).
    Create,
    /// PATCH one customer per connection, naming the version it read.
    Update,
}

struct Endpoint {
    label: String,
    auth: Auth,
    work: Work,
}

impl Endpoint {
    fn get(label: &str, auth: &Auth, paths: Vec<String>) -> Endpoint {
        Endpoint {
            label: label.into(),
            auth: auth.clone(),
            work: Work::Get(paths),
        }
    }
}

struct Outcome {
    label: String,
    requests: u64,
    rps: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    first_error: Option<String>,
}

struct Load {
    connections: usize,
    warmup: Duration,
    duration: Duration,
}

/// What one connection's thread brings back.
#[derive(Default)]
struct Tally {
    micros: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

impl Load {
    fn run(&self, addr: SocketAddr, e: &Endpoint) -> Result<Outcome, Fail> {
        let run_id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let barrier = Arc::new(Barrier::new(self.connections + 1));
        let mut handles = Vec::new();
        for k in 0..self.connections {
            let work = e.work.clone();
            let auth = e.auth.clone();
            let barrier = barrier.clone();
            let warm = self.warmup;
            let dur = self.duration;
            let label = e.label.clone();
            handles.push(std::thread::spawn(move || -> Result<Tally, Fail> {
                let mut c = Conn::new(addr);
                // Update: each connection edits its own customer.
                let mut target: Option<(i64, i64)> = None;
                if let Work::Update = work {
                    let body = json!({"name": format!("Bench update {run_id}-{k}")}).to_string();
                    let r = c
                        .send(&Req::new("POST", "/api/v1/customers", auth.clone()).body(body))
                        .map_err(|e| format!("{label}: setup: {e}"))?;
                    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                    match (v["id"].as_i64(), v["version"].as_i64()) {
                        (Some(id), Some(ver)) => target = Some((id, ver)),
                        _ => return Err(format!("{label}: setup create gave HTTP {}", r.status)),
                    }
                }
                let mut n: u64 = 0;
                let mut t = Tally::default();
                barrier.wait();
                let begin = Instant::now();
                let measure_from = begin + warm;
                let end = measure_from + dur;
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    n += 1;
                    let req = match &work {
                        Work::Get(paths) => {
                            Req::new("GET", &paths[(n as usize + k) % paths.len()], auth.clone())
                        }
                        Work::Create => Req::new("POST", "/api/v1/customers", auth.clone()).body(
                            // Letters between the numbers: the duplicate check compares
                            // names without punctuation, so "1-12" and "11-2" would meet.
                            json!({"name": format!("压测客户 {run_id}c{k}n{n}"), "tags": ["压测"]})
                                .to_string(),
                        ),
                        Work::Update => {
                            let (id, ver) = target.unwrap_or((0, 0));
                            Req::new("PATCH", &format!("/api/v1/customers/{id}"), auth.clone())
                                .body(
                                    json!({"version": ver, "notes": format!("bench {n}")})
                                        .to_string(),
                                )
                        }
                    };
                    let r = c.send(&req);
                    let took = sent.elapsed();
                    let ok = match &r {
                        Ok(resp) if (200..300).contains(&resp.status) => {
                            if let Work::Update = work
                                && let Ok(v) = serde_json::from_slice::<Value>(&resp.body)
                                && let (Some(t), Some(ver)) =
                                    (target.as_mut(), v["version"].as_i64())
                            {
                                t.1 = ver;
                            }
                            true
                        }
                        _ => false,
                    };
                    if sent < measure_from {
                        continue;
                    }
                    if ok {
                        t.micros.push(took.as_micros().min(u32::MAX as u128) as u32);
                    } else {
                        t.errors += 1;
                        if t.first_error.is_none() {
                            t.first_error = Some(match r {
                                Ok(resp) => format!(
                                    "HTTP {}: {}",
                                    resp.status,
                                    String::from_utf8_lossy(&resp.body)
                                        .chars()
                                        .take(200)
                                        .collect::<String>()
                                ),
                                Err(e) => e.to_string(),
                            });
                        }
                    }
                }
                Ok(t)
            }));
        }
        barrier.wait();
        let mut all: Vec<u32> = Vec::new();
        let mut errors = 0;
        let mut first_error = None;
        for h in handles {
            let t = h
                .join()
                .map_err(|_| "a load thread panicked".to_string())??;
            all.extend(t.micros);
            errors += t.errors;
            if first_error.is_none() {
                first_error = t.first_error;
            }
        }
        all.sort_unstable();
        let pct = |p: f64| -> f64 {
            if all.is_empty() {
                return 0.0;
            }
            let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
            all[i] as f64 / 1000.0
        };
        let secs = self.duration.as_secs_f64();
        Ok(Outcome {
            label: e.label.clone(),
            requests: all.len() as u64,
            rps: all.len() as f64 / secs,
            p50_ms: pct(0.50),
            p95_ms: pct(0.95),
            p99_ms: pct(0.99),
            max_ms: all.last().map_or(0.0, |m| *m as f64 / 1000.0),
            errors,
            first_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut v = vec!["rapport-bench"];
        v.extend_from_slice(extra);
        Args::parse_from(v)
    }

    fn bins() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("rapport"), "").unwrap();
        std::fs::write(d.path().join("hello"), "").unwrap();
        d
    }

    fn err(a: &Args, dir: &Path) -> String {
        match plan(a, dir) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn bad_size_is_named() {
        let b = bins();
        assert!(err(&args(&["--size", "huge"]), b.path()).contains("--size `huge`"));
        assert!(err(&args(&["--size", "0"]), b.path()).contains("--size"));
        assert_eq!(
            plan(&args(&["--size", "large"]), b.path()).unwrap().size,
            1_000_000
        );
    }

    #[test]
    fn missing_binary_says_build_first() {
        let d = tempfile::tempdir().unwrap();
        assert!(err(&args(&[]), d.path()).contains("cargo build --release"));
    }

    #[test]
    fn port_in_use_is_refused() {
        let b = bins();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port().to_string();
        assert!(err(&args(&["--port", &port]), b.path()).contains("cannot listen"));
    }

    #[test]
    fn data_dir_with_other_data_is_refused() {
        let b = bins();
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("rapport.db"), "x").unwrap();
        let dir = d.path().to_str().unwrap();
        assert!(err(&args(&["--data-dir", dir]), b.path()).contains("already holds data"));
        // A run's own marker: reuse needs the flag and the same size.
        std::fs::remove_file(d.path().join("rapport.db")).unwrap();
        std::fs::write(
            d.path().join(MARKER),
            json!({"size": 1000, "seed": 42, "backend": "sqlite", "database_url": null})
                .to_string(),
        )
        .unwrap();
        assert!(err(&args(&["--data-dir", dir]), b.path()).contains("--reuse"));
        assert!(
            err(
                &args(&["--data-dir", dir, "--reuse", "--size", "5"]),
                b.path()
            )
            .contains("another size")
        );
        assert!(
            plan(&args(&["--data-dir", dir, "--reuse"]), b.path())
                .unwrap()
                .reuse
        );
    }

    #[test]
    fn bad_numbers_are_named() {
        let b = bins();
        assert!(err(&args(&["--connections", "0"]), b.path()).contains("--connections"));
        assert!(err(&args(&["--duration", "0"]), b.path()).contains("--duration"));
        assert!(
            err(
                &args(&["--backend", "postgres", "--database-url", "mysql://x"]),
                b.path()
            )
            .contains("--database-url")
        );
    }

    #[test]
    fn urlencode_escapes_utf8() {
        assert_eq!(urlencode("level:eq:A"), "level%3Aeq%3AA");
        assert_eq!(urlencode("科"), "%E7%A7%91");
    }
}
