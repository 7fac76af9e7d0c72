//! Personal API tokens: shown once, stored hashed, sent as
//! `Authorization: Bearer rpt_…`. A token acts with its owner's current
//! rights (never more), optionally read-only, until it expires or is revoked.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::core::audit::{self, AuditCtx};
use crate::core::auth::session::hash_token;
use crate::core::db::schema::api_tokens;
use crate::core::db::{DbConn, now, write_tx};
use crate::core::error::AppError;
use crate::core::tls::random_hex;

pub const PREFIX: &str = "rpt_";

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    #[serde(skip)]
    pub token_hash: String,
    /// The first characters, to recognise a token in lists.
    pub prefix: String,
    pub read_only: bool,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// Create a token; the secret is returned once and never stored.
pub fn create(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    user_id: i64,
    name: &str,
    read_only: bool,
    expires_days: Option<i64>,
) -> Result<(String, ApiToken), AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::invalid(
            "name",
            "a token needs a name of 1 to 100 characters",
        ));
    }
    if let Some(d) = expires_days
        && !(1..=3650).contains(&d)
    {
        return Err(AppError::invalid("expires_days", "between 1 and 3650 days"));
    }
    let secret = format!("{PREFIX}{}", random_hex(24));
    let t = now();
    write_tx(conn, |conn| {
        let id: i64 = diesel::insert_into(api_tokens::table)
            .values((
                api_tokens::user_id.eq(user_id),
                api_tokens::name.eq(name),
                api_tokens::token_hash.eq(hash_token(&secret)),
                api_tokens::prefix.eq(&secret[..PREFIX.len() + 6]),
                api_tokens::read_only.eq(read_only),
                api_tokens::expires_at.eq(expires_days.map(|d| t + Duration::days(d))),
                api_tokens::created_at.eq(t),
            ))
            .returning(api_tokens::id)
            .get_result(conn)?;
        let tok = get(conn, id)?;
        audit::record(
            conn,
            ctx,
            "create",
            "api_token",
            Some(id),
            &serde_json::json!({"user_id": [null, user_id], "name": [null, name], "read_only": [null, read_only], "expires_at": [null, tok.expires_at]}),
        )?;
        Ok((secret, tok))
    })
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<ApiToken, AppError> {
    api_tokens::table
        .find(id)
        .select(ApiToken::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("token {id} not found")))
}

pub fn list(conn: &mut DbConn, user_id: Option<i64>) -> QueryResult<Vec<ApiToken>> {
    let mut q = api_tokens::table.into_boxed();
    if let Some(u) = user_id {
        q = q.filter(api_tokens::user_id.eq(u));
    }
    q.order(api_tokens::id.desc())
        .select(ApiToken::as_select())
        .load(conn)
}

/// Revoke a token; `owner` limits it to that user's tokens (404 otherwise).
pub fn revoke(
    conn: &mut DbConn,
    ctx: &AuditCtx,
    id: i64,
    owner: Option<i64>,
) -> Result<(), AppError> {
    write_tx(conn, |conn| {
        let tok = get(conn, id)?;
        if owner.is_some_and(|o| o != tok.user_id) {
            return Err(AppError::NotFound(format!("token {id} not found")));
        }
        if tok.revoked_at.is_none() {
            diesel::update(api_tokens::table.find(id))
                .set(api_tokens::revoked_at.eq(now()))
                .execute(conn)?;
            audit::record(
                conn,
                ctx,
                "revoke",
                "api_token",
                Some(id),
                &serde_json::json!({"revoked": [false, true]}),
            )?;
        }
        Ok(())
    })
}

/// Why a presented token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Unknown,
    Revoked,
    Expired,
}

/// The live token for a secret; records when it was last used (at most once a minute).
pub fn authenticate(conn: &mut DbConn, secret: &str) -> QueryResult<Result<ApiToken, Refused>> {
    let hash = hash_token(secret.trim());
    // On the backend's own connection, where the statement stays prepared.
    let Some(tok) = crate::with_backend!(conn, c => api_tokens::table
        .filter(api_tokens::token_hash.eq(&hash))
        .select(ApiToken::as_select())
        .first(c)
        .optional())?
    else {
        return Ok(Err(Refused::Unknown));
    };
    let t = now();
    if tok.revoked_at.is_some() {
        return Ok(Err(Refused::Revoked));
    }
    if tok.expires_at.is_some_and(|e| e <= t) {
        return Ok(Err(Refused::Expired));
    }
    if tok
        .last_used_at
        .is_none_or(|u| t - u > Duration::seconds(60))
    {
        diesel::update(api_tokens::table.find(tok.id))
            .set(api_tokens::last_used_at.eq(t))
            .execute(conn)?;
    }
    Ok(Ok(tok))
}
