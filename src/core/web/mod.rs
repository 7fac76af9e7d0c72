//! The web shell: embedded assets with content hashes, the page context
//! (language, logged-in actor, CSRF token), HTML error pages and the
//! login redirect.

pub mod form;
pub mod pages;
pub mod request;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;

use crate::core::auth::actor::{Actor, request_id};
use crate::core::error::AppError;
use crate::core::i18n::{Lang, Tr};

pub const LANG_COOKIE: &str = "rapport_lang";

struct Asset {
    /// Name with the content hash, as linked from pages.
    hashed: String,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../assets/css/app.css"),
    ),
    (
        "htmx.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../assets/js/htmx-2.0.11.min.js"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../assets/js/app.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../../assets/icons/icon.svg"),
    ),
    (
        "icon-192.png",
        "image/png",
        include_bytes!("../../../assets/icons/icon-192.png"),
    ),
    (
        "icon-512.png",
        "image/png",
        include_bytes!("../../../assets/icons/icon-512.png"),
    ),
];

/// `/manifest.webmanifest`: so the app can be added to a phone's home screen.
async fn manifest(req: HttpRequest) -> HttpResponse {
    let t = Tr::new(request_lang(&req, None));
    let body = serde_json::json!({
        "name": t.t("app.name"),
        "short_name": "Rapport",
        "lang": t.code(),
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f5f7fa",
        "theme_color": "#14202e",
        "icons": [
            {"src": asset_url("icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": asset_url("icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {"src": asset_url("icon.svg"), "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
        ],
    });
    HttpResponse::Ok()
        .content_type("application/manifest+json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body.to_string())
}

fn assets() -> &'static HashMap<&'static str, Asset> {
    static MAP: OnceLock<HashMap<&'static str, Asset>> = OnceLock::new();
    MAP.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(name, ct, body)| {
                let digest = ring::digest::digest(&ring::digest::SHA256, body);
                let hash = crate::core::tls::hex(&digest.as_ref()[..6]);
                let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
                (
                    *name,
                    Asset {
                        hashed: format!("{stem}.{hash}.{ext}"),
                        content_type: ct,
                        body,
                    },
                )
            })
            .collect()
    })
}

/// `/assets/app.1a2b3c4d5e6f.css` for `app.css`.
pub fn asset_url(name: &str) -> String {
    assets()
        .get(name)
        .map(|a| format!("/assets/{}", a.hashed))
        .unwrap_or_default()
}

async fn serve_asset(path: web::Path<String>) -> HttpResponse {
    let file = path.into_inner();
    match assets().values().find(|a| a.hashed == file) {
        Some(a) => HttpResponse::Ok()
            .content_type(a.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .insert_header((header::ETAG, format!("\"{}\"", a.hashed)))
            .body(a.body),
        None => HttpResponse::NotFound().finish(),
    }
}

/// The language for a request: the user's setting, else the language
/// cookie, else `Accept-Language`, else Chinese.
pub fn request_lang(req: &HttpRequest, user_pref: Option<&str>) -> Lang {
    user_pref
        .and_then(Lang::parse)
        .or_else(|| req.cookie(LANG_COOKIE).and_then(|c| Lang::parse(c.value())))
        .or_else(|| {
            req.headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or_default()
}

/// An error shown as an HTML page in the user's language.
#[derive(Debug)]
pub struct HtmlError {
    pub lang: Lang,
    pub err: AppError,
    pub request_id: String,
    /// For an unauthenticated page request: the way to the login page.
    pub login: Option<Box<Login>>,
}

/// How an unauthenticated page request reaches the login page.
#[derive(Debug)]
pub enum Login {
    /// Redirect, coming back to this path after logging in.
    Redirect(String),
    /// The login page itself, holding a form posted after the session
    /// expired, and the login form's cookie.
    Page(String, actix_web::cookie::Cookie<'static>),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    t: Tr,
    css: String,
    message: &'a str,
    detail: String,
}

impl std::fmt::Display for HtmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.err.fmt(f)
    }
}

impl ResponseError for HtmlError {
    fn status_code(&self) -> StatusCode {
        match self.login.as_deref() {
            Some(Login::Page(..)) => StatusCode::UNAUTHORIZED,
            Some(Login::Redirect(_)) => StatusCode::SEE_OTHER,
            None => self.err.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(Login::Page(body, cookie)) = self.login.as_deref() {
            return HttpResponse::Unauthorized()
                .content_type("text/html; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .cookie(cookie.clone())
                .body(body.clone());
        }
        if let Some(Login::Redirect(next)) = self.login.as_deref() {
            return HttpResponse::SeeOther()
                .insert_header((
                    header::LOCATION,
                    format!("/login?next={}", url_encode(next)),
                ))
                .finish();
        }
        let t = Tr::new(self.lang);
        let (message, detail) = match &self.err {
            AppError::NotFound(_) => (t.t("error.not_found"), String::new()),
            AppError::Forbidden(m) => (t.t("error.forbidden"), m.clone()),
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (t.t("error.internal"), self.request_id.clone())
            }
            other => (
                t.t("error.title"),
                crate::core::i18n::localize(t, &other.to_string()),
            ),
        };
        let page = ErrorPage {
            t,
            css: asset_url("app.css"),
            message,
            detail,
        };
        HttpResponse::build(self.status_code())
            .content_type("text/html; charset=utf-8")
            .body(page.render().unwrap_or_else(|_| message.to_string()))
    }
}

/// Percent-encode a path for a query parameter.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A local path to return to after login; anything else becomes `/`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".into(),
    }
}

/// The header's sections: (path, the permission module that shows it, label key).
const NAV: &[(&str, &str, &str)] = &[
    ("customers", "customers", "object.customers"),
    ("contacts", "contacts", "object.contacts"),
    ("leads", "leads", "object.leads"),
    ("opportunities", "opportunities", "object.opportunities"),
    ("board", "opportunities", "nav.board"),
    ("tasks", "tasks", "object.tasks"),
    ("followups", "followups", "object.followups"),
    ("products", "products", "object.products"),
    ("pools", "pool", "nav.pools"),
];

/// Everything a logged-in page needs: the actor and the language.
pub struct Ui {
    pub actor: Actor,
    pub lang: Lang,
    pub request_id: String,
}

impl Ui {
    pub fn t(&self) -> Tr {
        Tr::new(self.lang)
    }

    /// Turn a store error into an HTML error page.
    pub fn fail(&self, err: AppError) -> HtmlError {
        HtmlError {
            lang: self.lang,
            err,
            request_id: self.request_id.clone(),
            login: None,
        }
    }

    /// The chrome every logged-in page shares.
    pub fn chrome(&self, section: &'static str) -> Chrome {
        Chrome {
            t: self.t(),
            css: asset_url("app.css"),
            htmx: asset_url("htmx.js"),
            js: asset_url("app.js"),
            icon: asset_url("icon.svg"),
            icon_png: asset_url("icon-192.png"),
            nav: NAV
                .iter()
                .filter(|(_, module, _)| self.actor.can(module, "view"))
                .map(|(path, _, label)| (path.to_string(), self.t().t(label).to_string()))
                .collect(),
            user_name: self.actor.user.name.clone(),
            is_admin: self.actor.is_admin() || self.actor.can("admin", "view"),
            csrf: self.actor.csrf_token().unwrap_or("").to_string(),
            section,
            can_import: crate::io::columns::ENTITIES
                .iter()
                .any(|e| self.actor.can(e, "import")),
            can_quality: self.actor.can("customers", "view"),
        }
    }

    /// 403 page unless the actor may administer.
    pub fn require_admin(&self, manage: bool) -> Result<(), HtmlError> {
        let ok = self.actor.can("admin", "manage") || (!manage && self.actor.can("admin", "view"));
        if ok {
            Ok(())
        } else {
            Err(self.fail(AppError::Forbidden("administrators only".into())))
        }
    }
}

/// The parts of the layout shared by every logged-in page.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub t: Tr,
    pub css: String,
    pub htmx: String,
    pub js: String,
    pub icon: String,
    pub icon_png: String,
    /// The main sections the user may open: (path without `/`, label).
    pub nav: Vec<(String, String)>,
    pub user_name: String,
    pub is_admin: bool,
    pub csrf: String,
    pub section: &'static str,
    /// The user menu links the import pages.
    pub can_import: bool,
    /// The user menu links the data quality page.
    pub can_quality: bool,
}

impl FromRequest for Ui {
    type Error = HtmlError;
    type Future = Pin<Box<dyn Future<Output = Result<Ui, HtmlError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let actor = Actor::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let rid = request_id(&req);
            match actor.await {
                Ok(actor) => {
                    let lang = request_lang(&req, Some(actor.user.language.as_str()));
                    Ok(Ui {
                        actor,
                        lang,
                        request_id: rid,
                    })
                }
                Err(AppError::Unauthorized(_)) => {
                    let next = req
                        .uri()
                        .path_and_query()
                        .map_or("/".to_string(), |p| p.as_str().to_string());
                    Err(HtmlError {
                        lang: request_lang(&req, None),
                        err: AppError::Unauthorized("log in".into()),
                        request_id: rid,
                        login: Some(Box::new(Login::Redirect(
                            if req.method() == actix_web::http::Method::GET {
                                next
                            } else {
                                "/".into()
                            },
                        ))),
                    })
                }
                Err(err) => Err(HtmlError {
                    lang: request_lang(&req, None),
                    err,
                    request_id: rid,
                    login: None,
                }),
            }
        })
    }
}

/// A logged-in page's posted form. When the session has expired, the
/// answer is the login page holding the form's fields, and after logging in
/// the user sends them on: nothing typed is lost.
pub struct FormUi {
    pub ui: Ui,
    pub form: form::FormData,
}

impl FromRequest for FormUi {
    type Error = HtmlError;
    type Future = Pin<Box<dyn Future<Output = Result<FormUi, HtmlError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let ui = Ui::from_request(req, payload);
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let body = body.await;
            match ui.await {
                Ok(ui) => match body {
                    Ok(body) => Ok(FormUi {
                        ui,
                        form: form::FormData::parse(&body),
                    }),
                    // An unreadable or oversized form is refused, never
                    // taken as an empty one.
                    Err(e) => Err(ui.fail(AppError::invalid("body", e.to_string()))),
                },
                Err(mut e) if e.login.is_some() => {
                    let to = req.uri().path().to_string();
                    let data = body
                        .map(|b| String::from_utf8_lossy(&b).to_string())
                        .unwrap_or_default();
                    let (page, cookie) = pages::resume_login(&req, &to, &data);
                    e.login = Some(Box::new(Login::Page(page, cookie)));
                    Err(e)
                }
                Err(e) => Err(e),
            }
        })
    }
}

/// Render a template into a response.
pub fn html(status: StatusCode, tpl: &impl Template) -> HttpResponse {
    match tpl.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            HttpResponse::InternalServerError().body("template error")
        }
    }
}

/// After a successful form post: go to `to` (htmx follows the redirect too).
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish()
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/{file}", web::get().to(serve_asset))
        .route("/manifest.webmanifest", web::get().to(manifest))
        .route(
            "/favicon.ico",
            web::get().to(|| async { see_other(&asset_url("icon.svg")) }),
        );
    pages::routes(cfg);
    crate::crm::pages::routes(cfg);
    crate::io::web::routes(cfg);
}
