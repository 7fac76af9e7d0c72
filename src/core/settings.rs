//! Instance-wide key/value settings stored in the `settings` table.

use diesel::prelude::*;

use crate::core::db::schema::settings;
use crate::core::db::{DbConn, now};
use crate::with_backend;

pub const INSTANCE_ID: &str = "instance.id";

pub fn get(conn: &mut DbConn, key: &str) -> QueryResult<Option<String>> {
    settings::table
        .filter(settings::key.eq(key))
        .select(settings::value)
        .first::<String>(conn)
        .optional()
}

/// Insert or replace one setting.
pub fn set(conn: &mut DbConn, key: &str, value: &str) -> QueryResult<()> {
    let row = (
        settings::key.eq(key),
        settings::value.eq(value),
        settings::updated_at.eq(now()),
    );
    with_backend!(conn, c => diesel::insert_into(settings::table)
        .values(row)
        .on_conflict(settings::key)
        .do_update()
        .set((settings::value.eq(value), settings::updated_at.eq(now())))
        .execute(c))?;
    Ok(())
}

/// This installation's random id, created on first use; backups record it.
pub fn instance_id(conn: &mut DbConn) -> QueryResult<String> {
    if let Some(id) = get(conn, INSTANCE_ID)? {
        return Ok(id);
    }
    let id = crate::core::tls::random_hex(16);
    // Two nodes starting at once: the first insert wins, both read it back.
    let row = (
        settings::key.eq(INSTANCE_ID),
        settings::value.eq(&id),
        settings::updated_at.eq(now()),
    );
    with_backend!(conn, c => diesel::insert_into(settings::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    get(conn, INSTANCE_ID).map(|v| v.unwrap_or(id))
}
