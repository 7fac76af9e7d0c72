//! The [`Actor`]: who is asking, with which permissions and data scopes,
//! extracted once per request and handed to every store function.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use diesel::QueryResult;

use crate::app::AppState;
use crate::config::Settings;
use crate::core::access::{self, DataScope, Grant, OwnerFilter, READ_ACTIONS};
use crate::core::audit::AuditCtx;
use crate::core::auth::{session, token};
use crate::core::db::DbConn;
use crate::core::error::AppError;
use crate::core::org::{roles, users};
use crate::core::telemetry::RequestId;

/// How the actor proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVia {
    /// A browser session; `id` is the stored hash, `csrf` the form token.
    Session { id: String, csrf: String },
    /// A personal API token.
    Token { id: i64, read_only: bool },
}

#[derive(Debug, Clone)]
pub struct Actor {
    pub user: users::User,
    pub grants: BTreeMap<String, Grant>,
    pub via: AuthVia,
    pub ip: String,
    pub request_id: String,
}

pub const CSRF_HEADER: &str = "x-csrf-token";

impl Actor {
    pub fn user_id(&self) -> i64 {
        self.user.id
    }

    /// Who to name in the audit trail.
    pub fn audit(&self) -> AuditCtx {
        AuditCtx {
            user_id: Some(self.user.id),
            ip: self.ip.clone(),
            request_id: self.request_id.clone(),
        }
    }

    /// May the actor perform `action` in `module`? Read-only tokens keep only
    /// view and export.
    pub fn can(&self, module: &str, action: &str) -> bool {
        if matches!(
            self.via,
            AuthVia::Token {
                read_only: true,
                ..
            }
        ) && !READ_ACTIONS.contains(&action)
        {
            return false;
        }
        self.grants
            .get(module)
            .is_some_and(|g| g.contains_key(action))
    }

    /// 403 unless [`Actor::can`].
    pub fn require(&self, module: &str, action: &str) -> Result<(), AppError> {
        if self.can(module, action) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "you lack the permission {module}.{action}"
            )))
        }
    }

    pub fn is_admin(&self) -> bool {
        self.can(
            "admin",
            roles::ADMIN_PERMISSION.trim_start_matches("admin."),
        )
    }

    /// The widest data scope the actor's roles give for `action` in `module`.
    pub fn scope(&self, module: &str, action: &str) -> Option<DataScope> {
        self.grants.get(module).and_then(|g| g.get(action)).copied()
    }

    /// Whose records the actor may `action` (view, edit, delete, export …) in
    /// `module`, for the store's WHERE clause.
    pub fn owner_filter(
        &self,
        conn: &mut DbConn,
        module: &str,
        action: &str,
    ) -> QueryResult<OwnerFilter> {
        if !self.can(module, action) {
            return Ok(OwnerFilter::Nothing);
        }
        if access::COMPANY_WIDE.contains(&module) {
            return Ok(OwnerFilter::All);
        }
        match self.scope(module, action) {
            None => Ok(OwnerFilter::Nothing),
            Some(scope) => {
                access::owners_for_scope(conn, self.user.id, self.user.department_id, scope)
            }
        }
    }

    pub fn csrf_token(&self) -> Option<&str> {
        match &self.via {
            AuthVia::Session { csrf, .. } => Some(csrf),
            AuthVia::Token { .. } => None,
        }
    }
}

/// Build an actor for a user: loads the roles and combines them.
pub fn actor_for(
    conn: &mut DbConn,
    user: users::User,
    via: AuthVia,
    ip: String,
    request_id: String,
) -> QueryResult<Actor> {
    let held = roles::for_user(conn, user.id)?;
    let grants = access::combine(
        held.iter()
            .map(|r| (r.permissions.as_slice(), r.data_scope)),
    );
    Ok(Actor {
        user,
        grants,
        via,
        ip,
        request_id,
    })
}

/// The settings, if the socket peer is one of `server.trusted_proxies`: only
/// then are the `X-Forwarded-*` headers believed.
fn trusted_proxy(req: &HttpRequest) -> Option<&Settings> {
    let state = req.app_data::<web::Data<AppState>>()?;
    let peer = req.peer_addr()?.ip();
    state
        .settings
        .is_trusted_proxy(peer)
        .then_some(&*state.settings)
}

/// Every value of a comma-separated header, in order, over repeated headers.
fn header_list<'a>(req: &'a HttpRequest, name: &str) -> Vec<&'a str> {
    req.headers()
        .get_all(name)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `[::1]`.
fn parse_forwarded_ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>()
        .or_else(|_| s.parse::<SocketAddr>().map(|a| a.ip()))
        .or_else(|_| s.trim_start_matches('[').trim_end_matches(']').parse())
        .ok()
        .map(|ip| ip.to_canonical())
}

/// The client behind a chain of proxies: walking `X-Forwarded-For` from the
/// right (the hop nearest to us), the first address that is not a trusted
/// proxy. Entries further left were written by the client and prove nothing.
/// An unreadable entry stops the walk at the last address known good.
pub fn forwarded_client(
    peer: IpAddr,
    forwarded_for: &[&str],
    trusted: impl Fn(IpAddr) -> bool,
) -> IpAddr {
    let mut client = peer.to_canonical();
    for entry in forwarded_for.iter().rev() {
        let Some(ip) = parse_forwarded_ip(entry) else {
            break;
        };
        client = ip;
        if !trusted(ip) {
            break;
        }
    }
    client
}

/// The client address: the socket peer, or behind a trusted reverse proxy
/// the address it forwarded (see [`forwarded_client`]).
pub fn client_ip(req: &HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".into();
    };
    let ip = match trusted_proxy(req) {
        Some(settings) => forwarded_client(peer, &header_list(req, "x-forwarded-for"), |ip| {
            settings.is_trusted_proxy(ip)
        }),
        None => peer.to_canonical(),
    };
    ip.to_string()
}

/// Did the browser reach us over HTTPS: our own TLS listener, or a trusted
/// reverse proxy saying `X-Forwarded-Proto: https`? Decides the cookies'
/// Secure flag and HSTS (both applied in `app::transport_security`).
pub fn is_https(req: &HttpRequest) -> bool {
    let direct = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.tls_on());
    direct
        || (trusted_proxy(req).is_some()
            && header_list(req, "x-forwarded-proto")
                .last()
                .is_some_and(|p| p.eq_ignore_ascii_case("https")))
}

/// Host name and optional port, lower-cased, from `host[:port]` or `[v6]:port`.
fn split_host(authority: &str) -> (String, Option<&str>) {
    let a = authority.trim();
    let (host, port) = if let Some(rest) = a.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (rest, None),
        }
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (a, None),
        }
    };
    (host.to_ascii_lowercase(), port.filter(|p| !p.is_empty()))
}

/// The host the browser addressed: `X-Forwarded-Host` from a trusted proxy,
/// else the `Host` header, else the request URI's authority (HTTP/2).
fn request_host(req: &HttpRequest) -> Option<String> {
    if trusted_proxy(req).is_some()
        && let Some(h) = header_list(req, "x-forwarded-host").last()
    {
        return Some((*h).to_string());
    }
    req.headers()
        .get(actix_web::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
}

/// False when the request carries an `Origin` header naming another host
/// than the one it was sent to: a cross-site form post or script. Ports are
/// compared only when both sides name one (a proxy's `Host: $host` drops
/// it). Requests without `Origin` (API clients, old browsers) pass; the
/// CSRF tokens protect those.
pub fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) else {
        return true;
    };
    let Some(authority) = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
    else {
        // `Origin: null` (sandboxed or privacy-sensitive contexts) and junk.
        return false;
    };
    let Some(host) = request_host(req) else {
        return false;
    };
    let (oh, op) = split_host(authority);
    let (rh, rp) = split_host(&host);
    oh == rh
        && match (op, rp) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

#[derive(serde::Deserialize)]
struct CsrfQuery {
    _csrf: Option<String>,
}

enum Credential {
    Bearer(String),
    Cookie(String),
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequest for Actor {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Actor, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_string());
        let cred = match bearer {
            Some(t) => Some(Credential::Bearer(t)),
            None => req
                .cookie(session::COOKIE)
                .map(|c| Credential::Cookie(c.value().to_string())),
        };
        // The header (htmx, API clients), or `_csrf` in the query string of a
        // plain HTML form's action (pages without JavaScript).
        let csrf_sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| {
                web::Query::<CsrfQuery>::from_query(req.query_string())
                    .ok()
                    .and_then(|q| q.into_inner()._csrf)
            });
        let needs_csrf = is_unsafe(req.method());
        let ip = client_ip(req);
        let rid = request_id(req);
        Box::pin(async move {
            let state =
                state.ok_or_else(|| AppError::Internal("application state missing".into()))?;
            let cred = cred.ok_or_else(|| {
                AppError::Unauthorized(
                    "log in first, or send an API token as Authorization: Bearer".into(),
                )
            })?;
            let life = state.settings.auth.lifetimes();
            let pool = state.pool.clone();
            web::block(move || -> Result<Actor, AppError> {
                let mut conn = pool.get()?;
                let (user_id, via) = match cred {
                    Credential::Bearer(secret) => match token::authenticate(&mut conn, &secret)? {
                        Ok(t) => (t.user_id, AuthVia::Token { id: t.id, read_only: t.read_only }),
                        Err(token::Refused::Revoked) => return Err(AppError::Unauthorized("this API token has been revoked".into())),
                        Err(token::Refused::Expired) => return Err(AppError::Unauthorized("this API token has expired".into())),
                        Err(token::Refused::Unknown) => return Err(AppError::Unauthorized("unknown API token".into())),
                    },
                    Credential::Cookie(tok) => match session::lookup(&mut conn, &tok, life)? {
                        Some(s) => {
                            let csrf_ok = csrf_sent.as_deref().is_some_and(|sent| {
                                constant_time_eq(sent.as_bytes(), s.csrf_token.as_bytes())
                            });
                            if needs_csrf && !csrf_ok {
                                return Err(AppError::Forbidden(format!(
                                    "missing or wrong CSRF token: send the {CSRF_HEADER} header given at login"
                                )));
                            }
                            (s.user_id, AuthVia::Session { id: s.id, csrf: s.csrf_token })
                        }
                        None => return Err(AppError::Unauthorized("your session has ended; log in again".into())),
                    },
                };
                let user = users::get(&mut conn, user_id)?;
                if !user.active {
                    return Err(AppError::Unauthorized("this account is disabled".into()));
                }
                Ok(actor_for(&mut conn, user, via, ip, rid)?)
            })
            .await?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_client_is_the_rightmost_untrusted_hop() {
        let trusted = |a: IpAddr| a == ip("127.0.0.1") || a == ip("10.0.0.2");
        let peer = ip("127.0.0.1");
        assert_eq!(forwarded_client(peer, &[], trusted), peer);
        assert_eq!(
            forwarded_client(peer, &["203.0.113.9"], trusted),
            ip("203.0.113.9")
        );
        // Whatever the client prepends is ignored.
        assert_eq!(
            forwarded_client(peer, &["1.1.1.1", "203.0.113.9", "10.0.0.2"], trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            forwarded_client(peer, &["[2001:db8::1]:4711"], trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            forwarded_client(peer, &["garbage", "10.0.0.2"], trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            forwarded_client(ip("::ffff:127.0.0.1"), &[], trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn hosts_split_with_and_without_ports() {
        assert_eq!(
            split_host("CRM.example.lan"),
            ("crm.example.lan".into(), None)
        );
        assert_eq!(
            split_host("127.0.0.1:8080"),
            ("127.0.0.1".into(), Some("8080"))
        );
        assert_eq!(split_host("[::1]:443"), ("::1".into(), Some("443")));
        assert_eq!(split_host("[::1]"), ("::1".into(), None));
    }
}
