//! Import and export (CSV, .xlsx, .xls) and data quality: the engine the
//! CLI (`rapport import`, `rapport export`), the REST API and the pages share.

pub mod api;
pub mod columns;
pub mod export;
pub mod i18n;
pub mod import;
pub mod quality;
pub mod read;
pub mod web;

use diesel::prelude::*;

use crate::core::auth::actor::{self, Actor, AuthVia};
use crate::core::db::DbConn;
use crate::core::error::AppError;

/// The import and quality modules' scheduled jobs.
pub fn jobs() -> Vec<crate::core::jobs::Job> {
    vec![import::recovery_job()]
}

/// An actor for command-line work: user `user` (an id, e-mail or name), or
/// the first active administrator. Audited as coming from the CLI.
pub fn system_actor(conn: &mut DbConn, user: Option<i64>) -> Result<Actor, AppError> {
    use crate::core::db::schema::{roles, user_roles, users};
    let id = match user {
        Some(u) => u,
        None => {
            let pattern = format!("%\"{}\"%", crate::core::org::roles::ADMIN_PERMISSION);
            users::table
                .filter(users::active.eq(true))
                .filter(
                    users::id.eq_any(
                        user_roles::table
                            .inner_join(roles::table)
                            .filter(roles::permissions.like(pattern))
                            .select(user_roles::user_id),
                    ),
                )
                .order(users::id)
                .select(users::id)
                .first::<i64>(conn)
                .optional()?
                .ok_or_else(|| {
                    AppError::invalid(
                        "as",
                        "there is no active administrator yet; run `rapport init` first",
                    )
                })?
        }
    };
    let user = crate::core::org::users::get(conn, id)?;
    Ok(actor::actor_for(
        conn,
        user,
        AuthVia::Token {
            id: 0,
            read_only: false,
        },
        "cli".into(),
        format!("cli-{}", crate::core::tls::random_hex(6)),
    )?)
}

/// A user named on the command line by id, e-mail or name.
pub fn find_user(conn: &mut DbConn, text: &str) -> Result<i64, AppError> {
    use crate::core::db::schema::users;
    let t = text.trim();
    let found: Vec<i64> = match t.parse::<i64>() {
        Ok(id) => users::table
            .filter(users::id.eq(id))
            .select(users::id)
            .load(conn)?,
        Err(_) => users::table
            .filter(users::email.eq(t.to_lowercase()).or(users::name.eq(t)))
            .select(users::id)
            .load(conn)?,
    };
    match found.as_slice() {
        [id] => Ok(*id),
        [] => Err(AppError::invalid("owner", format!("no user `{t}`"))),
        _ => Err(AppError::invalid(
            "owner",
            format!("several users are called `{t}`; give the e-mail"),
        )),
    }
}
