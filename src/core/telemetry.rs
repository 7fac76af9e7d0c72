//! Logs (terminal + daily rolling files) and the per-request log line with
//! its request id.

use std::fmt;
use std::io::IsTerminal;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, LogSettings};

/// Keeps the file writer flushing; drop it last.
pub struct LogGuard(#[expect(dead_code, reason = "held only for its Drop")] Option<WorkerGuard>);

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn layer_for<W>(format: LogFormat, writer: W, ansi: bool) -> BoxedLayer
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => base.json().flatten_event(true).boxed(),
        LogFormat::Human => base.with_target(false).boxed(),
    }
}

/// Logging for `serve`: stderr plus, when `log.keep > 0`, daily files in
/// `logs_dir` of which the newest `keep` are kept.
pub fn init_server(log: &LogSettings, logs_dir: &std::path::Path) -> Result<LogGuard, String> {
    let filter = EnvFilter::builder()
        .parse(&log.level)
        .map_err(|e| format!("log.level: {e}"))?;
    let ansi = std::io::stderr().is_terminal() && log.format == LogFormat::Human;
    let mut layers = vec![layer_for(log.format, std::io::stderr, ansi)];
    let mut guard = None;
    if log.keep > 0 {
        std::fs::create_dir_all(logs_dir)
            .map_err(|e| format!("cannot create log directory {}: {e}", logs_dir.display()))?;
        let appender = RollingFileAppender::builder()
            .rotation(Rotation::DAILY)
            .filename_prefix("rapport")
            .filename_suffix("log")
            .max_log_files(log.keep)
            .build(logs_dir)
            .map_err(|e| format!("cannot open log files in {}: {e}", logs_dir.display()))?;
        let (writer, g) = tracing_appender::non_blocking(appender);
        guard = Some(g);
        layers.push(layer_for(log.format, writer, false));
    }
    tracing_subscriber::registry()
        .with(layers)
        .with(filter)
        .try_init()
        .map_err(|e| format!("logging already initialised: {e}"))?;
    Ok(LogGuard(guard))
}

/// Logging for the other commands: warnings and errors on stderr only,
/// or what `RUST_LOG` asks for (e.g. `RUST_LOG=info` for the timings of
/// an import's bulk load).
pub fn init_cli() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::registry()
        .with(layer_for(
            LogFormat::Human,
            std::io::stderr,
            std::io::stderr().is_terminal(),
        ))
        .with(filter)
        .try_init();
}

/// A random id for one request, returned as `X-Request-Id` and in every log
/// line about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// A random per-process prefix plus a counter: unique without a system
    /// call per request.
    pub fn new() -> Self {
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicU32, Ordering};
        static PREFIX: OnceLock<String> = OnceLock::new();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = PREFIX.get_or_init(|| crate::core::tls::random_hex(4));
        RequestId(format!(
            "{prefix}{:08x}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Middleware: give each request an id, log method, path, status and duration.
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = RequestId::new();
    req.extensions_mut().insert(id.clone());
    let method = req.method().clone();
    let path = req.path().to_string();
    let started = Instant::now();
    let span = tracing::info_span!("request", request_id = %id);
    let result = next.call(req).instrument(span.clone()).await;
    let _entered = span.enter();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            if let Ok(v) = HeaderValue::from_str(&id.0) {
                res.headers_mut().insert(REQUEST_ID_HEADER, v);
            }
            if status >= 500 {
                tracing::warn!(%method, %path, status, duration_ms = ms, "request");
            } else {
                tracing::info!(%method, %path, status, duration_ms = ms, "request");
            }
            Ok(res)
        }
        Err(e) => {
            tracing::warn!(%method, %path, error = %e, duration_ms = ms, "request failed");
            Err(e)
        }
    }
}
