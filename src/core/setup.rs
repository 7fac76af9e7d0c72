//! First run without default credentials: while no user exists, `serve`
//! logs a one-time setup link with a random token; only that token creates
//! the first administrator. `rapport init` does the same from a script.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;

use crate::app::AppState;
use crate::core::audit::AuditCtx;
use crate::core::auth::actor::{client_ip, request_id};
use crate::core::auth::api::login_response;
use crate::core::auth::session;
use crate::core::db::{DbConn, write_tx};
use crate::core::error::AppError;
use crate::core::org::{roles, users};
use crate::core::settings as kv;

const TOKEN_KEY: &str = "setup.token_hash";

/// While no user exists: a fresh setup token (its hash replaces any earlier
/// one). `None` once setup is done.
pub fn issue_token(conn: &mut DbConn) -> Result<Option<String>, AppError> {
    if users::count(conn)? > 0 {
        return Ok(None);
    }
    let token = crate::core::tls::random_hex(16);
    kv::set(conn, TOKEN_KEY, &session::hash_token(&token))?;
    Ok(Some(token))
}

#[derive(Debug, Clone, Deserialize)]
pub struct SetupInput {
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub time_zone: String,
    #[serde(default)]
    pub language: String,
    pub admin_email: String,
    #[serde(default)]
    pub admin_name: String,
    pub admin_password: String,
}

/// Create the company profile and the first administrator. Refused once any
/// user exists. `token` is checked when given (the web flow); the CLI passes None.
pub fn complete(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    token: Option<&str>,
    input: &SetupInput,
) -> Result<users::User, AppError> {
    // The company's defaults, checked before anything else so a typo in
    // `rapport init --time-zone` is named as such.
    users::check_time_zone(&input.time_zone)?;
    users::check_language(&input.language)?;
    write_tx(conn, |conn| {
        if users::count(conn)? > 0 {
            return Err(AppError::NotFound(
                "setup is already complete; log in instead".into(),
            ));
        }
        if let Some(t) = token {
            let expected = kv::get(conn, TOKEN_KEY)?;
            if expected.as_deref() != Some(session::hash_token(t).as_str()) {
                return Err(AppError::Forbidden(
                    "this setup link is not valid; use the link from the newest server log".into(),
                ));
            }
        }
        roles::ensure_builtin(conn)?;
        let admin_role = roles::find(conn, "administrator")?;
        let name = if input.admin_name.trim().is_empty() {
            input
                .admin_email
                .split('@')
                .next()
                .unwrap_or("admin")
                .to_string()
        } else {
            input.admin_name.clone()
        };
        let user = users::create(
            conn,
            ctx,
            &users::NewUser {
                email: input.admin_email.clone(),
                name,
                password: input.admin_password.clone(),
                department_id: None,
                supervisor_id: None,
                language: input.language.clone(),
                time_zone: input.time_zone.clone(),
                roles: vec![admin_role.id],
            },
        )?;
        let company = input.company.trim();
        if company.chars().count() > 200 {
            return Err(AppError::invalid("company", "at most 200 characters"));
        }
        kv::set(conn, "company.name", company)?;
        kv::set(conn, "company.time_zone", input.time_zone.trim())?;
        kv::set(conn, "company.language", &input.language)?;
        kv::set(conn, TOKEN_KEY, "")?;
        crate::core::audit::record(
            conn,
            ctx,
            "setup",
            "company",
            None,
            &serde_json::json!({"company": [null, company], "admin": [null, user.email]}),
        )?;
        Ok(user)
    })
}

#[derive(Deserialize)]
struct SetupRequest {
    token: String,
    #[serde(flatten)]
    input: SetupInput,
}

/// `POST /api/v1/setup`: finish setup and log the new administrator in.
#[post("/api/v1/setup")]
async fn setup_api(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<SetupRequest>,
) -> Result<HttpResponse, AppError> {
    let ctx = AuditCtx {
        user_id: None,
        ip: client_ip(&req),
        request_id: request_id(&req),
    };
    let ip = ctx.ip.clone();
    let ua = user_agent(&req);
    let SetupRequest { token, input } = body.into_inner();
    let (tok, sess, user) = state
        .db(move |conn| {
            let user = complete(conn, &ctx, Some(&token), &input)?;
            let (tok, sess) = session::create(conn, user.id, &ip, &ua)?;
            Ok((tok, sess, user))
        })
        .await?;
    Ok(login_response(
        &state,
        &tok,
        &sess,
        &user,
        actix_web::http::StatusCode::CREATED,
    ))
}

pub fn user_agent(req: &HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(setup_api);
}
