//! Hand-built SQL with typed binds for the queries the diesel DSL cannot
//! express on both backends at once (dynamic list filters, JSON fields, text
//! search). Placeholders follow the backend (`?` on SQLite, `$n` on
//! PostgreSQL); values are always bound, never formatted into the text.

use chrono::NaiveDateTime;
use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_dsl::RunQueryDsl;
use diesel::sql_types::{BigInt, Bool, Text, Timestamp};
use diesel::sqlite::Sqlite;

use crate::core::db::{Backend, DbConn};

/// The boxed diesel query for `sql` on backend `db`, with every bind applied.
macro_rules! boxed {
    ($sql:expr, $db:ty) => {{
        let mut q = diesel::sql_query($sql.text).into_boxed::<$db>();
        for b in $sql.binds {
            q = match b {
                Bind::Text(s) => q.bind::<Text, _>(s),
                Bind::I64(v) => q.bind::<BigInt, _>(v),
                Bind::Bool(v) => q.bind::<Bool, _>(v),
                Bind::Ts(v) => q.bind::<Timestamp, _>(v),
            };
        }
        q
    }};
}

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    I64(i64),
    Bool(bool),
    Ts(NaiveDateTime),
}

/// Append `id IN (SELECT id FROM table WHERE col = ? UNION ...)`: rows where
/// any of the columns has its value. Each part uses its own index; an `OR` of
/// them next to an `ORDER BY id` would make SQLite walk the whole table in id
/// order instead.
pub fn push_any_equal(sql: &mut Sql, table: &str, keys: &[(&str, String)]) {
    if keys.is_empty() {
        sql.push("1 = 0");
        return;
    }
    sql.push("id IN (");
    for (i, (col, v)) in keys.iter().enumerate() {
        if i > 0 {
            sql.push(" UNION ");
        }
        sql.push(&format!("SELECT id FROM {table} WHERE {col} = "))
            .text(v.clone());
    }
    sql.push(")");
}

/// SQL text plus its binds, for one backend.
#[derive(Debug, Clone)]
pub struct Sql {
    pub backend: Backend,
    pub text: String,
    pub binds: Vec<Bind>,
}

impl Sql {
    pub fn new(backend: Backend) -> Sql {
        Sql {
            backend,
            text: String::new(),
            binds: Vec::new(),
        }
    }

    pub fn push(&mut self, s: &str) -> &mut Sql {
        self.text.push_str(s);
        self
    }

    /// Append a placeholder for `b`.
    pub fn bind(&mut self, b: Bind) -> &mut Sql {
        self.binds.push(b);
        match self.backend {
            Backend::Sqlite => self.text.push('?'),
            Backend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.binds.len().to_string());
            }
        }
        self
    }

    pub fn text(&mut self, s: impl Into<String>) -> &mut Sql {
        self.bind(Bind::Text(s.into()))
    }

    pub fn int(&mut self, v: i64) -> &mut Sql {
        self.bind(Bind::I64(v))
    }

    pub fn ts(&mut self, v: NaiveDateTime) -> &mut Sql {
        self.bind(Bind::Ts(v))
    }

    /// `(a, b, c)` of bound integers; `(NULL)` for an empty list, which
    /// matches nothing.
    pub fn int_list(&mut self, values: &[i64]) -> &mut Sql {
        if values.is_empty() {
            return self.push("(NULL)");
        }
        self.push("(");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.int(*v);
        }
        self.push(")")
    }

    /// Run and load rows.
    pub fn load<R>(self, conn: &mut DbConn) -> QueryResult<Vec<R>>
    where
        R: diesel::QueryableByName<Sqlite> + diesel::QueryableByName<Pg> + 'static,
    {
        match conn {
            DbConn::Sqlite(c) => boxed!(self, Sqlite).load::<R>(c),
            DbConn::Pg(c) => boxed!(self, Pg).load::<R>(c),
        }
    }

    /// Run a statement; returns the affected row count.
    pub fn execute(self, conn: &mut DbConn) -> QueryResult<usize> {
        match conn {
            DbConn::Sqlite(c) => boxed!(self, Sqlite).execute(c),
            DbConn::Pg(c) => boxed!(self, Pg).execute(c),
        }
    }
}
