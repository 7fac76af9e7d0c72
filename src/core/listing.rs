//! The list engine every entity shares: text search through the search
//! indexes, the caller's data scope, views, filters and keyset paging, tuned
//! for tables of a million rows.
//!
//! A table that takes part has `search_text` (Latin, digits, long Chinese
//! runs; trigram index) and `search_cjk` (Chinese characters spaced out; one
//! token each) columns and, on SQLite, the FTS5 tables `fts_<table>_tri` and
//! `fts_<table>_cjk` kept in sync by triggers; on PostgreSQL a `pg_trgm` GIN
//! index on `search_text` and a `simple` tsvector GIN index on `search_cjk`.

use diesel::pg::Pg;
use diesel::sqlite::Sqlite;
use serde::Serialize;
use serde_json::Value;

use crate::core::access::{OwnerFilter, push_scope_on, shares};
use crate::core::auth::actor::Actor;
use crate::core::db::{Backend, DbConn};
use crate::core::error::AppError;
use crate::core::fields::FieldDef;
use crate::core::list::{self, ColKind, Column, Cursor, ListParams, Phase, Sort, Total};
use crate::core::sql::Sql;
use crate::core::text::{self, SearchPlan};

/// A table the engine lists.
#[derive(Debug, Clone)]
pub struct Table {
    /// Table name, also the permission module, share entity and audit entity.
    pub name: &'static str,
    /// The column that holds the owner the data scope applies to.
    pub owner_col: &'static str,
    pub default_sort: &'static str,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Present when asked for with `total=1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Total>,
    pub sort: String,
}

/// Built-in views every owned entity has.
pub const COMMON_VIEWS: &[&str] = &["mine", "subordinates", "all", "shared", "followed"];

/// Conditions for a view an entity adds to [`COMMON_VIEWS`]; returns false
/// for a view it does not know.
pub type ExtraViews = fn(&mut DbConn, &mut Sql, &Actor, &str) -> Result<bool, AppError>;

/// What differs between the entities that use the engine.
pub struct Spec<'a, R> {
    pub table: &'a Table,
    pub columns: &'a [Column],
    pub defs: &'a [FieldDef],
    /// Entity-specific built-in views and their names (for the error message).
    pub extra_views: Option<(ExtraViews, &'a [&'a str])>,
    /// The select list of one part (over the table's columns).
    pub select_inner: &'a str,
    /// The select list over merged parts (their output columns).
    pub select_outer: &'a str,
    /// The value of a sort field on a loaded row, as a cursor stores it.
    pub sort_value: &'a dyn Fn(&R, &str) -> Value,
    pub id_of: &'a dyn Fn(&R) -> i64,
}

fn apply_view<R>(
    conn: &mut DbConn,
    sql: &mut Sql,
    actor: &Actor,
    spec: &Spec<'_, R>,
    view: &str,
) -> Result<(), AppError> {
    let me = actor.user_id();
    let owner = spec.table.owner_col;
    match view {
        "all" => {}
        "mine" => {
            sql.push(&format!(" AND {owner} = ")).int(me);
        }
        "subordinates" => {
            let subs = crate::core::access::owners_for_scope(
                conn,
                me,
                actor.user.department_id,
                crate::core::access::DataScope::SelfAndSubordinates,
            )?;
            let ids: Vec<i64> = match subs {
                OwnerFilter::Owners(ids) => ids.into_iter().filter(|i| *i != me).collect(),
                _ => vec![],
            };
            sql.push(&format!(" AND {owner} IN ")).int_list(&ids);
        }
        "shared" => {
            sql.push(" AND ");
            shares::push_shared_ids(sql, spec.table.name, me, false);
        }
        "followed" => crate::core::follows::push_followed(sql, spec.table.name, me),
        other => {
            if let Some((extra, _)) = spec.extra_views
                && extra(conn, sql, actor, other)?
            {
                return Ok(());
            }
            let mut known: Vec<&str> = COMMON_VIEWS.to_vec();
            if let Some((_, names)) = spec.extra_views {
                known.extend_from_slice(names);
            }
            return Err(AppError::invalid(
                "view",
                format!(
                    "unknown view `{other}`; built-in: {}, or the id of a saved view",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Which rows of the actor's scope one part of a list query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The whole scope in one condition (counts, and the "all" scope).
    Whole,
    /// Rows owned by someone in scope: one indexed range per owner.
    Owned,
    /// Rows shared with the actor.
    Shared,
    /// Rows whose parent is shared with the actor (contacts, follow-ups and
    /// opportunities of a shared customer): a part of its own, so that each
    /// part is one indexed lookup; `id IN (…) OR customer_id IN (…)` made
    /// PostgreSQL read all 2,000,000 follow-ups for a two-character search.
    SharedViaParent,
}

/// Owners in scope up to which a search reads the scope's rows instead of
/// the search index.
const SCOPE_FIRST_MAX_OWNERS: usize = 5;

/// Matches up to which a search term counts as rare: then the search index
/// finds them all faster than a scope can read its own rows.
const RARE_MATCHES: i64 = 2000;

fn scope_first(owners: &OwnerFilter, part: Part, rare: bool) -> bool {
    if rare {
        return false;
    }
    match (owners, part) {
        (_, Part::Shared | Part::SharedViaParent) => true,
        (OwnerFilter::Owners(ids), Part::Owned) => ids.len() <= SCOPE_FIRST_MAX_OWNERS,
        _ => false,
    }
}

/// Append `FROM … WHERE …` for a list: search, scope (or one part of it),
/// view and filters.
#[expect(
    clippy::too_many_arguments,
    reason = "one list request's parts, passed through"
)]
fn push_from_where<R>(
    conn: &mut DbConn,
    sql: &mut Sql,
    actor: &Actor,
    p: &ListParams,
    spec: &Spec<'_, R>,
    owners: &OwnerFilter,
    part: Part,
    rare: bool,
) -> Result<(), AppError> {
    let backend = conn.backend();
    let t = spec.table.name;
    let mut plan = p.q.as_deref().map(text::plan).unwrap_or(SearchPlan::Empty);
    if scope_first(owners, part, rare) {
        // A narrow scope reads its own rows (by index, in sort order) and
        // checks the text on each: cheaper than walking every match in the
        // whole table for a common term.
        plan = match plan {
            SearchPlan::Trigram(q) | SearchPlan::Short(q) => SearchPlan::Short(q),
            SearchPlan::CjkPhrase(q) => SearchPlan::Short(q.replace(' ', "")),
            SearchPlan::Empty => SearchPlan::Empty,
        };
    }
    match (plan, backend) {
        (SearchPlan::Trigram(q), Backend::Sqlite) => {
            sql.push(&format!(
                "FROM fts_{t}_tri JOIN {t} ON {t}.id = fts_{t}_tri.rowid WHERE fts_{t}_tri MATCH "
            ))
            .text(text::fts5_phrase(&q));
        }
        (SearchPlan::CjkPhrase(q), Backend::Sqlite) => {
            sql.push(&format!(
                "FROM fts_{t}_cjk JOIN {t} ON {t}.id = fts_{t}_cjk.rowid WHERE fts_{t}_cjk MATCH "
            ))
            .text(text::fts5_phrase(&q));
        }
        (SearchPlan::Trigram(q) | SearchPlan::Short(q), _) => {
            sql.push(&format!("FROM {t} WHERE {t}.search_text LIKE "))
                .text(format!("%{}%", text::like_escape(&q)))
                .push(" ESCAPE '\\'");
        }
        (SearchPlan::CjkPhrase(q), Backend::Postgres) => {
            sql.push(&format!(
                "FROM {t} WHERE to_tsvector('simple', search_cjk) @@ phraseto_tsquery('simple', "
            ))
            .text(q)
            .push(")");
        }
        (SearchPlan::Empty, _) => {
            sql.push(&format!("FROM {t} WHERE 1 = 1"));
        }
    }
    let owner = spec.table.owner_col;
    match (part, owners) {
        (Part::Owned, OwnerFilter::Owners(ids)) => {
            sql.push(&format!(" AND {owner} IN ")).int_list(ids);
        }
        (Part::Shared, _) => {
            sql.push(" AND ");
            shares::push_shared_directly(sql, t, actor.user_id(), false);
        }
        (Part::SharedViaParent, _) => {
            sql.push(" AND ");
            shares::push_shared_via_parent(sql, t, actor.user_id(), false);
        }
        _ => push_scope_on(sql, owner, owners, t, actor.user_id(), false),
    }
    if let Some(view) = p.view.as_deref() {
        apply_view(conn, sql, actor, spec, view)?;
    }
    list::apply_filters(sql, spec.columns, spec.defs, &p.filters)?;
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Does the SQLite search index hold at most `RARE_MATCHES` rows for the term?
fn is_rare(conn: &mut DbConn, table: &str, plan: &SearchPlan) -> Result<bool, AppError> {
    let (fts, q) = match (plan, conn.backend()) {
        (SearchPlan::Trigram(q), Backend::Sqlite) => (format!("fts_{table}_tri"), q),
        (SearchPlan::CjkPhrase(q), Backend::Sqlite) => (format!("fts_{table}_cjk"), q),
        (SearchPlan::Trigram(q) | SearchPlan::CjkPhrase(q), Backend::Postgres) => {
            // The same probe through the trigram / tsvector indexes.
            let mut sql = Sql::new(conn.backend());
            sql.push(&format!(
                "SELECT COUNT(*) AS n FROM (SELECT 1 FROM {table} WHERE "
            ));
            if matches!(plan, SearchPlan::Trigram(_)) {
                sql.push("search_text LIKE ")
                    .text(format!("%{}%", text::like_escape(q)))
                    .push(" ESCAPE '\\'");
            } else {
                sql.push("to_tsvector('simple', search_cjk) @@ phraseto_tsquery('simple', ")
                    .text(q.clone())
                    .push(")");
            }
            sql.push(" LIMIT ").int(RARE_MATCHES + 1).push(") probe");
            return Ok(sql
                .load::<Count>(conn)?
                .first()
                .is_some_and(|c| c.n <= RARE_MATCHES));
        }
        _ => return Ok(false),
    };
    let mut sql = Sql::new(conn.backend());
    sql.push(&format!(
        "SELECT COUNT(*) AS n FROM (SELECT rowid FROM {fts} WHERE {fts} MATCH "
    ))
    .text(text::fts5_phrase(q))
    .push(" LIMIT ")
    .int(RARE_MATCHES + 1)
    .push(") probe");
    Ok(sql
        .load::<Count>(conn)?
        .first()
        .is_some_and(|c| c.n <= RARE_MATCHES))
}

fn parts_for(owners: &OwnerFilter, entity: &str) -> &'static [Part] {
    match owners {
        OwnerFilter::Owners(_) if shares::parent_of(entity).is_some() => {
            &[Part::Owned, Part::Shared, Part::SharedViaParent]
        }
        OwnerFilter::Owners(_) => &[Part::Owned, Part::Shared],
        _ => &[Part::Whole],
    }
}

/// Search results on SQLite page through the search index in rowid order.
fn rowid_sort(backend: Backend, fts: &'static str) -> Result<Sort, AppError> {
    let cols = [Column {
        name: "id",
        expr: fts,
        kind: ColKind::Int,
        sortable: true,
        nullable: false,
    }];
    list::resolve_sort(backend, &cols, &[], Some("-id"), "-id")
}

/// A page of the rows the actor may see (their view scope is `owners`).
pub fn page<R>(
    conn: &mut DbConn,
    actor: &Actor,
    p: &ListParams,
    owners: &OwnerFilter,
    spec: &Spec<'_, R>,
) -> Result<Page<R>, AppError>
where
    R: diesel::QueryableByName<Sqlite> + diesel::QueryableByName<Pg> + 'static,
{
    let t = spec.table.name;
    let limit = list::limit(p)?;
    let cursor = p.cursor.as_deref().map(Cursor::decode).transpose()?;
    let plan = p.q.as_deref().map(text::plan).unwrap_or(SearchPlan::Empty);
    let searching = plan != SearchPlan::Empty;
    let total = if p.total {
        let mut base = Sql::new(conn.backend());
        push_from_where(conn, &mut base, actor, p, spec, owners, Part::Whole, false)?;
        Some(list::count(conn, base)?)
    } else {
        None
    };
    // Search results come newest first (in the search index's own order on
    // SQLite, so a common term stops after one page); other lists by the
    // requested sort.
    let rare = searching && is_rare(conn, t, &plan)?;
    let narrow = parts_for(owners, t)
        .iter()
        .all(|part| scope_first(owners, *part, rare));
    let backend = conn.backend();
    let requested = |sort: Option<&str>| {
        list::resolve_sort(
            backend,
            spec.columns,
            spec.defs,
            sort,
            spec.table.default_sort,
        )
    };
    let sort = match (searching, backend, &plan) {
        // Narrow scopes search their own rows in the usual order, and a
        // rare term's few matches are cheap to sort as asked.
        (true, _, _) if narrow || (rare && p.sort.is_some()) => requested(p.sort.as_deref())?,
        (true, Backend::Sqlite, SearchPlan::Trigram(_)) => {
            rowid_sort(backend, fts_rowid(t, "tri"))?
        }
        (true, Backend::Sqlite, SearchPlan::CjkPhrase(_)) => {
            rowid_sort(backend, fts_rowid(t, "cjk"))?
        }
        (true, _, _) => requested(Some("-id"))?,
        (false, _, _) => requested(p.sort.as_deref())?,
    };
    // Paged by the search index's rowid (only the parts that read the index
    // have it).
    let by_index_rowid = sort.name() == "id" && sort_expr_is_rowid(&sort);
    let nullable = spec
        .columns
        .iter()
        .find(|c| c.name == sort.name())
        .is_some_and(|c| c.nullable)
        || sort.name().starts_with("custom.");
    // A scope of owners plus shared records is read as two parts, each able
    // to walk its own index in sort order, merged by UNION: one combined OR
    // would make the database read and sort the whole scope.
    let parts = parts_for(owners, t);
    let mut rows: Vec<R> = Vec::new();
    // Rows with a sort value first, then (for nullable sorts) those without.
    let mut phase = if cursor.as_ref().is_some_and(|c| c.nulls) {
        Phase::Nulls
    } else {
        Phase::Values
    };
    loop {
        let want = limit + 1 - rows.len() as i64;
        let mut sql = Sql::new(backend);
        if parts.len() == 1 {
            sql.push(&format!("SELECT {} ", spec.select_inner));
            push_from_where(conn, &mut sql, actor, p, spec, owners, parts[0], rare)?;
            list::apply_page(&mut sql, &sort, cursor.as_ref(), phase, want)?;
        } else {
            sql.push(&format!("SELECT {} FROM (", spec.select_outer));
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    sql.push(" UNION ");
                }
                sql.push(&format!("SELECT * FROM (SELECT {t}.* "));
                push_from_where(conn, &mut sql, actor, p, spec, owners, *part, rare)?;
                // A part that reads the scope's own rows has no search index
                // to take the rowid from: it pages by the table's id, which
                // is the same number.
                let by_table_id;
                let part_sort = if by_index_rowid && scope_first(owners, *part, rare) {
                    by_table_id = requested(Some("-id"))?;
                    &by_table_id
                } else {
                    &sort
                };
                list::apply_page(&mut sql, part_sort, cursor.as_ref(), phase, want)?;
                sql.push(&format!(") part{i}"));
            }
            sql.push(&format!(") {t}"));
            list::apply_outer_order(&mut sql, &sort, phase, want);
        }
        rows.extend(sql.load::<R>(conn)?);
        if rows.len() as i64 > limit || phase == Phase::Nulls || !nullable {
            break;
        }
        phase = Phase::Nulls;
    }
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| {
            let v = (spec.sort_value)(r, sort.name());
            Cursor {
                nulls: v.is_null(),
                v,
                id: (spec.id_of)(r),
            }
            .encode()
        })
    } else {
        None
    };
    Ok(Page {
        items: rows,
        next_cursor,
        total,
        sort: format!("{}{}", if sort.desc { "-" } else { "" }, sort.name()),
    })
}

fn sort_expr_is_rowid(sort: &Sort) -> bool {
    sort.expr().ends_with(".rowid")
}

/// `fts_<table>_<kind>.rowid`, as a `'static` column expression.
fn fts_rowid(table: &str, kind: &str) -> &'static str {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let key = format!("fts_{table}_{kind}.rowid");
    let mut names = NAMES
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(s) = names.get(&key) {
        return s;
    }
    let s: &'static str = Box::leak(key.clone().into_boxed_str());
    names.insert(key, s);
    s
}
