//! The `rapport` binary as a separate process, as systemd would run it:
//! its stderr log lines collected, signals sent with `kill`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_rapport");

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `rapport serve` running in `dir` with `env` (plus
/// `RAPPORT_SERVER__LISTEN` on a free port and JSON logs).
pub struct Node {
    child: Option<Child>,
    pub addr: String,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    /// Start and wait until it listens; panics with its log if it does not.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Node {
        Self::start_on(dir, env, free_port())
    }

    pub fn start_on(dir: &Path, env: &[(&str, &str)], port: u16) -> Node {
        let node = Self::spawn(dir, env, port);
        node.wait_log("Rapport is listening", Duration::from_secs(60));
        node
    }

    /// Start without waiting (for starts that are meant to fail).
    pub fn spawn(dir: &Path, env: &[(&str, &str)], port: u16) -> Node {
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir)
            .arg("serve")
            .env("RAPPORT_SERVER__LISTEN", &addr)
            .env("RAPPORT_LOG__FORMAT", "json")
            .env("RAPPORT_LOG__KEEP", "0")
            .env("RAPPORT_SERVER__WORKERS", "2")
            .env("RAPPORT_SERVER__SHUTDOWN_TIMEOUT", "5")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start rapport serve");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Node {
            child: Some(child),
            addr,
            lines,
            reader: Some(reader),
        }
    }

    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }

    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Log lines (JSON objects) whose `message` contains `needle`.
    pub fn events(&self, needle: &str) -> Vec<serde_json::Value> {
        self.log()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["message"].as_str().is_some_and(|m| m.contains(needle)))
            .collect()
    }

    /// Wait for a log line containing `needle`; returns it.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> String {
        self.wait_log_after(0, needle, timeout)
    }

    /// Number of log lines so far, for [`Node::wait_log_after`].
    pub fn log_len(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// Wait for a line containing `needle` among those after the first `skip`.
    pub fn wait_log_after(&self, skip: usize, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.log().iter().skip(skip).find(|l| l.contains(needle)) {
                return l.clone();
            }
            // stderr closed: the process has ended.
            let exited = self.reader.as_ref().is_none_or(|r| r.is_finished());
            assert!(
                Instant::now() < deadline && !exited,
                "`{needle}` not logged by {}:\n{}",
                self.addr,
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn pid(&self) -> String {
        self.child.as_ref().expect("running").id().to_string()
    }

    /// `kill -<sig> <pid>`.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Wait for the process to end by itself; its exit status.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("running");
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "rapport did not exit");
            std::thread::sleep(Duration::from_millis(25));
        };
        self.child = None;
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        status
    }

    /// SIGTERM (what `systemctl stop` sends) and wait for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(Duration::from_secs(30))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
