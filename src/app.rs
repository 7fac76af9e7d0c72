//! Builds the actix application: shared state, middleware, every module's
//! routes; and the start-up sequence shared by `rapport serve` and the tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::Cookie;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Compress, DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError, web};

use crate::config::{Settings, TlsMode};
use crate::core::auth::actor;
use crate::core::db::{self, Backend, Pool, migrations};
use crate::core::error::{AppError, no_route};
use crate::core::web::{HtmlError, request_lang};
use crate::core::{health, settings as kv, telemetry, tls};

/// What every handler can reach.
pub struct AppState {
    pub pool: Pool,
    pub settings: Arc<Settings>,
    pub backend: Backend,
    pub started: Instant,
    /// "Now" for business rules (pool limits and returns); tests move it.
    pub clock: Arc<dyn crate::core::jobs::Clock>,
}

impl AppState {
    /// Run blocking database work on the thread pool with a pooled connection.
    pub async fn db<T, F>(&self, f: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut db::DbConn) -> Result<T, AppError> + Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await?
    }

    /// Rapport itself serves HTTPS. Behind a trusted proxy a request may be
    /// HTTPS even when this is false: ask [`actor::is_https`] per request.
    pub fn tls_on(&self) -> bool {
        self.settings.tls.mode != TlsMode::Off
    }
}

/// Why the server could not start; `Config` errors exit with code 2.
#[derive(Debug)]
pub enum StartError {
    Config(String),
    Runtime(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(m) | StartError::Runtime(m) => f.write_str(m),
        }
    }
}

/// Every module's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz);
    crate::core::setup::routes(cfg);
    crate::core::auth::api::routes(cfg);
    crate::core::org::api::routes(cfg);
    crate::core::web::routes(cfg);
    // Before the business routes: `/api/v1/customers/export` is not an id.
    crate::io::api::routes(cfg);
    crate::crm::routes(cfg);
    crate::crm::settings_web::routes(cfg);
    crate::core::backup::web::routes(cfg);
}

fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
        ))
}

/// Middleware: for a request that reached us over HTTPS ([`actor::is_https`]:
/// our own TLS, or a trusted proxy's `X-Forwarded-Proto: https`) add HSTS
/// and mark every cookie `Secure`. The one place both are decided.
async fn transport_security(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let https = actor::is_https(req.request());
    let mut res = next.call(req).await?;
    if https {
        let headers = res.headers_mut();
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
        let cookies: Vec<HeaderValue> = headers.get_all(header::SET_COOKIE).cloned().collect();
        if !cookies.is_empty() {
            headers.remove(header::SET_COOKIE);
            for value in cookies {
                headers.append(header::SET_COOKIE, secure_cookie(value));
            }
        }
    }
    Ok(res)
}

/// A `Set-Cookie` value with the `Secure` attribute.
fn secure_cookie(value: HeaderValue) -> HeaderValue {
    let Ok(text) = value.to_str() else {
        return value;
    };
    match Cookie::parse(text) {
        Ok(c) if c.secure() != Some(true) => {
            HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or(value)
        }
        _ => value,
    }
}

/// Middleware: refuse a state-changing request whose `Origin` names another
/// host ([`actor::same_origin`]): a cross-site form post to the login or
/// setup form, or to anything else. JSON for the API, a page for the UI.
async fn cross_site_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !unsafe_method || actor::same_origin(req.request()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let err = AppError::Forbidden(
        "cross-site request refused: the Origin header names another site than this server".into(),
    );
    let resp = if req.path().starts_with("/api/") {
        err.error_response()
    } else {
        HtmlError {
            lang: request_lang(req.request(), None),
            err,
            request_id: actor::request_id(req.request()),
            login: None,
        }
        .error_response()
    };
    Ok(req.into_response(resp).map_into_right_body())
}

fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let message = err.to_string();
    // "unknown field `role_ids`" / "missing field `email`" name the field.
    let field = bad_param(&message, &[]);
    AppError::Invalid {
        field,
        message: format!("malformed JSON body: {message}"),
    }
    .into()
}

/// The parameter a serde message names (``missing field `from` ``,
/// ``unknown field `x` ``), else the only one the request has.
fn bad_param(message: &str, names: &[String]) -> Option<String> {
    let named = message
        .split_once("field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name)
        .filter(|n| !n.is_empty());
    match named {
        Some(n) => Some(n.to_string()),
        None if names.len() == 1 => names.first().cloned(),
        None => None,
    }
}

fn query_error(err: actix_web::error::QueryPayloadError, req: &HttpRequest) -> actix_web::Error {
    let detail = match &err {
        actix_web::error::QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    let mut names: Vec<String> = form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    names.sort_unstable();
    names.dedup();
    let field = bad_param(&detail, &names);
    let message = match &field {
        Some(f) => format!("invalid query parameter `{f}`: {detail}"),
        None => format!("invalid query parameters: {detail}"),
    };
    AppError::Invalid { field, message }.into()
}

fn path_error(err: actix_web::error::PathError, req: &HttpRequest) -> actix_web::Error {
    let detail = match &err {
        actix_web::error::PathError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    let names: Vec<String> = req
        .match_info()
        .iter()
        .map(|(k, _)| k.to_string())
        .collect();
    let field = bad_param(&detail, &names);
    let message = match &field {
        Some(f) => format!("invalid path parameter `{f}`: {detail}"),
        None => format!("invalid path: {detail}"),
    };
    AppError::Invalid { field, message }.into()
}

/// Create the data dir if needed and check that it is writable.
pub fn prepare_data_dir(settings: &Settings) -> Result<(), StartError> {
    db::check_writable_dir(&settings.data_dir)
        .map_err(|e| StartError::Runtime(format!("data_dir: {e}")))
}

/// Open the pool, apply pending migrations, make sure the instance has an id.
pub fn open_database(settings: &Settings) -> Result<Pool, StartError> {
    drop(open_connection(settings)?);
    let url = settings
        .database_url()
        .map_err(|e| StartError::Config(format!("database.url: {e}")))?;
    db::open_pool(&url, settings.database.pool_size).map_err(|e| StartError::Runtime(e.to_string()))
}

/// One connection to the configured database, nothing applied yet; the
/// default SQLite file (inside the data dir) is created on first use.
pub fn connect(settings: &Settings) -> Result<db::DbConn, StartError> {
    if settings.database.url.trim().is_empty() {
        prepare_data_dir(settings)?;
    }
    let url = settings
        .database_url()
        .map_err(|e| StartError::Config(format!("database.url: {e}")))?;
    db::open_single(&url).map_err(|e| StartError::Runtime(e.to_string()))
}

/// One prepared connection (migrated, instance id, built-in roles) without a
/// pool, for CLI commands.
pub fn open_connection(settings: &Settings) -> Result<db::DbConn, StartError> {
    let mut conn = connect(settings)?;
    // Nodes starting together take turns: one migrates and creates the
    // built-in rows, the next finds them.
    let id = migrations::with_migration_lock(&mut conn, |conn| {
        for name in migrations::run_pending(conn)? {
            tracing::info!(migration = %name, "applied migration");
        }
        let id = kv::instance_id(conn)?;
        crate::core::org::roles::ensure_builtin(conn)
            .map_err(|e| db::DbError::Migration(format!("creating built-in roles: {e}")))?;
        Ok(id)
    })
    .map_err(|e| StartError::Runtime(e.to_string()))?;
    let described = settings
        .database_url()
        .map(|u| u.describe())
        .unwrap_or_default();
    tracing::info!(database = %described, instance = %id, "database ready");
    Ok(conn)
}

/// HTTPS as `tls.mode` asks: the rustls config, and the handle that
/// re-reads its certificate and key (SIGHUP).
pub struct Tls {
    pub config: rustls::ServerConfig,
    pub certs: Arc<tls::ReloadableCert>,
}

/// The TLS config for `tls.mode`, generating a self-signed pair on first
/// start when asked to.
pub fn load_tls(settings: &Settings) -> Result<Option<rustls::ServerConfig>, StartError> {
    Ok(load_reloadable_tls(settings)?.map(|t| t.config))
}

/// [`load_tls`] with the handle to reload the certificate while serving.
pub fn load_reloadable_tls(settings: &Settings) -> Result<Option<Tls>, StartError> {
    let (cert, key) = match settings.tls.mode {
        TlsMode::Off => return Ok(None),
        TlsMode::Files => (settings.tls.cert.clone(), settings.tls.key.clone()),
        TlsMode::SelfSigned => {
            let (cert, key) = self_signed_paths(settings);
            if !cert.exists() || !key.exists() {
                let hosts = self_signed_hosts(settings);
                let pair = tls::generate_self_signed(&hosts).map_err(StartError::Runtime)?;
                tls::write_pair(&cert, &key, &pair).map_err(StartError::Runtime)?;
                tracing::info!(
                    cert = %cert.display(),
                    hosts = %hosts.join(", "),
                    "generated a self-signed certificate"
                );
            }
            (cert, key)
        }
    };
    let certs = tls::ReloadableCert::load(&cert, &key).map_err(StartError::Config)?;
    let config = tls::reloadable_config(certs.clone()).map_err(StartError::Config)?;
    if settings.tls.mode == TlsMode::SelfSigned {
        let fp = tls::file_fingerprint(&cert).map_err(StartError::Config)?;
        tracing::info!(sha256 = %fp, "TLS certificate fingerprint (compare it with what the browser shows)");
    }
    Ok(Some(Tls { config, certs }))
}

fn self_signed_paths(settings: &Settings) -> (PathBuf, PathBuf) {
    let dir = settings.data_dir.join("tls");
    let pick = |p: &PathBuf, default: &str| {
        if p.as_os_str().is_empty() {
            dir.join(default)
        } else {
            p.clone()
        }
    };
    (
        pick(&settings.tls.cert, "cert.pem"),
        pick(&settings.tls.key, "key.pem"),
    )
}

fn self_signed_hosts(settings: &Settings) -> Vec<String> {
    let mut hosts = vec!["localhost".to_string()];
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy();
    if !name.is_empty() && name != "localhost" {
        hosts.push(name.into_owned());
    }
    hosts.push("127.0.0.1".into());
    hosts.push("::1".into());
    let ip = settings.listen_addr().ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        hosts.push(ip.to_string());
    }
    hosts
}

/// A server that is listening.
pub struct Running {
    pub addr: SocketAddr,
    pub redirect_addr: Option<SocketAddr>,
    pub https: bool,
    pub server: Server,
    pub redirect: Option<Server>,
}

impl Running {
    /// Wait until both listeners have stopped (on a signal or `stop`).
    pub async fn wait(self) -> std::io::Result<()> {
        match self.redirect {
            Some(redirect) => futures_util::future::try_join(self.server, redirect)
                .await
                .map(|_| ()),
            None => self.server.await,
        }
    }

    pub fn handles(&self) -> Vec<actix_web::dev::ServerHandle> {
        let mut v = vec![self.server.handle()];
        if let Some(r) = &self.redirect {
            v.push(r.handle());
        }
        v
    }
}

/// Bind the listeners (call inside an actix System). Binding errors name the
/// address and key.
pub fn bind(
    settings: Arc<Settings>,
    pool: Pool,
    tls_config: Option<rustls::ServerConfig>,
) -> Result<Running, StartError> {
    bind_with_clock(
        settings,
        pool,
        tls_config,
        Arc::new(crate::core::jobs::SystemClock),
    )
}

/// [`bind`] with the clock business rules read "now" from.
pub fn bind_with_clock(
    settings: Arc<Settings>,
    pool: Pool,
    tls_config: Option<rustls::ServerConfig>,
    clock: Arc<dyn crate::core::jobs::Clock>,
) -> Result<Running, StartError> {
    let backend = pool
        .get()
        .map(|c| c.backend())
        .map_err(|e| StartError::Runtime(format!("database pool: {e}")))?;
    let state = web::Data::new(AppState {
        pool,
        settings: settings.clone(),
        backend,
        started: Instant::now(),
        clock,
    });
    let tls_on = tls_config.is_some();
    let workers = match settings.server.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let listen = settings.listen_addr();
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(1 << 20)
                    .error_handler(json_error),
            )
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .wrap(from_fn(cross_site_guard))
            .wrap(from_fn(transport_security))
            .wrap(Compress::default())
            .wrap(security_headers())
            .wrap(from_fn(telemetry::request_log))
            .configure(configure)
            .default_service(web::to(no_route))
    })
    .workers(workers)
    .shutdown_timeout(settings.server.shutdown_timeout);
    let bind_err = |e: std::io::Error| {
        StartError::Runtime(format!("server.listen: cannot listen on {listen}: {e}"))
    };
    let server = match tls_config {
        Some(cfg) => server.bind_rustls_0_23(listen, cfg).map_err(bind_err)?,
        None => server.bind(listen).map_err(bind_err)?,
    };
    let addr = server.addrs().first().copied().unwrap_or(listen);

    let (redirect, redirect_addr) = match settings.redirect_addr().filter(|_| tls_on) {
        Some(from) => {
            let https_port = addr.port();
            let r = HttpServer::new(move || {
                App::new()
                    .app_data(web::Data::new(https_port))
                    .wrap(from_fn(telemetry::request_log))
                    .default_service(web::to(redirect_to_https))
            })
            .workers(1)
            .shutdown_timeout(settings.server.shutdown_timeout)
            .bind(from)
            .map_err(|e| {
                StartError::Runtime(format!("tls.redirect_from: cannot listen on {from}: {e}"))
            })?;
            let raddr = r.addrs().first().copied().unwrap_or(from);
            (Some(r.run()), Some(raddr))
        }
        None => (None, None),
    };
    let scheme = if tls_on { "https" } else { "http" };
    tracing::info!(url = %format!("{scheme}://{addr}"), workers, "Rapport is listening");
    if let Some(r) = redirect_addr {
        tracing::info!(from = %r, "redirecting plain HTTP to HTTPS");
    }
    Ok(Running {
        addr,
        redirect_addr,
        https: tls_on,
        server: server.run(),
        redirect,
    })
}

/// Permanent redirect from plain HTTP to the same path on the HTTPS port.
async fn redirect_to_https(req: HttpRequest, https_port: web::Data<u16>) -> HttpResponse {
    let info = req.connection_info();
    let host = info.host();
    // Strip a port, keeping IPv6 brackets intact.
    let hostname = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    };
    let port = match **https_port {
        443 => String::new(),
        p => format!(":{p}"),
    };
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    HttpResponse::PermanentRedirect()
        .insert_header(("Location", format!("https://{hostname}{port}{path}")))
        .finish()
}
