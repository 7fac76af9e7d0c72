//! Server-side sessions stored in the database, so several nodes share them.
//! The cookie holds a random token; the table keeps only its SHA-256.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::core::db::schema::sessions;
use crate::core::db::{DbConn, now};
use crate::core::tls::{hex, random_hex};

pub const COOKIE: &str = "rapport_session";

/// Cookie with the pre-session CSRF token of the login and setup forms
/// (double submit: the form echoes it in [`FORM_FIELD`]).
pub const FORM_COOKIE: &str = "rapport_form";
/// The hidden form field carrying the pre-session CSRF token.
pub const FORM_FIELD: &str = "_csrf";
/// How long a login or setup form stays usable.
pub const FORM_TOKEN_MINUTES: i64 = 60;

/// A fresh pre-session CSRF token, or the one the browser already holds
/// (several tabs share one cookie).
pub fn form_token(current: Option<&str>) -> String {
    match current {
        Some(t) if t.len() == 48 && t.bytes().all(|b| b.is_ascii_hexdigit()) => t.to_string(),
        _ => random_hex(24),
    }
}

/// Does the posted form token match the cookie?
pub fn form_token_ok(cookie: Option<&str>, posted: &str) -> bool {
    cookie.is_some_and(|c| {
        !c.is_empty() && crate::core::auth::actor::constant_time_eq(c.as_bytes(), posted.as_bytes())
    })
}

/// Session lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    /// Ends after this long without a request.
    pub idle: Duration,
    /// Ends this long after login whatever happens.
    pub absolute: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            idle: Duration::hours(8),
            absolute: Duration::days(7),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub ip: String,
    pub user_agent: String,
}

pub fn hash_token(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

/// Start a session; returns the cookie token (shown to the browser only) and
/// the session (whose `id` is the token's hash).
pub fn create(
    conn: &mut DbConn,
    user_id: i64,
    ip: &str,
    user_agent: &str,
) -> QueryResult<(String, Session)> {
    let token = random_hex(32);
    let t = now();
    let s = Session {
        id: hash_token(&token),
        user_id,
        csrf_token: random_hex(24),
        created_at: t,
        last_seen_at: t,
        ip: ip.chars().take(64).collect(),
        user_agent: user_agent.chars().take(300).collect(),
    };
    diesel::insert_into(sessions::table)
        .values((
            sessions::id.eq(&s.id),
            sessions::user_id.eq(s.user_id),
            sessions::csrf_token.eq(&s.csrf_token),
            sessions::created_at.eq(s.created_at),
            sessions::last_seen_at.eq(s.last_seen_at),
            sessions::ip.eq(&s.ip),
            sessions::user_agent.eq(&s.user_agent),
        ))
        .execute(conn)?;
    Ok((token, s))
}

/// The live session for a cookie token; an expired one is deleted. Refreshes
/// `last_seen_at` at most once a minute to keep writes rare.
pub fn lookup(conn: &mut DbConn, token: &str, life: Lifetimes) -> QueryResult<Option<Session>> {
    let id = hash_token(token);
    let Some(s) = sessions::table
        .find(&id)
        .select(Session::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let t = now();
    if t - s.last_seen_at > life.idle || t - s.created_at > life.absolute {
        diesel::delete(sessions::table.find(&id)).execute(conn)?;
        return Ok(None);
    }
    if t - s.last_seen_at > Duration::seconds(60) {
        diesel::update(sessions::table.find(&id))
            .set(sessions::last_seen_at.eq(t))
            .execute(conn)?;
    }
    Ok(Some(s))
}

pub fn delete(conn: &mut DbConn, id: &str) -> QueryResult<usize> {
    diesel::delete(sessions::table.find(id)).execute(conn)
}

/// "Log out everywhere".
pub fn delete_all_for_user(conn: &mut DbConn, user_id: i64) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)
}

/// Remove sessions past their lifetimes (run by a background job).
pub fn purge_expired(conn: &mut DbConn, life: Lifetimes) -> QueryResult<usize> {
    let t = now();
    diesel::delete(
        sessions::table.filter(
            sessions::last_seen_at
                .lt(t - life.idle)
                .or(sessions::created_at.lt(t - life.absolute)),
        ),
    )
    .execute(conn)
}
