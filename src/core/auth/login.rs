//! Password login with a per-account lockout and a per-IP limit; every
//! attempt, successful or not, goes to the login log.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::config::AuthSettings;
use crate::core::auth::password;
use crate::core::db::schema::{login_log, users};
use crate::core::db::{DbConn, now};
use crate::core::org::users::{User, find_by_email};

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success(Box<User>),
    /// Unknown e-mail or wrong password; the two are not told apart.
    Invalid,
    /// Too many failures on this account.
    Locked(NaiveDateTime),
    Disabled,
    /// Too many failures from this address.
    Throttled,
}

#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = login_log)]
pub struct LoginEntry {
    pub id: i64,
    pub at: NaiveDateTime,
    pub email: String,
    pub user_id: Option<i64>,
    pub ip: String,
    pub success: bool,
    pub reason: String,
}

fn log(
    conn: &mut DbConn,
    email: &str,
    user_id: Option<i64>,
    ip: &str,
    success: bool,
    reason: &str,
) -> QueryResult<()> {
    diesel::insert_into(login_log::table)
        .values((
            login_log::at.eq(now()),
            login_log::email.eq(email.chars().take(254).collect::<String>()),
            login_log::user_id.eq(user_id),
            login_log::ip.eq(ip),
            login_log::success.eq(success),
            login_log::reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}

/// Check a password login. The password hash is verified even for unknown
/// addresses so timing does not reveal which e-mails exist.
pub fn attempt(
    conn: &mut DbConn,
    policy: &AuthSettings,
    email: &str,
    pw: &str,
    ip: &str,
) -> QueryResult<Outcome> {
    let email = email.trim().to_lowercase();
    let t = now();
    let window = Duration::minutes(i64::from(policy.lockout_minutes));
    let ip_failures: i64 = login_log::table
        .filter(login_log::ip.eq(ip))
        .filter(login_log::success.eq(false))
        .filter(login_log::at.gt(t - window))
        .count()
        .get_result(conn)?;
    if ip_failures >= i64::from(policy.ip_max_failures) {
        log(conn, &email, None, ip, false, "throttled")?;
        return Ok(Outcome::Throttled);
    }
    let Some(user) = find_by_email(conn, &email)? else {
        password::verify(pw, password::dummy_hash());
        log(conn, &email, None, ip, false, "unknown_user")?;
        return Ok(Outcome::Invalid);
    };
    if let Some(until) = user.locked_until.filter(|u| *u > t) {
        log(conn, &email, Some(user.id), ip, false, "locked")?;
        return Ok(Outcome::Locked(until));
    }
    if !password::verify(pw, &user.password_hash) {
        // Counted in the database, so parallel guesses cannot all read the
        // same count and slip past the threshold.
        let failures: i32 = diesel::update(users::table.find(user.id))
            .set(users::failed_logins.eq(users::failed_logins + 1))
            .returning(users::failed_logins)
            .get_result(conn)?;
        let lock = failures >= policy.lockout_threshold as i32;
        if lock {
            diesel::update(users::table.find(user.id))
                .set((
                    users::failed_logins.eq(0),
                    users::locked_until.eq(Some(t + window)),
                ))
                .execute(conn)?;
        }
        log(
            conn,
            &email,
            Some(user.id),
            ip,
            false,
            if lock {
                "wrong_password_locked"
            } else {
                "wrong_password"
            },
        )?;
        return Ok(if lock {
            Outcome::Locked(t + window)
        } else {
            Outcome::Invalid
        });
    }
    if !user.active {
        log(conn, &email, Some(user.id), ip, false, "disabled")?;
        return Ok(Outcome::Disabled);
    }
    // Only if no parallel attempt locked the account meanwhile.
    let updated = diesel::update(
        users::table
            .find(user.id)
            .filter(users::locked_until.is_null().or(users::locked_until.le(t))),
    )
    .set((
        users::failed_logins.eq(0),
        users::locked_until.eq(None::<NaiveDateTime>),
        users::last_login_at.eq(t),
    ))
    .execute(conn)?;
    if updated == 0 {
        log(conn, &email, Some(user.id), ip, false, "locked")?;
        let until = users::table
            .find(user.id)
            .select(users::locked_until)
            .first::<Option<NaiveDateTime>>(conn)?
            .unwrap_or(t + window);
        return Ok(Outcome::Locked(until));
    }
    log(conn, &email, Some(user.id), ip, true, "ok")?;
    Ok(Outcome::Success(Box::new(user)))
}

/// Newest first, keyset-paginated.
pub fn list(
    conn: &mut DbConn,
    user_id: Option<i64>,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<LoginEntry>> {
    let mut q = login_log::table.into_boxed();
    if let Some(u) = user_id {
        q = q.filter(login_log::user_id.eq(u));
    }
    if let Some(b) = before_id {
        q = q.filter(login_log::id.lt(b));
    }
    q.order(login_log::id.desc())
        .limit(limit.clamp(1, 500))
        .select(LoginEntry::as_select())
        .load(conn)
}
