//! JSON API for logging in and out, the current user, password changes and
//! personal API tokens.

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::Deserialize;
use serde_json::json;

use crate::app::AppState;
use crate::core::auth::actor::{Actor, AuthVia, client_ip};
use crate::core::auth::login::{self, Outcome};
use crate::core::auth::{password, session, token};
use crate::core::error::AppError;
use crate::core::org::{roles, users};
use crate::core::setup::user_agent;

/// Set the session cookie and answer with the user and the CSRF token.
pub fn login_response(
    state: &AppState,
    cookie_token: &str,
    sess: &session::Session,
    user: &users::User,
    status: StatusCode,
) -> HttpResponse {
    let max_age = time::Duration::hours(i64::from(state.settings.auth.session_max_hours));
    let cookie = Cookie::build(session::COOKIE, cookie_token.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.tls_on())
        .max_age(max_age)
        .finish();
    HttpResponse::build(status)
        .cookie(cookie)
        .json(json!({"user": user, "csrf_token": sess.csrf_token}))
}

fn clear_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = Cookie::build(session::COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.tls_on())
        .finish();
    c.make_removal();
    c
}

#[derive(Deserialize)]
struct LoginInput {
    email: String,
    password: String,
}

#[post("/api/v1/auth/login")]
async fn login_api(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginInput>,
) -> Result<HttpResponse, AppError> {
    let ip = client_ip(&req);
    let ua = user_agent(&req);
    let policy = state.settings.auth.clone();
    let LoginInput { email, password } = body.into_inner();
    if email.trim().is_empty() || password.is_empty() {
        return Err(AppError::invalid(
            "email",
            "e-mail and password are required",
        ));
    }
    let (tok, sess, user) = state
        .db(move |conn| {
            match login::attempt(conn, &policy, &email, &password, &ip)? {
                Outcome::Success(user) => {
                    // Always a new session id at login.
                    let (tok, sess) = session::create(conn, user.id, &ip, &ua)?;
                    Ok((tok, sess, *user))
                }
                Outcome::Invalid => Err(AppError::Unauthorized("wrong e-mail or password".into())),
                Outcome::Locked(until) => Err(AppError::Locked(format!(
                    "too many wrong passwords: the account is locked until {} UTC",
                    until.format("%Y-%m-%d %H:%M")
                ))),
                Outcome::Disabled => Err(AppError::Forbidden(
                    "this account is disabled; ask an administrator".into(),
                )),
                Outcome::Throttled => Err(AppError::TooMany(
                    "too many failed logins from your address; wait a few minutes".into(),
                )),
            }
        })
        .await?;
    Ok(login_response(&state, &tok, &sess, &user, StatusCode::OK))
}

#[post("/api/v1/auth/logout")]
async fn logout_api(actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if let AuthVia::Session { id, .. } = actor.via.clone() {
        state
            .db(move |conn| Ok(session::delete(conn, &id)?))
            .await?;
    }
    Ok(HttpResponse::Ok()
        .cookie(clear_cookie(&state))
        .json(json!({"logged_out": true})))
}

/// Token management and "log out everywhere" need a logged-in browser
/// session: a leaked token must not be able to mint or revoke credentials.
fn require_session(actor: &Actor) -> Result<(), AppError> {
    match actor.via {
        AuthVia::Session { .. } => Ok(()),
        AuthVia::Token { .. } => Err(AppError::Forbidden(
            "manage tokens and sessions from a logged-in session, not with an API token".into(),
        )),
    }
}

#[post("/api/v1/auth/logout-all")]
async fn logout_all_api(
    actor: Actor,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    require_session(&actor)?;
    let uid = actor.user_id();
    let n = state
        .db(move |conn| Ok(session::delete_all_for_user(conn, uid)?))
        .await?;
    Ok(HttpResponse::Ok()
        .cookie(clear_cookie(&state))
        .json(json!({"sessions_ended": n})))
}

#[get("/api/v1/me")]
async fn me_api(actor: Actor, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let uid = actor.user_id();
    let held = state
        .db(move |conn| Ok(roles::for_user(conn, uid)?))
        .await?;
    Ok(HttpResponse::Ok().json(json!({
        "user": actor.user,
        "roles": held,
        "grants": actor.grants,
        "is_admin": actor.is_admin(),
        "csrf_token": actor.csrf_token(),
        "via": match actor.via { AuthVia::Session { .. } => "session", AuthVia::Token { .. } => "token" },
    })))
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

#[post("/api/v1/me/password")]
async fn change_password_api(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    let AuthVia::Session { id: session_id, .. } = actor.via.clone() else {
        return Err(AppError::Forbidden(
            "change your password from a logged-in session, not with an API token".into(),
        ));
    };
    let PasswordChange {
        current_password,
        new_password,
    } = body.into_inner();
    state
        .db(move |conn| {
            let user = users::get(conn, actor.user_id())?;
            if !password::verify(&current_password, &user.password_hash) {
                return Err(AppError::invalid(
                    "current_password",
                    "the current password is wrong",
                ));
            }
            users::set_password(
                conn,
                &actor.audit(),
                user.id,
                &new_password,
                Some(&session_id),
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({"changed": true, "other_sessions_ended": true})))
}

#[get("/api/v1/me/tokens")]
async fn list_tokens_api(
    actor: Actor,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let uid = actor.user_id();
    let list = state
        .db(move |conn| Ok(token::list(conn, Some(uid))?))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"tokens": list})))
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    expires_days: Option<i64>,
}

#[post("/api/v1/me/tokens")]
async fn create_token_api(
    actor: Actor,
    state: web::Data<AppState>,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, AppError> {
    require_session(&actor)?;
    let NewToken {
        name,
        expires_days,
        read_only,
    } = body.into_inner();
    let (secret, tok) = state
        .db(move |conn| {
            token::create(
                conn,
                &actor.audit(),
                actor.user_id(),
                &name,
                read_only,
                expires_days,
            )
        })
        .await?;
    Ok(HttpResponse::Created()
        .json(json!({"token": secret, "info": tok, "note": "shown once; store it now"})))
}

#[delete("/api/v1/me/tokens/{id}")]
async fn revoke_token_api(
    actor: Actor,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    require_session(&actor)?;
    let id = path.into_inner();
    state
        .db(move |conn| token::revoke(conn, &actor.audit(), id, Some(actor.user_id())))
        .await?;
    Ok(HttpResponse::Ok().json(json!({"revoked": id})))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login_api)
        .service(logout_api)
        .service(logout_all_api)
        .service(me_api)
        .service(change_password_api)
        .service(list_tokens_api)
        .service(create_token_api)
        .service(revoke_token_api);
}
