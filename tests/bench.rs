//! `rapport-bench` refuses bad input with a clear message before it starts
//! anything (the argument checks themselves are unit tests in the binary).

use std::process::Command;

fn bench(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_rapport-bench"))
        .args(args)
        .output()
        .expect("run rapport-bench");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

#[test]
fn bad_input_is_refused_clearly() {
    let (code, err) = bench(&["--size", "huge"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--size `huge`"), "{err}");

    let (code, err) = bench(&["--backend", "mysql"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--backend"), "{err}");

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let (code, err) = bench(&["--port", &port]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot listen"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rapport.db"), "data").unwrap();
    let (code, err) = bench(&["--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("already holds data"), "{err}");
}
