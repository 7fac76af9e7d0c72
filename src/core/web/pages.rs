//! HTML pages of the web shell: login, first-run setup, account, and the
//! administration of users, departments, roles and the logs. Handlers are
//! thin: parse the form, call the same store functions as the JSON API,
//! render. Forms post with the CSRF token (htmx header, or `_csrf` in the
//! action URL without JavaScript).

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::form::{FormData, inline_error};
use super::{Chrome, HtmlError, Ui, asset_url, html, request_lang, safe_next, see_other};
use crate::app::AppState;
use crate::core::access::{ACTIONS, DataScope, MODULES};
use crate::core::audit::{self, AuditCtx, AuditFilter};
use crate::core::auth::actor::{Actor, AuthVia, client_ip, request_id};
use crate::core::auth::login::{self, Outcome};
use crate::core::auth::{password, session, token};
use crate::core::db::DbConn;
use crate::core::db::schema::{user_roles, users as users_t};
use crate::core::error::AppError;
use crate::core::i18n::{Lang, Tr, role_text};
use crate::core::org::departments::{self, DepartmentInput};
use crate::core::org::roles::{self, RoleInput};
use crate::core::org::users::{self, NewUser, UserProfile};
use crate::core::settings as kv;
use crate::core::setup::{self, user_agent};

// ---------------------------------------------------------------- helpers

/// One option of a select.
struct Choice {
    id: i64,
    label: String,
}

struct DeptRow {
    id: i64,
    name: String,
    label: String,
    depth: usize,
    members: i64,
    sort_order: i32,
}

/// Departments in tree order with their depth and member counts.
fn department_tree(conn: &mut DbConn) -> Result<Vec<DeptRow>, AppError> {
    let all = departments::list(conn)?;
    let counts: Vec<(Option<i64>, i64)> = users_t::table
        .group_by(users_t::department_id)
        .select((users_t::department_id, diesel::dsl::count_star()))
        .load(conn)?;
    let mut out = Vec::with_capacity(all.len());
    fn walk(
        all: &[departments::Department],
        counts: &[(Option<i64>, i64)],
        parent: Option<i64>,
        depth: usize,
        out: &mut Vec<DeptRow>,
    ) {
        for d in all.iter().filter(|d| d.parent_id == parent) {
            out.push(DeptRow {
                id: d.id,
                name: d.name.clone(),
                label: format!("{}{}", "— ".repeat(depth), d.name),
                depth: depth.min(4),
                members: counts
                    .iter()
                    .find(|(k, _)| *k == Some(d.id))
                    .map_or(0, |(_, n)| *n),
                sort_order: d.sort_order,
            });
            if depth < 32 {
                walk(all, counts, Some(d.id), depth + 1, out);
            }
        }
    }
    walk(&all, &counts, None, 0, &mut out);
    Ok(out)
}

fn people(conn: &mut DbConn) -> Result<Vec<Choice>, AppError> {
    let rows: Vec<(i64, String, String)> = users_t::table
        .order((users_t::name, users_t::id))
        .select((users_t::id, users_t::name, users_t::email))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, email)| Choice {
            id,
            label: format!("{name} <{email}>"),
        })
        .collect())
}

/// Roles as select/checkbox choices, built-in ones named in the reader's language.
fn role_choices(t: Tr, roles: &[roles::Role]) -> Vec<Choice> {
    roles
        .iter()
        .map(|r| Choice {
            id: r.id,
            label: role_text(t, r.builtin.as_deref(), &r.name, &r.description).0,
        })
        .collect()
}

fn fmt_time(t: Option<NaiveDateTime>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "—".into())
}

/// The session cookie. `Secure` is added for HTTPS requests by
/// `app::transport_security`, which also knows about trusted proxies.
fn session_cookie(state: &AppState, token: &str) -> Cookie<'static> {
    Cookie::build(session::COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::hours(i64::from(
            state.settings.auth.session_max_hours,
        )))
        .finish()
}

fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = session_cookie(state, "");
    c.make_removal();
    c
}

/// The pre-session CSRF token of the login and setup forms: the one the
/// browser holds if still good, else a new one, with the cookie to set.
fn form_csrf(req: &HttpRequest) -> (String, Cookie<'static>) {
    let token = session::form_token(req.cookie(session::FORM_COOKIE).as_ref().map(|c| c.value()));
    let cookie = Cookie::build(session::FORM_COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::minutes(session::FORM_TOKEN_MINUTES))
        .finish();
    (token, cookie)
}

/// Did the login or setup form echo the token of its cookie?
fn form_csrf_ok(req: &HttpRequest, form: &FormData) -> bool {
    session::form_token_ok(
        req.cookie(session::FORM_COOKIE).as_ref().map(|c| c.value()),
        &form.get(session::FORM_FIELD),
    )
}

/// Once logged in, the pre-session token has served its purpose.
fn form_csrf_removal() -> Cookie<'static> {
    let mut c = Cookie::build(session::FORM_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    c.make_removal();
    c
}

/// Why a login or setup form without a matching CSRF token is refused.
fn form_csrf_refused(lang: Lang) -> &'static str {
    match lang {
        Lang::En => {
            "This form has expired or was not sent from this site, so nothing was done. Please fill it in again."
        }
        Lang::Zh => "表单已过期或并非从本站提交，未做任何处理。请重新填写。",
    }
}

/// A guest page with the form token's cookie set.
fn with_form_cookie(mut resp: HttpResponse, cookie: &Cookie<'_>) -> HttpResponse {
    if let Err(e) = resp.add_cookie(cookie) {
        tracing::error!(error = %e, "cannot set the form cookie");
    }
    resp
}

fn guest_error(lang: Lang, req: &HttpRequest, err: AppError) -> HtmlError {
    HtmlError {
        lang,
        err,
        request_id: request_id(req),
        login: None,
    }
}

// ---------------------------------------------------------------- guest pages

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    t: Tr,
    css: String,
    lang_switch: String,
    next: String,
    email: String,
    error: String,
    notice: String,
    csrf: String,
    /// A form posted after the session expired: where it went and what it
    /// held, carried through the login so nothing typed is lost.
    resume_to: String,
    resume_data: String,
}

/// The login page for a form posted after the session expired, keeping the
/// form's fields: (HTML, the login form's CSRF cookie).
pub fn resume_login(req: &HttpRequest, to: &str, data: &str) -> (String, Cookie<'static>) {
    let lang = request_lang(req, None);
    let t = Tr::new(lang);
    let (csrf, cookie) = form_csrf(req);
    let kept: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            form_urlencoded::parse(data.as_bytes())
                .into_owned()
                .filter(|(k, _)| k != "_csrf"),
        )
        .finish();
    let page = LoginPage {
        t,
        css: asset_url("app.css"),
        lang_switch: String::new(),
        next: safe_next(Some(to)),
        email: String::new(),
        error: String::new(),
        notice: t.t("login.resume").to_string(),
        csrf,
        resume_to: safe_next(Some(to)),
        resume_data: kept,
    };
    (page.render().unwrap_or_default(), cookie)
}

#[derive(Template)]
#[template(path = "auth/resume.html")]
struct ResumePage {
    t: Tr,
    css: String,
    lang_switch: String,
    action: String,
    fields: Vec<(String, String)>,
}

fn lang_switch(lang: Lang, back: &str) -> String {
    let to = match lang {
        Lang::Zh => "en",
        Lang::En => "zh-CN",
    };
    format!("/lang?to={to}&back={}", super::url_encode(back))
}

#[derive(serde::Deserialize)]
struct NextQuery {
    next: Option<String>,
    done: Option<String>,
}

async fn login_page(
    req: HttpRequest,
    actor: Option<Actor>,
    state: web::Data<AppState>,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, HtmlError> {
    let next = safe_next(q.next.as_deref());
    if actor.is_some() {
        return Ok(see_other(&next));
    }
    let lang = request_lang(&req, None);
    let t = Tr::new(lang);
    let no_users = state
        .db(|c| Ok(users::count(c)? == 0))
        .await
        .map_err(|e| guest_error(lang, &req, e))?;
    let notice = if no_users {
        t.t("login.no_admin").to_string()
    } else if q.done.is_some() {
        t.t("setup.done").to_string()
    } else {
        String::new()
    };
    let (csrf, cookie) = form_csrf(&req);
    Ok(with_form_cookie(
        html(
            StatusCode::OK,
            &LoginPage {
                t,
                css: asset_url("app.css"),
                lang_switch: lang_switch(
                    lang,
                    &format!("/login?next={}", super::url_encode(&next)),
                ),
                next,
                email: String::new(),
                error: String::new(),
                notice,
                csrf,
                resume_to: String::new(),
                resume_data: String::new(),
            },
        ),
        &cookie,
    ))
}

async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    let lang = request_lang(&req, None);
    let t = Tr::new(lang);
    let form = FormData::parse(&body);
    let email = form.get("email");
    let pw = form.get("password");
    let next = safe_next(Some(&form.get("next")));
    let (csrf, csrf_cookie) = form_csrf(&req);
    let page = |status, error: &str, email: String, next: String| {
        with_form_cookie(
            html(
                status,
                &LoginPage {
                    t,
                    css: asset_url("app.css"),
                    lang_switch: lang_switch(lang, "/login"),
                    next,
                    email,
                    error: error.to_string(),
                    notice: String::new(),
                    csrf: csrf.clone(),
                    resume_to: form.get("resume_to"),
                    resume_data: form.get("resume_data"),
                },
            ),
            &csrf_cookie,
        )
    };
    // Checked before the password, so a forged post counts as no attempt.
    if !form_csrf_ok(&req, &form) {
        return Ok(page(
            StatusCode::FORBIDDEN,
            form_csrf_refused(lang),
            email,
            next,
        ));
    }
    let ip = client_ip(&req);
    let ua = user_agent(&req);
    let policy = state.settings.auth.clone();
    let (email2, ip2) = (email.clone(), ip.clone());
    let outcome = state
        .db(move |c| {
            let outcome = login::attempt(c, &policy, &email2, &pw, &ip2)?;
            let created = match &outcome {
                Outcome::Success(u) => Some(session::create(c, u.id, &ip2, &ua)?),
                _ => None,
            };
            Ok((outcome, created))
        })
        .await
        .map_err(|e| guest_error(lang, &req, e))?;
    let (status, key) = match outcome {
        (Outcome::Success(_), Some((tok, session))) => {
            let resume = form.get("resume_data");
            let mut resp = if resume.is_empty() {
                see_other(&next)
            } else {
                // Back to the form that was posted, with what it held.
                let to = safe_next(Some(&form.get("resume_to")));
                html(
                    StatusCode::OK,
                    &ResumePage {
                        t,
                        css: asset_url("app.css"),
                        lang_switch: String::new(),
                        action: format!(
                            "{to}{}_csrf={}",
                            if to.contains('?') { '&' } else { '?' },
                            session.csrf_token
                        ),
                        fields: form_urlencoded::parse(resume.as_bytes())
                            .into_owned()
                            .filter(|(k, _)| k != "_csrf")
                            .collect(),
                    },
                )
            };
            resp.add_cookie(&session_cookie(&state, &tok))
                .and_then(|()| resp.add_cookie(&form_csrf_removal()))
                .map_err(|e| guest_error(lang, &req, AppError::Internal(e.to_string())))?;
            return Ok(resp);
        }
        (Outcome::Locked(_), _) => (StatusCode::LOCKED, "login.locked"),
        (Outcome::Disabled, _) => (StatusCode::FORBIDDEN, "login.disabled"),
        (Outcome::Throttled, _) => (StatusCode::TOO_MANY_REQUESTS, "login.throttled"),
        _ => (StatusCode::UNAUTHORIZED, "login.invalid"),
    };
    Ok(page(status, t.t(key), email, next))
}

#[derive(Default)]
struct SetupForm {
    company: String,
    language: String,
    time_zone: String,
    admin_email: String,
    admin_name: String,
}

#[derive(Template)]
#[template(path = "auth/setup.html")]
struct SetupPage {
    t: Tr,
    css: String,
    lang_switch: String,
    token: String,
    form: SetupForm,
    error: String,
    field: String,
    csrf: String,
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn setup_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<TokenQuery>,
) -> Result<HttpResponse, HtmlError> {
    let lang = request_lang(&req, None);
    let t = Tr::new(lang);
    let token = q.token.clone().unwrap_or_default();
    let tok = token.clone();
    let valid = state
        .db(move |c| {
            if users::count(c)? > 0 {
                return Ok(None);
            }
            let expected = kv::get(c, "setup.token_hash")?.unwrap_or_default();
            Ok(Some(
                !expected.is_empty() && expected == session::hash_token(&tok),
            ))
        })
        .await
        .map_err(|e| guest_error(lang, &req, e))?;
    match valid {
        None => Ok(see_other("/login?done=1")),
        Some(false) => Err(guest_error(
            lang,
            &req,
            AppError::Forbidden(t.t("setup.bad_token").into()),
        )),
        Some(true) => {
            let (csrf, cookie) = form_csrf(&req);
            Ok(with_form_cookie(
                html(
                    StatusCode::OK,
                    &SetupPage {
                        t,
                        css: asset_url("app.css"),
                        lang_switch: lang_switch(
                            lang,
                            &format!("/setup?token={}", super::url_encode(&token)),
                        ),
                        token,
                        form: SetupForm {
                            language: lang.code().into(),
                            time_zone: "Asia/Shanghai".into(),
                            ..SetupForm::default()
                        },
                        error: String::new(),
                        field: String::new(),
                        csrf,
                    },
                ),
                &cookie,
            ))
        }
    }
}

async fn setup_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    let lang = request_lang(&req, None);
    let t = Tr::new(lang);
    let f = FormData::parse(&body);
    let token = f.get("token");
    let form = SetupForm {
        company: f.get("company"),
        language: f.get("language"),
        time_zone: f.get("time_zone"),
        admin_email: f.get("admin_email"),
        admin_name: f.get("admin_name"),
    };
    let (csrf, csrf_cookie) = form_csrf(&req);
    let render_with = |status, error: String, field: &str, form: SetupForm, token: String| {
        with_form_cookie(
            html(
                status,
                &SetupPage {
                    t,
                    css: asset_url("app.css"),
                    lang_switch: lang_switch(lang, "/login"),
                    token,
                    form,
                    error,
                    field: field.to_string(),
                    csrf: csrf.clone(),
                },
            ),
            &csrf_cookie,
        )
    };
    let render = |error: String, field: &str, form: SetupForm, token: String| {
        render_with(StatusCode::BAD_REQUEST, error, field, form, token)
    };
    if !form_csrf_ok(&req, &f) {
        return Ok(render_with(
            StatusCode::FORBIDDEN,
            form_csrf_refused(lang).into(),
            "",
            form,
            token,
        ));
    }
    if f.get("admin_password") != f.get("password_confirm") {
        return Ok(render(
            t.t("setup.mismatch").into(),
            "password",
            form,
            token,
        ));
    }
    let input = setup::SetupInput {
        company: form.company.clone(),
        time_zone: form.time_zone.clone(),
        language: form.language.clone(),
        admin_email: form.admin_email.clone(),
        admin_name: form.admin_name.clone(),
        admin_password: f.get("admin_password"),
    };
    let ctx = AuditCtx {
        user_id: None,
        ip: client_ip(&req),
        request_id: request_id(&req),
    };
    let ua = user_agent(&req);
    let tok = token.clone();
    let result = state
        .db(move |c| {
            let user = setup::complete(c, &ctx, Some(&tok), &input)?;
            Ok(session::create(c, user.id, &ctx.ip, &ua)?)
        })
        .await;
    match result {
        Ok((cookie_token, _)) => {
            let mut resp = see_other("/");
            resp.add_cookie(&session_cookie(&state, &cookie_token))
                .and_then(|()| resp.add_cookie(&form_csrf_removal()))
                .map_err(|e| guest_error(lang, &req, AppError::Internal(e.to_string())))?;
            Ok(resp)
        }
        Err(AppError::Forbidden(_)) => Err(guest_error(
            lang,
            &req,
            AppError::Forbidden(t.t("setup.bad_token").into()),
        )),
        Err(AppError::NotFound(_)) => Ok(see_other("/login?done=1")),
        Err(e) => match inline_error(&e) {
            Some((msg, field)) => Ok(render(msg, &field, form, token)),
            None => Err(guest_error(lang, &req, e)),
        },
    }
}

#[derive(serde::Deserialize)]
struct LangQuery {
    to: String,
    back: Option<String>,
}

/// Switch the language of the guest pages (a cookie). Logged-in users keep
/// theirs in their profile: the header switch posts to [`switch_lang_saved`].
async fn switch_lang(q: web::Query<LangQuery>) -> HttpResponse {
    let lang = Lang::parse(&q.to).unwrap_or_default();
    lang_redirect(lang, &safe_next(q.back.as_deref()))
}

/// Go back to `to` with the language cookie set to `lang`.
fn lang_redirect(lang: Lang, to: &str) -> HttpResponse {
    let mut resp = see_other(to);
    let cookie = Cookie::build(super::LANG_COOKIE, lang.code())
        .path("/")
        .same_site(SameSite::Lax)
        .max_age(time::Duration::days(365))
        .finish();
    let _ = resp.add_cookie(&cookie);
    resp
}

/// The local path a form was posted from (`Referer`, which the
/// `Referrer-Policy: same-origin` header keeps to our own pages); `/` if
/// there is none.
fn referer_path(req: &HttpRequest) -> String {
    let referer = req
        .headers()
        .get(actix_web::http::header::REFERER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let path = match referer.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => referer,
    };
    safe_next(Some(path))
}

/// `POST /lang` (header switch of a logged-in page, with the CSRF token):
/// store the language in the user's profile, which wins over the cookie,
/// then go back to the page the switch was pressed on.
async fn switch_lang_saved(
    ui: Ui,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    let f = FormData::parse(&body);
    let lang = Lang::parse(&f.get("to")).unwrap_or_default();
    let back = match f.get("back") {
        b if b.is_empty() => referer_path(&req),
        b => safe_next(Some(&b)),
    };
    let ctx = ui.actor.audit();
    let uid = ui.actor.user_id();
    let settings = users::OwnSettings {
        language: Some(lang.code().to_string()),
        ..Default::default()
    };
    state
        .db(move |c| users::update_own(c, &ctx, uid, &settings))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(lang_redirect(lang, &back))
}

// ---------------------------------------------------------------- home and account

async fn logout(ui: Ui, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    if let AuthVia::Session { id, .. } = ui.actor.via.clone() {
        state
            .db(move |c| Ok(session::delete(c, &id)?))
            .await
            .map_err(|e| ui.fail(e))?;
    }
    let mut resp = see_other("/login");
    let _ = resp.add_cookie(&removal_cookie(&state));
    Ok(resp)
}

async fn logout_all(ui: Ui, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    let uid = ui.actor.user_id();
    state
        .db(move |c| Ok(session::delete_all_for_user(c, uid)?))
        .await
        .map_err(|e| ui.fail(e))?;
    let mut resp = see_other("/login");
    let _ = resp.add_cookie(&removal_cookie(&state));
    Ok(resp)
}

#[derive(Template)]
#[template(path = "account/password.html")]
struct PasswordPage {
    c: Chrome,
    done: bool,
    error: String,
    field: String,
}

async fn password_page(ui: Ui) -> HttpResponse {
    html(
        StatusCode::OK,
        &PasswordPage {
            c: ui.chrome("password"),
            done: false,
            error: String::new(),
            field: String::new(),
        },
    )
}

async fn password_submit(
    ui: Ui,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    let f = FormData::parse(&body);
    let AuthVia::Session { id: session_id, .. } = ui.actor.via.clone() else {
        return Err(ui.fail(AppError::Forbidden("sessions only".into())));
    };
    let (current, new) = (f.get("current_password"), f.get("new_password"));
    let ctx = ui.actor.audit();
    let uid = ui.actor.user_id();
    let wrong = ui.t().t("account.wrong_current").to_string();
    let result = state
        .db(move |c| {
            let user = users::get(c, uid)?;
            if !password::verify(&current, &user.password_hash) {
                return Err(AppError::invalid("current_password", wrong));
            }
            users::set_password(c, &ctx, uid, &new, Some(&session_id))
        })
        .await;
    let (status, done, error, field) = match result {
        Ok(()) => (StatusCode::OK, true, String::new(), String::new()),
        Err(e) => match inline_error(&e) {
            Some((m, f)) => (StatusCode::BAD_REQUEST, false, m, f),
            None => return Err(ui.fail(e)),
        },
    };
    Ok(html(
        status,
        &PasswordPage {
            c: ui.chrome("password"),
            done,
            error,
            field,
        },
    ))
}

#[derive(Template)]
#[template(path = "account/profile.html")]
struct ProfilePage {
    c: Chrome,
    email: String,
    name: String,
    language: String,
    time_zone: String,
    company_zone: String,
    zones: Vec<&'static str>,
    done: bool,
    error: String,
    field: String,
}

#[derive(serde::Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

/// The account page with `form` (name, language, time zone) as typed, or the
/// stored values.
async fn render_profile(
    ui: &Ui,
    state: &AppState,
    status: StatusCode,
    form: Option<users::OwnSettings>,
    done: bool,
    error: (String, String),
) -> Result<HttpResponse, HtmlError> {
    let uid = ui.actor.user_id();
    let (user, company_zone) = state
        .db(move |c| {
            let company = kv::get(c, "company.time_zone")?.unwrap_or_default();
            Ok((users::get(c, uid)?, company))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let form = form.unwrap_or_default();
    let language = match form.language.unwrap_or(user.language) {
        l if l.is_empty() => ui.lang.code().to_string(),
        l => l,
    };
    Ok(html(
        status,
        &ProfilePage {
            c: ui.chrome("account"),
            email: user.email,
            name: form.name.unwrap_or(user.name),
            language,
            time_zone: form.time_zone.unwrap_or(user.time_zone),
            company_zone,
            zones: crate::core::time::names().collect(),
            done,
            error: error.0,
            field: error.1,
        },
    ))
}

async fn profile_page(
    ui: Ui,
    state: web::Data<AppState>,
    q: web::Query<SavedQuery>,
) -> Result<HttpResponse, HtmlError> {
    let done = q.saved.is_some();
    render_profile(
        &ui,
        &state,
        StatusCode::OK,
        None,
        done,
        (String::new(), String::new()),
    )
    .await
}

/// Save name, language and time zone, then show the page again (in the new
/// language, hence the redirect).
async fn profile_submit(
    ui: Ui,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    let f = FormData::parse(&body);
    let settings = users::OwnSettings {
        name: Some(f.get("name")),
        language: Some(f.get("language")),
        time_zone: Some(f.get("time_zone")),
    };
    let ctx = ui.actor.audit();
    let uid = ui.actor.user_id();
    let s = settings.clone();
    match state.db(move |c| users::update_own(c, &ctx, uid, &s)).await {
        Ok(u) => {
            let lang = Lang::parse(&u.language).unwrap_or(ui.lang);
            Ok(lang_redirect(lang, "/account?saved=1"))
        }
        Err(e) => match inline_error(&e) {
            Some(err) => {
                render_profile(
                    &ui,
                    &state,
                    StatusCode::BAD_REQUEST,
                    Some(settings),
                    false,
                    err,
                )
                .await
            }
            None => Err(ui.fail(e)),
        },
    }
}

#[derive(Template)]
#[template(path = "account/tokens.html")]
struct TokensPage {
    c: Chrome,
    tokens: Vec<token::ApiToken>,
    secret: String,
    error: String,
    name: String,
    expires_days: String,
    read_only: bool,
}

async fn render_tokens(
    ui: &Ui,
    state: &AppState,
    status: StatusCode,
    secret: String,
    error: String,
    f: Option<&FormData>,
) -> Result<HttpResponse, HtmlError> {
    let uid = ui.actor.user_id();
    let tokens = state
        .db(move |c| Ok(token::list(c, Some(uid))?))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(html(
        status,
        &TokensPage {
            c: ui.chrome("tokens"),
            tokens,
            secret,
            error,
            name: f.map(|f| f.get("name")).unwrap_or_default(),
            expires_days: f.map(|f| f.get("expires_days")).unwrap_or_default(),
            read_only: f.is_some_and(|f| !f.get("read_only").is_empty()),
        },
    ))
}

fn require_session(ui: &Ui) -> Result<(), HtmlError> {
    match ui.actor.via {
        AuthVia::Session { .. } => Ok(()),
        AuthVia::Token { .. } => Err(ui.fail(AppError::Forbidden("sessions only".into()))),
    }
}

async fn tokens_page(ui: Ui, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    render_tokens(
        &ui,
        &state,
        StatusCode::OK,
        String::new(),
        String::new(),
        None,
    )
    .await
}

async fn tokens_create(
    ui: Ui,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    require_session(&ui)?;
    let f = FormData::parse(&body);
    let name = f.get("name");
    let read_only = !f.get("read_only").is_empty();
    let days = match f.opt_i64("expires_days") {
        Ok(d) => d,
        Err(e) => {
            let msg = e.to_string();
            return render_tokens(
                &ui,
                &state,
                StatusCode::BAD_REQUEST,
                String::new(),
                msg,
                Some(&f),
            )
            .await;
        }
    };
    let ctx = ui.actor.audit();
    let uid = ui.actor.user_id();
    match state
        .db(move |c| token::create(c, &ctx, uid, &name, read_only, days))
        .await
    {
        Ok((secret, _)) => {
            render_tokens(
                &ui,
                &state,
                StatusCode::CREATED,
                secret,
                String::new(),
                None,
            )
            .await
        }
        Err(e) => match inline_error(&e) {
            Some((m, _)) => {
                render_tokens(
                    &ui,
                    &state,
                    StatusCode::BAD_REQUEST,
                    String::new(),
                    m,
                    Some(&f),
                )
                .await
            }
            None => Err(ui.fail(e)),
        },
    }
}

async fn tokens_revoke(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    require_session(&ui)?;
    let id = path.into_inner();
    let ctx = ui.actor.audit();
    let uid = ui.actor.user_id();
    state
        .db(move |c| token::revoke(c, &ctx, id, Some(uid)))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(see_other("/account/tokens"))
}

// ---------------------------------------------------------------- admin: users

struct UserRow {
    id: i64,
    name: String,
    email: String,
    department: String,
    roles: Vec<String>,
    active: bool,
    last_login: String,
}

#[derive(Default)]
struct UserForm {
    email: String,
    name: String,
    department_id: String,
    supervisor_id: String,
    roles: Vec<i64>,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    c: Chrome,
    users: Vec<UserRow>,
    departments: Vec<DeptRow>,
    people: Vec<Choice>,
    roles: Vec<Choice>,
    can_manage: bool,
    created: bool,
    form: UserForm,
    error: String,
    field: String,
}

#[derive(serde::Deserialize)]
struct CreatedQuery {
    created: Option<String>,
}

async fn render_users(
    ui: &Ui,
    state: &AppState,
    status: StatusCode,
    form: UserForm,
    error: String,
    field: String,
    created: bool,
) -> Result<HttpResponse, HtmlError> {
    let (list, departments, people, roles) = state
        .db(|c| {
            let list = users::list(c)?;
            let tree = department_tree(c)?;
            Ok((list, tree, people(c)?, roles::list(c)?))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let roles = role_choices(ui.t(), &roles);
    let rows = list
        .into_iter()
        .map(|u| UserRow {
            id: u.user.id,
            name: u.user.name.clone(),
            email: u.user.email.clone(),
            department: u
                .user
                .department_id
                .and_then(|d| departments.iter().find(|x| x.id == d))
                .map(|d| d.name.clone())
                .unwrap_or_default(),
            roles: u
                .roles
                .iter()
                .map(|r| {
                    roles
                        .iter()
                        .find(|c| c.id == r.id)
                        .map_or_else(|| r.name.clone(), |c| c.label.clone())
                })
                .collect(),
            active: u.user.active,
            last_login: fmt_time(u.user.last_login_at),
        })
        .collect();
    Ok(html(
        status,
        &UsersPage {
            c: ui.chrome("users"),
            users: rows,
            departments,
            people,
            roles,
            can_manage: ui.actor.can("admin", "manage"),
            created,
            form,
            error,
            field,
        },
    ))
}

async fn users_page(
    ui: Ui,
    state: web::Data<AppState>,
    q: web::Query<CreatedQuery>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(false)?;
    let form = UserForm::default();
    render_users(
        &ui,
        &state,
        StatusCode::OK,
        form,
        String::new(),
        String::new(),
        q.created.is_some(),
    )
    .await
}

async fn users_create(
    ui: Ui,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let f = FormData::parse(&body);
    let form = UserForm {
        email: f.get("email"),
        name: f.get("name"),
        department_id: f.get("department_id"),
        supervisor_id: f.get("supervisor_id"),
        roles: f.i64s("roles").unwrap_or_default(),
    };
    let parsed = (|| -> Result<NewUser, AppError> {
        Ok(NewUser {
            email: form.email.clone(),
            name: form.name.clone(),
            password: f.get("password"),
            department_id: f.opt_i64("department_id")?,
            supervisor_id: f.opt_i64("supervisor_id")?,
            language: String::new(),
            time_zone: String::new(),
            roles: f.i64s("roles")?,
        })
    })();
    let ctx = ui.actor.audit();
    let result = match parsed {
        Ok(new) => state.db(move |c| users::create(c, &ctx, &new)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/admin/users?created=1")),
        Err(e) => match inline_error(&e) {
            Some((m, field)) => {
                render_users(&ui, &state, StatusCode::BAD_REQUEST, form, m, field, false).await
            }
            None => Err(ui.fail(e)),
        },
    }
}

#[derive(Default)]
struct ProfileForm {
    name: String,
    language: String,
    time_zone: String,
    department_id: String,
    supervisor_id: String,
}

#[derive(Template)]
#[template(path = "admin/user_edit.html")]
struct UserEditPage {
    c: Chrome,
    user: users::User,
    form: ProfileForm,
    departments: Vec<DeptRow>,
    people: Vec<Choice>,
    roles: Vec<Choice>,
    held: Vec<i64>,
    notice: String,
    error: String,
    field: String,
}

fn profile_form(u: &users::User) -> ProfileForm {
    ProfileForm {
        name: u.name.clone(),
        language: u.language.clone(),
        time_zone: u.time_zone.clone(),
        department_id: u.department_id.map(|d| d.to_string()).unwrap_or_default(),
        supervisor_id: u.supervisor_id.map(|d| d.to_string()).unwrap_or_default(),
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "page state passed through from each form handler"
)]
async fn render_user_edit(
    ui: &Ui,
    state: &AppState,
    id: i64,
    status: StatusCode,
    form: Option<ProfileForm>,
    notice: String,
    error: String,
    field: String,
) -> Result<HttpResponse, HtmlError> {
    let (user, departments, people, roles, held) = state
        .db(move |c| {
            let user = users::get(c, id)?;
            let held: Vec<i64> = user_roles::table
                .filter(user_roles::user_id.eq(id))
                .select(user_roles::role_id)
                .load(c)?;
            Ok((user, department_tree(c)?, people(c)?, roles::list(c)?, held))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let form = form.unwrap_or_else(|| profile_form(&user));
    let roles = role_choices(ui.t(), &roles);
    Ok(html(
        status,
        &UserEditPage {
            c: ui.chrome("users"),
            user,
            form,
            departments,
            people,
            roles,
            held,
            notice,
            error,
            field,
        },
    ))
}

async fn user_edit_page(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    render_user_edit(
        &ui,
        &state,
        path.into_inner(),
        StatusCode::OK,
        None,
        String::new(),
        String::new(),
        String::new(),
    )
    .await
}

/// Shared ending of the user-edit form posts: re-render with a notice or an
/// inline error, or an error page.
async fn after_user_change(
    ui: &Ui,
    state: &AppState,
    id: i64,
    result: Result<(), AppError>,
    form: Option<ProfileForm>,
) -> Result<HttpResponse, HtmlError> {
    match result {
        Ok(()) => {
            let saved = ui.t().t("common.saved").to_string();
            render_user_edit(
                ui,
                state,
                id,
                StatusCode::OK,
                None,
                saved,
                String::new(),
                String::new(),
            )
            .await
        }
        Err(AppError::Stale { .. }) => {
            let msg = ui.t().t("common.stale").to_string();
            render_user_edit(
                ui,
                state,
                id,
                StatusCode::CONFLICT,
                None,
                String::new(),
                msg,
                String::new(),
            )
            .await
        }
        Err(e) => match inline_error(&e) {
            Some((m, field)) => {
                render_user_edit(
                    ui,
                    state,
                    id,
                    StatusCode::BAD_REQUEST,
                    form,
                    String::new(),
                    m,
                    field,
                )
                .await
            }
            None => Err(ui.fail(e)),
        },
    }
}

async fn user_profile_submit(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let id = path.into_inner();
    let f = FormData::parse(&body);
    let form = ProfileForm {
        name: f.get("name"),
        language: f.get("language"),
        time_zone: f.get("time_zone"),
        department_id: f.get("department_id"),
        supervisor_id: f.get("supervisor_id"),
    };
    let ctx = ui.actor.audit();
    let result = match (|| -> Result<(i32, UserProfile), AppError> {
        Ok((
            f.version()?,
            UserProfile {
                name: form.name.clone(),
                department_id: f.opt_i64("department_id")?,
                supervisor_id: f.opt_i64("supervisor_id")?,
                language: form.language.clone(),
                time_zone: form.time_zone.clone(),
            },
        ))
    })() {
        Ok((version, p)) => {
            state
                .db(move |c| users::update_profile(c, &ctx, id, version, &p).map(|_| ()))
                .await
        }
        Err(e) => Err(e),
    };
    after_user_change(&ui, &state, id, result, Some(form)).await
}

async fn user_roles_submit(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let id = path.into_inner();
    let f = FormData::parse(&body);
    let ctx = ui.actor.audit();
    let result = match f.i64s("roles") {
        Ok(ids) => {
            state
                .db(move |c| users::set_roles(c, &ctx, id, &ids).map(|_| ()))
                .await
        }
        Err(e) => Err(e),
    };
    after_user_change(&ui, &state, id, result, None).await
}

async fn user_password_submit(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let id = path.into_inner();
    let pw = FormData::parse(&body).get("password");
    let ctx = ui.actor.audit();
    let result = state
        .db(move |c| users::set_password(c, &ctx, id, &pw, None))
        .await;
    after_user_change(&ui, &state, id, result, None).await
}

async fn user_active_submit(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let (id, action) = path.into_inner();
    let enable = action == "enable";
    let result = if !enable && id == ui.actor.user_id() {
        Err(AppError::Conflict(
            "you cannot disable your own account".into(),
        ))
    } else {
        let ctx = ui.actor.audit();
        state
            .db(move |c| users::set_active(c, &ctx, id, enable).map(|_| ()))
            .await
    };
    after_user_change(&ui, &state, id, result, None).await
}

// ---------------------------------------------------------------- admin: departments

#[derive(Default)]
struct DeptForm {
    name: String,
    parent_id: String,
    sort_order: String,
}

#[derive(Template)]
#[template(path = "admin/departments.html")]
struct DepartmentsPage {
    c: Chrome,
    tree: Vec<DeptRow>,
    can_manage: bool,
    form: DeptForm,
    error: String,
    field: String,
}

async fn render_departments(
    ui: &Ui,
    state: &AppState,
    status: StatusCode,
    form: DeptForm,
    error: String,
    field: String,
) -> Result<HttpResponse, HtmlError> {
    let tree = state.db(department_tree).await.map_err(|e| ui.fail(e))?;
    Ok(html(
        status,
        &DepartmentsPage {
            c: ui.chrome("departments"),
            tree,
            can_manage: ui.actor.can("admin", "manage"),
            form,
            error,
            field,
        },
    ))
}

async fn departments_page(ui: Ui, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(false)?;
    let form = DeptForm {
        sort_order: "0".into(),
        ..DeptForm::default()
    };
    render_departments(
        &ui,
        &state,
        StatusCode::OK,
        form,
        String::new(),
        String::new(),
    )
    .await
}

fn dept_input(f: &FormData) -> Result<DepartmentInput, AppError> {
    let order = f.get("sort_order");
    Ok(DepartmentInput {
        name: f.get("name"),
        parent_id: f.opt_i64("parent_id")?,
        sort_order: if order.trim().is_empty() {
            0
        } else {
            order.trim().parse().map_err(|_| {
                AppError::invalid("sort_order", format!("`{order}` is not a number"))
            })?
        },
    })
}

fn dept_form(f: &FormData) -> DeptForm {
    DeptForm {
        name: f.get("name"),
        parent_id: f.get("parent_id"),
        sort_order: f.get("sort_order"),
    }
}

async fn departments_create(
    ui: Ui,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let f = FormData::parse(&body);
    let ctx = ui.actor.audit();
    let result = match dept_input(&f) {
        Ok(input) => {
            state
                .db(move |c| departments::create(c, &ctx, &input))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/admin/departments")),
        Err(e) => match inline_error(&e) {
            Some((m, field)) => {
                render_departments(
                    &ui,
                    &state,
                    StatusCode::BAD_REQUEST,
                    dept_form(&f),
                    m,
                    field,
                )
                .await
            }
            None => Err(ui.fail(e)),
        },
    }
}

#[derive(Template)]
#[template(path = "admin/department_edit.html")]
struct DepartmentEditPage {
    c: Chrome,
    id: i64,
    version: i32,
    tree: Vec<DeptRow>,
    form: DeptForm,
    error: String,
    field: String,
}

async fn render_department_edit(
    ui: &Ui,
    state: &AppState,
    id: i64,
    status: StatusCode,
    form: Option<DeptForm>,
    error: String,
    field: String,
) -> Result<HttpResponse, HtmlError> {
    let (dep, tree) = state
        .db(move |c| Ok((departments::get(c, id)?, department_tree(c)?)))
        .await
        .map_err(|e| ui.fail(e))?;
    let form = form.unwrap_or_else(|| DeptForm {
        name: dep.name.clone(),
        parent_id: dep.parent_id.map(|p| p.to_string()).unwrap_or_default(),
        sort_order: dep.sort_order.to_string(),
    });
    Ok(html(
        status,
        &DepartmentEditPage {
            c: ui.chrome("departments"),
            id,
            version: dep.version,
            tree,
            form,
            error,
            field,
        },
    ))
}

async fn department_edit_page(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    render_department_edit(
        &ui,
        &state,
        path.into_inner(),
        StatusCode::OK,
        None,
        String::new(),
        String::new(),
    )
    .await
}

async fn department_update(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let id = path.into_inner();
    let f = FormData::parse(&body);
    let ctx = ui.actor.audit();
    let result = match f.version().and_then(|v| dept_input(&f).map(|i| (v, i))) {
        Ok((v, input)) => {
            state
                .db(move |c| departments::update(c, &ctx, id, v, &input).map(|_| ()))
                .await
        }
        Err(e) => Err(e),
    };
    department_outcome(&ui, &state, id, result, Some(dept_form(&f))).await
}

async fn department_delete(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let id = path.into_inner();
    let f = FormData::parse(&body);
    let ctx = ui.actor.audit();
    let result = match f.version() {
        Ok(v) => state.db(move |c| departments::delete(c, &ctx, id, v)).await,
        Err(e) => Err(e),
    };
    department_outcome(&ui, &state, id, result, None).await
}

async fn department_outcome(
    ui: &Ui,
    state: &AppState,
    id: i64,
    result: Result<(), AppError>,
    form: Option<DeptForm>,
) -> Result<HttpResponse, HtmlError> {
    match result {
        Ok(()) => Ok(see_other("/admin/departments")),
        Err(AppError::Stale { .. }) => {
            let msg = ui.t().t("common.stale").to_string();
            render_department_edit(
                ui,
                state,
                id,
                StatusCode::CONFLICT,
                None,
                msg,
                String::new(),
            )
            .await
        }
        Err(e) => match inline_error(&e) {
            Some((m, field)) => {
                render_department_edit(ui, state, id, StatusCode::BAD_REQUEST, form, m, field).await
            }
            None => Err(ui.fail(e)),
        },
    }
}

// ---------------------------------------------------------------- admin: roles

struct RoleRow {
    id: i64,
    name: String,
    description: String,
    builtin: bool,
    scope_key: String,
    members: i64,
}

#[derive(Template)]
#[template(path = "admin/roles.html")]
struct RolesPage {
    c: Chrome,
    roles: Vec<RoleRow>,
    can_manage: bool,
}

fn scope_key(s: DataScope) -> String {
    format!("scope.{}", s.as_str())
}

async fn roles_page(ui: Ui, state: web::Data<AppState>) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(false)?;
    let (list, counts) = state
        .db(|c| {
            let counts: Vec<(i64, i64)> = user_roles::table
                .group_by(user_roles::role_id)
                .select((user_roles::role_id, diesel::dsl::count_star()))
                .load(c)?;
            Ok((roles::list(c)?, counts))
        })
        .await
        .map_err(|e| ui.fail(e))?;
    let rows = list
        .into_iter()
        .map(|r| RoleRow {
            id: r.id,
            members: counts
                .iter()
                .find(|(id, _)| *id == r.id)
                .map_or(0, |(_, n)| *n),
            name: r.name,
            description: r.description,
            builtin: r.builtin.is_some(),
            scope_key: scope_key(r.data_scope),
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        &RolesPage {
            c: ui.chrome("roles"),
            roles: rows,
            can_manage: ui.actor.can("admin", "manage"),
        },
    ))
}

struct PermCell {
    perm: String,
    checked: bool,
}

struct ModuleRow {
    label: String,
    cells: Vec<PermCell>,
}

#[derive(Template)]
#[template(path = "admin/role_edit.html")]
struct RoleEditPage {
    c: Chrome,
    id: i64,
    version: i32,
    builtin: bool,
    name: String,
    description: String,
    scope: String,
    scopes: Vec<(String, String)>,
    actions: Vec<(String, String)>,
    modules: Vec<ModuleRow>,
    error: String,
    field: String,
}

#[expect(clippy::too_many_arguments, reason = "the role form's fields")]
fn role_edit_page(
    ui: &Ui,
    status: StatusCode,
    id: i64,
    version: i32,
    builtin: bool,
    name: String,
    description: String,
    scope: DataScope,
    perms: &[String],
    error: String,
    field: String,
) -> HttpResponse {
    let modules = MODULES
        .iter()
        .map(|m| ModuleRow {
            label: format!("module.{m}"),
            cells: ACTIONS
                .iter()
                .map(|a| {
                    let perm = format!("{m}.{a}");
                    PermCell {
                        checked: perms.contains(&perm),
                        perm,
                    }
                })
                .collect(),
        })
        .collect();
    html(
        status,
        &RoleEditPage {
            c: ui.chrome("roles"),
            id,
            version,
            builtin,
            name,
            description,
            scope: scope.as_str().into(),
            scopes: DataScope::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), scope_key(*s)))
                .collect(),
            actions: ACTIONS
                .iter()
                .map(|a| (a.to_string(), format!("action.{a}")))
                .collect(),
            modules,
            error,
            field,
        },
    )
}

async fn role_new_page(ui: Ui) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    Ok(role_edit_page(
        &ui,
        StatusCode::OK,
        0,
        0,
        false,
        String::new(),
        String::new(),
        DataScope::SelfOnly,
        &[],
        String::new(),
        String::new(),
    ))
}

async fn role_page(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let id = path.into_inner();
    let r = state
        .db(move |c| roles::get(c, id))
        .await
        .map_err(|e| ui.fail(e))?;
    Ok(role_edit_page(
        &ui,
        StatusCode::OK,
        r.id,
        r.version,
        r.builtin.is_some(),
        r.name,
        r.description,
        r.data_scope,
        &r.permissions,
        String::new(),
        String::new(),
    ))
}

fn role_input(f: &FormData) -> Result<RoleInput, AppError> {
    let scope = DataScope::parse(&f.get("data_scope"))
        .ok_or_else(|| AppError::invalid("data_scope", "choose a data scope"))?;
    Ok(RoleInput {
        name: f.get("name"),
        description: f.get("description"),
        permissions: f.all("perm"),
        data_scope: scope,
    })
}

async fn role_save(
    ui: Ui,
    state: web::Data<AppState>,
    path: Option<web::Path<i64>>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let id = path.map_or(0, |p| p.into_inner());
    let f = FormData::parse(&body);
    let ctx = ui.actor.audit();
    let input = role_input(&f);
    let result = match input {
        Ok(input) if id == 0 => state.db(move |c| roles::create(c, &ctx, &input)).await,
        Ok(input) => match f.version() {
            Ok(v) => {
                state
                    .db(move |c| roles::update(c, &ctx, id, v, &input))
                    .await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/admin/roles")),
        Err(AppError::Stale { current, .. }) => {
            let msg = ui.t().t("common.stale").to_string();
            let r: Option<roles::Role> = state
                .db(move |c| roles::get(c, id).map(Some))
                .await
                .ok()
                .flatten();
            let _ = current;
            match r {
                Some(r) => Ok(role_edit_page(
                    &ui,
                    StatusCode::CONFLICT,
                    r.id,
                    r.version,
                    r.builtin.is_some(),
                    r.name,
                    r.description,
                    r.data_scope,
                    &r.permissions,
                    msg,
                    String::new(),
                )),
                None => Err(ui.fail(AppError::NotFound("role".into()))),
            }
        }
        Err(e) => match inline_error(&e) {
            Some((m, field)) => {
                let scope = DataScope::parse(&f.get("data_scope")).unwrap_or(DataScope::SelfOnly);
                let version = f.version().unwrap_or(0);
                Ok(role_edit_page(
                    &ui,
                    StatusCode::BAD_REQUEST,
                    id,
                    version,
                    false,
                    f.get("name"),
                    f.get("description"),
                    scope,
                    &f.all("perm"),
                    m,
                    field,
                ))
            }
            None => Err(ui.fail(e)),
        },
    }
}

async fn role_create(
    ui: Ui,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    role_save(ui, state, None, body).await
}

async fn role_update(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    role_save(ui, state, Some(path), body).await
}

async fn role_delete(
    ui: Ui,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(true)?;
    let id = path.into_inner();
    let f = FormData::parse(&body);
    let ctx = ui.actor.audit();
    let result = match f.version() {
        Ok(v) => state.db(move |c| roles::delete(c, &ctx, id, v)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other("/admin/roles")),
        Err(e) => Err(ui.fail(e)),
    }
}

// ---------------------------------------------------------------- admin: logs

#[derive(Template)]
#[template(path = "admin/login_log.html")]
struct LoginLogPage {
    c: Chrome,
    entries: Vec<login::LoginEntry>,
    people: Vec<Choice>,
    filter_user: String,
    older: String,
}

#[derive(serde::Deserialize)]
struct LogQuery {
    user_id: Option<String>,
    before_id: Option<i64>,
}

const LOG_PAGE: i64 = 100;

async fn login_log_page(
    ui: Ui,
    state: web::Data<AppState>,
    q: web::Query<LogQuery>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(false)?;
    let q = q.into_inner();
    let user_id = q
        .user_id
        .as_deref()
        .and_then(|u| u.trim().parse::<i64>().ok());
    let before = q.before_id;
    let (entries, people) = state
        .db(move |c| Ok((login::list(c, user_id, before, LOG_PAGE)?, people(c)?)))
        .await
        .map_err(|e| ui.fail(e))?;
    let older = match entries.last() {
        Some(last) if entries.len() as i64 == LOG_PAGE => format!(
            "/admin/login-log?before_id={}{}",
            last.id,
            user_id.map(|u| format!("&user_id={u}")).unwrap_or_default()
        ),
        _ => String::new(),
    };
    Ok(html(
        StatusCode::OK,
        &LoginLogPage {
            c: ui.chrome("login_log"),
            entries,
            people,
            filter_user: user_id.map(|u| u.to_string()).unwrap_or_default(),
            older,
        },
    ))
}

struct AuditView {
    at: String,
    user: String,
    action: String,
    entity: String,
    record: String,
    changes: String,
    ip: String,
    request_id: String,
}

#[derive(Default)]
struct AuditFilterForm {
    user_id: String,
    entity: String,
    record_id: String,
    from: String,
    to: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    c: Chrome,
    entries: Vec<AuditView>,
    people: Vec<Choice>,
    filter: AuditFilterForm,
    older: String,
    error: String,
    /// Record-type codes with a label, suggested in the filter.
    entity_codes: Vec<&'static str>,
}

#[derive(serde::Deserialize)]
struct AuditQuery {
    user_id: Option<String>,
    entity: Option<String>,
    record_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before_id: Option<i64>,
}

/// Pretty-print `{field: [before, after]}` one field per line.
fn describe_changes(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v.as_array().map(|a| a.as_slice()) {
                Some([before, after]) => format!("{k}: {before} → {after}"),
                _ => format!("{k}: {v}"),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => json.to_string(),
    }
}

async fn audit_page(
    ui: Ui,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, HtmlError> {
    ui.require_admin(false)?;
    let q = q.into_inner();
    let form = AuditFilterForm {
        user_id: q.user_id.clone().unwrap_or_default(),
        entity: q.entity.clone().unwrap_or_default(),
        record_id: q.record_id.clone().unwrap_or_default(),
        from: q.from.clone().unwrap_or_default(),
        to: q.to.clone().unwrap_or_default(),
    };
    let day = |s: &str| -> Result<Option<NaiveDateTime>, String> {
        if s.trim().is_empty() {
            return Ok(None);
        }
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map(|d| d.and_hms_opt(0, 0, 0))
            .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))
    };
    let mut error = String::new();
    let from = day(&form.from).unwrap_or_else(|e| {
        error = e;
        None
    });
    let to = day(&form.to)
        .unwrap_or_else(|e| {
            error = e;
            None
        })
        .map(|t| t + chrono::Duration::days(1));
    let filter = AuditFilter {
        user_id: form.user_id.trim().parse().ok(),
        entity: Some(form.entity.trim().to_string()).filter(|e| !e.is_empty()),
        record_id: form.record_id.trim().parse().ok(),
        from,
        to,
        before_id: q.before_id,
        limit: Some(LOG_PAGE),
    };
    let (rows, people) = state
        .db(move |c| Ok((audit::list(c, &filter)?, people(c)?)))
        .await
        .map_err(|e| ui.fail(e))?;
    let older = match rows.last() {
        Some(last) if rows.len() as i64 == LOG_PAGE => {
            let mut url = format!("/admin/audit?before_id={}", last.id);
            for (k, v) in [
                ("user_id", &form.user_id),
                ("entity", &form.entity),
                ("record_id", &form.record_id),
                ("from", &form.from),
                ("to", &form.to),
            ] {
                if !v.is_empty() {
                    url.push_str(&format!("&{k}={}", super::url_encode(v)));
                }
            }
            url
        }
        _ => String::new(),
    };
    let entries = rows
        .into_iter()
        .map(|r| AuditView {
            at: r.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            user: r
                .user_id
                .and_then(|u| people.iter().find(|p| p.id == u))
                .map(|p| p.label.clone())
                .unwrap_or_default(),
            action: r.action,
            entity: r.entity,
            record: r.record_id.map(|r| r.to_string()).unwrap_or_default(),
            changes: describe_changes(&r.changes),
            ip: r.ip,
            request_id: r.request_id,
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        &AuditPage {
            c: ui.chrome("audit"),
            entries,
            people,
            filter: form,
            older,
            error,
            entity_codes: crate::core::i18n::codes("audit.entity"),
        },
    ))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login_submit))
        .route("/setup", web::get().to(setup_page))
        .route("/setup", web::post().to(setup_submit))
        .route("/lang", web::get().to(switch_lang))
        .route("/lang", web::post().to(switch_lang_saved))
        .route("/account", web::get().to(profile_page))
        .route("/account", web::post().to(profile_submit))
        .route("/logout", web::post().to(logout))
        .route("/logout-all", web::post().to(logout_all))
        .route("/account/password", web::get().to(password_page))
        .route("/account/password", web::post().to(password_submit))
        .route("/account/tokens", web::get().to(tokens_page))
        .route("/account/tokens", web::post().to(tokens_create))
        .route("/account/tokens/{id}/revoke", web::post().to(tokens_revoke))
        .route("/admin/users", web::get().to(users_page))
        .route("/admin/users", web::post().to(users_create))
        .route("/admin/users/{id}", web::get().to(user_edit_page))
        .route(
            "/admin/users/{id}/profile",
            web::post().to(user_profile_submit),
        )
        .route("/admin/users/{id}/roles", web::post().to(user_roles_submit))
        .route(
            "/admin/users/{id}/password",
            web::post().to(user_password_submit),
        )
        .route(
            "/admin/users/{id}/{action:enable|disable}",
            web::post().to(user_active_submit),
        )
        .route("/admin/departments", web::get().to(departments_page))
        .route("/admin/departments", web::post().to(departments_create))
        .route(
            "/admin/departments/{id}",
            web::get().to(department_edit_page),
        )
        .route("/admin/departments/{id}", web::post().to(department_update))
        .route(
            "/admin/departments/{id}/delete",
            web::post().to(department_delete),
        )
        .route("/admin/roles", web::get().to(roles_page))
        .route("/admin/roles", web::post().to(role_create))
        .route("/admin/roles/new", web::get().to(role_new_page))
        .route("/admin/roles/{id}", web::get().to(role_page))
        .route("/admin/roles/{id}", web::post().to(role_update))
        .route("/admin/roles/{id}/delete", web::post().to(role_delete))
        .route("/admin/login-log", web::get().to(login_log_page))
        .route("/admin/audit", web::get().to(audit_page));
}
