//! A bare actix-web hello-world, the yardstick for Rapport's throughput:
//! `rapport-bench` and `benches/foundation.sh` load both the same way and
//! print the ratio. Same actix configuration as `rapport serve`: one worker
//! per core unless told otherwise, actix's default keep-alive.
//!
//! Usage: target/release/hello 127.0.0.1:8090 [WORKERS]

use actix_web::{App, HttpResponse, HttpServer, get};

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8090".into());
    let workers = args
        .next()
        .and_then(|w| w.parse().ok())
        .filter(|w| *w > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    HttpServer::new(|| App::new().service(healthz))
        .workers(workers)
        .bind(addr)?
        .run()
        .await
}
