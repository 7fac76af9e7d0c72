//! Roles, permissions and data scopes.
//!
//! A permission is `module.action` (`customers.view`, `admin.manage`). A role
//! grants a set of permissions and one data scope; a user may hold several
//! roles and, per module and action, the widest scope among the roles that
//! grant that action wins (so a salesperson who is also read-only may view
//! everything but still edit only their own records).
//! Stores apply the scope in SQL through [`owner_filter`].

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::{Deserialize, Serialize};

use crate::core::db::DbConn;
use crate::core::sql::Sql;

pub mod shares;

/// Business modules that carry permissions. Later modules add themselves here.
pub const MODULES: &[&str] = &[
    "customers",
    "contacts",
    "leads",
    "opportunities",
    "products",
    "followups",
    "tasks",
    "pool",
    "reports",
    "admin",
];

/// Modules whose records belong to the company rather than to a person (the
/// product catalogue): the permission decides, the data scope does not.
pub const COMPANY_WIDE: &[&str] = &["products"];

/// Actions a role can grant on a module.
pub const ACTIONS: &[&str] = &[
    "view", "create", "edit", "delete", "export", "import", "transfer", "claim", "manage",
];

/// Actions a read-only API token keeps.
pub const READ_ACTIONS: &[&str] = &["view", "export"];

/// Who owns the records a role lets its holder see, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
pub enum DataScope {
    /// Records the user owns (or that are shared with them).
    #[serde(rename = "self")]
    SelfOnly,
    /// The user's and their direct and indirect subordinates'.
    SelfAndSubordinates,
    /// Everyone's in the user's department.
    Department,
    /// Everyone's in the user's department and the departments below it.
    DepartmentAndChildren,
    /// All records.
    All,
}

impl DataScope {
    pub const ALL: [DataScope; 5] = [
        DataScope::SelfOnly,
        DataScope::SelfAndSubordinates,
        DataScope::Department,
        DataScope::DepartmentAndChildren,
        DataScope::All,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DataScope::SelfOnly => "self",
            DataScope::SelfAndSubordinates => "self_and_subordinates",
            DataScope::Department => "department",
            DataScope::DepartmentAndChildren => "department_and_children",
            DataScope::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<DataScope> {
        DataScope::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Is `perm` a well-formed `module.action` naming a known module and action?
pub fn is_known_permission(perm: &str) -> bool {
    match perm.split_once('.') {
        Some((m, a)) => MODULES.contains(&m) && ACTIONS.contains(&a),
        None => false,
    }
}

/// What one user may do in one module: each granted action with the widest
/// data scope any of the user's roles gives for it.
pub type Grant = BTreeMap<String, DataScope>;

/// Combine roles `(permissions, scope)` into per-module grants.
pub fn combine<'a>(
    roles: impl IntoIterator<Item = (&'a [String], DataScope)>,
) -> BTreeMap<String, Grant> {
    let mut grants: BTreeMap<String, Grant> = BTreeMap::new();
    for (perms, scope) in roles {
        for perm in perms {
            let Some((module, action)) = perm.split_once('.') else {
                continue;
            };
            let actions = grants.entry(module.to_string()).or_default();
            let s = actions.entry(action.to_string()).or_insert(scope);
            *s = (*s).max(scope);
        }
    }
    grants
}

/// A built-in role as created on a new installation (editable later).
pub struct BuiltinRole {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub scope: DataScope,
    pub permissions: fn() -> Vec<String>,
}

const SALES_MODULES: &[&str] = &[
    "customers",
    "contacts",
    "leads",
    "opportunities",
    "products",
    "followups",
    "tasks",
    "pool",
    "reports",
];

fn perms(modules: &[&str], actions: &[&str]) -> Vec<String> {
    modules
        .iter()
        .flat_map(|m| actions.iter().map(move |a| format!("{m}.{a}")))
        .collect()
}

pub const BUILTIN_ROLES: &[BuiltinRole] = &[
    BuiltinRole {
        key: "administrator",
        name: "Administrator",
        description: "Everything, including users, roles, departments and the audit log",
        scope: DataScope::All,
        permissions: || {
            let mut p = perms(SALES_MODULES, ACTIONS);
            p.push("admin.manage".into());
            p.push("admin.view".into());
            p
        },
    },
    BuiltinRole {
        key: "sales_manager",
        name: "Sales manager",
        description: "All sales work for their department and the departments below it",
        scope: DataScope::DepartmentAndChildren,
        permissions: || {
            perms(
                SALES_MODULES,
                &[
                    "view", "create", "edit", "delete", "export", "import", "transfer", "claim",
                ],
            )
        },
    },
    BuiltinRole {
        key: "salesperson",
        name: "Salesperson",
        description: "Own customers, leads and opportunities; claims from the pool; deletes own tasks",
        scope: DataScope::SelfOnly,
        permissions: || {
            // The product catalogue is the company's: salespeople read it.
            let own: Vec<&str> = SALES_MODULES
                .iter()
                .copied()
                .filter(|m| *m != "products")
                .collect();
            let mut p = perms(&own, &["view", "create", "edit", "claim"]);
            p.extend(perms(&["tasks"], &["delete"]));
            p.push("products.view".into());
            p
        },
    },
    BuiltinRole {
        key: "service_agent",
        name: "Service agent",
        description: "Sees the department's customers and contacts; records follow-ups and tasks",
        scope: DataScope::Department,
        permissions: || {
            let mut p = perms(&["customers", "contacts"], &["view"]);
            p.extend(perms(&["followups", "tasks"], &["view", "create", "edit"]));
            p
        },
    },
    BuiltinRole {
        key: "read_only",
        name: "Read-only",
        description: "Views every sales record; changes nothing",
        scope: DataScope::All,
        permissions: || perms(SALES_MODULES, &["view"]),
    },
];

/// Whose records an actor may see in one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerFilter {
    /// No restriction.
    All,
    /// Records owned by one of these users (plus records shared with the actor).
    Owners(Vec<i64>),
    /// No access to the module at all.
    Nothing,
}

/// Append ` AND (<the actor may reach this row>)` to a query on the table of
/// `entity`: rows owned by someone in `owners`, or shared with `actor_id`
/// (writable shares only when `write`).
pub fn push_scope(sql: &mut Sql, owners: &OwnerFilter, entity: &str, actor_id: i64, write: bool) {
    push_scope_on(sql, "owner_id", owners, entity, actor_id, write)
}

/// [`push_scope`] for a table whose owner column is `owner_col` (a task's
/// assignee, say).
pub fn push_scope_on(
    sql: &mut Sql,
    owner_col: &str,
    owners: &OwnerFilter,
    entity: &str,
    actor_id: i64,
    write: bool,
) {
    match owners {
        OwnerFilter::All => {}
        OwnerFilter::Nothing => {
            sql.push(" AND 1 = 0");
        }
        OwnerFilter::Owners(ids) => {
            sql.push(&format!(" AND ({owner_col} IN "));
            sql.int_list(ids);
            sql.push(" OR ");
            shares::push_shared_ids(sql, entity, actor_id, write);
            sql.push(")");
        }
    }
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The set of owners `scope` opens to `user_id` (in department `department_id`).
/// Resolved with recursive queries that both backends run as written; the
/// ids are integers formatted into the SQL, never user text.
pub fn owners_for_scope(
    conn: &mut DbConn,
    user_id: i64,
    department_id: Option<i64>,
    scope: DataScope,
) -> QueryResult<OwnerFilter> {
    let sql = match (scope, department_id) {
        (DataScope::All, _) => return Ok(OwnerFilter::All),
        (DataScope::SelfOnly, _)
        | (DataScope::Department | DataScope::DepartmentAndChildren, None) => {
            return Ok(OwnerFilter::Owners(vec![user_id]));
        }
        (DataScope::SelfAndSubordinates, _) => format!(
            "WITH RECURSIVE sub(id) AS (SELECT CAST({user_id} AS BIGINT) UNION \
             SELECT u.id FROM users u JOIN sub ON u.supervisor_id = sub.id) \
             SELECT id FROM sub"
        ),
        (DataScope::Department, Some(d)) => {
            format!(
                "SELECT id FROM users WHERE department_id = {d} UNION SELECT CAST({user_id} AS BIGINT)"
            )
        }
        (DataScope::DepartmentAndChildren, Some(d)) => format!(
            "WITH RECURSIVE tree(id) AS (SELECT CAST({d} AS BIGINT) UNION \
             SELECT c.id FROM departments c JOIN tree ON c.parent_id = tree.id) \
             SELECT u.id AS id FROM users u JOIN tree ON u.department_id = tree.id \
             UNION SELECT CAST({user_id} AS BIGINT)"
        ),
    };
    let mut ids: Vec<i64> = diesel::sql_query(sql)
        .load::<IdRow>(conn)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(OwnerFilter::Owners(ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widest_scope_and_union_of_actions_win() {
        let a = vec!["customers.view".to_string(), "customers.edit".to_string()];
        let b = vec!["customers.view".to_string(), "leads.view".to_string()];
        let g = combine([
            (a.as_slice(), DataScope::SelfOnly),
            (b.as_slice(), DataScope::Department),
        ]);
        assert_eq!(g["customers"]["view"], DataScope::Department);
        // Edit comes only from the narrow role: it keeps the narrow scope.
        assert_eq!(g["customers"]["edit"], DataScope::SelfOnly);
        assert_eq!(g["leads"]["view"], DataScope::Department);
        assert!(!g.contains_key("admin"));
    }

    #[test]
    fn scope_names_round_trip_and_builtin_permissions_are_known() {
        for s in DataScope::ALL {
            assert_eq!(DataScope::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            serde_json::to_string(&DataScope::SelfOnly).unwrap(),
            "\"self\""
        );
        for role in BUILTIN_ROLES {
            for p in (role.permissions)() {
                assert!(is_known_permission(&p), "{}: {p}", role.key);
            }
        }
    }
}
