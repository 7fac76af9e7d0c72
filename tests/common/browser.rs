//! A small WebDriver client for headless Chromium through chromedriver
//! (Debian's `chromium` and `chromium-driver`), enough for page flows.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

fn find_binary(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"]
            .iter()
            .map(|d| format!("{d}/{n}"))
            .find(|p| std::path::Path::new(p).is_file())
    })
}

impl Browser {
    /// Start chromedriver and a headless Chromium; `None` if they are not
    /// installed (`apt-get install -y chromium chromium-driver`).
    pub fn start(lang: &str) -> Option<Browser> {
        let driver_bin = find_binary(&["chromedriver"])?;
        let chrome_bin = find_binary(&["chromium", "chromium-browser"])?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().ok()?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chrome_bin,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                         "--window-size=412,915", format!("--lang={lang}"),
                         format!("--user-data-dir={}", profile.path().display())],
                "prefs": {"intl.accept_languages": lang}
            }
        }}});
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"]
            .as_str()
            .expect("webdriver session")
            .to_string();
        Some(b)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"))
    }

    /// A WebDriver command; `Err` with the driver's message on failure (a
    /// stale element after htmx swapped the page, say).
    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, Some(b)) => self.agent.post(&url).send_json(b),
            (_, None) => self.agent.post(&url).send_json(json!({})),
        };
        let mut resp = resp.map_err(|e| e.to_string())?;
        let v: Value = resp.body_mut().read_json().unwrap_or(Value::Null);
        if let Some(err) = v["value"].get("error") {
            return Err(format!("{err} {}", v["value"]["message"]));
        }
        Ok(v["value"].clone())
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({"url": url})));
    }

    pub fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn try_find(&self, css: &str) -> Option<String> {
        let url = format!("{}{}", self.base, self.s("/elements"));
        let mut r = self
            .agent
            .post(&url)
            .send_json(json!({"using": "css selector", "value": css}))
            .ok()?;
        let v: Value = r.body_mut().read_json().ok()?;
        v["value"].as_array()?.first()?[ELEMENT_KEY]
            .as_str()
            .map(str::to_string)
    }

    /// Wait up to 10 s for an element.
    pub fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.try_find(css) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element `{css}` on {}:\n{}",
                self.url(),
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn fill(&self, css: &str, text: &str) {
        // Retry when htmx replaced the element between finding and typing.
        for _ in 0..50 {
            let e = self.find(css);
            let ok = self
                .try_call("POST", &self.s(&format!("/element/{e}/clear")), None)
                .and_then(|_| {
                    self.try_call(
                        "POST",
                        &self.s(&format!("/element/{e}/value")),
                        Some(json!({"text": text})),
                    )
                })
                .is_ok();
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("could not type into `{css}`");
    }

    pub fn click(&self, css: &str) {
        // Retry when htmx replaced the element between finding and clicking.
        for _ in 0..50 {
            let e = self.find(css);
            if self
                .try_call("POST", &self.s(&format!("/element/{e}/click")), None)
                .is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("could not click `{css}`");
    }

    pub fn select(&self, css: &str, visible_text: &str) {
        let e = self.find(css);
        let js = "const s = arguments[0]; const o = [...s.options].find(o => o.text.includes(arguments[1])); \
                  if (!o) return false; s.value = o.value; return true;";
        let ok = self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": js, "args": [{ELEMENT_KEY: e}, visible_text]})),
        );
        assert_eq!(ok, Value::Bool(true), "no option `{visible_text}` in {css}");
    }

    pub fn text(&self, css: &str) -> String {
        match self.try_find(css) {
            Some(e) => self
                .try_call("GET", &self.s(&format!("/element/{e}/text")), None)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            None => String::new(),
        }
    }

    /// Wait up to 10 s until `css` contains `needle`.
    pub fn wait_text(&self, css: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = self.text(css);
            if t.contains(needle) {
                return;
            }
            if Instant::now() >= deadline {
                let shot = std::env::temp_dir().join("rapport-browser-failure.png");
                self.screenshot(&shot);
                panic!(
                    "`{needle}` never appeared in `{css}` on {} (screenshot {}):\n{}",
                    self.url(),
                    shot.display(),
                    self.text("body")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The current value of an input.
    pub fn call_value(&self, css: &str) -> String {
        let e = self.find(css);
        self.call(
            "GET",
            &self.s(&format!("/element/{e}/property/value")),
            None,
        )
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    /// Run a script in the page and return its value.
    pub fn eval(&self, js: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": js, "args": []})),
        )
    }

    /// Resize the window (a phone is 375 px wide).
    pub fn set_window(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.s("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Auto-accept `hx-confirm` dialogs.
    pub fn accept_confirms(&self) {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": "window.confirm = () => true; return true;", "args": []})),
        );
    }

    pub fn screenshot(&self, path: &std::path::Path) {
        use std::io::Write;
        let b64 = self.call("GET", &self.s("/screenshot"), None);
        let bytes = decode_base64(b64.as_str().unwrap_or(""));
        if let Ok(mut f) = std::fs::File::create(path) {
            let _ = f.write_all(&bytes);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .agent
                .delete(&format!("{}/session/{}", self.base, self.session))
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a' + 26) as u32),
            b'0'..=b'9' => Some((c - b'0' + 52) as u32),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter_map(val) {
        buf = (buf << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    out
}
